//! Signed download URLs, configured: a profile's own `[download]` table and read credential,
//! refused settings, a fleet signing with one read credential, and the CORS preflight of the
//! JSON POST. The shared helpers are in `downloads`.

use reqwest::Method;

use crate::downloads::{app, signed_url, url_call, ALICE_KEY};
use crate::harness::{expect_error, TestApp};
use crate::jwt_support::generous_limits;

#[tokio::test]
async fn a_profile_has_its_own_download_table_and_read_credential() {
    let file = crate::profiles::profiles_file(
        r#"
[profiles.avatar]
prefix = "avatars/${sub}/"

[profiles.avatar.download]
prefixes = ["public/"]
max_expires_seconds = 120
processes = ["style/thumb"]
host = "https://img.example.com"

[profiles.quiet]
prefix = "quiet/${sub}/"

[profiles.quiet.download]
enabled = false
"#,
    );
    let app = app(|vars| {
        vars.insert("BROKER_PROFILES_FILE".into(), file);
    })
    .await;
    let query = [
        ("key", "avatars/alice/me.png"),
        ("profile", "avatar"),
        ("process", "style/thumb"),
        ("expires", "999"),
    ];
    let body = signed_url(&app, "alice", &query).await;
    assert_eq!(body["profile"], "avatar");
    let url = body["url"].as_str().unwrap();
    assert!(
        url.starts_with("https://img.example.com/avatars/alice/me.png?"),
        "{url}"
    );
    assert!(url.contains("x-oss-expires=120&"), "{url}");
    assert_eq!(
        app.sts.last_issued().unwrap().role_session_name,
        "sts-broker-reads-avatar"
    );
    // The default profile's upload directory is not the avatar profile's.
    let response = url_call(&app, "alice", &[("key", ALICE_KEY), ("profile", "avatar")]).await;
    expect_error(response, 403, "key-outside-prefix").await;
    let response = url_call(
        &app,
        "alice",
        &[("key", "quiet/alice/a"), ("profile", "quiet")],
    )
    .await;
    expect_error(response, 403, "downloads-disabled").await;
    let response = url_call(&app, "alice", &[("key", ALICE_KEY), ("profile", "nope")]).await;
    expect_error(response, 400, "unknown-profile").await;
}

#[tokio::test]
async fn bad_download_settings_are_named() {
    let sts = crate::harness::Sts::demo().await;
    let refused = |extra: &[(&str, &str)]| {
        let mut vars = sts.broker_vars();
        for (k, v) in extra {
            vars.insert((*k).into(), (*v).into());
        }
        sts_broker::config::Settings::from_map(&vars)
            .expect_err("refused")
            .to_string()
    };
    for (name, value) in [
        ("BROKER_DOWNLOADS", "on"),
        ("BROKER_DOWNLOAD_MAX_EXPIRES_SECONDS", "604801"),
        ("BROKER_DOWNLOAD_MAX_EXPIRES_SECONDS", "0"),
        ("BROKER_DOWNLOAD_PREFIXES", "public"),
        ("BROKER_DOWNLOAD_PREFIXES", "../x/"),
        ("BROKER_DOWNLOAD_PROCESSES", "image/a&b"),
        ("BROKER_DOWNLOAD_HOST", "http://cdn.example.com"),
    ] {
        let shown = refused(&[(name, value)]);
        assert!(shown.contains(name), "{name}={value}: {shown}");
    }
    let file = crate::profiles::profiles_file(
        "[profiles.a]\nprefix = \"a/${sub}/\"\n[profiles.a.download]\nmax_expires_seconds = 0\nprefixes = [\"x\"]\n",
    );
    let shown = refused(&[("BROKER_PROFILES_FILE", file.as_str())]);
    assert!(
        shown.contains("profiles.a.download.max_expires_seconds")
            && shown.contains("profiles.a.download.prefixes"),
        "{shown}"
    );
}

#[tokio::test]
async fn a_fleet_signs_with_one_read_credential() {
    let redis = crate::harness::RedisServer::start();
    let sts = crate::harness::Sts::demo().await;
    let mut replicas = Vec::new();
    for _ in 0..3 {
        let url = redis.url();
        let app = TestApp::builder()
            .sts(&sts)
            .vars(move |vars| {
                vars.insert("BROKER_REDIS_URL".into(), url);
                vars.insert(
                    "BROKER_CACHE_ENCRYPTION_KEY".into(),
                    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into(),
                );
                vars.insert("BROKER_AUTH".into(), "header".into());
                generous_limits(vars);
            })
            .spawn()
            .await;
        replicas.push(app);
    }
    let mut credentials = std::collections::HashSet::new();
    for (i, replica) in replicas.iter().enumerate() {
        for n in 0..5 {
            let user = format!("user{i}-{n}");
            let key = format!("uploads/{user}/a.jpg");
            let body = signed_url(replica, &user, &[("key", key.as_str())]).await;
            let url = body["url"].as_str().unwrap();
            let credential = url.split("x-oss-credential=").nth(1).unwrap();
            credentials.insert(credential.split("%2F").next().unwrap().to_owned());
        }
    }
    assert_eq!(
        sts.issued_count(),
        1,
        "one read credential for the whole fleet"
    );
    assert_eq!(credentials.len(), 1, "{credentials:?}");
}

#[tokio::test]
async fn a_page_may_post_json_to_get_object_urls_and_only_there() {
    let origin = "https://app.example.com";
    let app = app(|vars| {
        vars.insert("BROKER_CORS_ORIGINS".into(), origin.into());
    })
    .await;
    let preflight = |path: &str| {
        app.get(path)
            .method(Method::OPTIONS)
            .headers(&[
                ("Origin", origin),
                ("Access-Control-Request-Method", "POST"),
            ])
            .header(
                "Access-Control-Request-Headers",
                "content-type, authorization",
            )
    };
    let ok = preflight("/getObjectUrls").await;
    assert_eq!(ok.status(), 204);
    assert_eq!(ok.headers()["access-control-allow-methods"], "GET, POST");
    let allowed = ok.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap();
    assert!(allowed.contains("Content-Type"), "{allowed}");
    expect_error(preflight("/getToken").await, 403, "origin-not-allowed").await;
}
