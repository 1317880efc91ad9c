//! Unit tests of the callback pieces against literal values: the signature vectors of
//! protocol.md §5.7/§9.4 with OSS's published key, the string to sign, the §9.1 refusals, body
//! substitution (§9.2) and the CRC-64 and MD5 facts.

use std::collections::HashMap;

use serde_json::Value;

use super::param::{self, BodyType};
use super::signer::{string_to_sign, verify_callback_signature, CallbackKey};
use super::template::{content_md5, crc64, render, Variables};

/// protocol.md §5.7: OSS's callback public key (`callback_pub_key_v1.pem`), SPKI DER in Base64.
const OSS_KEY_DER_B64: &str = "MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAKs/JBGzwUB2aVht4crBx3oIPBLNsjGsC0fTXv+nvlmklvkcolvpvXLTjaxUHR3W9LXxQ2EHXAJfCB+6H2YF1k8CAwEAAQ==";

fn oss_key_pem() -> String {
    let (first, second) = OSS_KEY_DER_B64.split_at(64);
    format!("-----BEGIN PUBLIC KEY-----\n{first}\n{second}\n-----END PUBLIC KEY-----\n")
}

/// protocol.md §9.4 vector (a) (= §5.7 vector (1)).
const VECTOR_A_SIGNATURE: &str =
    "kKQeGTRccDKyHB3H9vF+xYMSrmhMZjzzl2/kdD1ktNVgbWEfYTQG0G2SU/RaHBovRCE8OkQDjC3uG33esH2txA==";

#[test]
fn published_vector_a_verifies_and_b_does_not() {
    let pem = oss_key_pem();
    assert_eq!(
        string_to_sign("/index.php?id=1&index=2", b"bucket=yonghu-test"),
        b"/index.php?id=1&index=2\nbucket=yonghu-test"
    );
    assert!(verify_callback_signature(
        &pem,
        "/index.php?id=1&index=2",
        b"bucket=yonghu-test",
        VECTOR_A_SIGNATURE
    ));
    // (b): the current doc page's body does not verify with the same signature.
    assert!(!verify_callback_signature(
        &pem,
        "/index.php?id=1&index=2",
        b"bucket=examplebucket",
        VECTOR_A_SIGNATURE
    ));
    // A query that lost its `?`, or a decoded query, is another string.
    assert!(!verify_callback_signature(
        &pem,
        "/index.phpid=1&index=2",
        b"bucket=yonghu-test",
        VECTOR_A_SIGNATURE
    ));
}

#[test]
fn published_vector_c_verifies_without_a_query() {
    // protocol.md §5.7 vector (2), §9.4 (c): Cloudreve's captured callback.
    let path = "/api/v3/callback/oss/TnXx5E5VyfJUyM1UdkdDu1rtnJ34EbmH";
    let body = br#"{"name":"2f7b2ccf30e9270ea920f1ab8a4037a546a2f0d5.jpg","source_name":"1/1_hFRtDLgM_2f7b2ccf30e9270ea920f1ab8a4037a546a2f0d5.jpg","size":114020,"pic_info":"810,539"}"#;
    let signature =
        "e5LwzwTkP9AFAItT4YzvdJOHd0Y0wqTMWhsV/h5SG90JYGAmMd+8LQyj96R+9qUfJWjMt6suuUh7LaOryR87Dw==";
    assert!(verify_callback_signature(
        &oss_key_pem(),
        path,
        body,
        signature
    ));
    // An empty query adds no `?` to the string.
    assert_eq!(
        string_to_sign(&format!("{path}?"), b"x"),
        format!("{path}\nx").into_bytes()
    );
    assert!(verify_callback_signature(
        &oss_key_pem(),
        &format!("{path}?"),
        body,
        signature
    ));
}

#[test]
fn only_the_path_is_decoded() {
    assert_eq!(
        string_to_sign("/cb/a%20b%2Fc?x=%20y&z", b"body"),
        b"/cb/a b/c?x=%20y&z\nbody"
    );
    assert_eq!(string_to_sign("/", b""), b"/\n");
}

