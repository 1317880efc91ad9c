//! Turns "this caller wants to upload" into temporary credentials scoped to the caller's
//! directory, through the credential cache. The one place routes get credentials from; it knows
//! scopes, the cache and STS, not HTTP.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest as _, Sha256};

mod download;
mod form;
mod load;
mod scopes;

pub use download::{DownloadIssueError, DownloadProfile, SignedUrls, READS};
pub use form::{FormError, FormProfile, SignedForm};

use std::net::IpAddr;

pub use crate::admission::{Admission, NewCallerLimits, NewCallersLimited};

use crate::backoff::Retryable;
use crate::cache::{CachePolicy, CredentialCache, Expiring, LoadContext, Loader, Memo, Outcome};
use crate::credentials::{RoleArn, TemporaryCredentials};
use crate::encoding::percent_encode;
use crate::identity::IdentityError;
use crate::oss::presign::PreparedKey;
use crate::policy::{
    role_session_name, upload_and_read_session_policy, upload_session_policy, BucketName, CallerId,
    PolicyTooLarge, UploadPrefix,
};
use crate::services::Services;
use crate::sts::client::StsError;

/// Where a profile's callers upload: the bucket and the directory template (the profile's
/// upload settings hold them; the issuer is given them at start-up).
#[derive(Debug, Clone)]
pub struct UploadArea {
    pub bucket: BucketName,
    pub prefix: UploadPrefix,
}

/// What the issuer needs to know besides the upload area: whose role, how long credentials
/// live and how the cache treats them.
#[derive(Debug, Clone)]
pub struct IssuerConfig {
    pub role_arn: RoleArn,
    pub duration_seconds: u32,
    /// A cached credential with less validity left is refreshed in the background.
    pub refresh_ahead_seconds: u32,
    /// A credential with less validity left is never handed out.
    pub min_ttl_seconds: u32,
    pub cache_max_entries: u64,
    /// Upper bound of the random delay before a background refresh starts.
    pub refresh_jitter: Duration,
    /// Which credential signs server-side forms.
    pub post_credentials: PostCredentials,
    /// How many first-time callers may start a credential load.
    pub new_callers: NewCallerLimits,
    /// The `RoleSessionName` of the shared form credential (one per profile).
    pub forms_session_name: String,
    /// Signed download URLs, when the profile's downloads are on: callers' credentials may then
    /// read their own directory, and the shared [`READS`] credential signs the URLs.
    pub reads: Option<ReadAccess>,
}

/// The shared credential that signs a profile's download URLs (`issuer::download`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadAccess {
    pub session_name: String,
    /// Only `oss:GetObject` on the profile's readable roots (`policy::read_session_policy`).
    pub policy: String,
    /// The readable roots, as object-key patterns (`uploads/*`), for audit lines.
    pub patterns: Vec<String>,
}

/// Which credential signs `/getPostObjectParams` forms (`BROKER_POST_CREDENTIALS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostCredentials {
    /// One credential for every caller, scoped to the upload root; the signed policy confines
    /// each form to its caller's directory.
    Shared,
    /// Each caller's own scoped credential.
    PerCaller,
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
    /// Fleet mode: the replica loading this credential for the fleet failed while this one
    /// waited for it (its own error was answered there; nothing was asked of STS here).
    #[error("another replica's load of this credential failed")]
    PeerFailed,
}

impl crate::fleet::SharedFailure for LoadError {
    /// STS's refusals and silences are every replica's; this replica's identity, clock and call
    /// budget are its own.
    fn shared_with_fleet(&self) -> bool {
        match self {
            Self::Sts(e) => !matches!(e, StsError::CallBudgetSpent),
            Self::Identity(_) | Self::ClockSkew { .. } | Self::PeerFailed => false,
        }
    }
}

impl From<crate::fleet::PeerLoadFailed> for LoadError {
    fn from(_: crate::fleet::PeerLoadFailed) -> Self {
        Self::PeerFailed
    }
}

