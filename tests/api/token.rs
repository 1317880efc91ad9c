//! `/getToken`, `/healthz` and the error contract, end to end.

use std::time::{Duration, Instant};

use broker_emulators::sts::Fault;
use serde_json::Value;

use crate::harness::{expect_error, policy_allows, TestApp};

#[tokio::test]
async fn get_token_returns_scoped_credentials_in_the_contract_shape() {
    let app = TestApp::builder().spawn().await;
    let response = app.get_token().await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(response.headers().contains_key("x-request-id"));
    let text = response.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();

    assert_eq!(body["Code"], "Success");
    let key_id = body["AccessKeyId"].as_str().unwrap();
    assert!(key_id.starts_with("STS."), "{key_id}");
    let issued = app.sts.issued(key_id).expect("emulator issued this key");
    assert_eq!(body["AccessKeySecret"], issued.access_key_secret.as_str());
    assert_eq!(body["SecurityToken"], issued.security_token.as_str());
    assert!(issued.security_token.len() > 1000);
    let expiration = body["Expiration"].as_str().unwrap();
    assert_eq!(
        expiration,
        issued.expiration.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    );
    assert_eq!(expiration.len(), 20, "second precision with a literal Z");
    assert_eq!(body["Bucket"], "test-bucket");
    assert_eq!(body["Region"], "cn-hangzhou");
    assert_eq!(
        body["Host"],
        "https://test-bucket.oss-cn-hangzhou.aliyuncs.com"
    );
    assert_eq!(body["Dir"], "uploads/anonymous/");
    let server_time = chrono::DateTime::parse_from_rfc3339(body["ServerTime"].as_str().unwrap())
        .expect("ServerTime is RFC 3339");
    assert!(
        (chrono::Utc::now() - server_time.to_utc())
            .num_seconds()
            .abs()
            < 5
    );

    // What the broker asked STS for.
    assert_eq!(issued.role_session_name, "anonymous");
    assert_eq!(issued.duration_seconds, 3600);
    assert_eq!(
        issued.role_arn,
        format!("acs:ram::{}:role/demo-uploader", app.sts.config.account_id)
    );
    app.assert_no_secrets_leaked(&[]);
}

#[tokio::test]
async fn issued_credentials_may_write_under_dir_and_nowhere_else() {
    let app = TestApp::builder().spawn().await;
    let body: Value = app.get_token().await.json().await.unwrap();
    let issued = app
        .sts
        .issued(body["AccessKeyId"].as_str().unwrap())
        .unwrap();
    let policy = issued
        .policy
        .expect("every AssumeRole carries a session policy");
    let own = "acs:oss:*:*:test-bucket/uploads/anonymous/photo.jpg";
    for action in [
        "oss:PutObject",
        "oss:InitiateMultipartUpload",
        "oss:UploadPart",
        "oss:CompleteMultipartUpload",
        "oss:AbortMultipartUpload",
        "oss:ListParts",
        // Downloads are on by default: the caller may read its own directory back.
        "oss:GetObject",
    ] {
        assert!(policy_allows(&policy, action, own), "{action} refused");
    }
    for (action, resource) in [
        (
            "oss:GetObject",
            "acs:oss:*:*:test-bucket/uploads/bob/photo.jpg",
        ),
        ("oss:DeleteObject", own),
        ("oss:ListObjects", "acs:oss:*:*:test-bucket"),
        (
            "oss:PutObject",
            "acs:oss:*:*:test-bucket/uploads/bob/photo.jpg",
        ),
        ("oss:PutObject", "acs:oss:*:*:test-bucket/uploads/anonymous"),
        ("oss:PutObject", "acs:oss:*:*:test-bucket/photo.jpg"),
        (
            "oss:PutObject",
            "acs:oss:*:*:other-bucket/uploads/anonymous/photo.jpg",
        ),
        (
            "sts:AssumeRole",
            "acs:ram::1234567890123456:role/demo-uploader",
        ),
    ] {
        assert!(
            !policy_allows(&policy, action, resource),
            "{action} on {resource} allowed"
        );
    }
}

#[tokio::test]
async fn custom_prefix_host_and_duration_are_used() {
    let app = TestApp::builder()
        .vars(|vars| {
            vars.insert("BROKER_UPLOAD_PREFIX".into(), "mini/${sub}/files/".into());
            vars.insert(
                "BROKER_UPLOAD_HOST".into(),
                "https://cdn.example.com/".into(),
            );
            vars.insert("BROKER_DURATION_SECONDS".into(), "900".into());
        })
        .spawn()
        .await;
    let body: Value = app.get_token().await.json().await.unwrap();
    assert_eq!(body["Dir"], "mini/anonymous/files/");
    assert_eq!(body["Host"], "https://cdn.example.com");
    let issued = app.sts.last_issued().unwrap();
    assert_eq!(issued.duration_seconds, 900);
    let resource = &issued.policy.unwrap()["Statement"][0]["Resource"][0];
    assert_eq!(resource, "acs:oss:*:*:test-bucket/mini/anonymous/files/*");
}

