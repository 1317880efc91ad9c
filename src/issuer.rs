//! Turns "this caller wants to upload" into temporary credentials scoped to the caller's
//! directory, through the credential cache. The one place routes get credentials from; it knows
//! scopes, the cache and STS, not HTTP.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest as _, Sha256};

use crate::backoff::Retryable;
use crate::cache::{CachePolicy, CredentialCache, Expiring, Loader, Outcome};
use crate::clock::Clock;
use crate::identity::{Identity, IdentityError};
use crate::policy::{
    role_session_name, upload_session_policy, BucketName, CallerId, PolicyTooLarge, UploadPrefix,
};
use crate::sts::client::{AssumeRoleRequest, StsClient, StsError};
use crate::sts::types::{RoleArn, TemporaryCredentials};

/// What the issuer needs to know: whose role, which bucket and prefix, how long credentials
/// live and how the cache treats them.
#[derive(Debug, Clone)]
pub struct IssuerConfig {
    pub role_arn: RoleArn,
    pub bucket: BucketName,
    pub upload_prefix: UploadPrefix,
    pub duration_seconds: u32,
    /// A cached credential with less validity left is refreshed in the background.
    pub refresh_ahead_seconds: u32,
    /// A credential with less validity left is never handed out.
    pub min_ttl_seconds: u32,
    pub cache_max_entries: u64,
    /// Upper bound of the random delay before a background refresh starts.
    pub refresh_jitter: Duration,
}

/// Why a credential could not be loaded for a scope.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The broker's own key could not be obtained, so nothing could be signed.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Sts(#[from] StsError),
    /// STS issued a credential already under the handout floor: the broker's clock is far off
    /// STS's (STS accepts about 15 minutes of skew, protocol.md §2.2).
    #[error(
        "the new credential has {seconds_left} s left, not more than BROKER_MIN_TTL_SECONDS ({min_ttl_seconds}); is the broker's clock right?"
    )]
    ClockSkew {
        seconds_left: i64,
        min_ttl_seconds: u32,
    },
}

impl Retryable for LoadError {
    fn retryable(&self) -> bool {
        match self {
            Self::Identity(e) => e.retryable,
            Self::Sts(e) => e.retryable(),
            Self::ClockSkew { .. } => false,
        }
    }

    /// Only STS's own refusals (`NoPermission`, `EntityNotExist.Role`, `InvalidParameter.*`,
    /// ...) are remembered; a garbled answer or a clock problem may be a one-off.
    fn remember(&self) -> bool {
        matches!(self, Self::Sts(e @ StsError::Rejected { .. }) if !e.retryable())
    }
}

/// Why a caller got no credential.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("credential load failed")]
    Load(#[source] Arc<LoadError>),
    #[error("session policy too large")]
    PolicyTooLarge(#[from] PolicyTooLarge),
}

/// Everything that makes two credentials interchangeable (the cache key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ScopeKey {
    pub role_arn: RoleArn,
    pub policy_sha256: [u8; 32],
    pub role_session_name: String,
    pub duration_seconds: u32,
}

/// What a caller's credentials are for, computed once per caller.
#[derive(Debug)]
pub struct Scope {
    pub key: ScopeKey,
    pub dir: String,
    pub policy: String,
}

/// Credentials handed to callers of one scope, with what they were issued for. Its `Debug`
/// redacts the secret, the token and the rendered body (which holds both).
pub struct Grant {
    pub credentials: TemporaryCredentials,
    /// The key prefix the credentials may write.
    pub dir: String,
    pub role_session_name: String,
    /// Hex SHA-256 of the session policy, for audit lines.
    pub policy_sha256: String,
    pub sts_request_id: String,
    /// `Expiration` as the contract writes it, formatted once.
    pub expiration_text: String,
    /// A response body rendered once per grant by the route that serves it (hot path).
    pub rendered: OnceLock<String>,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("credentials", &self.credentials)
            .field("dir", &self.dir)
            .field("role_session_name", &self.role_session_name)
            .field("policy_sha256", &self.policy_sha256)
            .field("sts_request_id", &self.sts_request_id)
            .field("expiration_text", &self.expiration_text)
            .field(
                "rendered",
                &self.rendered.get().map(|_| "[redacted: holds credentials]"),
            )
            .finish()
    }
}

