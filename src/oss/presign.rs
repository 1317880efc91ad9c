//! Pure OSS V4 presigned URLs (`x-oss-signature-version=OSS4-HMAC-SHA256` in the query,
//! protocol.md §16.1): the signing query → canonical request → string to sign → signature → URL,
//! each a separate stage, for any method (GET downloads, PUT parts with `partNumber`/`uploadId`).
//! The canonical request and string to sign are those of V4 header signing
//! (`super::header_signer`), the key derivation that of `super::post_signer`. No I/O, no clock
//! (the signing time is given), no decision about who may sign what; secrets are only borrowed.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::{Digest as _, Sha256};

use crate::encoding::{percent_encode, percent_encode_into, percent_encode_path};
use crate::oss::header_signer::{
    canonical_headers, canonical_query, canonical_request, string_to_sign, SignableRequest,
    UNSIGNED_PAYLOAD,
};
use crate::oss::post_signer::{
    v4_credential, v4_date, v4_datetime, v4_scope, v4_signature, v4_signing_key,
    v4_signing_key_reused, V4_ALGORITHM, V4_PRODUCT, V4_REQUEST,
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

/// What OSS would refuse: a validity out of range, an extra parameter shadowing a signing one.
fn check(req: &PresignRequest<'_>, validity: Validity) -> Result<(), PresignError> {
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
    Ok(())
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
    check(req, validity)?;
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

/// A key ready to sign many URLs: the security token percent-encoded once (held beside the
/// credential, not redone per URL) and the day's signing key reused per thread.
#[derive(Clone, Copy)]
pub struct PreparedKey<'a> {
    pub access_key_id: &'a str,
    pub secret: &'a str,
    /// `x-oss-security-token` as the query carries it: [`percent_encode`] of the token.
    pub encoded_token: Option<&'a str>,
}

impl fmt::Debug for PreparedKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedKey")
            .field("access_key_id", &self.access_key_id)
            .field("secret", &"<redacted>")
            .field("encoded_token", &self.encoded_token.map(|_| "<redacted>"))
            .finish()
    }
}

/// The value of `x-oss-credential`, encoded: `<id>%2F<date>%2F<region>%2Foss%2Faliyun_v4_request`.
fn encoded_credential(access_key_id: &str, date: &str, region: &str) -> String {
    let mut out = String::with_capacity(access_key_id.len() + region.len() + 48);
    for (i, part) in [access_key_id, date, region, V4_PRODUCT, V4_REQUEST]
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            out.push_str("%2F");
        }
        percent_encode_into(&mut out, part);
    }
    out
}

/// [`percent_encode`] without a copy when nothing needs encoding (`partNumber`, most values).
fn encoded(s: &str) -> Cow<'_, str> {
    if s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
    {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(percent_encode(s))
    }
}

