//! First-time callers: a caller whose scope has no credential yet costs an STS call, so their
//! number is limited per client address and overall. Established callers never count here.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::client_address::limit_key;
use crate::ratelimit::{retry_after_seconds, KeyedLimiter, RateLimitKind, DEFAULT_MAX_KEYS};

/// `BROKER_NEW_CALLERS_PER_ADDRESS_PER_MINUTE` and `BROKER_NEW_CALLERS_PER_SECOND`; 0 turns a
/// limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewCallerLimits {
    pub per_address_per_minute: u32,
    pub per_second: u32,
}

impl NewCallerLimits {
    /// No limits (tools, tests).
    pub const OFF: Self = Self {
        per_address_per_minute: 0,
        per_second: 0,
    };
}

/// A first-time caller over a limit: nothing may be loaded for it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{} over their limit; retry after {retry_after_seconds} s", kind.describe())]
pub struct NewCallersLimited {
    pub kind: RateLimitKind,
    pub retry_after_seconds: u32,
}

/// The first-time-caller limits, shared by every profile's issuer.
#[derive(Debug)]
pub struct Admission {
    per_address: Option<KeyedLimiter>,
    overall: Option<KeyedLimiter>,
}

impl Admission {
    pub fn new(limits: NewCallerLimits) -> Self {
        let per_minute = limits.per_address_per_minute;
        Self {
            // A burst of a tenth of the minute's allowance (at least 10): a page of new users
            // behind one carrier-grade NAT is not refused.
            per_address: (per_minute > 0).then(|| {
                KeyedLimiter::new(per_minute, (per_minute / 10).max(10), DEFAULT_MAX_KEYS)
            }),
            overall: (limits.per_second > 0).then(|| {
                KeyedLimiter::new(limits.per_second.saturating_mul(60), limits.per_second, 1)
            }),
        }
    }

    /// Counts one first-time caller from `address`, an IPv6 address per /64 (`None`: not known, e.g. behind a trusted
    /// proxy, so only the overall limit applies).
    pub fn admit(
        &self,
        address: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<(), NewCallersLimited> {
        let refuse = |kind, wait| NewCallersLimited {
            kind,
            retry_after_seconds: retry_after_seconds(wait),
        };
        if let (Some(limiter), Some(address)) = (&self.per_address, address) {
            limiter
                .check(&limit_key(address), now)
                .map_err(|wait| refuse(RateLimitKind::NewCallersFromAddress, wait))?;
        }
        if let Some(limiter) = &self.overall {
            limiter
                .check(&(), now)
                .map_err(|wait| refuse(RateLimitKind::NewCallers, wait))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_address_then_overall() {
        let admission = Admission::new(NewCallerLimits {
            per_address_per_minute: 60,
            per_second: 15,
        });
        let now = Utc::now();
        let a: IpAddr = "203.0.113.7".parse().unwrap();
        // A burst of 10 from one address, then that address waits...
        for _ in 0..10 {
            admission.admit(Some(a), now).unwrap();
        }
        let refused = admission.admit(Some(a), now).unwrap_err();
        assert!(matches!(
            refused,
            NewCallersLimited {
                kind: RateLimitKind::NewCallersFromAddress,
                retry_after_seconds: 1..
            }
        ));
        // ...while others may still come, up to the overall burst.
        for i in 0..5 {
            let other: IpAddr = format!("198.51.100.{i}").parse().unwrap();
            admission.admit(Some(other), now).unwrap();
        }
        assert!(matches!(
            admission.admit(None, now),
            Err(NewCallersLimited {
                kind: RateLimitKind::NewCallers,
                ..
            })
        ));
    }

    #[test]
    fn zero_turns_a_limit_off() {
        let admission = Admission::new(NewCallerLimits::OFF);
        for _ in 0..10_000 {
            admission
                .admit(Some("203.0.113.7".parse().unwrap()), Utc::now())
                .unwrap();
        }
    }
}
