//! Upload callbacks: the pinned `callback` field of a server-signed form, and `POST
//! /ossCallback` refusing every forgery with nothing forwarded, confirming the object, and
//! relaying the app's answer. OSS's side of the callback is played by the test here, signing
//! with a test key the broker is pinned to (`BROKER_CALLBACK_PUBLIC_KEY_FILE`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use md5::Digest as _;
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use serde_json::{Map, Value};

use crate::harness::{expect_error, TestApp, Vars};
use crate::post_object::{fields, post, Answer};
use crate::profiles::profiles_file;

const SECRET: &str = "callback-secret-for-tests-only-0123456789";
const OSS_KEY: &str = include_str!("keys/oss-callback.test-only.pem");
const OSS_PUB: &str = "tests/api/keys/oss-callback.test-only.pub.pem";

/// What the app saw, and how it answers.
#[derive(Clone, Default)]
pub(crate) struct AppLog(pub(crate) Arc<Mutex<Vec<(Value, String, String)>>>);

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum AppMode {
    Json,
    Down,
    Slow,
    NotJson,
    /// `500` the first time, JSON after.
    FailOnce,
}

/// A loopback app receiving the broker's forwards; answers `{"ok":true,"seen":<key>}`.
pub(crate) async fn start_app(mode: AppMode) -> (String, AppLog) {
    let log = AppLog::default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/uploaded", listener.local_addr().unwrap());
    if mode == AppMode::Down {
        drop(listener);
        return (url, log);
    }
    let seen = log.clone();
    let server = HttpServer::new(move || {
        let seen = seen.clone();
        App::new().route(
            "/uploaded",
            web::post().to(move |req: HttpRequest, body: web::Bytes| {
                let seen = seen.clone();
                async move {
                    let header =
                        |n: &str| req.headers().get(n).unwrap().to_str().unwrap().to_owned();
                    let json: Value = serde_json::from_slice(&body).unwrap();
                    let key = json["key"].as_str().unwrap_or_default().to_owned();
                    seen.0.lock().unwrap().push((
                        json,
                        header("x-broker-timestamp"),
                        header("x-broker-signature"),
                    ));
                    // The app checks the broker's signature as docs/callbacks.md says.
                    let expected = signature(&header("x-broker-timestamp"), &body);
                    assert_eq!(header("x-broker-signature"), expected);
                    match mode {
                        AppMode::Slow => {
                            tokio::time::sleep(Duration::from_secs(6)).await;
                            HttpResponse::Ok().json(serde_json::json!({"late": true}))
                        }
                        AppMode::NotJson => HttpResponse::Ok().body("thanks"),
                        AppMode::FailOnce if seen.0.lock().unwrap().len() == 1 => {
                            HttpResponse::InternalServerError().finish()
                        }
                        _ => HttpResponse::Ok().json(serde_json::json!({"ok": true, "seen": key})),
                    }
                }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    (url, log)
}

/// `v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>`, computed with the hmac crate here.
fn signature(timestamp: &str, body: &[u8]) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

pub(crate) fn callback_profile(app_url: &str) -> impl FnOnce(&mut Vars) {
    let path = profiles_file(&format!(
        "[profiles.cb]\nprefix = \"cb/${{sub}}/\"\n\n[profiles.cb.callback]\nforward_url = \"{app_url}\"\n"
    ));
    move |vars: &mut Vars| {
        vars.insert("BROKER_PROFILES_FILE".into(), path);
        vars.insert(
            "BROKER_CALLBACK_URL".into(),
            "https://upload.example.com/ossCallback".into(),
        );
        vars.insert("BROKER_CALLBACK_SECRET".into(), SECRET.into());
        vars.insert("BROKER_CALLBACK_PUBLIC_KEY_FILE".into(), OSS_PUB.into());
        vars.insert("BROKER_AUTH".into(), "header".into());
        vars.insert("BROKER_TRUSTED_HEADER".into(), "X-User".into());
        vars.insert("BROKER_TRUSTED_PROXIES".into(), "127.0.0.1/32".into());
    }
}

async fn cb_form(app: &TestApp, caller: &str) -> Map<String, Value> {
    let response = app
        .post_object_params()
        .query(&[("profile", "cb")])
        .header("X-User", caller)
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Uploads `body` as `caller` under `key` with a broker-signed callback form; returns the
/// callback body template the form carries and the stored object's ETag.
/// Posts `body` as `caller` under `key` with a broker-signed form of the callback profile.
async fn post_as(
    app: &TestApp,
    caller: &str,
    key: &str,
    body: &[u8],
) -> (Map<String, Value>, Answer) {
    let form = cb_form(app, caller).await;
    let answer = post(
        form["host"].as_str().unwrap(),
        &fields(&form, key, &[]),
        body.to_vec(),
        "image/png",
    )
    .await;
    (form, answer)
}

async fn upload(app: &TestApp, caller: &str, key: &str, body: &[u8]) -> (String, String) {
    let (form, answer) = post_as(app, caller, key, body).await;
    let callback: Value =
        serde_json::from_slice(&B64.decode(form["callback"].as_str().unwrap()).unwrap()).unwrap();
    assert!([200, 203, 204].contains(&answer.status), "stored");
    let got = reqwest::get(format!("{}/{key}", app.oss().bucket_url()))
        .await
        .unwrap();
    let etag = got.headers()["etag"]
        .to_str()
        .unwrap()
        .trim_matches('"')
        .to_owned();
    (callback["callbackBody"].as_str().unwrap().to_owned(), etag)
}

/// What OSS would post: the template filled in (JSON values, protocol.md §9.2).
fn fill(template: &str, key: &str, size: usize, etag: &str) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap();
    template
        .replace("${bucket}", &q("test-bucket"))
        .replace("${object}", &q(key))
        .replace("${size}", &size.to_string())
        .replace("${etag}", &q(etag))
        .replace("${mimeType}", &q("image/png"))
        // OSS's id of the upload request: one per upload (the same body, the same upload).
        .replace("${reqId}", &q(&format!("req-{size}-{etag}-{key}")))
}

/// Posts `body` to `/ossCallback` signed as OSS signs callbacks, with `key`.
async fn deliver(
    app: &TestApp,
    body: &str,
    key: &RsaPrivateKey,
    key_url: &str,
) -> reqwest::Response {
    let path = "/ossCallback";
    let message = format!("{path}\n{body}");
    let digest = md5::Md5::digest(message.as_bytes());
    let signature = key.sign(Pkcs1v15Sign::new::<md5::Md5>(), &digest).unwrap();
    // One client for every delivery: building one takes milliseconds of the test's thread,
    // which also runs the broker, so sixteen of them at once would eat into its deadline.
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(reqwest::Client::new)
        .post(format!("{}{path}", app.address))
        .header("authorization", B64.encode(signature))
        .header("x-oss-pub-key-url", B64.encode(key_url))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

fn oss_key() -> RsaPrivateKey {
    RsaPrivateKey::from_pkcs8_pem(OSS_KEY).unwrap()
}

const OFFICIAL_KEY_URL: &str = "https://gosspublic.alicdn.com/callback_pub_key_v1.pem";

#[tokio::test]
async fn the_form_pins_a_callback_and_token_is_refused_for_that_profile() {
    let (url, _) = start_app(AppMode::Json).await;
    let app = TestApp::builder()
        .with_oss()
        .vars(callback_profile(&url))
        .spawn()
        .await;
    let form = cb_form(&app, "alice").await;
    let field = form["callback"].as_str().unwrap();
    let policy: Value =
        serde_json::from_slice(&B64.decode(form["policy"].as_str().unwrap()).unwrap()).unwrap();
    assert!(policy["conditions"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!({"callback": field})));
    let callback: Value = serde_json::from_slice(&B64.decode(field).unwrap()).unwrap();
    assert_eq!(
        callback["callbackUrl"],
        "https://upload.example.com/ossCallback"
    );
    assert_eq!(callback["callbackSNI"], true);
    // A changed callback field is refused by OSS: the policy pins it.
    let mut changed = fields(&form, "cb/alice/x.png", &[]);
    let other = B64.encode(r#"{"callbackUrl":"https://evil.example.com/","callbackBody":"x"}"#);
    changed.iter_mut().find(|(k, _)| k == "callback").unwrap().1 = other;
    post(
        form["host"].as_str().unwrap(),
        &changed,
        b"x".to_vec(),
        "image/png",
    )
    .await
    .assert_refused(403, "AccessDenied");
    // An STS credential cannot carry a callback: /getToken refuses the profile.
    let refused = app
        .get_token()
        .query(&[("profile", "cb")])
        .header("X-User", "alice")
        .await;
    expect_error(refused, 403, "server-signing-only").await;
}

#[tokio::test]
async fn a_verified_callback_is_forwarded_signed_and_the_apps_answer_relayed() {
    let (url, log) = start_app(AppMode::Json).await;
    let app = TestApp::builder()
        .with_oss()
        .vars(callback_profile(&url))
        .spawn()
        .await;
    let key = "cb/alice/photo.png";
    let (template, etag) = upload(&app, "alice", key, b"pngbytes").await;
    let response = deliver(
        &app,
        &fill(&template, key, 8, &etag),
        &oss_key(),
        OFFICIAL_KEY_URL,
    )
    .await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer, serde_json::json!({"ok": true, "seen": key}));
    let seen = log.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].0,
        serde_json::json!({"bucket": "test-bucket", "key": key, "size": 8, "etag": etag,
            "mime_type": "image/png", "caller": "alice", "profile": "cb"})
    );
    let log = crate::harness::captured_log();
    assert!(log.lines().any(|l| l.contains("OSS upload callback")
        && l.contains("forwarded")
        && l.contains("\"caller\":\"alice\"")));
}

#[tokio::test]
async fn forged_callbacks_are_refused_and_nothing_is_forwarded() {
    let (url, log) = start_app(AppMode::Json).await;
    let app = TestApp::builder()
        .with_oss()
        .vars(callback_profile(&url))
        .spawn()
        .await;
    let key = "cb/alice/photo.png";
    let (template, etag) = upload(&app, "alice", key, b"pngbytes").await;
    let genuine = fill(&template, key, 8, &etag);
    let refuse = |body: String| {
        let app = &app;
        async move {
            let response = deliver(app, &body, &oss_key(), OFFICIAL_KEY_URL).await;
            expect_error(response, 403, "callback-refused").await;
        }
    };
    // A bad signature.
    let response = reqwest::Client::new()
        .post(format!("{}/ossCallback", app.address))
        .header("authorization", B64.encode([0u8; 64]))
        .header("x-oss-pub-key-url", B64.encode(OFFICIAL_KEY_URL))
        .body(genuine.clone())
        .send()
        .await
        .unwrap();
    expect_error(response, 403, "callback-refused").await;
    // A valid OSS signature over a body naming another caller (the grant is alice's).
    refuse(genuine.replace("\"caller\":\"alice\"", "\"caller\":\"bob\"")).await;
    // ...over a body without a grant.
    let no_grant: Value = serde_json::from_str(&genuine).unwrap();
    let mut no_grant = no_grant.as_object().unwrap().clone();
    no_grant.remove("grant");
    refuse(serde_json::to_string(&no_grant).unwrap()).await;
    // ...a key outside the grant's directory (bob's object, alice's grant).
    let (_, bob_etag) = upload(&app, "bob", "cb/bob/his.png", b"bobbytes").await;
    refuse(fill(&template, "cb/bob/his.png", 8, &bob_etag)).await;
    // ...an object that does not exist, or a size or ETag other than the stored object's.
    refuse(fill(&template, "cb/alice/missing.png", 8, &etag)).await;
    refuse(fill(&template, key, 9, &etag)).await;
    refuse(fill(&template, key, 8, "0123456789ABCDEF0123456789ABCDEF")).await;
    assert!(log.0.lock().unwrap().is_empty(), "nothing was forwarded");
    // The genuine one still goes through.
    let ok = deliver(&app, &genuine, &oss_key(), OFFICIAL_KEY_URL).await;
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn an_expired_grant_is_refused() {
    let (url, log) = start_app(AppMode::Json).await;
    let clock = sts_broker::clock::ManualClock::new(chrono::Utc::now());
    let app = TestApp::builder()
        .with_oss()
        .clock(clock.clone())
        .vars(callback_profile(&url))
        .spawn()
        .await;
    let key = "cb/alice/late.png";
    let (template, etag) = upload(&app, "alice", key, b"pngbytes").await;
    // The grant lives an hour past the policy (600 s).
    clock.advance(chrono::Duration::seconds(600 + 3600 + 1));
    let response = deliver(
        &app,
        &fill(&template, key, 8, &etag),
        &oss_key(),
        OFFICIAL_KEY_URL,
    )
    .await;
    expect_error(response, 403, "callback-refused").await;
    assert!(log.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_key_url_outside_oss_prefixes_is_refused_without_a_fetch() {
    let (url, log) = start_app(AppMode::Json).await;
    let app = TestApp::builder()
        .with_oss()
        .vars(callback_profile(&url))
        .vars(|vars| {
            vars.remove("BROKER_CALLBACK_PUBLIC_KEY_FILE");
        })
        .spawn()
        .await;
    let key = "cb/alice/photo.png";
    let (template, etag) = upload(&app, "alice", key, b"pngbytes").await;
    for key_url in [
        "http://127.0.0.1:9/key.pem",
        "https://gosspublic.alicdn.com.evil.example/key.pem",
        "https://evil.example/https://gosspublic.alicdn.com/",
    ] {
        let response = deliver(&app, &fill(&template, key, 8, &etag), &oss_key(), key_url).await;
        expect_error(response, 403, "callback-refused").await;
    }
    assert!(log.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_app_down_slow_or_not_json_fails_the_callback() {
    for mode in [AppMode::Down, AppMode::Slow, AppMode::NotJson] {
        let (url, _) = start_app(mode).await;
        let app = TestApp::builder()
            .with_oss()
            .vars(callback_profile(&url))
            .spawn()
            .await;
        let key = "cb/alice/photo.png";
        let (template, etag) = upload(&app, "alice", key, b"pngbytes").await;
        let started = std::time::Instant::now();
        let response = deliver(
            &app,
            &fill(&template, key, 8, &etag),
            &oss_key(),
            OFFICIAL_KEY_URL,
        )
        .await;
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "inside OSS's 5 s"
        );
        expect_error(response, 502, "callback-failed").await;
    }
}

/// A broker on a known port whose `BROKER_CALLBACK_URL` is its own `/ossCallback`, pinned to
/// the OSS emulator's callback key: OSS's side is the emulator's now.
pub(crate) async fn broker_the_emulator_calls_back(app_url: &str) -> TestApp {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    TestApp::builder()
        .on(listener)
        .with_oss()
        .vars(callback_profile(app_url))
        .vars(move |vars| {
            vars.insert("BROKER_LISTEN".into(), format!("127.0.0.1:{port}"));
            vars.insert(
                "BROKER_CALLBACK_URL".into(),
                format!("http://127.0.0.1:{port}/ossCallback"),
            );
            let pem = vars[crate::harness::OSS_CALLBACK_KEY_FILE].clone();
            vars.insert("BROKER_CALLBACK_PUBLIC_KEY_FILE".into(), pem);
        })
        .spawn()
        .await
}

#[tokio::test]
async fn end_to_end_the_uploader_gets_the_apps_answer_through_oss() {
    let (url, log) = start_app(AppMode::Json).await;
    let app = broker_the_emulator_calls_back(&url).await;
    let key = "cb/alice/e2e.png";
    let (_, answer) = post_as(&app, "alice", key, b"e2e").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let relayed: Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(relayed, serde_json::json!({"ok": true, "seen": key}));
    let seen = log.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].0["caller"].as_str(), seen[0].0["size"].as_u64()),
        (Some("alice"), Some(3))
    );
}

#[tokio::test]
async fn end_to_end_an_app_that_is_down_gives_the_uploader_203_and_the_object_is_stored() {
    let (url, _) = start_app(AppMode::Down).await;
    let app = broker_the_emulator_calls_back(&url).await;
    let key = "cb/alice/kept.png";
    let (_, answer) = post_as(&app, "alice", key, b"kept").await;
    assert_eq!(answer.status, 203, "{}", answer.body);
    assert!(
        answer.body.contains("<Code>CallbackFailed</Code>"),
        "{}",
        answer.body
    );
    assert!(
        app.oss().object(key).is_some(),
        "the object is stored anyway"
    );
}

#[tokio::test]
async fn a_replayed_callback_a_wrong_type_or_a_dotted_key_is_refused() {
    let (url, log) = start_app(AppMode::Json).await;
    let app = TestApp::builder()
        .with_oss()
        .vars(callback_profile(&url))
        .spawn()
        .await;
    let key = "cb/alice/photo.png";
    let (template, etag) = upload(&app, "alice", key, b"pngbytes").await;
    let genuine = fill(&template, key, 8, &etag);
    // The stored object is image/png: a body claiming another type is not it.
    let other_type = genuine.replace("\"image/png\"", "\"text/html\"");
    expect_error(
        deliver(&app, &other_type, &oss_key(), OFFICIAL_KEY_URL).await,
        403,
        "callback-refused",
    )
    .await;
    let dotted = fill(&template, "cb/alice/../bob/photo.png", 8, &etag);
    expect_error(
        deliver(&app, &dotted, &oss_key(), OFFICIAL_KEY_URL).await,
        403,
        "callback-refused",
    )
    .await;
    // OSS sends each callback once: the same one again is a replay.
    assert_eq!(
        deliver(&app, &genuine, &oss_key(), OFFICIAL_KEY_URL)
            .await
            .status(),
        200
    );
    expect_error(
        deliver(&app, &genuine, &oss_key(), OFFICIAL_KEY_URL).await,
        403,
        "callback-refused",
    )
    .await;
    assert_eq!(log.0.lock().unwrap().len(), 1, "forwarded once");
}

/// Sixteen copies of one callback at once: one is forwarded. A retry after the app failed is
/// forwarded; an identical re-upload is a new upload (a new OSS request id) and is forwarded too.
#[tokio::test]
async fn one_upload_is_forwarded_once_and_failures_and_re_uploads_go_through() {
    let (url, log) = start_app(AppMode::FailOnce).await;
    let app = TestApp::builder()
        .with_oss()
        .vars(callback_profile(&url))
        .spawn()
        .await;
    let key = "cb/alice/photo.png";
    let (template, etag) = upload(&app, "alice", key, b"pngbytes").await;
    let genuine = fill(&template, key, 8, &etag);
    // The app fails the first delivery; the retry of the same upload is forwarded.
    expect_error(
        deliver(&app, &genuine, &oss_key(), OFFICIAL_KEY_URL).await,
        502,
        "callback-failed",
    )
    .await;
    let signing_key = oss_key();
    let copies = (0..16).map(|_| deliver(&app, &genuine, &signing_key, OFFICIAL_KEY_URL));
    let statuses: Vec<u16> = futures_util::future::join_all(copies)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [200, 403].contains(s)),
        "{statuses:?}"
    );
    assert_eq!(
        log.0.lock().unwrap().len(),
        2,
        "the failed delivery and one copy"
    );
    // The same bytes uploaded again: OSS gives the upload a new request id.
    let again = genuine.replace("\"req-", "\"req-again-");
    assert_eq!(
        deliver(&app, &again, &oss_key(), OFFICIAL_KEY_URL)
            .await
            .status(),
        200
    );
    assert_eq!(log.0.lock().unwrap().len(), 3);
}

/// In fleet mode the ledger is Redis's: a copy reaching another replica is refused too.
#[tokio::test]
async fn a_copy_reaching_another_replica_is_refused_in_fleet_mode() {
    let redis = crate::harness::RedisServer::start();
    let (url, log) = start_app(AppMode::Json).await;
    let profile = callback_profile(&url);
    let redis_url = redis.url();
    let first = TestApp::builder()
        .with_oss()
        .vars(move |vars: &mut Vars| {
            profile(vars);
            crate::fleet::fleet_vars(vars, &redis_url);
        })
        .spawn()
        .await;
    let second = first.another_broker().spawn().await;
    let key = "cb/alice/photo.png";
    let (template, etag) = upload(&first, "alice", key, b"pngbytes").await;
    let genuine = fill(&template, key, 8, &etag);
    let answers = futures_util::future::join(
        deliver(&first, &genuine, &oss_key(), OFFICIAL_KEY_URL),
        deliver(&second, &genuine, &oss_key(), OFFICIAL_KEY_URL),
    )
    .await;
    let mut statuses = [answers.0.status().as_u16(), answers.1.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 403]);
    assert_eq!(
        log.0.lock().unwrap().len(),
        1,
        "forwarded once for the fleet"
    );
}
