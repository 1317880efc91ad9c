//! Rate limits (per caller, per address for failed authentication), CORS and the audit line.

use jsonwebtoken::Algorithm;
use reqwest::Method;
use serde_json::Value;
use sts_broker::clock::ManualClock;

use crate::auth::{api_key_vars, expect_401, sha256_hex, ALICE_KEY, BOB_KEY};
use crate::harness::{captured_log, expect_error, TestApp, Vars};
use crate::jwt_support::{claims, hs256, jwt_vars, mint, HS256_SECRET};

async fn manual_clock_app(configure: impl FnOnce(&mut Vars)) -> (TestApp, ManualClock) {
    let clock = ManualClock::new(chrono::Utc::now());
    let app = TestApp::builder()
        .clock(clock.clone())
        .vars(configure)
        .spawn()
        .await;
    (app, clock)
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After is seconds")
}

#[tokio::test]
async fn each_caller_has_its_own_limit_with_a_burst_and_retry_after() {
    let (app, clock) = manual_clock_app(|vars| {
        api_key_vars(vars);
        vars.insert("BROKER_RATE_LIMIT_PER_MINUTE".into(), "6".into());
        vars.insert("BROKER_RATE_LIMIT_BURST".into(), "2".into());
    })
    .await;
    for _ in 0..2 {
        assert_eq!(
            app.get_token().bearer(ALICE_KEY).await.status().as_u16(),
            200
        );
    }
    let limited = app.get_token().bearer(ALICE_KEY).await;
    assert_eq!(retry_after(&limited), 10);
    expect_error(limited, 429, "rate-limited").await;
    // Bob is not affected by Alice's limit.
    assert_eq!(app.get_token().bearer(BOB_KEY).await.status().as_u16(), 200);
    assert_eq!(app.get_token().bearer(BOB_KEY).await.status().as_u16(), 200);
    let issued = app.sts.issued_count();
    // After Retry-After, Alice may ask again (once: the sustained rate).
    clock.advance(chrono::Duration::seconds(10));
    assert_eq!(
        app.get_token().bearer(ALICE_KEY).await.status().as_u16(),
        200
    );
    assert_eq!(
        app.get_token().bearer(ALICE_KEY).await.status().as_u16(),
        429
    );
    // Alice's credential is cached and limited requests never reach STS.
    assert_eq!(app.sts.issued_count(), issued, "no STS call when limited");
}

#[tokio::test]
async fn repeated_authentication_failures_from_one_address_are_limited() {
    let (app, clock) = manual_clock_app(|vars| {
        api_key_vars(vars);
        vars.insert("BROKER_AUTH_FAILURE_LIMIT_PER_MINUTE".into(), "3".into());
    })
    .await;
    for _ in 0..3 {
        expect_401(app.get_token().bearer("guess").await).await;
    }
    // Past the limit, a failing request is told to wait.
    let limited = app.get_token().bearer("guess").await;
    assert_eq!(retry_after(&limited), 20);
    expect_error(limited, 429, "rate-limited").await;
    // A correct key from the same address is still answered (callers behind one NAT
    // must not be locked out by another's failures), and does not lift the limit for guesses.
    assert_eq!(
        app.get_token().bearer(ALICE_KEY).await.status().as_u16(),
        200
    );
    let limited = app.get_token().bearer("guess").await;
    expect_error(limited, 429, "rate-limited").await;
    clock.advance(chrono::Duration::seconds(20));
    assert_eq!(
        app.get_token().bearer(ALICE_KEY).await.status().as_u16(),
        200
    );
    // Successes do not count as failures.
    for _ in 0..5 {
        assert_eq!(app.get_token().bearer(BOB_KEY).await.status().as_u16(), 200);
    }
}

