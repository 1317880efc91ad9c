//! Callers' scopes by caller id, the one lookup of a warm request. A scope is derived from its
//! caller alone (directory, session policy, session name), so the table only saves work: a
//! caller it dropped gets the same scope again, computed anew.
//!
//! A read takes one shard's read lock and one hash probe, and writes nothing but the scope's
//! last-use second, only when that second changed; the costs of a general cache (recording
//! every read, reordering recency lists) are not paid per request.
//!
//! Bounded: at most `max_entries` scopes in all (plus the new callers being inserted at that
//! very moment, one per worker at most), and a scope nobody asked for within `idle` is dropped.
//! A new caller that finds the table full makes room: the idle scopes go first, then the least
//! recently used eighth of the whole table, so room costs a pass over the table once per
//! eighth of it. The first request a minute after the last sweep sweeps every shard of its
//! idle scopes (a scope's memo keeps its credential alive, so idle ones must not linger).

use std::collections::HashMap;
use std::hash::{BuildHasher as _, RandomState};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::policy::CallerId;

/// Shards: requests on different threads rarely share one.
const SHARDS: usize = 64;

/// Seconds between two sweeps of idle scopes.
const SWEEP_EVERY_SECONDS: i64 = 60;

struct Entry<V> {
    scope: Arc<V>,
    /// Unix seconds of the last request for it (the issuer's clock).
    used: AtomicI64,
}

type Shard<V> = HashMap<CallerId, Entry<V>>;

/// Scopes (`V`) by caller.
pub(super) struct ScopeTable<V> {
    shards: Box<[RwLock<Shard<V>>]>,
    hasher: RandomState,
    max: usize,
    /// Scopes held in all shards.
    held: AtomicUsize,
    idle_seconds: i64,
    /// Unix seconds of the last sweep.
    swept: AtomicI64,
    /// Held by whoever is making room, so two new callers do not each drop an eighth.
    making_room: Mutex<()>,
}

