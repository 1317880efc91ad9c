//! RRSA: the broker's identity from `AssumeRoleWithOIDC` with the OIDC token Kubernetes projects
//! into a file (protocol.md §4.5). Reads the token file on every load, because the kubelet rotates it;
//! never caches, logs or formats the token.

use std::path::PathBuf;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use secrecy::SecretString;

use super::{
    default_session_name, Fetch, Fetched, IdentityError, IdentityErrorKind, OWN_SESSION_SECONDS,
};
use crate::clock::Clock;
use crate::credentials::RoleArn;
use crate::sts::client::{OidcRequest, StsClient};

/// protocol.md §4.5: `OIDCToken` is 4-20,000 characters.
const MAX_TOKEN_CHARS: usize = 20_000;

/// An RRSA source as configured (environment or an `oidc_role_arn` profile).
#[derive(Debug, Clone)]
pub struct OidcSource {
    pub role_arn: RoleArn,
    pub provider_arn: String,
    pub token_file: PathBuf,
    pub session_name: Option<String>,
    /// Where this was configured, for logs.
    pub origin: String,
}

impl OidcSource {
    pub fn describe(&self) -> String {
        format!(
            "RRSA/OIDC ({}): role {} via {} with token file {}",
            self.origin,
            self.role_arn,
            self.provider_arn,
            self.token_file.display()
        )
    }
}

#[derive(Debug)]
pub(super) struct OidcFetcher {
    source: OidcSource,
    sts: StsClient,
    clock: Arc<dyn Clock>,
}

impl OidcFetcher {
    pub(super) fn new(source: OidcSource, sts: StsClient, clock: Arc<dyn Clock>) -> Self {
        Self { source, sts, clock }
    }

    fn oidc(&self) -> &OidcSource {
        &self.source
    }

    async fn load(&self) -> Result<Fetched, IdentityError> {
        let s = self.oidc();
        // A projected token is a few hundred bytes: a blocking read is shorter than a hand-off.
        let token = std::fs::read_to_string(&s.token_file).map_err(|e| {
            IdentityError::new(
                IdentityErrorKind::TokenFile,
                format!(
                    "the OIDC token file {} cannot be read: {e}",
                    s.token_file.display()
                ),
            )
        })?;
        let token = token.trim();
        if !(4..=MAX_TOKEN_CHARS).contains(&token.chars().count()) {
            return Err(IdentityError::new(
                IdentityErrorKind::TokenFile,
                format!(
                "the OIDC token file {} does not hold a token of 4-{MAX_TOKEN_CHARS} characters",
                s.token_file.display()
            ),
            ));
        }
        let token = SecretString::from(token.to_owned());
        let session = s
            .session_name
            .clone()
            .unwrap_or_else(|| default_session_name(&*self.clock));
        let assumed = self
            .sts
            .assume_role_with_oidc(&OidcRequest {
                role_arn: &s.role_arn,
                oidc_provider_arn: &s.provider_arn,
                oidc_token: &token,
                role_session_name: &session,
                duration_seconds: OWN_SESSION_SECONDS,
            })
            .await
            .map_err(|e| IdentityError::sts("AssumeRoleWithOIDC", &e))?;
        Ok(Fetched::from(assumed.credentials))
    }
}

impl Fetch for OidcFetcher {
    fn describe(&self) -> String {
        self.oidc().describe()
    }

    fn fetch(&self) -> BoxFuture<'_, Result<Fetched, IdentityError>> {
        Box::pin(self.load())
    }
}