/// The review's reproduction: one bad token every 6 seconds from an address (a client with a
/// stale token behind carrier-grade NAT, or an attacker) keeps that address over the default
/// failure limit. Every valid token from the same address is still answered.
#[tokio::test]
async fn a_bad_token_every_six_seconds_never_locks_out_valid_callers_at_that_address() {
    let (app, clock) = manual_clock_app(|vars| {
        jwt_vars(vars, None);
        vars.insert("BROKER_AUTH_FAILURE_LIMIT_PER_MINUTE".into(), "10".into());
    })
    .await;
    let key = hs256(HS256_SECRET);
    let forged = mint(
        Algorithm::HS256,
        &hs256("not-the-secret-0123456789abcdefghijk"),
        None,
        &claims("alice"),
    );
    for _ in 0..10 {
        expect_401(app.get_token().bearer(&forged).await).await;
    }
    let limited = app.get_token().bearer(&forged).await;
    expect_error(limited, 429, "rate-limited").await;
    for round in 0..12 {
        clock.advance(chrono::Duration::seconds(6));
        // The bad token keeps the address at its limit...
        let _ = app.get_token().bearer(&forged).await;
        let limited = app.get_token().bearer(&forged).await;
        expect_error(limited, 429, "rate-limited").await;
        // ...and the valid callers behind it are answered all the same.
        for caller in ["bob", "carol"] {
            let token = mint(Algorithm::HS256, &key, None, &claims(caller));
            let answer = app.get_token().bearer(&token).await;
            assert_eq!(answer.status().as_u16(), 200, "{caller} in round {round}");
        }
    }
    assert!(app.sts.issued_count() >= 2);
}

const ORIGIN: &str = "https://app.example.com";

async fn preflight(app: &TestApp, origin: &str, method: &str, headers: &str) -> reqwest::Response {
    app.get_token()
        .method(Method::OPTIONS)
        .header("Origin", origin)
        .header("Access-Control-Request-Method", method)
        .header("Access-Control-Request-Headers", headers)
        .await
}

#[tokio::test]
async fn cors_allows_exactly_the_configured_origins() {
    let app = TestApp::builder()
        .vars(|vars| {
            api_key_vars(vars);
            vars.insert(
                "BROKER_CORS_ORIGINS".into(),
                format!("{ORIGIN}, http://localhost:5173"),
            );
        })
        .spawn()
        .await;
    let ok = preflight(&app, ORIGIN, "GET", "authorization").await;
    assert_eq!(ok.status().as_u16(), 204);
    let h = ok.headers();
    assert_eq!(h["access-control-allow-origin"], ORIGIN);
    assert_eq!(h["access-control-allow-methods"], "GET");
    assert!(h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("Authorization"));
    assert!(h.get("access-control-allow-credentials").is_none());
    assert!(h.contains_key("x-request-id"));
    let ok = preflight(
        &app,
        "http://localhost:5173",
        "GET",
        "x-api-key, x-request-id",
    )
    .await;
    assert_eq!(ok.status().as_u16(), 204);

    for (origin, method, headers) in [
        ("https://evil.example.com", "GET", "authorization"),
        ("https://app.example.com.evil.com", "GET", "authorization"),
        ("http://app.example.com", "GET", "authorization"),
        ("https://APP.example.com:443x", "GET", "authorization"),
        ("null", "GET", "authorization"),
        (ORIGIN, "POST", "authorization"),
        (ORIGIN, "GET", "authorization, x-evil"),
    ] {
        let refused = preflight(&app, origin, method, headers).await;
        assert!(
            refused
                .headers()
                .get("access-control-allow-origin")
                .is_none(),
            "{origin} {method} {headers}"
        );
        expect_error(refused, 403, "origin-not-allowed").await;
    }

    // Actual requests: the allowed origin can read the answer (also a 401), others cannot.
    let response = app
        .get_token()
        .headers(&[("Origin", ORIGIN), ("X-Api-Key", ALICE_KEY)])
        .await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], ORIGIN);
    assert!(response.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .contains("X-Request-Id"));
    assert_eq!(response.headers()["vary"], "Origin");
    let response = app.get_token().headers(&[("Origin", ORIGIN)]).await;
    assert_eq!(response.headers()["access-control-allow-origin"], ORIGIN);
    expect_401(response).await;
    let response = app
        .get_token()
        .headers(&[
            ("Origin", "https://evil.example.com"),
            ("X-Api-Key", BOB_KEY),
        ])
        .await;
    assert!(response
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    // CORS only tells browsers what they may read; the server still serves the caller.
    assert_eq!(app.sts.issued_count(), 2);
}

