//! Fleet loads that do not end well: a caller that goes away mid-load, and a load that fails
//! while other replicas wait for it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use broker_emulators::sts::Fault;
use chrono::Utc;
use secrecy::SecretString;
use sts_broker::credentials::TemporaryCredentials;
use sts_broker::fleet::{
    Fleet, FleetConfig, PeerLoadFailed, RedisMode, SealKey, SealKeys, SharedCredential,
    SharedFailure, Wanted,
};

use crate::fleet::{fleet, fleet_vars, key_id, sample, SEAL_KEY};
use crate::harness::{RedisServer, Sts, TestApp};
use redis::AsyncCommands as _;

fn lock_keys(redis: &RedisServer) -> Vec<String> {
    redis
        .dump()
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| k.starts_with("sts-broker:lock:"))
        .collect()
}

fn fleet_on(redis: &RedisServer) -> Arc<Fleet> {
    let config = FleetConfig {
        url: redis.url(),
        mode: RedisMode::Standalone,
        ca: None,
        keys: SealKeys {
            current: SealKey::parse(SEAL_KEY).unwrap(),
            previous: None,
        },
        prefix: "sts-broker:".into(),
        timeout: Duration::from_secs(2),
        deployment: "loads".into(),
    };
    Fleet::new(config, Arc::new(sts_broker::clock::SystemClock)).unwrap()
}

fn credential(id: &str) -> SharedCredential {
    SharedCredential {
        credentials: TemporaryCredentials {
            access_key_id: id.into(),
            access_key_secret: SecretString::from("test-only-secret"),
            security_token: SecretString::from("test-only-token"),
            expiration: Utc::now() + chrono::Duration::seconds(900),
        },
        sts_request_id: "test".into(),
    }
}

/// A load given up while it holds the fleet lock (its request's future dropped: the server
/// shutting down past its grace period, say; actix itself lets a handler run on when the caller
/// disconnects) releases the lock at once instead of leaving it until it expires, and the next
/// load is not held up.
#[tokio::test]
async fn a_load_given_up_while_holding_the_fleet_lock_releases_it() {
    let redis = RedisServer::start();
    let fleet = fleet_on(&redis);
    let now = Utc::now();
    let wanted = Wanted {
        expires_after: now + chrono::Duration::seconds(60),
        min_ttl: chrono::Duration::seconds(60),
        now,
    };
    let lock_for = Duration::from_secs(10);
    let never = || std::future::pending::<Result<SharedCredential, PeerLoadFailed>>();
    let load = fleet.load_through("scope", wanted, lock_for, never);
    assert!(tokio::time::timeout(Duration::from_millis(500), load)
        .await
        .is_err());
    let deadline = Instant::now() + Duration::from_secs(3);
    while !lock_keys(&redis).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the lock outlived its load: {:?}",
            lock_keys(&redis)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let started = Instant::now();
    let next = fleet
        .load_through("scope", wanted, lock_for, || async {
            Ok::<_, PeerLoadFailed>(credential("STS.next"))
        })
        .await
        .unwrap();
    assert_eq!(next.credentials.access_key_id, "STS.next");
    assert!(
        started.elapsed() < lock_for / 2,
        "held up {:?}",
        started.elapsed()
    );
}

/// STS fails (every attempt times out) while callers of one scope wait on three replicas:
/// one replica loads for the fleet, and the waiting ones answer with its failure instead of
/// each trying STS in turn.
#[tokio::test]
async fn a_failed_fleet_load_fails_its_waiters_instead_of_repeating() {
    let redis = RedisServer::start();
    let replicas = fleet(&redis, |vars| {
        vars.insert("BROKER_STS_TIMEOUT_MS".into(), "300".into());
    })
    .await;
    let sts = replicas[0].sts.clone();
    sts.set_fault(Some(Fault::Delay(Duration::from_secs(5))));
    let calls = (0..9).map(|i| {
        let replica: &TestApp = &replicas[i % 3];
        replica.get_token().header("X-User", "alice").send()
    });
    let statuses: Vec<u16> = futures_util::future::join_all(calls)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert!(statuses.iter().all(|s| *s == 503), "{statuses:?}");
    let mut loads = 0.0;
    for replica in &replicas {
        let text = replica.metrics().await.text().await.unwrap();
        loads += sample(&text, "sts_broker_fleet_misses_total");
    }
    assert_eq!(loads, 1.0, "one load for the fleet");
    // One load: its first attempt and the client's retries, never another load's.
    assert!(sts.request_count() <= 4, "{}", sts.request_count());
}

