//! The shared credential protocol. On a local miss a replica looks in Redis; on a fleet miss
//! exactly one replica loads from STS, holding a lock with an expiry that it re-checks after
//! taking, and writes the sealed result before answering; the others wait for that value
//! instead of calling STS themselves. A refresh ahead of expiry goes the same way, so the
//! replica that refreshes first does it for the fleet and the others adopt its credential.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use redis::AsyncCommands as _;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};

use super::lock::{HeldLock, PeerLoadFailed, SharedFailure};
use super::{Fleet, FleetError};
use crate::credentials::TemporaryCredentials;

/// A credential as the fleet stores it, with the STS request that issued it.
pub struct SharedCredential {
    pub credentials: TemporaryCredentials,
    pub sts_request_id: String,
}

/// Which stored credential a replica may adopt instead of loading.
#[derive(Debug, Clone, Copy)]
pub struct Wanted {
    /// A stored credential is adopted only when it expires after this.
    pub expires_after: DateTime<Utc>,
    /// How long the stored value lives in Redis: until the credential falls under the floor.
    pub min_ttl: chrono::Duration,
    /// The issuer's clock now.
    pub now: DateTime<Utc>,
}

/// The sealed plaintext. Never logged, never `Debug`.
#[derive(Serialize, Deserialize)]
struct Stored {
    id: String,
    secret: String,
    token: String,
    expiration: i64,
    sts_request_id: String,
}

/// How often a waiting replica looks for the loading replica's result.
const POLL: Duration = Duration::from_millis(25);

