//! `GET /getToken`: temporary credentials scoped to the caller's upload directory.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::auth::Caller;
use crate::cache::Outcome;
use crate::config::Settings;
use crate::error::ApiError;
use crate::issuer::Grant;
use crate::policy::CallerId;
use crate::startup::AppState;
use crate::sts::types::format_timestamp;

/// The parts of the body that are the same for every request served from one grant; field
/// names are the contract (clients and Alibaba's credentials-URI providers read them).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GrantBody<'a> {
    code: &'static str,
    access_key_id: &'a str,
    access_key_secret: &'a str,
    security_token: &'a str,
    expiration: String,
    bucket: &'a str,
    region: &'a str,
    host: &'a str,
    dir: &'a str,
}

/// The grant's fixed fields as a JSON object without its closing brace, rendered once.
fn render_prefix(grant: &Grant, settings: &Settings) -> String {
    let creds = &grant.credentials;
    let mut json = serde_json::to_string(&GrantBody {
        code: "Success",
        access_key_id: &creds.access_key_id,
        access_key_secret: creds.secret(),
        security_token: creds.token(),
        expiration: grant.expiration_text.clone(),
        bucket: settings.bucket.as_str(),
        region: &settings.region,
        host: &settings.upload_host,
        dir: &grant.dir,
    })
    .expect("plain strings serialise");
    json.pop(); // the closing `}`
    json
}

/// What the audit line records about one credential handed out: who, which role and scope,
/// which STS credential (its AccessKeyId is not secret) and whether the cache answered. It is
/// joinable with ActionTrail (session name, AccessKeyId, STS RequestId) and OSS access logs
/// (AccessKeyId). It holds no secret it could print: `Grant`'s `Debug` redacts them.
pub struct AuditRecord {
    pub caller: CallerId,
    pub auth_mode: &'static str,
    pub grant: Arc<Grant>,
    pub outcome: Outcome,
}

impl AuditRecord {
    /// Logs the record with the request's own fields, target `audit`.
    pub fn log(
        &self,
        settings: &Settings,
        request_id: &str,
        method: &str,
        route: &str,
        status: u16,
        latency_ms: f64,
    ) {
        let creds = &self.grant.credentials;
        tracing::info!(
            target: "audit",
            request_id,
            method,
            route,
            status,
            latency_ms,
            caller = self.caller.as_str(),
            auth_mode = self.auth_mode,
            role_arn = settings.role_arn.as_str(),
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

/// When a client should fetch again: before the credential falls under the handout floor,
/// jittered by up to half the floor so a fleet of clients does not come back at once.
pub fn refresh_after(
    expiration: DateTime<Utc>,
    now: DateTime<Utc>,
    min_ttl_seconds: u32,
) -> DateTime<Utc> {
    let floor = i64::from(min_ttl_seconds);
    let jitter = fastrand::i64(0..=floor / 2);
    (expiration - Duration::seconds(floor + jitter)).max(now)
}

pub async fn get_token(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let settings = &state.settings;
    let issued = state.issuer.issue(&caller.id).await?;
    let grant = &issued.grant;
    let creds = &grant.credentials;
    state
        .metrics
        .credential_handed_out(crate::metrics::Handout::Token, issued.outcome);
    let now = state.clock.now();
    let prefix = grant
        .rendered
        .get_or_init(|| render_prefix(grant, settings));
    let mut body = String::with_capacity(prefix.len() + 64);
    body.push_str(prefix);
    body.push_str(",\"ServerTime\":\"");
    body.push_str(&format_timestamp(now));
    body.push_str("\",\"RefreshAfter\":\"");
    body.push_str(&format_timestamp(refresh_after(
        creds.expiration,
        now,
        settings.min_ttl_seconds,
    )));
    body.push_str("\"}");
    let mut response = HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .content_type("application/json")
        .body(body);
    // The request logger writes it as the audit line, joined with the request line.
    response.extensions_mut().insert(AuditRecord {
        caller: caller.id.clone(),
        auth_mode: caller.mode.as_str(),
        grant: issued.grant.clone(),
        outcome: issued.outcome,
    });
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_after_is_before_the_floor_and_never_in_the_past() {
        let now = Utc::now();
        let expiration = now + Duration::seconds(3600);
        for _ in 0..200 {
            let at = refresh_after(expiration, now, 300);
            assert!(at <= expiration - Duration::seconds(300));
            assert!(at >= expiration - Duration::seconds(450));
        }
        assert_eq!(refresh_after(now + Duration::seconds(100), now, 300), now);
    }
}