impl Expiring for Grant {
    fn expiration(&self) -> DateTime<Utc> {
        self.credentials.expiration
    }
}

/// A grant and how this request obtained it.
#[derive(Debug, Clone)]
pub struct Issued {
    pub grant: Arc<Grant>,
    pub outcome: Outcome,
}

pub struct Issuer {
    sts: StsClient,
    identity: Identity,
    config: Arc<IssuerConfig>,
    scopes: moka::sync::Cache<CallerId, Arc<Scope>>,
    cache: CredentialCache<Arc<Scope>, Grant, LoadError>,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("identity", &self.identity.describe())
            .field("cache", &self.cache)
            .finish()
    }
}

/// Scopes are keyed by their `ScopeKey` only.
impl PartialEq for Scope {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for Scope {}
impl std::hash::Hash for Scope {
    /// The policy digest already tells scopes apart; hashing 8 of its bytes instead of the
    /// whole key keeps the cache lookup on the hot path cheap. Equality still compares the key.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write(&self.key.policy_sha256[..8]);
    }
}

impl Issuer {
    pub fn new(
        sts: StsClient,
        identity: Identity,
        config: IssuerConfig,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let settings = Arc::new(config);
        let loader: Loader<Arc<Scope>, Grant, LoadError> = {
            let (sts, identity, settings, clock) = (
                sts.clone(),
                identity.clone(),
                settings.clone(),
                clock.clone(),
            );
            Arc::new(move |scope: Arc<Scope>| {
                let (sts, identity, settings, clock) = (
                    sts.clone(),
                    identity.clone(),
                    settings.clone(),
                    clock.clone(),
                );
                Box::pin(async move { load(&sts, &identity, &settings, &*clock, &scope).await })
            })
        };
        let policy = CachePolicy {
            refresh_ahead: chrono::Duration::seconds(settings.refresh_ahead_seconds.into()),
            min_ttl: chrono::Duration::seconds(settings.min_ttl_seconds.into()),
            negative_ttl: Duration::from_secs(5),
            refresh_jitter: settings.refresh_jitter,
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(60),
            max_entries: settings.cache_max_entries,
            idle_ttl: Duration::from_secs(settings.duration_seconds.into()),
        };
        let scopes = moka::sync::Cache::builder()
            .max_capacity(settings.cache_max_entries)
            .time_to_idle(Duration::from_secs(settings.duration_seconds.into()))
            .build();
        Self {
            cache: CredentialCache::new(policy, clock, loader),
            sts,
            identity,
            config: settings,
            scopes,
        }
    }

    pub fn sts(&self) -> &StsClient {
        &self.sts
    }

