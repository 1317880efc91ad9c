//! The self-refreshing temporary identity: holds the current key, loads a new one well before it
//! expires (single flight, jittered, last-good while still valid) and forces a reload when STS
//! says the token is bad. It knows expiry, not where keys come from, and never logs a secret.

use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use futures_util::future::BoxFuture;
use sha2::{Digest as _, Sha256};

use super::{IdentityError, IdentityErrorKind};
use crate::clock::{Clock, NonceSource};
use crate::credentials::{AccessKey, TemporaryCredentials};
use crate::timefmt::format_timestamp;

/// Refresh when this little validity is left, at the least: credentials-go refreshes at
/// ≤ 180 s (protocol.md §6).
const MIN_MARGIN_SECONDS: i64 = 180;
/// ... or when a fifth of the lifetime is left, whichever is more: the OSS Go SDK v2 treats
/// credentials as expiring after 80 % of their life (protocol.md §6).
const MARGIN_DIVISOR: i32 = 5;
/// Up to this share of the lifetime is taken off the refresh time at random, so many brokers
/// started together do not refresh together.
const JITTER_DIVISOR: f64 = 20.0;
/// A key with less validity than this is not handed out: the STS call it signs takes time.
const USABLE_FLOOR_SECONDS: i64 = 60;
/// After a failed load, wait this long before the next background attempt, doubling up to
/// [`MAX_BACKOFF_SECONDS`].
const FIRST_BACKOFF_SECONDS: i64 = 5;
const MAX_BACKOFF_SECONDS: i64 = 60;

/// A freshly loaded key and when it expires.
pub struct Fetched {
    pub key: AccessKey,
    pub expiration: DateTime<Utc>,
}

impl From<TemporaryCredentials> for Fetched {
    fn from(c: TemporaryCredentials) -> Self {
        Self {
            key: AccessKey {
                id: c.access_key_id,
                secret: c.access_key_secret,
                security_token: Some(c.security_token),
            },
            expiration: c.expiration,
        }
    }
}

/// Loads the broker's temporary identity from one source.
pub trait Fetch: Send + Sync + fmt::Debug {
    /// What this source is, for logs; never a secret.
    fn describe(&self) -> String;
    fn fetch(&self) -> BoxFuture<'_, Result<Fetched, IdentityError>>;
}

struct Cached {
    key: AccessKey,
    expiration: DateTime<Utc>,
    refresh_at: DateTime<Utc>,
}

struct Failure {
    retry_at: DateTime<Utc>,
    consecutive: u32,
    error: IdentityError,
}

/// The current key of a temporary identity and the machinery that replaces it.
pub struct Refresher {
    fetcher: Box<dyn Fetch>,
    clock: Arc<dyn Clock>,
    nonces: Arc<dyn NonceSource>,
    cached: RwLock<Option<Arc<Cached>>>,
    /// Held by whoever is loading: one load at a time.
    loading: Arc<tokio::sync::Mutex<()>>,
    failure: Mutex<Option<Failure>>,
}

impl fmt::Debug for Refresher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cached = self.snapshot();
        f.debug_struct("Refresher")
            .field("source", &self.fetcher)
            .field("key_id", &cached.as_ref().map(|c| c.key.id.clone()))
            .field("expiration", &cached.as_ref().map(|c| c.expiration))
            .finish()
    }
}

impl Refresher {
    pub fn new(
        fetcher: Box<dyn Fetch>,
        clock: Arc<dyn Clock>,
        nonces: Arc<dyn NonceSource>,
    ) -> Self {
        Self {
            fetcher,
            clock,
            nonces,
            cached: RwLock::new(None),
            loading: Arc::new(tokio::sync::Mutex::new(())),
            failure: Mutex::new(None),
        }
    }

    pub fn describe(&self) -> String {
        self.fetcher.describe()
    }

    /// When the current key expires, if there is one.
    pub fn expiration(&self) -> Option<DateTime<Utc>> {
        self.snapshot().map(|c| c.expiration)
    }

    /// The key to sign with now: the cached one while it is fresh; past its refresh time but
    /// still valid, the cached one while a background load replaces it; otherwise a load now.
    pub async fn current(self: &Arc<Self>) -> Result<AccessKey, IdentityError> {
        let now = self.clock.now();
        if let Some(c) = self.snapshot() {
            if now < c.refresh_at {
                return Ok(c.key.clone());
            }
            if usable(&c, now) {
                self.refresh_in_background(now);
                return Ok(c.key.clone());
            }
        }
        let _loading = self.loading.lock().await;
        let now = self.clock.now();
        if let Some(c) = self.snapshot().filter(|c| usable(c, now)) {
            // Someone else loaded while this caller waited.
            return Ok(c.key.clone());
        }
        if let Some(error) = self.backing_off(now) {
            return Err(error);
        }
        self.load().await
    }

