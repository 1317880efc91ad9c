//! `GET /getToken`: temporary credentials scoped to the caller's upload directory.

use actix_web::{web, HttpResponse};
use serde::Serialize;

use crate::auth::Caller;
use crate::error::{current_request_id, ApiError};
use crate::startup::AppState;
use crate::sts::types::format_timestamp;

/// The response body; field names are the contract (clients and Alibaba's credentials-URI
/// providers read them).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TokenResponse<'a> {
    code: &'static str,
    access_key_id: &'a str,
    access_key_secret: &'a str,
    security_token: &'a str,
    expiration: String,
    bucket: &'a str,
    region: &'a str,
    host: &'a str,
    dir: &'a str,
    server_time: String,
}

pub async fn get_token(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let settings = &state.settings;
    let grant = state.issuer.credentials_for(&caller.id).await?;
    let creds = &grant.credentials;
    // The audit line: one per credential handed out, joinable with ActionTrail (role session
    // name, AccessKeyId, STS RequestId) and OSS access logs (AccessKeyId). Never a secret.
    tracing::info!(
        target: "audit",
        time = %format_timestamp(state.clock.now()),
        request_id = %current_request_id(),
        caller = caller.id.as_str(),
        auth_mode = caller.mode.as_str(),
        role_arn = %settings.role_arn,
        role_session_name = %grant.role_session_name,
        policy_sha256 = %grant.policy_sha256,
        access_key_id = %creds.access_key_id,
        expiration = %creds.expiration_string(),
        sts_request_id = %grant.sts_request_id,
        // Hook for the credential cache: report hit/miss from `Grant` once it says which.
        cache = "miss",
        "credentials handed out"
    );
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(TokenResponse {
            code: "Success",
            access_key_id: &creds.access_key_id,
            access_key_secret: creds.secret(),
            security_token: creds.token(),
            expiration: creds.expiration_string(),
            bucket: settings.bucket.as_str(),
            region: &settings.region,
            host: &settings.upload_host,
            dir: &grant.dir,
            server_time: format_timestamp(state.clock.now()),
        }))
}
