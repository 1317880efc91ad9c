//! Uppy Companion's S3 multipart routes (protocol.md §18), under `/s3/…` and
//! `/profiles/<name>/s3/…`: create, sign one part or a batch, list parts, complete, abort. Thin:
//! each resolves the profile and the caller's directory, takes the profile's shared multipart
//! credential from its issuer, and hands the work to `crate::multipart`; this file only reads
//! the request and writes the contract's JSON.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use crate::auth::Caller;
use crate::issuer::Issued;
use crate::multipart::wire::{self, CompleteBody, CreateBody, SignedBatch};
use crate::multipart::{CallerUploads, SCOPE};
use crate::oss::presign::PresignKey;
use crate::web::error::ApiError;
use crate::web::json;
use crate::web::state::{AppState, ProfileState};

/// The profile a request is for: `/profiles/<name>/s3/…`, else `?profile=`.
fn profile<'a>(state: &'a AppState, req: &HttpRequest) -> Result<&'a ProfileState, ApiError> {
    state.profile_of(req.match_info().get("profile"), req.query_string())
}

/// One query parameter, decoded; given twice it is unreadable.
fn query_param(req: &HttpRequest, name: &str) -> Result<Option<String>, ApiError> {
    let mut values = form_urlencoded::parse(req.query_string().as_bytes())
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned());
    let first = values.next();
    if values.next().is_some() {
        return Err(ApiError::InvalidRequest(format!("`{name}` given twice")));
    }
    Ok(first)
}

fn required_param(req: &HttpRequest, name: &str) -> Result<String, ApiError> {
    query_param(req, name)?.ok_or_else(|| ApiError::InvalidRequest(format!("`{name}` missing")))
}

fn upload_id(req: &HttpRequest) -> Result<String, ApiError> {
    let id = req.match_info().query("uploadId").to_owned();
    if id.is_empty() || id.len() > 256 || id.chars().any(char::is_control) {
        return Err(ApiError::Multipart(crate::multipart::Refusal::NoSuchUpload));
    }
    Ok(id)
}

/// The answer, with the audit line the request logger writes: who used the profile's shared
/// multipart credential, for which directory.
fn json<T: Serialize>(
    body: &T,
    caller: &Caller,
    profile: &ProfileState,
    dir: &str,
    issued: &Issued,
) -> HttpResponse {
    let text = serde_json::to_string(body).expect("answers serialise");
    answer(text, caller, profile, dir, issued)
}

/// As [`json`], with the body's JSON text already written.
fn answer(
    body: String,
    caller: &Caller,
    profile: &ProfileState,
    dir: &str,
    issued: &Issued,
) -> HttpResponse {
    let (grant, outcome) = (issued.grant.clone(), issued.outcome);
    super::handout(
        body,
        caller.clone(),
        profile,
        dir.to_owned(),
        grant,
        outcome,
    )
}

/// The profile's shared multipart credential, and the profile.
async fn credential<'a>(
    state: &'a AppState,
    req: &HttpRequest,
) -> Result<(&'a ProfileState, Issued), ApiError> {
    let profile = profile(state, req)?;
    if profile.multipart.is_none() {
        return Err(ApiError::MultipartUnavailable);
    }
    let issued = profile
        .issuer
        .issue_shared(SCOPE)
        .await
        .ok_or(ApiError::MultipartUnavailable)??;
    Ok((profile, issued))
}

/// The caller's multipart work in `profile` (its directory `dir`), signed with `issued`'s
/// credential.
fn uploads<'a>(
    profile: &'a ProfileState,
    issued: &'a Issued,
    dir: &'a str,
) -> Result<CallerUploads<'a>, ApiError> {
    let setup = profile
        .multipart
        .as_ref()
        .ok_or(ApiError::MultipartUnavailable)?;
    let creds = &issued.grant.credentials;
    Ok(CallerUploads {
        settings: &setup.settings,
        client: &setup.client,
        key: PresignKey {
            access_key_id: &creds.access_key_id,
            secret: creds.secret(),
            security_token: Some(creds.token()),
        },
        encoded_token: issued.grant.prepared_key().encoded_token,
        key_expires: creds.expiration,
        dir,
    })
}

/// `POST /s3/multipart` `{"filename", "type", "metadata"}` → `{"key", "uploadId", "bucket"}`.
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: CreateBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::InvalidRequest(format!("create body: {e}")))?;
    let (profile, issued) = credential(&state, &req).await?;
    let dir = profile.settings.upload.prefix.render(&caller.id);
    let uploads = uploads(profile, &issued, &dir)?;
    let uuid = uuid::Uuid::new_v4().hyphenated().to_string();
    let now = state.services.clock.now();
    let created = uploads
        .create(&body.filename, &body.content_type, &uuid, now)
        .await?;
    Ok(json(&created, &caller, profile, &dir, &issued))
}

