//! Loading one scope's credential: the broker's own key, then `AssumeRole` with the scope's
//! session policy, with one forced identity refresh on `InvalidSecurityToken.*`, and the
//! clock-skew check of what STS returned.

use std::sync::OnceLock;

use super::{Grant, IssuerConfig, LoadError, Scope};
use crate::clock::Clock;
use crate::identity::Identity;
use crate::sts::client::{AssumeRoleRequest, Priority, StsClient};

/// One AssumeRole (with retries inside the client) for `scope`.
pub(super) async fn assume(
    sts: &StsClient,
    identity: &Identity,
    settings: &IssuerConfig,
    clock: &dyn Clock,
    scope: &Scope,
    priority: Priority,
) -> Result<Grant, LoadError> {
    let signer = identity.current().await?;
    let request = AssumeRoleRequest {
        role_arn: &settings.role_arn,
        role_session_name: &scope.key.role_session_name,
        duration_seconds: settings.duration_seconds,
        policy: &scope.policy,
        priority,
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
