//! Signed download URLs (`/getObjectUrl`, `/getObjectUrls`): every key is checked for the caller
//! (`crate::download`: its own directory and the profile's read prefixes) before anything is
//! signed or loaded, then all are signed with the profile's one shared read credential
//! ([`READS`]), so STS calls do not grow with callers. The routes only turn the result into JSON.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::{Grant, IssueError, Issuer};
use crate::cache::Outcome;
use crate::download::{
    allow, expires_seconds, readable_prefixes, Allowed, DownloadError, DownloadSettings, Signing,
    UrlRequest,
};
use crate::policy::CallerId;

/// The shared scope of the credential that signs download URLs.
pub const READS: &str = "reads";

/// The profile's facts a URL is made from.
#[derive(Debug, Clone, Copy)]
pub struct DownloadProfile<'a> {
    pub bucket: &'a str,
    pub region: &'a str,
    /// Where URLs point: the profile's download host, else its upload host.
    pub host: &'a str,
    pub settings: &'a DownloadSettings,
}

/// Signed URLs, one per key asked for and in that order, and what signed them.
#[derive(Debug)]
pub struct SignedUrls {
    /// `(key, url)`.
    pub urls: Vec<(String, String)>,
    /// When every URL stops working.
    pub expire: DateTime<Utc>,
    pub grant: Arc<Grant>,
    pub outcome: Outcome,
}

/// Why no URL was signed.
#[derive(Debug, thiserror::Error)]
pub enum DownloadIssueError {
    /// The request broke a rule; nothing was loaded or signed.
    #[error(transparent)]
    Refused(#[from] DownloadError),
    /// The read credential could not be had.
    #[error(transparent)]
    Issue(#[from] IssueError),
}

impl Issuer {
    /// URLs for `asks` (all or none), living `expires` seconds (the caller's raw value, `None`
    /// for the default), as `caller` of `profile`.
    pub async fn sign_urls(
        &self,
        caller: &CallerId,
        profile: DownloadProfile<'_>,
        asks: &[UrlRequest<'_>],
        expires: Option<&str>,
    ) -> Result<SignedUrls, DownloadIssueError> {
        let settings = profile.settings;
        if !settings.enabled {
            return Err(DownloadError::Disabled.into());
        }
        let expires = expires_seconds(settings, expires)?;
        let dir = self.area.prefix.render(caller);
        let readable = readable_prefixes(settings, &dir, caller.as_str());
        let allowed = asks
            .iter()
            .map(|ask| allow(settings, &readable, ask))
            .collect::<Result<Vec<Allowed>, _>>()?;
        let issued = self
            .issue_shared(READS)
            .await
            .ok_or(DownloadError::Disabled)??;
        let credentials = &issued.grant.credentials;
        let now = self.services.clock.now();
        let signing = Signing {
            bucket: profile.bucket,
            region: profile.region,
            host: profile.host,
            key: issued.grant.prepared_key(),
            credential_expires_at: credentials.expiration,
            now,
        };
        let lifetime = signing.lifetime(expires)?;
        let urls: Vec<(String, String)> = allowed
            .iter()
            .map(|a| a.key.clone())
            .zip(signing.urls(&allowed, lifetime)?)
            .collect();
        tracing::debug!(count = urls.len(), lifetime, "download urls signed");
        Ok(SignedUrls {
            urls,
            expire: now + Duration::seconds(i64::from(lifetime)),
            grant: issued.grant,
            outcome: issued.outcome,
        })
    }
}
