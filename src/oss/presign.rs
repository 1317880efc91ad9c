//! Pure OSS V4 presigned URLs (`x-oss-signature-version=OSS4-HMAC-SHA256` in the query,
//! protocol.md §16.1): the signing query → canonical request → string to sign → signature → URL,
//! each a separate stage, for any method (GET downloads, PUT parts with `partNumber`/`uploadId`).
//! The canonical request and string to sign are those of V4 header signing
//! (`super::header_signer`), the key derivation that of `super::post_signer`. No I/O, no clock
//! (the signing time is given), no decision about who may sign what; secrets are only borrowed.

use std::fmt;

use chrono::{DateTime, Duration, Utc};

use crate::encoding::percent_encode_path;
use crate::oss::header_signer::{
    canonical_headers, canonical_query, canonical_request, string_to_sign, SignableRequest,
};
use crate::oss::post_signer::{
    v4_credential, v4_date, v4_datetime, v4_scope, v4_signature, v4_signing_key, V4_ALGORITHM,
};

/// The longest validity OSS accepts in `x-oss-expires`: 7 days (protocol.md §16.1).
pub const MAX_EXPIRES_SECONDS: u32 = 604_800;

/// The query parameters the signer writes itself; extra parameters may not use these names.
const SIGNING_PARAMETERS: [&str; 7] = [
    "x-oss-signature-version",
    "x-oss-credential",
    "x-oss-date",
    "x-oss-expires",
    "x-oss-additional-headers",
    "x-oss-security-token",
    "x-oss-signature",
];

/// What a presigned URL is for.
#[derive(Debug, Clone, Copy)]
pub struct PresignRequest<'a> {
    /// `GET`, `PUT`, ... as the client will send it.
    pub method: &'a str,
    pub bucket: &'a str,
    pub key: &'a str,
    /// Extra query parameters, decoded, all signed (`x-oss-process`,
    /// `response-content-disposition`, `partNumber`, `uploadId`); an empty value is a bare
    /// parameter.
    pub query: &'a [(String, String)],
    /// Headers the client will send that OSS signs when present (`content-type`, `content-md5`,
    /// `x-oss-*`), plus those named in `additional_headers`. The client must send exactly these.
    pub headers: &'a [(String, String)],
    /// Further headers to sign (`x-oss-additional-headers`); those absent from `headers` or
    /// signed anyway are dropped.
    pub additional_headers: &'a [&'a str],
}

/// The key that signs: a temporary credential (with its token) or a long-term key.
#[derive(Clone, Copy)]
pub struct PresignKey<'a> {
    pub access_key_id: &'a str,
    pub secret: &'a str,
    pub security_token: Option<&'a str>,
}

impl fmt::Debug for PresignKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PresignKey")
            .field("access_key_id", &self.access_key_id)
            .field("secret", &"<redacted>")
            .field("security_token", &self.security_token.map(|_| "<redacted>"))
            .finish()
    }
}

/// When the URL is signed (`x-oss-date`, the start of its validity) and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Validity {
    pub signed_at: DateTime<Utc>,
    /// `x-oss-expires`: seconds from `signed_at`, 1 to [`MAX_EXPIRES_SECONDS`].
    pub expires: u32,
}

impl Validity {
    /// The last second the URL works.
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.signed_at + Duration::seconds(i64::from(self.expires))
    }
}

/// Why nothing was signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PresignError {
    #[error("x-oss-expires must be 1 to {MAX_EXPIRES_SECONDS} seconds, not {0}")]
    ExpiresOutOfRange(u32),
    #[error("the query parameter `{0}` is written by the signer itself")]
    ReservedParameter(String),
}

