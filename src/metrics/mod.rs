//! Prometheus metrics: the broker's counters and histograms, kept in plain atomics and rendered
//! in the Prometheus text format (through `prometheus-client`) only when scraped. It owns names,
//! help texts and label sets; it must never take a caller id, a key id or any other unbounded or
//! secret value as a label, and the request path must stay allocation-free.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::auth::RateLimitKind;
use crate::cache::{CacheStats, Outcome};
use crate::sts::client::{AttemptOutcome, StsObserver, TransportKind};

mod render;
use render::{hist_snapshot, hist_sum, Scrape, Snapshot};

/// The route label: the matched pattern, or `unmatched`. Anything else is never a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    GetToken,
    GetPostObjectParams,
    Healthz,
    Readyz,
    Metrics,
    OssCallback,
    GetObjectUrl,
    GetObjectUrls,
    /// `/s3/params` and `/profiles/{profile}/s3/params`.
    S3Params,
    /// Every `/s3/multipart…` route, with or without `/profiles/{profile}`.
    S3Multipart,
    Unmatched,
}

impl Route {
    const ALL: [Route; 11] = [
        Route::GetToken,
        Route::GetPostObjectParams,
        Route::Healthz,
        Route::Readyz,
        Route::Metrics,
        Route::OssCallback,
        Route::GetObjectUrl,
        Route::GetObjectUrls,
        Route::S3Params,
        Route::S3Multipart,
        Route::Unmatched,
    ];

    /// The route of a matched pattern (`HttpRequest::match_pattern`).
    pub fn from_pattern(pattern: Option<&str>) -> Self {
        match pattern {
            Some("/getToken") => Self::GetToken,
            Some("/getPostObjectParams") => Self::GetPostObjectParams,
            Some("/healthz") => Self::Healthz,
            Some("/readyz") => Self::Readyz,
            Some("/metrics") => Self::Metrics,
            Some("/ossCallback") => Self::OssCallback,
            Some("/getObjectUrl") => Self::GetObjectUrl,
            Some("/getObjectUrls") => Self::GetObjectUrls,
            Some(p) if p.ends_with("/s3/params") => Self::S3Params,
            Some(p) if p.contains("/s3/multipart") => Self::S3Multipart,
            _ => Self::Unmatched,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::GetToken => "/getToken",
            Self::GetPostObjectParams => "/getPostObjectParams",
            Self::Healthz => "/healthz",
            Self::Readyz => "/readyz",
            Self::Metrics => "/metrics",
            Self::OssCallback => "/ossCallback",
            Self::GetObjectUrl => "/getObjectUrl",
            Self::GetObjectUrls => "/getObjectUrls",
            Self::S3Params => "/s3/params",
            Self::S3Multipart => "/s3/multipart",
            Self::Unmatched => "unmatched",
        }
    }
}

/// The fleet's values at scrape time (fleet mode only).
#[derive(Debug, Clone, Copy, Default)]
pub struct FleetValues {
    pub redis_up: bool,
    pub replicas: u32,
    pub hits: u64,
    pub misses: u64,
    pub lock_waits: u64,
    pub unreadable: u64,
    pub redis_errors: u64,
    pub invalid_state: u64,
    pub stale: u64,
}

/// Which endpoint handed a credential out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handout {
    Token,
    PostForm,
}

const REQUEST_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const STS_BUCKETS: [f64; 12] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0,
];
const STATUS_MIN: u16 = 100;
const STATUS_COUNT: usize = 500;
/// Distinct STS error codes kept as label values; later ones are counted as `other`.
const MAX_STS_CODES: usize = 64;
const NO_EXPIRY: i64 = i64::MIN;

/// A fixed-bucket histogram of durations in atomics: an observation is two or three relaxed
/// additions, no lock and no allocation.
#[derive(Debug)]
pub struct AtomicHistogram {
    bounds_ns: Vec<u64>,
    bounds: &'static [f64],
    /// Per bucket (not cumulative), plus a last one for `+Inf`.
    counts: Vec<AtomicU64>,
    sum_ns: AtomicU64,
}

