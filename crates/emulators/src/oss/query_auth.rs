//! Signatures carried in the URL (presigned URLs, protocol.md §16): OSS V4
//! (`x-oss-signature-version=OSS4-HMAC-SHA256`, §16.1) and V1 (`OSSAccessKeyId`, `Expires`,
//! `Signature`, §16.2). Each is checked as strictly as OSS does: the parameters' shape, the
//! scope's region and date, the validity window (§16.3), the key and its STS token
//! (`super::access`), then the signature recomputed from what arrived. The emulator's own code,
//! never the broker's; it never logs a parameter value, a secret or a signature.

use actix_web::HttpRequest;
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest as _, Sha256};

use crate::common::{ct_eq, hmac_sha1_base64, percent_decode, percent_encode_path};

use super::access::{resolve_key, Signer};
use super::errors::{access_denied, invalid_argument, signature_mismatch, OssError};
use super::header_auth::{canonical_headers, canonical_query};
use super::v4::{parse_scope, parse_v4_datetime, v4_sign, ALGORITHM, MAX_SKEW_SECONDS};
use super::{header, Inner};

/// The longest `x-oss-expires` OSS accepts: 7 days (protocol.md §16.3).
pub(super) const MAX_V4_EXPIRES_SECONDS: i64 = 604_800;

/// V1 sub-resources that are signed (protocol.md §16.2); every `x-oss-*` parameter is too.
const V1_SIGNED_SUBRESOURCES: [&str; 30] = [
    "acl",
    "append",
    "bucketInfo",
    "callback",
    "callback-var",
    "cloudboxes",
    "continuation-token",
    "delete",
    "location",
    "objectMeta",
    "partNumber",
    "position",
    "regionList",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "security-token",
    "sequential",
    "stat",
    "symlink",
    "tagging",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
];

/// The request's query, decoded (`+` as a space, as forms write it); a malformed escape is
/// refused.
pub(super) fn decoded_query(query_string: &str) -> Result<Vec<(String, String)>, OssError> {
    query_string
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| {
                percent_decode(&s.replace('+', " "))
                    .ok_or_else(|| invalid_argument("Malformed query string."))
            };
            Ok((dec(k)?, dec(v)?))
        })
        .collect()
}

/// The one value of `name`; `None` when absent, an error when given twice.
pub(super) fn single<'q>(
    query: &'q [(String, String)],
    name: &str,
) -> Result<Option<&'q str>, OssError> {
    let mut values = query.iter().filter(|(k, _)| k == name).map(|(_, v)| v);
    let first = values.next();
    if values.next().is_some() {
        return Err(invalid_argument(format!("{name} is given more than once.")));
    }
    Ok(first.map(String::as_str))
}

/// Which key signed the URL, when the query carries a signature: V4 when it names
/// `x-oss-signature-version`, V1 when it has any of `OSSAccessKeyId`, `Signature`, `Expires`;
/// `None` when it carries none. `key` is the decoded object key.
pub(super) fn verify_query_auth(
    req: &HttpRequest,
    inner: &Inner,
    key: &str,
    query: &[(String, String)],
) -> Result<Option<Signer>, OssError> {
    let names = |list: &[&str]| query.iter().any(|(k, _)| list.contains(&k.as_str()));
    let v4 = names(&[
        "x-oss-signature-version",
        "x-oss-signature",
        "x-oss-credential",
    ]);
    let v1 = names(&["OSSAccessKeyId", "Signature", "Expires"]);
    if (v4 || v1) && header(req, "authorization").is_some() {
        return Err(invalid_argument(
            "Only one authentication method may be used: the query or the Authorization header.",
        ));
    }
    match (v4, v1) {
        (true, true) => Err(invalid_argument(
            "A URL is signed with V1 or V4 parameters, never both.",
        )),
        (true, false) => verify_v4(req, inner, key, query).map(Some),
        (false, true) => verify_v1(req, inner, key, query).map(Some),
        (false, false) => Ok(None),
    }
}

/// The V4 query parameters, checked for presence and shape.
struct V4Params<'q> {
    ak: &'q str,
    date: &'q str,
    region: &'q str,
    datetime: &'q str,
    signed_at: DateTime<Utc>,
    expires: i64,
    token: Option<&'q str>,
    additional: &'q str,
    signature: &'q str,
}

fn v4_params(query: &[(String, String)]) -> Result<V4Params<'_>, OssError> {
    let required = |name: &str| {
        single(query, name)?.ok_or_else(|| invalid_argument(format!("{name} is required.")))
    };
    if required("x-oss-signature-version")? != ALGORITHM {
        return Err(invalid_argument(
            "x-oss-signature-version must be OSS4-HMAC-SHA256.",
        ));
    }
    let Some((ak, date, region)) = parse_scope(required("x-oss-credential")?) else {
        return Err(invalid_argument("Malformed x-oss-credential."));
    };
    let datetime = required("x-oss-date")?;
    let Some(signed_at) = parse_v4_datetime(datetime) else {
        return Err(invalid_argument("x-oss-date is malformed."));
    };
    if !datetime.starts_with(date) {
        return Err(invalid_argument(
            "x-oss-date does not match the credential date.",
        ));
    }
    let expires = required("x-oss-expires")?;
    let expires = parse_seconds(expires)
        .filter(|s| (1..=MAX_V4_EXPIRES_SECONDS).contains(s))
        .ok_or_else(|| {
            invalid_argument("x-oss-expires must be 1 to 604800 seconds.").with_ec("0002-00000070")
        })?;
    Ok(V4Params {
        ak,
        date,
        region,
        datetime,
        signed_at,
        expires,
        token: single(query, "x-oss-security-token")?,
        additional: single(query, "x-oss-additional-headers")?.unwrap_or(""),
        signature: required("x-oss-signature")?,
    })
}