    pub fn config(&self) -> &IssuerConfig {
        &self.config
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    pub fn cache(&self) -> &CredentialCache<Arc<Scope>, Grant, LoadError> {
        &self.cache
    }

    /// The scope of `caller`: its directory, session policy and session name.
    pub fn scope_for(&self, caller: &CallerId) -> Result<Arc<Scope>, PolicyTooLarge> {
        if let Some(scope) = self.scopes.get(caller) {
            return Ok(scope);
        }
        let settings = &self.config;
        let dir = settings.upload_prefix.render(caller);
        let policy = upload_session_policy(&settings.bucket, &dir)?;
        let scope = Arc::new(Scope {
            key: ScopeKey {
                role_arn: settings.role_arn.clone(),
                policy_sha256: Sha256::digest(policy.as_bytes()).into(),
                role_session_name: role_session_name(caller.as_str()),
                duration_seconds: settings.duration_seconds,
            },
            dir,
            policy,
        });
        self.scopes.insert(caller.clone(), scope.clone());
        Ok(scope)
    }

    /// Credentials allowing `caller` to write under its own directory only.
    pub async fn issue(&self, caller: &CallerId) -> Result<Issued, IssueError> {
        let scope = self.scope_for(caller)?;
        let (grant, outcome) = self.cache.get(&scope).await.map_err(IssueError::Load)?;
        Ok(Issued { grant, outcome })
    }

    /// Like [`Issuer::issue`], for callers that do not care how the grant was obtained.
    pub async fn credentials_for(&self, caller: &CallerId) -> Result<Arc<Grant>, IssueError> {
        Ok(self.issue(caller).await?.grant)
    }
}

/// One AssumeRole (with retries inside the client) for `scope`.
async fn load(
    sts: &StsClient,
    identity: &Identity,
    settings: &IssuerConfig,
    clock: &dyn Clock,
    scope: &Scope,
) -> Result<Grant, LoadError> {
    let signer = identity.current().await?;
    let request = AssumeRoleRequest {
        role_arn: &settings.role_arn,
        role_session_name: &scope.key.role_session_name,
        duration_seconds: settings.duration_seconds,
        policy: &scope.policy,
    };
    let assumed = match sts.assume_role(&signer, &request).await {
        // STS refused the broker's own token (expired early, revoked): one forced refresh and
        // one retry; a static key cannot be refreshed and gets the refusal as it is.
        Err(e) if e.upstream_code().is_some_and(is_invalid_security_token) => {
            match identity.force_refresh(&signer).await? {
                Some(fresh) => sts.assume_role(&fresh, &request).await?,
                None => return Err(e.into()),
            }
        }
        result => result?,
    };
    tracing::info!(
        // `-` when a background refresh (not a request) loaded it.
        request_id = %crate::request_id::current_request_id(),
        sts_request_id = %assumed.request_id,
        access_key_id = %assumed.credentials.access_key_id,
        role_session_name = %scope.key.role_session_name,
        expiration = %assumed.credentials.expiration_string(),
        "AssumeRole succeeded"
    );
    // A brand-new credential already under the handout floor means the broker's clock is far
    // off STS's (STS accepts up to 15 minutes of skew): refuse it rather than hand it out.
    let left = (assumed.credentials.expiration - clock.now()).num_seconds();
    if left <= i64::from(settings.min_ttl_seconds) {
        tracing::error!(
            seconds_left = left,
            min_ttl_seconds = settings.min_ttl_seconds,
            sts_request_id = %assumed.request_id,
            "STS issued a credential already under BROKER_MIN_TTL_SECONDS; is the broker's clock right?"
        );
        return Err(LoadError::ClockSkew {
            seconds_left: left,
            min_ttl_seconds: settings.min_ttl_seconds,
        });
    }
    let expiration_text = assumed.credentials.expiration_string();
    Ok(Grant {
        credentials: assumed.credentials,
        dir: scope.dir.clone(),
        role_session_name: scope.key.role_session_name.clone(),
        policy_sha256: hex::encode(scope.key.policy_sha256),
        expiration_text,
        sts_request_id: assumed.request_id,
        rendered: OnceLock::new(),
    })
}

/// protocol.md §1.7: `InvalidSecurityToken.Expired`, `.Malformed`, `.MismatchWithAccessKey`.
fn is_invalid_security_token(code: &str) -> bool {
    code.starts_with("InvalidSecurityToken.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    #[test]
    fn grant_debug_redacts_the_secret_the_token_and_the_rendered_body() {
        let grant = Grant {
            credentials: TemporaryCredentials {
                access_key_id: "STS.id".into(),
                access_key_secret: SecretString::from("grant-secret-value"),
                security_token: SecretString::from("CAISgrant-token-value"),
                expiration: Utc::now(),
            },
            dir: "uploads/alice/".into(),
            role_session_name: "alice".into(),
            policy_sha256: "00".repeat(32),
            sts_request_id: "R".into(),
            expiration_text: "2026-01-01T00:00:00Z".into(),
            rendered: OnceLock::new(),
        };
        let _ = grant.rendered.set(
            r#"{"AccessKeySecret":"grant-secret-value","SecurityToken":"CAISgrant-token-value""#
                .into(),
        );
        let issued = Issued {
            grant: Arc::new(grant),
            outcome: Outcome::Hit,
        };
        let shown = format!("{issued:?} {issued:#?}");
        assert!(!shown.contains("grant-secret-value"), "{shown}");
        assert!(!shown.contains("CAISgrant-token-value"), "{shown}");
        assert!(shown.contains("STS.id") && shown.contains("uploads/alice/"));
    }
}
