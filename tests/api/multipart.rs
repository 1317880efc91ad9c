//! Multipart uploads through Uppy Companion's S3 routes, against the strict OSS emulator: a
//! 12 MiB upload in three parts under the broker's key, read back equal; nobody else can touch
//! it; limits (size, type, part numbers), OSS's refusals as 400 with OSS's code, overwrite off,
//! `/profiles/<name>/s3/…` equal to `?profile=`, one STS call for many callers, CORS.

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{expect_error, TestApp, Vars};
use crate::profiles::profiles_file;

const MIB: usize = 1024 * 1024;

fn base(vars: &mut Vars) {
    vars.insert("BROKER_AUTH".into(), "header".into());
    vars.insert("BROKER_RATE_LIMIT_PER_MINUTE".into(), "100000".into());
    vars.insert("BROKER_RATE_LIMIT_BURST".into(), "10000".into());
    vars.insert("BROKER_MAX_UPLOAD_BYTES".into(), (20 * MIB).to_string());
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

/// A request to the broker as `user`, with a JSON body when given.
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    user: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", app.address))
        .header("X-Authenticated-User", user);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("broker answers")
}

async fn ok_json(response: reqwest::Response) -> Value {
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `POST /s3/multipart` as `user`: the key and upload id.
async fn create(app: &TestApp, base: &str, user: &str, name: &str, kind: &str) -> (String, String) {
    let body = json!({"filename": name, "type": kind, "metadata": {"name": name, "type": kind}});
    let created = ok_json(
        call(
            app,
            Method::POST,
            &format!("{base}/multipart"),
            user,
            Some(body),
        )
        .await,
    )
    .await;
    assert_eq!(created["bucket"], "test-bucket");
    (
        created["key"].as_str().unwrap().to_owned(),
        created["uploadId"].as_str().unwrap().to_owned(),
    )
}

/// Signs part `n` as `user` and PUTs `body` to the URL as a browser would; the ETag.
async fn put_part(app: &TestApp, user: &str, key: &str, id: &str, n: u32, body: Vec<u8>) -> String {
    let path = format!("/s3/multipart/{id}/{n}?key={}", enc(key));
    let signed = ok_json(call(app, Method::GET, &path, user, None).await).await;
    assert_eq!(signed["expires"], 900);
    let url = signed["url"].as_str().unwrap();
    let response = reqwest::Client::new()
        .put(url)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    response.headers()["etag"].to_str().unwrap().to_owned()
}

async fn complete(
    app: &TestApp,
    user: &str,
    key: &str,
    id: &str,
    parts: Value,
) -> reqwest::Response {
    let path = format!("/s3/multipart/{id}/complete?key={}", enc(key));
    call(
        app,
        Method::POST,
        &path,
        user,
        Some(json!({ "parts": parts })),
    )
    .await
}

#[tokio::test]
async fn a_12_mib_upload_in_three_parts_completes_under_the_brokers_key() {
    let app = app(|_| {}).await;
    let (key, id) = create(&app, "/s3", "alice", "Holiday.MP4", "video/mp4").await;
    assert!(
        key.starts_with("uploads/alice/") && key.ends_with(".mp4"),
        "{key}"
    );
    let parts = [bytes(5 * MIB, 1), bytes(5 * MIB, 2), bytes(2 * MIB, 3)];
    let mut etags = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        etags.push(put_part(&app, "alice", &key, &id, i as u32 + 1, part.clone()).await);
    }
    let listed = ok_json(
        call(
            &app,
            Method::GET,
            &format!("/s3/multipart/{id}?key={}", enc(&key)),
            "alice",
            None,
        )
        .await,
    )
    .await;
    let sizes: Vec<u64> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["Size"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes, vec![5 * MIB as u64, 5 * MIB as u64, 2 * MIB as u64]);
    assert_eq!(listed[0]["ETag"], etags[0].as_str());
    // Uppy 6 sends the ETags without their quotes, in any order.
    let parts_json: Value = etags
        .iter()
        .enumerate()
        .rev()
        .map(|(i, e)| json!({"PartNumber": i + 1, "ETag": e.trim_matches('"')}))
        .collect();
    let done = ok_json(complete(&app, "alice", &key, &id, parts_json).await).await;
    assert_eq!(done["key"], key.as_str());
    assert_eq!(done["bucket"], "test-bucket");
    assert!(done["location"].as_str().unwrap().ends_with(&key), "{done}");
    assert!(done.get("callback").is_none());
    let stored = app.oss().object(&key).expect("stored");
    assert_eq!(stored.body, parts.concat());
    assert_eq!(stored.content_type, "video/mp4");
    assert_eq!(app.oss().open_upload_count(), 0);
}