impl Fleet {
    /// The credential for scope `digest`: adopted from Redis when one there is good enough,
    /// otherwise loaded by `load` under the fleet lock (or, when Redis cannot be used, by
    /// `load` alone). `lock_for` bounds how long a load may hold the lock. A replica that waited
    /// for another's load and finds that load failed answers with [`PeerLoadFailed`] instead of
    /// calling STS itself.
    pub async fn load_through<E, F, Fut>(
        self: &Arc<Self>,
        digest: &str,
        wanted: Wanted,
        lock_for: Duration,
        load: F,
    ) -> Result<SharedCredential, E>
    where
        E: From<PeerLoadFailed> + SharedFailure,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<SharedCredential, E>>,
    {
        let key = self.key("cred:", digest);
        let lock = self.key("lock:", digest);
        // No real load holds a lock longer than `lock_for`, so no waiter waits longer either.
        let deadline = tokio::time::Instant::now() + lock_for;
        // The token of the load this replica waited for, once it waits.
        let mut waited_for: Option<Option<String>> = None;
        loop {
            match self.read(&key, wanted).await {
                Ok(Some(found)) => {
                    self.stats.hits.fetch_add(1, Ordering::Relaxed);
                    return Ok(found);
                }
                Ok(None) => {}
                Err(_) => return load().await,
            }
            let token = uuid::Uuid::new_v4().simple().to_string();
            match self.try_lock(&lock, &token, lock_for).await {
                Ok(true) => {
                    let held = HeldLock::new(self, digest, lock.clone(), token, lock_for);
                    let waited_for = waited_for.flatten();
                    return self.load_locked(&key, held, waited_for, wanted, load).await;
                }
                Ok(false) => {}
                Err(_) => return load().await,
            }
            if waited_for.is_none() {
                self.stats.lock_waits.fetch_add(1, Ordering::Relaxed);
                // A lock without an expiry, or with a longer one than a load may hold it, was
                // not set by a replica: deleted, and the lock taken anew.
                match self.drop_forged_lock(&lock, lock_for).await {
                    Ok(true) => {
                        self.invalid_state("a load lock (no expiry, or too long a one)");
                        continue;
                    }
                    Ok(false) => {}
                    Err(_) => return load().await,
                }
                waited_for = Some(self.lock_holder(&lock).await);
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!("the replica holding the fleet lock did not store a credential in time; loading here");
                return load().await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Holding the lock: re-check, load, store, release. `waited_for` is the lock token of the
    /// load this replica waited for: when that load failed, so does this one, without STS.
    async fn load_locked<E, F, Fut>(
        &self,
        key: &str,
        held: HeldLock,
        waited_for: Option<String>,
        wanted: Wanted,
        load: F,
    ) -> Result<SharedCredential, E>
    where
        E: From<PeerLoadFailed> + SharedFailure,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<SharedCredential, E>>,
    {
        // Another replica may have stored it between our read and our lock.
        if let Ok(Some(found)) = self.read(key, wanted).await {
            held.release().await;
            self.stats.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(found);
        }
        if let Some(token) = waited_for {
            if self.load_failed(&held, &token).await {
                held.release().await;
                return Err(PeerLoadFailed.into());
            }
        }
        self.stats.misses.fetch_add(1, Ordering::Relaxed);
        let result = load().await;
        match &result {
            // Stored before the first caller is answered, so the others adopt it.
            Ok(loaded) => {
                let _ = self.write(key, loaded, wanted).await;
            }
            // Said before the lock is released, so the replicas waiting for it share the failure
            // (only one every replica would meet; they load for themselves after any other).
            Err(e) if e.shared_with_fleet() => self.record_failure(&held).await,
            Err(_) => {}
        }
        held.release().await;
        result
    }

    /// The stored credential, if it opens and is good enough. A value that does not open is
    /// a miss (and is replaced by the load that follows).
    async fn read(
        &self,
        key: &str,
        wanted: Wanted,
    ) -> Result<Option<SharedCredential>, FleetError> {
        let mut conn = self.conn();
        let raw: Option<Vec<u8>> = self.run(conn.get(key)).await?;
        let Some(raw) = raw else {
            return Ok(None);
        };
        let Some(stored) = self
            .config
            .keys
            .open(key.as_bytes(), &raw)
            .and_then(|plain| serde_json::from_slice::<Stored>(&plain).ok())
        else {
            self.stats.unreadable.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                value_bytes = raw.len(),
                "a fleet cache value did not open (tampered, truncated or sealed with an unknown key); treated as a miss"
            );
            return Ok(None);
        };
        let Some(expiration) = DateTime::from_timestamp(stored.expiration, 0) else {
            return Ok(None);
        };
        // Authentic, but older than what this replica had: put back by something else.
        if self
            .newest
            .get(key)
            .is_some_and(|newest| stored.expiration < newest)
        {
            self.stale_value();
            return Ok(None);
        }
        if expiration <= wanted.expires_after {
            return Ok(None);
        }
        self.saw(key, stored.expiration);
        Ok(Some(SharedCredential {
            credentials: TemporaryCredentials {
                access_key_id: stored.id,
                access_key_secret: SecretString::from(stored.secret),
                security_token: SecretString::from(stored.token),
                expiration,
            },
            sts_request_id: stored.sts_request_id,
        }))
    }

    /// Remembers that the scope at `key` had a credential expiring at `expiration` (seconds).
    fn saw(&self, key: &str, expiration: i64) {
        // One step, so two threads cannot move it backwards.
        self.newest
            .entry_by_ref(key)
            .and_upsert_with(|held| held.map_or(expiration, |e| e.into_value().max(expiration)));
    }

    /// Stores `credential` sealed, expiring in Redis when it falls under the floor.
    async fn write(
        &self,
        key: &str,
        credential: &SharedCredential,
        wanted: Wanted,
    ) -> Result<(), FleetError> {
        let c = &credential.credentials;
        let ttl = (c.expiration - wanted.now - wanted.min_ttl).num_milliseconds();
        if ttl <= 0 {
            return Ok(());
        }
        let plain = serde_json::to_vec(&Stored {
            id: c.access_key_id.clone(),
            secret: c.access_key_secret.expose_secret().to_owned(),
            token: c.security_token.expose_secret().to_owned(),
            expiration: c.expiration.timestamp(),
            sts_request_id: credential.sts_request_id.clone(),
        })
        .expect("plain strings serialise");
        self.saw(key, c.expiration.timestamp());
        let sealed = self.config.keys.seal(key.as_bytes(), &plain);
        let mut conn = self.conn();
        self.run(conn.pset_ex::<_, _, ()>(key, sealed, ttl as u64))
            .await
    }
}