#[tokio::test]
async fn without_cors_origins_no_origin_is_allowed() {
    let app = TestApp::builder().vars(api_key_vars).spawn().await;
    let refused = preflight(&app, ORIGIN, "GET", "authorization").await;
    assert!(refused
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    expect_error(refused, 403, "origin-not-allowed").await;
    let response = app
        .get_token()
        .headers(&[("Origin", ORIGIN), ("X-Api-Key", ALICE_KEY)])
        .await;
    assert!(response
        .headers()
        .get("access-control-allow-origin")
        .is_none());
}

/// The audit lines in the captured log for the caller's `X-Request-Id` `request_id` (logged
/// as `client_request_id`, beside the broker's own `request_id`).
fn audit_lines(request_id: &str) -> Vec<Value> {
    captured_log()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["target"] == "audit" && l["fields"]["client_request_id"] == request_id)
        .collect()
}

#[tokio::test]
async fn one_audit_line_per_credential_handed_out() {
    let app = TestApp::builder().vars(api_key_vars).spawn().await;
    let response = app
        .get_token()
        .headers(&[("X-Api-Key", ALICE_KEY), ("X-Request-Id", "audit-test-1")])
        .await;
    let body: Value = response.json().await.unwrap();
    let issued = app
        .sts
        .issued(body["AccessKeyId"].as_str().unwrap())
        .unwrap();
    let lines = audit_lines("audit-test-1");
    assert_eq!(lines.len(), 1, "{lines:?}");
    let f = &lines[0]["fields"];
    assert_eq!(f["caller"], "alice");
    assert_eq!(f["auth_mode"], "api-key");
    assert_eq!(f["role_arn"], issued.role_arn.as_str());
    assert_eq!(f["role_session_name"], "alice");
    assert_eq!(f["access_key_id"], body["AccessKeyId"]);
    assert_eq!(f["expiration"], body["Expiration"]);
    assert_eq!(f["cache"], "miss");
    assert!(f["sts_request_id"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(chrono::DateTime::parse_from_rfc3339(lines[0]["timestamp"].as_str().unwrap()).is_ok());
    assert_eq!(
        (f["route"].as_str(), f["status"].as_u64()),
        (Some("/getToken"), Some(200))
    );
    // The exact policy text sent (the emulator's parsed copy re-serialises differently).
    let bucket = sts_broker::policy::BucketName::parse("test-bucket").unwrap();
    let policy =
        sts_broker::policy::upload_and_read_session_policy(&bucket, "uploads/alice/").unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&policy).unwrap(),
        issued.policy.unwrap()
    );
    assert_eq!(
        f["policy_sha256"],
        sha256_hex(&policy),
        "hash of the policy sent"
    );
    let line = lines[0].to_string();
    for secret in [
        ALICE_KEY,
        issued.access_key_secret.as_str(),
        issued.security_token.as_str(),
    ] {
        assert!(!line.contains(secret));
    }

    // Refused and failed requests leave no audit line.
    app.get_token()
        .headers(&[("X-Api-Key", "wrong"), ("X-Request-Id", "audit-test-2")])
        .await;
    app.sts
        .set_fault(Some(broker_emulators::sts::Fault::ServiceUnavailable));
    app.get_token()
        .headers(&[("X-Api-Key", BOB_KEY), ("X-Request-Id", "audit-test-3")])
        .await;
    assert!(audit_lines("audit-test-2").is_empty());
    assert!(audit_lines("audit-test-3").is_empty());
}

#[tokio::test]
async fn server_signed_forms_are_audited_too() {
    let app = TestApp::builder().vars(api_key_vars).spawn().await;
    let response = app
        .post_object_params()
        .header("X-Api-Key", ALICE_KEY)
        .header("X-Request-Id", "audit-post-1")
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    let lines = audit_lines("audit-post-1");
    assert_eq!(lines.len(), 1, "{lines:?}");
    let f = &lines[0]["fields"];
    assert_eq!(f["route"], "/getPostObjectParams");
    assert_eq!(f["caller"], "alice");
    assert_eq!(f["auth_mode"], "api-key");
    assert!(f["policy_sha256"].as_str().is_some_and(|h| h.len() == 64));
    assert!(f["sts_request_id"].as_str().is_some_and(|s| !s.is_empty()));
    let line = lines[0].to_string();
    assert!(!line.contains(ALICE_KEY));
    assert!(!line.contains(body["policy"].as_str().unwrap()));
}
