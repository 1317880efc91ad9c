//! How failures are classified and spaced out: the `Retryable` classification (STS, identity
//! and credential-load errors implement it; the credential cache decides by it) and the
//! full-jitter delays of the STS retries and the cache's refresh backoff. No I/O.

use std::time::Duration;

/// An error that may or may not go away by itself.
pub trait Retryable {
    fn retryable(&self) -> bool;

    /// Whether the failure is worth remembering for a while (a refusal that will not change by
    /// asking again soon).
    fn remember(&self) -> bool {
        !self.retryable()
    }
}

/// "Full jitter": a uniformly random delay between zero and the capped exponential step.
pub fn full_jitter(base: Duration, cap: Duration, failures: u32) -> Duration {
    let step = base.saturating_mul(2u32.saturating_pow(failures.min(20)));
    let ceiling = step.min(cap);
    ceiling.mul_f64(fastrand::f64())
}
