//! An expiring, single-flight credential cache. It knows expiry times, refresh windows and
//! failures, never signatures or HTTP: values come from a loader it is given.
//!
//! Rules (per key):
//! - more than `refresh_ahead` left: served at once;
//! - between `min_ttl` and `refresh_ahead` left: served at once, and ONE background refresh
//!   starts after a small jitter; a failed refresh is retried later with exponential backoff and
//!   full jitter while the cached value keeps being served (last-good);
//! - less than `min_ttl` left, or nothing cached: the request waits for ONE load shared by every
//!   concurrent waiter (single flight);
//! - a non-retryable load failure is remembered for `negative_ttl`, so a misconfiguration
//!   cannot hammer STS.
//!
//! Admission: a key takes a cache slot only once it has a value. Loads in flight live in a
//! separate map and remembered failures in a small cache of their own, so neither can evict a
//! live credential. Values live in two segments: `probation` for new keys and `protected` for
//! keys that have shown they are in use. Asking again is not enough evidence (anyone can ask
//! twice, or a hundred times, in one breath): a key moves to `protected` only when it is asked
//! for again at least `promote_after` after its first load, by the cache's clock. Time cannot be
//! minted, so a flood of fresh keys, however often each is asked for, only churns `probation`,
//! and credentials callers actually reuse stay. Keys nobody asked for within `idle_ttl` are
//! dropped, never refreshed.
//!
//! A warm request needs no lookup at all when whoever names the key keeps a [`Memo`] beside it
//! (the issuer keeps one in each scope): see `memo.rs`.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use tokio::time::Instant;

use crate::backoff::full_jitter;
use crate::clock::Clock;

/// Something with an expiry time.
pub trait Expiring {
    fn expiration(&self) -> DateTime<Utc>;
}

pub use crate::backoff::Retryable;

/// Why the loader is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadKind {
    /// Nothing cached for the key: a caller waits.
    First,
    /// The cached value fell under the floor: a caller of a key in use waits.
    Reload,
    /// In the background, ahead of expiry; the cached value is still served.
    Refresh,
}

/// What the loader is told besides the key.
#[derive(Debug, Clone, Copy)]
pub struct LoadContext {
    pub kind: LoadKind,
    /// The expiry of the value cached now, if any (a shared store may already hold a newer
    /// one).
    pub current_expiration: Option<DateTime<Utc>>,
}

/// Produces a fresh value for a key.
pub type Loader<K, V, E> =
    Arc<dyn Fn(K, LoadContext) -> BoxFuture<'static, Result<V, E>> + Send + Sync>;

/// The cache's timing rules.
#[derive(Debug, Clone, Copy)]
pub struct CachePolicy {
    pub refresh_ahead: chrono::Duration,
    pub min_ttl: chrono::Duration,
    pub negative_ttl: Duration,
    /// Upper bound of the random delay before a background refresh starts.
    pub refresh_jitter: Duration,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// Values held in all (a fifth of them, at least one, for keys asked for once).
    pub max_entries: u64,
    pub idle_ttl: Duration,
    /// How long after its first load a key must be asked for again to count as in use (and
    /// move to the protected segment).
    pub promote_after: chrono::Duration,
}

/// How a value was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Served from the cache.
    Hit,
    /// Served from the cache; a background refresh was started or is running.
    HitRefreshing,
    /// Loaded (or waited for a load) for this request.
    Miss,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::HitRefreshing => "hit-refreshing",
            Self::Miss => "miss",
        }
    }
}

/// Counters for metrics.
#[derive(Debug, Default)]
pub struct CacheStats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub refreshes: AtomicU64,
    pub refresh_failures: AtomicU64,
    pub evictions: Arc<AtomicU64>,
}

struct Slot<V, E> {
    /// When the key was first asked for, by the cache's clock.
    first_seen: DateTime<Utc>,
    /// When the key was last looked up in a segment (Unix seconds, the cache's clock).
    touched: AtomicI64,
    /// Whether the slot has moved to the protected segment.
    protected: AtomicBool,
    current: ArcSwapOption<V>,
    /// Serialises loads of this key: the single flight.
    load_lock: tokio::sync::Mutex<()>,
    /// Bumped after every finished load, so waiters can tell one happened while they queued.
    generation: AtomicU64,
    last_error: Mutex<Option<(Arc<E>, Option<Instant>)>>,
    refreshing: AtomicBool,
    refresh_failures: AtomicU32,
    next_refresh_at: Mutex<Option<Instant>>,
}

