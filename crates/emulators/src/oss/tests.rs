//! Unit tests of the OSS emulator's own multipart parser, wildcards, session-policy evaluation,
//! V1/V4 signatures against published vectors, and policy expiration forms.

use super::access::permitted;
use super::form_signature::v1_sign;
use super::multipart::{boundary, parse_multipart};
use super::post_policy::parse_expiration;
use super::v4::v4_sign;
use serde_json::Value;

/// RAM wildcards with `?`, as OSS session policies and CORS rules use them.
fn wildcard(pattern: &str, text: &str) -> bool {
    crate::common::wildcard(pattern, text, true)
}

#[test]
fn multipart_parsing_is_strict() {
    let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nuploads/a\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\nworld\r\n--XyZ--\r\n";
    let parts = parse_multipart(body, "XyZ").unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].name, "key");
    assert_eq!(parts[0].value, b"uploads/a");
    assert_eq!(parts[1].filename.as_deref(), Some("a.txt"));
    assert_eq!(parts[1].content_type.as_deref(), Some("text/plain"));
    assert_eq!(parts[1].value, b"hello\r\nworld");
    // Truncated, no closing delimiter, or a part without a name: refused.
    assert!(parse_multipart(&body[..body.len() - 12], "XyZ").is_none());
    assert!(parse_multipart(b"--XyZ\r\nContent-Type: a/b\r\n\r\nx\r\n--XyZ--", "XyZ").is_none());
    assert!(parse_multipart(b"junk--XyZ--", "XyZ").is_none());
    assert_eq!(
        boundary("multipart/form-data; boundary=\"abc\"").as_deref(),
        Some("abc")
    );
    assert!(boundary("application/x-www-form-urlencoded").is_none());
}

#[test]
fn wildcards_and_session_policies() {
    assert!(wildcard(
        "acs:oss:*:*:b/uploads/a/*",
        "acs:oss:cn-hangzhou:1:b/uploads/a/x.png"
    ));
    assert!(!wildcard(
        "acs:oss:*:*:b/uploads/a/*",
        "acs:oss:cn-hangzhou:1:b/uploads/ab/x"
    ));
    assert!(wildcard("a?c", "abc") && !wildcard("a?c", "ac"));
    let policy: Value = serde_json::from_str(
        r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":["oss:Put*"],"Resource":["acs:oss:*:*:b/u/*"]},{"Effect":"Deny","Action":"oss:PutObject","Resource":"acs:oss:*:*:b/u/secret*"}]}"#,
    )
    .unwrap();
    assert!(permitted(
        Some(&policy),
        "oss:PutObject",
        "acs:oss:r:1:b/u/x"
    ));
    assert!(!permitted(
        Some(&policy),
        "oss:PutObject",
        "acs:oss:r:1:b/u/secret.txt"
    ));
    assert!(!permitted(
        Some(&policy),
        "oss:PutObject",
        "acs:oss:r:1:b/v/x"
    ));
    assert!(!permitted(
        Some(&policy),
        "oss:GetObject",
        "acs:oss:r:1:b/u/x"
    ));
    assert!(permitted(None, "oss:GetObject", "anything"));
}

#[test]
fn own_v4_derivation_matches_the_published_vector() {
    // protocol.md §5.5, ug0/aliyun_oss @0eaec40: the POST signature over the UG0 policy.
    let policy = "eyJjb25kaXRpb25zIjpbWyJjb250ZW50LWxlbmd0aC1yYW5nZSIsMCwxMDQ4NTc2MF0seyJidWNrZXQiOiJhaGFoYSJ9LHsiQSI6ImEifSx7ImtleSI6IkFCQyJ9XSwiZXhwaXJhdGlvbiI6IjIwMTMtMTItMDFUMTI6MDA6MDBaIn0=";
    assert_eq!(
        v4_sign("yourAccessKeySecret", "20250701", "cn-hangzhou", policy),
        "4f19e5c3030598cfe1d4e34b6006cd931bae28ddd5df481ff175e70e94495793"
    );
    assert_eq!(
        v1_sign("OtxrzxIsfpFjA7SwPzILwy8Bw21TLhquhboDYROV", policy),
        "W835KpLsL6k1/oo28RcsEflB6hw="
    );
}

#[test]
fn expiration_forms() {
    assert!(parse_expiration("2024-01-01T01:00:00.000Z").is_some());
    assert!(parse_expiration("2024-01-01T01:00:00Z").is_some());
    assert!(parse_expiration("2024-01-01 01:00:00Z").is_none());
    assert!(parse_expiration("2024-01-01T01:00:00+08:00").is_none());
}

#[test]
fn expiration_fraction_is_checked_but_not_kept() {
    let whole = parse_expiration("2024-01-01T01:00:00Z");
    assert!(whole.is_some());
    assert_eq!(parse_expiration("2024-01-01T01:00:00.999Z"), whole);
    assert!(parse_expiration("2024-01-01T01:00:00.Z").is_none());
    assert!(parse_expiration("2024-01-01T01:00:00.12aZ").is_none());
}
