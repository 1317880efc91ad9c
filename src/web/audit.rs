//! The audit line: one log line (target `audit`) per credential handed out (`/getToken`,
//! `/getPostObjectParams`), per upload callback (`/ossCallback`) and per request for signed
//! download URLs (`/getObjectUrl`, `/getObjectUrls`: the keys, never the URLs). Handlers attach an
//! [`AuditEntry`] to their response; the request middleware writes it as the request's line.

use std::net::IpAddr;
use std::sync::Arc;

use crate::cache::Outcome;
use crate::callback::CallbackAudit;
use crate::issuer::{Grant, Rendered};
use crate::policy::CallerId;
use crate::request_id::RequestIds;
use crate::web::state::{AppState, ProfileState};

/// What the audit line records about one credential handed out: who, which role and scope,
/// which STS credential (its AccessKeyId is not secret) and whether the cache answered. It is
/// joinable with ActionTrail (session name, AccessKeyId, STS RequestId) and OSS access logs
/// (AccessKeyId). It holds no secret it could print: `Grant`'s `Debug` redacts them.
pub struct AuditRecord {
    pub caller: CallerId,
    pub auth_mode: &'static str,
    /// The upload profile's index in `AppState::profiles` (its name and role are written).
    pub profile: usize,
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
    /// The profile's index in `AppState::profiles` (its name is written).
    pub profile: usize,
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
    /// Whole microseconds the request took.
    pub latency_us: u64,
    /// The client's address (`client_address`): the peer, or behind trusted proxies what
    /// their forwarded header says.
    pub client_ip: Option<IpAddr>,
}

impl RequestFacts<'_> {
    /// Whole microseconds in milliseconds: `0.071`, never `0.07097500000000001`.
    pub fn latency_ms(&self) -> f64 {
        self.latency_us as f64 / 1000.0
    }
}

impl AuditEntry {
    /// Logs the entry with the request's own fields, target `audit`: `request_id` is the
    /// broker's own id (unique per request), `client_request_id` the caller's sane
    /// `X-Request-Id`, absent when it sent none.
    pub fn log(&self, request: &RequestFacts<'_>, state: &AppState) {
        match self {
            Self::Handout(record) => match state.profiles.get(record.profile) {
                Some(profile) => record.log(request, profile),
                None => tracing::error!(target: "audit", "a handout names no profile"),
            },
            Self::Callback(callback) => log_callback(callback, request),
            Self::Download(download) => match state.profiles.get(download.profile) {
                Some(profile) => log_download(download, request, &profile.name),
                None => tracing::error!(target: "audit", "signed URLs name no profile"),
            },
        }
    }
}

