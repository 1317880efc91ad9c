//! Key fetches against a loopback server standing in for OSS's key host: one fetch per URL at
//! a time, failures remembered, and a trusted key never pushed out by unknown URLs.

use std::collections::HashMap;

use md5::Digest as _;
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::*;

const PRIVATE: &str = include_str!("../../../tests/api/keys/oss-callback.test-only.pem");
const PUBLIC: &str = include_str!("../../../tests/api/keys/oss-callback.test-only.pub.pem");

/// Serves `key.pem` (slowly) and 404 for anything else; counts requests per path.
async fn key_host() -> (String, Arc<Mutex<HashMap<String, usize>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    let counts = Arc::new(Mutex::new(HashMap::<String, usize>::new()));
    let seen = counts.clone();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 2048];
                let n = stream.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).into_owned();
                let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
                *seen.lock().unwrap().entry(path.clone()).or_default() += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
                let (status, body) = if path == "/key.pem" {
                    ("200 OK", PUBLIC)
                } else {
                    ("404 Not Found", "")
                };
                let answer = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    (base, counts)
}

fn header(name: &str) -> String {
    B64.encode(format!("https://gosspublic.alicdn.com/{name}"))
}

fn signed(message: &[u8]) -> String {
    let key = RsaPrivateKey::from_pkcs8_pem(PRIVATE).unwrap();
    let digest = md5::Md5::digest(message);
    B64.encode(key.sign(Pkcs1v15Sign::new::<md5::Md5>(), &digest).unwrap())
}

fn count(counts: &Mutex<HashMap<String, usize>>, path: &str) -> usize {
    counts.lock().unwrap().get(path).copied().unwrap_or(0)
}

#[tokio::test]
async fn concurrent_callbacks_fetch_a_key_once_and_failures_are_remembered() {
    let (base, counts) = key_host().await;
    let keys = Arc::new(OssKeys::with_base(None, &base).unwrap());
    let message = b"/ossCallback\n{}".to_vec();
    let authorization = signed(&message);
    let checks = (0..10).map(|_| {
        let (keys, message, authorization) = (keys.clone(), message.clone(), authorization.clone());
        tokio::spawn(async move {
            keys.verify(&header("key.pem"), &authorization, &message)
                .await
        })
    });
    for check in futures_util::future::join_all(checks).await {
        assert_eq!(check.unwrap(), Ok(()));
    }
    assert_eq!(count(&counts, "/key.pem"), 1, "one fetch for ten callbacks");
    for _ in 0..5 {
        let refused = keys
            .verify(&header("missing.pem"), &authorization, &message)
            .await;
        assert_eq!(refused, Err(Refusal::KeyFetch));
    }
    assert_eq!(
        count(&counts, "/missing.pem"),
        1,
        "the failure was remembered"
    );
}

#[tokio::test]
async fn unknown_urls_never_push_out_the_trusted_key_and_fetches_are_limited() {
    let (base, counts) = key_host().await;
    let keys = OssKeys::with_base(None, &base).unwrap();
    let message = b"/ossCallback\n{}".to_vec();
    let authorization = signed(&message);
    keys.verify(&header("key.pem"), &authorization, &message)
        .await
        .unwrap();
    // A flood of callbacks naming other key files.
    for n in 0..40 {
        let name = format!("other-{n}.pem");
        assert!(keys
            .verify(&header(&name), &authorization, &message)
            .await
            .is_err());
    }
    let others: usize = (0..40)
        .map(|n| count(&counts, &format!("/other-{n}.pem")))
        .sum();
    assert!(others <= FETCHES_PER_MINUTE as usize, "{others} fetches");
    // The genuine key still verifies, without a fetch.
    keys.verify(&header("key.pem"), &authorization, &message)
        .await
        .unwrap();
    assert_eq!(count(&counts, "/key.pem"), 1);
    // A forged signature with the genuine URL costs no fetch either.
    let forged = keys
        .verify(&header("key.pem"), &signed(b"other"), &message)
        .await;
    assert_eq!(forged, Err(Refusal::Signature));
    assert_eq!(count(&counts, "/key.pem"), 1);
}