impl AtomicHistogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds_ns: bounds.iter().map(|b| (b * 1e9) as u64).collect(),
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_ns: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, elapsed: Duration) {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let index = self
            .bounds_ns
            .iter()
            .position(|&b| ns <= b)
            .unwrap_or(self.bounds_ns.len());
        self.counts[index].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

/// Key of the STS call counter: action, outcome, error code (empty when none).
type StsKey = (&'static str, &'static str, String);

/// Every metric the broker keeps.
#[derive(Debug)]
pub struct Metrics {
    /// What every request adds to, one set per shard (see [`Hot`]).
    hot: Box<[Box<Hot>]>,
    /// `[profile]`: signed download URLs handed out.
    urls_signed: Vec<AtomicU64>,
    /// The configured profile names (the only values of the `profile` label).
    profiles: Vec<String>,
    /// `[caller, address, other]`.
    rate_limited: [AtomicU64; 4],
    sts_calls: Mutex<HashMap<StsKey, u64>>,
    /// `[AssumeRole, GetCallerIdentity]`.
    sts_latency: [AtomicHistogram; 2],
    /// Unix seconds at which the broker's own (temporary) identity expires, or `NO_EXPIRY`.
    identity_expires_at: AtomicI64,
}

/// The counters every request adds to. Each worker thread adds to its own shard
/// ([`thread_shard`]), so two threads do not write one cache line (a shared atomic would
/// move between cores on every request); a scrape sums the shards.
#[derive(Debug)]
#[repr(align(128))]
struct Hot {
    /// `[route][status - 100]`.
    requests: Vec<Vec<AtomicU64>>,
    request_latency: Vec<AtomicHistogram>,
    /// `[profile][endpoint][cache outcome]`, each profile's on cache lines of its own.
    handed_out: Vec<Padded<[[AtomicU64; 3]; 2]>>,
}

impl Hot {
    fn new(profiles: usize) -> Self {
        Self {
            requests: Route::ALL
                .iter()
                .map(|_| (0..STATUS_COUNT).map(|_| AtomicU64::new(0)).collect())
                .collect(),
            request_latency: Route::ALL
                .iter()
                .map(|_| AtomicHistogram::new(&REQUEST_BUCKETS))
                .collect(),
            handed_out: (0..profiles).map(|_| Default::default()).collect(),
        }
    }
}

/// A value alone on its cache lines: small allocations of two shards may otherwise share one.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded<T>(T);

/// Shards of [`Hot`]: enough that the workers of a machine this size rarely share one.
const THREAD_SHARDS: usize = 8;

/// This thread's shard of [`Hot`], handed out in turn as threads first ask.
fn thread_shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % THREAD_SHARDS;
    }
    SHARD.with(|s| *s)
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Metrics for the one profile `default`.
    pub fn new() -> Self {
        Self::with_profiles(vec!["default".to_owned()])
    }

    /// Metrics labelled by these profiles (the configured ones: a bounded set).
    pub fn with_profiles(profiles: Vec<String>) -> Self {
        Self {
            hot: (0..THREAD_SHARDS)
                .map(|_| Box::new(Hot::new(profiles.len())))
                .collect(),
            urls_signed: profiles.iter().map(|_| AtomicU64::new(0)).collect(),
            profiles,
            rate_limited: Default::default(),
            sts_calls: Mutex::new(HashMap::new()),
            sts_latency: [
                AtomicHistogram::new(&STS_BUCKETS),
                AtomicHistogram::new(&STS_BUCKETS),
            ],
            identity_expires_at: AtomicI64::new(NO_EXPIRY),
        }
    }

    /// One finished HTTP request (called by the request middleware).
    pub fn observe_request(&self, route: Route, status: u16, elapsed: Duration) {
        let r = route as usize;
        let hot = &self.hot[thread_shard()];
        if let Some(slot) = status
            .checked_sub(STATUS_MIN)
            .and_then(|i| hot.requests[r].get(usize::from(i)))
        {
            slot.fetch_add(1, Ordering::Relaxed);
        }
        hot.request_latency[r].observe(elapsed);
    }

    /// A credential (or a form signed with one) was handed to a caller.
    pub fn credential_handed_out(&self, endpoint: Handout, profile: usize, outcome: Outcome) {
        let o = match outcome {
            Outcome::Hit => 0,
            Outcome::HitRefreshing => 1,
            Outcome::Miss => 2,
        };
        if let Some(counters) = self.hot[thread_shard()].handed_out.get(profile) {
            counters.0[endpoint as usize][o].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `count` signed download URLs handed out for `profile`.
    pub fn urls_signed(&self, profile: usize, count: usize) {
        if let Some(counter) = self.urls_signed.get(profile) {
            counter.fetch_add(count as u64, Ordering::Relaxed);
        }
    }

    /// A request refused by a rate limit.
    pub fn rate_limited(&self, kind: RateLimitKind) {
        let i = RateLimitKind::ALL
            .iter()
            .position(|k| *k == kind)
            .expect("every kind is listed");
        self.rate_limited[i].fetch_add(1, Ordering::Relaxed);
    }

    /// When the broker's own identity is temporary, its expiry (the identity provider calls
    /// this after each refresh); `None` for a long-term key.
    pub fn set_identity_expiration(&self, expiration: Option<DateTime<Utc>>) {
        self.identity_expires_at.store(
            expiration.map_or(NO_EXPIRY, |e| e.timestamp()),
            Ordering::Relaxed,
        );
    }

    /// The Prometheus text exposition of every metric. `cache` is read at scrape time.
    pub fn render(&self, cache: &CacheStats, cache_entries: u64, now: DateTime<Utc>) -> String {
        self.render_with_fleet(cache, cache_entries, None, now)
    }

    /// As [`Metrics::render`], with the fleet's values when fleet mode is on.
    pub fn render_with_fleet(
        &self,
        cache: &CacheStats,
        cache_entries: u64,
        fleet: Option<FleetValues>,
        now: DateTime<Utc>,
    ) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let collector = Scrape {
            metrics: self,
            cache,
            cache_entries,
            fleet,
            now,
        };
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(collector.into_owned()));
        prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)
            .expect("writing to a String cannot fail");
        out
    }

    /// Reads every value into an owned snapshot (the registry wants `'static` collectors).
    fn snapshot(&self) -> Snapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut requests = Vec::new();
        for (r, route) in Route::ALL.iter().enumerate() {
            for i in 0..STATUS_COUNT {
                let n = self.hot.iter().map(|h| load(&h.requests[r][i])).sum();
                if n > 0 {
                    requests.push((route.as_str(), STATUS_MIN + i as u16, n));
                }
            }
        }
        let latency = Route::ALL
            .iter()
            .enumerate()
            .filter(|(r, _)| self.hot.iter().any(|h| h.request_latency[*r].count() > 0))
            .map(|(r, route)| {
                let shards = self.hot.iter().map(|h| &h.request_latency[r]);
                (route.as_str(), hist_sum(shards))
            })
            .collect();
        let mut sts_calls: Vec<(StsKey, u64)> = self
            .sts_calls
            .lock()
            .expect("metrics lock")
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        sts_calls.sort();
        let expires = self.identity_expires_at.load(Ordering::Relaxed);
        Snapshot {
            requests,
            latency,
            handed_out: self
                .profiles
                .iter()
                .enumerate()
                .map(|(p, name)| {
                    let values = std::array::from_fn(|e| {
                        std::array::from_fn(|o| {
                            self.hot
                                .iter()
                                .map(|h| load(&h.handed_out[p].0[e][o]))
                                .sum()
                        })
                    });
                    (name.clone(), values)
                })
                .collect(),
            urls_signed: self
                .profiles
                .iter()
                .zip(&self.urls_signed)
                .map(|(name, counter)| (name.clone(), load(counter)))
                .collect(),
            rate_limited: std::array::from_fn(|i| load(&self.rate_limited[i])),
            sts_calls,
            sts_latency: [
                ("AssumeRole", hist_snapshot(&self.sts_latency[0])),
                ("GetCallerIdentity", hist_snapshot(&self.sts_latency[1])),
            ],
            identity_expires_at: (expires != NO_EXPIRY).then_some(expires),
        }
    }
}