/// The same URL as [`presign`] (the same stages, the official vectors check both), built for
/// speed: the query encoded and sorted once and written straight into the URL, the canonical
/// request hashed piece by piece instead of being written out, the string to sign fed to the
/// HMAC the same way, the token taken already encoded and the signing key reused.
pub fn presign_prepared(
    req: &PresignRequest<'_>,
    key: &PreparedKey<'_>,
    region: &str,
    validity: Validity,
    base: &str,
) -> Result<PresignedUrl, PresignError> {
    check(req, validity)?;
    let date_time = v4_datetime(validity.signed_at);
    let date = &date_time[..8];
    let (headers, additional) = if req.headers.is_empty() {
        (String::new(), String::new())
    } else {
        canonical_headers(req.headers, req.additional_headers)
    };
    let mut pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> = Vec::with_capacity(req.query.len() + 6);
    pairs.extend(req.query.iter().map(|(k, v)| (encoded(k), encoded(v))));
    let credential = encoded_credential(key.access_key_id, date, region);
    let expires = validity.expires.to_string();
    let signing = [
        ("x-oss-signature-version", V4_ALGORITHM),
        ("x-oss-credential", &credential),
        ("x-oss-date", &date_time),
        ("x-oss-expires", &expires),
    ];
    pairs.extend(signing.map(|(k, v)| (Cow::Borrowed(k), Cow::Borrowed(v))));
    if !additional.is_empty() {
        pairs.push(("x-oss-additional-headers".into(), encoded(&additional)));
    }
    if let Some(token) = key.encoded_token {
        pairs.push(("x-oss-security-token".into(), token.into()));
    }
    pairs.sort_unstable();
    let base = base.trim_end_matches('/');
    let query_len: usize = pairs.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
    let mut url = String::with_capacity(base.len() + req.key.len() * 3 + query_len + 96);
    url.push_str(base);
    let path_start = url.len();
    url.push('/');
    crate::encoding::percent_encode_path_into(&mut url, req.key);
    let query_start = url.len() + 1;
    for (i, (name, value)) in pairs.iter().enumerate() {
        url.push(if i == 0 { '?' } else { '&' });
        url.push_str(name);
        if !value.is_empty() {
            url.push('=');
            url.push_str(value);
        }
    }
    let canonical = CanonicalParts {
        method: req.method,
        bucket: req.bucket,
        path: &url[path_start..query_start - 1],
        query: &url[query_start..],
        headers: &headers,
        additional: &additional,
        payload: payload_hash(req.headers),
    };
    let signing_key = v4_signing_key_reused(key.secret, date, region);
    let signature = canonical.signature(&signing_key, &date_time, region);
    url.push_str("&x-oss-signature=");
    url.push_str(std::str::from_utf8(&signature).expect("hex digits are ASCII"));
    Ok(PresignedUrl {
        url,
        expires_at: validity.expires_at(),
    })
}

/// `x-oss-content-sha256` when the client sends it, else `UNSIGNED-PAYLOAD`.
fn payload_hash(headers: &[(String, String)]) -> &str {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("x-oss-content-sha256"))
        .map_or(UNSIGNED_PAYLOAD, |(_, v)| v.as_str())
}

/// The canonical request of [`presign_canonical_request`], in the pieces a URL already holds.
struct CanonicalParts<'a> {
    method: &'a str,
    bucket: &'a str,
    /// The key's path as the URL carries it: `/` and the encoded key.
    path: &'a str,
    query: &'a str,
    headers: &'a str,
    additional: &'a str,
    payload: &'a str,
}

impl CanonicalParts<'_> {
    /// `x-oss-signature` in lower hex: the string to sign over the hash of the canonical
    /// request (stages 2 to 4), neither written out whole.
    fn signature(&self, signing_key: &[u8; 32], date_time: &str, region: &str) -> [u8; 64] {
        let mut hash = Sha256::new();
        hash.update(self.method);
        hash.update("\n/");
        hash.update(encoded_path_part(self.bucket).as_bytes());
        hash.update("/");
        hash.update(self.path.strip_prefix('/').unwrap_or(self.path));
        for part in [self.query, self.headers, self.additional, self.payload] {
            hash.update("\n");
            hash.update(part);
        }
        let mut mac =
            Hmac::<Sha256>::new_from_slice(signing_key).expect("HMAC accepts keys of any length");
        for part in [
            V4_ALGORITHM,
            "\n",
            date_time,
            "\n",
            &date_time[..8],
            "/",
            region,
            "/",
        ] {
            mac.update(part.as_bytes());
        }
        for part in [V4_PRODUCT, "/", V4_REQUEST, "\n"] {
            mac.update(part.as_bytes());
        }
        mac.update(&hex_lower(&hash.finalize().into()));
        hex_lower(&mac.finalize().into_bytes().into())
    }
}

/// The bucket as the canonical URI carries it (bucket names need no encoding; kept general).
fn encoded_path_part(s: &str) -> Cow<'_, str> {
    if s.bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(percent_encode_path(s))
    }
}

fn hex_lower(bytes: &[u8; 32]) -> [u8; 64] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 64];
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = DIGITS[usize::from(b >> 4)];
        out[2 * i + 1] = DIGITS[usize::from(b & 0x0f)];
    }
    out
}

#[cfg(test)]
#[path = "presign_tests.rs"]
mod tests;
