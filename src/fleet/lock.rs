//! The per-scope load lock: taken with a random token and an expiry, released by its holder
//! only (a Lua check of the token), also when the request holding it is given up mid-load, and
//! never waited on when no replica could have set it. A load that fails says so, sealed, in
//! `fail:<digest>` before its lock is released, so the replicas that waited for it share the
//! failure instead of each calling STS in turn.

use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands as _;

use super::{Fleet, FleetError};

/// The load this replica waited for, on another replica, failed; nothing was asked of STS here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerLoadFailed;

/// Whether a failed load is the fleet's to share with the replicas that waited for it: a
/// failure every replica would meet (STS refused or did not answer), not one of the loading
/// replica's own (its identity, its clock, its own call budget), which must not fail loads
/// that healthy replicas could make.
pub trait SharedFailure {
    fn shared_with_fleet(&self) -> bool;
}

impl SharedFailure for PeerLoadFailed {
    fn shared_with_fleet(&self) -> bool {
        true
    }
}

/// The fleet lock this replica holds for one load. Released with [`HeldLock::release`], or,
/// when the request is given up mid-load (its future dropped as the caller went away), by a
/// task spawned on drop: the other replicas do not wait for the lock to expire.
pub(super) struct HeldLock {
    fleet: Arc<Fleet>,
    lock: String,
    token: String,
    /// `fail:<digest>`: where a failed load says so.
    failure: String,
    hold: Duration,
    released: bool,
}

impl HeldLock {
    pub(super) fn new(
        fleet: &Arc<Fleet>,
        digest: &str,
        lock: String,
        token: String,
        hold: Duration,
    ) -> Self {
        Self {
            fleet: fleet.clone(),
            failure: fleet.key("fail:", digest),
            lock,
            token,
            hold,
            released: false,
        }
    }

    pub(super) async fn release(mut self) {
        self.fleet.unlock(&self.lock, &self.token).await;
        self.released = true;
    }
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let fleet = self.fleet.clone();
            let (lock, token) = (
                std::mem::take(&mut self.lock),
                std::mem::take(&mut self.token),
            );
            runtime.spawn(async move { fleet.unlock(&lock, &token).await });
        }
    }
}

impl Fleet {
    /// The token of the load holding `lock` now, if any.
    pub(super) async fn lock_holder(&self, lock: &str) -> Option<String> {
        let mut conn = self.conn();
        self.run(conn.get::<_, Option<String>>(lock))
            .await
            .ok()
            .flatten()
    }

    /// Says, sealed, that the load holding `held` failed (read by [`Fleet::load_failed`]).
    pub(super) async fn record_failure(&self, held: &HeldLock) {
        let sealed = self
            .config
            .keys
            .seal(held.failure.as_bytes(), held.token.as_bytes());
        let mut conn = self.conn();
        let ms = held.hold.as_millis() as u64;
        let _ = self
            .run(conn.pset_ex::<_, _, ()>(&held.failure, sealed, ms))
            .await;
    }

    /// Whether the load that held the lock with `token` failed. Only a value this fleet sealed
    /// for this scope counts: nothing without the seal key can fail a replica's load.
    pub(super) async fn load_failed(&self, held: &HeldLock, token: &str) -> bool {
        let mut conn = self.conn();
        let Ok(Some(raw)) = self
            .run(conn.get::<_, Option<Vec<u8>>>(&held.failure))
            .await
        else {
            return false;
        };
        self.config
            .keys
            .open(held.failure.as_bytes(), &raw)
            .is_some_and(|said| said == token.as_bytes())
    }

    /// Sets `lock` to `token` for `hold` unless it is set: `true` when this call set it (load
    /// locks, callback claims).
    pub(super) async fn try_lock(
        &self,
        lock: &str,
        token: &str,
        hold: Duration,
    ) -> Result<bool, FleetError> {
        let mut conn = self.conn();
        let set: Option<String> = self
            .run(
                redis::cmd("SET")
                    .arg(lock)
                    .arg(token)
                    .arg("NX")
                    .arg("PX")
                    .arg(hold.as_millis() as u64)
                    .query_async(&mut conn),
            )
            .await?;
        Ok(set.is_some())
    }

    /// Deletes `lock` if no replica could have set it: no expiry, or one longer than `hold`.
    pub(super) async fn drop_forged_lock(
        &self,
        lock: &str,
        hold: Duration,
    ) -> Result<bool, FleetError> {
        let script = redis::Script::new(
            "local t = redis.call('PTTL', KEYS[1]) if t == -1 or t > tonumber(ARGV[1]) then redis.call('DEL', KEYS[1]) return 1 end return 0",
        );
        let mut conn = self.conn();
        let dropped: i64 = self
            .run(
                script
                    .key(lock)
                    .arg(hold.as_millis() as u64)
                    .invoke_async(&mut conn),
            )
            .await?;
        Ok(dropped == 1)
    }

    /// Deletes the lock only if it is still ours (it may have expired and been taken).
    pub(super) async fn unlock(&self, lock: &str, token: &str) {
        let script = redis::Script::new(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end",
        );
        let mut conn = self.conn();
        let _ = self
            .run_always(script.key(lock).arg(token).invoke_async::<i64>(&mut conn))
            .await;
    }
}