impl StsObserver for Metrics {
    fn attempt_finished(
        &self,
        action: &'static str,
        outcome: AttemptOutcome<'_>,
        elapsed: Duration,
    ) {
        let (label, code): (&'static str, &str) = match outcome {
            AttemptOutcome::Success => ("success", ""),
            AttemptOutcome::Rejected { code, .. } => ("rejected", code),
            AttemptOutcome::Transport(TransportKind::Timeout) => ("timeout", ""),
            AttemptOutcome::Transport(_) => ("unreachable", ""),
            AttemptOutcome::Malformed { .. } => ("malformed", ""),
            AttemptOutcome::Cancelled => ("cancelled", ""),
            AttemptOutcome::BudgetSpent => ("budget-spent", ""),
        };
        if !matches!(outcome, AttemptOutcome::BudgetSpent) {
            match action {
                "AssumeRole" => self.sts_latency[0].observe(elapsed),
                "GetCallerIdentity" => self.sts_latency[1].observe(elapsed),
                _ => {}
            }
        }
        let mut calls = crate::sync::lock(&self.sts_calls);
        let code = sts_code_label(code, &calls);
        *calls.entry((action, label, code)).or_insert(0) += 1;
    }
}

/// STS error codes are upstream text: only short, plain codes become label values, and only
/// the first [`MAX_STS_CODES`] distinct ones.
fn sts_code_label(code: &str, seen: &HashMap<StsKey, u64>) -> String {
    let plain = code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if !plain {
        return "other".to_owned();
    }
    let known = seen.keys().any(|(_, _, c)| c == code);
    let distinct = seen
        .keys()
        .map(|(_, _, c)| c.as_str())
        .collect::<std::collections::HashSet<_>>()
        .len();
    if known || distinct < MAX_STS_CODES {
        code.to_owned()
    } else {
        "other".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(m: &Metrics) -> String {
        m.render(&CacheStats::default(), 0, Utc::now())
    }

    #[test]
    fn companion_routes_have_two_labels() {
        for pattern in [
            "/s3/multipart",
            "/s3/multipart/{uploadId}/{partNumber}",
            "/profiles/{profile}/s3/multipart/{uploadId}/complete",
        ] {
            assert_eq!(
                Route::from_pattern(Some(pattern)),
                Route::S3Multipart,
                "{pattern}"
            );
        }
        assert_eq!(
            Route::from_pattern(Some("/profiles/{profile}/s3/params")),
            Route::S3Params
        );
        assert_eq!(Route::from_pattern(Some("/other")), Route::Unmatched);
    }

    #[test]
    fn counts_from_every_thread_are_summed() {
        let m = std::sync::Arc::new(Metrics::new());
        let threads: Vec<_> = (0..THREAD_SHARDS + 3)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        m.observe_request(Route::GetToken, 200, Duration::from_millis(2));
                        m.credential_handed_out(Handout::Token, 0, Outcome::Hit);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let total = 100 * (THREAD_SHARDS + 3);
        let text = render(&m);
        for line in [
            format!(r#"sts_broker_http_requests_total{{route="/getToken",status="200"}} {total}"#),
            format!(
                r#"sts_broker_http_request_duration_seconds_count{{route="/getToken"}} {total}"#
            ),
            format!(
                r#"sts_broker_credentials_handed_out_total{{endpoint="/getToken",cache="hit",profile="default"}} {total}"#
            ),
        ] {
            assert!(text.contains(&line), "{line}\n{text}");
        }
    }

    #[test]
    fn requests_and_latency_by_route_and_status() {
        let m = Metrics::new();
        m.observe_request(Route::GetToken, 200, Duration::from_micros(300));
        m.observe_request(Route::GetToken, 200, Duration::from_millis(3));
        m.observe_request(Route::Unmatched, 404, Duration::from_micros(10));
        let text = render(&m);
        assert!(
            text.contains(r#"sts_broker_http_requests_total{route="/getToken",status="200"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"sts_broker_http_requests_total{route="unmatched",status="404"} 1"#)
        );
        assert!(text.contains(
            r#"sts_broker_http_request_duration_seconds_bucket{route="/getToken",le="0.0005"} 1"#
        ), "{text}");
        assert!(text.contains(
            r#"sts_broker_http_request_duration_seconds_bucket{route="/getToken",le="+Inf"} 2"#
        ));
        assert!(
            text.contains(r#"sts_broker_http_request_duration_seconds_count{route="/getToken"} 2"#)
        );
    }

    #[test]
    fn sts_codes_are_bounded_and_plain() {
        let m = Metrics::new();
        for i in 0..(MAX_STS_CODES + 10) {
            let code = format!("Code{i}");
            m.attempt_finished(
                "AssumeRole",
                AttemptOutcome::Rejected {
                    status: 400,
                    code: &code,
                },
                Duration::from_millis(5),
            );
        }
        m.attempt_finished(
            "AssumeRole",
            AttemptOutcome::Rejected {
                status: 400,
                code: "bad code\"}",
            },
            Duration::from_millis(5),
        );
        let text = render(&m);
        assert!(text.contains(r#"code="Code0""#));
        assert!(!text.contains(&format!("Code{}\"", MAX_STS_CODES + 5)));
        assert!(text.contains(r#"sts_broker_sts_requests_total{action="AssumeRole",outcome="rejected",code="other"} 11"#), "{text}");
    }

    #[test]
    fn identity_expiry_is_reported_only_when_known() {
        let m = Metrics::new();
        assert!(!render(&m).contains("sts_broker_identity_expires_in_seconds"));
        m.set_identity_expiration(Some(Utc::now() + chrono::Duration::seconds(600)));
        let text = render(&m);
        let line = text
            .lines()
            .find(|l| l.starts_with("sts_broker_identity_expires_in_seconds "))
            .expect("gauge present");
        let value: i64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!((598..=600).contains(&value), "{line}");
    }
}
