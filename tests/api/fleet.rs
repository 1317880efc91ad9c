//! Fleet mode against a real Redis: three replicas, one Redis, one STS emulator.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{RedisServer, Sts, TestApp, Vars};

/// Base64 of 32 fixed, varied bytes: the fleet's sealing key in these tests.
pub(crate) const SEAL_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

pub(crate) fn fleet_vars(vars: &mut Vars, redis_url: &str) {
    vars.insert("BROKER_REDIS_URL".into(), redis_url.into());
    vars.insert("BROKER_CACHE_ENCRYPTION_KEY".into(), SEAL_KEY.into());
    // These tests check what replicas share, not Redis's latency: a loaded test machine must
    // not turn a slow answer into "Redis is down" (each replica alone).
    vars.insert("BROKER_REDIS_TIMEOUT_MS".into(), "2000".into());
    // Callers named by a trusted header, so each request can be a different caller.
    vars.insert("BROKER_AUTH".into(), "header".into());
    vars.insert("BROKER_TRUSTED_HEADER".into(), "X-User".into());
    vars.insert("BROKER_TRUSTED_PROXIES".into(), "127.0.0.1/32".into());
    vars.insert("BROKER_RATE_LIMIT_PER_MINUTE".into(), "100000".into());
    vars.insert("BROKER_RATE_LIMIT_BURST".into(), "10000".into());
}

/// Three replicas on one STS emulator and one Redis.
pub(crate) async fn fleet(
    redis: &RedisServer,
    extra: impl Fn(&mut Vars) + Clone + 'static,
) -> Vec<TestApp> {
    let sts = Sts::demo().await;
    let mut replicas = Vec::new();
    for _ in 0..3 {
        let (extra, url) = (extra.clone(), redis.url());
        let app = TestApp::builder()
            .sts(&sts)
            .vars(move |vars| {
                fleet_vars(vars, &url);
                extra(vars);
            })
            .spawn()
            .await;
        replicas.push(app);
    }
    replicas
}