#[tokio::test]
async fn another_caller_can_neither_sign_list_complete_nor_abort() {
    let app = app(|_| {}).await;
    let (key, id) = create(&app, "/s3", "alice", "a.bin", "application/octet-stream").await;
    let etag = put_part(&app, "alice", &key, &id, 1, b"mine".to_vec()).await;
    let q = enc(&key);
    let attempts = [
        (Method::GET, format!("/s3/multipart/{id}/1?key={q}"), None),
        (
            Method::GET,
            format!("/s3/multipart/{id}/batch?key={q}&partNumbers=1,2"),
            None,
        ),
        (Method::GET, format!("/s3/multipart/{id}?key={q}"), None),
        (Method::DELETE, format!("/s3/multipart/{id}?key={q}"), None),
        (
            Method::POST,
            format!("/s3/multipart/{id}/complete?key={q}"),
            Some(json!({"parts": [{"PartNumber": 1, "ETag": etag}]})),
        ),
    ];
    for (method, path, body) in attempts {
        let response = call(&app, method.clone(), &path, "bob", body).await;
        expect_error(response, 403, "key-outside-prefix").await;
    }
    assert_eq!(app.oss().upload_parts(&id), Some(vec![1]));
    // Alice's own abort works; then the upload is gone.
    let path = format!("/s3/multipart/{id}?key={q}");
    assert_eq!(
        ok_json(call(&app, Method::DELETE, &path, "alice", None).await).await,
        json!({})
    );
    expect_error(
        call(&app, Method::GET, &path, "alice", None).await,
        404,
        "no-such-upload",
    )
    .await;
}

