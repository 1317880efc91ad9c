//! Where loaded credentials live besides the in-process cache, chosen once at start-up: this
//! replica alone (`Local`: every load calls STS), or the fleet's Redis (`Fleet`: a credential
//! another replica stored is adopted, and only one replica calls STS for a scope).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::{Fleet, PeerLoadFailed, SharedCredential, SharedFailure, Wanted};

/// The credential store every profile's issuer loads through.
#[derive(Debug, Clone)]
pub enum CredentialStore {
    /// No fleet: each load is this replica's own STS call.
    Local,
    /// Fleet mode on Redis.
    Fleet {
        fleet: Arc<Fleet>,
        /// How long one load may hold a scope's fleet lock: the STS retry budget and a margin.
        lock_for: Duration,
    },
}

impl CredentialStore {
    /// The fleet, in fleet mode (for metrics and readiness).
    pub fn fleet(&self) -> Option<&Arc<Fleet>> {
        match self {
            Self::Local => None,
            Self::Fleet { fleet, .. } => Some(fleet),
        }
    }

    /// A credential for the scope named `digest`: `load` runs here (alone) or, in fleet mode,
    /// only when no stored credential is good enough for `wanted` and this replica holds the
    /// scope's lock; a replica that waited for another's failed load gets [`PeerLoadFailed`].
    pub async fn load_through<F, Fut, E>(
        &self,
        digest: impl FnOnce() -> String,
        wanted: Wanted,
        load: F,
    ) -> Result<SharedCredential, E>
    where
        E: From<PeerLoadFailed> + SharedFailure,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<SharedCredential, E>>,
    {
        match self {
            Self::Local => load().await,
            Self::Fleet { fleet, lock_for } => {
                fleet.load_through(&digest(), wanted, *lock_for, load).await
            }
        }
    }
}