pub(crate) async fn key_id(app: &TestApp, caller: &str) -> String {
    let response = app.get_token().header("X-User", caller).await;
    assert_eq!(response.status(), 200, "{caller}");
    let body: Value = response.json().await.unwrap();
    body["AccessKeyId"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn three_replicas_make_one_sts_call_per_caller_and_hand_out_the_same_key() {
    let redis = RedisServer::start();
    let replicas = fleet(&redis, |_| {}).await;
    let sts = replicas[0].sts.clone();
    for n in 0..12 {
        let caller = format!("caller-{n}");
        let first = key_id(&replicas[n % 3], &caller).await;
        for replica in &replicas {
            assert_eq!(key_id(replica, &caller).await, first, "{caller}");
        }
    }
    assert_eq!(
        sts.issued_count(),
        12,
        "one AssumeRole per caller for the whole fleet"
    );
}

#[tokio::test]
async fn a_cold_burst_over_the_replicas_costs_one_sts_call() {
    let redis = RedisServer::start();
    let replicas = fleet(&redis, |_| {}).await;
    let mut tasks = Vec::new();
    for i in 0..30 {
        let client = (*replicas[i % 3]).clone();
        tasks.push(tokio::spawn(async move {
            let response = client.get_token().header("X-User", "burst").await;
            assert_eq!(response.status(), 200);
            let body: Value = response.json().await.unwrap();
            body["AccessKeyId"].as_str().unwrap().to_owned()
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for task in tasks {
        ids.insert(task.await.unwrap());
    }
    assert_eq!(ids.len(), 1, "every replica handed out the same credential");
    assert_eq!(replicas[0].sts.issued_count(), 1);
    let metrics = replicas.iter().map(|r| r.metrics());
    let mut waits = 0.0;
    for m in metrics {
        let text = m.await.text().await.unwrap();
        waits += sample(&text, "sts_broker_fleet_lock_waits_total");
    }
    assert!(
        waits >= 1.0,
        "the other replicas waited for the loading one"
    );
}

#[tokio::test]
async fn the_fleet_stays_within_one_sts_budget() {
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
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..45 {
        let client = (*replicas[i % 3]).clone();
        tasks.push(tokio::spawn(async move {
            client
                .get_token()
                .header("X-User", format!("new-{i}"))
                .await
                .status()
                .as_u16()
        }));
    }
    let statuses: Vec<u16> = futures_util::future::join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let elapsed = started.elapsed().as_secs_f64();
    let sent = replicas[0].sts.request_count() as f64;
    // A burst of one second's budget, then 5 a second: never 3 × 5.
    let allowed = 5.0 + 5.0 * elapsed + 1.0;
    assert!(
        sent <= allowed,
        "{sent} STS requests in {elapsed:.2} s (allowed {allowed:.1})"
    );
    assert!(
        statuses.iter().all(|s| [200, 503].contains(s)),
        "{statuses:?}"
    );
    assert!(statuses.contains(&503), "the budget was spent");
}

#[tokio::test]
async fn redis_outage_keeps_serving_and_sharing_resumes_after() {
    let mut redis = RedisServer::start();
    let port = redis.port;
    let replicas = fleet(&redis, |_| {}).await;
    let sts = replicas[0].sts.clone();
    let warm = key_id(&replicas[0], "warm").await;
    for replica in &replicas {
        assert_eq!(key_id(replica, "warm").await, warm);
    }
    redis.kill();
    // Warm callers keep their credential; new callers are loaded by the replica they reach.
    for replica in &replicas {
        assert_eq!(key_id(replica, "warm").await, warm);
        key_id(replica, &format!("during-outage-{}", replica.port())).await;
    }
    let response = replicas[1].readyz().await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["fleet_cache"], "degraded", "{body}");

    let _redis = RedisServer::start_on(port);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut up = true;
        for replica in &replicas {
            // Each replica tries Redis again once its backoff has passed.
            let _ = key_id(replica, "warm").await;
            let body: Value = replica.readyz().await.json().await.unwrap();
            up &= body["fleet_cache"] == "ok";
        }
        if up {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the replicas did not rejoin Redis"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let before = sts.issued_count();
    let after_outage = key_id(&replicas[0], "after-outage").await;
    assert_eq!(key_id(&replicas[2], "after-outage").await, after_outage);
    assert_eq!(sts.issued_count(), before + 1, "sharing resumed");
}

#[tokio::test]
async fn a_tampered_value_is_refused_and_replaced_and_nothing_in_redis_is_readable() {
    let redis = RedisServer::start();
    let replicas = fleet(&redis, |_| {}).await;
    let sts = replicas[0].sts.clone();
    let original = key_id(&replicas[0], "alice").await;
    let values = redis.dump();
    let (cred_key, _) = values
        .iter()
        .find(|(k, _)| k.starts_with("sts-broker:cred:"))
        .expect("a sealed credential in Redis")
        .clone();
    // Flip bytes inside the ciphertext.
    redis
        .command(&["SETRANGE", &cred_key, "20", "tampered!"])
        .unwrap();

    // A replica with nothing cached locally reads the tampered value: a miss, never handed out.
    let fresh = replicas[0].another_broker().spawn().await;
    let replaced = key_id(&fresh, "alice").await;
    assert_ne!(replaced, original, "the tampered value was not used");
    assert_eq!(sts.issued_count(), 2);
    let text = fresh.metrics().await.text().await.unwrap();
    // Read once before taking the lock and once more after (the re-check).
    assert!(
        sample(&text, "sts_broker_fleet_unreadable_values_total") >= 1.0,
        "{text}"
    );
    // ...and replaced: the next cold replica adopts the new value without STS.
    let third = replicas[0].another_broker().spawn().await;
    assert_eq!(key_id(&third, "alice").await, replaced);
    assert_eq!(sts.issued_count(), 2);

    let mut forbidden = sts.secrets();
    for issued in sts.all_issued() {
        forbidden.push(issued.access_key_id.clone());
    }
    forbidden.push("alice".into());
    for (key, value) in redis.dump() {
        let value = String::from_utf8_lossy(&value);
        for secret in &forbidden {
            assert!(!key.contains(secret.as_str()), "{key} names {secret}");
            assert!(
                !value.contains(secret.as_str()),
                "{key} holds {secret} in clear"
            );
        }
    }
    fresh.assert_no_secrets_leaked(&[]);
}

pub(crate) fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn one_replica_refreshes_ahead_for_the_fleet_and_the_others_adopt_it() {
    let redis = RedisServer::start();
    let clock = sts_broker::clock::ManualClock::new(chrono::Utc::now());
    let sts = Sts::start(broker_emulators::sts::StsEmulatorConfig {
        clock: std::sync::Arc::new(clock.clone()),
        ..broker_emulators::sts::StsEmulatorConfig::demo()
    })
    .await;
    let mut replicas = Vec::new();
    for _ in 0..3 {
        let url = redis.url();
        replicas.push(
            TestApp::builder()
                .sts(&sts)
                .clock(clock.clone())
                .vars(move |vars| {
                    fleet_vars(vars, &url);
                    vars.insert("BROKER_DURATION_SECONDS".into(), "900".into());
                    vars.insert("BROKER_REFRESH_AHEAD_SECONDS".into(), "600".into());
                    vars.insert("BROKER_MIN_TTL_SECONDS".into(), "60".into());
                    vars.insert("BROKER_REFRESH_JITTER_MS".into(), "0".into());
                })
                .spawn()
                .await,
        );
    }
    let first = key_id(&replicas[0], "alice").await;
    for replica in &replicas {
        assert_eq!(key_id(replica, "alice").await, first);
    }
    // 500 s left: inside every replica's refresh window, above the floor.
    clock.advance(chrono::Duration::seconds(400));
    let refreshed = eventually_new_key(&replicas[0], &first).await;
    assert_eq!(sts.issued_count(), 2);
    // The others refresh too, and find the credential replica 0 stored.
    for replica in &replicas[1..] {
        assert_eq!(eventually_new_key(replica, &first).await, refreshed);
    }
    assert_eq!(sts.issued_count(), 2, "one refresh for the whole fleet");
}

/// Asks until the replica hands out a credential other than `old` (its background refresh).
async fn eventually_new_key(app: &TestApp, old: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let key = key_id(app, "alice").await;
        if key != old {
            return key;
        }
        assert!(Instant::now() < deadline, "never refreshed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A replica whose first credential came from Redis has asked STS nothing yet: its first
/// `/readyz` must not read as an STS outage.
#[tokio::test]
async fn a_replica_that_adopted_its_first_credential_does_not_report_an_outage() {
    let redis = RedisServer::start();
    let replicas = fleet(&redis, |_| {}).await;
    let key = key_id(&replicas[0], "alice").await;
    assert_eq!(key_id(&replicas[1], "alice").await, key, "adopted");
    let body: Value = replicas[1].readyz().await.json().await.unwrap();
    assert_eq!(body["ready"], true, "{body}");
    assert_eq!(body["serving_from_cache"], false, "{body}");
}

/// Redis hanging under many requests at once: all of them fail within one back-off period,
/// and the log says so once, not once per failure.
#[tokio::test]
async fn many_redis_failures_in_one_back_off_are_one_warning() {
    let redis = RedisServer::start();
    let sts = Sts::demo().await;
    let url = redis.url();
    let app = TestApp::builder()
        .sts(&sts)
        .vars(move |vars| {
            fleet_vars(vars, &url);
            vars.insert("BROKER_REDIS_TIMEOUT_MS".into(), "1000".into());
            vars.insert("BROKER_NEW_CALLERS_PER_SECOND".into(), "0".into());
            vars.insert(
                "BROKER_NEW_CALLERS_PER_ADDRESS_PER_MINUTE".into(),
                "0".into(),
            );
        })
        .spawn()
        .await;
    key_id(&app, "warm").await;
    // Every command waits while Redis is paused: the loads below all time out together (after
    // 1 s), and the pause ends before the 2 s back-off that follows, so nothing fails after it.
    let paused = redis.command(&["CLIENT", "PAUSE", "2000", "ALL"]).unwrap();
    assert!(paused.contains("OK"), "{paused}");
    let calls = (0..20).map(|i| {
        app.get_token()
            .header("X-User", format!("paused-{i}"))
            .send()
    });
    futures_util::future::join_all(calls).await;
    let metrics = app.metrics().await.text().await.unwrap();
    let errors = sample(&metrics, "sts_broker_fleet_redis_errors_total");
    assert!(
        errors >= 2.0,
        "{errors} Redis failures in the back-off period"
    );
    let ours = format!("127.0.0.1:{}/", redis.port);
    let warnings = crate::harness::captured_log()
        .lines()
        .filter(|l| l.contains("Redis unavailable") && l.contains(&ours))
        .count();
    assert_eq!(warnings, 1, "{errors} failures");
}
