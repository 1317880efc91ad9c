//! `POST /ossCallback`: OSS's upload callback for profiles with a `[callback]`. Thin: the checks
//! and the forward are `crate::callback`'s. Every refusal is `403` with nothing forwarded; a
//! verified callback is forwarded to the profile's app, whose 2xx JSON answer goes back to OSS
//! (and so to the uploader). One audit line per callback, verified or refused, with why.

use std::time::{Duration, Instant};

use actix_web::{web, HttpRequest, HttpResponse};

use crate::callback::{Refusal, Target};
use crate::error::ApiError;
use crate::state::AppState;

/// OSS waits 5 s for the whole callback (protocol.md §9.1); the broker answers before that.
const DEADLINE: Duration = Duration::from_millis(4500);
/// Bodies are the broker's own small JSON.
pub const MAX_BODY: usize = 16 * 1024;

pub async fn oss_callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    // The whole callback, every check and the forward, inside OSS's 5 s; past the deadline
    // nothing is forwarded.
    match tokio::time::timeout(DEADLINE, handle(&state, &req, &body)).await {
        Ok(answer) => answer,
        Err(_) => {
            audit("forward-failed", Some("the callback took too long"), None);
            Err(ApiError::CallbackFailed(
                crate::callback::ForwardFailure::Timeout,
            ))
        }
    }
}

async fn handle(
    state: &AppState,
    req: &HttpRequest,
    body: &web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let Some(callbacks) = &state.callbacks else {
        return Err(ApiError::NotFound);
    };
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let path_and_query = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let now = state.clock.now().timestamp();
    let verified = callbacks
        .verify(
            path_and_query,
            header("authorization"),
            header("x-oss-pub-key-url"),
            body,
            now,
        )
        .await;
    let parsed = match verified {
        Ok(parsed) => parsed,
        Err(refusal) => return Err(refused(refusal, None)),
    };
    let who = Some((
        parsed.caller.as_str(),
        parsed.profile.as_str(),
        parsed.object.as_str(),
    ));
    let Some(profile) = state
        .profiles
        .iter()
        .find(|p| *p.name == parsed.profile && p.settings.callback.is_some())
    else {
        return Err(refused(Refusal::Profile, who));
    };
    let settings = &profile.settings;
    let forward_url = &settings
        .callback
        .as_ref()
        .expect("checked above")
        .forward_url;
    let target = Target {
        bucket: settings.upload.bucket.as_str(),
        region: &settings.upload.region,
        oss_endpoint: &settings.post.oss_endpoint,
        forward_url,
    };
    let identity = profile
        .issuer
        .identity()
        .current()
        .await
        .map_err(|_| refused(Refusal::HeadFailed, who))?;
    if let Err(refusal) = callbacks
        .confirm(&parsed, target, &identity, state.clock.clone())
        .await
    {
        return Err(refused(refusal, who));
    }
    let left = DEADLINE
        .saturating_sub(started.elapsed())
        .max(Duration::from_millis(100));
    match callbacks.forward(&parsed, target, now, left).await {
        Ok(answer) => {
            audit("forwarded", None, who);
            Ok(HttpResponse::Ok()
                .insert_header(("Cache-Control", "no-store"))
                .content_type("application/json")
                .body(answer))
        }
        Err(failure) => {
            audit("forward-failed", Some(&failure.to_string()), who);
            Err(ApiError::CallbackFailed(failure))
        }
    }
}

fn refused(refusal: Refusal, who: Option<(&str, &str, &str)>) -> ApiError {
    audit("refused", Some(&refusal.to_string()), who);
    ApiError::CallbackRefused(refusal)
}

/// One line per callback (target `audit`): the outcome, why, and (once the body is trusted)
/// whose upload it was. Never the body, a header or a secret.
fn audit(outcome: &str, reason: Option<&str>, who: Option<(&str, &str, &str)>) {
    let (caller, profile, key) = who.unwrap_or(("-", "-", "-"));
    tracing::info!(
        target: "audit",
        request_id = %crate::request_id::current_request_id(),
        outcome,
        reason = reason.unwrap_or("-"),
        caller,
        profile,
        key,
        "OSS upload callback"
    );
}
