//! Hostile caller ids cannot widen the scope. The broker refuses (403 `caller-id-refused`) any
//! id outside `[A-Za-z0-9._@-]{1,128}` or equal to `.`/`..`, so no credential exists for them;
//! ids it accepts get a policy that allows their own directory and never `uploads/bob/`.

use jsonwebtoken::Algorithm;
use serde_json::Value;

use crate::auth::expect_401;
use crate::harness::{expect_error, policy_allows, TestApp};
use crate::jwt_support::*;

const BOB_OBJECT: &str = "acs:oss:*:*:test-bucket/uploads/bob/photo.jpg";

fn hostile_ids() -> Vec<String> {
    let mut ids: Vec<String> = [
        "*",
        "a*",
        "?",
        "b?b",
        "../bob",
        "bob/../alice",
        "%2e%2e",
        "%2e%2e%2fbob",
        "bob/",
        "/bob",
        "bob/x",
        "uploads/bob",
        "bob\\x",
        "a\u{0}b",
        "a\nb",
        "a\tb",
        "\u{7f}",
        "\u{1b}[31m",
        "é",
        "ｂｏｂ",
        "bob\u{202e}",
        "bob ",
        "",
        ".",
        "..",
        "${sub}",
        "a\"b",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    ids.push("x".repeat(10 * 1024));
    ids.push("b".repeat(129));
    ids
}

async fn jwt_app() -> TestApp {
    TestApp::builder()
        .vars(|vars| jwt_vars(vars, None))
        .spawn()
        .await
}

fn token_for(sub: &str) -> String {
    mint(Algorithm::HS256, &hs256(HS256_SECRET), None, &claims(sub))
}

/// The session policy STS recorded for the credential in `response`.
async fn issued_policy(app: &TestApp, response: reqwest::Response) -> (String, Value) {
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    let issued = app
        .sts
        .issued(body["AccessKeyId"].as_str().unwrap())
        .expect("STS issued it");
    (
        body["Dir"].as_str().unwrap().to_owned(),
        issued.policy.expect("session policy"),
    )
}

#[tokio::test]
async fn hostile_ids_from_a_valid_jwt_are_refused_and_get_no_credential() {
    let app = jwt_app().await;
    for id in hostile_ids() {
        let response = app.get_token().bearer(&token_for(&id)).await;
        let shown: String = id.chars().take(20).collect();
        assert_eq!(response.status().as_u16(), 403, "{shown:?}");
        let body = expect_error(response, 403, "caller-id-refused").await;
        assert!(!body.to_string().contains("bob/"), "{body}");
    }
    assert_eq!(app.sts.request_count(), 0, "no STS call for a refused id");
    assert_eq!(app.sts.issued_count(), 0);
}

#[tokio::test]
async fn hostile_ids_from_the_trusted_header_are_refused() {
    let app = TestApp::builder()
        .vars(|vars| {
            vars.insert("BROKER_AUTH".into(), "header".into());
            generous_limits(vars);
        })
        .spawn()
        .await;
    // Everything an HTTP header can carry: visible ASCII, tab, and obs-text bytes.
    let mut values: Vec<Vec<u8>> = hostile_ids()
        .into_iter()
        .filter(|id| {
            !id.is_empty()
                && id.len() < 8000
                && id.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
                && id.trim() == id
        })
        .map(String::into_bytes)
        .collect();
    values.push(b"caf\xc3\xa9".to_vec());
    values.push(b"bob\xff".to_vec());
    assert!(values.len() > 15);
    for value in values {
        let response = app.get_token().header("X-Authenticated-User", &value).await;
        expect_error(response, 403, "caller-id-refused").await;
    }
    // An empty header value is no identity at all.
    expect_401(
        app.get_token()
            .headers(&[("X-Authenticated-User", "")])
            .await,
    )
    .await;
    assert_eq!(app.sts.issued_count(), 0);
}

#[tokio::test]
async fn accepted_look_alike_ids_never_reach_bobs_prefix() {
    let app = jwt_app().await;
    for id in [
        "alice",
        "bob.",
        ".bob",
        "..bob",
        "bob..",
        "...",
        "bob-",
        "b",
        "BOB",
        "bob@evil",
        "bo",
        "bob_",
        "bob.alice",
    ] {
        let (dir, policy) = issued_policy(&app, app.get_token().bearer(&token_for(id)).await).await;
        assert_eq!(dir, format!("uploads/{id}/"));
        let own = format!("acs:oss:*:*:test-bucket/uploads/{id}/photo.jpg");
        assert!(policy_allows(&policy, "oss:PutObject", &own), "{id}");
        for outside in [
            BOB_OBJECT,
            "acs:oss:*:*:test-bucket/uploads/bob/",
            "acs:oss:*:*:test-bucket/uploads/photo.jpg",
            "acs:oss:*:*:test-bucket/other/photo.jpg",
        ] {
            assert!(
                !policy_allows(&policy, "oss:PutObject", outside),
                "{id} may write {outside}"
            );
        }
    }
    // The real bob, for contrast, may.
    let (_, policy) = issued_policy(&app, app.get_token().bearer(&token_for("bob")).await).await;
    assert!(policy_allows(&policy, "oss:PutObject", BOB_OBJECT));
}

#[tokio::test]
async fn longest_accepted_id_still_gets_a_policy_sts_accepts() {
    let app = jwt_app().await;
    let id = "x".repeat(128);
    let (dir, policy) = issued_policy(&app, app.get_token().bearer(&token_for(&id)).await).await;
    assert_eq!(dir, format!("uploads/{id}/"));
    assert!(!policy_allows(&policy, "oss:PutObject", BOB_OBJECT));
    let session = app.sts.last_issued().unwrap().role_session_name;
    assert!(session.len() <= 32, "{session}");
}

#[tokio::test]
async fn long_ids_sharing_a_head_get_distinct_64_bit_session_names() {
    let app = jwt_app().await;
    // Two mini-program ids that agree on far more than the readable head. Expected names:
    // the first 15 characters, `-`, then the first 16 hex digits of the id's SHA-256,
    // computed outside this code with Python's hashlib.sha256(id.encode()).hexdigest()[:16].
    for (id, expected) in [
        (
            "mini-app-user-0123456789abcdef-openid-alice",
            "mini-app-user-0-5b5d6551cb25ed11",
        ),
        (
            "mini-app-user-0123456789abcdef-openid-bob",
            "mini-app-user-0-126d17cf399f0d9f",
        ),
        (&"x".repeat(128) as &str, "xxxxxxxxxxxxxxx-24da1b81d0b16df6"),
    ] {
        let response = app.get_token().bearer(&token_for(id)).await;
        assert_eq!(response.status().as_u16(), 200, "{id}");
        let issued = app.sts.last_issued().unwrap();
        assert_eq!(issued.role_session_name, expected, "{id}");
    }
    // A short plain id is still its own session name.
    let response = app.get_token().bearer(&token_for("alice")).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(app.sts.last_issued().unwrap().role_session_name, "alice");
}
