//! Readiness: whether the broker can hand out credentials now, from its cache or from STS. It
//! watches every STS attempt (as an observer) and, only when nothing fresher is known, asks STS
//! `GetCallerIdentity` (protocol.md §4.7) — one check at a time, its result kept for a while so probes
//! cannot hammer STS. It never issues credentials and never blocks a probe for long.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::issuer::Issuer;
use crate::services::Services;
use crate::sts::client::{AttemptOutcome, StsObserver};
use crate::sts::error::is_throttling;

/// What the broker last learnt about STS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StsState {
    /// Nothing yet.
    Unknown,
    Ok,
    /// No answer, a timeout, a 5xx or an unreadable answer.
    Unreachable,
    /// STS asked the broker to slow down.
    Throttled,
    /// STS refused the broker's request (signature, permission, role...).
    Rejected,
    /// The broker's own identity could not be obtained.
    NoIdentity,
}

impl StsState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Ok => "ok",
            Self::Unreachable => "unreachable",
            Self::Throttled => "throttled",
            Self::Rejected => "rejected",
            Self::NoIdentity => "no-identity",
        }
    }
}

#[derive(Debug, Clone)]
struct Observation {
    at: Instant,
    state: StsState,
    /// STS's error code for `Rejected`/`Throttled` (an upstream code, never a secret).
    code: Option<String>,
}

/// The last STS outcome seen, from real traffic and from readiness checks alike.
#[derive(Debug, Default)]
pub struct StsHealth {
    last: Mutex<Option<Observation>>,
}

impl StsHealth {
    fn note(&self, state: StsState, code: Option<String>) {
        *crate::sync::lock(&self.last) = Some(Observation {
            at: Instant::now(),
            state,
            code,
        });
    }

    fn last(&self) -> Option<Observation> {
        crate::sync::lock(&self.last).clone()
    }
}

impl StsObserver for StsHealth {
    fn attempt_finished(&self, _action: &'static str, outcome: AttemptOutcome<'_>, _: Duration) {
        let (state, code) = match outcome {
            AttemptOutcome::Success => (StsState::Ok, None),
            // The client's own classification: `ServiceUnavailable` is throttling at any status.
            AttemptOutcome::Rejected { code, .. } if is_throttling(code) => {
                (StsState::Throttled, Some(code.to_owned()))
            }
            AttemptOutcome::Rejected { status, .. } if status >= 500 => {
                (StsState::Unreachable, None)
            }
            AttemptOutcome::Rejected { code, .. } => (StsState::Rejected, Some(code.to_owned())),
            AttemptOutcome::Transport(_)
            | AttemptOutcome::Malformed { .. }
            | AttemptOutcome::Cancelled => (StsState::Unreachable, None),
            // Nothing was sent: says nothing about STS.
            AttemptOutcome::BudgetSpent => return,
        };
        self.note(state, code);
    }
}

/// How long what was learnt stays good enough to answer a probe without asking STS again.
#[derive(Debug, Clone, Copy)]
pub struct ReadinessPolicy {
    pub ok_for: Duration,
    pub failure_for: Duration,
    /// The longest a probe waits for a check when nothing is cached.
    pub probe_wait: Duration,
    /// The longest one `GetCallerIdentity` check (retries included) may take.
    pub check_timeout: Duration,
}

impl Default for ReadinessPolicy {
    fn default() -> Self {
        Self {
            ok_for: Duration::from_secs(30),
            failure_for: Duration::from_secs(5),
            probe_wait: Duration::from_secs(2),
            check_timeout: Duration::from_secs(5),
        }
    }
}

/// The `/readyz` body.
#[derive(Debug, Clone, Serialize)]
pub struct ReadyReport {
    pub ready: bool,
    pub sts: &'static str,
    /// Ready only because a cached credential can still be handed out while STS is known not
    /// to be `ok` (not while nothing is known yet).
    pub serving_from_cache: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sts_code: Option<String>,
    /// Fleet mode only: `ok`, or `degraded` while Redis does not answer (this replica then
    /// works alone and stays ready).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fleet_cache: Option<&'static str>,
    /// Fleet mode only: `shared` while STS calls take from the fleet's budget, `local-share`
    /// when one lately took from this replica's share (Redis down, or its budget state not
    /// one a replica writes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fleet_budget: Option<&'static str>,
}

#[derive(Debug)]
pub struct Readiness {
    health: Arc<StsHealth>,
    policy: ReadinessPolicy,
    checking: Arc<AtomicBool>,
    checks_done: tokio::sync::watch::Sender<u64>,
}

