//! OSS signature V4 in the `Authorization` header (protocol.md §5.5), as the bucket CORS API requires:
//! the header's shape, a credential scope for this region, an `x-oss-date` within the skew,
//! `x-oss-content-sha256`, the key and its STS token (`super::access`), then the canonical
//! request rebuilt from what arrived and its signature recomputed. Anonymous requests are
//! refused. It never logs the header, the secret or the signature.

use actix_web::HttpRequest;
use sha2::{Digest as _, Sha256};

use crate::common::{ct_eq, percent_decode, percent_encode, percent_encode_path};

use super::access::{resolve_key, Signer};
use super::errors::{
    access_denied, invalid_argument, signature_mismatch, time_too_skewed, OssError,
};
use super::v4::{parse_scope, parse_v4_datetime, v4_sign, ALGORITHM, MAX_SKEW_SECONDS};
use super::{header, Inner};

/// The parts of `Authorization: OSS4-HMAC-SHA256 Credential=…,AdditionalHeaders=…,Signature=…`.
struct Authorization {
    credential: String,
    additional: String,
    signature: String,
}

/// Verifies `Authorization: OSS4-HMAC-SHA256 ...` on a bucket request; returns the signer.
pub(super) fn verify_header_auth(req: &HttpRequest, inner: &Inner) -> Result<Signer, OssError> {
    let auth = parse_authorization(req)?;
    let Some((ak, date, region)) = parse_scope(&auth.credential) else {
        return Err(invalid_argument(
            "Malformed Credential in Authorization header.",
        ));
    };
    if region != inner.region {
        return Err(invalid_argument(
            "Invalid signing region in Authorization header.",
        ));
    }
    let datetime = check_request_time(req, inner, date)?;
    let Some(payload) = header(req, "x-oss-content-sha256") else {
        return Err(invalid_argument("x-oss-content-sha256 is required."));
    };
    let token = header(req, "x-oss-security-token");
    let signer = resolve_key(inner, ak, token.as_deref())?;

    let canonical = canonical_request(req, inner, &auth.additional, &payload);
    let string_to_sign = format!(
        "{ALGORITHM}\n{datetime}\n{date}/{region}/oss/aliyun_v4_request\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let expected = v4_sign(&signer.secret, date, region, &string_to_sign);
    if !ct_eq(expected.as_bytes(), auth.signature.as_bytes()) {
        return Err(signature_mismatch());
    }
    Ok(signer)
}

fn parse_authorization(req: &HttpRequest) -> Result<Authorization, OssError> {
    let Some(auth) = header(req, "authorization") else {
        return Err(access_denied(
            "AccessDenied: Anonymous access is forbidden for this operation.",
        ));
    };
    let Some(params) = auth.strip_prefix("OSS4-HMAC-SHA256 ") else {
        return Err(invalid_argument(
            "Authorization header must be OSS4-HMAC-SHA256.",
        ));
    };
    let mut credential = None;
    let mut additional = String::new();
    let mut signature = None;
    for item in params.split(',') {
        match item.trim().split_once('=') {
            Some(("Credential", v)) => credential = Some(v.to_owned()),
            Some(("AdditionalHeaders", v)) => additional = v.to_owned(),
            Some(("Signature", v)) => signature = Some(v.to_owned()),
            _ => return Err(invalid_argument("Malformed Authorization header.")),
        }
    }
    let (Some(credential), Some(signature)) = (credential, signature) else {
        return Err(invalid_argument("Malformed Authorization header."));
    };
    Ok(Authorization {
        credential,
        additional,
        signature,
    })
}

/// `x-oss-date`: well-formed, on the scope's `date`, within the skew of the emulator's clock;
/// returns it as sent.
fn check_request_time(req: &HttpRequest, inner: &Inner, date: &str) -> Result<String, OssError> {
    let datetime = header(req, "x-oss-date").unwrap_or_default();
    let Some(signed_at) = parse_v4_datetime(&datetime) else {
        return Err(invalid_argument("x-oss-date is missing or malformed."));
    };
    if !datetime.starts_with(date) {
        return Err(invalid_argument(
            "x-oss-date does not match the credential date.",
        ));
    }
    if (inner.clock.now() - signed_at).num_seconds().abs() > MAX_SKEW_SECONDS {
        return Err(time_too_skewed());
    }
    Ok(datetime)
}

/// The canonical request, from what arrived.
fn canonical_request(req: &HttpRequest, inner: &Inner, additional: &str, payload: &str) -> String {
    let path = percent_decode(req.uri().path()).unwrap_or_default();
    let object = path
        .strip_prefix('/')
        .and_then(|p| p.split_once('/'))
        .map(|(_, k)| k.to_owned())
        .unwrap_or_default();
    let canonical_uri = percent_encode_path(&format!("/{}/{object}", inner.bucket));
    format!(
        "{}\n{canonical_uri}\n{}\n{}\n{additional}\n{payload}",
        req.method().as_str(),
        canonical_query(req.query_string()),
        canonical_headers(req, additional)
    )
}

/// Decoded, re-encoded and sorted query parameters; a parameter without a value is its name.
pub(super) fn canonical_query(query_string: &str) -> String {
    let mut query: Vec<(String, String)> = query_string
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| percent_decode(&s.replace('+', " ")).unwrap_or_default();
            (percent_encode(&dec(k)), percent_encode(&dec(v)))
        })
        .collect();
    query.sort();
    query
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                k.clone()
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// `x-oss-*`, `content-type`, `content-md5` and the additional headers: lower-case, sorted,
/// each `name:values` line ending in a newline.
pub(super) fn canonical_headers(req: &HttpRequest, additional: &str) -> String {
    let extra: Vec<String> = additional
        .split(';')
        .filter(|h| !h.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let mut names: Vec<String> = req
        .headers()
        .keys()
        .map(|n| n.as_str().to_ascii_lowercase())
        .filter(|n| {
            n.starts_with("x-oss-")
                || n == "content-type"
                || n == "content-md5"
                || extra.contains(n)
        })
        .collect();
    names.sort();
    names.dedup();
    let mut canonical_headers = String::new();
    for name in &names {
        let values: Vec<String> = req
            .headers()
            .get_all(name.as_str())
            .filter_map(|v| v.to_str().ok().map(|s| s.trim().to_owned()))
            .collect();
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    canonical_headers
}
