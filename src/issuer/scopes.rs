//! Callers' scopes by caller id, the one lookup of a warm request. A scope is derived from its
//! caller alone (directory, session policy, session name), so the table only saves work: a
//! caller it dropped gets the same scope again, computed anew.
//!
//! Bounded: at most `max_entries` scopes (spread over shards), and a scope nobody asked for
//! within `idle` is dropped. A read takes a shard's read lock and one hash probe, and writes
//! nothing but the scope's last-use second, only when that second changed; the costs of a
//! general cache (recording every read, reordering recency lists) are not paid per request.
//! Room is made when a full shard takes a new caller: the idle scopes go first, then the least
//! recently used eighth of the shard. A shard is also swept of idle scopes when it is used a
//! minute after its last sweep.

use std::collections::HashMap;
use std::hash::{BuildHasher as _, RandomState};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use crate::policy::CallerId;

/// Shards: requests on different threads rarely share one, and each sweep sees a small part.
const SHARDS: usize = 64;

/// Seconds between two sweeps of a shard's idle scopes.
const SWEEP_EVERY_SECONDS: i64 = 60;

struct Entry<V> {
    scope: Arc<V>,
    /// Unix seconds of the last request for it (the issuer's clock).
    used: AtomicI64,
}

struct Shard<V> {
    scopes: HashMap<CallerId, Entry<V>>,
    /// Unix seconds of the last sweep.
    swept: i64,
}

/// Scopes (`V`) by caller.
pub(super) struct ScopeTable<V> {
    shards: Box<[RwLock<Shard<V>>]>,
    hasher: RandomState,
    per_shard: usize,
    idle_seconds: i64,
}

impl<V> ScopeTable<V> {
    pub(super) fn new(max_entries: u64, idle_seconds: u32) -> Self {
        let max = usize::try_from(max_entries).unwrap_or(usize::MAX);
        let shard = || {
            RwLock::new(Shard {
                scopes: HashMap::new(),
                swept: i64::MIN,
            })
        };
        Self {
            shards: (0..SHARDS).map(|_| shard()).collect(),
            hasher: RandomState::new(),
            per_shard: max.div_ceil(SHARDS).max(1),
            idle_seconds: i64::from(idle_seconds),
        }
    }

    fn shard(&self, caller: &CallerId) -> &RwLock<Shard<V>> {
        let hash = self.hasher.hash_one(caller);
        &self.shards[(hash >> 32) as usize % SHARDS]
    }

    /// The scope held for `caller`, unless it went idle; marks it used at `now` (Unix seconds).
    pub(super) fn get(&self, caller: &CallerId, now: i64) -> Option<Arc<V>> {
        let lock = self.shard(caller);
        let (found, sweep) = {
            let shard = crate::sync::read(lock);
            let found = shard.scopes.get(caller).and_then(|entry| {
                let used = entry.used.load(Ordering::Relaxed);
                if now.saturating_sub(used) >= self.idle_seconds {
                    return None;
                }
                if used < now {
                    entry.used.store(now, Ordering::Relaxed);
                }
                Some(entry.scope.clone())
            });
            (
                found,
                now.saturating_sub(shard.swept) >= SWEEP_EVERY_SECONDS,
            )
        };
        if sweep {
            let mut shard = crate::sync::write(lock);
            if now.saturating_sub(shard.swept) >= SWEEP_EVERY_SECONDS {
                self.drop_idle(&mut shard, now);
            }
        }
        found
    }

    /// Holds `scope` for `caller`, used at `now`, making room in its shard when it is full.
    pub(super) fn insert(&self, caller: CallerId, scope: Arc<V>, now: i64) {
        let mut shard = crate::sync::write(self.shard(&caller));
        if shard.scopes.len() >= self.per_shard && !shard.scopes.contains_key(&caller) {
            self.drop_idle(&mut shard, now);
            if shard.scopes.len() >= self.per_shard {
                drop_least_recent(&mut shard.scopes, self.per_shard.div_ceil(8));
            }
        }
        let used = AtomicI64::new(now);
        shard.scopes.insert(caller, Entry { scope, used });
    }

    fn drop_idle(&self, shard: &mut Shard<V>, now: i64) {
        let idle = self.idle_seconds;
        shard
            .scopes
            .retain(|_, e| now.saturating_sub(e.used.load(Ordering::Relaxed)) < idle);
        shard.swept = now;
    }

    /// Scopes held now (idle ones not yet swept included).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| crate::sync::read(s).scopes.len())
            .sum()
    }
}

