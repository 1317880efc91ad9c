//! How hard the broker tries STS: retries of retryable failures with exponential backoff and
//! full jitter inside a total time budget, and a process-wide budget of calls per second that
//! protects the account's AssumeRole quota (protocol.md §1.9). Knows nothing about HTTP or credentials.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::time::Instant;

use crate::sts::error::StsError;

/// Retry settings for one logical STS call.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    /// No attempt starts, and no attempt runs, past this much time after the first one.
    pub total_budget: Duration,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            total_budget: Duration::from_secs(8),
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
        }
    }
}

pub use crate::backoff::full_jitter;

/// Which calls a budget lets through when it runs short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Refreshing a credential callers are using (or the broker's own identity): may use the
    /// whole budget, including the share reserved for refreshes.
    Refresh,
    /// A first load for a scope with no credential yet: never the reserved share.
    First,
}

/// Decides whether one more STS call may start now. The broker's own token buckets implement
/// it; a fleet implements it over shared state.
pub trait CallGate: Send + Sync + std::fmt::Debug {
    fn acquire(&self, priority: Priority) -> BoxFuture<'_, bool>;
}

/// Token buckets of STS calls per second shared by the whole process: one for every call, and
/// one that only first loads draw on, `reserve_percent` smaller, so that share of the budget is
/// always left for refreshing credentials in use.
#[derive(Debug)]
pub struct CallBudget {
    all: Bucket,
    first: Bucket,
}

#[derive(Debug)]
struct Bucket {
    per_second: f64,
    state: Mutex<(f64, Instant)>,
}

impl Bucket {
    fn new(per_second: f64) -> Self {
        Self {
            per_second,
            state: Mutex::new((per_second, Instant::now())),
        }
    }

    /// Refills and returns the state to decide on; the caller writes it back.
    fn refilled(&self, state: &(f64, Instant), now: Instant) -> f64 {
        (state.0 + now.duration_since(state.1).as_secs_f64() * self.per_second)
            .min(self.per_second.max(1.0))
    }
}

impl CallBudget {
    /// A budget with nothing reserved for refreshes (tools, tests).
    pub fn new(per_second: u32) -> Self {
        Self::with_reserve(per_second, 0)
    }

    /// `reserve_percent` of `per_second` is kept for [`Priority::Refresh`].
    pub fn with_reserve(per_second: u32, reserve_percent: u8) -> Self {
        let all = f64::from(per_second.max(1));
        let first = all * f64::from(100 - reserve_percent.min(100)) / 100.0;
        Self {
            all: Bucket::new(all),
            first: Bucket::new(first),
        }
    }

    /// Takes one call for `priority`: a refresh needs a token of the whole budget, a first
    /// load one of the whole budget and one of the first-load share.
    pub fn try_acquire_as(&self, priority: Priority) -> bool {
        let now = Instant::now();
        let mut all = crate::sync::lock(&self.all.state);
        let all_tokens = self.all.refilled(&all, now);
        if priority == Priority::Refresh {
            let ok = all_tokens >= 1.0;
            *all = (all_tokens - if ok { 1.0 } else { 0.0 }, now);
            return ok;
        }
        let mut first = crate::sync::lock(&self.first.state);
        let first_tokens = self.first.refilled(&first, now);
        let ok = all_tokens >= 1.0 && first_tokens >= 1.0;
        let take = if ok { 1.0 } else { 0.0 };
        *all = (all_tokens - take, now);
        *first = (first_tokens - take, now);
        ok
    }
}

impl CallGate for CallBudget {
    fn acquire(&self, priority: Priority) -> BoxFuture<'_, bool> {
        let ok = self.try_acquire_as(priority);
        Box::pin(async move { ok })
    }
}

