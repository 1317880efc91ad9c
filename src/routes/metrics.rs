//! `GET /metrics`: the Prometheus text exposition. Thin: names and values are
//! `crate::metrics`'s; the cache's counters are read here, at scrape time.

use actix_web::{web, HttpResponse};

use crate::metrics::FleetValues;
use crate::state::AppState;

/// The Prometheus text format, version 0.0.4.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let cache = state.issuer.cache();
    // Read at scrape time, so the gauge follows every refresh of the broker's own identity.
    state
        .metrics
        .set_identity_expiration(state.issuer.identity().expiration());
    let fleet = state.issuer.fleet().map(|f| {
        let s = f.stats();
        let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        FleetValues {
            redis_up: f.health().is_up(),
            replicas: f.replicas(),
            hits: load(&s.hits),
            misses: load(&s.misses),
            lock_waits: load(&s.lock_waits),
            unreadable: load(&s.unreadable),
            redis_errors: load(&s.errors),
        }
    });
    let body = state.metrics.render_with_fleet(
        cache.stats(),
        cache.entry_count(),
        fleet,
        state.clock.now(),
    );
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .content_type(CONTENT_TYPE)
        .body(body)
}
