//! Turns "this caller wants to upload" into temporary credentials scoped to the caller's
//! directory. The one place routes get credentials from; it knows policies and STS, not HTTP.

use std::sync::Arc;

use sha2::{Digest as _, Sha256};

use crate::config::Settings;
use crate::error::ApiError;
use crate::identity::Identity;
use crate::policy::{role_session_name, upload_session_policy, CallerId};
use crate::sts::client::{AssumeRoleRequest, StsClient};
use crate::sts::types::TemporaryCredentials;

/// Credentials handed to one caller, with what they were issued for.
#[derive(Debug)]
pub struct Grant {
    pub credentials: TemporaryCredentials,
    /// The key prefix the credentials may write.
    pub dir: String,
    pub role_session_name: String,
    /// Hex SHA-256 of the session policy, for audit lines.
    pub policy_sha256: String,
    pub sts_request_id: String,
}

#[derive(Debug)]
pub struct Issuer {
    sts: StsClient,
    identity: Identity,
    settings: Arc<Settings>,
}

impl Issuer {
    pub fn new(sts: StsClient, identity: Identity, settings: Arc<Settings>) -> Self {
        Self {
            sts,
            identity,
            settings,
        }
    }

    pub fn sts(&self) -> &StsClient {
        &self.sts
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Credentials allowing `caller` to write under its own directory only.
    pub async fn credentials_for(&self, caller: &CallerId) -> Result<Arc<Grant>, ApiError> {
        let settings = &self.settings;
        let dir = settings.upload_prefix.render(caller);
        let policy = upload_session_policy(&settings.bucket, &dir)?;
        let session_name = role_session_name(caller.as_str());
        let identity = self.identity.current().await?;
        let request = AssumeRoleRequest {
            role_arn: &settings.role_arn,
            role_session_name: &session_name,
            duration_seconds: settings.duration_seconds,
            policy: &policy,
        };
        let assumed = match self.sts.assume_role(&identity, &request).await {
            // STS refused the broker's own token (expired early, revoked): one forced refresh
            // and one retry; a static key cannot be refreshed and gets the refusal as it is.
            Err(e) if e.upstream_code().is_some_and(is_invalid_security_token) => {
                match self.identity.force_refresh(&identity).await? {
                    Some(fresh) => self.sts.assume_role(&fresh, &request).await?,
                    None => return Err(e.into()),
                }
            }
            result => result?,
        };
        Ok(Arc::new(Grant {
            credentials: assumed.credentials,
            dir,
            role_session_name: session_name,
            policy_sha256: hex::encode(Sha256::digest(policy.as_bytes())),
            sts_request_id: assumed.request_id,
        }))
    }
}

/// Spec §1.7: `InvalidSecurityToken.Expired`, `.Malformed`, `.MismatchWithAccessKey`.
fn is_invalid_security_token(code: &str) -> bool {
    code.starts_with("InvalidSecurityToken.")
}