impl<V, E> Slot<V, E> {
    fn new(first_seen: DateTime<Utc>) -> Self {
        Self {
            first_seen,
            touched: AtomicI64::new(i64::MIN),
            protected: AtomicBool::new(false),
            current: ArcSwapOption::empty(),
            load_lock: tokio::sync::Mutex::new(()),
            generation: AtomicU64::new(0),
            last_error: Mutex::new(None),
            refreshing: AtomicBool::new(false),
            refresh_failures: AtomicU32::new(0),
            next_refresh_at: Mutex::new(None),
        }
    }

    /// A remembered non-retryable error that is still in force.
    fn negative(&self) -> Option<Arc<E>> {
        let guard = crate::sync::lock(&self.last_error);
        match &*guard {
            Some((error, Some(until))) if Instant::now() < *until => Some(error.clone()),
            _ => None,
        }
    }

    fn store(&self, value: Arc<V>) {
        self.current.store(Some(value));
        *crate::sync::lock(&self.last_error) = None;
        self.refresh_failures.store(0, Ordering::Relaxed);
        *crate::sync::lock(&self.next_refresh_at) = None;
    }
}

type Segment<K, V, E> = moka::sync::Cache<K, Arc<Slot<V, E>>>;

/// A first load in flight and how many requests wait for it.
struct Pending<V, E> {
    slot: Arc<Slot<V, E>>,
    interested: usize,
}

/// What a first request found under the `pending` lock.
enum Registered<V, E> {
    /// A value appeared since the segments were looked at.
    Cached(Arc<Slot<V, E>>),
    Refused(Arc<E>),
    /// The load in flight this request now waits for.
    Pending(Arc<Slot<V, E>>),
}

/// One request's interest in a first load. Dropped with the request (answered, or given up
/// when the caller went away): when no request waits any more, a load that did not finish
/// leaves no `pending` entry behind.
struct Interest<'a, K: Hash + Eq, V, E> {
    pending: &'a Mutex<HashMap<K, Pending<V, E>>>,
    key: &'a K,
    slot: &'a Arc<Slot<V, E>>,
}

impl<K: Hash + Eq, V, E> Drop for Interest<'_, K, V, E> {
    fn drop(&mut self) {
        let mut pending = crate::sync::lock(self.pending);
        if let Some(entry) = pending.get_mut(self.key) {
            if Arc::ptr_eq(&entry.slot, self.slot) {
                entry.interested -= 1;
                if entry.interested == 0 {
                    pending.remove(self.key);
                }
            }
        }
    }
}

pub struct CredentialCache<K, V, E> {
    /// Keys asked for again after their first load.
    protected: Segment<K, V, E>,
    /// Keys loaded once and not asked for since.
    probation: Segment<K, V, E>,
    /// First loads in flight: no value yet, so no slot in either segment.
    pending: Mutex<HashMap<K, Pending<V, E>>>,
    /// First loads that failed for good, remembered for `negative_ttl`.
    refused: moka::sync::Cache<K, (Arc<E>, Instant)>,
    loader: Loader<K, V, E>,
    policy: CachePolicy,
    clock: Arc<dyn Clock>,
    stats: Arc<CacheStats>,
}

impl<K, V, E> std::fmt::Debug for CredentialCache<K, V, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialCache")
            .field("protected", &self.protected.entry_count())
            .field("probation", &self.probation.entry_count())
            .field("policy", &self.policy)
            .finish()
    }
}

/// Remembered refusals are few and short-lived; this bounds them whatever the key count.
const MAX_REFUSED: u64 = 4096;

