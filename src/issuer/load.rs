//! Loading one scope's credential: the broker's own key, then `AssumeRole` with the scope's
//! session policy, with one forced identity refresh on `InvalidSecurityToken.*`, and the
//! clock-skew check of what STS returned, through the credential store: in fleet mode a
//! credential another replica stored is adopted, and only one replica calls STS for a scope.

use std::sync::{Arc, OnceLock};

use sha2::{Digest as _, Sha256};

use super::{Grant, IssuerConfig, LoadError, Scope};
use crate::cache::{LoadContext, LoadKind};
use crate::fleet::{SharedCredential, Wanted};
use crate::services::Services;
use crate::sts::client::{AssumeRoleRequest, Priority};

/// Loads one profile's scopes, for the cache: the shared services and the profile's settings.
#[derive(Debug)]
pub(super) struct ScopeLoader {
    pub services: Arc<Services>,
    pub config: Arc<IssuerConfig>,
}

impl ScopeLoader {
    pub(super) async fn load(
        &self,
        scope: &Scope,
        context: LoadContext,
    ) -> Result<Grant, LoadError> {
        // A scope in use (reloaded under the floor or refreshed ahead) may draw on the share
        // of the STS budget kept for refreshes; a first load may not.
        let priority = match context.kind {
            LoadKind::First => Priority::First,
            LoadKind::Reload | LoadKind::Refresh => Priority::Refresh,
        };
        let now = self.services.clock.now();
        let min_ttl = chrono::Duration::seconds(self.config.min_ttl_seconds.into());
        let refresh_ahead = chrono::Duration::seconds(self.config.refresh_ahead_seconds.into());
        // A refresh adopts only a credential newer than ours and outside the refresh window
        // (one another replica refreshed); any other load whatever can still be handed out.
        let expires_after = match (context.kind, context.current_expiration) {
            (LoadKind::Refresh, Some(current)) => current.max(now + refresh_ahead),
            _ => now + min_ttl,
        };
        let wanted = Wanted {
            expires_after,
            min_ttl,
            now,
        };
        let shared = self
            .services
            .store
            .load_through(|| digest(scope), wanted, || self.assume(scope, priority))
            .await?;
        Ok(grant(scope, shared))
    }

    /// One AssumeRole (with retries inside the client) for `scope`.
    async fn assume(
        &self,
        scope: &Scope,
        priority: Priority,
    ) -> Result<SharedCredential, LoadError> {
        let (sts, identity) = (&self.services.sts, &self.services.identity);
        let settings = &self.config;
        let signer = identity.current().await?;
        let request = AssumeRoleRequest {
            role_arn: &settings.role_arn,
            role_session_name: &scope.key.role_session_name,
            duration_seconds: settings.duration_seconds,
            policy: &scope.policy,
            priority,
        };
        let assumed = match sts.assume_role(&signer, &request).await {
            // STS refused the broker's own token (expired early, revoked): one forced refresh
            // and one retry; a static key cannot be refreshed and gets the refusal as it is.
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
        // A brand-new credential already under the handout floor means the broker's clock is
        // far off STS's (STS accepts up to 15 minutes of skew): refuse it rather than hand it
        // out.
        let left = (assumed.credentials.expiration - self.services.clock.now()).num_seconds();
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
        Ok(SharedCredential {
            credentials: assumed.credentials,
            sts_request_id: assumed.request_id,
        })
    }
}

/// The scope's name in the fleet store: a digest of its key, so no caller id, role session
/// name or policy appears in Redis.
fn digest(scope: &Scope) -> String {
    let key = &scope.key;
    let mut hash = Sha256::new();
    hash.update(key.role_arn.as_str().as_bytes());
    hash.update([0]);
    hash.update(key.policy_sha256);
    hash.update(key.role_session_name.as_bytes());
    hash.update([0]);
    hash.update(key.duration_seconds.to_be_bytes());
    hex::encode(hash.finalize())
}

fn grant(scope: &Scope, loaded: SharedCredential) -> Grant {
    Grant {
        expiration_text: loaded.credentials.expiration_string(),
        credentials: loaded.credentials,
        dir: scope.dir.clone(),
        role_session_name: scope.key.role_session_name.clone(),
        policy_sha256: hex::encode(scope.key.policy_sha256),
        sts_request_id: loaded.sts_request_id,
        rendered: OnceLock::new(),
        audit_fields: OnceLock::new(),
        encoded_token: OnceLock::new(),
    }
}

/// protocol.md §1.7: `InvalidSecurityToken.Expired`, `.Malformed`, `.MismatchWithAccessKey`.
fn is_invalid_security_token(code: &str) -> bool {
    code.starts_with("InvalidSecurityToken.")
}
