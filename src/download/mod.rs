//! Signed download URLs (`/getObjectUrl`, `/getObjectUrls`): a profile's download settings, who
//! may read which key (the caller's own directory and the profile's extra read prefixes, whole
//! segments only, after the key rules of `object_key`), which `x-oss-process` values are
//! signed, how long a URL lives (never beyond the signing credential), and the URL itself
//! (`oss::presign`). Pure decisions: the credential and the clock reading are given, nothing
//! here does I/O, and a URL's signature is never logged or put into an error.

pub mod prefix;

use chrono::{DateTime, Utc};

use crate::object_key::{first_holding, validate_key, KeyError};
use crate::oss::disposition::attachment;
use crate::oss::presign::{
    presign_prepared, PreparedKey, PresignError, PresignRequest, Validity, MAX_EXPIRES_SECONDS,
};
pub use prefix::ReadPrefix;

/// A URL's life when the caller names none.
pub const DEFAULT_EXPIRES_SECONDS: u32 = 900;
/// `BROKER_DOWNLOAD_MAX_EXPIRES_SECONDS` when unset.
pub const DEFAULT_MAX_EXPIRES_SECONDS: u32 = 3600;
/// Keys one `/getObjectUrls` may name.
pub const MAX_KEYS_PER_REQUEST: usize = 100;
/// The longest `process` value accepted in configuration.
const MAX_PROCESS_CHARS: usize = 1024;

/// One profile's downloads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadSettings {
    /// `own` (true) or `off`.
    pub enabled: bool,
    /// Read prefixes besides the caller's own directory.
    pub prefixes: Vec<ReadPrefix>,
    /// The longest life a URL may be given, 1 to 604800 seconds.
    pub max_expires_seconds: u32,
    /// The `x-oss-process` values callers may ask for, exactly as written.
    pub processes: Vec<String>,
    /// Where URLs point (a custom domain or CDN), without a trailing `/`; `None`: the upload
    /// host.
    pub host: Option<String>,
}

impl Default for DownloadSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            prefixes: Vec::new(),
            max_expires_seconds: DEFAULT_MAX_EXPIRES_SECONDS,
            processes: Vec::new(),
            host: None,
        }
    }
}

/// `BROKER_DOWNLOADS`: `own` → true, `off` → false.
pub fn parse_enabled(raw: &str) -> Result<bool, String> {
    match raw.trim() {
        "own" => Ok(true),
        "off" => Ok(false),
        _ => Err(
            "must be `own` (callers read their own directory and the read prefixes) or `off`"
                .into(),
        ),
    }
}

/// `BROKER_DOWNLOAD_MAX_EXPIRES_SECONDS`: 1 to 604800 (protocol.md §16.3).
pub fn parse_max_expires(raw: &str) -> Result<u32, String> {
    raw.trim()
        .parse::<u32>()
        .ok()
        .filter(|s| (1..=MAX_EXPIRES_SECONDS).contains(s))
        .ok_or_else(|| {
            format!("must be a number of seconds from 1 to {MAX_EXPIRES_SECONDS} (7 days)")
        })
}

/// `BROKER_DOWNLOAD_PROCESSES`: values separated by spaces (the values themselves contain
/// commas), each visible ASCII without spaces, e.g. `image/resize,w_200 style/thumb`.
pub fn parse_processes(raw: &str) -> Result<Vec<String>, String> {
    let list: Vec<String> = raw.split_whitespace().map(str::to_owned).collect();
    match list.iter().find(|p| !is_process_value(p)) {
        Some(bad) => Err(format!(
            "`{bad}` is not an x-oss-process value: visible ASCII, at most {MAX_PROCESS_CHARS} characters, e.g. image/resize,w_200"
        )),
        None => Ok(list),
    }
}

/// Visible ASCII only, and no `&` or `#` that would end the value in a hand-written URL.
pub fn is_process_value(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_PROCESS_CHARS
        && value
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'&' && b != b'#')
}

/// Why no URL was signed. Messages never echo the key, the process value or a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DownloadError {
    /// `403 downloads-disabled`.
    #[error("downloads are off for this profile")]
    Disabled,
    /// `400 invalid-key`.
    #[error("invalid key: {0}")]
    InvalidKey(#[from] KeyError),
    /// `403 key-outside-prefix`.
    #[error("the key is outside the prefixes this caller may read")]
    KeyOutsidePrefix,
    /// `403 process-not-allowed`.
    #[error("this process value is not one the profile allows")]
    ProcessNotAllowed,
    /// `400 invalid-expires`.
    #[error("expires must be a whole number of seconds, at least 1")]
    InvalidExpires,
    /// The signing credential has (almost) run out; the caller may retry once it is renewed.
    #[error("the signing credential has expired")]
    CredentialExpired,
    /// A URL the signer refused to make (a bug: the life and parameters are checked above).
    #[error("could not sign: {0}")]
    Presign(#[from] PresignError),
}

/// What one URL is asked for.
#[derive(Debug, Clone, Copy)]
pub struct UrlRequest<'a> {
    pub key: &'a str,
    pub process: Option<&'a str>,
    pub filename: Option<&'a str>,
}

