//! Leak test: drive every path of caller authentication (success, each 401, 403, both 429s, STS
//! errors) and fail if any secret, token, JWT, API key or key digest reaches the captured log or
//! a `Debug` rendering.

use std::sync::Arc;

use broker_emulators::sts::Fault;
use jsonwebtoken::Algorithm;
use serde_json::{json, Value};
use sts_broker::auth::Access;
use sts_broker::clock::SystemClock;
use sts_broker::config::Settings;

use crate::auth::{api_key_vars, sha256_hex, ALICE_KEY, BOB_KEY};
use crate::harness::{captured_log, TestApp};
use crate::jwt_support::*;

/// Everything secret a response handed out.
async fn collect(response: reqwest::Response, secrets: &mut Vec<String>) -> u16 {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    for field in ["AccessKeySecret", "SecurityToken"] {
        if let Some(s) = body[field].as_str() {
            secrets.push(s.to_owned());
        }
    }
    status
}

fn assert_absent(haystack: &str, secrets: &[String], what: &str) {
    for secret in secrets {
        assert!(secret.len() >= 8, "too short to search for: {secret}");
        assert!(
            !haystack.contains(secret.as_str()),
            "a secret ({} chars, starting {:?}) reached {what}",
            secret.len(),
            &secret[..6]
        );
    }
}

/// Secret parts of a JWT: the whole token and its signature.
fn jwt_secrets(token: &str) -> Vec<String> {
    let mut parts = vec![token.to_owned()];
    let signature = token.rsplit('.').next().unwrap();
    if !signature.is_empty() {
        parts.push(signature.to_owned());
    }
    parts
}

