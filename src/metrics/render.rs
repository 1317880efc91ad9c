//! Rendering a scrape: an owned snapshot of every value, encoded by `prometheus-client` in the
//! Prometheus text format. Names, help texts and label sets are written here.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _, NoLabelSet};
use prometheus_client::metrics::MetricType;

use super::{AtomicHistogram, FleetValues, Metrics, StsKey};
use crate::cache::CacheStats;
use crate::ratelimit::RateLimitKind;

type Fmt = Result<(), std::fmt::Error>;

#[derive(Debug, Clone)]
pub(super) struct HistSnapshot {
    pub(super) buckets: Vec<(f64, u64)>,
    pub(super) sum: f64,
}

pub(super) fn hist_snapshot(h: &AtomicHistogram) -> HistSnapshot {
    hist_sum(std::slice::from_ref(h))
}

/// One histogram's snapshot from its shards (same bounds), summed.
pub(super) fn hist_sum<'a>(
    shards: impl IntoIterator<Item = &'a AtomicHistogram> + Clone,
) -> HistSnapshot {
    let first = shards
        .clone()
        .into_iter()
        .next()
        .expect("at least one shard");
    let mut counts = vec![0u64; first.counts.len()];
    let mut sum_ns = 0u64;
    for h in shards {
        for (total, c) in counts.iter_mut().zip(&h.counts) {
            *total += c.load(Ordering::Relaxed);
        }
        sum_ns = sum_ns.wrapping_add(h.sum_ns.load(Ordering::Relaxed));
    }
    HistSnapshot {
        buckets: first
            .bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(counts)
            .collect(),
        sum: sum_ns as f64 / 1e9,
    }
}