#[tokio::test]
async fn wrong_broker_secret_is_502_with_the_upstream_code_and_no_string_to_sign() {
    let app = TestApp::builder()
        .vars(|vars| {
            vars.insert(
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET".into(),
                "not-the-right-secret-0123456789".into(),
            );
        })
        .spawn()
        .await;
    let body = expect_error(app.get_token().await, 502, "upstream-rejected").await;
    assert_eq!(body["upstream_code"], "SignatureDoesNotMatch");
    assert!(body["upstream_request_id"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    let text = body.to_string();
    assert!(
        !text.contains("string to sign") && !text.contains("POST&"),
        "{text}"
    );
    let log = crate::harness::captured_log();
    assert!(
        !log.contains("server string to sign"),
        "echoed string-to-sign logged"
    );
    app.assert_no_secrets_leaked(&[&text]);
}

#[tokio::test]
async fn sts_refusals_map_to_502_with_their_codes() {
    // A role the account does not have.
    let app = TestApp::builder()
        .vars(|vars| {
            vars.insert(
                "BROKER_ROLE_ARN".into(),
                "acs:ram::1234567890123456:role/no-such-role".into(),
            );
        })
        .spawn()
        .await;
    let body = expect_error(app.get_token().await, 502, "upstream-rejected").await;
    assert_eq!(body["upstream_code"], "EntityNotExist.Role");

    // A duration above the role's maximum session duration (3600 for short-role).
    let app = TestApp::builder()
        .vars(|vars| {
            vars.insert(
                "BROKER_ROLE_ARN".into(),
                "acs:ram::1234567890123456:role/short-role".into(),
            );
            vars.insert("BROKER_DURATION_SECONDS".into(), "7200".into());
        })
        .spawn()
        .await;
    let body = expect_error(app.get_token().await, 502, "upstream-rejected").await;
    assert_eq!(body["upstream_code"], "InvalidParameter.DurationSeconds");
}

#[tokio::test]
async fn sts_503_and_throttling_are_503_with_retry_after() {
    let app = TestApp::builder().spawn().await;
    for (fault, upstream) in [
        (Fault::ServiceUnavailable, "ServiceUnavailable"),
        (Fault::InternalError, "InternalError"),
        (Fault::Throttle, "Throttling.User"),
    ] {
        app.sts.set_fault(Some(fault));
        let response = app.get_token().await;
        let retry_after: u32 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .expect("Retry-After is seconds");
        assert!(retry_after >= 1);
        let body = expect_error(response, 503, "upstream-unavailable").await;
        assert_eq!(body["upstream_code"], upstream);
    }
    app.sts.set_fault(None);
    assert_eq!(app.get_token().await.status().as_u16(), 200);
    app.assert_no_secrets_leaked(&[]);
}

#[tokio::test]
async fn garbage_from_sts_is_502_malformed() {
    let app = TestApp::builder().spawn().await;
    app.sts.set_fault(Some(Fault::Garbage));
    expect_error(app.get_token().await, 502, "upstream-malformed").await;
}

#[tokio::test]
async fn dropped_connection_and_unreachable_sts_are_503() {
    let app = TestApp::builder().spawn().await;
    app.sts.set_fault(Some(Fault::DropConnection));
    let response = app.get_token().await;
    assert!(response.headers().contains_key("retry-after"));
    expect_error(response, 503, "upstream-unavailable").await;

    // Nothing listens on the endpoint.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let app = TestApp::builder()
        .vars(|vars| {
            vars.insert(
                "BROKER_STS_ENDPOINT".into(),
                format!("http://127.0.0.1:{port}"),
            );
        })
        .spawn()
        .await;
    expect_error(app.get_token().await, 503, "upstream-unavailable").await;
}

#[tokio::test]
async fn hanging_sts_is_503_within_the_configured_timeout() {
    // Each attempt times out after 500 ms; retries stop at the 1200 ms budget.
    let app = TestApp::builder()
        .vars(|vars| {
            vars.insert("BROKER_STS_TIMEOUT_MS".into(), "500".into());
            vars.insert("BROKER_STS_RETRY_BUDGET_MS".into(), "1200".into());
        })
        .spawn()
        .await;
    app.sts
        .set_fault(Some(Fault::Delay(Duration::from_secs(10))));
    let started = Instant::now();
    let response = app.get_token().await;
    let elapsed = started.elapsed();
    expect_error(response, 503, "upstream-unavailable").await;
    assert!(elapsed >= Duration::from_millis(1000), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(2500), "{elapsed:?}");
    assert!(
        app.sts.request_count() >= 2,
        "the timed-out attempt was retried"
    );
}

#[tokio::test]
async fn a_temporary_broker_identity_sends_its_security_token() {
    let app = TestApp::builder().spawn().await;
    // Credentials the emulator issued, used as the broker's own identity. Their session policy
    // must allow sts:AssumeRole, or STS answers NoPermission.
    let first: Value = app.get_token().await.json().await.unwrap();
    let key_id = first["AccessKeyId"].as_str().unwrap().to_owned();
    let secret = first["AccessKeySecret"].as_str().unwrap().to_owned();
    let token = first["SecurityToken"].as_str().unwrap().to_owned();
    // One more broker on the same emulator, signing with that credential.
    let as_identity = |token: Option<&str>| {
        let token = token.map(str::to_owned);
        app.another_broker()
            .vars(|vars| {
                vars.insert("ALIBABA_CLOUD_ACCESS_KEY_ID".into(), key_id.clone());
                vars.insert("ALIBABA_CLOUD_ACCESS_KEY_SECRET".into(), secret.clone());
                if let Some(token) = token {
                    vars.insert("ALIBABA_CLOUD_SECURITY_TOKEN".into(), token);
                }
            })
            .spawn()
    };

    // With its token: the upload-only session policy forbids sts:AssumeRole, which proves the
    // token was sent and accepted as belonging to the key.
    let body = expect_error(
        as_identity(Some(&token)).await.get_token().await,
        502,
        "upstream-rejected",
    )
    .await;
    assert_eq!(body["upstream_code"], "NoPermission");

    // Without the token, or with another one, the key is refused.
    let body = expect_error(
        as_identity(None).await.get_token().await,
        502,
        "upstream-rejected",
    )
    .await;
    assert_eq!(body["upstream_code"], "MissingSecurityToken");
    let forged = format!("{token}x");
    let body = expect_error(
        as_identity(Some(&forged)).await.get_token().await,
        502,
        "upstream-rejected",
    )
    .await;
    assert_eq!(
        body["upstream_code"],
        "InvalidSecurityToken.MismatchWithAccessKey"
    );

    // A fresh emulator never issued the key.
    let other = TestApp::builder()
        .vars(|vars| {
            vars.insert("ALIBABA_CLOUD_ACCESS_KEY_ID".into(), key_id.clone());
            vars.insert("ALIBABA_CLOUD_ACCESS_KEY_SECRET".into(), secret.clone());
            vars.insert("ALIBABA_CLOUD_SECURITY_TOKEN".into(), token.clone());
        })
        .spawn()
        .await;
    let body = expect_error(other.get_token().await, 502, "upstream-rejected").await;
    assert_eq!(body["upstream_code"], "InvalidAccessKeyId.NotFound");
    app.assert_no_secrets_leaked(&[]);
}

#[tokio::test]
async fn request_ids_are_echoed_when_sane_and_replaced_otherwise() {
    let app = TestApp::builder().spawn().await;
    let sane = app.healthz().header("X-Request-Id", "trace-123.abc").await;
    assert_eq!(sane.headers()["x-request-id"], "trace-123.abc");
    for insane in [
        "bad id with spaces".to_owned(),
        "x".repeat(200),
        "a\"b<c>".to_owned(),
    ] {
        let response = app.healthz().header("X-Request-Id", insane).await;
        let replaced = response.headers()["x-request-id"].to_str().unwrap();
        assert!(uuid::Uuid::parse_str(replaced).is_ok(), "{replaced}");
    }

    app.sts.set_fault(Some(Fault::ServiceUnavailable));
    let response = app.get_token().header("X-Request-Id", "caller-req-7").await;
    let body = expect_error(response, 503, "upstream-unavailable").await;
    assert_eq!(body["request_id"], "caller-req-7");
}

#[tokio::test]
async fn healthz_unknown_paths_and_wrong_methods() {
    let app = TestApp::builder().spawn().await;
    let health = app.healthz().await;
    assert_eq!(health.status().as_u16(), 200);
    assert!(health.headers().contains_key("x-request-id"));
    expect_error(app.get("/nope").await, 404, "not-found").await;
    let post = app.get_token().method(reqwest::Method::POST).await;
    assert_eq!(post.headers()["allow"], "GET");
    expect_error(post, 405, "method-not-allowed").await;
    assert_eq!(
        app.sts.request_count(),
        0,
        "no STS call for refused requests"
    );
}

#[tokio::test]
async fn an_unavailable_broker_identity_is_503_with_its_own_message() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://127.0.0.1:{}", closed.local_addr().unwrap().port());
    drop(closed);
    let app = TestApp::builder()
        .vars(|vars| {
            vars.remove("ALIBABA_CLOUD_ACCESS_KEY_ID");
            vars.remove("ALIBABA_CLOUD_ACCESS_KEY_SECRET");
            vars.insert("ALIBABA_CLOUD_ECS_METADATA".into(), "demo-uploader".into());
            vars.insert("BROKER_IMDS_ENDPOINT".into(), dead);
        })
        .spawn()
        .await;
    let response = app.get_token().await;
    assert!(response.headers().contains_key("retry-after"));
    let body = expect_error(response, 503, "upstream-unavailable").await;
    assert_eq!(
        body["message"],
        "The broker's own credentials are unavailable; try again later."
    );
    assert_eq!(
        app.sts.request_count(),
        0,
        "nothing to sign with, nothing sent"
    );
}
