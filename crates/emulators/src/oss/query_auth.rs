//! OSS signature V4 in the query string, presigned URLs (protocol.md §16.1, §17.4):
//! the `x-oss-*` parameters' presence and shape, a credential scope for this region, the validity
//! window (`x-oss-date` at most 15 minutes ahead of the emulator's clock, `x-oss-expires` seconds
//! of 1 to 604800 after it), the key and its STS token from `x-oss-security-token`
//! (`super::access`), then the canonical request rebuilt from what arrived — every query
//! parameter but `x-oss-signature`, `content-type`, `content-md5` and `x-oss-*` headers as sent,
//! the additional headers, `UNSIGNED-PAYLOAD` — and its signature recomputed. It never logs a
//! parameter, the secret or the signature.

use actix_web::HttpRequest;
use chrono::Duration;
use sha2::{Digest as _, Sha256};

use crate::common::{ct_eq, percent_decode, percent_encode_path};

use super::access::{resolve_key, Signer};
use super::errors::{access_denied, invalid_argument, signature_mismatch, OssError};
use super::header_auth::{canonical_headers, canonical_query};
use super::v4::{parse_scope, parse_v4_datetime, v4_sign, ALGORITHM, MAX_SKEW_SECONDS};
use super::Inner;

/// protocol.md §16.1: a presigned URL lives at most 7 days.
const MAX_EXPIRES_SECONDS: i64 = 604_800;

/// Whether the request carries a query-string signature (and so no header signature is read).
pub(super) fn is_presigned(query_string: &str) -> bool {
    query_string
        .split('&')
        .any(|p| p.split('=').next() == Some("x-oss-signature-version"))
}

/// The decoded value of one query parameter; `None` when absent or given twice.
fn param(query_string: &str, name: &str) -> Option<String> {
    let mut values = form_urlencoded::parse(query_string.as_bytes())
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned());
    let first = values.next()?;
    values.next().is_none().then_some(first)
}

/// Verifies a V4 presigned request to this bucket; returns the signer.
pub(super) fn verify_query_auth(req: &HttpRequest, inner: &Inner) -> Result<Signer, OssError> {
    let query = req.query_string();
    let get = |name: &str| param(query, name);
    let (Some(version), Some(credential), Some(datetime), Some(expires), Some(signature)) = (
        get("x-oss-signature-version"),
        get("x-oss-credential"),
        get("x-oss-date"),
        get("x-oss-expires"),
        get("x-oss-signature"),
    ) else {
        return Err(invalid_argument(
            "A presigned URL needs x-oss-signature-version, x-oss-credential, x-oss-date, x-oss-expires and x-oss-signature once each.",
        ));
    };
    if version != ALGORITHM {
        return Err(invalid_argument(
            "x-oss-signature-version must be OSS4-HMAC-SHA256.",
        ));
    }
    let Some((ak, date, region)) = parse_scope(&credential) else {
        return Err(invalid_argument("Malformed x-oss-credential."));
    };
    if region != inner.region {
        return Err(invalid_argument(
            "Invalid signing region in x-oss-credential.",
        ));
    }
    check_window(inner, date, &datetime, &expires)?;
    let token = get("x-oss-security-token");
    let signer = resolve_key(inner, ak, token.as_deref())?;
    let additional = get("x-oss-additional-headers").unwrap_or_default();
    let canonical = canonical_request(req, &inner.bucket, &additional);
    let string_to_sign = string_to_sign(&datetime, date, region, &canonical);
    let expected = v4_sign(&signer.secret, date, region, &string_to_sign);
    if !ct_eq(expected.as_bytes(), signature.as_bytes()) {
        return Err(signature_mismatch());
    }
    Ok(signer)
}

/// `x-oss-date` well-formed, on the scope's date, not more than the skew ahead; `x-oss-expires`
/// a whole number of seconds within 1..=604800, not yet elapsed.
fn check_window(inner: &Inner, date: &str, datetime: &str, expires: &str) -> Result<(), OssError> {
    let Some(signed_at) = parse_v4_datetime(datetime) else {
        return Err(invalid_argument("x-oss-date is malformed."));
    };
    if !datetime.starts_with(date) {
        return Err(invalid_argument(
            "x-oss-date does not match the credential date.",
        ));
    }
    let seconds = expires
        .parse::<i64>()
        .ok()
        .filter(|s| (1..=MAX_EXPIRES_SECONDS).contains(s) && !expires.starts_with('+'))
        .ok_or_else(|| invalid_argument("x-oss-expires must be 1 to 604800 seconds."))?;
    let now = inner.clock.now();
    if signed_at - now > Duration::seconds(MAX_SKEW_SECONDS) {
        return Err(access_denied("Request is not yet valid."));
    }
    if now > signed_at + Duration::seconds(seconds) {
        return Err(access_denied("Request has expired."));
    }
    Ok(())
}

