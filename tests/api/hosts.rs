//! `BROKER_ALLOWED_HOSTS`, the DNS-rebinding defence: a loopback broker answers only the
//! loopback names by default, and any other `Host` gets `421 misdirected-request` before CORS
//! and authentication decide anything; other listeners answer any `Host` unless told.

use std::io::{Read as _, Write as _};

use reqwest::Method;
use serde_json::Value;

use crate::auth::{api_key_vars, ALICE_KEY};
use crate::harness::{captured_log, expect_error, TestApp};

/// A page on `rebound.example`, whose name now resolves to 127.0.0.1, calling the broker.
fn rebound(app: &TestApp) -> String {
    format!("rebound.example:{}", app.port())
}

#[tokio::test]
async fn a_loopback_broker_refuses_other_hosts_before_authentication() {
    let app = TestApp::builder().vars(api_key_vars).spawn().await;
    // Without credentials a wrong Host is 421, not 401: nothing about the broker is told.
    expect_error(
        app.get_token().header("Host", rebound(&app)).await,
        421,
        "misdirected-request",
    )
    .await;
    // With a valid key too: no credential is handed out and STS is never asked.
    let response = app
        .get_token()
        .headers(&[("Host", &rebound(&app)), ("X-Api-Key", ALICE_KEY)])
        .await;
    assert_eq!(response.headers()["vary"], "Origin");
    assert_eq!(response.headers()["cache-control"], "no-store");
    expect_error(response, 421, "misdirected-request").await;
    for path in [
        "/getPostObjectParams",
        "/healthz",
        "/readyz",
        "/metrics",
        "/nope",
    ] {
        let response = app.get(path).header("Host", rebound(&app)).await;
        expect_error(response, 421, "misdirected-request").await;
    }
    assert_eq!(app.sts.request_count(), 0);
    // The loopback names, on any port, are answered.
    let port = app.port();
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "LOCALHOST".to_owned(),
        format!("[::1]:{port}"),
        "127.0.0.1:1".to_owned(),
    ] {
        let response = app
            .get_token()
            .headers(&[("Host", &host), ("X-Api-Key", ALICE_KEY)])
            .await;
        assert_eq!(response.status(), 200, "{host}");
    }
}

#[tokio::test]
async fn a_rebound_page_cannot_be_any_caller_in_header_mode() {
    // Header mode with the default loopback trust: every local process is a trusted proxy.
    let app = TestApp::builder()
        .vars(|vars| {
            vars.insert("BROKER_AUTH".into(), "header".into());
        })
        .spawn()
        .await;
    let response = app
        .get_token()
        .headers(&[
            ("Host", &rebound(&app)),
            ("X-Authenticated-User", "alice"),
            ("X-Request-Id", "rebinding-1"),
        ])
        .await;
    let body = expect_error(response, 421, "misdirected-request").await;
    assert_eq!(body["request_id"], "rebinding-1");
    assert!(body.get("AccessKeyId").is_none());
    assert_eq!(app.sts.issued_count(), 0);
    // The refusal is logged as refused, naming the host as compared (without its port).
    let line = captured_log()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["fields"]["client_request_id"] == "rebinding-1")
        .expect("the request's line");
    assert_eq!(line["fields"]["message"], "request refused");
    assert_eq!(line["fields"]["status"], 421);
    let error = line["fields"]["error"].as_str().unwrap();
    assert!(error.contains("`rebound.example`"), "{error}");
}

#[tokio::test]
async fn a_preflight_from_a_rebound_page_is_refused_before_cors_decides() {
    let app = TestApp::builder()
        .vars(|vars| {
            vars.insert(
                "BROKER_CORS_ORIGINS".into(),
                "http://rebound.example".into(),
            );
        })
        .spawn()
        .await;
    let preflight = |host: String| {
        app.get_token().method(Method::OPTIONS).headers(&[
            ("Host", &host),
            ("Origin", "http://rebound.example"),
            ("Access-Control-Request-Method", "GET"),
        ])
    };
    let response = preflight(rebound(&app)).await;
    assert!(response
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    expect_error(response, 421, "misdirected-request").await;
    // The same preflight with a loopback Host is CORS's to answer.
    let response = preflight(format!("127.0.0.1:{}", app.port())).await;
    assert_eq!(response.status(), 204);
}

#[tokio::test]
async fn other_listeners_answer_any_host_unless_told() {
    let open = TestApp::builder()
        .vars(|vars| {
            vars.insert("BROKER_LISTEN".into(), "0.0.0.0:0".into());
            vars.insert("BROKER_ALLOW_ANONYMOUS".into(), "true".into());
        })
        .spawn()
        .await;
    let response = open.get_token().header("Host", rebound(&open)).await;
    assert_eq!(response.status(), 200);

    let named = TestApp::builder()
        .vars(|vars| {
            vars.insert("BROKER_LISTEN".into(), "0.0.0.0:0".into());
            vars.insert("BROKER_ALLOW_ANONYMOUS".into(), "true".into());
            vars.insert(
                "BROKER_ALLOWED_HOSTS".into(),
                "upload.example.com, 10.0.0.7".into(),
            );
        })
        .spawn()
        .await;
    for host in [
        "upload.example.com",
        "Upload.Example.Com:443",
        "10.0.0.7:8080",
    ] {
        let response = named.get_token().header("Host", host).await;
        assert_eq!(response.status(), 200, "{host}");
    }
    // An explicit list replaces the default: loopback names are no longer implied.
    for host in ["127.0.0.1", "localhost", "upload.example.com.evil"] {
        let response = named.get_token().header("Host", host).await;
        expect_error(response, 421, "misdirected-request").await;
    }

    // `*` answers every host even on loopback.
    let any = TestApp::builder()
        .vars(|vars| {
            vars.insert("BROKER_ALLOWED_HOSTS".into(), "*".into());
        })
        .spawn()
        .await;
    let response = any.get_token().header("Host", rebound(&any)).await;
    assert_eq!(response.status(), 200);
}

/// One raw HTTP/1.x request; the status line of the answer.
fn raw(port: u16, request: &str) -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    answer.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn requests_without_exactly_one_good_host_are_refused() {
    let app = TestApp::builder().spawn().await;
    let port = app.port();
    let cases = [
        // HTTP/1.0 without a Host.
        ("GET /getToken HTTP/1.0\r\n\r\n".to_owned(), 421),
        // Two Host headers, the second one rebound: the HTTP parser refuses it itself.
        (format!(
            "GET /getToken HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nHost: rebound.example\r\nConnection: close\r\n\r\n"
        ), 400),
        // An absolute request target naming another host than the Host header.
        (format!(
            "GET http://rebound.example/getToken HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
        ), 421),
        // Not a host name at all.
        ("GET /getToken HTTP/1.1\r\nHost: 127.0.0.1:80x\r\nConnection: close\r\n\r\n".to_owned(), 421),
    ];
    for (request, expected) in &cases {
        let status = tokio::task::spawn_blocking({
            let request = request.clone();
            move || raw(port, &request)
        })
        .await
        .unwrap();
        assert!(
            status.contains(&format!(" {expected} ")),
            "{request:?}: {status}"
        );
    }
    // A well-formed request is answered, and no credential was handed out before.
    let ok = tokio::task::spawn_blocking(move || {
        raw(
            port,
            &format!(
                "GET /getToken HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n"
            ),
        )
    })
    .await
    .unwrap();
    assert!(ok.contains(" 200 "), "{ok}");
    assert_eq!(app.sts.issued_count(), 1);
}