/// A load that fails for a reason of its replica's own (its clock, its identity): a waiting
/// replica is not failed with it, but loads for itself.
#[tokio::test]
async fn a_replicas_own_failure_is_not_passed_to_the_replicas_that_waited() {
    #[derive(Debug, PartialEq)]
    enum Failure {
        OwnClock,
        Peer,
    }
    impl From<PeerLoadFailed> for Failure {
        fn from(_: PeerLoadFailed) -> Self {
            Self::Peer
        }
    }
    impl SharedFailure for Failure {
        fn shared_with_fleet(&self) -> bool {
            *self == Self::Peer
        }
    }
    let redis = RedisServer::start();
    let (a, b) = (fleet_on(&redis), fleet_on(&redis));
    let now = Utc::now();
    let wanted = Wanted {
        expires_after: now + chrono::Duration::seconds(60),
        min_ttl: chrono::Duration::seconds(60),
        now,
    };
    let lock_for = Duration::from_secs(10);
    let failing = a.load_through("scope", wanted, lock_for, || async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        Err::<SharedCredential, _>(Failure::OwnClock)
    });
    let waiting = async {
        // After `a` took the lock.
        tokio::time::sleep(Duration::from_millis(100)).await;
        b.load_through("scope", wanted, lock_for, || async {
            Ok::<_, Failure>(credential("STS.b"))
        })
        .await
    };
    let (failed, loaded) = futures_util::future::join(failing, waiting).await;
    assert_eq!(failed.err(), Some(Failure::OwnClock));
    match loaded {
        Ok(loaded) => assert_eq!(loaded.credentials.access_key_id, "STS.b"),
        Err(e) => panic!("the waiting replica was failed with {e:?}"),
    }
}

/// Drops `app`'s cached credentials for every caller but `other` (a cache of one entry: asking
/// for `other`, then reading the metrics, which counts the entries, evicts the rest).
async fn evict_all_but(app: &TestApp, other: &str) {
    let response = app.get_token().header("X-User", other).await;
    assert_eq!(response.status(), 200);
    app.metrics().await.text().await.unwrap();
}

/// Something writing to Redis saved the sealed credential it saw first and puts it back after
/// a newer one was stored: a replica that had the newer one refuses the older value (counted,
/// logged), whatever the seal says, and loads afresh instead.
#[tokio::test]
async fn an_older_sealed_value_put_back_is_not_adopted() {
    let redis = RedisServer::start();
    let clock = sts_broker::clock::ManualClock::new(Utc::now());
    let sts = Sts::start(broker_emulators::sts::StsEmulatorConfig {
        clock: Arc::new(clock.clone()),
        ..broker_emulators::sts::StsEmulatorConfig::demo()
    })
    .await;
    let url = redis.url();
    let app = TestApp::builder()
        .sts(&sts)
        .clock(clock.clone())
        .vars(move |vars| {
            fleet_vars(vars, &url);
            vars.insert("BROKER_CACHE_MAX_ENTRIES".into(), "1".into());
        })
        .spawn()
        .await;
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let first = key_id(&app, "alice").await;
    let cred = redis
        .dump()
        .into_iter()
        .map(|(k, _)| k)
        .find(|k| k.starts_with("sts-broker:cred:"))
        .expect("alice's stored credential");
    let saved: Vec<u8> = conn.get(&cred).await.unwrap();
    // A minute on, alice's credential is loaded again (nothing in Redis, nothing cached).
    clock.advance(chrono::Duration::seconds(60));
    let _: () = conn.del(&cred).await.unwrap();
    evict_all_but(&app, "bob").await;
    let newer = key_id(&app, "alice").await;
    assert_ne!(newer, first);
    // The older value put back, while the replica no longer caches alice's.
    let _: () = conn.pset_ex(&cred, saved, 600_000).await.unwrap();
    evict_all_but(&app, "carol").await;
    let adopted = key_id(&app, "alice").await;
    assert_ne!(adopted, first, "the older credential was adopted");
    assert_ne!(adopted, newer, "alice's was not read from Redis again");
    let metrics = app.metrics().await.text().await.unwrap();
    assert!(sample(&metrics, "sts_broker_fleet_stale_values_total") >= 1.0);
    let warned = crate::harness::captured_log()
        .lines()
        .filter(|l| l.contains("an older credential than one this replica already had"))
        .count();
    assert!(warned >= 1);
}