    /// STS refused `rejected`: load a new key unless a newer one is already cached.
    pub async fn force_refresh(&self, rejected: &AccessKey) -> Result<AccessKey, IdentityError> {
        let _loading = self.loading.lock().await;
        if let Some(c) = self.snapshot() {
            if c.key.id != rejected.id && usable(&c, self.clock.now()) {
                return Ok(c.key.clone());
            }
        }
        tracing::info!(
            source = %self.describe(),
            access_key_id = %rejected.id,
            "STS refused the broker's security token; refreshing the identity now"
        );
        self.load().await
    }

    /// Loads now, while the caller holds `loading`; records the outcome.
    async fn load(&self) -> Result<AccessKey, IdentityError> {
        let result = self.fetcher.fetch().await;
        let now = self.clock.now();
        let fetched = result.and_then(|f| {
            if f.expiration - now < Duration::seconds(USABLE_FLOOR_SECONDS) {
                Err(IdentityError::new(
                    IdentityErrorKind::ShortLived,
                    format!(
                        "the source handed out a key expiring at {}, too soon to use",
                        format_timestamp(f.expiration)
                    ),
                ))
            } else {
                Ok(f)
            }
        });
        match fetched {
            Ok(f) => {
                let refresh_at = self.schedule(now, f.expiration);
                tracing::info!(
                    source = %self.describe(),
                    access_key_id = %f.key.id,
                    expiration = %format_timestamp(f.expiration),
                    refresh_at = %format_timestamp(refresh_at),
                    "broker identity loaded"
                );
                let key = f.key.clone();
                *crate::sync::write(&self.cached) = Some(Arc::new(Cached {
                    key: f.key,
                    expiration: f.expiration,
                    refresh_at,
                }));
                *crate::sync::lock(&self.failure) = None;
                Ok(key)
            }
            Err(error) => {
                let mut failure = crate::sync::lock(&self.failure);
                let consecutive = failure.as_ref().map_or(1, |f| f.consecutive + 1);
                let backoff =
                    (FIRST_BACKOFF_SECONDS << (consecutive - 1).min(4)).min(MAX_BACKOFF_SECONDS);
                let still_valid = self.snapshot().filter(|c| usable(c, now));
                tracing::warn!(
                    source = %self.describe(),
                    error = %error,
                    retry_in_seconds = backoff,
                    serving_last_good = still_valid.is_some(),
                    "could not load the broker identity"
                );
                *failure = Some(Failure {
                    retry_at: now + Duration::seconds(backoff),
                    consecutive,
                    error: error.clone(),
                });
                Err(error)
            }
        }
    }

    /// The last load error while its back-off lasts.
    fn backing_off(&self, now: DateTime<Utc>) -> Option<IdentityError> {
        let failure = crate::sync::lock(&self.failure);
        failure
            .as_ref()
            .filter(|f| now < f.retry_at)
            .map(|f| f.error.clone())
    }

    /// Starts one background load unless one is running or a failure is backing off.
    fn refresh_in_background(self: &Arc<Self>, now: DateTime<Utc>) {
        if self.backing_off(now).is_some() {
            return;
        }
        let Ok(guard) = self.loading.clone().try_lock_owned() else {
            return;
        };
        let me = self.clone();
        tokio::spawn(async move {
            let _loading = guard;
            let due = me.snapshot().is_none_or(|c| me.clock.now() >= c.refresh_at);
            if due {
                // A failure is logged and backs off; the last good key keeps serving.
                let _ = me.load().await;
            }
        });
    }

    /// Keeps the identity fresh without traffic: loads at start, then again at each refresh
    /// time. Stops when the identity is dropped.
    pub fn spawn_background(this: &Arc<Self>) {
        let weak = Arc::downgrade(this);
        tokio::spawn(async move {
            loop {
                let Some(me) = weak.upgrade() else { break };
                let wait = me.tick().await;
                drop(me);
                tokio::time::sleep(wait).await;
            }
        });
    }

    /// Loads if due; returns how long to sleep before looking again.
    async fn tick(&self) -> StdDuration {
        let due = |me: &Self, now| {
            me.snapshot().is_none_or(|c| now >= c.refresh_at) && me.backing_off(now).is_none()
        };
        if due(self, self.clock.now()) {
            let _loading = self.loading.lock().await;
            if due(self, self.clock.now()) {
                let _ = self.load().await;
            }
        }
        let now = self.clock.now();
        let mut next = self.snapshot().map(|c| c.refresh_at);
        let failure = crate::sync::lock(&self.failure);
        if let Some(f) = failure.as_ref() {
            next = Some(f.retry_at);
        }
        let wait = next.map_or(Duration::seconds(1), |at| at - now);
        wait.to_std()
            .unwrap_or(StdDuration::ZERO)
            .clamp(StdDuration::from_secs(1), StdDuration::from_secs(3600))
    }

