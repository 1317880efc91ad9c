//! Signed download URLs end to end: `/getObjectUrl` and `/getObjectUrls` against the strict OSS
//! emulator with a private bucket. A caller's URL reads its object back byte for byte; changed,
//! foreign and expired URLs are refused by OSS; other callers' and hostile keys are refused by
//! the broker before anything is signed; one STS call per profile signs every caller's URLs
//! with a read-only credential; `process` and `filename` arrive only when allowed; `/getToken`
//! credentials read their own directory and nothing else.

use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use broker_emulators::oss::{BucketAcl, PROCESS_ECHO_HEADER};
use chrono::{Duration, Utc};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::Method;
use serde_json::{json, Value};
use sha1::Sha1;

use crate::harness::{captured_log, expect_error, policy_allows, Call, TestApp, Vars};
use crate::jwt_support::generous_limits;

pub(crate) const ALICE_KEY: &str = "uploads/alice/holiday photo+1.jpg";
const ALICE_BYTES: &[u8] = b"\x89PNG alice's picture \x00\xff";

/// A broker in trusted-header mode (callers name themselves in `X-Authenticated-User`) with
/// the OSS emulator as a private bucket holding one object of alice's and one of bob's.
pub(crate) async fn app(configure: impl FnOnce(&mut Vars)) -> TestApp {
    let app = TestApp::builder()
        .with_oss()
        .vars(|vars| {
            vars.insert("BROKER_AUTH".into(), "header".into());
            generous_limits(vars);
            configure(vars);
        })
        .spawn()
        .await;
    let oss = app.oss();
    oss.set_acl(BucketAcl::Private);
    oss.insert_object(ALICE_KEY, ALICE_BYTES, "image/png");
    oss.insert_object("uploads/bob/secret.txt", b"bob's", "text/plain");
    oss.insert_object("public/logo.svg", b"<svg/>", "image/svg+xml");
    app
}

pub(crate) fn as_user(call: Call, user: &str) -> Call {
    call.header("X-Authenticated-User", user)
}

pub(crate) fn url_call(app: &TestApp, user: &str, query: &[(&str, &str)]) -> Call {
    as_user(app.get("/getObjectUrl"), user).query(query)
}

pub(crate) fn urls_call(app: &TestApp, user: &str, body: &Value) -> Call {
    as_user(app.get("/getObjectUrls").method(Method::POST), user)
        .header("Content-Type", "application/json")
        .body(body.to_string())
}

async fn fetch(url: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(url)
        .send()
        .await
        .expect("OSS answers")
}

/// Status and `<Code>` of an OSS answer.
async fn oss_outcome(url: &str) -> (u16, String) {
    let response = fetch(url).await;
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    let code = body
        .split_once("<Code>")
        .and_then(|(_, r)| r.split_once("</Code>"))
        .map_or(String::new(), |(c, _)| c.to_owned());
    (status, code)
}

pub(crate) async fn signed_url(app: &TestApp, user: &str, query: &[(&str, &str)]) -> Value {
    let response = url_call(app, user, query).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_callers_url_reads_its_object_back_byte_for_byte() {
    let app = app(|_| {}).await;
    let unsigned = format!(
        "{}/uploads/alice/holiday%20photo%2B1.jpg",
        app.oss().bucket_url()
    );
    assert_eq!(oss_outcome(&unsigned).await, (403, "AccessDenied".into()));
    let before = Utc::now().timestamp();
    let body = signed_url(&app, "alice", &[("key", ALICE_KEY)]).await;
    assert_eq!(body["key"], ALICE_KEY);
    assert_eq!(body["profile"], "default");
    let expire = body["expire"].as_i64().unwrap();
    assert!((before + 899..=before + 901).contains(&expire), "{body}");
    let url = body["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/uploads/alice/", app.oss().bucket_url())));
    assert!(
        url.contains("x-oss-signature-version=OSS4-HMAC-SHA256&"),
        "{url}"
    );
    assert!(url.contains("x-oss-expires=900&"), "{url}");
    let read = fetch(url).await;
    assert_eq!(read.status(), 200);
    assert_eq!(&read.bytes().await.unwrap()[..], ALICE_BYTES);
    app.assert_no_secrets_leaked(&[]);
}

