//! `POST /ossCallback`: OSS's upload callback for profiles with a `[callback]`. Thin: the
//! checks, the forward and the deadline are `crate::callback`'s. Every refusal is `403` with
//! nothing forwarded; a verified callback is forwarded to the profile's app, whose 2xx JSON
//! answer goes back to OSS (and so to the uploader). The request logger writes the audit line,
//! verified or refused, with why.

use actix_web::http::ConnectionType;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::callback::{CallbackRequest, Target};
use crate::web::audit::AuditEntry;
use crate::web::error::ApiError;
use crate::web::state::AppState;

/// Bodies are the broker's own small JSON.
pub const MAX_BODY: usize = 16 * 1024;

pub async fn oss_callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let services = &state.services;
    let Some(callbacks) = &services.callbacks else {
        // Nothing to do here: answered before the body is read, and the connection closed.
        let mut response = HttpResponse::from_error(ApiError::NotFound);
        response
            .head_mut()
            .set_connection_type(ConnectionType::Close);
        return Ok(response);
    };
    let body = state.bodies.read(payload, MAX_BODY).await?;
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let request = CallbackRequest {
        path_and_query: req.uri().path_and_query().map_or("/", |p| p.as_str()),
        authorization: header("authorization"),
        key_url: header("x-oss-pub-key-url"),
        body: &body,
    };
    let target = |name: &str| {
        let profile = state.callback_profile(name)?;
        let settings = &profile.settings;
        Some(Target {
            bucket: settings.upload.bucket.as_str(),
            region: &settings.upload.region,
            oss_endpoint: &settings.post.oss_endpoint,
            forward_url: &settings.callback.as_ref()?.forward_url,
        })
    };
    let (answer, audit) = callbacks
        .handle(request, target, &services.identity, &services.clock)
        .await;
    let mut response = match answer {
        Ok(answer) => HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .content_type("application/json")
            .body(answer),
        Err(e) => HttpResponse::from_error(ApiError::from(e)),
    };
    response
        .extensions_mut()
        .insert(AuditEntry::Callback(audit));
    Ok(response)
}