/// `GET /s3/multipart/{uploadId}/{partNumber}?key=` → `{"url", "expires"}`, and
/// `GET /s3/multipart/{uploadId}/batch?key=&partNumbers=` → `{"presignedUrls": {…}}`.
pub async fn sign(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let id = upload_id(&req)?;
    let key = required_param(&req, "key")?;
    let part = req.match_info().query("partNumber").to_owned();
    let (profile, issued) = credential(&state, &req).await?;
    let dir = profile.settings.upload.prefix.render(&caller.id);
    let uploads = uploads(profile, &issued, &dir)?;
    let now = state.services.clock.now();
    if part == "batch" {
        let numbers = wire::parse_part_numbers(&required_param(&req, "partNumbers")?)
            .map_err(|e| ApiError::Multipart(crate::multipart::Refusal::Parts(e)))?;
        let mut presigned_urls = std::collections::BTreeMap::new();
        for n in numbers {
            let signed = uploads.sign_part(&key, &id, n, now)?;
            presigned_urls.insert(n.to_string(), signed.url);
        }
        let batch = SignedBatch { presigned_urls };
        return Ok(json(&batch, &caller, profile, &dir, &issued));
    }
    let number = wire::parse_part_number(&part)
        .map_err(|e| ApiError::Multipart(crate::multipart::Refusal::Parts(e)))?;
    let signed = uploads.sign_part(&key, &id, number, now)?;
    // `{"url","expires"}` by hand: the long URL is copied, not escaped byte by byte.
    let mut body = String::with_capacity(signed.url.len() + 32);
    body.push_str("{\"url\":");
    json::push_str(&mut body, &signed.url);
    body.push_str(",\"expires\":");
    body.push_str(&signed.expires.to_string());
    body.push('}');
    // Tests run debug builds: there the text must be serde_json's, byte for byte (said without
    // the texts, which hold the security token).
    debug_assert!(
        serde_json::to_string(&signed).is_ok_and(|serde| serde == body),
        "the part URL answer differs from serde_json's"
    );
    Ok(answer(body, &caller, profile, &dir, &issued))
}

/// `GET /s3/multipart/{uploadId}?key=` → `[{"PartNumber", "Size", "ETag"}, …]`.
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let id = upload_id(&req)?;
    let key = required_param(&req, "key")?;
    let (profile, issued) = credential(&state, &req).await?;
    let dir = profile.settings.upload.prefix.render(&caller.id);
    let uploads = uploads(profile, &issued, &dir)?;
    let parts = uploads.list(&key, &id).await?;
    Ok(json(&parts, &caller, profile, &dir, &issued))
}

/// `DELETE /s3/multipart/{uploadId}?key=` → `{}`.
pub async fn abort(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let id = upload_id(&req)?;
    let key = required_param(&req, "key")?;
    let (profile, issued) = credential(&state, &req).await?;
    let dir = profile.settings.upload.prefix.render(&caller.id);
    let uploads = uploads(profile, &issued, &dir)?;
    uploads.abort(&key, &id).await?;
    Ok(json(
        &serde_json::json!({}),
        &caller,
        profile,
        &dir,
        &issued,
    ))
}

/// `POST /s3/multipart/{uploadId}/complete?key=` `{"parts": […]}` → `{"location", "key",
/// "bucket"}` (and `callback` for a profile with a callback).
pub async fn complete(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = upload_id(&req)?;
    let key = required_param(&req, "key")?;
    let body: CompleteBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::InvalidRequest(format!("complete body: {e}")))?;
    let (profile, issued) = credential(&state, &req).await?;
    let dir = profile.settings.upload.prefix.render(&caller.id);
    let uploads = uploads(profile, &issued, &dir)?;
    // Whose upload it is comes first: a caller learns nothing about someone else's parts.
    uploads.check_key(&key).map_err(ApiError::Multipart)?;
    let parts = wire::normalise_parts(&body.parts)
        .map_err(|e| ApiError::Multipart(crate::multipart::Refusal::Parts(e)))?;
    let callback = callback_header(&state, profile, &caller, &dir)?;
    let done = uploads.complete(&key, &id, parts, callback).await?;
    Ok(json(&done, &caller, profile, &dir, &issued))
}

/// The `x-oss-callback` value for a profile with a callback: the same JSON body, with the
/// broker's grant for the caller's directory, as its forms carry.
fn callback_header(
    state: &AppState,
    profile: &ProfileState,
    caller: &Caller,
    dir: &str,
) -> Result<Option<String>, ApiError> {
    if profile.settings.callback.is_none() {
        return Ok(None);
    }
    let config = &state
        .services
        .callbacks
        .as_ref()
        .ok_or_else(|| ApiError::Internal("a callback profile without callbacks".into()))?
        .config;
    // The grant outlives the completion by an hour, as a form's does.
    let expires = state.services.clock.now().timestamp() + 3600;
    crate::callback::form_field(config, caller.id.as_str(), &profile.name, dir, expires)
        .map(Some)
        .ok_or_else(|| ApiError::Internal("the callback field exceeds OSS's 5 KB".into()))
}

/// The Companion routes (`/params` and the multipart ones), for `web::scope("/s3")` and `web::scope("/profiles/{profile}/s3")`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    use crate::web::error::ApiError as E;
    async fn wrong_method() -> Result<HttpResponse, ApiError> {
        Err(E::MethodNotAllowed)
    }
    async fn post_only() -> Result<HttpResponse, ApiError> {
        Err(E::PostOnly)
    }
    async fn get_or_delete() -> Result<HttpResponse, ApiError> {
        Err(E::GetOrDeleteOnly)
    }
    cfg.service(
        web::resource("/params")
            .route(web::get().to(super::s3_params::params))
            .default_service(web::to(wrong_method)),
    )
    .service(
        web::resource("/multipart")
            .route(web::post().to(create))
            .default_service(web::to(post_only)),
    )
    .service(
        web::resource("/multipart/{uploadId}")
            .route(web::get().to(list))
            .route(web::delete().to(abort))
            .default_service(web::to(get_or_delete)),
    )
    .service(
        web::resource("/multipart/{uploadId}/complete")
            .route(web::post().to(complete))
            .default_service(web::to(post_only)),
    )
    .service(
        web::resource("/multipart/{uploadId}/{partNumber}")
            .route(web::get().to(sign))
            .default_service(web::to(wrong_method)),
    );
}
