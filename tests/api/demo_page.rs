//! The demo page: `sts-broker demo` serves `/demo` and the upload kit byte for byte as committed
//! under `clients/js`, and its emulated bucket lets that page's origin post; a served broker has
//! none of these routes. (The page itself is driven in Chromium by `clients/js/test`.)

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
    for route in ["/demo", "/demo/", "/demo/kit/index.js", "/demo/app.js"] {
        assert_eq!(app.get(route).await.status().as_u16(), 404, "{route}");
    }
}
