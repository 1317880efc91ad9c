//! Injectable wall clock and nonce source. Production code asks these for "now" and for fresh
//! nonces so tests can pin time and randomness; nothing here may read configuration or do I/O.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

/// The current time, as seen by the component holding it.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

/// The real system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to; for tests and emulators.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Arc::new(Mutex::new(start)),
        }
    }

    pub fn set(&self, to: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = to;
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A clock that is a fixed offset away from the system clock (a host with a wrong clock).
#[derive(Debug, Clone, Copy)]
pub struct SkewedClock {
    pub offset: Duration,
}

impl Clock for SkewedClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset
    }
}

/// Where request nonces come from.
pub trait NonceSource: Send + Sync + std::fmt::Debug {
    fn nonce(&self) -> String;
}

/// Random UUID v4 nonces, as Alibaba's SDKs send.
#[derive(Debug, Default, Clone, Copy)]
pub struct UuidNonces;

impl NonceSource for UuidNonces {
    fn nonce(&self) -> String {
        uuid::Uuid::new_v4().to_string()
    }
}

/// Always the same nonce; lets tests provoke `SignatureNonceUsed`.
#[derive(Debug, Clone)]
pub struct FixedNonce(pub String);

impl NonceSource for FixedNonce {
    fn nonce(&self) -> String {
        self.0.clone()
    }
}