    /// When a key fetched at `now` and expiring at `expiration` should be replaced.
    fn schedule(&self, now: DateTime<Utc>, expiration: DateTime<Utc>) -> DateTime<Utc> {
        let lifetime = expiration - now;
        let margin = Duration::seconds(MIN_MARGIN_SECONDS).max(lifetime / MARGIN_DIVISOR);
        let jitter_ms = lifetime.num_milliseconds() as f64 / JITTER_DIVISOR * self.jitter();
        let at = expiration - margin - Duration::milliseconds(jitter_ms as i64);
        // A key handed out already inside its refresh window (the metadata service serves the
        // same one until it rotates) is looked at again shortly, not on every call.
        let usable_for = expiration - now - Duration::seconds(USABLE_FLOOR_SECONDS);
        let earliest = now + Duration::seconds(30).min(usable_for / 2);
        at.max(earliest)
    }

    /// A fraction in [0, 1) from the injected nonce source.
    fn jitter(&self) -> f64 {
        let digest = Sha256::digest(self.nonces.nonce().as_bytes());
        let mut head = [0u8; 8];
        head.copy_from_slice(&digest[..8]);
        (u64::from_be_bytes(head) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn snapshot(&self) -> Option<Arc<Cached>> {
        crate::sync::read(&self.cached).clone()
    }
}

fn usable(c: &Cached, now: DateTime<Utc>) -> bool {
    c.expiration - now >= Duration::seconds(USABLE_FLOOR_SECONDS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{FixedNonce, ManualClock};
    use chrono::TimeZone;
    use secrecy::SecretString;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Hands out `key-N` valid for `lifetime`, or fails while `fail` is set; optionally slow.
    #[derive(Debug)]
    struct FakeSource {
        clock: Arc<dyn Clock>,
        lifetime: Duration,
        loads: Arc<AtomicUsize>,
        fail: Arc<std::sync::atomic::AtomicBool>,
        delay: StdDuration,
    }

    impl Fetch for FakeSource {
        fn describe(&self) -> String {
            "fake source".into()
        }
        fn fetch(&self) -> BoxFuture<'_, Result<Fetched, IdentityError>> {
            Box::pin(async move {
                if !self.delay.is_zero() {
                    tokio::time::sleep(self.delay).await;
                }
                if self.fail.load(Ordering::SeqCst) {
                    return Err(IdentityError::metadata("fake outage"));
                }
                let n = self.loads.fetch_add(1, Ordering::SeqCst) + 1;
                Ok(Fetched {
                    key: AccessKey {
                        id: format!("key-{n}"),
                        secret: SecretString::from(format!("secret-{n}")),
                        security_token: Some(SecretString::from(format!("token-{n}"))),
                    },
                    expiration: self.clock.now() + self.lifetime,
                })
            })
        }
    }

    struct Fx {
        clock: ManualClock,
        loads: Arc<AtomicUsize>,
        fail: Arc<std::sync::atomic::AtomicBool>,
        refresher: Arc<Refresher>,
    }

    fn fx(lifetime_seconds: i64, delay: StdDuration, nonce: &str) -> Fx {
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap());
        let loads = Arc::new(AtomicUsize::new(0));
        let fail = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let source = FakeSource {
            clock: Arc::new(clock.clone()),
            lifetime: Duration::seconds(lifetime_seconds),
            loads: loads.clone(),
            fail: fail.clone(),
            delay,
        };
        let refresher = Arc::new(Refresher::new(
            Box::new(source),
            Arc::new(clock.clone()),
            Arc::new(FixedNonce(nonce.into())),
        ));
        Fx {
            clock,
            loads,
            fail,
            refresher,
        }
    }

    /// Lets spawned background loads run to completion.
    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }

    #[test]
    fn refresh_margin_is_the_larger_of_180_s_and_a_fifth_plus_jitter() {
        let f = fx(3600, StdDuration::ZERO, "n");
        let now = f.clock.now();
        let at = f.refresher.schedule(now, now + Duration::seconds(3600));
        // 3600/5 = 720 s margin, plus up to 3600/20 = 180 s jitter.
        let left = (now + Duration::seconds(3600) - at).num_seconds();
        assert!((720..=900).contains(&left), "{left}");
        let at = f.refresher.schedule(now, now + Duration::seconds(900));
        let left = (now + Duration::seconds(900) - at).num_seconds();
        assert!((180..=225).contains(&left), "{left}");
        // Fetched inside its window: looked at again in 30 s, not at once.
        let at = f.refresher.schedule(now, now + Duration::seconds(200));
        assert_eq!(at, now + Duration::seconds(30));
        // Different nonces give different jitter.
        let g = fx(3600, StdDuration::ZERO, "other");
        assert_ne!(
            g.refresher.schedule(now, now + Duration::seconds(3600)),
            f.refresher.schedule(now, now + Duration::seconds(3600))
        );
    }

