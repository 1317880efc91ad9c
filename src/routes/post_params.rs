//! `GET /getPostObjectParams`: a PostObject form signed server-side with the caller's scoped STS
//! credential, so the client only posts it. Thin: the policy and signature come from
//! `crate::oss::post_object`.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Duration;
use serde::Serialize;

use crate::audit::AuditRecord;
use crate::auth::Caller;
use crate::callback;
use crate::error::ApiError;
use crate::oss::post_object::{self, PostRequest, SignatureFields};
use crate::state::{AppState, ProfileState};

/// The response body; field names are the contract (the form fields are posted as they are).
#[derive(Serialize)]
struct PostParamsResponse<'a> {
    host: &'a str,
    dir: &'a str,
    expire: i64,
    policy: &'a str,
    #[serde(rename = "OSSAccessKeyId", skip_serializing_if = "Option::is_none")]
    oss_access_key_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signature: Option<&'a str>,
    #[serde(
        rename = "x-oss-signature-version",
        skip_serializing_if = "Option::is_none"
    )]
    signature_version: Option<&'static str>,
    #[serde(rename = "x-oss-credential", skip_serializing_if = "Option::is_none")]
    credential: Option<&'a str>,
    #[serde(rename = "x-oss-date", skip_serializing_if = "Option::is_none")]
    date: Option<&'a str>,
    #[serde(rename = "x-oss-signature", skip_serializing_if = "Option::is_none")]
    v4_signature: Option<&'a str>,
    #[serde(rename = "x-oss-security-token")]
    security_token: &'a str,
    success_action_status: &'static str,
    #[serde(rename = "Content-Disposition")]
    content_disposition: &'static str,
    /// The upload callback (profiles with a callback only), pinned in the policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    callback: Option<&'a str>,
    /// Not a form field: the profile the form was made for.
    profile: &'a str,
}

impl<'a> PostParamsResponse<'a> {
    /// The signature fields of `signature`'s version.
    fn with_signature(mut self, signature: &'a SignatureFields) -> Self {
        match signature {
            SignatureFields::V1 {
                access_key_id,
                signature,
            } => {
                self.oss_access_key_id = Some(access_key_id);
                self.signature = Some(signature);
            }
            SignatureFields::V4 {
                credential,
                date,
                signature,
            } => {
                self.signature_version = Some(crate::oss::post_signer::V4_ALGORITHM);
                self.credential = Some(credential);
                self.date = Some(date);
                self.v4_signature = Some(signature);
            }
        }
        self
    }
}

/// For a profile with a callback, the form's `callback` field: OSS will call back with a body
/// that carries the broker's grant, valid until `expires` (an hour past the policy: an upload
/// may start at the last moment and take a while).
fn callback_field(
    state: &AppState,
    profile: &ProfileState,
    caller: &Caller,
    dir: &str,
    expires: i64,
) -> Result<Option<String>, ApiError> {
    match (&profile.settings.callback, &state.settings.callback) {
        (Some(_), Some(config)) => {
            callback::form_field(config, caller.id.as_str(), &profile.name, dir, expires)
                .map(Some)
                .ok_or_else(|| ApiError::Internal("the callback field exceeds OSS's 5 KB".into()))
        }
        (Some(_), None) => Err(ApiError::Internal(
            "a callback profile without BROKER_CALLBACK_URL".into(),
        )),
        (None, _) => Ok(None),
    }
}

pub async fn get_post_object_params(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let profile = state.profile(req.query_string())?;
    let settings = &profile.settings;
    let issued = profile
        .issuer
        .issue_form(&caller.id, caller.address)
        .await?;
    let grant = issued.grant.clone();
    let post = &settings.post;
    let ttl = Duration::from_std(post.policy_ttl)
        .map_err(|_| ApiError::Internal("policy TTL out of range".into()))?;
    let now = state.clock.now();
    let expires = (now + ttl).timestamp() + 3600;
    let callback = callback_field(&state, profile, &caller, &issued.dir, expires)?;
    let form = post_object::build(
        &PostRequest {
            bucket: settings.upload.bucket.as_str(),
            region: &settings.upload.region,
            dir: &issued.dir,
            signature: post.signature,
            ttl,
            max_upload_bytes: post.max_upload_bytes,
            allowed_content_types: &post.allowed_content_types,
            callback: callback.as_deref(),
        },
        &grant.credentials,
        now,
    )
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    state.metrics.credential_handed_out(
        crate::metrics::Handout::PostForm,
        profile.index,
        issued.outcome,
    );
    tracing::debug!(
        dir = %issued.dir,
        expire = form.expire.timestamp(),
        signature_version = ?post.signature,
        "post form signed"
    );
    let body = PostParamsResponse {
        host: &settings.upload.host,
        dir: &issued.dir,
        expire: form.expire.timestamp(),
        policy: &form.policy,
        oss_access_key_id: None,
        signature: None,
        signature_version: None,
        credential: None,
        date: None,
        v4_signature: None,
        security_token: &form.security_token,
        success_action_status: form.success_action_status,
        content_disposition: form.content_disposition,
        callback: callback.as_deref(),
        profile: &profile.name,
    }
    .with_signature(&form.signature);
    let mut response = HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(body);
    // The request logger writes the audit line (the route tells the two flows apart).
    response.extensions_mut().insert(AuditRecord {
        caller: caller.id.clone(),
        auth_mode: caller.mode.as_str(),
        profile: profile.name.clone(),
        role_arn: profile.role_arn.clone(),
        dir: issued.dir.clone(),
        grant: issued.grant,
        outcome: issued.outcome,
    });
    Ok(response)
}
