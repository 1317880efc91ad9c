//! `GET /s3/params?filename=&type=` (and `/profiles/<name>/s3/params`): Uppy Companion's simple
//! upload (protocol.md §18.2), a server-signed PostObject form whose `key` the broker chose and
//! pinned, answered as `{"method": "POST", "url", "fields", "headers", "expires"}`. Thin: the
//! issuer signs the form (`crate::issuer::form`); this route checks the type and writes the JSON.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{Map, Value};

use crate::auth::Caller;
use crate::issuer::{FormProfile, SignedForm};
use crate::multipart::Refusal;
use crate::oss::post_object::SignatureFields;
use crate::web::error::ApiError;
use crate::web::state::AppState;

/// One query parameter, decoded; given twice it is unreadable.
fn param(query: &str, name: &str) -> Result<Option<String>, ApiError> {
    let mut values = form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned());
    let first = values.next();
    if values.next().is_some() {
        return Err(ApiError::InvalidRequest(format!("`{name}` given twice")));
    }
    Ok(first)
}

/// The type must be a MIME type, and one of the profile's when it names any.
fn check_type(content_type: &str, allowed: &[String]) -> Result<(), ApiError> {
    let mime = content_type.len() <= 255
        && content_type
            .split_once('/')
            .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty())
        && content_type.bytes().all(|b| b.is_ascii_graphic());
    if !mime {
        return Err(ApiError::Multipart(Refusal::InvalidContentType));
    }
    if !allowed.is_empty() && !allowed.iter().any(|a| a.eq_ignore_ascii_case(content_type)) {
        return Err(ApiError::Multipart(Refusal::ContentTypeNotAllowed));
    }
    Ok(())
}

/// The form's fields (OSS reads them in any order; the client posts the file last).
fn form_fields(signed: &SignedForm, content_type: &str) -> Map<String, Value> {
    let form = &signed.form;
    let mut fields = Map::new();
    let mut put = |name: &str, value: &str| {
        fields.insert(name.to_owned(), Value::String(value.to_owned()));
    };
    put("key", signed.key.as_deref().unwrap_or_default());
    put("policy", &form.policy);
    match &form.signature {
        SignatureFields::V1 {
            access_key_id,
            signature,
        } => {
            put("OSSAccessKeyId", access_key_id);
            put("signature", signature);
        }
        SignatureFields::V4 {
            credential,
            date,
            signature,
        } => {
            put(
                "x-oss-signature-version",
                crate::oss::post_signer::V4_ALGORITHM,
            );
            put("x-oss-credential", credential);
            put("x-oss-date", date);
            put("x-oss-signature", signature);
        }
    }
    put("x-oss-security-token", &form.security_token);
    put("success_action_status", form.success_action_status);
    put("Content-Disposition", form.content_disposition);
    if let Some(callback) = &signed.callback {
        put("callback", callback);
    }
    if signed.forbid_overwrite {
        put("x-oss-forbid-overwrite", "true");
    }
    put("content-type", content_type);
    fields
}

pub async fn params(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let profile = state.profile_of(req.match_info().get("profile"), req.query_string())?;
    let settings = &profile.settings;
    let query = req.query_string();
    let filename = param(query, "filename")?.unwrap_or_default();
    // Uppy 6 sends `file.type || 'application/octet-stream'`.
    let content_type =
        param(query, "type")?.unwrap_or_else(|| "application/octet-stream".to_owned());
    check_type(&content_type, &settings.post.allowed_content_types)?;
    let signed = profile
        .issuer
        .sign_form(
            &caller.id,
            caller.address,
            FormProfile {
                name: &profile.name,
                bucket: settings.upload.bucket.as_str(),
                region: &settings.upload.region,
                post: &settings.post,
                callback: settings.callback.is_some(),
                filename: Some(&filename),
                broker_key: true,
            },
        )
        .await?;
    state.metrics.credential_handed_out(
        crate::metrics::Handout::PostForm,
        profile.index,
        signed.outcome,
    );
    let form = &signed.form;
    let fields = form_fields(&signed, &content_type);
    let expires = (form.expire - state.services.clock.now())
        .num_seconds()
        .max(0);
    let body = serde_json::json!({
        "method": "POST",
        "url": settings.upload.host,
        "fields": fields,
        "headers": {},
        "expires": expires,
    });
    let body = serde_json::to_string(&body).expect("answers serialise");
    Ok(super::handout(
        body,
        caller,
        profile,
        signed.dir,
        signed.grant,
        signed.outcome,
    ))
}
