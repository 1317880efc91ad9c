//! OSS signature V4 primitives shared by PostObject forms and bucket requests (protocol.md §5.5): the
//! algorithm name, the signing-key derivation and signature, the credential scope and the
//! `x-oss-date` format. The emulator's own HMAC code (`crate::common`), never the broker's; it
//! decides no request on its own.

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::common::hmac_sha256;

pub(super) const ALGORITHM: &str = "OSS4-HMAC-SHA256";
/// protocol.md §5.5: V4 requests may be signed up to 15 minutes off the server's clock.
pub(super) const MAX_SKEW_SECONDS: i64 = 15 * 60;

/// protocol.md §5.5 key derivation, then the signature over `data`, lower hex.
pub(super) fn v4_sign(secret: &str, date: &str, region: &str, data: &str) -> String {
    let mut key = format!("aliyun_v4{secret}").into_bytes();
    for step in [date, region, "oss", "aliyun_v4_request"] {
        key = hmac_sha256(&key, step.as_bytes());
    }
    hex::encode(hmac_sha256(&key, data.as_bytes()))
}

/// `<AccessKeyId>/<date>/<region>/oss/aliyun_v4_request` → (AccessKeyId, date, region).
pub(super) fn parse_scope(credential: &str) -> Option<(&str, &str, &str)> {
    let parts: Vec<&str> = credential.split('/').collect();
    let [ak, date, region, "oss", "aliyun_v4_request"] = parts.as_slice() else {
        return None;
    };
    Some((ak, date, region))
}

/// `YYYYMMDDTHHMMSSZ`.
pub(super) fn parse_v4_datetime(s: &str) -> Option<DateTime<Utc>> {
    if s.len() != 16 {
        return None;
    }
    NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%SZ")
        .ok()
        .map(|d| d.and_utc())
}