fn segment<K, V, E>(capacity: u64, idle: Duration, evictions: Arc<AtomicU64>) -> Segment<K, V, E>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    moka::sync::Cache::builder()
        .max_capacity(capacity)
        .time_to_idle(idle)
        .eviction_policy(moka::policy::EvictionPolicy::lru())
        .eviction_listener(move |_, _, cause| {
            if cause.was_evicted() {
                evictions.fetch_add(1, Ordering::Relaxed);
            }
        })
        .build()
}

impl<K, V, E> CredentialCache<K, V, E>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Expiring + Send + Sync + 'static,
    E: Retryable + Send + Sync + 'static,
{
    pub fn new(policy: CachePolicy, clock: Arc<dyn Clock>, loader: Loader<K, V, E>) -> Self {
        let stats = Arc::new(CacheStats::default());
        let probation_capacity = (policy.max_entries / 5).max(1);
        let protected_capacity = policy.max_entries.saturating_sub(probation_capacity).max(1);
        Self {
            protected: segment(protected_capacity, policy.idle_ttl, stats.evictions.clone()),
            probation: segment(probation_capacity, policy.idle_ttl, stats.evictions.clone()),
            pending: Mutex::new(HashMap::new()),
            refused: moka::sync::Cache::builder()
                .max_capacity(MAX_REFUSED)
                .time_to_live(policy.negative_ttl)
                .build(),
            loader,
            policy,
            clock,
            stats,
        }
    }

    pub fn stats(&self) -> &Arc<CacheStats> {
        &self.stats
    }

    /// Whether some cached value could be served right now (for readiness).
    pub fn has_servable(&self) -> bool {
        let now = self.clock.now();
        let servable = |slot: &Arc<Slot<V, E>>| {
            slot.current
                .load()
                .as_ref()
                .is_some_and(|v| v.expiration() - now > self.policy.min_ttl)
        };
        self.protected.iter().any(|(_, s)| servable(&s))
            || self.probation.iter().any(|(_, s)| servable(&s))
    }

    /// Keys holding a value (loads in flight and refusals are not counted).
    pub fn entry_count(&self) -> u64 {
        self.protected.run_pending_tasks();
        self.probation.run_pending_tasks();
        self.protected.entry_count() + self.probation.entry_count()
    }

    /// Whether `key` has a slot: a value, or a first load in flight. A key that is not known
    /// would cost a first load.
    pub fn knows(&self, key: &K) -> bool {
        self.protected.contains_key(key)
            || self.probation.contains_key(key)
            || crate::sync::lock(&self.pending).contains_key(key)
    }

    /// The value for `key`, by the rules in the module docs.
    pub async fn get(&self, key: &K) -> Result<(Arc<V>, Outcome), Arc<E>> {
        self.get_slot(key).await.0
    }

    /// [`Self::get`], and the slot served from when the key has one in a segment.
    async fn get_slot(
        &self,
        key: &K,
    ) -> (Result<(Arc<V>, Outcome), Arc<E>>, Option<Arc<Slot<V, E>>>) {
        let now = self.clock.now();
        if let Some(slot) = self.protected.get(key) {
            slot.touched.store(now.timestamp(), Ordering::Relaxed);
            return (self.serve(key, &slot).await, Some(slot));
        }
        if let Some(slot) = self.probation.get(key) {
            slot.touched.store(now.timestamp(), Ordering::Relaxed);
            // Asked for again long enough after its first load: a credential in use. It moves
            // to the protected segment.
            let aged = now - slot.first_seen >= self.policy.promote_after;
            if aged && self.servable(&slot).is_some() {
                slot.protected.store(true, Ordering::Relaxed);
                self.protected.insert(key.clone(), slot.clone());
                self.probation.invalidate(key);
            }
            return (self.serve(key, &slot).await, Some(slot));
        }
        (self.first_load(key).await, None)
    }

    /// A value that can be served as it is: a hit, or a hit that starts a background refresh.
    fn serve_warm(
        &self,
        key: &K,
        slot: &Arc<Slot<V, E>>,
        now: DateTime<Utc>,
    ) -> Option<(Arc<V>, Outcome)> {
        let value = slot.current.load_full()?;
        let left = value.expiration() - now;
        if left > self.policy.refresh_ahead {
            self.stats.hits.fetch_add(1, Ordering::Relaxed);
            return Some((value, Outcome::Hit));
        }
        if left > self.policy.min_ttl {
            self.stats.hits.fetch_add(1, Ordering::Relaxed);
            self.maybe_refresh(key, slot);
            return Some((value, Outcome::HitRefreshing));
        }
        None
    }

    /// A key with a slot: served, refreshed in the background, or reloaded in place.
    async fn serve(&self, key: &K, slot: &Arc<Slot<V, E>>) -> Result<(Arc<V>, Outcome), Arc<E>> {
        if let Some(served) = self.serve_warm(key, slot, self.clock.now()) {
            return Ok(served);
        }
        let current = slot.current.load_full();
        self.stats.misses.fetch_add(1, Ordering::Relaxed);
        if let Some(error) = slot.negative() {
            return Err(error);
        }
        let context = LoadContext {
            kind: LoadKind::Reload,
            current_expiration: current.map(|v| v.expiration()),
        };
        let seen = slot.generation.load(Ordering::Acquire);
        self.load_shared(key, slot, context, seen).await
    }

    /// Nothing cached: one load shared by every concurrent caller of `key`; the value takes a
    /// probation slot only once it exists.
    async fn first_load(&self, key: &K) -> Result<(Arc<V>, Outcome), Arc<E>> {
        let slot = match self.register(key) {
            Registered::Cached(slot) => return self.serve(key, &slot).await,
            Registered::Refused(error) => {
                self.stats.misses.fetch_add(1, Ordering::Relaxed);
                return Err(error);
            }
            Registered::Pending(slot) => slot,
        };
        self.stats.misses.fetch_add(1, Ordering::Relaxed);
        // Whatever happens to this request (answered, or its future dropped when the caller
        // goes away), its interest in the load ends here.
        let _interest = Interest {
            pending: &self.pending,
            key,
            slot: &slot,
        };
        let context = LoadContext {
            kind: LoadKind::First,
            current_expiration: None,
        };
        // Any load finished on a slot still pending was this flight's: a request that joined as
        // it failed shares its failure.
        let result = self.load_shared(key, &slot, context, 0).await;
        let mut pending = crate::sync::lock(&self.pending);
        if pending
            .get(key)
            .is_some_and(|p| Arc::ptr_eq(&p.slot, &slot))
        {
            match &result {
                Ok(_) => {
                    self.probation.insert(key.clone(), slot.clone());
                }
                Err(error) if error.remember() => {
                    let until = Instant::now() + self.policy.negative_ttl;
                    self.refused.insert(key.clone(), (error.clone(), until));
                }
                Err(_) => {}
            }
            pending.remove(key);
        }
        result
    }

    /// Looks for a value, a remembered refusal or a load in flight, and registers this request
    /// with the load (a new one if none runs), all under the `pending` lock. A finishing load
    /// moves its value (or its refusal) out of `pending` under the same lock, so two requests
    /// can never both find nothing and start two loads.
    fn register(&self, key: &K) -> Registered<V, E> {
        let mut pending = crate::sync::lock(&self.pending);
        if let Some(slot) = self.protected.get(key).or_else(|| self.probation.get(key)) {
            return Registered::Cached(slot);
        }
        if let Some((error, until)) = self.refused.get(key) {
            if Instant::now() < until {
                return Registered::Refused(error);
            }
        }
        let entry = pending.entry(key.clone()).or_insert_with(|| Pending {
            slot: Arc::new(Slot::new(self.clock.now())),
            interested: 0,
        });
        entry.interested += 1;
        Registered::Pending(entry.slot.clone())
    }

    /// Waits for the slot's single flight; loads unless a load finished since the slot's
    /// generation was `seen`.
    async fn load_shared(
        &self,
        key: &K,
        slot: &Slot<V, E>,
        context: LoadContext,
        seen: u64,
    ) -> Result<(Arc<V>, Outcome), Arc<E>> {
        let _flight = slot.load_lock.lock().await;
        if let Some(value) = self.servable(slot) {
            return Ok((value, Outcome::Miss));
        }
        if slot.generation.load(Ordering::Acquire) != seen {
            // A load finished while this request queued and left nothing servable: share its
            // failure instead of starting another STS call for every waiter.
            if let Some((error, _)) = &*crate::sync::lock(&slot.last_error) {
                return Err(error.clone());
            }
        }
        self.load_into(key, slot, context)
            .await
            .map(|v| (v, Outcome::Miss))
    }

    fn servable(&self, slot: &Slot<V, E>) -> Option<Arc<V>> {
        slot.current
            .load_full()
            .filter(|v| v.expiration() - self.clock.now() > self.policy.min_ttl)
    }

    /// Loads with the flight lock held; records the value or the failure.
    async fn load_into(
        &self,
        key: &K,
        slot: &Slot<V, E>,
        context: LoadContext,
    ) -> Result<Arc<V>, Arc<E>> {
        let result = (self.loader)(key.clone(), context).await;
        let outcome = match result {
            Ok(value) => {
                let value = Arc::new(value);
                slot.store(value.clone());
                Ok(value)
            }
            Err(error) => {
                let error = Arc::new(error);
                let until = error
                    .remember()
                    .then(|| Instant::now() + self.policy.negative_ttl);
                *crate::sync::lock(&slot.last_error) = Some((error.clone(), until));
                Err(error)
            }
        };
        slot.generation.fetch_add(1, Ordering::AcqRel);
        outcome
    }

    /// Starts one background refresh unless one runs or the backoff says not yet.
    fn maybe_refresh(&self, key: &K, slot: &Arc<Slot<V, E>>) {
        if let Some(at) = *crate::sync::lock(&slot.next_refresh_at) {
            if Instant::now() < at {
                return;
            }
        }
        if slot.negative().is_some() {
            return;
        }
        if slot
            .refreshing
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        self.stats.refreshes.fetch_add(1, Ordering::Relaxed);
        let task = RefreshTask {
            key: key.clone(),
            slot: slot.clone(),
            loader: self.loader.clone(),
            policy: self.policy,
            stats: self.stats.clone(),
        };
        tokio::spawn(task.run());
    }
}

