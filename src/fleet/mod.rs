//! Fleet mode: replicas share sealed credentials and one STS budget through Redis (or a
//! compatible service: Valkey, Tair). The in-process cache stays first; this module is what a
//! replica asks on a local miss, and what decides whether an STS call may start. Redis being
//! slow or down is never an error by itself: every operation has a short timeout, and on any
//! failure the replica works alone (local loads, a local share of the budget) until Redis
//! answers again.
//!
//! What Redis holds (all under `BROKER_REDIS_KEY_PREFIX`): `cred:<digest>` sealed credentials
//! (AES-256-GCM, the key name as associated data), `lock:<digest>` a load lock with a random
//! token, `fail:<digest>` the sealed token of a load that failed (for the replicas that waited
//! for it), `{sts-budget:<deployment>}:all` / `…:first` the budget's GCRA state, and
//! `replicas:<deployment>`, the replicas seen lately. `<deployment>` is derived from the role
//! ARN, so two deployments on one Redis and one prefix (staging and production, say) never
//! share a budget by accident. Digests are SHA-256 of the scope key: never a caller id, a key id
//! or a secret.

mod budget;
mod claims;
mod conn;
mod lock;
mod seal;
mod share;
mod store;

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

pub use budget::FleetBudget;
pub use conn::RedisMode;
use conn::{ConnSettings, RedisConn, RedisConns};
pub use lock::{PeerLoadFailed, SharedFailure};
pub use seal::{SealKey, SealKeys};
pub use share::{SharedCredential, Wanted};
pub use store::CredentialStore;

/// The fleet section of the configuration.
#[derive(Clone)]
pub struct FleetConfig {
    /// `BROKER_REDIS_URL` (may hold a password: never shown); in cluster mode, comma-separated
    /// seed nodes.
    pub url: String,
    /// `BROKER_REDIS_MODE`.
    pub mode: RedisMode,
    /// `BROKER_REDIS_CA_FILE`'s PEM contents: the CA `rediss://` servers are checked against.
    pub ca: Option<Vec<u8>>,
    pub keys: SealKeys,
    pub prefix: String,
    /// Every Redis operation gives up after this long.
    pub timeout: Duration,
    /// What the budget and replica keys are named after: the first hex digits of the SHA-256
    /// of `BROKER_ROLE_ARN` (the deployment's own role, not secret).
    pub deployment: String,
}

impl std::fmt::Debug for FleetConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetConfig")
            .field("url", &redacted_url(&self.url))
            .field("mode", &self.mode)
            .field("ca", &self.ca.as_ref().map(|_| "set"))
            .field("keys", &self.keys)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("deployment", &self.deployment)
            .finish()
    }
}

