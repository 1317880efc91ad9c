//! PostObject upload callbacks end to end (protocol.md §9): a loopback receiver records what the
//! OSS emulator sends and checks its RSA-MD5 signature with its own code; the uploader's answer
//! is checked for the 200 relay, every 203 cause and the §9.1 refusals.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use broker_emulators::oss::OssEmulator;
use md5::{Digest as _, Md5};
use rsa::pkcs8::DecodePublicKey as _;
use rsa::traits::PublicKeyParts as _;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use support::{b64, json_reply, start, Received, Receiver, Reply, Upload, BUCKET};

/// protocol.md §9.4, checked without the emulator's code: the URL-decoded path, the raw query
/// with its `?` when there is one, `\n`, the body; RSASSA-PKCS1-v1_5 with MD5.
fn verify_independently(pem: &str, request: &Received) -> bool {
    let key = RsaPublicKey::from_public_key_pem(pem).expect("an SPKI PEM");
    let (path, query) = request
        .target
        .split_once('?')
        .unwrap_or((&request.target, ""));
    let mut message = percent_decode(path);
    if !query.is_empty() {
        message.push(b'?');
        message.extend_from_slice(query.as_bytes());
    }
    message.push(b'\n');
    message.extend_from_slice(&request.body);
    let signature = B64
        .decode(request.header("authorization").expect("signed"))
        .expect("Base64");
    key.verify(
        Pkcs1v15Sign::new::<Md5>(),
        &Md5::digest(&message),
        &signature,
    )
    .is_ok()
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 3 <= b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn callback_json(url: &str, body: &str) -> String {
    serde_json::json!({ "callbackUrl": url, "callbackBody": body }).to_string()
}

const FORM_BODY: &str = "bucket=${bucket}&object=${object}&etag=${etag}&size=${size}&mimeType=${mimeType}&uid=${x:uid}&height=${imageInfo.height}&crc64=${crc64}&md5=${contentMd5}&req=${reqId}&op=${operation}&ip=${clientIp}";

#[tokio::test]
async fn form_callback_is_signed_and_its_json_reply_relayed() {
    let em = start().await;
    let receiver = Receiver::start(json_reply(r#"{"accepted":true,"n":1}"#)).await;
    let callback = serde_json::json!({
        "callbackUrl": receiver.url("/cb/oss%20hook?id=1&tag=a%20b"),
        "callbackHost": "app.example.com",
        "callbackBody": FORM_BODY,
    })
    .to_string();
    let response = Upload::new("uploads/a b.txt", b"hello")
        .with_pinned_callback(&callback)
        .field("x:uid", "u 42&x=1")
        .post(&em.oss)
        .await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/json");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let request_id = headers["x-oss-request-id"].to_str().unwrap().to_owned();
    assert_eq!(response.text().await.unwrap(), r#"{"accepted":true,"n":1}"#);
    assert_eq!(em.oss.object("uploads/a b.txt").unwrap().body, b"hello");

    let [request] = receiver
        .received()
        .try_into()
        .expect("exactly one callback");
    assert_eq!(
        (request.method.as_str(), request.target.as_str()),
        ("POST", "/cb/oss%20hook?id=1&tag=a%20b")
    );
    check_headers(&request, em.sts.keys().account_id(), &request_id);
    check_key_and_signature(&em.oss, &request).await;
    check_form_body(&request, &etag, &request_id);
}

/// protocol.md §9.4: the headers OSS sends with a callback.
fn check_headers(request: &Received, account_id: &str, request_id: &str) {
    let h = |name| request.header(name).unwrap_or_default().to_owned();
    assert_eq!(h("host"), "app.example.com");
    assert_eq!(h("content-type"), "application/x-www-form-urlencoded");
    assert_eq!(h("content-md5"), B64.encode(Md5::digest(&request.body)));
    assert_eq!(h("content-length"), request.body.len().to_string());
    assert_eq!(h("user-agent"), "aliyun-oss-callback");
    assert_eq!(h("x-oss-bucket"), BUCKET);
    assert_eq!(h("x-oss-request-id"), request_id);
    assert_eq!(h("x-oss-requester"), account_id);
    assert_eq!(h("x-oss-signature-version"), "1.0");
    assert_eq!(h("x-oss-tag"), "CALLBACK");
    assert!(chrono::DateTime::parse_from_rfc2822(&h("date")).is_ok());
}

/// The key URL names the emulator's own PEM, which verifies the signature.
async fn check_key_and_signature(oss: &OssEmulator, request: &Received) {
    let h = |name| request.header(name).unwrap_or_default().to_owned();
    let key_url = String::from_utf8(B64.decode(h("x-oss-pub-key-url")).unwrap()).unwrap();
    assert_eq!(key_url, oss.callback_public_key_url());
    let pem = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(&key_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(pem, oss.callback_public_key_pem());
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"));
    assert_eq!(RsaPublicKey::from_public_key_pem(&pem).unwrap().size(), 64);
    assert!(verify_independently(&pem, request));
    assert!(broker_emulators::oss::verify_callback_signature(
        &pem,
        &request.target,
        &request.body,
        &h("authorization")
    ));
    let mut tampered = request.clone();
    tampered.body.push(b' ');
    assert!(!verify_independently(&pem, &tampered));
}

/// protocol.md §9.2: every system variable and an `x:` variable, percent-encoded.
fn check_form_body(request: &Received, etag: &str, request_id: &str) {
    let form: HashMap<String, String> =
        form_urlencoded::parse(&request.body).into_owned().collect();
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("<missing>");
    assert_eq!(field("bucket"), BUCKET);
    assert_eq!(field("object"), "uploads/a b.txt");
    assert_eq!(field("etag"), etag.trim_matches('"'));
    assert_eq!(field("size"), "5");
    assert_eq!(field("mimeType"), "text/plain");
    assert_eq!(field("uid"), "u 42&x=1");
    assert_eq!(field("height"), "");
    assert_eq!(field("crc64"), "11177612005948864433"); // CRC-64/XZ("hello")
    assert_eq!(field("md5"), "XUFAKrxLKna5cZ2REBfFkg==");
    assert_eq!(field("req"), request_id);
    assert_eq!(field("op"), "PostObject");
    assert_eq!(field("ip"), "127.0.0.1");
    assert!(
        String::from_utf8_lossy(&request.body).contains("object=uploads%2Fa%20b.txt&"),
        "values are percent-encoded"
    );
}

#[tokio::test]
async fn json_callback_bodies_are_json() {
    let em = start().await;
    let receiver = Receiver::start(json_reply("{}")).await;
    let callback = serde_json::json!({
        "callbackUrl": receiver.url("/cb"),
        "callbackBody": r#"{"bucket":${bucket},"object":${object},"size":${size},"uid":${x:uid},"w":${imageInfo.width}}"#,
        "callbackBodyType": "application/json",
    })
    .to_string();
    let response = Upload::new("uploads/q\"uote.txt", b"0123456789")
        .with_pinned_callback(&callback)
        .field("x:uid", "say \"hi\"\\")
        .post(&em.oss)
        .await;
    assert_eq!(response.status(), 200);
    let [request] = receiver.received().try_into().expect("one callback");
    assert_eq!(request.header("content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_slice(&request.body).expect("valid JSON");
    assert_eq!(
        body,
        serde_json::json!({
            "bucket": BUCKET, "object": "uploads/q\"uote.txt", "size": 10,
            "uid": "say \"hi\"\\", "w": ""
        })
    );
    assert!(verify_independently(
        &em.oss.callback_public_key_pem(),
        &request
    ));
}

#[tokio::test]
async fn a_pinned_callback_must_be_the_one_sent() {
    let em = start().await;
    let receiver = Receiver::start(json_reply("{}")).await;
    let pinned = callback_json(&receiver.url("/pinned"), "a=${bucket}");
    let mut upload = Upload::new("uploads/p.txt", b"x").field(
        "callback",
        &b64(&callback_json(&receiver.url("/swapped"), "a=${bucket}")),
    );
    upload
        .conditions
        .push(serde_json::json!({ "callback": b64(&pinned) }));
    let response = upload.post(&em.oss).await;
    assert_eq!(response.status(), 403);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("Policy Condition failed"));
    assert_eq!(em.oss.object_count(), 0);
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn an_unpinned_callback_is_performed_too() {
    // protocol.md §9.3: pinning is opt-in.
    let em = start().await;
    let receiver = Receiver::start(json_reply(r#"{"ok":1}"#)).await;
    let response = Upload::new("uploads/u.txt", b"x")
        .field(
            "callback",
            &b64(&callback_json(&receiver.url("/cb"), "o=${object}")),
        )
        .post(&em.oss)
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(receiver.received()[0].body, b"o=uploads%2Fu.txt");
}

/// Uploads with a callback to `url`; asserts the 203 `CallbackFailed` answer with `message`
/// and that the object is stored.
async fn assert_callback_failed(url: &str, message: &str) {
    let em = start().await;
    let response = Upload::new("uploads/f.txt", b"kept")
        .with_pinned_callback(&callback_json(url, "bucket=${bucket}"))
        .post(&em.oss)
        .await;
    assert_eq!(response.status(), 203, "{url}");
    assert!(response.headers().contains_key("etag"));
    let request_id = response.headers()["x-oss-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let xml = response.text().await.unwrap();
    for part in [
        "<Code>CallbackFailed</Code>".to_owned(),
        format!("<Message>{message}</Message>"),
        format!("<RequestId>{request_id}</RequestId>"),
        "<HostId>examplebucket.oss-cn-hangzhou.aliyuncs.com</HostId>".to_owned(),
        "<EC>0007-00000203</EC>".to_owned(),
    ] {
        assert!(xml.contains(&part), "{part} not in {xml}");
    }
    assert_eq!(em.oss.object("uploads/f.txt").unwrap().body, b"kept");
}

fn raw(reply: &str) -> Reply {
    Reply::Raw(reply.as_bytes().to_vec())
}

#[tokio::test]
async fn every_bad_reply_gives_203_and_keeps_the_object() {
    let ok_json = "Content-Type: application/json\r\nConnection: close";
    let cases = [
        (
            raw("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"),
            "Error status : 502.",
        ),
        (
            raw("HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"),
            "Error status : 404.",
        ),
        (
            raw("HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"),
            "Error status : 302.",
        ),
        (
            raw(&format!("HTTP/1.1 200 OK\r\n{ok_json}\r\nContent-Length: 5\r\n\r\nhello")),
            "Response body is not valid json format",
        ),
        (
            raw(&format!("HTTP/1.1 200 OK\r\n{ok_json}\r\nContent-Length: 5\r\n\r\n\u{feff}{{}}")),
            "Response body is not valid json format",
        ),
        (
            raw(&format!("HTTP/1.1 200 OK\r\n{ok_json}\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{{}}\r\n0\r\n\r\n")),
            "Error Status : 400.User server missing content-length",
        ),
        (
            raw(&format!("HTTP/1.1 200 OK\r\n{ok_json}\r\nContent-Length: 0\r\n\r\n")),
            "Error Status : 400.User server return invalid content-length value",
        ),
        (
            raw(&format!("HTTP/1.1 200 OK\r\n{ok_json}\r\nContent-Length: 1048577\r\n\r\n{{}}")),
            "Error Status : 400.User server return too long content-length value",
        ),
        (raw("not http at all\r\n\r\n"), "Error status : 502."),
    ];
    for (reply, message) in cases {
        let receiver = Receiver::start(reply).await;
        assert_callback_failed(&receiver.url("/cb"), message).await;
        assert_eq!(receiver.received().len(), 1, "sent once, never retried");
    }
}

#[tokio::test]
async fn a_reply_of_exactly_1_mb_is_relayed() {
    let em = start().await;
    let big = format!("\"{}\"", "a".repeat(1024 * 1024 - 2));
    let receiver = Receiver::start(json_reply(&big)).await;
    let response = Upload::new("uploads/big.txt", b"x")
        .with_pinned_callback(&callback_json(&receiver.url("/cb"), "a=b"))
        .post(&em.oss)
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap().len(), 1024 * 1024);
}

#[tokio::test]
async fn a_slow_receiver_times_out_after_5_seconds() {
    let slow = Receiver::start(Reply::Late(Duration::from_secs(7), Vec::new())).await;
    let started = std::time::Instant::now();
    assert_callback_failed(&slow.url("/cb"), "Cost too long time").await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(5) && waited < Duration::from_secs(7),
        "{waited:?}"
    );
    assert_eq!(slow.received().len(), 1);
}

#[tokio::test]
async fn unreachable_receivers_give_203() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let cannot = "Error status : -1.OSS can not connect to your callbackUrl, please check it.";
    assert_callback_failed(&format!("http://127.0.0.1:{port}/cb"), cannot).await;
    // A public address passes the checks, but the emulator connects to loopback only.
    assert_callback_failed("http://203.0.113.7/cb", cannot).await;
}

#[tokio::test]
async fn urls_are_tried_in_turn_until_one_answers() {
    let em = start().await;
    let failing = Receiver::start(raw(
        "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    ))
    .await;
    let good = Receiver::start(json_reply(r#"{"second":true}"#)).await;
    let urls = format!("{};{}", failing.url("/one"), good.url("/two?x=1"));
    let response = Upload::new("uploads/t.txt", b"x")
        .with_pinned_callback(&callback_json(&urls, "k=${object}"))
        .post(&em.oss)
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), r#"{"second":true}"#);
    let pem = em.oss.callback_public_key_pem();
    for (receiver, target) in [(&failing, "/one"), (&good, "/two?x=1")] {
        let [request] = receiver.received().try_into().expect("one each");
        assert_eq!(request.target, target);
        assert!(verify_independently(&pem, &request), "signed per URL");
    }
    // When every URL fails, the last failure is reported.
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://127.0.0.1:{}/x", l.local_addr().unwrap().port())
    };
    assert_callback_failed(
        &format!("{refused};{}", failing.url("/again")),
        "Error status : 500.",
    )
    .await;
}

/// A refused upload: 400 `InvalidArgument`, `ec` in the XML, nothing stored, nothing sent.
async fn assert_refused(callback_field: &str, ec: Option<&str>, message: Option<&str>) {
    let em = start().await;
    let response = Upload::new("uploads/r.txt", b"x")
        .field("callback", callback_field)
        .post(&em.oss)
        .await;
    assert_eq!(response.status(), 400);
    let xml = response.text().await.unwrap();
    assert!(xml.contains("<Code>InvalidArgument</Code>"), "{xml}");
    match ec {
        Some(ec) => assert!(xml.contains(&format!("<EC>{ec}</EC>")), "{xml}"),
        None => assert!(!xml.contains("<EC>"), "{xml}"),
    }
    if let Some(message) = message {
        assert!(
            xml.contains(&format!("<Message>{message}</Message>")),
            "{xml}"
        );
    }
    assert_eq!(em.oss.object_count(), 0);
}

#[tokio::test]
async fn section_9_1_refusals_store_nothing() {
    let receiver = Receiver::start(json_reply("{}")).await;
    let long_body = "a".repeat(4 * 1024);
    let too_long = b64(&callback_json(&receiver.url("/cb"), &long_body));
    assert!(too_long.len() > 5 * 1024);
    assert_refused(&too_long, Some("0007-00000001"), None).await;
    let six = vec![receiver.url("/cb"); 6].join(";");
    assert_refused(&b64(&callback_json(&six, "a")), Some("0007-00000005"), None).await;
    for host in ["192.168.0.10", "10.0.0.8:8080", "169.254.169.254", "[::1]"] {
        assert_refused(
            &b64(&callback_json(&format!("http://{host}/cb"), "a")),
            Some("0007-00000007"),
            Some("Private address is forbidden to callback."),
        )
        .await;
    }
    assert_refused("%%% not base64", None, None).await;
    assert_refused(&b64("{not json"), None, None).await;
    assert_refused(&b64(r#"{"callbackBody":"a"}"#), None, None).await;
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn without_a_callback_the_answer_is_unchanged() {
    let em = start().await;
    let response = Upload::new("uploads/plain.txt", b"x").post(&em.oss).await;
    assert_eq!(response.status(), 204);
}
