//! Which uploads' callbacks were forwarded: keyed on OSS's request id of the upload
//! (`${reqId}` in the callback body), so an identical re-upload is a new upload and a retry
//! after a failed forward goes through. An upload is claimed atomically before its object is
//! checked and forwarded (a concurrent copy is refused), recorded for two hours only after the
//! app took it, and released when anything failed. In fleet mode the claim is Redis's `SET NX`,
//! so copies reaching different replicas are refused too; while Redis cannot be used, each
//! replica keeps its own ledger.

use std::sync::Arc;
use std::time::Duration;

use crate::fleet::Fleet;

/// How long a claim holds while its upload is checked and forwarded (OSS waits 5 s).
const CLAIM: Duration = Duration::from_secs(10);
/// How long a forwarded upload is remembered.
const REMEMBER: Duration = Duration::from_secs(2 * 3600);

#[derive(Debug)]
pub(crate) struct Ledger {
    claimed: moka::sync::Cache<String, ()>,
    forwarded: moka::sync::Cache<String, ()>,
    fleet: Option<Arc<Fleet>>,
}

impl Ledger {
    pub(crate) fn new(fleet: Option<Arc<Fleet>>) -> Self {
        Self {
            claimed: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(CLAIM)
                .build(),
            forwarded: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(REMEMBER)
                .build(),
            fleet,
        }
    }

    /// Claims `upload` for this delivery; `false` when it was forwarded already or another
    /// delivery of it is under way.
    pub(crate) async fn claim(&self, upload: &str) -> bool {
        if let Some(fleet) = &self.fleet {
            if let Ok(claimed) = fleet.claim_callback(upload, CLAIM).await {
                return claimed;
            }
        }
        if self.forwarded.contains_key(upload) {
            return false;
        }
        let fresh = self
            .claimed
            .entry(upload.to_owned())
            .or_insert(())
            .is_fresh();
        // A delivery that finished between the two looks has left its record.
        if fresh && self.forwarded.contains_key(upload) {
            self.claimed.invalidate(upload);
            return false;
        }
        fresh
    }

    /// The app took `upload`'s callback: remembered, so a replay is refused.
    pub(crate) async fn forwarded(&self, upload: &str) {
        self.forwarded.insert(upload.to_owned(), ());
        self.claimed.invalidate(upload);
        if let Some(fleet) = &self.fleet {
            let _ = fleet.settle_callback(upload, REMEMBER).await;
        }
    }

    /// Nothing was forwarded for `upload`: a later delivery may try again.
    pub(crate) async fn release(&self, upload: &str) {
        self.claimed.invalidate(upload);
        if let Some(fleet) = &self.fleet {
            let _ = fleet.release_callback(upload).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_claim_at_a_time_recorded_only_when_forwarded() {
        let ledger = Ledger::new(None);
        assert!(ledger.claim("req-1").await);
        assert!(!ledger.claim("req-1").await, "a concurrent copy");
        ledger.release("req-1").await;
        assert!(ledger.claim("req-1").await, "a retry after a failure");
        ledger.forwarded("req-1").await;
        assert!(!ledger.claim("req-1").await, "a replay");
        assert!(ledger.claim("req-2").await, "another upload");
    }
}
