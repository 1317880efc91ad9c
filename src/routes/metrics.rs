//! `GET /metrics`: the Prometheus text exposition. Thin: names and values are
//! `crate::metrics`'s; the cache's counters are read here, at scrape time.

use actix_web::{web, HttpResponse};

use std::sync::atomic::{AtomicU64, Ordering};

use crate::cache::CacheStats;
use crate::metrics::FleetValues;
use crate::web::state::AppState;

/// The Prometheus text format, version 0.0.4.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    // The cache counters of every profile, summed.
    let stats = CacheStats::default();
    let mut entries = 0;
    let add = |to: &AtomicU64, from: &AtomicU64| {
        to.fetch_add(from.load(Ordering::Relaxed), Ordering::Relaxed);
    };
    for profile in &state.profiles {
        let cache = profile.issuer.cache();
        let s = cache.stats();
        add(&stats.hits, &s.hits);
        add(&stats.misses, &s.misses);
        add(&stats.refreshes, &s.refreshes);
        add(&stats.refresh_failures, &s.refresh_failures);
        add(&stats.evictions, &s.evictions);
        entries += cache.entry_count();
    }
    let services = &state.services;
    // Read at scrape time, so the gauge follows every refresh of the broker's own identity.
    state
        .metrics
        .set_identity_expiration(services.identity.expiration());
    let fleet = services.store.fleet().map(|f| {
        let s = f.stats();
        let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        FleetValues {
            redis_up: f.health().is_up(),
            replicas: f.replicas(),
            hits: load(&s.hits),
            misses: load(&s.misses),
            lock_waits: load(&s.lock_waits),
            unreadable: load(&s.unreadable),
            stale: load(&s.stale),
            redis_errors: load(&s.errors),
            invalid_state: load(&s.invalid_state),
        }
    });
    let body = state
        .metrics
        .render_with_fleet(&stats, entries, fleet, state.services.clock.now());
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .content_type(CONTENT_TYPE)
        .body(body)
}
