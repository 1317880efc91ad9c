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

fn part(name: &str, value: &str) -> super::multipart::Part {
    super::multipart::Part {
        name: name.to_owned(),
        filename: None,
        content_type: None,
        value: value.as_bytes().to_vec(),
    }
}

/// A V4 form with `extra` fields before the file, as the broker's forms look.
fn v4_form(extra: &[(&str, &str)]) -> super::form::Form {
    let mut parts = vec![
        part("key", "uploads/a/x"),
        part("policy", "eyJ9"),
        part("x-oss-signature-version", "OSS4-HMAC-SHA256"),
        part(
            "x-oss-credential",
            "STS.x/20240101/cn-hangzhou/oss/aliyun_v4_request",
        ),
        part("x-oss-date", "20240101T000000Z"),
        part("x-oss-signature", "00"),
        part("x-oss-security-token", "CAIS"),
    ];
    parts.extend(extra.iter().map(|(n, v)| part(n, v)));
    let mut file = part("file", "x");
    file.filename = Some("x".into());
    parts.push(file);
    super::form::Form { parts }
}

#[test]
fn v4_forms_must_restrict_every_x_oss_field() {
    use super::post_policy::{check_v4_fields, Check};
    let eq = |f: &str, v: &str| Check::Eq(f.into(), v.into());
    let pinned = vec![
        eq("x-oss-signature-version", "OSS4-HMAC-SHA256"),
        eq(
            "x-oss-credential",
            "STS.x/20240101/cn-hangzhou/oss/aliyun_v4_request",
        ),
        eq("x-oss-date", "20240101T000000Z"),
        eq("x-oss-security-token", "CAIS"),
        Check::StartsWith("key".into(), "uploads/a/".into()),
    ];
    // The signing fields pinned: accepted, with fields outside x-oss-* unnamed (protocol.md
    // §12.1: key, callback and x:* need no condition).
    assert!(check_v4_fields(&v4_form(&[]), &pinned).is_ok());
    assert!(check_v4_fields(
        &v4_form(&[
            ("callback", "e30="),
            ("x:uid", "1"),
            ("success_action_status", "200")
        ]),
        &pinned
    )
    .is_ok());
    // Any other x-oss-* field without a condition: "Extra input fields".
    for (name, value) in [
        ("x-oss-object-acl", "public-read-write"),
        ("x-oss-forbid-overwrite", "true"),
        ("x-oss-meta-owner", "admin"),
        ("X-Oss-Meta-Owner", "admin"),
        ("x-oss-content-type", "text/html"),
        ("x-oss-storage-class", "Archive"),
    ] {
        let e = check_v4_fields(&v4_form(&[(name, value)]), &pinned).unwrap_err();
        assert_eq!((e.status, e.code), (403, "AccessDenied"), "{name}");
        assert_eq!(
            e.message,
            format!("Invalid according to Policy: Extra input fields: {name}")
        );
    }
    // A condition naming the field restricts it (whether it holds is `check`'s business).
    let mut with_meta = pinned.clone();
    with_meta.push(Check::StartsWith("x-oss-meta-owner".into(), String::new()));
    assert!(check_v4_fields(&v4_form(&[("x-oss-meta-owner", "a")]), &with_meta).is_ok());
    // The signing fields and the token need an exact match, not a prefix.
    let mut loose = pinned[1..].to_vec();
    loose.push(Check::StartsWith(
        "x-oss-signature-version".into(),
        String::new(),
    ));
    let e = check_v4_fields(&v4_form(&[]), &loose).unwrap_err();
    assert!(
        e.message.ends_with("x-oss-signature-version"),
        "{}",
        e.message
    );
    for missing in 0..4 {
        let mut fewer = pinned.clone();
        fewer.remove(missing);
        assert!(check_v4_fields(&v4_form(&[]), &fewer).is_err(), "{missing}");
    }
}
