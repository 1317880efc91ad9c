//! Keys the broker chooses, and no overwriting, for forms: `/s3/params` (Uppy's simple upload)
//! and `/getPostObjectParams?filename=` with an `object_key` template pin the key; with
//! `BROKER_OVERWRITE=false` the form pins `x-oss-forbid-overwrite` and OSS keeps an existing
//! object. Posted to the strict OSS emulator.

use reqwest::Method;
use serde_json::{Map, Value};

use crate::harness::{expect_error, TestApp, Vars};
use crate::post_object::post;

fn base(vars: &mut Vars) {
    vars.insert("BROKER_AUTH".into(), "header".into());
    vars.insert("BROKER_RATE_LIMIT_PER_MINUTE".into(), "100000".into());
    vars.insert("BROKER_RATE_LIMIT_BURST".into(), "10000".into());
}

async fn app(extra: impl FnOnce(&mut Vars) + 'static) -> TestApp {
    TestApp::builder()
        .with_oss()
        .vars(move |vars| {
            base(vars);
            extra(vars);
        })
        .spawn()
        .await
}

async fn get(app: &TestApp, path_and_query: &str, user: &str) -> reqwest::Response {
    reqwest::Client::new()
        .request(Method::GET, format!("{}{path_and_query}", app.address))
        .header("X-Authenticated-User", user)
        .send()
        .await
        .unwrap()
}

async fn ok_json(response: reqwest::Response) -> Map<String, Value> {
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

fn pairs(fields: &Map<String, Value>, skip: &[&str]) -> Vec<(String, String)> {
    fields
        .iter()
        .filter(|(k, _)| !skip.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

#[tokio::test]
async fn s3_params_forms_store_the_object_under_the_brokers_key() {
    let app = app(|_| {}).await;
    let answer = ok_json(
        get(
            &app,
            "/s3/params?filename=My%20Photo.JPG&type=image%2Fjpeg&metadata%5Bname%5D=x",
            "alice",
        )
        .await,
    )
    .await;
    assert_eq!(answer["method"], "POST");
    assert_eq!(answer["headers"], serde_json::json!({}));
    assert!(answer["expires"].as_i64().unwrap() > 0);
    let url = answer["url"].as_str().unwrap();
    let fields = answer["fields"].as_object().unwrap();
    let key = fields["key"].as_str().unwrap().to_owned();
    assert!(
        key.starts_with("uploads/alice/") && key.ends_with(".jpg"),
        "{key}"
    );
    assert_eq!(fields["content-type"], "image/jpeg");
    // Another key in the same form: the policy pins the broker's.
    let mut other = pairs(fields, &["key"]);
    other.insert(0, ("key".into(), "uploads/alice/mine.jpg".into()));
    let refused = post(url, &other, b"x".to_vec(), "image/jpeg").await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(app.oss().object("uploads/alice/mine.jpg").is_none());
    // As Uppy 6 posts it: every field in order, then the file.
    let stored = post(
        url,
        &pairs(fields, &[]),
        b"jpeg bytes".to_vec(),
        "image/jpeg",
    )
    .await;
    assert_eq!(stored.status, 200, "{}", stored.body);
    let object = app.oss().object(&key).expect("stored");
    assert_eq!(object.body, b"jpeg bytes");
    assert_eq!(object.content_type, "image/jpeg");
}

#[tokio::test]
async fn s3_params_refuses_types_outside_the_profile() {
    let app = app(|vars| {
        vars.insert("BROKER_ALLOWED_CONTENT_TYPES".into(), "image/png".into());
    })
    .await;
    let response = get(&app, "/s3/params?filename=a.gif&type=image%2Fgif", "alice").await;
    expect_error(response, 403, "content-type-not-allowed").await;
    let ok = ok_json(
        get(
            &app,
            "/profiles/default/s3/params?filename=a.png&type=image%2Fpng",
            "alice",
        )
        .await,
    )
    .await;
    assert!(ok["fields"]["key"].as_str().unwrap().ends_with(".png"));
}

#[tokio::test]
async fn templates_and_overwrite_off_pin_key_and_forbid_overwrite_in_forms() {
    let app = app(|vars| {
        vars.insert("BROKER_OBJECT_KEY".into(), "profile/avatar${ext}".into());
        vars.insert("BROKER_OVERWRITE".into(), "false".into());
    })
    .await;
    let form = ok_json(get(&app, "/getPostObjectParams?filename=Me.PNG", "alice").await).await;
    assert_eq!(form["key"], "uploads/alice/profile/avatar.png");
    assert_eq!(form["x-oss-forbid-overwrite"], "true");
    let host = form["host"].as_str().unwrap().to_owned();
    let fields = pairs(&form, &["host", "dir", "expire", "profile"]);
    let first = post(&host, &fields, b"first".to_vec(), "image/png").await;
    assert_eq!(first.status, 200, "{}", first.body);
    // The same key again: OSS keeps the object.
    let form = ok_json(get(&app, "/getPostObjectParams?filename=again.png", "alice").await).await;
    let fields = pairs(&form, &["host", "dir", "expire", "profile"]);
    let second = post(&host, &fields, b"second".to_vec(), "image/png").await;
    assert_eq!(second.status, 409, "{}", second.body);
    assert!(second.body.contains("FileAlreadyExists"), "{}", second.body);
    let object = app
        .oss()
        .object("uploads/alice/profile/avatar.png")
        .unwrap();
    assert_eq!(object.body, b"first");
    // Dropping the pinned field is refused by the policy.
    let without: Vec<(String, String)> = fields
        .into_iter()
        .filter(|(k, _)| k != "x-oss-forbid-overwrite")
        .collect();
    let dropped = post(&host, &without, b"third".to_vec(), "image/png").await;
    assert_eq!(dropped.status, 403, "{}", dropped.body);
}

#[tokio::test]
async fn without_a_template_forms_stay_as_they_were() {
    let app = app(|_| {}).await;
    let form = ok_json(get(&app, "/getPostObjectParams?filename=a.png", "alice").await).await;
    assert!(form.get("key").is_none());
    assert!(form.get("x-oss-forbid-overwrite").is_none());
    let response = get(&app, "/getPostObjectParams?filename=a&filename=b", "alice").await;
    expect_error(response, 400, "invalid-request").await;
}

#[tokio::test]
async fn a_profile_sets_its_own_keys_and_overwrite() {
    let file = crate::profiles::profiles_file(
        "[profiles.avatar]\nprefix = \"avatars/${sub}/\"\nobject_key = \"me${ext}\"\noverwrite = false\n",
    );
    let app = app(move |vars| {
        vars.insert("BROKER_PROFILES_FILE".into(), file);
    })
    .await;
    let form = ok_json(
        get(
            &app,
            "/getPostObjectParams?profile=avatar&filename=x.JPG",
            "alice",
        )
        .await,
    )
    .await;
    assert_eq!(form["key"], "avatars/alice/me.jpg");
    assert_eq!(form["x-oss-forbid-overwrite"], "true");
    // The default profile keeps the environment's: the client names keys, overwriting allowed.
    let plain = ok_json(get(&app, "/getPostObjectParams?filename=x.JPG", "alice").await).await;
    assert!(plain.get("key").is_none() && plain.get("x-oss-forbid-overwrite").is_none());
}