#[tokio::test]
async fn no_secret_token_or_key_reaches_the_log_on_any_path() {
    let mut secrets: Vec<String> = vec![
        HS256_SECRET.to_owned(),
        ALICE_KEY.to_owned(),
        BOB_KEY.to_owned(),
        sha256_hex(ALICE_KEY),
        sha256_hex(BOB_KEY),
    ];
    // A line from the middle of each private test key.
    for pem in [RSA_A, RSA_B, EC_P256] {
        let text = std::str::from_utf8(pem).unwrap();
        secrets.push(text.lines().nth(2).unwrap().to_owned());
    }

    // JWT mode, HS256 and RS256.
    let ra = rsa(RSA_A);
    let jwks = JwksServer::start(vec![public_jwk(&ra, Algorithm::RS256, "a")]).await;
    let app = TestApp::builder()
        .vars(|vars| {
            jwt_vars(vars, Some(&jwks.url));
            vars.insert("BROKER_RATE_LIMIT_BURST".into(), "4".into());
            vars.insert("BROKER_RATE_LIMIT_PER_MINUTE".into(), "1".into());
            vars.insert("BROKER_AUTH_FAILURE_LIMIT_PER_MINUTE".into(), "9".into());
        })
        .spawn()
        .await;
    secrets.push(app.broker_secret().unwrap());
    let key = hs256(HS256_SECRET);
    let good = mint(Algorithm::HS256, &key, None, &claims("alice"));
    let rs = mint(Algorithm::RS256, &ra, Some("a"), &claims("rita"));
    let mut expired_claims = claims("alice");
    expired_claims["exp"] = json!(now() - 3600);
    let expired = mint(Algorithm::HS256, &key, None, &expired_claims);
    let wrong_key = mint(
        Algorithm::HS256,
        &hs256("wrong-secret-wrong-secret-wrong-secret"),
        None,
        &claims("alice"),
    );
    let unknown_kid = mint(Algorithm::RS256, &rsa(RSA_B), Some("zz"), &claims("x"));
    let hostile = mint(Algorithm::HS256, &key, None, &claims("../bob"));
    let none = unsigned(&claims("alice"));
    for t in [
        &good,
        &rs,
        &expired,
        &wrong_key,
        &unknown_kid,
        &hostile,
        &none,
    ] {
        secrets.extend(jwt_secrets(t));
    }

    assert_eq!(
        collect(app.get_token().bearer(&good).await, &mut secrets).await,
        200
    );
    assert_eq!(
        collect(app.get_token().bearer(&rs).await, &mut secrets).await,
        200
    );
    for token in [
        &expired,
        &wrong_key,
        &unknown_kid,
        &none,
        "garbage-token-value",
    ] {
        assert_eq!(app.get_token().bearer(token).await.status().as_u16(), 401);
    }
    assert_eq!(app.get_token().await.status().as_u16(), 401);
    let basic = format!("Basic {good}");
    assert_eq!(
        app.get_token()
            .headers(&[("Authorization", &basic)])
            .await
            .status()
            .as_u16(),
        401
    );
    assert_eq!(
        app.get_token().bearer(&hostile).await.status().as_u16(),
        403
    );
    // STS errors with a valid token of a caller with nothing cached yet.
    let carol = mint(Algorithm::HS256, &key, None, &claims("carol"));
    secrets.extend(jwt_secrets(&carol));
    for fault in [Fault::ServiceUnavailable, Fault::Garbage, Fault::Throttle] {
        app.sts.set_fault(Some(fault));
        let status = app.get_token().bearer(&carol).await.status().as_u16();
        assert!(status == 502 || status == 503, "{status}");
    }
    app.sts.set_fault(None);
    // Per-caller limit: carol's burst of 4 runs out with her next two requests.
    assert_eq!(
        collect(app.get_token().bearer(&carol).await, &mut secrets).await,
        200
    );
    assert_eq!(app.get_token().bearer(&carol).await.status().as_u16(), 429);
    // Per-address failure limit (9 per minute; 7 failures so far).
    for _ in 0..4 {
        app.get_token().bearer(&wrong_key).await;
    }
    assert_eq!(
        app.get_token().bearer(&wrong_key).await.status().as_u16(),
        429
    );

    // API-key mode, including an STS rejection (wrong broker secret).
    let keys = TestApp::builder().vars(api_key_vars).spawn().await;
    assert_eq!(
        collect(keys.get_token().bearer(ALICE_KEY).await, &mut secrets).await,
        200
    );
    assert_eq!(
        collect(
            keys.get_token().headers(&[("X-Api-Key", BOB_KEY)]).await,
            &mut secrets
        )
        .await,
        200
    );
    let near_miss = format!("{ALICE_KEY}x");
    secrets.push(near_miss.clone());
    assert_eq!(
        keys.get_token().bearer(&near_miss).await.status().as_u16(),
        401
    );
    let rejected = TestApp::builder()
        .vars(|vars| {
            api_key_vars(vars);
            vars.insert(
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET".into(),
                "not-the-right-secret-for-leak-test".into(),
            );
        })
        .spawn()
        .await;
    secrets.push("not-the-right-secret-for-leak-test".into());
    assert_eq!(
        rejected
            .get_token()
            .bearer(ALICE_KEY)
            .await
            .status()
            .as_u16(),
        502
    );

    // Header mode: untrusted and hostile.
    let header = TestApp::builder()
        .vars(|vars| {
            vars.insert("BROKER_AUTH".into(), "header".into());
        })
        .spawn()
        .await;
    assert_eq!(
        header
            .get_token()
            .headers(&[("X-Authenticated-User", "a*")])
            .await
            .status()
            .as_u16(),
        403
    );

    let log = captured_log();
    assert!(
        log.contains("\"target\":\"audit\""),
        "audit lines are captured"
    );
    assert_absent(&log, &secrets, "the log");
    for a in [&app, &keys, &rejected, &header] {
        a.assert_no_secrets_leaked(&[]);
    }
}

#[test]
fn debug_of_every_type_holding_a_secret_redacts_it() {
    let mut vars = crate::harness::Vars::new();
    for (k, v) in [
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAI5tExampleKey"),
        (
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
            "broker-secret-for-debug-test",
        ),
        (
            "ALIBABA_CLOUD_SECURITY_TOKEN",
            "broker-token-for-debug-test",
        ),
        ("BROKER_ROLE_ARN", "acs:ram::1234567890123456:role/uploader"),
        ("BROKER_BUCKET", "examplebucket"),
        ("BROKER_REGION", "cn-hangzhou"),
    ] {
        vars.insert(k.to_owned(), v.to_owned());
    }
    let mut jwt = vars.clone();
    jwt_vars(&mut jwt, Some("http://127.0.0.1:9/jwks"));
    let mut keys = vars.clone();
    api_key_vars(&mut keys);
    let secrets: Vec<String> = vec![
        "broker-secret-for-debug-test".into(),
        "broker-token-for-debug-test".into(),
        HS256_SECRET.into(),
        sha256_hex(ALICE_KEY),
        sha256_hex(BOB_KEY),
    ];
    for vars in [jwt, keys] {
        let settings = Settings::from_map(&vars).unwrap();
        let access = Access::new(
            &settings.access,
            settings.server.listen,
            Arc::new(SystemClock),
        )
        .unwrap();
        let shown = format!("{settings:?} {settings:#?} {access:?} {access:#?}");
        assert_absent(&shown, &secrets, "a Debug rendering");
        assert!(shown.contains("[redacted]") || shown.contains("redacted"));
    }
}