#[tokio::test]
async fn changed_and_expired_urls_are_refused_by_oss() {
    let app = app(|_| {}).await;
    let body = signed_url(&app, "alice", &[("key", ALICE_KEY), ("expires", "60")]).await;
    let url = body["url"].as_str().unwrap().to_owned();
    let mismatch = (403, "SignatureDoesNotMatch".to_owned());
    let (head, signature) = url.rsplit_once("x-oss-signature=").unwrap();
    let flipped = if signature.starts_with('a') { "b" } else { "a" };
    let changed_signature = format!("{head}x-oss-signature={flipped}{}", &signature[1..]);
    assert_eq!(oss_outcome(&changed_signature).await, mismatch);
    let other_key = url.replace("uploads/alice/holiday", "uploads/bob/holiday");
    assert_eq!(oss_outcome(&other_key).await, mismatch);
    let longer = url.replace("x-oss-expires=60&", "x-oss-expires=600&");
    assert_eq!(oss_outcome(&longer).await, mismatch);
    assert_eq!(fetch(&url).await.status(), 200);
    app.oss_clock().advance(Duration::seconds(61));
    assert_eq!(oss_outcome(&url).await, (403, "AccessDenied".into()));
}

#[tokio::test]
async fn other_callers_keys_and_hostile_keys_are_refused_and_nothing_is_signed() {
    let app = app(|vars| {
        vars.insert("BROKER_DOWNLOAD_PREFIXES".into(), "public/".into());
    })
    .await;
    for key in [
        "uploads/bob/secret.txt",
        "uploads/alice2/x",
        "uploads/alice",
        "private/x",
    ] {
        let response = url_call(&app, "alice", &[("key", key)]).await;
        expect_error(response, 403, "key-outside-prefix").await;
    }
    let long = format!("uploads/alice/{}", "a".repeat(1010));
    for key in [
        "",
        "uploads/alice/../bob/secret.txt",
        "uploads/alice/./a",
        "/uploads/alice/a",
        "uploads/alice\\..\\bob\\secret.txt",
        "uploads/alice/a\u{0}b",
        "uploads/alice/a\nb",
        long.as_str(),
    ] {
        let response = url_call(&app, "alice", &[("key", key)]).await;
        expect_error(response, 400, "invalid-key").await;
    }
    expect_error(url_call(&app, "alice", &[]).await, 400, "invalid-key").await;
    // One refused key refuses them all.
    let mixed = json!({"keys": [ALICE_KEY, "uploads/bob/secret.txt"]});
    expect_error(
        urls_call(&app, "alice", &mixed).await,
        403,
        "key-outside-prefix",
    )
    .await;
    let hostile = json!({"keys": [ALICE_KEY, "uploads/alice/../bob/secret.txt"]});
    expect_error(urls_call(&app, "alice", &hostile).await, 400, "invalid-key").await;
    assert_eq!(app.sts.issued_count(), 0, "nothing was signed, no STS call");
    // The read prefix is readable by everyone.
    let body = signed_url(&app, "bob", &[("key", "public/logo.svg")]).await;
    assert_eq!(fetch(body["url"].as_str().unwrap()).await.status(), 200);
}

