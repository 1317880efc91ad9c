//! Fleet mode against a Redis that something else writes to (a client without the seal key):
//! budget state no replica writes, forged load locks. The replicas keep calling STS within
//! their own limits, say so in `/readyz` and the metrics, and never wait past a load's time.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fleet::{fleet, key_id, sample};
use crate::harness::{RedisServer, Vars};

/// The budget's two keys (`all`, `first`), named after the deployment as the replica set is
/// (the budget's own keys expire within a second, so they are not looked up). The replica set
/// is written by each replica's first heartbeat, in the background: it is waited for.
async fn budget_keys(redis: &RedisServer) -> (String, String) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let deployment = loop {
        let keys: Vec<String> = redis.dump().into_iter().map(|(k, _)| k).collect();
        let found = keys
            .iter()
            .find_map(|k| k.strip_prefix("sts-broker:replicas:"))
            .map(str::to_owned);
        match found {
            Some(deployment) => break deployment,
            None if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            None => panic!("no replica set in {keys:?}"),
        }
    };
    let tag = format!("sts-broker:{{sts-budget:{deployment}}}");
    (format!("{tag}:all"), format!("{tag}:first"))
}

#[tokio::test]
async fn budget_state_no_replica_writes_falls_back_to_the_local_share_and_says_so() {
    let redis = RedisServer::start();
    let replicas = fleet(&redis, |_| {}).await;
    let replica = &replicas[0];
    key_id(replica, "first").await;
    let (all, first) = budget_keys(&redis).await;
    for (n, value) in ["99999999999", "not-a-number"].into_iter().enumerate() {
        // Far ahead (every call refused for years) or unparsable, on both keys.
        redis.command(&["SET", &all, value]).unwrap();
        redis.command(&["SET", &first, value]).unwrap();
        let response = replica
            .get_token()
            .header("X-User", format!("new-{n}"))
            .await;
        assert_eq!(response.status(), 200, "{value}");
        let ready: Value = replica.readyz().await.json().await.unwrap();
        assert_eq!(ready["fleet_budget"], "local-share", "{ready}");
        assert_eq!(ready["fleet_cache"], "ok", "Redis itself answers: {ready}");
    }
    let metrics = replica.metrics().await.text().await.unwrap();
    assert!(sample(&metrics, "sts_broker_fleet_invalid_state_total") >= 2.0);
    // The state was deleted: the next call takes from the fleet's budget again.
    let ttl = redis.command(&["PTTL", &all]).unwrap();
    let ttl: i64 = ttl.trim().trim_start_matches("(integer) ").parse().unwrap();
    assert!(ttl == -2 || (0..=1100).contains(&ttl), "{ttl}");
    let ready: Value = replicas[1].readyz().await.json().await.unwrap();
    assert_eq!(ready["fleet_budget"], "shared", "{ready}");
}

#[tokio::test]
async fn a_forged_load_lock_is_not_waited_on() {
    let redis = RedisServer::start();
    let replicas = fleet(&redis, |_| {}).await;
    key_id(&replicas[0], "alice").await;
    let cred = redis
        .dump()
        .into_iter()
        .map(|(k, _)| k)
        .find(|k| k.starts_with("sts-broker:cred:"))
        .expect("a stored credential");
    let lock = cred.replace(":cred:", ":lock:");
    // Alice's stored credential gone and her lock held by someone else, with no expiry, then
    // with a longer one than any load may take.
    for expiry in [None, Some("3600000")] {
        redis.command(&["DEL", &cred]).unwrap();
        let mut set = vec!["SET", lock.as_str(), "forged"];
        if let Some(ms) = expiry {
            set.extend(["PX", ms]);
        }
        redis.command(&set).unwrap();
        let replica = if expiry.is_none() {
            &replicas[1]
        } else {
            &replicas[2]
        };
        let started = Instant::now();
        key_id(replica, "alice").await;
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "waited {:?} on a forged lock",
            started.elapsed()
        );
    }
    let metrics = replicas[1].metrics().await.text().await.unwrap();
    assert!(sample(&metrics, "sts_broker_fleet_invalid_state_total") >= 1.0);
}

