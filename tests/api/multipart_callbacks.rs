//! A callback profile's multipart uploads: the completion carries the profile's callback, OSS
//! (the emulator) calls the broker back once, the broker verifies and forwards it to the app,
//! and the uploader's completion answer carries the app's JSON; when the app is down the object
//! is stored and the answer says the callback failed.

use reqwest::Method;
use serde_json::{json, Value};

use crate::callbacks::{broker_the_emulator_calls_back, start_app, AppMode};
use crate::harness::TestApp;

async fn call(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Value {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", app.address))
        .header("X-User", "alice");
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{path}: {text}");
    serde_json::from_str(&text).unwrap()
}

/// A two-part upload in profile `cb`; the completion's answer.
async fn upload(app: &TestApp) -> (String, Value) {
    let body = json!({"filename": "clip.mp4", "type": "video/mp4"});
    let created = call(app, Method::POST, "/profiles/cb/s3/multipart", Some(body)).await;
    let key = created["key"].as_str().unwrap().to_owned();
    let id = created["uploadId"].as_str().unwrap().to_owned();
    let q: String = url::form_urlencoded::byte_serialize(key.as_bytes()).collect();
    let mut parts = Vec::new();
    for (n, body) in [(1, vec![1u8; 102_400]), (2, vec![2u8; 10])] {
        let path = format!("/profiles/cb/s3/multipart/{id}/{n}?key={q}");
        let signed = call(app, Method::GET, &path, None).await;
        let put = reqwest::Client::new()
            .put(signed["url"].as_str().unwrap())
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 200);
        let etag = put.headers()["etag"].to_str().unwrap().to_owned();
        parts.push(json!({"PartNumber": n, "ETag": etag}));
    }
    let path = format!("/profiles/cb/s3/multipart/{id}/complete?key={q}");
    let done = call(app, Method::POST, &path, Some(json!({ "parts": parts }))).await;
    (key, done)
}

#[tokio::test]
async fn a_callback_profiles_multipart_upload_is_forwarded_once() {
    let (url, log) = start_app(AppMode::Json).await;
    let app = broker_the_emulator_calls_back(&url).await;
    let (key, done) = upload(&app).await;
    assert!(key.starts_with("cb/alice/"), "{key}");
    assert_eq!(done["key"], key.as_str());
    assert_eq!(done["callback"], json!({"ok": true, "seen": key}));
    let seen = log.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "forwarded once");
    let forwarded = &seen[0].0;
    assert_eq!(forwarded["caller"], "alice");
    assert_eq!(forwarded["profile"], "cb");
    assert_eq!(forwarded["size"], 102_410);
    assert_eq!(forwarded["mime_type"], "video/mp4");
}

#[tokio::test]
async fn when_the_app_is_down_the_object_is_stored_and_the_answer_says_so() {
    let (url, _) = start_app(AppMode::Down).await;
    let app = broker_the_emulator_calls_back(&url).await;
    let (key, done) = upload(&app).await;
    assert!(done.get("callback").is_none(), "{done}");
    assert!(
        done["callback_error"].as_str().unwrap().contains("stored"),
        "{done}"
    );
    assert_eq!(app.oss().object(&key).unwrap().body.len(), 102_410);
}
