//! `GET /getToken`: temporary credentials scoped to the caller's upload directory.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::auth::Caller;

use crate::issuer::Grant;
use crate::timefmt::format_timestamp;
use crate::web::audit::{AuditEntry, AuditRecord};
use crate::web::error::ApiError;
use crate::web::state::{AppState, ProfileState};

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
    profile: &'a str,
}

/// The grant's fixed fields as a JSON object without its closing brace, rendered once.
fn render_prefix(grant: &Grant, profile: &ProfileState) -> String {
    let settings = &profile.settings;
    let creds = &grant.credentials;
    let mut json = serde_json::to_string(&GrantBody {
        code: "Success",
        access_key_id: &creds.access_key_id,
        access_key_secret: creds.secret(),
        security_token: creds.token(),
        expiration: grant.expiration_text.clone(),
        bucket: settings.upload.bucket.as_str(),
        region: &settings.upload.region,
        host: &settings.upload.host,
        dir: &grant.dir,
        profile: &profile.name,
    })
    .expect("plain strings serialise");
    json.pop(); // the closing `}`
    json
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
    req: HttpRequest,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let profile = state.profile(req.query_string())?;
    // An STS credential cannot carry a callback (nor enforce sizes and types).
    if profile.settings.callback.is_some() {
        return Err(ApiError::ServerSigningOnly);
    }
    let issued = profile.issuer.issue(&caller.id, caller.address).await?;
    let grant = &issued.grant;
    let creds = &grant.credentials;
    state.metrics.credential_handed_out(
        crate::metrics::Handout::Token,
        profile.index,
        issued.outcome,
    );
    let now = state.services.clock.now();
    let prefix = grant.rendered.get_or_init(|| render_prefix(grant, profile));
    let mut body = String::with_capacity(prefix.len() + 64);
    body.push_str(prefix);
    body.push_str(",\"ServerTime\":\"");
    body.push_str(&format_timestamp(now));
    body.push_str("\",\"RefreshAfter\":\"");
    body.push_str(&format_timestamp(refresh_after(
        creds.expiration,
        now,
        profile.settings.issuer.min_ttl_seconds,
    )));
    body.push_str("\"}");
    let mut response = HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .content_type("application/json")
        .body(body);
    // The request logger writes it as the audit line, joined with the request line.
    response
        .extensions_mut()
        .insert(AuditEntry::Handout(AuditRecord {
            caller: caller.id.clone(),
            auth_mode: caller.mode.as_str(),
            profile: profile.name.clone(),
            role_arn: profile.role_arn.clone(),
            dir: grant.dir.clone(),
            grant: issued.grant.clone(),
            outcome: issued.outcome,
        }));
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