impl Retryable for LoadError {
    fn retryable(&self) -> bool {
        match self {
            Self::Identity(e) => e.retryable,
            Self::Sts(e) => e.retryable(),
            Self::ClockSkew { .. } => false,
            Self::PeerFailed => true,
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
    /// A caller with no credential yet, over a first-time-caller limit: nothing was loaded.
    #[error(transparent)]
    NewCallersLimited(#[from] NewCallersLimited),
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
    /// Where the cache last served this scope's credential: a warm request for a cached caller
    /// then costs one lookup (the caller's scope) instead of three (`cache::Memo`).
    pub memo: Memo<Grant, LoadError>,
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
    pub rendered: OnceLock<Rendered>,
    /// The audit line's fields that are the same for every handout of this grant, rendered
    /// once by the audit line (web::audit).
    pub audit_fields: OnceLock<Rendered>,
    /// The security token percent-encoded as presigned URLs carry it, once per grant (a
    /// shared credential signs many URLs); see [`Grant::prepared_key`].
    pub encoded_token: OnceLock<String>,
}

/// Text rendered once per grant, and where a request's own value goes into it (`gap`, a byte
/// offset; `None` when nothing does).
pub struct Rendered {
    pub text: String,
    pub gap: Option<usize>,
}

impl Grant {
    /// The grant's key ready for presigned URLs: the token encoded on first use, then reused.
    pub fn prepared_key(&self) -> PreparedKey<'_> {
        let credentials = &self.credentials;
        let token = self
            .encoded_token
            .get_or_init(|| percent_encode(credentials.token()));
        PreparedKey {
            access_key_id: &credentials.access_key_id,
            secret: credentials.secret(),
            encoded_token: Some(token),
        }
    }
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
            .field(
                "encoded_token",
                &self.encoded_token.get().map(|_| "[redacted]"),
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

/// One profile's issuer: its callers' scopes, its shared scopes and its credential cache, on
/// the services every profile shares.
pub struct Issuer {
    services: Arc<Services>,
    config: Arc<IssuerConfig>,
    area: UploadArea,
    scopes: scopes::ScopeTable<Scope>,
    /// Credentials shared by every caller of the profile, each under its own name and session
    /// policy (e.g. [`FORMS`]: the one credential signing server-side forms).
    shared: Vec<(&'static str, Arc<Scope>)>,
    cache: CredentialCache<Arc<Scope>, Grant, LoadError>,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("identity", &self.services.identity.describe())
            .field(
                "shared",
                &self.shared.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("cache", &self.cache)
            .finish()
    }
}

/// The shared scope of server-signed forms (`PostCredentials::Shared`).
pub const FORMS: &str = "forms";

/// A grant for a server-signed form, and the caller's directory the form is confined to.
#[derive(Debug, Clone)]
pub struct IssuedForm {
    pub grant: Arc<Grant>,
    pub dir: String,
    pub outcome: Outcome,
}

/// The session name of the default profile's shared form credential (STS `RoleSessionName`
/// rules, protocol.md §1.2); another profile's is this, `-` and its name.
/// A caller's credential counts as in use, and is kept before new callers' ones, once the caller
/// asks for it again this long after its first load (the cache's admission rule).
const PROMOTE_AFTER_SECONDS: i64 = 60;

pub const SHARED_FORMS_SESSION_NAME: &str = "sts-broker-forms";

impl Scope {
    /// The scope of `policy` under the profile's role, for `dir`.
    fn new(config: &IssuerConfig, role_session_name: String, dir: String, policy: String) -> Self {
        Self {
            key: ScopeKey {
                role_arn: config.role_arn.clone(),
                policy_sha256: Sha256::digest(policy.as_bytes()).into(),
                role_session_name,
                duration_seconds: config.duration_seconds,
            },
            dir,
            policy,
            memo: Memo::default(),
        }
    }
}

/// The scope of the one credential that signs every caller's form: the upload root (the
/// prefix template before `${sub}`). `None` when the root is empty (the whole bucket), which
/// the configuration refuses.
fn shared_form_scope(config: &IssuerConfig, area: &UploadArea) -> Option<Scope> {
    let root = area.prefix.root();
    if root.is_empty() {
        return None;
    }
    let policy = upload_session_policy(&area.bucket, root).ok()?;
    Some(Scope::new(
        config,
        config.forms_session_name.clone(),
        root.to_owned(),
        policy,
    ))
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
    /// The issuer of one profile (`config`, uploads to `area`) on the shared `services`.
    pub fn new(services: Arc<Services>, config: IssuerConfig, area: UploadArea) -> Self {
        let settings = Arc::new(config);
        let loader = Arc::new(load::ScopeLoader {
            services: services.clone(),
            config: settings.clone(),
        });
        let loader: Loader<Arc<Scope>, Grant, LoadError> =
            Arc::new(move |scope: Arc<Scope>, context: LoadContext| {
                let loader = loader.clone();
                Box::pin(async move { loader.load(&scope, context).await })
            });
        let policy = CachePolicy {
            refresh_ahead: chrono::Duration::seconds(settings.refresh_ahead_seconds.into()),
            min_ttl: chrono::Duration::seconds(settings.min_ttl_seconds.into()),
            negative_ttl: Duration::from_secs(5),
            refresh_jitter: settings.refresh_jitter,
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(60),
            max_entries: settings.cache_max_entries,
            idle_ttl: Duration::from_secs(settings.duration_seconds.into()),
            promote_after: chrono::Duration::seconds(PROMOTE_AFTER_SECONDS),
        };
        let scopes = scopes::ScopeTable::new(settings.cache_max_entries, settings.duration_seconds);
        let mut issuer = Self {
            cache: CredentialCache::new(policy, services.clock.clone(), loader),
            services,
            config: settings.clone(),
            area,
            scopes,
            shared: Vec::new(),
        };
        if settings.post_credentials == PostCredentials::Shared {
            if let Some(forms) = shared_form_scope(&settings, &issuer.area) {
                issuer.shared.push((FORMS, Arc::new(forms)));
            }
        }
        if let Some(reads) = &settings.reads {
            let scope = Scope::new(
                &settings,
                reads.session_name.clone(),
                reads.patterns.join(","),
                reads.policy.clone(),
            );
            issuer.shared.push((READS, Arc::new(scope)));
        }
        issuer
    }

    /// Adds a credential shared by every caller of the profile under `name`: the profile's
    /// role with `policy`, session name `role_session_name`, handed out for `dir`.
    pub fn with_shared_scope(
        mut self,
        name: &'static str,
        role_session_name: String,
        dir: String,
        policy: String,
    ) -> Self {
        let scope = Scope::new(&self.config, role_session_name, dir, policy);
        self.shared.retain(|(n, _)| *n != name);
        self.shared.push((name, Arc::new(scope)));
        self
    }

    /// The shared scope called `name`, when the profile has one.
    pub fn shared_scope(&self, name: &str) -> Option<&Arc<Scope>> {
        self.shared.iter().find(|(n, _)| *n == name).map(|(_, s)| s)
    }

    /// The services this issuer uses (shared by every profile).
    pub fn services(&self) -> &Arc<Services> {
        &self.services
    }

    pub fn config(&self) -> &IssuerConfig {
        &self.config
    }

    /// The bucket and directory template of the profile's uploads.
    pub fn area(&self) -> &UploadArea {
        &self.area
    }

    pub fn cache(&self) -> &CredentialCache<Arc<Scope>, Grant, LoadError> {
        &self.cache
    }

    /// The scope of `caller`: its directory, session policy and session name.
    pub fn scope_for(&self, caller: &CallerId) -> Result<Arc<Scope>, PolicyTooLarge> {
        let now = self.services.clock.now().timestamp();
        if let Some(scope) = self.scopes.get(caller, now) {
            return Ok(scope);
        }
        let dir = self.area.prefix.render(caller);
        let policy = if self.config.reads.is_some() {
            upload_and_read_session_policy(&self.area.bucket, &dir)?
        } else {
            upload_session_policy(&self.area.bucket, &dir)?
        };
        let scope = Arc::new(Scope::new(
            &self.config,
            role_session_name(caller.as_str()),
            dir,
            policy,
        ));
        self.scopes.insert(caller.clone(), scope.clone(), now);
        Ok(scope)
    }

    /// Credentials allowing `caller` to write under its own directory only. `address` is the
    /// client's address when the broker can tell it (not behind a trusted proxy): a caller
    /// with no credential yet counts against the first-time-caller limits.
    pub async fn issue(
        &self,
        caller: &CallerId,
        address: Option<IpAddr>,
    ) -> Result<Issued, IssueError> {
        let scope = self.scope_for(caller)?;
        if let Some((grant, outcome)) = self.cache.serve_memo(&scope, &scope.memo) {
            return Ok(Issued { grant, outcome });
        }
        if !self.cache.knows(&scope) {
            let now = self.services.clock.now();
            self.services.newcomers.admit(address, now)?;
        }
        let (grant, outcome) = self
            .cache
            .get_memo(&scope, &scope.memo)
            .await
            .map_err(IssueError::Load)?;
        Ok(Issued { grant, outcome })
    }

    /// The credential of the shared scope `name` (no first-time-caller limit applies: no
    /// caller costs an STS call). `None` when the profile has no such scope.
    pub async fn issue_shared(&self, name: &str) -> Option<Result<Issued, IssueError>> {
        let scope = self.shared_scope(name)?;
        Some(match self.cache.get_memo(scope, &scope.memo).await {
            Ok((grant, outcome)) => Ok(Issued { grant, outcome }),
            Err(e) => Err(IssueError::Load(e)),
        })
    }

    /// What signs `caller`'s server-side form: with shared form credentials the one
    /// credential of the upload root, otherwise the caller's own. `dir` is always the
    /// caller's directory.
    pub async fn issue_form_credential(
        &self,
        caller: &CallerId,
        address: Option<IpAddr>,
    ) -> Result<IssuedForm, IssueError> {
        let Some(shared) = self.issue_shared(FORMS).await else {
            let issued = self.issue(caller, address).await?;
            return Ok(IssuedForm {
                dir: issued.grant.dir.clone(),
                grant: issued.grant,
                outcome: issued.outcome,
            });
        };
        let issued = shared?;
        Ok(IssuedForm {
            grant: issued.grant,
            dir: self.area.prefix.render(caller),
            outcome: issued.outcome,
        })
    }
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
            audit_fields: OnceLock::new(),
            encoded_token: OnceLock::new(),
        };
        assert_eq!(
            grant.prepared_key().encoded_token,
            Some("CAISgrant-token-value")
        );
        let _ = grant.rendered.set(Rendered {
            text:
                r#"{"AccessKeySecret":"grant-secret-value","SecurityToken":"CAISgrant-token-value""#
                    .into(),
            gap: None,
        });
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
