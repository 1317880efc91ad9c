//! The audit line: one log line (target `audit`) per credential handed out, on both endpoints.
//! Handlers attach an [`AuditRecord`] to their response; the request middleware writes it as
//! the request's line.

use std::sync::Arc;

use crate::cache::Outcome;
use crate::issuer::Grant;
use crate::policy::CallerId;
use crate::request_id::RequestIds;

/// What the audit line records about one credential handed out: who, which role and scope,
/// which STS credential (its AccessKeyId is not secret) and whether the cache answered. It is
/// joinable with ActionTrail (session name, AccessKeyId, STS RequestId) and OSS access logs
/// (AccessKeyId). It holds no secret it could print: `Grant`'s `Debug` redacts them.
pub struct AuditRecord {
    pub caller: CallerId,
    pub auth_mode: &'static str,
    /// The upload profile, and the role its credentials come from.
    pub profile: Arc<str>,
    pub role_arn: Arc<str>,
    /// The directory the caller may write (with shared form credentials, narrower than the
    /// credential's own scope).
    pub dir: String,
    pub grant: Arc<Grant>,
    pub outcome: Outcome,
}

impl AuditRecord {
    /// Logs the record with the request's own fields, target `audit`: `request_id` is the
    /// broker's own id (unique per request), `client_request_id` the caller's sane
    /// `X-Request-Id`, absent when it sent none.
    pub fn log(
        &self,
        role_arn: &str,
        ids: &RequestIds,
        method: &str,
        route: &str,
        status: u16,
        latency_ms: f64,
    ) {
        let creds = &self.grant.credentials;
        tracing::info!(
            target: "audit",
            request_id = ids.own.as_str(),
            client_request_id = ids.client.as_deref(),
            method,
            route,
            status,
            latency_ms,
            caller = self.caller.as_str(),
            auth_mode = self.auth_mode,
            profile = &*self.profile,
            dir = self.dir.as_str(),
            role_arn,
            role_session_name = self.grant.role_session_name.as_str(),
            policy_sha256 = self.grant.policy_sha256.as_str(),
            access_key_id = creds.access_key_id.as_str(),
            expiration = self.grant.expiration_text.as_str(),
            cache = self.outcome.as_str(),
            sts_request_id = self.grant.sts_request_id.as_str(),
            "credentials handed out"
        );
    }
}
