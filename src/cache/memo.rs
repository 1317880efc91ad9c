//! The cache's [`Memo`]: the slot a key was last served from, kept beside the key by whoever
//! names it (the issuer keeps one in each scope), so a warm request looks nothing up. The memo
//! is trusted for [`TOUCH_EVERY_SECONDS`] after a lookup in the segments, and only for a value
//! that can be served as it is; then the next request looks the key up again, which keeps the
//! segments' recency (LRU order, idle expiry) and the promotion rule as they were, to within
//! those seconds. Loads, reloads, refusals and admission always take the looked-up path.

use std::hash::Hash;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use chrono::{DateTime, Utc};

use super::{CredentialCache, Expiring, Outcome, Retryable, Slot};

/// How long a [`Memo`] serves without a lookup in the segments.
pub const TOUCH_EVERY_SECONDS: i64 = 10;

/// The slot a key was last served from. Holds no secret of its own; its `Debug` shows only
/// whether it holds a slot.
pub struct Memo<V, E> {
    slot: ArcSwapOption<Slot<V, E>>,
}

impl<V, E> Default for Memo<V, E> {
    fn default() -> Self {
        Self {
            slot: ArcSwapOption::empty(),
        }
    }
}

impl<V, E> std::fmt::Debug for Memo<V, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held = self.slot.load().is_some();
        f.debug_struct("Memo").field("held", &held).finish()
    }
}

impl<K, V, E> CredentialCache<K, V, E>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Expiring + Send + Sync + 'static,
    E: Retryable + Send + Sync + 'static,
{
    /// The value `memo` (kept with `key`, and only ever for `key`) serves without a lookup,
    /// as [`Self::get`] would serve it, while the memo is fresh and its value servable as it
    /// is; `None` when the key must be looked up.
    pub fn serve_memo(&self, key: &K, memo: &Memo<V, E>) -> Option<(Arc<V>, Outcome)> {
        let now = self.clock.now();
        let slot = self.fresh(memo, now)?;
        self.serve_warm(key, &slot, now)
    }

    /// As [`Self::get`], served from `memo` when [`Self::serve_memo`] can; otherwise looked
    /// up, and the memo updated.
    pub async fn get_memo(&self, key: &K, memo: &Memo<V, E>) -> Result<(Arc<V>, Outcome), Arc<E>> {
        if let Some(served) = self.serve_memo(key, memo) {
            return Ok(served);
        }
        let (result, slot) = self.get_slot(key).await;
        memo.slot.store(slot);
        result
    }

    /// The memo's slot, when it was looked up less than [`TOUCH_EVERY_SECONDS`] ago and is not
    /// due for promotion (which takes a lookup).
    fn fresh(&self, memo: &Memo<V, E>, now: DateTime<Utc>) -> Option<Arc<Slot<V, E>>> {
        let guard = memo.slot.load();
        let slot = guard.as_ref()?;
        let since = now
            .timestamp()
            .saturating_sub(slot.touched.load(Ordering::Relaxed));
        if !(0..TOUCH_EVERY_SECONDS).contains(&since) {
            return None;
        }
        let promotable = !slot.protected.load(Ordering::Relaxed)
            && now - slot.first_seen >= self.policy.promote_after;
        (!promotable).then(|| slot.clone())
    }
}