    #[tokio::test]
    async fn concurrent_first_calls_load_once() {
        let f = fx(3600, StdDuration::from_millis(50), "n");
        let calls = (0..16).map(|_| {
            let r = f.refresher.clone();
            tokio::spawn(async move { r.current().await.map(|k| k.id) })
        });
        for call in calls {
            assert_eq!(call.await.unwrap().unwrap(), "key-1");
        }
        assert_eq!(f.loads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn stale_key_is_served_while_a_background_load_replaces_it() {
        let f = fx(3600, StdDuration::ZERO, "n");
        assert_eq!(f.refresher.current().await.unwrap().id, "key-1");
        f.clock.advance(Duration::seconds(2000));
        assert_eq!(f.refresher.current().await.unwrap().id, "key-1");
        assert_eq!(f.loads.load(Ordering::SeqCst), 1, "still fresh");
        f.clock.advance(Duration::seconds(1000)); // 600 s left: inside the window
        assert_eq!(f.refresher.current().await.unwrap().id, "key-1");
        settle().await;
        assert_eq!(f.refresher.current().await.unwrap().id, "key-2");
        assert_eq!(f.loads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn expired_key_is_replaced_inline_and_outages_serve_last_good_then_fail() {
        let f = fx(3600, StdDuration::ZERO, "n");
        f.refresher.current().await.unwrap();
        f.fail.store(true, Ordering::SeqCst);
        f.clock.advance(Duration::seconds(3200)); // inside the window, still valid
        assert_eq!(f.refresher.current().await.unwrap().id, "key-1");
        settle().await;
        // The failed background load backs off; the last good key keeps serving.
        assert_eq!(f.refresher.current().await.unwrap().id, "key-1");
        f.clock.advance(Duration::seconds(400)); // expired
        let err = f.refresher.current().await.unwrap_err();
        assert!(err.to_string().contains("fake outage"), "{err}");
        // Within the back-off the error is repeated without another attempt.
        assert!(f.refresher.current().await.is_err());
        f.fail.store(false, Ordering::SeqCst);
        f.clock.advance(Duration::seconds(61));
        assert_eq!(f.refresher.current().await.unwrap().id, "key-2");
    }

    #[tokio::test]
    async fn force_refresh_loads_once_for_many_rejections_of_the_same_key() {
        let f = fx(3600, StdDuration::ZERO, "n");
        let first = f.refresher.current().await.unwrap();
        let a = f.refresher.force_refresh(&first).await.unwrap();
        let b = f.refresher.force_refresh(&first).await.unwrap();
        assert_eq!((a.id.as_str(), b.id.as_str()), ("key-2", "key-2"));
        assert_eq!(f.loads.load(Ordering::SeqCst), 2);
        let c = f.refresher.force_refresh(&b).await.unwrap();
        assert_eq!(c.id, "key-3");
    }

    #[tokio::test(start_paused = true)]
    async fn background_task_loads_at_start_and_before_expiry() {
        // A clock that follows tokio's paused time, so the sleeping task and the clock agree.
        #[derive(Debug)]
        struct TokioClock(DateTime<Utc>, tokio::time::Instant);
        impl Clock for TokioClock {
            fn now(&self) -> DateTime<Utc> {
                self.0 + Duration::from_std(self.1.elapsed()).unwrap()
            }
        }
        let clock: Arc<dyn Clock> = Arc::new(TokioClock(
            Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap(),
            tokio::time::Instant::now(),
        ));
        let loads = Arc::new(AtomicUsize::new(0));
        let refresher = Arc::new(Refresher::new(
            Box::new(FakeSource {
                clock: clock.clone(),
                lifetime: Duration::seconds(900),
                loads: loads.clone(),
                fail: Arc::new(std::sync::atomic::AtomicBool::new(false)),
                delay: StdDuration::ZERO,
            }),
            clock.clone(),
            Arc::new(FixedNonce("n".into())),
        ));
        Refresher::spawn_background(&refresher);
        settle().await;
        assert_eq!(loads.load(Ordering::SeqCst), 1, "loaded at start");
        for _ in 0..40 {
            tokio::time::sleep(StdDuration::from_secs(60)).await;
            settle().await;
        }
        // 900 s keys refreshed ~180-225 s before expiry: about every 11-12 minutes.
        let n = loads.load(Ordering::SeqCst);
        assert!((4..=5).contains(&n), "{n} loads in 40 minutes");
        let now = clock.now();
        assert!(refresher.expiration().unwrap() - now > Duration::seconds(60));
    }
}