/// The keys (as a JSON list, so a key with a comma stays one), never a URL.
fn log_download(audit: &DownloadAudit, request: &RequestFacts<'_>, profile: &str) {
    let keys = serde_json::to_string(&audit.keys).unwrap_or_default();
    tracing::info!(
        target: "audit",
        request_id = request.ids.own.as_str(),
        client_request_id = request.ids.client.as_deref(),
        method = request.method,
        route = request.route,
        status = request.status,
        latency_ms = request.latency_ms(),
        caller = audit.caller.as_str(),
        auth_mode = audit.auth_mode,
        profile,
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
        latency_ms = request.latency_ms(),
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
    /// Straight into the log buffer when the broker writes its own JSON lines (the same bytes
    /// the JSON format would write), through `tracing` otherwise; `RUST_LOG` decides either way.
    fn log(&self, request: &RequestFacts<'_>, profile: &ProfileState) {
        let role_arn = &*profile.role_arn;
        if !tracing::enabled!(target: "audit", tracing::Level::INFO) {
            return;
        }
        let creds = &self.grant.credentials;
        let ids = request.ids;
        let written = crate::telemetry::write_info("audit", HANDED_OUT, |line| {
            // A grant belongs to one profile, so its role is the profile's.
            let fields = self
                .grant
                .audit_fields
                .get_or_init(|| grant_fields(role_arn, &self.grant));
            line.str("request_id", &ids.own);
            line.opt_str("client_request_id", ids.client.as_deref());
            line.str("method", request.method);
            line.str("route", request.route);
            line.u64("status", u64::from(request.status));
            line.millis_of_micros("latency_ms", request.latency_us);
            line.opt_ip("client_ip", request.client_ip);
            line.str("caller", self.caller.as_str());
            line.str("auth_mode", self.auth_mode);
            line.str("profile", &profile.name);
            line.str("dir", &self.dir);
            let (before, after) = fields.text.split_at(fields.gap.unwrap_or(0));
            line.rendered(before);
            line.str("cache", self.outcome.as_str());
            line.rendered(after);
        });
        if written {
            return;
        }
        tracing::info!(
            target: "audit",
            request_id = request.ids.own.as_str(),
            client_request_id = request.ids.client.as_deref(),
            method = request.method,
            route = request.route,
            status = request.status,
            latency_ms = request.latency_ms(),
            client_ip = request.client_ip.map(tracing::field::display),
            caller = self.caller.as_str(),
            auth_mode = self.auth_mode,
            profile = &*profile.name,
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

/// The fields of a handout's audit line that only its grant decides, in the line's order, with
/// the gap where `cache` goes.
fn grant_fields(role_arn: &str, grant: &Grant) -> Rendered {
    let before = crate::telemetry::render_fields(&[
        ("role_arn", role_arn),
        ("role_session_name", &grant.role_session_name),
        ("policy_sha256", &grant.policy_sha256),
        ("access_key_id", &grant.credentials.access_key_id),
        ("expiration", &grant.expiration_text),
    ]);
    let after = crate::telemetry::render_fields(&[("sts_request_id", &grant.sts_request_id)]);
    Rendered {
        gap: Some(before.len()),
        text: before + &after,
    }
}

/// The audit line's message for a credential or form handed out.
const HANDED_OUT: &str = "credentials handed out";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::TemporaryCredentials;
    use secrecy::SecretString;
    use std::sync::OnceLock;

    #[test]
    fn a_grants_audit_fields_are_the_lines_fields_in_order_with_a_gap_for_cache() {
        let grant = Grant {
            credentials: TemporaryCredentials {
                access_key_id: "STS.id".into(),
                access_key_secret: SecretString::from("grant-secret-value"),
                security_token: SecretString::from("CAISgrant-token-value"),
                expiration: chrono::Utc::now(),
            },
            dir: "uploads/alice/".into(),
            role_session_name: "al\"ice".into(),
            policy_sha256: "ab".repeat(32),
            sts_request_id: "R-1".into(),
            expiration_text: "2026-01-01T00:00:00Z".into(),
            rendered: OnceLock::new(),
            audit_fields: OnceLock::new(),
            encoded_token: OnceLock::new(),
        };
        let fields = grant_fields("acs:ram::1:role/r", &grant);
        let (before, after) = fields.text.split_at(fields.gap.expect("a gap"));
        let line = format!("{{\"dir\":\"d\"{before},\"cache\":\"hit\"{after}}}");
        let names = [
            "dir",
            "role_arn",
            "role_session_name",
            "policy_sha256",
            "access_key_id",
            "expiration",
            "cache",
            "sts_request_id",
        ];
        let at: Vec<usize> = names
            .iter()
            .map(|n| line.find(&format!("\"{n}\":")).expect(n))
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{line}");
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["role_session_name"], "al\"ice");
        assert_eq!(value["role_arn"], "acs:ram::1:role/r");
        assert_eq!(value["policy_sha256"], "ab".repeat(32));
        assert_eq!(value["access_key_id"], "STS.id");
        assert_eq!(value["expiration"], "2026-01-01T00:00:00Z");
        assert_eq!(value["sts_request_id"], "R-1");
        assert!(!line.contains("grant-secret-value") && !line.contains("CAISgrant"));
    }
}