/// Plain decimal digits only (no sign, no spaces), as a number of seconds.
fn parse_seconds(raw: &str) -> Option<i64> {
    (!raw.is_empty() && raw.len() <= 12 && raw.bytes().all(|b| b.is_ascii_digit()))
        .then(|| raw.parse().ok())
        .flatten()
}

fn expired() -> OssError {
    access_denied("Request has expired.").with_ec("0002-00000069")
}

fn verify_v4(
    req: &HttpRequest,
    inner: &Inner,
    key: &str,
    query: &[(String, String)],
) -> Result<Signer, OssError> {
    let p = v4_params(query)?;
    if p.region != inner.region {
        return Err(invalid_argument(
            "Invalid signing region in x-oss-credential.",
        ));
    }
    let now = inner.clock.now();
    // protocol.md §16.3: usable from 15 minutes before x-oss-date to x-oss-expires after it.
    if now < p.signed_at - Duration::seconds(MAX_SKEW_SECONDS) {
        return Err(access_denied("The request is not yet valid.").with_ec("0002-00000235"));
    }
    if now > p.signed_at + Duration::seconds(p.expires) {
        return Err(expired());
    }
    let signer = resolve_key(inner, p.ak, p.token)?;
    let unsigned_query = without_signature(req.query_string());
    let payload = header(req, "x-oss-content-sha256").unwrap_or_else(|| "UNSIGNED-PAYLOAD".into());
    let canonical = format!(
        "{}\n{}\n{}\n{}\n{}\n{payload}",
        req.method().as_str(),
        percent_encode_path(&format!("/{}/{key}", inner.bucket)),
        canonical_query(&unsigned_query),
        canonical_headers(req, p.additional),
        p.additional,
    );
    let string_to_sign = format!(
        "{ALGORITHM}\n{}\n{}/{}/oss/aliyun_v4_request\n{}",
        p.datetime,
        p.date,
        p.region,
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let expected = v4_sign(&signer.secret, p.date, p.region, &string_to_sign);
    if !ct_eq(expected.as_bytes(), p.signature.as_bytes()) {
        return Err(signature_mismatch());
    }
    Ok(signer)
}

/// The raw query string without its `x-oss-signature` parameter(s).
fn without_signature(query_string: &str) -> String {
    query_string
        .split('&')
        .filter(|p| {
            let name = p.split_once('=').map_or(*p, |(k, _)| k);
            percent_decode(name).as_deref() != Some("x-oss-signature")
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn verify_v1(
    req: &HttpRequest,
    inner: &Inner,
    key: &str,
    query: &[(String, String)],
) -> Result<Signer, OssError> {
    let required = |name: &str| {
        single(query, name)?.ok_or_else(|| invalid_argument(format!("{name} is required.")))
    };
    let ak = required("OSSAccessKeyId")?;
    let signature = required("Signature")?;
    let expires_raw = required("Expires")?;
    let expires = parse_seconds(expires_raw)
        .ok_or_else(|| invalid_argument("Expires is malformed.").with_ec("0002-00000070"))?;
    if inner.clock.now().timestamp() > expires {
        return Err(expired());
    }
    let signer = resolve_key(inner, ak, single(query, "security-token")?)?;
    let string_to_sign = v1_string_to_sign(req, inner, key, expires_raw, query);
    let expected = hmac_sha1_base64(signer.secret.as_bytes(), string_to_sign.as_bytes());
    if !ct_eq(expected.as_bytes(), signature.as_bytes()) {
        return Err(signature_mismatch());
    }
    Ok(signer)
}

/// protocol.md §16.2: the V1 string to sign, with `Expires` in place of the date.
fn v1_string_to_sign(
    req: &HttpRequest,
    inner: &Inner,
    key: &str,
    expires: &str,
    query: &[(String, String)],
) -> String {
    let mut oss_headers: Vec<String> = req
        .headers()
        .keys()
        .map(|n| n.as_str().to_ascii_lowercase())
        .filter(|n| n.starts_with("x-oss-"))
        .collect();
    oss_headers.sort();
    oss_headers.dedup();
    let canonical_headers: String = oss_headers
        .iter()
        .map(|name| {
            let values: Vec<String> = (req.headers().get_all(name.as_str()))
                .filter_map(|v| v.to_str().ok().map(|s| s.trim().to_owned()))
                .collect();
            format!("{name}:{}\n", values.join(","))
        })
        .collect();
    let mut signed: Vec<&(String, String)> = query
        .iter()
        .filter(|(k, _)| V1_SIGNED_SUBRESOURCES.contains(&k.as_str()) || k.starts_with("x-oss-"))
        .collect();
    signed.sort();
    let subresources: Vec<String> = signed
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                k.clone()
            } else {
                format!("{k}={v}")
            }
        })
        .collect();
    let mut resource = format!("/{}/{key}", inner.bucket);
    if !subresources.is_empty() {
        resource.push('?');
        resource.push_str(&subresources.join("&"));
    }
    format!(
        "{}\n{}\n{}\n{expires}\n{canonical_headers}{resource}",
        req.method().as_str(),
        header(req, "content-md5").unwrap_or_default(),
        header(req, "content-type").unwrap_or_default(),
    )
}

#[cfg(test)]
#[path = "query_auth_tests.rs"]
mod tests;