struct RefreshTask<K, V, E> {
    key: K,
    slot: Arc<Slot<V, E>>,
    loader: Loader<K, V, E>,
    policy: CachePolicy,
    stats: Arc<CacheStats>,
}

impl<K, V, E> RefreshTask<K, V, E>
where
    K: Clone + Send + 'static,
    V: Expiring + Send + Sync + 'static,
    E: Retryable + Send + Sync + 'static,
{
    async fn run(self) {
        // Jitter spreads the refreshes of many keys (and of many broker replicas).
        let jitter = self.policy.refresh_jitter.mul_f64(fastrand::f64());
        tokio::time::sleep(jitter).await;
        let slot = &self.slot;
        {
            let _flight = slot.load_lock.lock().await;
            let context = LoadContext {
                kind: LoadKind::Refresh,
                current_expiration: slot.current.load().as_ref().map(|v| v.expiration()),
            };
            match (self.loader)(self.key.clone(), context).await {
                Ok(value) => slot.store(Arc::new(value)),
                Err(error) => self.failed(error),
            }
            slot.generation.fetch_add(1, Ordering::AcqRel);
        }
        slot.refreshing.store(false, Ordering::Release);
    }

    fn failed(&self, error: E) {
        let slot = &self.slot;
        self.stats.refresh_failures.fetch_add(1, Ordering::Relaxed);
        let failures = slot.refresh_failures.fetch_add(1, Ordering::Relaxed);
        let wait = full_jitter(self.policy.backoff_base, self.policy.backoff_cap, failures);
        *crate::sync::lock(&slot.next_refresh_at) = Some(Instant::now() + wait);
        let until = error
            .remember()
            .then(|| Instant::now() + self.policy.negative_ttl);
        tracing::warn!(
            retry_in_ms = wait.as_millis() as u64,
            "background credential refresh failed; serving the cached credential"
        );
        *crate::sync::lock(&slot.last_error) = Some((Arc::new(error), until));
    }
}

mod memo;
pub use memo::{Memo, TOUCH_EVERY_SECONDS};

#[cfg(test)]
mod tests;
