//! Keyed rate limiting (GCRA) with a hard bound on the number of keys held. Owns counting only:
//! it knows nothing about HTTP, callers or addresses, and reads time only from the caller.

use std::collections::HashMap;
use std::hash::{BuildHasher as _, Hash, RandomState};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// Which rate limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitKind {
    /// Too many failed authentications from this address.
    AuthFailures,
    /// Too many requests from this caller (per address under `none`).
    Caller,
    /// Too many first-time callers from this address.
    NewCallersFromAddress,
    /// Too many first-time callers overall.
    NewCallers,
}

impl RateLimitKind {
    /// For log lines.
    pub fn describe(self) -> &'static str {
        match self {
            Self::AuthFailures => "authentication failures from this address",
            Self::Caller => "requests from this caller",
            Self::NewCallersFromAddress => "first-time callers from this address",
            Self::NewCallers => "first-time callers",
        }
    }

    /// The `limit` label of `sts_broker_rate_limited_total`.
    pub fn label(self) -> &'static str {
        match self {
            Self::AuthFailures => "address",
            Self::Caller => "caller",
            Self::NewCallersFromAddress => "new-caller-address",
            Self::NewCallers => "new-callers",
        }
    }

    pub const ALL: [Self; 4] = [
        Self::Caller,
        Self::AuthFailures,
        Self::NewCallersFromAddress,
        Self::NewCallers,
    ];
}

/// Keys held per limiter before idle ones are dropped (and, if none is idle, the one closest to
/// idle): memory stays bounded whatever keys callers present.
pub const DEFAULT_MAX_KEYS: usize = 50_000;

/// A generic cell rate algorithm per key: `per_minute` sustained, up to `burst` at once.
/// For each key only the "theoretical arrival time" (TAT) is stored.
#[derive(Debug)]
pub struct KeyedLimiter {
    /// Nanoseconds between two requests at the sustained rate.
    emission_ns: i64,
    /// How far the TAT may run ahead of now: `(burst - 1) * emission`.
    tolerance_ns: i64,
    /// Keys held per shard.
    max_keys: usize,
    /// Keys are spread over shards so requests on the two cores rarely wait for each other.
    /// TATs by the key's 64-bit keyed hash: no key is copied or stored, whatever callers send.
    shards: Box<[Mutex<HashMap<u64, i64>>]>,
    hasher: RandomState,
}

const SHARDS: usize = 16;

fn nanos(at: DateTime<Utc>) -> i64 {
    at.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

impl KeyedLimiter {
    pub fn new(per_minute: u32, burst: u32, max_keys: usize) -> Self {
        let emission_ns = 60_000_000_000i64 / i64::from(per_minute.max(1));
        Self {
            emission_ns,
            tolerance_ns: emission_ns.saturating_mul(i64::from(burst.max(1) - 1)),
            max_keys: (max_keys / SHARDS).max(1),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
        }
    }

    fn shard(&self, hash: u64) -> &Mutex<HashMap<u64, i64>> {
        &self.shards[(hash >> 32) as usize % SHARDS]
    }

    /// Counts one request for `key`; `Err` carries how long until one would be allowed.
    pub fn check<K: Hash + ?Sized>(&self, key: &K, now: DateTime<Utc>) -> Result<(), Duration> {
        let now = nanos(now);
        let key = self.hasher.hash_one(key);
        let mut tats = crate::sync::lock(self.shard(key));
        let tat = tats.get(&key).copied().unwrap_or(now).max(now);
        let earliest = tat.saturating_sub(self.tolerance_ns);
        if earliest > now {
            return Err(Duration::from_nanos((earliest - now) as u64));
        }
        let next = tat.saturating_add(self.emission_ns);
        if let Some(slot) = tats.get_mut(&key) {
            *slot = next;
        } else {
            if tats.len() >= self.max_keys {
                Self::make_room(&mut tats, now);
            }
            tats.insert(key, next);
        }
        Ok(())
    }

    /// Keys currently held.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| crate::sync::lock(shard).len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops keys whose TAT has passed (they behave exactly like unseen keys); if every key is
    /// still active, drops the one that would become idle first.
    fn make_room(tats: &mut HashMap<u64, i64>, now: i64) {
        tats.retain(|_, tat| *tat > now);
        if tats.is_empty() {
            return;
        }
        if let Some(oldest) = tats.iter().min_by_key(|(_, tat)| **tat).map(|(k, _)| *k) {
            tats.remove(&oldest);
        }
    }
}

/// `Retry-After` seconds for a wait: rounded up, at least 1.
pub fn retry_after_seconds(wait: Duration) -> u32 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.clamp(1, u64::from(u32::MAX)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    #[test]
    fn burst_then_sustained_rate() {
        let limiter = KeyedLimiter::new(60, 3, 100);
        let now = t0();
        for _ in 0..3 {
            limiter.check("alice", now).unwrap();
        }
        let wait = limiter.check("alice", now).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        assert_eq!(retry_after_seconds(wait), 1);
        // Another key is unaffected.
        limiter.check("bob", now).unwrap();
        // One more after one emission interval, not two.
        let later = now + chrono::Duration::seconds(1);
        limiter.check("alice", later).unwrap();
        assert!(limiter.check("alice", later).is_err());
        // Fully rested after the burst refills.
        let rested = later + chrono::Duration::seconds(3);
        for _ in 0..3 {
            limiter.check("alice", rested).unwrap();
        }
    }

    #[test]
    fn keys_are_bounded() {
        let limiter = KeyedLimiter::new(1, 1, 100);
        for i in 0..1000 {
            limiter.check(&format!("k{i}"), t0()).unwrap();
            assert!(limiter.len() <= 100);
        }
        // Every shard is full (100 keys over 16 shards: 6 each). Once time has passed, a new
        // key's shard drops its idle keys first instead of an active one.
        let before = limiter.len();
        assert_eq!(before, 96);
        let later = t0() + chrono::Duration::minutes(2);
        limiter.check("fresh", later).unwrap();
        assert_eq!(limiter.len(), before - 6 + 1);
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_seconds(Duration::from_secs(7)), 7);
    }
}