/// The Redis user docs/fleet.md suggests is enough: with it the fleet shares credentials
/// and its budget without a single Redis error.
#[tokio::test]
async fn the_acl_user_fleet_md_suggests_is_enough() {
    let operations =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/fleet.md")).unwrap();
    let acl = operations
        .lines()
        .find(|l| l.starts_with("ACL SETUSER sts-broker on"))
        .expect("the ACL line");
    let redis = RedisServer::start();
    let password = "test-only-redis-password-0123456789";
    let command = acl.replace("REPLACE_WITH_A_LONG_RANDOM_PASSWORD", password);
    let args: Vec<&str> = command.split(' ').collect();
    let answer = redis.command(&args).unwrap();
    assert!(answer.contains("OK"), "{answer}");
    let url = format!("redis://sts-broker:{password}@127.0.0.1:{}/0", redis.port);
    let replicas = fleet(&redis, move |vars| {
        vars.insert("BROKER_REDIS_URL".into(), url.clone());
    })
    .await;
    let sts = replicas[0].sts.clone();
    let key = key_id(&replicas[0], "alice").await;
    assert_eq!(key_id(&replicas[1], "alice").await, key);
    assert_eq!(sts.issued_count(), 1, "shared through Redis");
    for replica in &replicas {
        let metrics = replica.metrics().await.text().await.unwrap();
        assert_eq!(sample(&metrics, "sts_broker_fleet_redis_errors_total"), 0.0);
        assert_eq!(sample(&metrics, "sts_broker_fleet_redis_up"), 1.0);
    }
}