#[test]
fn own_key_signs_what_it_publishes() {
    let key = CallbackKey::generate().expect("key");
    let pem = key.public_key_pem();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
    let signature = key.sign("/cb?a=1", b"bucket=b");
    assert!(verify_callback_signature(
        pem,
        "/cb?a=1",
        b"bucket=b",
        &signature
    ));
    assert!(!verify_callback_signature(
        pem,
        "/cb?a=2",
        b"bucket=b",
        &signature
    ));
    assert!(!verify_callback_signature(
        pem,
        "/cb?a=1",
        b"bucket=c",
        &signature
    ));
    assert!(!verify_callback_signature(
        &oss_key_pem(),
        "/cb?a=1",
        b"bucket=b",
        &signature
    ));
    assert!(!verify_callback_signature(
        "not a key",
        "/cb",
        b"",
        &signature
    ));
    assert!(!verify_callback_signature(
        pem,
        "/cb?a=1",
        b"bucket=b",
        "%%%"
    ));
}

fn encode(json: &str) -> String {
    use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
    B64.encode(json)
}

fn refusal(json: &str) -> (String, Option<&'static str>) {
    let e = param::parse(&encode(json)).expect_err(json);
    assert_eq!((e.status, e.code), (400, "InvalidArgument"), "{json}");
    (e.message, e.ec)
}