#[tokio::test]
async fn an_oversize_completion_is_413_and_leaves_no_object_and_no_upload() {
    let app = app(|vars| {
        vars.insert("BROKER_MAX_UPLOAD_BYTES".into(), "300000".into());
    })
    .await;
    let (key, id) = create(&app, "/s3", "alice", "big.bin", "application/octet-stream").await;
    let e1 = put_part(&app, "alice", &key, &id, 1, bytes(200_000, 1)).await;
    let e2 = put_part(&app, "alice", &key, &id, 2, bytes(200_000, 2)).await;
    let parts = json!([{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]);
    expect_error(
        complete(&app, "alice", &key, &id, parts).await,
        413,
        "too-large",
    )
    .await;
    assert!(app.oss().object(&key).is_none());
    assert_eq!(app.oss().open_upload_count(), 0);
}

#[tokio::test]
async fn types_part_numbers_and_osss_own_refusals() {
    let app = app(|vars| {
        vars.insert(
            "BROKER_ALLOWED_CONTENT_TYPES".into(),
            "video/mp4,image/png".into(),
        );
    })
    .await;
    let body = json!({"filename": "a.exe", "type": "application/x-msdownload"});
    let response = call(&app, Method::POST, "/s3/multipart", "alice", Some(body)).await;
    expect_error(response, 403, "content-type-not-allowed").await;
    let response = call(
        &app,
        Method::POST,
        "/s3/multipart",
        "alice",
        Some(json!({"type": 1})),
    )
    .await;
    expect_error(response, 400, "invalid-request").await;
    let (key, id) = create(&app, "/s3", "alice", "v.mp4", "video/mp4").await;
    let q = enc(&key);
    for n in ["0", "10001", "x"] {
        let response = call(
            &app,
            Method::GET,
            &format!("/s3/multipart/{id}/{n}?key={q}"),
            "alice",
            None,
        )
        .await;
        expect_error(response, 400, "invalid-parts").await;
    }
    let batch = ok_json(
        call(
            &app,
            Method::GET,
            &format!("/s3/multipart/{id}/batch?key={q}&partNumbers=2,1"),
            "alice",
            None,
        )
        .await,
    )
    .await;
    let urls = batch["presignedUrls"].as_object().unwrap();
    assert_eq!(urls.keys().collect::<Vec<_>>(), vec!["1", "2"]);
    // A first part under 100 KB: OSS's EntityTooSmall, as a 400 with OSS's code.
    let e1 = put_part(&app, "alice", &key, &id, 1, b"small".to_vec()).await;
    let e2 = put_part(&app, "alice", &key, &id, 2, b"last".to_vec()).await;
    let parts = json!([{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]);
    let error = expect_error(
        complete(&app, "alice", &key, &id, parts).await,
        400,
        "invalid-parts",
    )
    .await;
    assert_eq!(error["upstream_code"], "EntityTooSmall");
    let parts = json!([{"PartNumber": 1, "ETag": "\"0000\""}]);
    let error = expect_error(
        complete(&app, "alice", &key, &id, parts).await,
        400,
        "invalid-parts",
    )
    .await;
    assert_eq!(error["upstream_code"], "InvalidPart");
    let unknown = format!("/s3/multipart/NOPE?key={q}");
    expect_error(
        call(&app, Method::GET, &unknown, "alice", None).await,
        404,
        "no-such-upload",
    )
    .await;
}

#[tokio::test]
async fn overwrite_false_leaves_an_existing_object_untouched() {
    let app = app(|vars| {
        vars.insert("BROKER_OBJECT_KEY".into(), "avatar${ext}".into());
        vars.insert("BROKER_OVERWRITE".into(), "false".into());
    })
    .await;
    let (key, id) = create(&app, "/s3", "alice", "me.PNG", "image/png").await;
    assert_eq!(key, "uploads/alice/avatar.png");
    let etag = put_part(&app, "alice", &key, &id, 1, b"first".to_vec()).await;
    ok_json(
        complete(
            &app,
            "alice",
            &key,
            &id,
            json!([{"PartNumber": 1, "ETag": etag}]),
        )
        .await,
    )
    .await;
    let body = json!({"filename": "again.png", "type": "image/png"});
    let response = call(&app, Method::POST, "/s3/multipart", "alice", Some(body)).await;
    expect_error(response, 409, "object-exists").await;
    assert_eq!(app.oss().object(&key).unwrap().body, b"first");
}

#[tokio::test]
async fn profile_paths_equal_the_profile_query_and_callers_share_one_credential() {
    let file = profiles_file("[profiles.video]\nprefix = \"videos/${sub}/\"\n");
    let app = app(move |vars| {
        vars.insert("BROKER_PROFILES_FILE".into(), file);
    })
    .await;
    let before = app.sts.issued_count();
    let (by_path, _) = create(&app, "/profiles/video/s3", "alice", "a.mp4", "video/mp4").await;
    assert!(by_path.starts_with("videos/alice/"), "{by_path}");
    let body = json!({"filename": "b.mp4", "type": "video/mp4"});
    let by_query = ok_json(
        call(
            &app,
            Method::POST,
            "/s3/multipart?profile=video",
            "alice",
            Some(body.clone()),
        )
        .await,
    )
    .await;
    assert!(by_query["key"]
        .as_str()
        .unwrap()
        .starts_with("videos/alice/"));
    for path in [
        "/profiles/nope/s3/multipart",
        "/profiles/video/s3/multipart?profile=default",
    ] {
        let response = call(&app, Method::POST, path, "alice", Some(body.clone())).await;
        expect_error(response, 400, "unknown-profile").await;
    }
    // Twenty callers: one STS call for the profile's shared multipart credential.
    for i in 0..20 {
        create(
            &app,
            "/profiles/video/s3",
            &format!("user{i}"),
            "c.mp4",
            "video/mp4",
        )
        .await;
    }
    assert_eq!(app.sts.issued_count() - before, 1);
}

#[tokio::test]
async fn browsers_may_preflight_the_companion_routes() {
    let app = app(|vars| {
        vars.insert("BROKER_CORS_ORIGINS".into(), "https://app.example".into());
    })
    .await;
    for (method, headers) in [
        ("POST", "authorization,content-type"),
        ("DELETE", "authorization"),
        ("GET", "authorization"),
    ] {
        let response = reqwest::Client::new()
            .request(
                Method::OPTIONS,
                format!("{}/s3/multipart/ID/complete", app.address),
            )
            .header("Origin", "https://app.example")
            .header("Access-Control-Request-Method", method)
            .header("Access-Control-Request-Headers", headers)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204, "{method}");
        let allowed = response.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap();
        assert!(allowed.contains(method), "{allowed}");
    }
    // Elsewhere nothing changes: /getToken still answers GET only.
    let response = reqwest::Client::new()
        .request(Method::OPTIONS, format!("{}/getToken", app.address))
        .header("Origin", "https://app.example")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    // An unauthenticated call is 401 on these routes too.
    let response = reqwest::Client::new()
        .post(format!("{}/s3/multipart", app.address))
        .json(&json!({"filename": "a", "type": "a/b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn no_credential_secret_reaches_the_log_or_a_body() {
    let app = app(|_| {}).await;
    let (key, id) = create(&app, "/s3", "alice", "a.bin", "application/octet-stream").await;
    let e1 = put_part(&app, "alice", &key, &id, 1, b"small".to_vec()).await;
    let e2 = put_part(&app, "alice", &key, &id, 2, b"last".to_vec()).await;
    let mut bodies = Vec::new();
    let parts = json!([{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]);
    bodies.push(
        complete(&app, "alice", &key, &id, parts)
            .await
            .text()
            .await
            .unwrap(),
    );
    let q = enc(&key);
    for (method, path) in [
        (Method::GET, format!("/s3/multipart/{id}?key={q}")),
        (
            Method::GET,
            format!("/s3/multipart/{id}/batch?key={q}&partNumbers=1,2"),
        ),
        (Method::DELETE, format!("/s3/multipart/{id}?key={q}")),
        (Method::GET, format!("/s3/multipart/{id}?key={q}")),
    ] {
        bodies.push(
            call(&app, method, &path, "alice", None)
                .await
                .text()
                .await
                .unwrap(),
        );
    }
    let issued = app.sts.all_issued();
    assert!(!issued.is_empty());
    let log = crate::harness::captured_log();
    // Each answer is audited: the caller, the profile and the directory, never a secret.
    let audited = log
        .lines()
        .filter(|l| l.contains("\"target\":\"audit\"") && l.contains("/s3/multipart"))
        .count();
    assert!(
        audited >= 4,
        "audit lines of the multipart routes: {audited}"
    );
    for credential in issued {
        let secret = credential.access_key_secret;
        assert!(
            !log.contains(&secret),
            "a credential secret reached the log"
        );
        assert!(
            !log.contains(&credential.security_token),
            "a token reached the log"
        );
        for body in &bodies {
            assert!(
                !body.contains(&secret),
                "a credential secret reached a body"
            );
        }
    }
}

#[tokio::test]
async fn a_wrong_method_is_405_with_the_methods_each_route_answers() {
    let app = app(|_| {}).await;
    let (key, id) = create(&app, "/s3", "alice", "a.bin", "application/octet-stream").await;
    let q = format!("?key={}", enc(&key));
    for (method, path, allow) in [
        (Method::PUT, format!("/s3/multipart/{id}{q}"), "GET, DELETE"),
        (Method::GET, "/s3/multipart".to_owned(), "POST"),
        (
            Method::GET,
            format!("/s3/multipart/{id}/complete{q}"),
            "POST",
        ),
        (Method::DELETE, format!("/s3/multipart/{id}/1{q}"), "GET"),
    ] {
        let response = call(&app, method.clone(), &path, "alice", None).await;
        assert_eq!(response.status(), 405, "{method} {path}");
        assert_eq!(response.headers()["allow"], allow, "{method} {path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "method-not-allowed");
    }
}

#[tokio::test]
async fn completing_someone_elses_upload_is_refused_before_its_parts_are_read() {
    let app = app(|_| {}).await;
    let (key, id) = create(&app, "/s3", "alice", "a.bin", "application/octet-stream").await;
    // Parts that are not even valid: the key decides first.
    let parts = json!({"parts": [{"PartNumber": 1, "ETag": ""}, {"PartNumber": 1, "ETag": ""}]});
    let path = format!("/s3/multipart/{id}/complete?key={}", enc(&key));
    let response = call(&app, Method::POST, &path, "mallory", Some(parts.clone())).await;
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "key-outside-prefix");
    let response = call(&app, Method::POST, &path, "alice", Some(parts)).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "invalid-parts");
}
