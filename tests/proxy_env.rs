//! Outbound clients never use a proxy from the environment: with `HTTP_PROXY`, `HTTPS_PROXY`
//! and `ALL_PROXY` naming a loopback listener, a request of the broker's client recipe (the one
//! the OSS client of callbacks, STS, JWKS and the forwards use) reaches its target, and the
//! "proxy" sees nothing. Its own test binary: the variables are process-wide.

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

async fn listener() -> (String, UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = vec![0u8; 4096];
            let n = stream.read(&mut buf).await.unwrap_or(0);
            let _ = tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                .await;
        }
    });
    (addr.to_string(), rx)
}

#[tokio::test]
async fn the_client_recipe_ignores_proxy_variables() {
    let (proxy, mut proxied) = listener().await;
    let (target, mut reached) = listener().await;
    for name in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
    ] {
        std::env::set_var(name, format!("http://{proxy}"));
    }
    std::env::remove_var("NO_PROXY");
    std::env::remove_var("no_proxy");
    // The control: a client that reads the environment goes through the "proxy".
    let plain = reqwest::Client::new();
    let _ = plain.get(format!("http://{target}/control")).send().await;
    let through = proxied.recv().await.unwrap();
    assert!(through.contains("/control"), "{through}");

    let http =
        sts_broker::http_client::client(Duration::from_secs(2), Duration::from_secs(5)).unwrap();
    let response = http
        .get(format!("http://{target}/bucket/object"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let direct = reached.recv().await.unwrap();
    assert!(direct.starts_with("GET /bucket/object "), "{direct}");
    assert!(proxied.try_recv().is_err(), "the proxy saw a request");
}