/// The prefixes a caller may read: its own directory first, then the profile's read prefixes
/// rendered for `sub`.
pub fn readable_prefixes(settings: &DownloadSettings, dir: &str, sub: &str) -> Vec<String> {
    std::iter::once(dir.to_owned())
        .chain(settings.prefixes.iter().map(|p| p.render(sub)))
        .collect()
}

/// The URL's life: `requested` seconds (`None`: [`DEFAULT_EXPIRES_SECONDS`]), capped by the
/// profile's maximum and 604800. Refuses anything but a whole number ≥ 1.
pub fn expires_seconds(
    settings: &DownloadSettings,
    requested: Option<&str>,
) -> Result<u32, DownloadError> {
    let wanted = match requested {
        None => DEFAULT_EXPIRES_SECONDS,
        // Any run of digits: a number too large for u32 is simply more than the cap.
        Some(raw) if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) => {
            if raw.bytes().all(|b| b == b'0') {
                return Err(DownloadError::InvalidExpires);
            }
            raw.parse::<u32>().unwrap_or(u32::MAX)
        }
        Some(_) => return Err(DownloadError::InvalidExpires),
    };
    Ok(wanted
        .min(settings.max_expires_seconds)
        .min(MAX_EXPIRES_SECONDS))
}

/// A request that passed every rule: the key and the extra signed query parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    pub key: String,
    pub query: Vec<(String, String)>,
}

/// Checks one request against the profile: downloads on, the key well-formed and under one of
/// `readable`, the process allowed; the filename becomes `response-content-disposition`.
pub fn allow(
    settings: &DownloadSettings,
    readable: &[String],
    req: &UrlRequest<'_>,
) -> Result<Allowed, DownloadError> {
    if !settings.enabled {
        return Err(DownloadError::Disabled);
    }
    validate_key(req.key)?;
    if first_holding(req.key, readable).is_none() {
        return Err(DownloadError::KeyOutsidePrefix);
    }
    let mut query = Vec::new();
    if let Some(process) = req.process.filter(|p| !p.is_empty()) {
        if !settings.processes.iter().any(|allowed| allowed == process) {
            return Err(DownloadError::ProcessNotAllowed);
        }
        query.push(("x-oss-process".to_owned(), process.to_owned()));
    }
    if let Some(disposition) = req.filename.and_then(attachment) {
        query.push(("response-content-disposition".to_owned(), disposition));
    }
    Ok(Allowed {
        key: req.key.to_owned(),
        query,
    })
}

/// The signing side: the profile's bucket and host, and the shared read credential.
#[derive(Debug, Clone, Copy)]
pub struct Signing<'a> {
    pub bucket: &'a str,
    pub region: &'a str,
    /// Where URLs point, without a trailing `/` (see `oss::presign::presigned_url`).
    pub host: &'a str,
    /// The read credential, its token already encoded (held with the credential).
    pub key: PreparedKey<'a>,
    pub credential_expires_at: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

impl Signing<'_> {
    /// `expires` cut so the URL ends no later than the credential (protocol.md §16.3).
    pub fn lifetime(&self, expires: u32) -> Result<u32, DownloadError> {
        let left = (self.credential_expires_at - self.now).num_seconds();
        let left = u32::try_from(left.max(0)).unwrap_or(u32::MAX);
        match expires.min(left) {
            0 => Err(DownloadError::CredentialExpired),
            n => Ok(n),
        }
    }

    /// The V4 presigned GET of `allowed`, living `lifetime` seconds from now.
    pub fn url(&self, allowed: &Allowed, lifetime: u32) -> Result<String, DownloadError> {
        let request = PresignRequest {
            method: "GET",
            bucket: self.bucket,
            key: &allowed.key,
            query: &allowed.query,
            headers: &[],
            additional_headers: &[],
        };
        let validity = Validity {
            signed_at: self.now,
            expires: lifetime,
        };
        let signed = presign_prepared(&request, &self.key, self.region, validity, self.host)?;
        Ok(signed.url)
    }

    /// The URLs of every one of `allowed`, in order (the signing key is derived once per
    /// credential and day on each thread, `oss::post_signer::v4_signing_key_reused`).
    pub fn urls(&self, allowed: &[Allowed], lifetime: u32) -> Result<Vec<String>, DownloadError> {
        allowed.iter().map(|a| self.url(a, lifetime)).collect()
    }
}

#[cfg(test)]
mod tests;