/// Drops `count` of the scopes used longest ago (at least one when there are any).
fn drop_least_recent<V>(scopes: &mut HashMap<CallerId, Entry<V>>, count: usize) {
    let mut used: Vec<i64> = scopes
        .values()
        .map(|e| e.used.load(Ordering::Relaxed))
        .collect();
    if used.is_empty() {
        return;
    }
    let count = count.clamp(1, used.len());
    let (_, &mut cutoff, _) = used.select_nth_unstable(count - 1);
    // Everything used before the cutoff second (fewer than `count`), then ties at it.
    let older = used.iter().filter(|&&u| u < cutoff).count();
    let mut ties = count - older;
    scopes.retain(|_, e| {
        let u = e.used.load(Ordering::Relaxed);
        if u < cutoff {
            return false;
        }
        if u == cutoff && ties > 0 {
            ties -= 1;
            return false;
        }
        true
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(i: usize) -> CallerId {
        CallerId::parse(&format!("caller-{i}")).unwrap()
    }

    fn scope(i: usize) -> Arc<String> {
        Arc::new(format!("uploads/caller-{i}/"))
    }

    fn used(scopes: &HashMap<CallerId, Entry<String>>) -> Vec<i64> {
        let mut used: Vec<i64> = scopes
            .values()
            .map(|e| e.used.load(Ordering::Relaxed))
            .collect();
        used.sort_unstable();
        used
    }

    #[test]
    fn a_held_scope_is_found_until_it_goes_idle() {
        let table = ScopeTable::new(100, 3600);
        table.insert(caller(1), scope(1), 1000);
        let found = table.get(&caller(1), 1000 + 3599).expect("held");
        assert_eq!(*found, "uploads/caller-1/");
        // Used again at 4599: idle only an hour after that.
        assert!(table.get(&caller(1), 4599 + 3599).is_some());
        assert!(table.get(&caller(1), 4599 + 3599 + 3600).is_none());
        assert!(table.get(&caller(2), 1000).is_none());
    }

    #[test]
    fn the_table_never_holds_more_than_its_bound_and_keeps_recent_callers() {
        let max = 640;
        let table = ScopeTable::new(max, 3600);
        // 64 recent callers, asked for at every step; a flood of others, one a second.
        for step in 0..5000 {
            let now = 10_000 + step as i64;
            for i in 0..64 {
                if table.get(&caller(i), now).is_none() {
                    table.insert(caller(i), scope(i), now);
                }
            }
            table.insert(caller(1000 + step), scope(1000 + step), now);
            assert!(table.len() <= max as usize, "step {step}: {}", table.len());
        }
        for i in 0..64 {
            assert!(table.get(&caller(i), 15_000).is_some(), "caller {i} kept");
        }
    }

    #[test]
    fn a_shard_in_use_is_swept_of_idle_scopes_a_minute_on() {
        let table = ScopeTable::new(10_000, 60);
        for i in 0..500 {
            table.insert(caller(i), scope(i), 1000);
        }
        let shard = |c: &CallerId| std::ptr::from_ref(table.shard(c));
        let same = (0..500)
            .filter(|&i| shard(&caller(i)) == shard(&caller(9999)))
            .count();
        assert!(table.get(&caller(9999), 1030).is_none());
        table.insert(caller(9999), scope(9999), 1030);
        assert_eq!(table.len(), 501, "nothing idle yet");
        assert!(table.get(&caller(9999), 1080).is_some());
        assert_eq!(table.len(), 501, "swept less than a minute ago");
        // Requests for one caller only, after the others went idle: its shard is swept.
        assert!(table.get(&caller(9999), 1095).is_some());
        assert_eq!(table.len(), 501 - same);
    }

    #[test]
    fn the_least_recent_are_dropped_ties_in_part() {
        let mut map = HashMap::new();
        for (i, used) in [5, 1, 1, 1, 9, 7, 3, 8].into_iter().enumerate() {
            let used = AtomicI64::new(used);
            map.insert(
                caller(i),
                Entry {
                    scope: scope(i),
                    used,
                },
            );
        }
        drop_least_recent(&mut map, 2);
        assert_eq!(used(&map), [1, 3, 5, 7, 8, 9]);
        drop_least_recent(&mut map, 3);
        assert_eq!(used(&map), [7, 8, 9]);
        drop_least_recent(&mut map, 0);
        assert_eq!(used(&map), [8, 9]);
    }
}