impl<V> ScopeTable<V> {
    pub(super) fn new(max_entries: u64, idle_seconds: u32) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            hasher: RandomState::new(),
            max: usize::try_from(max_entries).unwrap_or(usize::MAX).max(1),
            held: AtomicUsize::new(0),
            idle_seconds: i64::from(idle_seconds),
            swept: AtomicI64::new(i64::MIN),
            making_room: Mutex::new(()),
        }
    }

    fn shard(&self, caller: &CallerId) -> &RwLock<Shard<V>> {
        let hash = self.hasher.hash_one(caller);
        &self.shards[(hash >> 32) as usize % SHARDS]
    }

    /// The scope held for `caller`, unless it went idle; marks it used at `now` (Unix seconds).
    pub(super) fn get(&self, caller: &CallerId, now: i64) -> Option<Arc<V>> {
        let found = crate::sync::read(self.shard(caller))
            .get(caller)
            .and_then(|entry| {
                let used = entry.used.load(Ordering::Relaxed);
                if now.saturating_sub(used) >= self.idle_seconds {
                    return None;
                }
                if used < now {
                    entry.used.store(now, Ordering::Relaxed);
                }
                Some(entry.scope.clone())
            });
        let swept = self.swept.load(Ordering::Relaxed);
        if now.saturating_sub(swept) >= SWEEP_EVERY_SECONDS
            && self
                .swept
                .compare_exchange(swept, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.drop_idle(now);
        }
        found
    }

    /// Holds `scope` for `caller`, used at `now`, making room first when the table is full.
    pub(super) fn insert(&self, caller: CallerId, scope: Arc<V>, now: i64) {
        if self.held.load(Ordering::Relaxed) >= self.max {
            if let Ok(_making) = self.making_room.try_lock() {
                self.make_room(now);
            }
        }
        let used = AtomicI64::new(now);
        let mut shard = crate::sync::write(self.shard(&caller));
        // Counted under the shard's lock, as drops are: the count never runs below zero.
        if shard.insert(caller, Entry { scope, used }).is_none() {
            self.held.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Drops `drop`'s choice from every shard, one shard locked at a time.
    fn drop_where(&self, mut drop: impl FnMut(i64) -> bool) {
        for shard in self.shards.iter() {
            let mut shard = crate::sync::write(shard);
            let before = shard.len();
            shard.retain(|_, e| !drop(e.used.load(Ordering::Relaxed)));
            self.held.fetch_sub(before - shard.len(), Ordering::Relaxed);
        }
    }

    fn drop_idle(&self, now: i64) {
        let idle = self.idle_seconds;
        self.drop_where(|used| now.saturating_sub(used) >= idle);
    }

    /// The idle scopes, then, when that was not enough, the least recently used eighth.
    fn make_room(&self, now: i64) {
        self.drop_idle(now);
        if self.held.load(Ordering::Relaxed) < self.max {
            return;
        }
        let mut used: Vec<i64> = Vec::with_capacity(self.max);
        for shard in self.shards.iter() {
            let shard = crate::sync::read(shard);
            used.extend(shard.values().map(|e| e.used.load(Ordering::Relaxed)));
        }
        let eighth = used.len().div_ceil(8);
        if let Some(drop) = least_recent(&mut used, eighth) {
            self.drop_where(drop);
        }
    }

    /// Scopes held now (idle ones not yet swept included).
    #[cfg(test)]
    fn len(&self) -> usize {
        let counted: usize = self.shards.iter().map(|s| crate::sync::read(s).len()).sum();
        assert_eq!(
            counted,
            self.held.load(Ordering::Relaxed),
            "the count is kept"
        );
        counted
    }
}

/// Of these last-use seconds, which `count` were used longest ago (at least one when there
/// are any), as a test to apply to each scope's last use in turn: everything used before the
/// cutoff second, then ties at it until `count` are chosen. `None` when there are none.
fn least_recent(used: &mut [i64], count: usize) -> Option<impl FnMut(i64) -> bool> {
    if used.is_empty() {
        return None;
    }
    let count = count.clamp(1, used.len());
    let (_, &mut cutoff, _) = used.select_nth_unstable(count - 1);
    let older = used.iter().filter(|&&u| u < cutoff).count();
    let mut ties = count - older;
    Some(move |u: i64| {
        if u < cutoff {
            return true;
        }
        if u == cutoff && ties > 0 {
            ties -= 1;
            return true;
        }
        false
    })
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
        for max in [1usize, 7, 100, 640] {
            let recent = max.div_ceil(10);
            let table = ScopeTable::new(max as u64, 3600);
            // A few recent callers, asked for at every step; a flood of others, one a second.
            for step in 0..3000 {
                let now = 10_000 + step as i64;
                for i in 0..recent {
                    if table.get(&caller(i), now).is_none() {
                        table.insert(caller(i), scope(i), now);
                    }
                }
                table.insert(caller(1000 + step), scope(1000 + step), now);
                assert!(table.len() <= max, "{max}, step {step}: {}", table.len());
            }
            // Every step, an eighth of the table held something older than the recent callers
            // (when the table holds more than them).
            if max > recent {
                for i in 0..recent {
                    assert!(table.get(&caller(i), 13_000).is_some(), "{max}: caller {i}");
                }
            }
        }
    }

    #[test]
    fn a_full_table_takes_every_caller_it_has_room_for() {
        // Callers never spread evenly over the shards; the bound is the table's, not a shard's.
        let table = ScopeTable::new(1000, 3600);
        for i in 0..1000 {
            table.insert(caller(i), scope(i), 5000 + i as i64);
        }
        assert_eq!(table.len(), 1000);
        for i in 0..1000 {
            assert!(table.get(&caller(i), 7000).is_some(), "caller {i}");
        }
        // One more: the least recently used eighth goes. Every caller was used at 7000, in the
        // loop above: ties are broken, and exactly an eighth goes.
        table.insert(caller(5000), scope(5000), 7001);
        assert_eq!(table.len(), 1000 - 125 + 1);
    }

    #[test]
    fn idle_scopes_are_swept_everywhere_a_minute_on() {
        let table = ScopeTable::new(10_000, 60);
        assert!(
            table.get(&caller(9999), 1000).is_none(),
            "sweeps an empty table"
        );
        for i in 0..500 {
            table.insert(caller(i), scope(i), 1000);
        }
        table.insert(caller(9999), scope(9999), 1030);
        assert!(table.get(&caller(9999), 1059).is_some());
        assert_eq!(table.len(), 501, "swept less than a minute ago");
        // Requests for one caller only, after the others went idle: every shard is swept.
        assert!(table.get(&caller(9999), 1060).is_some());
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn the_least_recent_are_chosen_ties_in_part() {
        let chosen = |used: &[i64], count| {
            let mut copy = used.to_vec();
            let mut pick = least_recent(&mut copy, count).expect("some");
            let mut kept: Vec<i64> = used.iter().copied().filter(|&u| !pick(u)).collect();
            kept.sort_unstable();
            kept
        };
        let used = [5, 1, 1, 1, 9, 7, 3, 8];
        assert_eq!(chosen(&used, 2), [1, 3, 5, 7, 8, 9]);
        assert_eq!(chosen(&used, 5), [7, 8, 9]);
        assert_eq!(chosen(&used, 0), [1, 1, 3, 5, 7, 8, 9]);
        assert_eq!(chosen(&used, 100), Vec::<i64>::new());
        assert!(least_recent(&mut [], 3).is_none());
    }
}
