//! Callback claims shared by the fleet: `callback:<digest of OSS's request id>` holds
//! `pending` while one replica checks and forwards an upload's callback, then `done` for as
//! long as replays are refused. Set with `NX`, so exactly one replica claims an upload.

use std::time::Duration;

use sha2::{Digest as _, Sha256};

use super::{Fleet, FleetError};

impl Fleet {
    fn callback_key(&self, upload: &str) -> String {
        self.key("callback:", &hex::encode(Sha256::digest(upload.as_bytes())))
    }

    /// `true` when this replica now holds `upload`'s claim.
    pub async fn claim_callback(&self, upload: &str, hold: Duration) -> Result<bool, FleetError> {
        self.try_lock(&self.callback_key(upload), "pending", hold)
            .await
    }

    /// The upload's callback was forwarded: remembered for `keep`.
    pub async fn settle_callback(&self, upload: &str, keep: Duration) -> Result<(), FleetError> {
        let mut conn = self.conn();
        self.run_always(
            redis::cmd("SET")
                .arg(self.callback_key(upload))
                .arg("done")
                .arg("PX")
                .arg(keep.as_millis() as u64)
                .query_async::<()>(&mut conn),
        )
        .await
    }

    /// Nothing was forwarded: the claim is dropped (only while still pending).
    pub async fn release_callback(&self, upload: &str) -> Result<(), FleetError> {
        let script = redis::Script::new(
            "if redis.call('GET', KEYS[1]) == 'pending' then return redis.call('DEL', KEYS[1]) else return 0 end",
        );
        let mut conn = self.conn();
        self.run_always(
            script
                .key(self.callback_key(upload))
                .invoke_async::<i64>(&mut conn),
        )
        .await
        .map(|_| ())
    }
}