/// The canonical request of a presigned request to `bucket`, from what arrived.
fn canonical_request(req: &HttpRequest, bucket: &str, additional: &str) -> String {
    let path = percent_decode(req.uri().path()).unwrap_or_default();
    let object = path
        .strip_prefix('/')
        .and_then(|p| p.split_once('/'))
        .map(|(_, k)| k.to_owned())
        .unwrap_or_default();
    let canonical_uri = percent_encode_path(&format!("/{bucket}/{object}"));
    let signed_query: Vec<&str> = req
        .query_string()
        .split('&')
        .filter(|p| p.split('=').next() != Some("x-oss-signature"))
        .collect();
    format!(
        "{}\n{canonical_uri}\n{}\n{}\n{additional}\nUNSIGNED-PAYLOAD",
        req.method().as_str(),
        canonical_query(&signed_query.join("&")),
        canonical_headers(req, additional)
    )
}

fn string_to_sign(datetime: &str, date: &str, region: &str, canonical: &str) -> String {
    format!(
        "{ALGORITHM}\n{datetime}\n{date}/{region}/oss/aliyun_v4_request\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    // Published vector TestV4AuthQueryToken of aliyun/alibabacloud-oss-go-sdk-v2
    // oss/signer/signer_test.go (protocol.md §16.1): ak "ak", sk "sk", PUT to bucket "bucket",
    // key "1234+-/123/1.txt", signed at 20231217T035628Z for 599 s with token "token".
    const VECTOR_QUERY: &str = "param1=value1&%2Bparam1=value3&%7Cparam1=value4&%2Bparam2&%7Cparam2&param2&x-oss-credential=ak%2F20231217%2Fcn-hangzhou%2Foss%2Faliyun_v4_request&x-oss-date=20231217T035628Z&x-oss-expires=599&x-oss-security-token=token&x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-signature=3817ac9d206cd6dfc90f1c09c00be45005602e55898f26f5ddb06d7892e1f8b5";

    fn vector_request() -> HttpRequest {
        TestRequest::put()
            .uri(&format!("/bucket/1234%2B-/123/1.txt?{VECTOR_QUERY}"))
            .insert_header(("x-oss-head1", "value"))
            .insert_header(("abc", "value"))
            .insert_header(("ZAbc", "value"))
            .insert_header(("XYZ", "value"))
            .insert_header(("content-type", "application/octet-stream"))
            .to_http_request()
    }

    #[test]
    fn the_published_query_vector_verifies() {
        let req = vector_request();
        let canonical = canonical_request(&req, "bucket", "");
        // The canonical request of this vector, as recomputed independently.
        assert_eq!(
            canonical,
            "PUT\n/bucket/1234%2B-/123/1.txt\n%2Bparam1=value3&%2Bparam2&%7Cparam1=value4&%7Cparam2&param1=value1&param2&x-oss-credential=ak%2F20231217%2Fcn-hangzhou%2Foss%2Faliyun_v4_request&x-oss-date=20231217T035628Z&x-oss-expires=599&x-oss-security-token=token&x-oss-signature-version=OSS4-HMAC-SHA256\ncontent-type:application/octet-stream\nx-oss-head1:value\n\n\nUNSIGNED-PAYLOAD"
        );
        let sts = string_to_sign("20231217T035628Z", "20231217", "cn-hangzhou", &canonical);
        assert_eq!(
            v4_sign("sk", "20231217", "cn-hangzhou", &sts),
            param(VECTOR_QUERY, "x-oss-signature").unwrap()
        );
        assert!(is_presigned(VECTOR_QUERY));
        assert!(!is_presigned("uploadId=1&partNumber=2"));
    }

    #[test]
    fn a_repeated_parameter_is_not_read() {
        assert_eq!(param("a=1&b=2", "a").as_deref(), Some("1"));
        assert_eq!(param("a=1&a=2", "a"), None);
        assert_eq!(param("b=2", "a"), None);
    }
}
