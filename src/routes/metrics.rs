//! `GET /metrics`: the Prometheus text exposition. Thin: names and values are
//! `crate::metrics`'s; the cache's counters are read here, at scrape time.

use actix_web::{web, HttpResponse};

use crate::state::AppState;

/// The Prometheus text format, version 0.0.4.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let cache = state.issuer.cache();
    // Read at scrape time, so the gauge follows every refresh of the broker's own identity.
    state
        .metrics
        .set_identity_expiration(state.issuer.identity().expiration());
    let body = state
        .metrics
        .render(cache.stats(), cache.entry_count(), state.clock.now());
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .content_type(CONTENT_TYPE)
        .body(body)
}
