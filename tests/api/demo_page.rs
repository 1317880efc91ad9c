//! The demo page: `sts-broker demo` serves `/demo`, the upload kit byte for byte as committed
//! under `clients/js` and an icon, and its emulated bucket lets that page's origin post; a served
//! broker has none of these routes. (The page itself is driven in Chromium by `clients/js/test`.)
//! And what the demo prints: URLs that work, a command that posts a server-signed form, a log
//! without colour codes in a pipe and without a warning per page view.

use std::time::{Duration, Instant};

use crate::harness::{BrokerCommand, BrokerProcess, TestApp};

/// A running `sts-broker demo` (its URL is `process.address`) and the emulated bucket's URL;
/// killed on drop.
struct Demo {
    process: BrokerProcess,
    bucket: String,
}

fn start_demo() -> Demo {
    let process = BrokerCommand::new().demo();
    let bucket = process.value("OSS emulator");
    assert_eq!(
        process
            .banner
            .iter()
            .map(|l| l.trim())
            .find(|l| l.ends_with("/demo"))
            .expect("the page's URL"),
        format!("{}/demo", process.address),
        "the banner names the page"
    );
    Demo { process, bucket }
}

fn committed(path: &str) -> String {
    std::fs::read_to_string(format!("{}/clients/js/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[tokio::test]
async fn demo_serves_the_page_and_the_kit_as_committed() {
    let demo = start_demo();
    for (route, file, content_type) in [
        ("/demo", "demo/index.html", "text/html; charset=utf-8"),
        (
            "/demo/app.js",
            "demo/app.js",
            "text/javascript; charset=utf-8",
        ),
        (
            "/demo/kit/index.js",
            "src/index.js",
            "text/javascript; charset=utf-8",
        ),
        (
            "/demo/kit/client.js",
            "src/client.js",
            "text/javascript; charset=utf-8",
        ),
        (
            "/demo/kit/sign.js",
            "src/sign.js",
            "text/javascript; charset=utf-8",
        ),
        (
            "/demo/kit/upload.js",
            "src/upload.js",
            "text/javascript; charset=utf-8",
        ),
        (
            "/demo/vendor/crypto-js.js",
            "demo/vendor/crypto-js.js",
            "text/javascript; charset=utf-8",
        ),
        (
            "/demo/vendor/crypto-js.mjs",
            "demo/vendor/crypto-js.mjs",
            "text/javascript; charset=utf-8",
        ),
    ] {
        let response = demo.process.get(route).await;
        assert_eq!(response.status().as_u16(), 200, "{route}");
        assert_eq!(response.headers()["content-type"], content_type, "{route}");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert_eq!(response.text().await.unwrap(), committed(file), "{route}");
    }
    let missing = demo.process.get("/demo/kit/nope.js").await;
    assert_eq!(missing.status().as_u16(), 404);
}

#[tokio::test]
async fn the_demo_bucket_lets_the_page_origin_post_and_no_other() {
    let demo = start_demo();
    let broker = &demo.process.address;
    let port = broker.rsplit(':').next().unwrap();
    let http = reqwest::Client::new();
    let preflight = |origin: String| {
        http.request(reqwest::Method::OPTIONS, demo.bucket.clone())
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .send()
    };
    for origin in [broker.clone(), format!("http://localhost:{port}")] {
        let answer = preflight(origin.clone()).await.unwrap();
        assert_eq!(answer.status().as_u16(), 200, "{origin}");
        assert_eq!(
            answer.headers()["access-control-allow-origin"],
            origin.as_str()
        );
    }
    let refused = preflight("http://evil.example".into()).await.unwrap();
    assert_eq!(refused.status().as_u16(), 403);
}

#[tokio::test]
async fn a_served_broker_has_no_demo_routes() {
    let app = TestApp::builder().spawn().await;
    for route in [
        "/demo",
        "/demo/",
        "/demo/kit/index.js",
        "/demo/app.js",
        "/favicon.ico",
    ] {
        assert_eq!(app.get(route).await.status().as_u16(), 404, "{route}");
    }
}

/// Every stderr line of `process` until one contains `needle` (or none within 10 s, then all).
fn stderr_until(process: &BrokerProcess, needle: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut lines = Vec::new();
    while Instant::now() < deadline && !lines.iter().any(|l: &String| l.contains(needle)) {
        lines.extend(process.stderr_lines());
        std::thread::sleep(Duration::from_millis(50));
    }
    lines
}

#[tokio::test]
async fn the_demo_serves_an_icon_and_logs_no_warning_for_it() {
    let demo = BrokerCommand::new().env("RUST_LOG", "info").demo();
    let icon = demo.get("/favicon.ico").await;
    assert_eq!(icon.status().as_u16(), 200);
    assert_eq!(icon.headers()["content-type"], "image/x-icon");
    let bytes = icon.bytes().await.unwrap();
    assert_eq!(
        &bytes[..4],
        &[0, 0, 1, 0],
        "an ICO file (reserved 0, type 1)"
    );
    let page = demo.get("/demo").await.text().await.unwrap();
    assert!(
        page.contains(r#"<link rel="icon" href="/favicon.ico">"#),
        "{page}"
    );
    // A request after it, so its line is known to be written once this one's is.
    assert_eq!(demo.healthz().await.status(), 200);
    let lines = stderr_until(&demo, "/healthz");
    let icon_line = lines
        .iter()
        .find(|l| l.contains("/favicon.ico"))
        .unwrap_or_else(|| panic!("a line for the icon request in {lines:#?}"));
    assert!(icon_line.contains("INFO"), "{icon_line}");
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("WARN") && l.contains("favicon")),
        "{lines:#?}"
    );
}

#[tokio::test]
async fn the_demo_log_has_no_colour_codes_in_a_pipe() {
    let demo = BrokerCommand::new().env("RUST_LOG", "info").demo();
    assert_eq!(demo.get_token().await.status(), 200);
    let lines = stderr_until(&demo, "/getToken");
    assert!(lines.iter().any(|l| l.contains("/getToken")), "{lines:#?}");
    assert!(
        !lines.iter().any(|l| l.contains('\u{1b}')),
        "escape codes in a pipe: {lines:#?}"
    );
}

#[tokio::test]
async fn a_demo_on_all_interfaces_prints_urls_that_work() {
    let demo = BrokerCommand::new()
        .env("BROKER_LISTEN", "0.0.0.0:0")
        .demo();
    let url = demo.value("broker");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(
        !demo.banner.iter().any(|l| l.contains("http://0.0.0.0")),
        "{:#?}",
        demo.banner
    );
    let listening = demo.value("listening on");
    assert!(listening.starts_with("0.0.0.0:"), "{listening}");
    // Every URL it prints answers.
    assert_eq!(demo.get("/demo").await.status().as_u16(), 200);
    let body: serde_json::Value = demo.get_token().await.json().await.unwrap();
    assert_eq!(body["Code"], "Success");
}

#[tokio::test]
async fn the_banner_says_the_bucket_is_in_memory() {
    let demo = BrokerCommand::new().demo();
    let bucket = demo.value("bucket");
    assert!(bucket.contains("demo-bucket"), "{bucket}");
    assert!(bucket.contains("in memory"), "{bucket}");
}

/// The banner's lines from the one after the line containing `heading` up to the next empty
/// line, as one shell script (its `\` continuations kept).
fn section(banner: &[String], heading: &str) -> String {
    let start = banner
        .iter()
        .position(|l| l.contains(heading))
        .unwrap_or_else(|| panic!("no `{heading}` in {banner:#?}"));
    banner[start + 1..]
        .iter()
        .take_while(|l| !l.trim().is_empty())
        .map(|l| format!("{}\n", l.trim_start()))
        .collect()
}

#[tokio::test]
async fn the_printed_form_command_posts_a_server_signed_form() {
    let demo = BrokerCommand::new().demo();
    let script = section(&demo.banner, "form the broker signed");
    assert!(script.contains("/getPostObjectParams"), "{script}");
    let dir = std::env::temp_dir().join(format!("demo-form-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let cwd = dir.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .current_dir(&cwd)
            .output()
            .expect("sh runs (the command needs curl and jq: .ci/run installs jq)")
    })
    .await
    .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    // OSS answered the post, and the object reads back as what was posted.
    assert_eq!(
        stdout, "OSS answered 200\nhello from the sts-broker demo\n",
        "{stderr}"
    );
    let bucket = demo.value("OSS emulator");
    let stored = reqwest::get(format!("{bucket}/uploads/anonymous/hello.txt"))
        .await
        .unwrap();
    assert_eq!(stored.status().as_u16(), 200);
    assert_eq!(
        stored.text().await.unwrap(),
        "hello from the sts-broker demo\n"
    );
}

/// The demo's second profile has an upload callback: the emulated OSS calls the demo's broker
/// back, the broker checks it and asks the demo's own app, and the uploader gets that answer.
#[tokio::test]
async fn the_demo_shows_a_callback_arriving() {
    let demo = start_demo();
    let form: serde_json::Map<String, serde_json::Value> = demo
        .process
        .post_object_params()
        .query(&[("profile", "with-callback")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(form["profile"], "with-callback");
    assert!(form.contains_key("callback"));
    let key = format!("{}hello.txt", form["dir"].as_str().unwrap());
    let mut multipart = reqwest::multipart::Form::new();
    for (name, value) in &form {
        if !matches!(name.as_str(), "host" | "dir" | "expire" | "profile") {
            multipart = multipart.text(name.clone(), value.as_str().unwrap().to_owned());
        }
    }
    multipart = multipart.text("key", key.clone()).part(
        "file",
        reqwest::multipart::Part::bytes(b"hi".to_vec())
            .file_name("hello.txt")
            .mime_str("text/plain")
            .unwrap(),
    );
    let answer = reqwest::Client::new()
        .post(form["host"].as_str().unwrap())
        .multipart(multipart)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let json: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(
        json,
        serde_json::json!({"received": true, "key": key, "caller": "anonymous", "size": 2})
    );
    assert!(demo.bucket.starts_with("http://127.0.0.1:"));
}
