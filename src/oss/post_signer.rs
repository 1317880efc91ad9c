//! Pure PostObject signature stages (protocol.md §5.4 V1, §5.5 V4): key derivation and signatures over
//! the Base64 policy string. No I/O, no clock, no policy building; secrets are only borrowed.

use chrono::{DateTime, Utc};

/// `x-oss-signature-version` for V4 (protocol.md §5.5).
pub const V4_ALGORITHM: &str = "OSS4-HMAC-SHA256";
/// The product in a V4 scope.
pub const V4_PRODUCT: &str = "oss";
/// The terminator of a V4 scope and the last key-derivation input.
pub const V4_REQUEST: &str = "aliyun_v4_request";

fn hmac_sha256(key: &[u8], data: &str) -> [u8; 32] {
    crate::encoding::hmac_sha256(key, data.as_bytes())
}

/// V1: `Base64(HMAC-SHA1(AccessKeySecret, base64_policy))`, no `&` suffix (protocol.md §5.4).
pub fn v1_signature(secret: &str, base64_policy: &str) -> String {
    crate::encoding::hmac_sha1_base64(secret.as_bytes(), base64_policy.as_bytes())
}

/// `YYYYMMDDTHHMMSSZ`, digit by digit.
fn compact_date_time(at: DateTime<Utc>) -> String {
    let mut full = *b"0000-00-00T00:00:00";
    crate::timefmt::write_date_time(&mut full, at);
    let mut out = String::with_capacity(16);
    for (i, &b) in full.iter().enumerate() {
        if !matches!(i, 4 | 7 | 13 | 16) {
            out.push(char::from(b));
        }
    }
    out.push('Z');
    out
}

/// `YYYYMMDD`, the date of a V4 scope.
pub fn v4_date(at: DateTime<Utc>) -> String {
    let mut date = compact_date_time(at);
    date.truncate(8);
    date
}

/// `YYYYMMDDTHHMMSSZ`, the `x-oss-date` of V4 (protocol.md §5.5).
pub fn v4_datetime(at: DateTime<Utc>) -> String {
    compact_date_time(at)
}

/// `<date>/<region>/oss/aliyun_v4_request`; `region` is the plain id (`cn-hangzhou`).
pub fn v4_scope(date: &str, region: &str) -> String {
    format!("{date}/{region}/{V4_PRODUCT}/{V4_REQUEST}")
}

/// `x-oss-credential`: `<AccessKeyId>/<scope>` (protocol.md §5.5).
pub fn v4_credential(access_key_id: &str, date: &str, region: &str) -> String {
    format!("{access_key_id}/{}", v4_scope(date, region))
}

/// The V4 signing key: HMAC-SHA256 chain from `"aliyun_v4" + secret` over date, region, `oss`
/// and `aliyun_v4_request` (protocol.md §5.5).
pub fn v4_signing_key(secret: &str, date: &str, region: &str) -> [u8; 32] {
    let k_date = hmac_sha256(format!("aliyun_v4{secret}").as_bytes(), date);
    let k_region = hmac_sha256(&k_date, region);
    let k_service = hmac_sha256(&k_region, V4_PRODUCT);
    hmac_sha256(&k_service, V4_REQUEST)
}

/// A signing key derived on one thread and what it was derived from.
struct DerivedKey {
    secret: Box<str>,
    date: Box<str>,
    region: Box<str>,
    key: [u8; 32],
}

/// How many keys a thread keeps: a profile signs with a few shared credentials at once (forms,
/// download URLs, part URLs), and one slot would derive afresh each time they alternate.
const KEYS_PER_THREAD: usize = 4;

