//! What every profile shares, built once at start-up: the STS client (with its budget and
//! observers), the broker's own started identity, the credential store (this replica alone or
//! the fleet's Redis), the first-time-caller limits, the upload callbacks with their clients,
//! and the clock. Each profile's issuer holds an `Arc` of it; nothing is reached through one
//! profile.

use std::sync::Arc;
use std::time::Duration;

use crate::admission::{Admission, NewCallerLimits};
use crate::callback::{CallbackConfig, Callbacks};
use crate::clock::{Clock, NonceSource};
use crate::fleet::{CredentialStore, Fleet, FleetBudget, FleetConfig};
use crate::identity::Identity;
use crate::sts::client::{StsClient, StsConfig, StsObserver};

/// The services every profile shares.
#[derive(Debug)]
pub struct Services {
    pub sts: StsClient,
    /// The broker's own key, started (a temporary identity refreshes itself).
    pub identity: Identity,
    pub store: CredentialStore,
    /// First-time callers, counted across every profile.
    pub newcomers: Admission,
    /// Upload callbacks, when a profile has one.
    pub callbacks: Option<Callbacks>,
    pub clock: Arc<dyn Clock>,
}

/// What the services are built from.
pub struct ServiceSettings<'a> {
    pub sts: &'a StsConfig,
    pub identity: &'a Identity,
    pub fleet: Option<&'a FleetConfig>,
    pub new_callers: NewCallerLimits,
    pub callback: Option<&'a CallbackConfig>,
}

/// Why the services could not start (each message names its variable or part).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(String);

impl Services {
    /// Builds and starts everything once. `observers` watch every STS attempt (metrics,
    /// readiness).
    pub fn start(
        settings: ServiceSettings<'_>,
        clock: Arc<dyn Clock>,
        nonces: Arc<dyn NonceSource>,
        observers: Vec<Arc<dyn StsObserver>>,
    ) -> Result<Arc<Self>, StartError> {
        let fail = |e: &dyn std::fmt::Display| StartError(e.to_string());
        let mut sts = StsClient::new(settings.sts.clone(), clock.clone(), nonces.clone())
            .map_err(|e| fail(&e))?;
        for observer in observers {
            sts = sts.observed_by(observer);
        }
        let store = match settings.fleet {
            None => CredentialStore::Local,
            Some(config) => {
                let fleet = Fleet::new(config.clone(), clock.clone()).map_err(|e| fail(&e))?;
                // One budget for the whole fleet; each replica announces itself for its share.
                fleet.spawn_heartbeat();
                sts = sts.with_gate(Arc::new(FleetBudget::new(
                    fleet.clone(),
                    settings.sts.max_qps,
                    settings.sts.refresh_reserve_percent,
                )));
                CredentialStore::Fleet {
                    fleet,
                    lock_for: settings.sts.retry_budget + Duration::from_secs(2),
                }
            }
        };
        // A temporary identity (RRSA, ECS role, role chaining) starts refreshing itself here.
        let identity = settings
            .identity
            .start(&sts, clock.clone(), nonces)
            .map_err(|e| fail(&e))?;
        let callbacks = match settings.callback {
            Some(config) => Some(
                Callbacks::new(config.clone())
                    .map_err(|e| fail(&e))?
                    .with_fleet(store.fleet().cloned()),
            ),
            None => None,
        };
        Ok(Arc::new(Self {
            sts,
            identity,
            store,
            newcomers: Admission::new(settings.new_callers),
            callbacks,
            clock,
        }))
    }
}