#[tokio::test]
async fn a_hundred_callers_cost_one_sts_call_and_the_credential_only_reads() {
    let app = app(|vars| {
        vars.insert(
            "BROKER_DOWNLOAD_PREFIXES".into(),
            "public/,shared/${sub}/".into(),
        );
    })
    .await;
    let calls = (0..100).map(|i| {
        let user = format!("user{i}");
        let key = format!("uploads/{user}/a.jpg");
        let call = url_call(&app, &user, &[("key", key.as_str())]);
        async move { call.await.status().as_u16() }
    });
    let statuses = futures_util::future::join_all(calls).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let many = json!({"keys": ["uploads/alice/1", "public/2", "shared/alice/3"]});
    let response = urls_call(&app, "alice", &many).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let keys: Vec<&str> = body["urls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["uploads/alice/1", "public/2", "shared/alice/3"]);
    assert_eq!(
        app.sts.issued_count(),
        1,
        "one read credential for the profile"
    );
    let issued = app.sts.last_issued().unwrap();
    assert_eq!(issued.role_session_name, "sts-broker-reads");
    let policy = issued.policy.unwrap();
    let object = |key: &str| format!("acs:oss:*:*:test-bucket/{key}");
    for readable in ["uploads/bob/a.jpg", "public/x", "shared/bob/x"] {
        assert!(
            policy_allows(&policy, "oss:GetObject", &object(readable)),
            "{readable}"
        );
    }
    for action in [
        "oss:PutObject",
        "oss:DeleteObject",
        "oss:ListObjects",
        "oss:GetObjectAcl",
    ] {
        assert!(
            !policy_allows(&policy, action, &object("uploads/alice/a")),
            "{action}"
        );
    }
    assert!(!policy_allows(
        &policy,
        "oss:GetObject",
        &object("private/x")
    ));
    assert!(!policy_allows(&policy, "oss:GetObject", &object("uploads")));
}

#[tokio::test]
async fn process_and_filename_arrive_only_when_allowed() {
    let app = app(|vars| {
        vars.insert(
            "BROKER_DOWNLOAD_PROCESSES".into(),
            "image/resize,w_200 style/thumb".into(),
        );
    })
    .await;
    let body = signed_url(
        &app,
        "alice",
        &[
            ("key", ALICE_KEY),
            ("process", "image/resize,w_200"),
            ("filename", "假期 photo.jpg"),
        ],
    )
    .await;
    let read = fetch(body["url"].as_str().unwrap()).await;
    assert_eq!(read.status(), 200);
    assert_eq!(read.headers()[PROCESS_ECHO_HEADER], "image/resize,w_200");
    assert_eq!(
        read.headers()["content-disposition"],
        "attachment; filename*=UTF-8''%E5%81%87%E6%9C%9F%20photo.jpg"
    );
    let plain = signed_url(&app, "alice", &[("key", ALICE_KEY)]).await;
    let read = fetch(plain["url"].as_str().unwrap()).await;
    assert!(read.headers().get(PROCESS_ECHO_HEADER).is_none());
    assert!(read.headers().get("content-disposition").is_none());
    for refused in [
        "image/resize,w_2000",
        "style/other",
        "image/resize,w_200,h_1",
    ] {
        let response = url_call(&app, "alice", &[("key", ALICE_KEY), ("process", refused)]).await;
        expect_error(response, 403, "process-not-allowed").await;
    }
    let many = json!({"keys": [ALICE_KEY], "process": "image/crop,w_1"});
    expect_error(
        urls_call(&app, "alice", &many).await,
        403,
        "process-not-allowed",
    )
    .await;
}

#[tokio::test]
async fn expiry_is_capped_and_checked() {
    let app = app(|vars| {
        vars.insert("BROKER_DOWNLOAD_MAX_EXPIRES_SECONDS".into(), "1200".into());
    })
    .await;
    let now = Utc::now().timestamp();
    let body = signed_url(&app, "alice", &[("key", ALICE_KEY), ("expires", "604800")]).await;
    assert!(body["expire"].as_i64().unwrap() <= now + 1201, "{body}");
    assert!(body["url"]
        .as_str()
        .unwrap()
        .contains("x-oss-expires=1200&"));
    for bad in ["0", "-5", "1.5", "soon", ""] {
        let response = url_call(&app, "alice", &[("key", ALICE_KEY), ("expires", bad)]).await;
        expect_error(response, 400, "invalid-expires").await;
    }
    // In the body, as JSON wrote the number: a whole number past any integer type (schemathesis
    // sends such) is more than the cap, so cut to it.
    for (expires, signed) in [
        ("30", "30"),
        ("45.0", "45"),
        ("225157709894870499328", "1200"),
    ] {
        let body = format!(r#"{{"keys": ["{ALICE_KEY}"], "expires": {expires}}}"#);
        let response = as_user(app.get("/getObjectUrls").method(Method::POST), "alice")
            .header("Content-Type", "application/json")
            .body(body)
            .await;
        assert_eq!(response.status(), 200, "{expires}");
        let body: Value = response.json().await.unwrap();
        let url = body["urls"][0]["url"].as_str().unwrap();
        assert!(url.contains(&format!("x-oss-expires={signed}&")), "{url}");
    }
    for bad in [json!(0), json!(-5), json!(1.5), json!(-1e30)] {
        let many = json!({"keys": [ALICE_KEY], "expires": bad});
        expect_error(
            urls_call(&app, "alice", &many).await,
            400,
            "invalid-expires",
        )
        .await;
    }
}

#[tokio::test]
async fn malformed_bodies_and_off_profiles_are_refused() {
    let app = app(|_| {}).await;
    for body in [
        json!({"keys": []}),
        json!({"keys": (0..101).map(|i| format!("uploads/alice/{i}")).collect::<Vec<_>>()}),
        json!({"key": ALICE_KEY}),
        json!({"keys": [1, 2]}),
        json!(["uploads/alice/a"]),
    ] {
        expect_error(
            urls_call(&app, "alice", &body).await,
            400,
            "invalid-request",
        )
        .await;
    }
    let get = as_user(app.get("/getObjectUrls"), "alice").await;
    expect_error(get, 405, "method-not-allowed").await;
    let off = self::app(|vars| {
        vars.insert("BROKER_DOWNLOADS".into(), "off".into());
    })
    .await;
    let response = url_call(&off, "alice", &[("key", ALICE_KEY)]).await;
    expect_error(response, 403, "downloads-disabled").await;
}

/// A V1 presigned GET (protocol.md §16.2) signed here with a `/getToken` credential.
fn v1_url(bucket_url: &str, key_path: &str, key: &str, token: &Value) -> String {
    let expires = Utc::now().timestamp() + 300;
    let security_token = token["SecurityToken"].as_str().unwrap();
    let to_sign = format!("GET\n\n\n{expires}\n/test-bucket/{key}?security-token={security_token}");
    let secret = token["AccessKeySecret"].as_str().unwrap();
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(to_sign.as_bytes());
    let signature = B64.encode(mac.finalize().into_bytes());
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "{bucket_url}/{key_path}?Expires={expires}&OSSAccessKeyId={}&Signature={}&security-token={}",
        token["AccessKeyId"].as_str().unwrap(),
        enc(&signature),
        enc(security_token)
    )
}

#[tokio::test]
async fn get_token_credentials_read_their_own_dir_and_nothing_else() {
    let app = app(|_| {}).await;
    let token: Value = as_user(app.get_token(), "alice")
        .await
        .json()
        .await
        .unwrap();
    let bucket_url = app.oss().bucket_url();
    let own = v1_url(
        &bucket_url,
        "uploads/alice/holiday%20photo%2B1.jpg",
        ALICE_KEY,
        &token,
    );
    let read = fetch(&own).await;
    assert_eq!(read.status(), 200);
    assert_eq!(&read.bytes().await.unwrap()[..], ALICE_BYTES);
    let bobs = v1_url(
        &bucket_url,
        "uploads/bob/secret.txt",
        "uploads/bob/secret.txt",
        &token,
    );
    assert_eq!(oss_outcome(&bobs).await, (403, "AccessDenied".into()));
    let policy = app.sts.last_issued().unwrap().policy.unwrap();
    assert!(policy_allows(
        &policy,
        "oss:GetObject",
        "acs:oss:*:*:test-bucket/uploads/alice/x"
    ));
    assert!(!policy_allows(
        &policy,
        "oss:GetObject",
        "acs:oss:*:*:test-bucket/uploads/bob/x"
    ));

    let off = self::app(|vars| {
        vars.insert("BROKER_DOWNLOADS".into(), "off".into());
    })
    .await;
    let token: Value = as_user(off.get_token(), "alice")
        .await
        .json()
        .await
        .unwrap();
    let own = v1_url(
        &off.oss().bucket_url(),
        "uploads/alice/holiday%20photo%2B1.jpg",
        ALICE_KEY,
        &token,
    );
    assert_eq!(oss_outcome(&own).await, (403, "AccessDenied".into()));
}

#[tokio::test]
async fn urls_are_counted_per_profile_and_audited_by_key_without_the_url() {
    let app = app(|_| {}).await;
    let body = signed_url(&app, "alice", &[("key", ALICE_KEY)]).await;
    let url = body["url"].as_str().unwrap();
    let signature = url.rsplit_once("x-oss-signature=").unwrap().1;
    let metrics = app.metrics().await.text().await.unwrap();
    assert!(
        metrics.contains("sts_broker_download_urls_signed_total{profile=\"default\"} 1"),
        "{metrics}"
    );
    let log = captured_log();
    let line = log
        .lines()
        .find(|l| l.contains("download urls signed") && l.contains("holiday photo+1.jpg"))
        .expect("an audit line with the key");
    assert!(line.contains("\"caller\":\"alice\""), "{line}");
    assert!(
        !log.contains(signature),
        "the URL's signature reached the log"
    );
    app.assert_no_secrets_leaked(&[]);
}
