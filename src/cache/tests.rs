//! The cache's rules, one test each: single flight, refresh ahead, floors, backoff,
//! remembered refusals, size, and admission.

use super::*;
use crate::clock::ManualClock;
use std::sync::atomic::AtomicUsize;

#[derive(Debug)]
struct Value {
    expires: DateTime<Utc>,
    serial: usize,
}

impl Expiring for Value {
    fn expiration(&self) -> DateTime<Utc> {
        self.expires
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Failure(bool);

impl Retryable for Failure {
    fn retryable(&self) -> bool {
        self.0
    }
}

/// What the fake loader does next.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Succeed,
    FailRetryable,
    FailPermanent,
}

struct Harness {
    cache: CredentialCache<String, Value, Failure>,
    clock: ManualClock,
    calls: Arc<AtomicUsize>,
    mode: Arc<Mutex<Mode>>,
}

const LIFETIME: i64 = 3600;
const PROMOTE_AFTER: i64 = 60;

fn harness(load_delay: Duration) -> Harness {
    let clock = ManualClock::new(Utc::now());
    let calls = Arc::new(AtomicUsize::new(0));
    let mode = Arc::new(Mutex::new(Mode::Succeed));
    let loader: Loader<String, Value, Failure> = {
        let (clock, calls, mode) = (clock.clone(), calls.clone(), mode.clone());
        Arc::new(move |_key: String, _context: LoadContext| {
            let (clock, calls, mode) = (clock.clone(), calls.clone(), mode.clone());
            Box::pin(async move {
                let serial = calls.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::time::sleep(load_delay).await;
                match *mode.lock().unwrap() {
                    Mode::Succeed => Ok(Value {
                        expires: clock.now() + chrono::Duration::seconds(LIFETIME),
                        serial,
                    }),
                    Mode::FailRetryable => Err(Failure(true)),
                    Mode::FailPermanent => Err(Failure(false)),
                }
            })
        })
    };
    let policy = CachePolicy {
        refresh_ahead: chrono::Duration::seconds(900),
        min_ttl: chrono::Duration::seconds(300),
        negative_ttl: Duration::from_secs(5),
        refresh_jitter: Duration::from_secs(2),
        backoff_base: Duration::from_secs(1),
        backoff_cap: Duration::from_secs(60),
        max_entries: 100,
        idle_ttl: Duration::from_secs(3600),
        promote_after: chrono::Duration::seconds(PROMOTE_AFTER),
    };
    Harness {
        cache: CredentialCache::new(policy, Arc::new(clock.clone()), loader),
        clock,
        calls,
        mode,
    }
}

impl Harness {
    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
    fn age(&self, seconds: i64) {
        self.clock.advance(chrono::Duration::seconds(seconds));
    }
    async fn get(&self) -> Result<(Arc<Value>, Outcome), Arc<Failure>> {
        self.cache.get(&"k".to_owned()).await
    }
}

/// Lets spawned refresh tasks run to completion on the paused clock.
async fn settle() {
    tokio::time::sleep(Duration::from_secs(10)).await;
}

#[tokio::test(start_paused = true)]
async fn sequential_hits_share_one_load() {
    let h = harness(Duration::ZERO);
    for _ in 0..1000 {
        h.get().await.unwrap();
    }
    assert_eq!(h.calls(), 1);
    assert_eq!(h.cache.stats().misses.load(Ordering::Relaxed), 1);
    assert_eq!(h.cache.stats().hits.load(Ordering::Relaxed), 999);
}

#[tokio::test(start_paused = true)]
async fn concurrent_cold_misses_share_one_load() {
    let h = Arc::new(harness(Duration::from_millis(50)));
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let h = h.clone();
            tokio::spawn(async move { h.get().await.map(|(v, _)| v.serial) })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), 1);
    }
    assert_eq!(h.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn concurrent_waiters_share_a_failure() {
    let h = Arc::new(harness(Duration::from_millis(50)));
    h.set(Mode::FailRetryable);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let h = h.clone();
            tokio::spawn(async move { h.get().await.is_err() })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap());
    }
    assert_eq!(h.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn refresh_ahead_answers_at_once_and_refreshes_once_in_the_background() {
    let h = harness(Duration::from_millis(100));
    h.get().await.unwrap();
    h.age(LIFETIME - 800); // 800 s left: inside the 900 s window, above the 300 s floor
    for _ in 0..50 {
        let (value, outcome) = h.get().await.unwrap();
        assert_eq!(value.serial, 1, "answered from the cache at once");
        assert_eq!(outcome, Outcome::HitRefreshing);
    }
    settle().await;
    assert_eq!(h.calls(), 2, "exactly one background refresh");
    let (value, outcome) = h.get().await.unwrap();
    assert_eq!((value.serial, outcome), (2, Outcome::Hit));
}

#[tokio::test(start_paused = true)]
async fn below_the_floor_requests_wait_for_a_fresh_credential() {
    let h = harness(Duration::ZERO);
    h.get().await.unwrap();
    h.age(LIFETIME - 200); // under the 300 s floor
    let (value, outcome) = h.get().await.unwrap();
    assert_eq!((value.serial, outcome), (2, Outcome::Miss));
}

#[tokio::test(start_paused = true)]
async fn failed_refresh_keeps_serving_last_good_and_backs_off() {
    let h = harness(Duration::ZERO);
    h.get().await.unwrap();
    h.age(LIFETIME - 800);
    h.set(Mode::FailRetryable);
    h.get().await.unwrap();
    settle().await;
    assert_eq!(h.calls(), 2);
    // Right after the failure the backoff holds further refreshes back...
    for _ in 0..100 {
        let (value, _) = h.get().await.unwrap();
        assert_eq!(value.serial, 1, "last good credential still served");
    }
    settle().await;
    assert!(h.calls() <= 3, "no tight refresh loop: {}", h.calls());
    // ...and once STS is back a later request refreshes it.
    h.set(Mode::Succeed);
    tokio::time::sleep(Duration::from_secs(120)).await;
    h.get().await.unwrap();
    settle().await;
    let (value, _) = h.get().await.unwrap();
    assert!(value.serial > 1);
}

#[tokio::test(start_paused = true)]
async fn a_permanent_failure_is_remembered_for_a_few_seconds() {
    let h = harness(Duration::ZERO);
    h.set(Mode::FailPermanent);
    for _ in 0..20 {
        assert!(h.get().await.is_err());
    }
    assert_eq!(h.calls(), 1, "not retried in a tight loop");
    tokio::time::sleep(Duration::from_secs(6)).await;
    h.set(Mode::Succeed);
    assert!(h.get().await.is_ok());
    assert_eq!(h.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn retryable_cold_failures_are_not_remembered() {
    let h = harness(Duration::ZERO);
    h.set(Mode::FailRetryable);
    assert!(h.get().await.is_err());
    h.set(Mode::Succeed);
    assert!(h.get().await.is_ok());
    assert_eq!(h.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn size_is_bounded() {
    let h = harness(Duration::ZERO);
    for i in 0..500 {
        h.cache.get(&format!("caller-{i}")).await.unwrap();
    }
    assert!(h.cache.entry_count() <= 100, "{}", h.cache.entry_count());
}

#[tokio::test(start_paused = true)]
async fn failed_first_loads_take_no_slot_and_evict_nothing() {
    let h = harness(Duration::ZERO);
    for i in 0..20 {
        let key = format!("established-{i}");
        h.cache.get(&key).await.unwrap();
        h.cache.get(&key).await.unwrap();
    }
    h.set(Mode::FailRetryable);
    for i in 0..1000 {
        assert!(h.cache.get(&format!("failing-{i}")).await.is_err());
    }
    assert_eq!(h.cache.entry_count(), 20, "failures hold no slot");
    assert!(!h.cache.knows(&"failing-3".to_owned()));
    let before = h.calls();
    for i in 0..20 {
        let (_, outcome) = h.cache.get(&format!("established-{i}")).await.unwrap();
        assert_eq!(outcome, Outcome::Hit);
    }
    assert_eq!(h.calls(), before, "no established key was reloaded");
}

/// Twenty callers asked for their credential, and again a minute later.
async fn established(h: &Harness) -> Vec<usize> {
    for i in 0..20 {
        h.cache.get(&format!("established-{i}")).await.unwrap();
    }
    h.age(PROMOTE_AFTER);
    let mut serials = Vec::new();
    for i in 0..20 {
        serials.push(
            h.cache
                .get(&format!("established-{i}"))
                .await
                .unwrap()
                .0
                .serial,
        );
    }
    serials
}

async fn assert_established_intact(h: &Harness, serials: &[usize]) {
    assert!(h.cache.entry_count() <= 100, "{}", h.cache.entry_count());
    for (i, serial) in serials.iter().enumerate() {
        let (value, outcome) = h.cache.get(&format!("established-{i}")).await.unwrap();
        assert_eq!(
            (value.serial, outcome),
            (*serial, Outcome::Hit),
            "established-{i}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn reused_keys_survive_a_flood_of_one_shot_keys_three_times_the_size() {
    let h = harness(Duration::ZERO);
    let serials = established(&h).await;
    for i in 0..300 {
        h.cache.get(&format!("one-shot-{i}")).await.unwrap();
    }
    assert_established_intact(&h, &serials).await;
}

#[tokio::test(start_paused = true)]
async fn a_flood_of_fresh_keys_asking_twice_or_thrice_evicts_no_established_key() {
    for asks in [2, 3, 10] {
        let h = harness(Duration::ZERO);
        let serials = established(&h).await;
        for i in 0..300 {
            let key = format!("fresh-{i}");
            for _ in 0..asks {
                h.cache.get(&key).await.unwrap();
            }
            // Seconds apart, but never a full minute after the first ask.
            h.clock.advance(chrono::Duration::milliseconds(100));
        }
        assert_established_intact(&h, &serials).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_key_asked_for_again_only_within_the_minute_stays_on_probation() {
    let h = harness(Duration::ZERO);
    let key = "quick".to_owned();
    h.cache.get(&key).await.unwrap();
    h.age(PROMOTE_AFTER - 1);
    h.cache.get(&key).await.unwrap();
    assert!(h.cache.probation.contains_key(&key));
    assert!(!h.cache.protected.contains_key(&key));
    h.age(1);
    h.cache.get(&key).await.unwrap();
    assert!(h.cache.protected.contains_key(&key), "a minute on: in use");
}

#[tokio::test(start_paused = true)]
async fn a_load_in_flight_is_known_but_holds_no_slot() {
    let h = Arc::new(harness(Duration::from_secs(1)));
    let loading = {
        let h = h.clone();
        tokio::spawn(async move { h.cache.get(&"slow".to_owned()).await.map(|_| ()) })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(h.cache.knows(&"slow".to_owned()));
    assert_eq!(h.cache.entry_count(), 0);
    loading.await.unwrap().unwrap();
    assert_eq!(h.cache.entry_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_first_request_given_up_mid_load_leaves_nothing_pending() {
    let h = harness(Duration::from_secs(10));
    let key = "dropped".to_owned();
    // The caller goes away (its future is dropped) while the load runs.
    let gone = tokio::time::timeout(Duration::from_secs(1), h.cache.get(&key)).await;
    assert!(gone.is_err());
    assert!(!h.cache.knows(&key), "a load nobody waits for is forgotten");
    h.cache.get(&key).await.unwrap();
    assert_eq!(h.calls(), 2);
    assert_eq!(h.cache.entry_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_waiter_takes_over_when_the_loading_request_goes_away() {
    let h = Arc::new(harness(Duration::from_secs(10)));
    let key = "shared".to_owned();
    let first = {
        let (h, key) = (h.clone(), key.clone());
        tokio::spawn(async move {
            tokio::time::timeout(Duration::from_secs(1), h.cache.get(&key))
                .await
                .is_err()
        })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    let (value, _) = h.cache.get(&key).await.unwrap();
    assert!(first.await.unwrap(), "the first request gave up");
    assert_eq!(value.serial, 2, "the waiter loaded afresh");
    assert!(
        h.cache.probation.contains_key(&key),
        "and its value is cached"
    );
    assert!(!crate::sync::lock(&h.cache.pending).contains_key(&key));
}

/// Loads of `KEYS` new keys, each asked for by three requests at the same moment on different
/// threads; the loader answers at once.
fn simultaneous_first_loads() -> usize {
    const ASKS: usize = 3;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let loader: Loader<String, Value, Failure> = {
        let calls = calls.clone();
        Arc::new(move |_key: String, _context: LoadContext| {
            let serial = calls.fetch_add(1, Ordering::SeqCst) + 1;
            Box::pin(async move {
                Ok(Value {
                    expires: Utc::now() + chrono::Duration::seconds(LIFETIME),
                    serial,
                })
            })
        })
    };
    let policy = CachePolicy {
        refresh_ahead: chrono::Duration::seconds(900),
        min_ttl: chrono::Duration::seconds(300),
        negative_ttl: Duration::from_secs(5),
        refresh_jitter: Duration::from_secs(2),
        backoff_base: Duration::from_secs(1),
        backoff_cap: Duration::from_secs(60),
        max_entries: 100_000,
        idle_ttl: Duration::from_secs(3600),
        promote_after: chrono::Duration::seconds(PROMOTE_AFTER),
    };
    let cache = Arc::new(CredentialCache::new(
        policy,
        Arc::new(crate::clock::SystemClock),
        loader,
    ));
    runtime.block_on(async {
        for i in 0..KEYS {
            let key = format!("k{i}");
            let asks: Vec<_> = (0..ASKS)
                .map(|_| {
                    let (cache, key) = (cache.clone(), key.clone());
                    tokio::spawn(async move { cache.get(&key).await.is_ok() })
                })
                .collect();
            for ask in asks {
                assert!(ask.await.unwrap());
            }
        }
    });
    calls.load(Ordering::SeqCst)
}

const KEYS: usize = 3000;

/// Requests for one new key at the same moment on different threads: whatever the
/// interleaving, one load. Looking for a value or a load in flight and registering a new load
/// are one step, so a load finishing in between is seen, not repeated.
#[test]
fn simultaneous_first_requests_on_threads_never_load_twice() {
    assert_eq!(simultaneous_first_loads(), KEYS);
}

#[tokio::test(start_paused = true)]
async fn a_memo_serves_what_a_lookup_serves_by_the_same_rules() {
    let h = harness(Duration::ZERO);
    let (key, memo) = ("k".to_owned(), Memo::default());
    assert!(h.cache.serve_memo(&key, &memo).is_none() && !h.cache.knows(&key));
    for _ in 0..1000 {
        let (value, outcome) = h.cache.get_memo(&key, &memo).await.unwrap();
        assert_eq!(value.serial, 1);
        assert_ne!(outcome, Outcome::HitRefreshing);
    }
    let (value, outcome) = h
        .cache
        .serve_memo(&key, &memo)
        .expect("served from the memo");
    assert_eq!((value.serial, outcome), (1, Outcome::Hit));
    assert_eq!(h.calls(), 1);
    assert_eq!(h.cache.stats().misses.load(Ordering::Relaxed), 1);
    assert_eq!(h.cache.stats().hits.load(Ordering::Relaxed), 1000);
    // Inside the refresh window: served at once, one refresh in the background.
    h.age(LIFETIME - 899);
    for _ in 0..3 {
        let (value, outcome) = h.cache.get_memo(&key, &memo).await.unwrap();
        assert_eq!((value.serial, outcome), (1, Outcome::HitRefreshing));
    }
    settle().await;
    assert_eq!(h.calls(), 2);
    let (value, outcome) = h.cache.get_memo(&key, &memo).await.unwrap();
    assert_eq!((value.serial, outcome), (2, Outcome::Hit));
    // Under the floor, with the memo just used: the request waits for a fresh credential.
    h.age(LIFETIME - 299);
    let (value, outcome) = h.cache.get_memo(&key, &memo).await.unwrap();
    assert_eq!((value.serial, outcome), (3, Outcome::Miss));
}

#[tokio::test(start_paused = true)]
async fn a_key_served_from_its_memo_is_still_promoted_a_minute_on() {
    let h = harness(Duration::ZERO);
    let (key, memo) = ("quick".to_owned(), Memo::default());
    h.cache.get_memo(&key, &memo).await.unwrap();
    h.age(PROMOTE_AFTER - 5);
    h.cache.get_memo(&key, &memo).await.unwrap();
    assert!(h.cache.probation.contains_key(&key));
    // Five seconds later the memo is fresh, but the key is due for promotion: looked up.
    h.age(5);
    let (first, _) = h.cache.get_memo(&key, &memo).await.unwrap();
    assert!(h.cache.protected.contains_key(&key), "a minute on: in use");
    for i in 0..300 {
        h.cache.get(&format!("one-shot-{i}")).await.unwrap();
    }
    assert!(h.cache.entry_count() <= 100);
    h.age(TOUCH_EVERY_SECONDS);
    let (value, outcome) = h.cache.get_memo(&key, &memo).await.unwrap();
    assert_eq!((value.serial, outcome), (first.serial, Outcome::Hit));
}

#[tokio::test(start_paused = true)]
async fn the_memo_of_an_evicted_key_is_dropped_at_the_next_lookup() {
    let h = harness(Duration::ZERO);
    let (key, memo) = ("gone".to_owned(), Memo::default());
    h.cache.get_memo(&key, &memo).await.unwrap();
    h.cache.get_memo(&key, &memo).await.unwrap();
    for i in 0..300 {
        h.cache.get(&format!("one-shot-{i}")).await.unwrap();
    }
    h.cache.entry_count();
    assert!(
        !h.cache.knows(&key),
        "a flood of one-shot keys churned probation"
    );
    // Past the memo's seconds the key is unknown again (first-time-caller limits apply) and
    // costs a load, like any key the cache does not hold.
    h.age(TOUCH_EVERY_SECONDS);
    assert!(h.cache.serve_memo(&key, &memo).is_none() && !h.cache.knows(&key));
    let before = h.calls();
    let (_, outcome) = h.cache.get_memo(&key, &memo).await.unwrap();
    assert_eq!((outcome, h.calls()), (Outcome::Miss, before + 1));
}
