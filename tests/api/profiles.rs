//! Upload profiles: `BROKER_PROFILES_FILE`, `?profile=` on both endpoints, each profile's own
//! directory, limits, content types and lifetime, and every problem of a bad file named.

use serde_json::{Map, Value};

use crate::harness::{expect_error, Sts, TestApp, Vars};
use crate::post_object::{fields, post};

const PROFILES: &str = r#"
[profiles.avatar]
prefix = "avatars/${sub}/"
max_upload_bytes = 1000
content_types = ["image/png"]
post_policy_ttl_seconds = 300

[profiles.docs]
prefix = "docs/${sub}/"
duration_seconds = 1800
"#;

/// Writes `text` to a fresh file and returns its path.
pub(crate) fn profiles_file(text: &str) -> String {
    // Under the build directory (Cargo makes it for integration tests), not the system one.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("sts-broker-profiles-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("profiles.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn with_profiles(text: &str) -> impl FnOnce(&mut Vars) {
    let path = profiles_file(text);
    move |vars: &mut Vars| {
        vars.insert("BROKER_PROFILES_FILE".into(), path);
    }
}

async fn form(app: &TestApp, profile: &str) -> Map<String, Value> {
    let response = app
        .post_object_params()
        .query(&[("profile", profile)])
        .await;
    assert_eq!(response.status(), 200, "{profile}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn each_profile_has_its_dir_limits_types_and_lifetime() {
    let app = TestApp::builder()
        .with_oss()
        .vars(with_profiles(PROFILES))
        .spawn()
        .await;
    // The environment's profile is `default`, with or without the query.
    let plain: Map<String, Value> = app.post_object_params().await.json().await.unwrap();
    assert_eq!(
        (plain["profile"].as_str(), plain["dir"].as_str()),
        (Some("default"), Some("uploads/anonymous/"))
    );
    let token: Value = app.get_token().await.json().await.unwrap();
    assert_eq!(token["Profile"], "default");

    let avatar = form(&app, "avatar").await;
    assert_eq!(avatar["profile"], "avatar");
    assert_eq!(avatar["dir"], "avatars/anonymous/");
    let host = avatar["host"].as_str().unwrap().to_owned();
    let key = "avatars/anonymous/me.png";
    let ok = post(
        &host,
        &fields(&avatar, key, &[("Content-Type", "image/png")]),
        vec![7; 900],
        "image/png",
    )
    .await;
    assert!(
        [200, 204].contains(&ok.status),
        "a small PNG fits the avatar profile"
    );
    // Its own limits, enforced by OSS through the signed policy.
    post(
        &host,
        &fields(&avatar, key, &[("Content-Type", "image/png")]),
        vec![7; 2000],
        "image/png",
    )
    .await
    .assert_refused(400, "EntityTooLarge");
    post(
        &host,
        &fields(&avatar, key, &[("Content-Type", "text/plain")]),
        vec![7; 10],
        "text/plain",
    )
    .await
    .assert_refused(403, "AccessDenied");
    // ...and its own directory: another profile's area is refused.
    post(
        &host,
        &fields(
            &avatar,
            "docs/anonymous/x.png",
            &[("Content-Type", "image/png")],
        ),
        vec![7; 10],
        "image/png",
    )
    .await
    .assert_refused(403, "AccessDenied");
    // The default profile allows 10 MiB and any type; the avatar limits are its own.
    let big = post(
        &host,
        &fields(&plain, "uploads/anonymous/big.txt", &[]),
        vec![7; 2000],
        "text/plain",
    )
    .await;
    assert!([200, 204].contains(&big.status));

    // /getToken with a profile: its dir and its own credential lifetime.
    let docs: Value = app
        .get_token()
        .query(&[("profile", "docs")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (docs["Profile"].as_str(), docs["Dir"].as_str()),
        (Some("docs"), Some("docs/anonymous/"))
    );
    let issued = app.sts.last_issued().unwrap();
    assert_eq!(issued.access_key_id, docs["AccessKeyId"].as_str().unwrap());
    assert_eq!(issued.duration_seconds, 1800);

    let metrics = app.metrics().await.text().await.unwrap();
    assert!(
        metrics.contains(r#"sts_broker_credentials_handed_out_total{endpoint="/getToken",cache="miss",profile="docs"} 1"#),
        "{metrics}"
    );
    assert!(!metrics.contains(r#"profile="anonymous""#));
}

#[tokio::test]
async fn an_unknown_or_empty_profile_is_400() {
    let app = TestApp::builder()
        .vars(with_profiles(PROFILES))
        .spawn()
        .await;
    for name in ["nope", "", "Avatar", "default "] {
        expect_error(
            app.get_token().query(&[("profile", name)]).await,
            400,
            "unknown-profile",
        )
        .await;
        expect_error(
            app.post_object_params().query(&[("profile", name)]).await,
            400,
            "unknown-profile",
        )
        .await;
    }
    assert_eq!(
        app.sts.issued_count(),
        0,
        "nothing was loaded for a refused profile"
    );
}

/// What the broker says when it refuses to start with `vars`.
fn refusal(vars: &Vars) -> String {
    sts_broker::config::Settings::from_map(vars)
        .expect_err("refused")
        .to_string()
}

#[tokio::test]
async fn bad_profile_files_name_every_problem() {
    let sts = Sts::demo().await;
    let refused = |text: &str| {
        let mut vars = sts.broker_vars();
        with_profiles(text)(&mut vars);
        refusal(&vars)
    };
    let shown = refused(
        r#"
[profiles.avatar]
prefix = "avatars/${sub}/"
max_upload_byte = 5
"#,
    );
    assert!(
        shown.contains("max_upload_byte"),
        "a misspelt key is named: {shown}"
    );
    let shown = refused(
        r#"
[profiles.Bad_Name]
prefix = "bad/${sub}/"

[profiles.default]
prefix = "mine/${sub}/"

[profiles.ok]
prefix = "ok/${sub}"
duration_seconds = 100
content_types = ["not a type"]

[profiles.keys]
prefix = "keys/${sub}/"
object_key = "../${uuid}"
"#,
    );
    for expected in [
        "profiles.Bad_Name: a profile name is 1-32 of a-z",
        "profiles.default: ",
        "profiles.ok.prefix: must end with `/`",
        "profiles.ok.duration_seconds",
        "profiles.ok.content_types",
        "profiles.keys.object_key: must be `client` or a key template",
    ] {
        assert!(shown.contains(expected), "{expected} missing from {shown}");
    }
    // Overlapping areas in one bucket: with the default profile and between file profiles.
    let shown = refused(
        r#"
[profiles.nested]
prefix = "uploads/${sub}/nested/"

[profiles.a]
prefix = "media/${sub}/"

[profiles.b]
prefix = "media/b/${sub}/"
"#,
    );
    assert!(
        shown.contains("profiles default and nested overlap"),
        "{shown}"
    );
    assert!(shown.contains("profiles a and b overlap"), "{shown}");
    // A different bucket is a different area.
    let mut vars = sts.broker_vars();
    with_profiles(
        r#"
[profiles.other]
prefix = "uploads/${sub}/"
bucket = "other-bucket"
"#,
    )(&mut vars);
    assert!(sts_broker::config::Settings::from_map(&vars).is_ok());
    // Not TOML at all: where TOML stopped reading.
    let shown = refused("[profiles.a]\nprefix = \"a/${sub}/\"\nthis is = = not toml\n");
    assert!(shown.contains("BROKER_PROFILES_FILE"), "{shown}");
    assert!(shown.contains(": line 3, column 6: "), "{shown}");
}

/// A misspelt key, a wrong type, an overlap and a callback profile without the callback
/// settings: all reported by the first start, each where it is.
#[tokio::test]
async fn every_problem_of_a_profiles_file_is_reported_at_once() {
    let sts = Sts::demo().await;
    let mut vars = sts.broker_vars();
    with_profiles(
        r#"
[profiles.a]
prefix = "media/${sub}/"
max_upload_byte = 5

[profiles.b]
prefix = "media/${sub}/b/"
overwrite = "no"

[profiles.c]
prefix = "c/${sub}/"

[profiles.e]
prefix = "c/x/${sub}/"

[profiles.d]
prefix = "d/${sub}/"
[profiles.d.callback]
forward_url = "https://app.example.com/uploaded"
"#,
    )(&mut vars);
    let shown = refusal(&vars);
    for expected in [
        "profiles.a.max_upload_byte: line 4, column 1: is not a key here",
        "profiles.b.overwrite: line 8, column 13: must be a boolean",
        "BROKER_CALLBACK_URL: is required when a profile has a callback",
        "BROKER_CALLBACK_SECRET: is required when a profile has a callback",
        "profiles c and e overlap",
    ] {
        assert!(shown.contains(expected), "{expected} missing from {shown}");
    }
    // `a` and `b` overlap too, but `b` did not read; `c`, `d` and `e` were checked in full.
    assert!(!shown.contains("profiles.c"), "{shown}");
    assert!(!shown.contains("profiles.d"), "{shown}");
    // A file that is not there says so plainly.
    vars.insert(
        "BROKER_PROFILES_FILE".into(),
        "/nonexistent/profiles.toml".into(),
    );
    let shown = refusal(&vars);
    assert!(
        shown.contains("cannot read /nonexistent/profiles.toml: there is no such file"),
        "{shown}"
    );
}