impl Readiness {
    pub fn new(health: Arc<StsHealth>, policy: ReadinessPolicy) -> Self {
        Self {
            health,
            policy,
            checking: Arc::new(AtomicBool::new(false)),
            checks_done: tokio::sync::watch::channel(0).0,
        }
    }

    pub fn health(&self) -> &Arc<StsHealth> {
        &self.health
    }

    /// The last observation, if it is still fresh enough to trust without asking STS.
    fn fresh(&self) -> Option<Observation> {
        self.health.last().filter(|o| {
            let ttl = if o.state == StsState::Ok {
                self.policy.ok_for
            } else {
                self.policy.failure_for
            };
            o.at.elapsed() < ttl
        })
    }

    /// Answers a probe. Asks STS only when nothing fresh is known, and waits for that answer
    /// only when no cached credential could be served anyway.
    /// `issuers` are every profile's (any cached credential counts); STS is checked with the
    /// shared `services`.
    pub async fn evaluate(&self, services: &Services, issuers: &[&Issuer]) -> ReadyReport {
        let servable = issuers.iter().any(|i| i.cache().has_servable());
        let observation = match self.fresh() {
            Some(o) => Some(o),
            None => {
                let mut done = self.checks_done.subscribe();
                done.borrow_and_update();
                self.start_check(services);
                if !servable {
                    let _ = tokio::time::timeout(self.policy.probe_wait, done.changed()).await;
                }
                self.health.last()
            }
        };
        let (state, code) = observation.map_or((StsState::Unknown, None), |o| (o.state, o.code));
        let sts_ok = state == StsState::Ok;
        ReadyReport {
            ready: servable || sts_ok,
            sts: state.as_str(),
            // Only a known STS failure makes cached credentials the reason to be ready: before
            // the first answer (a replica that adopted its first credential from the fleet, say)
            // nothing is known to be wrong.
            serving_from_cache: servable && !sts_ok && state != StsState::Unknown,
            sts_code: code,
            fleet_cache: services.store.fleet().map(|f| {
                if f.health().is_up() {
                    "ok"
                } else {
                    "degraded"
                }
            }),
            fleet_budget: services.store.fleet().map(|f| f.health().budget()),
        }
    }

    /// Starts one `GetCallerIdentity` check in the background unless one is running.
    fn start_check(&self, services: &Services) {
        if self
            .checking
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        let sts = services.sts.clone();
        let identity = services.identity.clone();
        let health = self.health.clone();
        let checking = self.checking.clone();
        let done = self.checks_done.clone();
        let timeout = self.policy.check_timeout;
        tokio::spawn(async move {
            match identity.current().await {
                Ok(key) => {
                    // The outcome reaches `health` through the client's observers; a check cut
                    // short by the timeout is reported there as cancelled.
                    match tokio::time::timeout(timeout, sts.get_caller_identity(&key)).await {
                        Ok(Ok(answer)) => tracing::debug!(
                            sts_request_id = %answer.request_id,
                            "readiness check: GetCallerIdentity succeeded"
                        ),
                        Ok(Err(e)) => tracing::warn!(error = %e, "readiness check failed"),
                        Err(_) => tracing::warn!("readiness check timed out"),
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "readiness check: no identity");
                    health.note(StsState::NoIdentity, None);
                }
            }
            checking.store(false, Ordering::Release);
            done.send_modify(|n| *n += 1);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sts::client::StsError;

    /// Readiness and the STS client classify the same answers the same way: whatever the
    /// client treats as throttling is `throttled` here, whatever it retries as a server
    /// failure is `unreachable`, and a refusal is `rejected`.
    #[test]
    fn states_follow_the_client_classification() {
        let cases = [
            (503, "ServiceUnavailable", StsState::Throttled),
            (400, "Throttling.User", StsState::Throttled),
            (500, "InternalError", StsState::Unreachable),
            (403, "NoPermission", StsState::Rejected),
        ];
        for (status, code, expected) in cases {
            let health = StsHealth::default();
            health.attempt_finished(
                "AssumeRole",
                AttemptOutcome::Rejected { status, code },
                Duration::ZERO,
            );
            assert_eq!(health.last().unwrap().state, expected, "{status} {code}");
            let error = StsError::Rejected {
                status,
                code: code.into(),
                message: String::new(),
                request_id: None,
            };
            assert_eq!(error.is_throttling(), expected == StsState::Throttled);
            assert_eq!(error.retryable(), expected != StsState::Rejected);
        }
    }
}