/// `scheme://host:port/db` without user or password (each seed node of a list).
pub fn redacted_url(url: &str) -> String {
    conn::seed_nodes(url)
        .into_iter()
        .map(|one| match reqwest::Url::parse(one) {
            Ok(mut u) => {
                let _ = u.set_username("");
                let _ = u.set_password(None);
                u.to_string()
            }
            Err(_) => "[unparsable]".to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Counters for metrics.
#[derive(Debug, Default)]
pub struct FleetStats {
    /// Local misses answered with a credential another replica had stored.
    pub hits: AtomicU64,
    /// Local misses this replica loaded from STS (holding the fleet lock).
    pub misses: AtomicU64,
    /// Local misses that waited for another replica's load.
    pub lock_waits: AtomicU64,
    /// Values that did not open (tampered, truncated, unknown key) and were replaced.
    pub unreadable: AtomicU64,
    /// Redis operations that failed or timed out.
    pub errors: AtomicU64,
    /// Budget state (not a number, too far ahead) or load locks (no expiry, or one longer than
    /// a load may take) in Redis that no replica writes: each deleted, and the budget taken
    /// from the local share or the lock not waited on.
    pub invalid_state: AtomicU64,
    /// Values that opened but hold an older credential than one this replica already had for
    /// the scope (put back by something else): not adopted.
    pub stale: AtomicU64,
}

/// How long a failed operation keeps this replica from trying Redis again.
const BACKOFF: Duration = Duration::from_secs(2);

/// How long after a call took from the local share `/readyz` still says so.
const BUDGET_REPORT_WINDOW: Duration = Duration::from_secs(10);

/// Whether Redis is answering, and whether the budget is the fleet's.
#[derive(Debug, Default)]
pub struct FleetHealth {
    up: AtomicBool,
    retry_at: Mutex<Option<Instant>>,
    /// When a call last took from the local share instead of the fleet's budget.
    local_budget_at: Mutex<Option<Instant>>,
}

impl FleetHealth {
    /// `false` while a recent failure says to work alone.
    fn usable(&self) -> bool {
        match *crate::sync::lock(&self.retry_at) {
            Some(at) => Instant::now() >= at,
            None => true,
        }
    }

    fn failed(&self) {
        self.up.store(false, Ordering::Relaxed);
        *crate::sync::lock(&self.retry_at) = Some(Instant::now() + BACKOFF);
    }

    fn answered(&self) {
        self.up.store(true, Ordering::Relaxed);
        *crate::sync::lock(&self.retry_at) = None;
    }

    /// Whether the last operation succeeded.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    fn budget_local(&self) {
        *crate::sync::lock(&self.local_budget_at) = Some(Instant::now());
    }

    /// `shared` while STS calls take from the fleet's budget, `local-share` when one took from
    /// this replica's share in the last few seconds (Redis down, or its budget state invalid).
    pub fn budget(&self) -> &'static str {
        match *crate::sync::lock(&self.local_budget_at) {
            Some(at) if at.elapsed() < BUDGET_REPORT_WINDOW => "local-share",
            _ => "shared",
        }
    }
}

/// A replica's handle on the fleet.
pub struct Fleet {
    conns: RedisConns,
    config: FleetConfig,
    health: FleetHealth,
    stats: FleetStats,
    /// Replicas seen in the last [`budget::REPLICA_WINDOW`], at least 1.
    replicas: AtomicU32,
    /// This replica's id in the `replicas` set (random, not secret).
    replica_id: String,
    /// When invalid budget state was last warned about.
    invalid_warned_at: Mutex<Option<Instant>>,
    /// When Redis's unavailability was last warned about.
    unavailable_warned_at: Mutex<Option<Instant>>,
    /// This replica's clock, compared with Redis's at each heartbeat.
    clock: Arc<dyn crate::clock::Clock>,
    heartbeat_script: redis::Script,
    /// When a skewed clock was last warned about.
    skew_warned_at: Mutex<Option<Instant>>,
    /// The latest expiry of a credential this replica stored or adopted, per `cred:` key.
    newest: moka::sync::Cache<String, i64>,
    /// When a stale value was last warned about.
    stale_warned_at: Mutex<Option<Instant>>,
}

/// Scopes whose newest credential a replica remembers (beyond its cache's own entries).
const NEWEST_REMEMBERED: u64 = 100_000;

/// No credential lives longer than STS's longest duration: 12 hours.
const NEWEST_KEPT_FOR: Duration = Duration::from_secs(12 * 3600);

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("config", &self.config)
            .field("up", &self.health.is_up())
            .finish()
    }
}

/// Why Redis could not be used for one operation (never shown to callers).
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("Redis refused the user or password")]
    LoginRefused,
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("Redis failed: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("Redis is skipped after a recent failure")]
    Backoff,
}

/// `WRONGPASS`, `NOAUTH` or an authentication failure: the credentials in the URL are wrong.
fn is_login_error(e: &redis::RedisError) -> bool {
    e.kind() == redis::ErrorKind::AuthenticationFailed
        || matches!(e.code(), Some("WRONGPASS" | "NOAUTH"))
        || e.to_string().contains("WRONGPASS")
}

impl FleetError {
    fn is_refused_login(&self) -> bool {
        matches!(self, Self::LoginRefused)
    }
}

impl Fleet {
    /// Connects lazily: a replica starts even while Redis is down, and reconnects in the
    /// background.
    pub fn new(
        config: FleetConfig,
        clock: Arc<dyn crate::clock::Clock>,
    ) -> Result<Arc<Self>, String> {
        let conns = RedisConns::open(&ConnSettings {
            mode: config.mode,
            urls: &config.url,
            ca: config.ca.as_deref(),
            timeout: config.timeout,
        })?;
        Ok(Arc::new(Self {
            conns,
            config,
            health: FleetHealth::default(),
            stats: FleetStats::default(),
            replicas: AtomicU32::new(1),
            replica_id: uuid::Uuid::new_v4().simple().to_string(),
            invalid_warned_at: Mutex::new(None),
            unavailable_warned_at: Mutex::new(None),
            clock,
            heartbeat_script: redis::Script::new(budget::HEARTBEAT_SCRIPT),
            skew_warned_at: Mutex::new(None),
            newest: moka::sync::Cache::builder()
                .max_capacity(NEWEST_REMEMBERED)
                .time_to_live(NEWEST_KEPT_FOR)
                .build(),
            stale_warned_at: Mutex::new(None),
        }))
    }

