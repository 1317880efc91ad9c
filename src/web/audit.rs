//! The audit line: one log line (target `audit`) per credential handed out (`/getToken`,
//! `/getPostObjectParams`), per upload callback (`/ossCallback`) and per request for signed
//! download URLs (`/getObjectUrl`, `/getObjectUrls`: the keys, never the URLs). Handlers attach an
//! [`AuditEntry`] to their response; the request middleware writes it as the request's line.

use std::net::IpAddr;
use std::sync::Arc;

use crate::cache::Outcome;
use crate::callback::CallbackAudit;
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

/// What a response asks the request logger to write as its audit line.
pub enum AuditEntry {
    /// A credential or a signed form handed out.
    Handout(AuditRecord),
    /// One upload callback, verified or refused.
    Callback(CallbackAudit),
    /// Signed download URLs handed out: the keys, never a URL or its signature.
    Download(DownloadAudit),
}

/// What the audit line records about signed download URLs: who, which keys, until when, and
/// which read credential signed them (its AccessKeyId is not secret).
pub struct DownloadAudit {
    pub caller: CallerId,
    pub auth_mode: &'static str,
    pub profile: Arc<str>,
    pub keys: Vec<String>,
    /// Unix seconds.
    pub expire: i64,
    pub grant: Arc<Grant>,
    pub outcome: Outcome,
}

/// The request's own fields of an audit line.
pub struct RequestFacts<'a> {
    pub ids: &'a RequestIds,
    pub method: &'a str,
    pub route: &'a str,
    pub status: u16,
    pub latency_ms: f64,
    /// The client's address (`client_address`): the peer, or behind trusted proxies what
    /// their forwarded header says.
    pub client_ip: Option<IpAddr>,
}

impl AuditEntry {
    /// Logs the entry with the request's own fields, target `audit`: `request_id` is the
    /// broker's own id (unique per request), `client_request_id` the caller's sane
    /// `X-Request-Id`, absent when it sent none.
    pub fn log(&self, request: &RequestFacts<'_>) {
        match self {
            Self::Handout(record) => record.log(request),
            Self::Callback(callback) => log_callback(callback, request),
            Self::Download(download) => log_download(download, request),
        }
    }
}

/// The keys (as a JSON list, so a key with a comma stays one), never a URL.
fn log_download(audit: &DownloadAudit, request: &RequestFacts<'_>) {
    let keys = serde_json::to_string(&audit.keys).unwrap_or_default();
    tracing::info!(
        target: "audit",
        request_id = request.ids.own.as_str(),
        client_request_id = request.ids.client.as_deref(),
        method = request.method,
        route = request.route,
        status = request.status,
        latency_ms = request.latency_ms,
        caller = audit.caller.as_str(),
        auth_mode = audit.auth_mode,
        profile = &*audit.profile,
        keys = keys.as_str(),
        count = audit.keys.len(),
        expire = audit.expire,
        role_session_name = audit.grant.role_session_name.as_str(),
        access_key_id = audit.grant.credentials.access_key_id.as_str(),
        cache = audit.outcome.as_str(),
        "download urls signed"
    );
}

/// Never the body, a header or a secret: the outcome, why, and whose upload it was once the
/// body is trusted.
fn log_callback(audit: &CallbackAudit, request: &RequestFacts<'_>) {
    let (caller, profile, key) = audit.upload.as_ref().map_or(("-", "-", "-"), |(c, p, k)| {
        (c.as_str(), p.as_str(), k.as_str())
    });
    tracing::info!(
        target: "audit",
        request_id = request.ids.own.as_str(),
        client_request_id = request.ids.client.as_deref(),
        method = request.method,
        route = request.route,
        status = request.status,
        latency_ms = request.latency_ms,
        client_ip = request.client_ip.map(tracing::field::display),
        outcome = audit.outcome,
        reason = audit.reason.as_deref().unwrap_or("-"),
        caller,
        profile,
        key,
        "OSS upload callback"
    );
}

impl AuditRecord {
    fn log(&self, request: &RequestFacts<'_>) {
        let creds = &self.grant.credentials;
        tracing::info!(
            target: "audit",
            request_id = request.ids.own.as_str(),
            client_request_id = request.ids.client.as_deref(),
            method = request.method,
            route = request.route,
            status = request.status,
            latency_ms = request.latency_ms,
            client_ip = request.client_ip.map(tracing::field::display),
            caller = self.caller.as_str(),
            auth_mode = self.auth_mode,
            profile = &*self.profile,
            dir = self.dir.as_str(),
            role_arn = &*self.role_arn,
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
