//! Thin handlers: extract → domain call → DTO. No parsing of auth headers, no STS details.

#[cfg(feature = "demo")]
pub mod demo_page;
pub mod health;
pub mod metrics;
pub mod multipart;
pub mod object_urls;
pub mod oss_callback;
pub mod post_params;
pub mod ready;
pub mod s3_params;
pub mod token;

use std::sync::Arc;

use actix_web::HttpResponse;

use crate::auth::Caller;
use crate::cache::Outcome;
use crate::issuer::Grant;
use crate::web::audit::{AuditEntry, AuditRecord};
use crate::web::state::ProfileState;

/// A credential, form or URL handed out: `body` (JSON text) answered `no-store`, with the
/// audit record the request logger writes as the request's audit line: who, under which
/// profile, for which directory, with which credential.
fn handout(
    body: String,
    caller: Caller,
    profile: &ProfileState,
    dir: String,
    grant: Arc<Grant>,
    outcome: Outcome,
) -> HttpResponse {
    audited_json(
        body,
        AuditEntry::Handout(AuditRecord {
            caller: caller.id,
            auth_mode: caller.mode.as_str(),
            profile: profile.index,
            dir,
            grant,
            outcome,
        }),
    )
}

/// `body` (JSON text) answered `no-store`, with `entry` for the request logger to write as
/// the request's audit line.
fn audited_json(body: String, entry: AuditEntry) -> HttpResponse {
    let mut response = HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .content_type("application/json")
        .body(body);
    response.extensions_mut().insert(entry);
    response
}