    pub fn health(&self) -> &FleetHealth {
        &self.health
    }

    pub fn stats(&self) -> &FleetStats {
        &self.stats
    }

    /// Replicas seen lately (1 until the first heartbeat answers).
    pub fn replicas(&self) -> u32 {
        self.replicas.load(Ordering::Relaxed).max(1)
    }

    fn key(&self, kind: &str, name: &str) -> String {
        format!("{}{kind}{name}", self.config.prefix)
    }

    /// The deployment's own key for `kind` (`replicas`, the budget's hash tag).
    fn deployment_key(&self, kind: &str) -> String {
        format!("{}:{}", kind, self.config.deployment)
    }

    /// Runs one Redis operation with the timeout, recording health; skipped during backoff.
    async fn run<T, F>(&self, op: F) -> Result<T, FleetError>
    where
        F: std::future::Future<Output = redis::RedisResult<T>>,
    {
        if !self.health.usable() {
            return Err(FleetError::Backoff);
        }
        self.run_always(op).await
    }

    /// As [`Fleet::run`], but tried even during backoff: releasing a lock must not wait for the
    /// backoff to pass, or the other replicas would wait for the lock to expire.
    async fn run_always<T, F>(&self, op: F) -> Result<T, FleetError>
    where
        F: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let span = crate::trace::span(|| {
            tracing::info_span!(
                "redis",
                otel.name = "Redis",
                otel.kind = "client",
                otel.status_code = tracing::field::Empty,
                db.system.name = "redis",
            )
        });
        let timed = tokio::time::timeout(self.config.timeout, op);
        let result = match tracing::Instrument::instrument(timed, span.clone()).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) if is_login_error(&e) => Err(FleetError::LoginRefused),
            Ok(Err(e)) => Err(FleetError::Redis(e)),
            Err(_) => Err(FleetError::Timeout(self.config.timeout)),
        };
        match &result {
            Ok(_) => self.health.answered(),
            Err(e) => {
                span.record("otel.status_code", "ERROR");
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                self.health.failed();
                self.warn_unavailable(e);
            }
        }
        result
    }

    /// One line per back-off period, however many operations fail in it (several may be in
    /// flight when Redis goes away). A refused password or user is said as such.
    fn warn_unavailable(&self, error: &FleetError) {
        let mut last = crate::sync::lock(&self.unavailable_warned_at);
        if last.is_some_and(|at| at.elapsed() < BACKOFF) {
            return;
        }
        *last = Some(Instant::now());
        // Which Redis (without user or password), for an operator with several.
        let redis = redacted_url(&self.config.url);
        if error.is_refused_login() {
            tracing::error!(
                %redis,
                "Redis refused the user or password in BROKER_REDIS_URL; this replica works alone until it is fixed"
            );
        } else {
            tracing::warn!(%redis, error = %error, "Redis unavailable; this replica works alone for now");
        }
    }

    /// State no replica would write was found (and deleted): counted, and warned about at
    /// most once per back-off period. `what` names it.
    fn invalid_state(&self, what: &'static str) {
        let seen = self.stats.invalid_state.fetch_add(1, Ordering::Relaxed);
        let mut last = crate::sync::lock(&self.invalid_warned_at);
        if last.is_none_or(|at| at.elapsed() >= BACKOFF) {
            *last = Some(Instant::now());
            tracing::warn!(
                seen = seen + 1,
                "{what} in Redis is not one a replica writes; deleted. Something other than the broker writes under BROKER_REDIS_KEY_PREFIX: see docs/fleet.md on a Redis ACL"
            );
        }
    }

    /// A value that opened holds a credential expiring before one this replica already had for
    /// the scope: counted, and warned about at most once per back-off period.
    fn stale_value(&self) {
        let seen = self.stats.stale.fetch_add(1, Ordering::Relaxed);
        let mut last = crate::sync::lock(&self.stale_warned_at);
        if last.is_none_or(|at| at.elapsed() >= BACKOFF) {
            *last = Some(Instant::now());
            tracing::warn!(
                seen = seen + 1,
                "a fleet cache value holds an older credential than one this replica already had for the scope; not adopted (put back by something other than the broker, or written by a load that outlived its lock; see docs/fleet.md)"
            );
        }
    }

    /// The calling thread's connection: its answers are read on this thread's runtime.
    fn conn(&self) -> RedisConn {
        self.conns.here()
    }
}
