//! The broker's own identity for signing STS calls. Callers ask [`Identity::current`] for the
//! key to sign with right now; where it comes from (the provider chain of protocol.md §4) and how it is
//! refreshed is decided here only. Nothing here may log, format or return a secret in an error.

pub(crate) mod file;
mod imds;
mod oidc;
mod ram_role;
mod refresh;

use std::sync::Arc;

use crate::clock::{Clock, NonceSource};
use crate::credentials::AccessKey;
use crate::sts::client::{StsClient, StsError};

pub use imds::{EcsSource, DEFAULT_IMDS_ENDPOINT};
pub use oidc::OidcSource;
pub use ram_role::RamRoleArnSource;
pub use refresh::{Fetch, Fetched, Refresher};

/// `DurationSeconds` the broker asks for its own session: the SDKs' default (protocol.md §4.5).
pub const OWN_SESSION_SECONDS: u32 = 3600;

/// Why no key could be had. The text never carries a secret.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the broker's own identity is unavailable: {message}")]
pub struct IdentityError {
    pub kind: IdentityErrorKind,
    /// Whether asking the source again later may succeed.
    pub retryable: bool,
    message: String,
}

/// Where obtaining the broker's own key failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityErrorKind {
    /// A configured temporary source was never started (a wiring bug).
    NotStarted,
    /// The ECS metadata service did not answer, or not usefully.
    Metadata,
    /// The OIDC token file could not be read or holds no token.
    TokenFile,
    /// The STS call of the source (`AssumeRoleWithOIDC`, role chaining) failed.
    Sts,
    /// The source handed out a key too close to its expiry to use.
    ShortLived,
    /// The client for the source could not be built.
    Client,
}

impl IdentityError {
    pub fn new(kind: IdentityErrorKind, message: impl Into<String>) -> Self {
        let retryable = matches!(
            kind,
            IdentityErrorKind::Metadata
                | IdentityErrorKind::TokenFile
                | IdentityErrorKind::ShortLived
        );
        Self {
            kind,
            retryable,
            message: message.into(),
        }
    }

    pub fn metadata(message: impl Into<String>) -> Self {
        Self::new(IdentityErrorKind::Metadata, message)
    }

    /// The source's STS call failed; retryable exactly when the STS failure is.
    pub fn sts(what: &str, error: &StsError) -> Self {
        Self {
            kind: IdentityErrorKind::Sts,
            retryable: error.retryable(),
            message: format!("{what} failed: {error}"),
        }
    }
}

impl crate::backoff::Retryable for IdentityError {
    fn retryable(&self) -> bool {
        self.retryable
    }
}

/// A temporary identity's origin, as configured.
#[derive(Debug)]
pub enum Source {
    /// RRSA: `AssumeRoleWithOIDC` with a projected token file (protocol.md §4.5).
    Oidc(OidcSource),
    /// A long-term key that assumes a role for the broker's identity (role chaining, protocol.md §4.2).
    RamRoleArn(RamRoleArnSource),
    /// The ECS instance RAM role from the metadata service (protocol.md §4.4).
    Ecs(EcsSource),
}

impl Source {
    pub fn describe(&self) -> String {
        match self {
            Self::Oidc(s) => s.describe(),
            Self::RamRoleArn(s) => s.describe(),
            Self::Ecs(s) => s.describe(),
        }
    }
}

/// A source of the broker's own credentials.
#[derive(Debug, Clone)]
pub enum Identity {
    /// `ALIBABA_CLOUD_ACCESS_KEY_ID` / `_SECRET` (+ `_SECURITY_TOKEN`), or an `access_key`
    /// profile, used as given.
    Static(AccessKey),
    /// A temporary identity as configuration found it; [`Identity::start`] makes it live.
    Source(Arc<Source>),
    /// A live temporary identity, refreshed before it expires.
    Refreshing(Arc<Refresher>),
}

impl Identity {
    /// The key to sign with now.
    pub async fn current(&self) -> Result<AccessKey, IdentityError> {
        match self {
            Self::Static(key) => Ok(key.clone()),
            Self::Source(_) => Err(IdentityError::new(
                IdentityErrorKind::NotStarted,
                "the identity source was configured but never started",
            )),
            Self::Refreshing(r) => r.current().await,
        }
    }

    /// STS refused `rejected` with `InvalidSecurityToken.*`: get a newer key now (or the one a
    /// concurrent refresh already got). `None` when this identity cannot be refreshed.
    pub async fn force_refresh(
        &self,
        rejected: &AccessKey,
    ) -> Result<Option<AccessKey>, IdentityError> {
        match self {
            Self::Static(_) | Self::Source(_) => Ok(None),
            Self::Refreshing(r) => r.force_refresh(rejected).await.map(Some),
        }
    }

    /// Turns a configured source into a live, self-refreshing identity whose STS calls go
    /// through `sts`; static keys stay as they are. Spawns the background refresher when
    /// called inside a tokio runtime.
    pub fn start(
        &self,
        sts: &StsClient,
        clock: Arc<dyn Clock>,
        nonces: Arc<dyn NonceSource>,
    ) -> Result<Identity, IdentityError> {
        let source = match self {
            Self::Static(_) | Self::Refreshing(_) => return Ok(self.clone()),
            Self::Source(source) => source.clone(),
        };
        let fetcher: Box<dyn Fetch> = match &*source {
            Source::Oidc(s) => Box::new(oidc::OidcFetcher::new(
                s.clone(),
                sts.clone(),
                clock.clone(),
            )),
            Source::RamRoleArn(s) => Box::new(ram_role::RamRoleFetcher::new(
                s.clone(),
                sts.clone(),
                clock.clone(),
            )),
            Source::Ecs(s) => Box::new(imds::ImdsFetcher::new(s.clone())?),
        };
        let refresher = Arc::new(Refresher::new(fetcher, clock, nonces));
        if tokio::runtime::Handle::try_current().is_ok() {
            Refresher::spawn_background(&refresher);
        }
        Ok(Self::Refreshing(refresher))
    }

    /// When the current key expires: known only for a temporary identity that refreshes itself.
    pub fn expiration(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        match self {
            Self::Refreshing(r) => r.expiration(),
            Self::Static(_) | Self::Source(_) => None,
        }
    }

    /// A short, secret-free description for logs ("static access key LTAI…").
    pub fn describe(&self) -> String {
        match self {
            Self::Static(key) => format!(
                "static access key {}{}",
                key.id,
                if key.security_token.is_some() {
                    " with security token"
                } else {
                    ""
                }
            ),
            Self::Source(source) => source.describe(),
            Self::Refreshing(r) => r.describe(),
        }
    }
}

/// RAM role names: 1-64 letters, digits, `.` and `-` (the same rule as [`crate::credentials::RoleArn`]).
pub(crate) fn is_role_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

/// `RoleSessionName`: 2-64 characters of letters, digits and `. @ - _` (protocol.md §4.5).
pub(crate) fn is_session_name(name: &str) -> bool {
    (2..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".@-_".contains(&b))
}

/// The session name the broker uses when none is configured; credentials-go uses
/// `credentials-go-<unix µs>` the same way (protocol.md §4.1).
fn default_session_name(clock: &dyn Clock) -> String {
    format!("sts-broker-{}", clock.now().timestamp())
}