#[derive(Debug)]
pub(super) struct Snapshot {
    pub(super) requests: Vec<(&'static str, u16, u64)>,
    pub(super) latency: Vec<(&'static str, HistSnapshot)>,
    pub(super) handed_out: Vec<(String, [[u64; 3]; 2])>,
    pub(super) urls_signed: Vec<(String, u64)>,
    pub(super) rate_limited: [u64; 4],
    pub(super) sts_calls: Vec<(StsKey, u64)>,
    pub(super) sts_latency: [(&'static str, HistSnapshot); 2],
    pub(super) identity_expires_at: Option<i64>,
}

pub(super) struct Scrape<'a> {
    pub(super) metrics: &'a Metrics,
    pub(super) cache: &'a CacheStats,
    pub(super) cache_entries: u64,
    pub(super) fleet: Option<FleetValues>,
    pub(super) now: DateTime<Utc>,
}

impl Scrape<'_> {
    pub(super) fn into_owned(self) -> Collected {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Collected {
            snapshot: self.metrics.snapshot(),
            cache: [
                load(&self.cache.hits),
                load(&self.cache.misses),
                load(&self.cache.refreshes),
                load(&self.cache.refresh_failures),
                load(&self.cache.evictions),
            ],
            cache_entries: self.cache_entries,
            fleet: self.fleet,
            now: self.now.timestamp(),
        }
    }
}

/// One scrape's values, encoded by `prometheus-client`.
#[derive(Debug)]
pub(super) struct Collected {
    snapshot: Snapshot,
    cache: [u64; 5],
    cache_entries: u64,
    fleet: Option<FleetValues>,
    now: i64,
}

fn counter(encoder: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: u64) -> Fmt {
    let mut m = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    m.encode_counter::<NoLabelSet, _, u64>(&value, None)
}

fn gauge(encoder: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: i64) -> Fmt {
    let mut m = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    m.encode_gauge(&value)
}

fn histogram_family(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    label: &'static str,
    series: &[(&'static str, HistSnapshot)],
) -> Fmt {
    let mut m = encoder.encode_descriptor(name, help, None, MetricType::Histogram)?;
    for (value, h) in series {
        let labels = [(label, *value)];
        let mut s = m.encode_family(&labels)?;
        let count = h.buckets.iter().map(|(_, c)| c).sum();
        s.encode_histogram::<NoLabelSet>(h.sum, count, &h.buckets, None)?;
    }
    Ok(())
}

impl prometheus_client::collector::Collector for Collected {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Fmt {
        let e = &mut encoder;
        self.encode_http(e)?;
        self.encode_cache(e)?;
        self.encode_sts(e)?;
        self.encode_fleet(e)?;
        self.encode_rest(e)
    }
}

impl Collected {
    fn encode_http(&self, e: &mut DescriptorEncoder<'_>) -> Fmt {
        let s = &self.snapshot;
        let mut m = e.encode_descriptor(
            "sts_broker_http_requests",
            "HTTP requests answered, by matched route and status.",
            None,
            MetricType::Counter,
        )?;
        for (route, status, n) in &s.requests {
            let status = status.to_string();
            let labels = [("route", *route), ("status", status.as_str())];
            m.encode_family(&labels)?
                .encode_counter::<NoLabelSet, _, u64>(n, None)?;
        }
        histogram_family(
            e,
            "sts_broker_http_request_duration_seconds",
            "Time from receiving a request to producing its response, by matched route.",
            "route",
            &s.latency,
        )?;

        let mut m = e.encode_descriptor(
            "sts_broker_credentials_handed_out",
            "Credentials handed to callers, by endpoint, how the cache provided them and profile.",
            None,
            MetricType::Counter,
        )?;
        for (profile, counters) in &s.handed_out {
            for (ei, endpoint) in ["/getToken", "/getPostObjectParams"].iter().enumerate() {
                for (oi, outcome) in ["hit", "hit-refreshing", "miss"].iter().enumerate() {
                    let labels = [
                        ("endpoint", *endpoint),
                        ("cache", *outcome),
                        ("profile", profile.as_str()),
                    ];
                    m.encode_family(&labels)?
                        .encode_counter::<NoLabelSet, _, u64>(&counters[ei][oi], None)?;
                }
            }
        }
        let mut m = e.encode_descriptor(
            "sts_broker_download_urls_signed",
            "Signed download URLs handed out (/getObjectUrl, /getObjectUrls), by profile.",
            None,
            MetricType::Counter,
        )?;
        for (profile, count) in &s.urls_signed {
            m.encode_family(&[("profile", profile.as_str())])?
                .encode_counter::<NoLabelSet, _, u64>(count, None)?;
        }
        Ok(())
    }

    fn encode_cache(&self, e: &mut DescriptorEncoder<'_>) -> Fmt {
        let [hits, misses, refreshes, refresh_failures, evictions] = self.cache;
        counter(
            e,
            "sts_broker_cache_hits",
            "Credential cache lookups served from the cache.",
            hits,
        )?;
        counter(
            e,
            "sts_broker_cache_misses",
            "Credential cache lookups that had to wait for AssumeRole (or a remembered failure).",
            misses,
        )?;
        counter(
            e,
            "sts_broker_cache_refreshes",
            "Background refreshes started ahead of expiry.",
            refreshes,
        )?;
        counter(
            e,
            "sts_broker_cache_refresh_failures",
            "Background refreshes that failed (the cached credential kept being served).",
            refresh_failures,
        )?;
        counter(
            e,
            "sts_broker_cache_evictions",
            "Cache entries dropped for size or idleness.",
            evictions,
        )?;
        gauge(
            e,
            "sts_broker_cache_entries",
            "Scopes currently held in the credential cache.",
            i64::try_from(self.cache_entries).unwrap_or(i64::MAX),
        )
    }

    fn encode_sts(&self, e: &mut DescriptorEncoder<'_>) -> Fmt {
        let s = &self.snapshot;
        let mut m = e.encode_descriptor(
            "sts_broker_sts_requests",
            "Requests sent to STS (each retry counts), by action, outcome and STS error code.",
            None,
            MetricType::Counter,
        )?;
        for ((action, outcome, code), n) in &s.sts_calls {
            let labels = [
                ("action", *action),
                ("outcome", *outcome),
                ("code", code.as_str()),
            ];
            m.encode_family(&labels)?
                .encode_counter::<NoLabelSet, _, u64>(n, None)?;
        }
        histogram_family(
            e,
            "sts_broker_sts_request_duration_seconds",
            "Time one STS request took, by action.",
            "action",
            &s.sts_latency,
        )
    }

    fn encode_fleet(&self, e: &mut DescriptorEncoder<'_>) -> Fmt {
        let Some(f) = self.fleet else {
            return Ok(());
        };
        gauge(
            e,
            "sts_broker_fleet_redis_up",
            "1 while Redis answers, 0 while this replica works alone.",
            i64::from(f.redis_up),
        )?;
        gauge(
            e,
            "sts_broker_fleet_replicas",
            "Replicas seen in the last 30 seconds (the local budget share divides by it).",
            i64::from(f.replicas),
        )?;
        for (name, help, value) in [
            (
                "sts_broker_fleet_hits",
                "Local misses answered with a credential another replica stored.",
                f.hits,
            ),
            (
                "sts_broker_fleet_misses",
                "Local misses this replica loaded from STS for the fleet.",
                f.misses,
            ),
            (
                "sts_broker_fleet_lock_waits",
                "Local misses that waited for another replica's load.",
                f.lock_waits,
            ),
            (
                "sts_broker_fleet_unreadable_values",
                "Values in Redis that did not open and were replaced.",
                f.unreadable,
            ),
            (
                "sts_broker_fleet_stale_values",
                "Values in Redis older than a credential this replica already had, not adopted.",
                f.stale,
            ),
            (
                "sts_broker_fleet_redis_errors",
                "Redis operations that failed or timed out.",
                f.redis_errors,
            ),
            (
                "sts_broker_fleet_invalid_state",
                "Budget state or load locks in Redis that no replica writes, deleted and not waited on.",
                f.invalid_state,
            ),
        ] {
            counter(e, name, help, value)?;
        }
        Ok(())
    }

    fn encode_rest(&self, e: &mut DescriptorEncoder<'_>) -> Fmt {
        let s = &self.snapshot;
        let mut m = e.encode_descriptor(
            "sts_broker_rate_limited",
            "Requests refused with 429 rate-limited, by which limit refused them.",
            None,
            MetricType::Counter,
        )?;
        for (i, kind) in RateLimitKind::ALL.iter().enumerate() {
            let labels = [("limit", kind.label())];
            m.encode_family(&labels)?
                .encode_counter::<NoLabelSet, _, u64>(&s.rate_limited[i], None)?;
        }

        if let Some(expires) = s.identity_expires_at {
            gauge(
                e,
                "sts_broker_identity_expires_in_seconds",
                "Seconds until the broker's own temporary identity expires (absent for a long-term key).",
                expires - self.now,
            )?;
        }

        let build = prometheus_client::metrics::info::Info::new(vec![(
            "version",
            env!("CARGO_PKG_VERSION"),
        )]);
        let m = e.encode_descriptor(
            "sts_broker_build",
            "The running version.",
            None,
            build.metric_type(),
        )?;
        build.encode(m)
    }
}
