//! The credential cache and STS resilience, end to end against the emulator's fault injection.

use std::future::IntoFuture as _;
use std::time::{Duration, Instant};

use broker_emulators::sts::Fault;
use serde_json::Value;

use crate::harness::{expect_error, TestApp, Vars};

/// These tests send hundreds of requests as one caller; the rate limiter is not under test.
fn unlimited(vars: &mut Vars) {
    vars.insert("BROKER_RATE_LIMIT_PER_MINUTE".into(), "1000000".into());
    vars.insert("BROKER_RATE_LIMIT_BURST".into(), "100000".into());
}

async fn key_of(app: &TestApp) -> String {
    let response = app.get_token().await;
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    body["AccessKeyId"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_thousand_sequential_requests_make_one_assume_role() {
    let app = TestApp::builder().vars(unlimited).spawn().await;
    let first = key_of(&app).await;
    for _ in 0..999 {
        assert_eq!(key_of(&app).await, first);
    }
    assert_eq!(app.sts.issued_count(), 1);
    assert_eq!(app.sts.request_count(), 1);
}

#[tokio::test]
async fn two_hundred_concurrent_cold_requests_make_one_assume_role() {
    let app = TestApp::builder().vars(unlimited).spawn().await;
    app.sts
        .enqueue_faults([Fault::Delay(Duration::from_millis(300))]);
    let requests: Vec<_> = (0..200)
        .map(|_| tokio::spawn(app.get_token().into_future()))
        .collect();
    let mut keys = std::collections::HashSet::new();
    for request in requests {
        let response = request.await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let body: Value = response.json().await.unwrap();
        keys.insert(body["AccessKeyId"].as_str().unwrap().to_owned());
    }
    assert_eq!(keys.len(), 1);
    assert_eq!(app.sts.issued_count(), 1);
}

/// Every request falls in the refresh window, so each one may trigger a background refresh.
async fn always_refreshing() -> TestApp {
    TestApp::builder()
        .vars(|vars| {
            unlimited(vars);
            vars.insert("BROKER_DURATION_SECONDS".into(), "900".into());
            vars.insert("BROKER_REFRESH_AHEAD_SECONDS".into(), "899".into());
            vars.insert("BROKER_MIN_TTL_SECONDS".into(), "60".into());
            vars.insert("BROKER_REFRESH_JITTER_MS".into(), "0".into());
        })
        .spawn()
        .await
}

#[tokio::test]
async fn an_sts_outage_does_not_reach_clients_while_a_credential_is_cached() {
    let app = always_refreshing().await;
    let first = key_of(&app).await;
    app.sts.set_fault(Some(Fault::ServiceUnavailable));
    for _ in 0..100 {
        assert_eq!(key_of(&app).await, first);
    }
    // Failed background refreshes back off instead of hammering STS.
    assert!(app.sts.request_count() < 20, "{}", app.sts.request_count());
    app.assert_no_secrets_leaked(&[]);
}

#[tokio::test]
async fn past_the_refresh_point_requests_are_answered_at_once_then_carry_the_new_credential() {
    let app = always_refreshing().await;
    let first = key_of(&app).await;
    // The refresh is slow; the request that triggers it must not wait for it.
    app.sts
        .enqueue_faults([Fault::Delay(Duration::from_millis(2500))]);
    let started = Instant::now();
    assert_eq!(key_of(&app).await, first);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while key_of(&app).await == first {
        assert!(Instant::now() < deadline, "never refreshed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for _ in 0..20 {
        assert_ne!(key_of(&app).await, first, "the old credential came back");
    }
    // One refresh for the trigger above. The new credential is itself past its refresh point
    // within a second of being issued (its `Expiration` has whole seconds; it was issued no
    // earlier than 2.5 s after `started`: the delay), so a slow (loaded) machine may see one more
    // refresh then and one per second since, never more.
    let extra = app.sts.issued_count() - 2;
    let since_issued = started
        .elapsed()
        .saturating_sub(Duration::from_millis(2500));
    assert!(
        extra <= since_issued.as_secs() as usize + 1,
        "{extra} refreshes beyond the first, the new credential at most {since_issued:?} old"
    );
}

#[tokio::test]
async fn cold_cache_and_sts_down_is_503_within_the_retry_budget() {
    let app = TestApp::builder()
        .vars(|vars| {
            unlimited(vars);
            vars.insert("BROKER_STS_RETRY_BUDGET_MS".into(), "2000".into());
        })
        .spawn()
        .await;
    app.sts.set_fault(Some(Fault::ServiceUnavailable));
    let started = Instant::now();
    let response = app.get_token().await;
    assert!(started.elapsed() < Duration::from_millis(2500));
    assert!(response.headers().contains_key("retry-after"));
    expect_error(response, 503, "upstream-unavailable").await;
    assert!(app.sts.request_count() >= 2, "retried");
}

#[tokio::test]
async fn two_throttled_answers_then_success_is_200() {
    let app = TestApp::builder().vars(unlimited).spawn().await;
    app.sts.enqueue_faults([Fault::Throttle, Fault::Throttle]);
    key_of(&app).await;
    assert_eq!(app.sts.request_count(), 3);
    assert_eq!(app.sts.issued_count(), 1);
}

#[tokio::test]
async fn a_non_retryable_error_is_not_retried_in_a_tight_loop() {
    let app = TestApp::builder()
        .vars(|vars| {
            unlimited(vars);
            vars.insert(
                "BROKER_ROLE_ARN".into(),
                "acs:ram::1234567890123456:role/no-such-role".into(),
            );
        })
        .spawn()
        .await;
    for _ in 0..20 {
        let body = expect_error(app.get_token().await, 502, "upstream-rejected").await;
        assert_eq!(body["upstream_code"], "EntityNotExist.Role");
    }
    assert_eq!(app.sts.request_count(), 1);
}

#[tokio::test]
async fn a_spent_call_budget_answers_503_at_once() {
    let app = TestApp::builder()
        .vars(|vars| {
            unlimited(vars);
            vars.insert("BROKER_STS_MAX_QPS".into(), "1".into());
        })
        .spawn()
        .await;
    app.sts.set_fault(Some(Fault::ServiceUnavailable));
    expect_error(app.get_token().await, 503, "upstream-unavailable").await;
    let sent = app.sts.request_count();
    let started = Instant::now();
    let response = app.get_token().await;
    // Nothing is sent, so nothing is retried: well under one backoff-and-retry cycle.
    assert!(started.elapsed() < Duration::from_millis(1000));
    assert_eq!(response.headers()["retry-after"], "1");
    expect_error(response, 503, "upstream-unavailable").await;
    assert_eq!(app.sts.request_count(), sent, "nothing sent over budget");
}

#[tokio::test]
async fn endpoints_are_tried_in_order_on_retryable_failures() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://127.0.0.1:{}", closed.local_addr().unwrap().port());
    drop(closed);
    let app = TestApp::builder()
        .vars(|vars| {
            unlimited(vars);
            let live = vars["BROKER_STS_ENDPOINT"].clone();
            vars.insert("BROKER_STS_ENDPOINT".into(), format!("{dead},{live}"));
        })
        .spawn()
        .await;
    key_of(&app).await;
    assert_eq!(app.sts.issued_count(), 1);
}

#[tokio::test]
async fn responses_carry_server_time_and_a_refresh_hint_before_the_floor() {
    let app = TestApp::builder().vars(unlimited).spawn().await;
    let body: Value = app.get_token().await.json().await.unwrap();
    let parse = |field: &str| {
        chrono::DateTime::parse_from_rfc3339(body[field].as_str().unwrap())
            .unwrap_or_else(|_| panic!("{field} is RFC 3339"))
    };
    let (server_time, refresh_after, expiration) = (
        parse("ServerTime"),
        parse("RefreshAfter"),
        parse("Expiration"),
    );
    assert!(refresh_after > server_time);
    // The default floor for 3600 s credentials is 300 s; the hint is jittered below it.
    let before_expiry = (expiration - refresh_after).num_seconds();
    assert!((300..=450).contains(&before_expiry), "{before_expiry}");
}

#[tokio::test]
async fn a_new_credential_already_under_the_floor_is_refused_not_handed_out() {
    // The broker's clock runs 14 minutes ahead (STS still accepts the timestamp), so a
    // 900-second credential arrives with about 60 s left: under the 75 s floor.
    let app = TestApp::builder().vars(unlimited).spawn().await;
    let skewed = app
        .another_broker()
        .vars(|vars| {
            vars.insert("BROKER_DURATION_SECONDS".into(), "900".into());
        })
        .deps(sts_broker::startup::Dependencies {
            clock: std::sync::Arc::new(sts_broker::clock::SkewedClock {
                offset: chrono::Duration::minutes(14),
            }),
            nonces: std::sync::Arc::new(sts_broker::clock::UuidNonces),
        })
        .spawn()
        .await;
    let response = skewed.get_token().await;
    expect_error(response, 502, "upstream-malformed").await;
    assert_eq!(
        app.sts.issued_count(),
        1,
        "STS did issue one; it was not handed out"
    );
}