thread_local! {
    static LAST_KEYS: std::cell::RefCell<Vec<DerivedKey>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// [`v4_signing_key`], derived once per secret, date and region on each thread: forms and
/// presigned URLs are signed with one credential for hours (the shared form, read and
/// multipart credentials), so four of the five HMACs of a signature need not be repeated. The
/// keys stay in the thread's memory only; the least recently derived is dropped first.
pub fn v4_signing_key_reused(secret: &str, date: &str, region: &str) -> [u8; 32] {
    LAST_KEYS.with(|cell| {
        let mut keys = cell.borrow_mut();
        let known = keys
            .iter()
            .find(|k| &*k.secret == secret && &*k.date == date && &*k.region == region);
        if let Some(k) = known {
            return k.key;
        }
        let key = v4_signing_key(secret, date, region);
        if keys.len() == KEYS_PER_THREAD {
            keys.remove(0);
        }
        keys.push(DerivedKey {
            secret: secret.into(),
            date: date.into(),
            region: region.into(),
            key,
        });
        key
    })
}

/// Lower-hex HMAC-SHA256 of `string_to_sign` with a derived key. For PostObject the string to
/// sign is the Base64 policy itself (protocol.md §5.5).
pub fn v4_signature(signing_key: &[u8; 32], string_to_sign: &str) -> String {
    hex::encode(hmac_sha256(signing_key, string_to_sign))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::{engine::general_purpose::STANDARD as B64, Engine as _};

    // Literal vectors from protocol.md §5.4/§5.5. Provenance: ug0/aliyun_oss
    // test/aliyun_oss/object_test.exs @6f226e0 (V1) and sign_test.exs / object_test.exs @0eaec40
    // (V4), recomputed independently; the "broker-shaped" ones were computed with Python and
    // Node (protocol.md §5.5 says how).
    const UG0_POLICY_B64: &str = "eyJjb25kaXRpb25zIjpbWyJjb250ZW50LWxlbmd0aC1yYW5nZSIsMCwxMDQ4NTc2MF0seyJidWNrZXQiOiJhaGFoYSJ9LHsiQSI6ImEifSx7ImtleSI6IkFCQyJ9XSwiZXhwaXJhdGlvbiI6IjIwMTMtMTItMDFUMTI6MDA6MDBaIn0=";

    #[test]
    fn v1_published_vector() {
        assert_eq!(
            v1_signature("OtxrzxIsfpFjA7SwPzILwy8Bw21TLhquhboDYROV", UG0_POLICY_B64),
            "W835KpLsL6k1/oo28RcsEflB6hw="
        );
    }

    #[test]
    fn v1_broker_shaped_vector() {
        let policy = "eyJleHBpcmF0aW9uIjoiMjAyNC0wMS0wMVQwMTowMDowMC4wMDBaIiwiY29uZGl0aW9ucyI6W3siYnVja2V0IjoiZXhhbXBsZWJ1Y2tldCJ9LFsic3RhcnRzLXdpdGgiLCIka2V5IiwidXBsb2Fkcy91NDIvIl0sWyJjb250ZW50LWxlbmd0aC1yYW5nZSIsMSwxMDQ4NTc2MF1dfQ==";
        assert_eq!(
            v1_signature("testsecret", policy),
            "pd2QJxmBb9SPX7nQPTz+pcuZS7U="
        );
    }

    #[test]
    fn v4_signing_key_published_vector() {
        assert_eq!(
            hex::encode(v4_signing_key(
                "yourAccessKeySecret",
                "20250411",
                "cn-hangzhou"
            )),
            "8a01ff4efcc65ca2cbc75375045c61ab5f3fa8b9a2d84f0add27ef16a25feb3c"
        );
    }

    #[test]
    fn v4_post_signature_published_vector() {
        let key = v4_signing_key("yourAccessKeySecret", "20250701", "cn-hangzhou");
        assert_eq!(
            v4_signature(&key, UG0_POLICY_B64),
            "4f19e5c3030598cfe1d4e34b6006cd931bae28ddd5df481ff175e70e94495793"
        );
    }

    #[test]
    fn v4_broker_shaped_vector_stage_by_stage() {
        let key = v4_signing_key("testsecret", "20240101", "cn-hangzhou");
        assert_eq!(
            hex::encode(key),
            "b8e5a5ac6459626c763fd79a11287c23e8e1b19e0745c273239a99c7d944be03"
        );
        let json = r#"{"expiration":"2024-01-01T01:00:00.000Z","conditions":[{"bucket":"examplebucket"},["starts-with","$key","uploads/u42/"],["content-length-range",1,10485760],["in","$content-type",["image/jpeg","image/png"]],{"x-oss-signature-version":"OSS4-HMAC-SHA256"},{"x-oss-credential":"STS.testid/20240101/cn-hangzhou/oss/aliyun_v4_request"},{"x-oss-date":"20240101T000000Z"},{"x-oss-security-token":"CAIS+abc/def=="}]}"#;
        assert_eq!(
            v4_signature(&key, &B64.encode(json)),
            "2a47bb01a2034515af59a4ceec5c3a5ec295a706dba202dde5dd1eb7aaced1af"
        );
    }

    #[test]
    fn a_reused_signing_key_is_the_key_of_its_own_secret_date_and_region() {
        let published = "8a01ff4efcc65ca2cbc75375045c61ab5f3fa8b9a2d84f0add27ef16a25feb3c";
        let shaped = "b8e5a5ac6459626c763fd79a11287c23e8e1b19e0745c273239a99c7d944be03";
        for _ in 0..2 {
            let key = v4_signing_key_reused("yourAccessKeySecret", "20250411", "cn-hangzhou");
            assert_eq!(hex::encode(key), published);
        }
        // Another secret and date, then the first again: never the previous key.
        let key = v4_signing_key_reused("testsecret", "20240101", "cn-hangzhou");
        assert_eq!(hex::encode(key), shaped);
        let key = v4_signing_key_reused("yourAccessKeySecret", "20250411", "cn-hangzhou");
        assert_eq!(hex::encode(key), published);
        // Same secret, another date or region: derived afresh.
        let other_day = v4_signing_key_reused("yourAccessKeySecret", "20250412", "cn-hangzhou");
        assert_ne!(hex::encode(other_day), published);
        let other_region = v4_signing_key_reused("yourAccessKeySecret", "20250411", "cn-beijing");
        assert_ne!(hex::encode(other_region), published);
        // More secrets than a thread keeps: every answer is still its own secret's key.
        for round in 0..3 {
            for i in 0..(KEYS_PER_THREAD + 2) {
                let secret = format!("secret-{i}");
                let key = v4_signing_key_reused(&secret, "20250411", "cn-hangzhou");
                assert_eq!(
                    key,
                    v4_signing_key(&secret, "20250411", "cn-hangzhou"),
                    "{round}"
                );
            }
        }
        let key = v4_signing_key_reused("testsecret", "20240101", "cn-hangzhou");
        assert_eq!(hex::encode(key), shaped);
    }

    #[test]
    fn v4_dates_are_digits_of_the_utc_time() {
        let at = DateTime::parse_from_rfc3339("2025-12-31T23:59:58.999Z")
            .unwrap()
            .to_utc();
        assert_eq!(v4_datetime(at), "20251231T235958Z");
        assert_eq!(v4_date(at), "20251231");
    }

    #[test]
    fn v4_field_shapes() {
        let at = DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(v4_datetime(at), "20240101T000000Z");
        assert_eq!(
            v4_credential("STS.testid", &v4_date(at), "cn-hangzhou"),
            "STS.testid/20240101/cn-hangzhou/oss/aliyun_v4_request"
        );
    }
}