/// With the budget's keys deleted in a loop (or a Redis that always says yes), one replica
/// still never sends more than BROKER_STS_MAX_QPS a second.
#[tokio::test]
async fn a_replica_keeps_its_own_ceiling_when_the_budget_keys_vanish() {
    let redis = RedisServer::start();
    let replicas = fleet(&redis, |vars| {
        vars.insert("BROKER_STS_MAX_QPS".into(), "5".into());
        vars.insert("BROKER_STS_REFRESH_RESERVE_PERCENT".into(), "0".into());
        vars.insert("BROKER_NEW_CALLERS_PER_SECOND".into(), "0".into());
        vars.insert(
            "BROKER_NEW_CALLERS_PER_ADDRESS_PER_MINUTE".into(),
            "0".into(),
        );
    })
    .await;
    key_id(&replicas[0], "first").await;
    let (all, first) = budget_keys(&redis).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let deleter = {
        let (stop, port) = (stop.clone(), redis.port);
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = std::process::Command::new("redis-cli")
                    .args(["-p", &port.to_string(), "DEL", &all, &first])
                    .output();
                // Often enough to reset the budget many times a second, without taking the
                // machine's cores from the other tests.
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let started = Instant::now();
    let replica = &replicas[0];
    let before = replica.sts.request_count() as f64;
    let mut statuses = Vec::new();
    for round in 0..4 {
        let calls = (0..10).map(|i| {
            replica
                .get_token()
                .header("X-User", format!("new-{round}-{i}"))
                .send()
        });
        for response in futures_util::future::join_all(calls).await {
            statuses.push(response.status().as_u16());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    deleter.join().unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    let sent = replica.sts.request_count() as f64 - before;
    let allowed = 5.0 + 5.0 * elapsed + 1.0;
    assert!(
        sent <= allowed,
        "{sent} STS requests in {elapsed:.2} s (allowed {allowed:.1})"
    );
    assert!(statuses.contains(&503), "{statuses:?}");
}

/// Staging and production on one Redis with the default prefix: staging spending its whole
/// budget leaves production's untouched.
#[tokio::test]
async fn deployments_with_different_roles_never_share_a_budget() {
    let redis = RedisServer::start();
    let tight = |vars: &mut Vars| {
        vars.insert("BROKER_STS_MAX_QPS".into(), "1".into());
        vars.insert("BROKER_STS_REFRESH_RESERVE_PERCENT".into(), "0".into());
        vars.insert("BROKER_NEW_CALLERS_PER_SECOND".into(), "0".into());
    };
    let staging = fleet(&redis, move |vars| {
        tight(vars);
        let role = vars["BROKER_ROLE_ARN"].replace("demo-uploader", "short-role");
        vars.insert("BROKER_ROLE_ARN".into(), role);
    })
    .await;
    let production = fleet(&redis, tight).await;
    // Staging spends its budget (a burst of one call) and then some.
    let mut refused = false;
    for i in 0..4 {
        let response = staging[0]
            .get_token()
            .header("X-User", format!("s-{i}"))
            .await;
        refused |= response.status() == 503;
    }
    assert!(refused, "staging's budget was spent");
    let response = production[0].get_token().header("X-User", "p-0").await;
    assert_eq!(response.status(), 200, "production has its own budget");
}

/// A wrong Redis password is logged as such (once per back-off, never the password), and the
/// replica works alone meanwhile.
#[tokio::test]
async fn a_wrong_redis_password_is_named_as_such() {
    let redis = RedisServer::start();
    let answer = redis
        .command(&[
            "CONFIG",
            "SET",
            "requirepass",
            "the-right-password-0123456789",
        ])
        .unwrap();
    assert!(answer.contains("OK"), "{answer}");
    let url = format!(
        "redis://:a-wrong-password-9876543210@127.0.0.1:{}/0",
        redis.port
    );
    let replicas = fleet(&redis, move |vars| {
        vars.insert("BROKER_REDIS_URL".into(), url.clone());
    })
    .await;
    for n in 0..3 {
        let response = replicas[0]
            .get_token()
            .header("X-User", format!("u{n}"))
            .await;
        assert_eq!(response.status(), 200);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = crate::harness::captured_log();
        if log.contains("Redis refused the user or password") {
            assert!(!log.contains("a-wrong-password-9876543210"));
            break;
        }
        assert!(Instant::now() < deadline, "no line naming the password");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Heartbeats are scored on Redis's clock, and a replica whose clock is off says so.
#[tokio::test]
async fn a_replica_with_a_skewed_clock_is_counted_and_warns() {
    let redis = RedisServer::start();
    let sts = crate::harness::Sts::demo().await;
    let url = redis.url();
    let skewed = crate::harness::TestApp::builder()
        .sts(&sts)
        .clock(sts_broker::clock::SkewedClock {
            offset: chrono::Duration::seconds(90),
        })
        .vars(move |vars| crate::fleet::fleet_vars(vars, &url))
        .spawn()
        .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if crate::harness::captured_log().contains("this replica's clock is off Redis's clock") {
            break;
        }
        assert!(Instant::now() < deadline, "no warning about the clock");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Its heartbeat carries Redis's time, not its own.
    let time = redis.command(&["TIME"]).unwrap();
    let redis_s: i64 = time
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("1) ")
        .trim_matches('"')
        .parse()
        .unwrap();
    let key = redis
        .dump()
        .into_iter()
        .map(|(k, _)| k)
        .find(|k| k.starts_with("sts-broker:replicas:"))
        .unwrap();
    let scores = redis
        .command(&["ZRANGE", &key, "0", "-1", "WITHSCORES"])
        .unwrap();
    let score_ms: i64 = scores
        .lines()
        .nth(1)
        .unwrap()
        .trim_start_matches("2) ")
        .trim_matches('"')
        .parse()
        .unwrap();
    assert!(
        (score_ms / 1000 - redis_s).abs() <= 10,
        "{scores} vs {time}"
    );
    drop(skewed);
}