fn with_url(url: &str) -> String {
    format!(r#"{{"callbackUrl":"{url}","callbackBody":"a=b"}}"#)
}

#[test]
fn the_parameter_is_read_with_its_defaults() {
    let p = param::parse(&encode(&with_url("http://127.0.0.1:9/cb"))).expect("valid");
    assert_eq!(p.urls.len(), 1);
    assert_eq!(p.body_type, BodyType::FormUrlEncoded);
    assert!(!p.sni && p.host.is_none());
    let json = r#"{"callbackUrl":"http://127.0.0.1:9/a;http://localhost:9/b","callbackHost":"cb.example.com","callbackBody":"{}","callbackBodyType":"application/json","callbackSNI":true}"#;
    let p = param::parse(&encode(json)).expect("valid");
    assert_eq!(p.urls.len(), 2);
    assert_eq!(p.body_type, BodyType::Json);
    assert!(p.sni);
    assert_eq!(p.host.as_deref(), Some("cb.example.com"));
}

#[test]
fn section_9_1_refusals() {
    // Over 5 KB of Base64: 0007-00000001.
    let long = with_url(&format!("http://127.0.0.1/{}", "a".repeat(4000)));
    assert!(encode(&long).len() > 5 * 1024);
    let e = param::parse(&encode(&long)).expect_err("too long");
    assert_eq!((e.status, e.ec), (400, Some("0007-00000001")));
    // Six URLs: 0007-00000005; five are fine.
    let five = ["http://127.0.0.1/x"; 5].join(";");
    assert!(param::parse(&encode(&with_url(&five))).is_ok());
    let six = ["http://127.0.0.1/x"; 6].join(";");
    assert_eq!(refusal(&with_url(&six)).1, Some("0007-00000005"));
    // Not Base64, not JSON, not an object, missing or mistyped keys.
    let e = param::parse("not base64!").expect_err("base64");
    assert_eq!((e.status, e.code, e.ec), (400, "InvalidArgument", None));
    for json in [
        "{",
        "[1]",
        r#"{"callbackBody":"a"}"#,
        r#"{"callbackUrl":"http://127.0.0.1/"}"#,
        r#"{"callbackUrl":"http://127.0.0.1/","callbackBody":"a","callbackBodyType":"text/plain"}"#,
        r#"{"callbackUrl":"http://127.0.0.1/","callbackBody":"a","callbackSNI":"yes"}"#,
        r#"{"callbackUrl":5,"callbackBody":"a"}"#,
    ] {
        assert_eq!(refusal(json).1, None, "{json}");
    }
    for url in ["ftp://127.0.0.1/", "not a url", "", "http://127.0.0.1/;"] {
        assert_eq!(refusal(&with_url(url)).1, None, "{url}");
    }
}

#[test]
fn private_and_ipv6_hosts_are_refused_but_loopback_passes() {
    for host in [
        "10.0.0.1",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "[::1]",
        "[fd00::1]",
        "[fe80::1]",
        "[2001:db8::1]",
        "[::ffff:8.8.8.8]",
    ] {
        let (message, ec) = refusal(&with_url(&format!("http://{host}/cb")));
        assert_eq!(
            (message.as_str(), ec),
            (
                "Private address is forbidden to callback.",
                Some("0007-00000007")
            ),
            "{host}"
        );
    }
    // One private URL among public ones is enough.
    let mixed = "http://127.0.0.1/a;http://10.1.2.3/b";
    assert_eq!(refusal(&with_url(mixed)).1, Some("0007-00000007"));
    for host in [
        "127.0.0.1",
        "127.8.9.10",
        "localhost",
        "LOCALHOST",
        "8.8.8.8",
        "172.32.0.1",
        "api.example.com",
    ] {
        let url = format!("http://{host}:8080/cb?x=1");
        assert!(param::parse(&encode(&with_url(&url))).is_ok(), "{host}");
    }
}

fn vars() -> Variables {
    Variables {
        bucket: "examplebucket".into(),
        object: "uploads/a b+c&d.txt".into(),
        etag: "D8E8FCA2DC0F896FD7CB4CB0031BA249".into(),
        size: 114020,
        mime_type: "text/plain".into(),
        crc64: "123".into(),
        content_md5: "1B2M2Y8AsgTpgAmY7PhCfg==".into(),
        client_ip: "127.0.0.1".into(),
        request_id: "REQ1".into(),
        custom: HashMap::from([
            ("x:uid".to_owned(), "12 345".to_owned()),
            ("x:quote".to_owned(), "say \"hi\"\n".to_owned()),
        ]),
        operation: "PostObject",
    }
}

#[test]
fn form_bodies_are_percent_encoded() {
    let template = "bucket=${bucket}&object=${object}&size=${size}&etag=${etag}&mime=${mimeType}&uid=${x:uid}&missing=${x:nope}&op=${operation}&h=${imageInfo.height}&unknown=${other}&md5=${contentMd5}&open=${bucket";
    assert_eq!(
        render(template, BodyType::FormUrlEncoded, &vars()),
        "bucket=examplebucket&object=uploads%2Fa%20b%2Bc%26d.txt&size=114020&etag=D8E8FCA2DC0F896FD7CB4CB0031BA249&mime=text%2Fplain&uid=12%20345&missing=&op=PostObject&h=&unknown=${other}&md5=1B2M2Y8AsgTpgAmY7PhCfg%3D%3D&open=${bucket"
    );
}

#[test]
fn json_bodies_take_json_values() {
    let template = r#"{"bucket":${bucket},"object":${object},"size":${size},"q":${x:quote},"w":${imageInfo.width},"ip":${clientIp},"id":${reqId},"crc":${crc64}}"#;
    let body = render(template, BodyType::Json, &vars());
    let value: Value = serde_json::from_str(&body).expect(&body);
    assert_eq!(value["bucket"], "examplebucket");
    assert_eq!(value["object"], "uploads/a b+c&d.txt");
    assert_eq!(value["size"], 114020);
    assert_eq!(value["q"], "say \"hi\"\n");
    assert_eq!(value["w"], "");
    assert_eq!(value["ip"], "127.0.0.1");
    assert_eq!(value["id"], "REQ1");
    assert_eq!(value["crc"], "123");
    assert!(body.contains(r#""size":114020,"#), "{body}");
}

#[test]
fn object_facts() {
    // CRC-64/XZ check value (= OSS's crc64ecma) and MD5 of the empty string.
    assert_eq!(crc64(b"123456789"), "11051210869376104954");
    assert_eq!(crc64(b""), "0");
    assert_eq!(content_md5(b""), "1B2M2Y8AsgTpgAmY7PhCfg==");
    assert_eq!(content_md5(b"hello"), "XUFAKrxLKna5cZ2REBfFkg==");
}
