//! Clients that trickle a request body, on loopback: the body deadline cuts them, a route with
//! nothing to do answers before reading, and bodies being read never hold most of the
//! connections, so the credential routes keep answering.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::callbacks::callback_profile;
use crate::harness::{TestApp, Vars};

/// Opens a connection and sends a callback's head announcing `length` body bytes, and
/// `sent` of them.
async fn start_callback(app: &TestApp, length: usize, sent: usize) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", app.port())).await.unwrap();
    let head = format!(
        "POST /ossCallback HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n{}",
        "x".repeat(sent)
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

/// The status line and the rest of what the broker sent before closing, within `within`.
async fn answer(stream: &mut TcpStream, within: Duration) -> String {
    let mut got = Vec::new();
    let read = tokio::time::timeout(within, stream.read_to_end(&mut got)).await;
    assert!(
        read.is_ok(),
        "no answer (or the connection stayed open) within {within:?}"
    );
    String::from_utf8_lossy(&got).into_owned()
}

fn with_callbacks(
    body_timeout_ms: &'static str,
    max_connections: &'static str,
) -> impl FnOnce(&mut Vars) {
    let profile = callback_profile("http://127.0.0.1:9/app");
    move |vars: &mut Vars| {
        profile(vars);
        vars.insert("BROKER_BODY_TIMEOUT_MS".into(), body_timeout_ms.into());
        vars.insert("BROKER_MAX_CONNECTIONS".into(), max_connections.into());
    }
}

#[tokio::test]
async fn a_trickled_callback_body_is_cut_at_the_deadline() {
    let app = TestApp::builder()
        .vars(with_callbacks("500", "900"))
        .spawn()
        .await;
    let mut stream = start_callback(&app, 200, 10).await;
    let started = Instant::now();
    // One more byte every 100 ms: never the whole body within the deadline.
    let trickle = async {
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if stream.write_all(b"x").await.is_err() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(800), trickle).await;
    let text = answer(&mut stream, Duration::from_secs(3)).await;
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("request-timeout"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn without_a_callback_profile_the_route_answers_before_reading_the_body() {
    let app = TestApp::builder().spawn().await;
    // A body announced and never sent.
    let mut stream = start_callback(&app, 10_000, 0).await;
    // Well within the 5 s body deadline a read would wait for (generous for a loaded machine).
    let text = answer(&mut stream, Duration::from_secs(3)).await;
    assert!(text.starts_with("HTTP/1.1 404"), "{text}");
}

#[tokio::test]
async fn trickling_clients_never_hold_most_connections_and_tokens_keep_coming() {
    // A ceiling of 40 connections: bodies may take 10 of them.
    let app = TestApp::builder()
        .vars(with_callbacks("3000", "40"))
        .spawn()
        .await;
    let mut trickling = Vec::new();
    for _ in 0..10 {
        trickling.push(start_callback(&app, 100, 1).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The eleventh body is not read at all: 503 at once, connection closed.
    let mut extra = start_callback(&app, 100, 1).await;
    let text = answer(&mut extra, Duration::from_secs(2)).await;
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(
        text.contains("busy") && text.contains("retry-after: 1"),
        "{text}"
    );
    // Meanwhile the credential routes answer at once.
    for _ in 0..5 {
        let started = Instant::now();
        let response = app.get_token().header("X-User", "alice").await;
        assert_eq!(response.status(), 200);
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    // And the held ones are cut at the deadline.
    let text = answer(&mut trickling[0], Duration::from_secs(5)).await;
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
}