/// A signed URL and the moment it stops working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedUrl {
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// Stage 1: every query parameter of the URL but `x-oss-signature`: the request's own, then the
/// signing parameters (protocol.md §16.1). Refuses a validity OSS would refuse and extra
/// parameters that would shadow a signing one.
pub fn signing_query(
    req: &PresignRequest<'_>,
    key: &PresignKey<'_>,
    region: &str,
    validity: Validity,
) -> Result<Vec<(String, String)>, PresignError> {
    if !(1..=MAX_EXPIRES_SECONDS).contains(&validity.expires) {
        return Err(PresignError::ExpiresOutOfRange(validity.expires));
    }
    if let Some((name, _)) = req
        .query
        .iter()
        .find(|(name, _)| SIGNING_PARAMETERS.contains(&name.to_ascii_lowercase().as_str()))
    {
        return Err(PresignError::ReservedParameter(name.clone()));
    }
    let date = v4_date(validity.signed_at);
    let mut query = req.query.to_vec();
    let mut add = |name: &str, value: String| query.push((name.to_owned(), value));
    add("x-oss-signature-version", V4_ALGORITHM.to_owned());
    add(
        "x-oss-credential",
        v4_credential(key.access_key_id, &date, region),
    );
    add("x-oss-date", v4_datetime(validity.signed_at));
    add("x-oss-expires", validity.expires.to_string());
    let (_, additional) = canonical_headers(req.headers, req.additional_headers);
    if !additional.is_empty() {
        add("x-oss-additional-headers", additional);
    }
    if let Some(token) = key.security_token {
        add("x-oss-security-token", token.to_owned());
    }
    Ok(query)
}

/// Stage 2: the canonical request over the full signing query, with `UNSIGNED-PAYLOAD`.
pub fn presign_canonical_request(req: &PresignRequest<'_>, query: &[(String, String)]) -> String {
    canonical_request(&SignableRequest {
        method: req.method,
        bucket: Some(req.bucket),
        key: Some(req.key),
        query,
        headers: req.headers,
        additional_headers: req.additional_headers,
    })
}

/// Stages 3 and 4: the string to sign and `x-oss-signature` (lower hex).
pub fn presign_signature(
    secret: &str,
    region: &str,
    signed_at: DateTime<Utc>,
    canonical_request: &str,
) -> String {
    let signing_key = v4_signing_key(secret, &v4_date(signed_at), region);
    signature_with_key(&signing_key, region, signed_at, canonical_request)
}

/// As [`presign_signature`] with the day's signing key already derived (one derivation serves
/// every URL a credential signs on that day in that region).
pub fn signature_with_key(
    signing_key: &[u8; 32],
    region: &str,
    signed_at: DateTime<Utc>,
    canonical_request: &str,
) -> String {
    let to_sign = string_to_sign(
        &v4_datetime(signed_at),
        &v4_scope(&v4_date(signed_at), region),
        canonical_request,
    );
    v4_signature(signing_key, &to_sign)
}

/// The signing key of `key` for the day of `signed_at` in `region`, for [`presign_with_key`].
pub fn signing_key(key: &PresignKey<'_>, region: &str, signed_at: DateTime<Utc>) -> [u8; 32] {
    v4_signing_key(key.secret, &v4_date(signed_at), region)
}

/// Stage 5: `<base>/<key>?<signing query>&x-oss-signature=<signature>`. `base` is where the
/// bucket's objects are served, without a trailing `/`: the virtual-hosted
/// `https://<bucket>.oss-<region>.aliyuncs.com`, a custom domain or CDN in front of the bucket,
/// or a path-style `http://127.0.0.1:<port>/<bucket>`. The path carries the key encoded as the
/// canonical URI does (only unreserved characters and `/` stay).
pub fn presigned_url(base: &str, key: &str, query: &[(String, String)], signature: &str) -> String {
    format!(
        "{}/{}?{}&x-oss-signature={signature}",
        base.trim_end_matches('/'),
        percent_encode_path(key),
        canonical_query(query)
    )
}

/// All stages: the URL for `req`, signed with `key` in `region`, served under `base`.
pub fn presign(
    req: &PresignRequest<'_>,
    key: &PresignKey<'_>,
    region: &str,
    validity: Validity,
    base: &str,
) -> Result<PresignedUrl, PresignError> {
    let signing_key = signing_key(key, region, validity.signed_at);
    presign_with_key(req, key, &signing_key, region, validity, base)
}

/// As [`presign`], with `signing_key` from [`signing_key`] for the same key, day and region.
pub fn presign_with_key(
    req: &PresignRequest<'_>,
    key: &PresignKey<'_>,
    signing_key: &[u8; 32],
    region: &str,
    validity: Validity,
    base: &str,
) -> Result<PresignedUrl, PresignError> {
    let query = signing_query(req, key, region, validity)?;
    let canonical = presign_canonical_request(req, &query);
    let signature = signature_with_key(signing_key, region, validity.signed_at, &canonical);
    Ok(PresignedUrl {
        url: presigned_url(base, req.key, &query, &signature),
        expires_at: validity.expires_at(),
    })
}

#[cfg(test)]
#[path = "presign_tests.rs"]
mod tests;
