//! Role chaining from a `ram_role_arn` profile (protocol.md §4.2): a long-term key signs `AssumeRole`
//! and the resulting session is the broker's identity. Never logs the key's secret.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::{default_session_name, Fetch, Fetched, IdentityError, OWN_SESSION_SECONDS};
use crate::clock::Clock;
use crate::credentials::{AccessKey, RoleArn};
use crate::sts::client::{AssumeRoleRequest, Priority, StsClient};

/// A `ram_role_arn` profile as configured.
#[derive(Debug, Clone)]
pub struct RamRoleArnSource {
    pub key: AccessKey,
    pub role_arn: RoleArn,
    pub session_name: Option<String>,
    pub origin: String,
}

impl RamRoleArnSource {
    pub fn describe(&self) -> String {
        format!(
            "role chaining ({}): access key {} assumes {}",
            self.origin, self.key.id, self.role_arn
        )
    }
}

#[derive(Debug)]
pub(super) struct RamRoleFetcher {
    source: RamRoleArnSource,
    sts: StsClient,
    clock: Arc<dyn Clock>,
}

impl RamRoleFetcher {
    pub(super) fn new(source: RamRoleArnSource, sts: StsClient, clock: Arc<dyn Clock>) -> Self {
        Self { source, sts, clock }
    }

    fn chained(&self) -> &RamRoleArnSource {
        &self.source
    }

    async fn load(&self) -> Result<Fetched, IdentityError> {
        let s = self.chained();
        let session = s
            .session_name
            .clone()
            .unwrap_or_else(|| default_session_name(&*self.clock));
        let assumed = self
            .sts
            .assume_role(
                &s.key,
                &AssumeRoleRequest {
                    role_arn: &s.role_arn,
                    role_session_name: &session,
                    duration_seconds: OWN_SESSION_SECONDS,
                    // No session policy: the broker's session keeps the role's permissions.
                    policy: "",
                    priority: Priority::Refresh,
                },
            )
            .await
            .map_err(|e| IdentityError::sts("AssumeRole for the broker identity", &e))?;
        Ok(Fetched::from(assumed.credentials))
    }
}

impl Fetch for RamRoleFetcher {
    fn describe(&self) -> String {
        self.chained().describe()
    }

    fn fetch(&self) -> BoxFuture<'_, Result<Fetched, IdentityError>> {
        Box::pin(self.load())
    }
}