/// Runs `attempt(n)` (n = 0, 1, …) until it succeeds, fails for good, or the budget ends.
/// Every attempt must build a freshly signed request (new nonce and timestamp, protocol.md §2.2).
pub async fn with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    budget: &dyn CallGate,
    priority: Priority,
    mut attempt: F,
) -> Result<T, StsError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, StsError>>,
{
    let deadline = Instant::now() + policy.total_budget;
    let mut last_error: Option<StsError> = None;
    for n in 0..policy.max_attempts.max(1) {
        if !budget.acquire(priority).await {
            return Err(last_error.unwrap_or(StsError::CallBudgetSpent));
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        let result = match tokio::time::timeout(remaining, attempt(n)).await {
            Ok(result) => result,
            Err(_) => Err(StsError::RetryBudgetSpent),
        };
        match result {
            Ok(value) => return Ok(value),
            Err(e) if !e.retryable() || matches!(e, StsError::RetryBudgetSpent) => return Err(e),
            Err(e) => {
                tracing::debug!(attempt = n + 1, error = %e, "retryable STS failure");
                last_error = Some(e);
            }
        }
        let delay = full_jitter(policy.base_delay, policy.max_delay, n);
        if Instant::now() + delay >= deadline || n + 1 == policy.max_attempts {
            break;
        }
        tokio::time::sleep(delay).await;
    }
    Err(last_error.unwrap_or(StsError::RetryBudgetSpent))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn throttled() -> StsError {
        StsError::Rejected {
            status: 400,
            code: "Throttling.User".into(),
            message: String::new(),
            request_id: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_retryable_failures_then_succeeds() {
        let calls = AtomicU32::new(0);
        let result = with_retries(
            &RetryPolicy::default(),
            &CallBudget::new(50),
            Priority::First,
            |n| {
                calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n < 2 {
                        Err(throttled())
                    } else {
                        Ok(n)
                    }
                }
            },
        )
        .await;
        assert_eq!(result.unwrap(), 2);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn does_not_retry_permanent_failures() {
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = with_retries(
            &RetryPolicy::default(),
            &CallBudget::new(50),
            Priority::First,
            |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async {
                    Err(StsError::Rejected {
                        status: 403,
                        code: "NoPermission".into(),
                        message: String::new(),
                        request_id: None,
                    })
                }
            },
        )
        .await;
        assert_eq!(result.unwrap_err().upstream_code(), Some("NoPermission"));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn stops_at_max_attempts_with_the_last_error() {
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = with_retries(
            &RetryPolicy::default(),
            &CallBudget::new(50),
            Priority::First,
            |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(throttled()) }
            },
        )
        .await;
        assert!(result.unwrap_err().is_throttling());
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_attempt_ends_at_the_budget() {
        let policy = RetryPolicy {
            total_budget: Duration::from_secs(3),
            ..RetryPolicy::default()
        };
        let started = Instant::now();
        let result: Result<(), _> =
            with_retries(&policy, &CallBudget::new(50), Priority::First, |_| async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(())
            })
            .await;
        assert!(matches!(result, Err(StsError::RetryBudgetSpent)));
        assert_eq!(started.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn call_budget_refills_over_time() {
        let budget = CallBudget::new(2);
        assert!(
            budget.try_acquire_as(Priority::Refresh) && budget.try_acquire_as(Priority::Refresh)
        );
        assert!(!budget.try_acquire_as(Priority::Refresh));
        tokio::time::advance(Duration::from_millis(500)).await;
        assert!(budget.try_acquire_as(Priority::Refresh));
        assert!(!budget.try_acquire_as(Priority::Refresh));
        let result: Result<(), _> = with_retries(
            &RetryPolicy::default(),
            &budget,
            Priority::First,
            |_| async { Ok(()) },
        )
        .await;
        assert!(matches!(result, Err(StsError::CallBudgetSpent)));
    }

    #[tokio::test(start_paused = true)]
    async fn first_loads_leave_the_reserved_share_to_refreshes() {
        // 10 calls a second, 30 % reserved: a flood of first loads gets 7 of the burst, and
        // refreshes still get the other 3.
        let budget = CallBudget::with_reserve(10, 30);
        let firsts = (0..100)
            .filter(|_| budget.try_acquire_as(Priority::First))
            .count();
        assert_eq!(firsts, 7);
        let refreshes = (0..100)
            .filter(|_| budget.try_acquire_as(Priority::Refresh))
            .count();
        assert_eq!(refreshes, 3);
        // Over a second both refill at their own rates.
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(budget.try_acquire_as(Priority::Refresh));
        assert!(budget.try_acquire_as(Priority::First));
    }

    #[test]
    fn jitter_stays_under_the_cap() {
        for failures in 0..30 {
            let d = full_jitter(Duration::from_millis(100), Duration::from_secs(2), failures);
            assert!(d <= Duration::from_secs(2));
        }
    }
}
