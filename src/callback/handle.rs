//! One `POST /ossCallback`, start to end: OSS's signature and the grant (`verify`), the profile
//! the body names, the object (`confirm`, HeadObject with the broker's identity), then the
//! forward to the profile's app, all inside OSS's 5 s. Every outcome, verified or refused, is
//! described by a [`CallbackAudit`] for the audit line.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Callbacks, ForwardFailure, Refusal, Target};
use crate::clock::Clock;
use crate::identity::Identity;

/// OSS waits 5 s for the whole callback (protocol.md §9.1); the broker answers before that.
pub const DEADLINE: Duration = Duration::from_millis(4500);

/// The parts of OSS's request the checks read.
#[derive(Debug, Clone, Copy)]
pub struct CallbackRequest<'a> {
    pub path_and_query: &'a str,
    pub authorization: Option<&'a str>,
    pub key_url: Option<&'a str>,
    pub body: &'a [u8],
}

/// Why a callback got no app answer: refused (nothing forwarded) or the forward failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    #[error(transparent)]
    Refused(Refusal),
    #[error(transparent)]
    Failed(ForwardFailure),
}

/// The audit line of one callback: the outcome, why, and (once the body is trusted) whose
/// upload it was. Never the body, a header or a secret.
#[derive(Debug, Clone)]
pub struct CallbackAudit {
    /// `forwarded`, `refused` or `forward-failed`.
    pub outcome: &'static str,
    pub reason: Option<String>,
    /// The caller, the profile and the object key the verified body names.
    pub upload: Option<(String, String, String)>,
}

impl CallbackAudit {
    fn new(
        result: &Result<Vec<u8>, CallbackError>,
        upload: Option<(String, String, String)>,
    ) -> Self {
        let (outcome, reason) = match result {
            Ok(_) => ("forwarded", None),
            Err(CallbackError::Refused(r)) => ("refused", Some(r.to_string())),
            Err(CallbackError::Failed(f)) => ("forward-failed", Some(f.to_string())),
        };
        Self {
            outcome,
            reason,
            upload,
        }
    }
}

impl Callbacks {
    /// Handles one callback: `profile` finds the target of the profile a verified body names
    /// (`None`: no such profile with a callback). The app's answer, or why there is none, and
    /// the audit record.
    pub async fn handle<'t>(
        &self,
        request: CallbackRequest<'_>,
        profile: impl Fn(&str) -> Option<Target<'t>>,
        identity: &Identity,
        clock: &Arc<dyn Clock>,
    ) -> (Result<Vec<u8>, CallbackError>, CallbackAudit) {
        let started = Instant::now();
        let mut upload = None;
        // Every check and the forward inside OSS's 5 s; past the deadline nothing is forwarded.
        let steps = self.steps(request, &profile, identity, clock, started, &mut upload);
        match tokio::time::timeout(DEADLINE, steps).await {
            Ok(result) => {
                let audit = CallbackAudit::new(&result, upload);
                (result, audit)
            }
            Err(_) => (
                Err(CallbackError::Failed(ForwardFailure::Timeout)),
                CallbackAudit {
                    outcome: "forward-failed",
                    reason: Some("the callback took too long".to_owned()),
                    upload,
                },
            ),
        }
    }

    async fn steps<'t>(
        &self,
        request: CallbackRequest<'_>,
        profile: &impl Fn(&str) -> Option<Target<'t>>,
        identity: &Identity,
        clock: &Arc<dyn Clock>,
        started: Instant,
        upload: &mut Option<(String, String, String)>,
    ) -> Result<Vec<u8>, CallbackError> {
        let now = clock.now().timestamp();
        let parsed = self
            .verify(
                request.path_and_query,
                request.authorization,
                request.key_url,
                request.body,
                now,
            )
            .await
            .map_err(CallbackError::Refused)?;
        *upload = Some((
            parsed.caller.clone(),
            parsed.profile.clone(),
            parsed.object.clone(),
        ));
        let refused = CallbackError::Refused;
        let target = profile(&parsed.profile).ok_or(refused(Refusal::Profile))?;
        // A form signed before the body carried `reqId` (during an upgrade): the object and
        // its ETag stand in for the upload.
        let upload_id = if parsed.request_id.is_empty() {
            format!("{}/{}/{}", parsed.bucket, parsed.object, parsed.etag)
        } else {
            parsed.request_id.clone()
        };
        let upload_id = upload_id.as_str();
        if !self.ledger.claim(upload_id).await {
            return Err(refused(Refusal::Replayed));
        }
        let result = self
            .confirm_and_forward(&parsed, target, identity, clock, started, now)
            .await;
        match &result {
            Ok(_) => self.ledger.forwarded(upload_id).await,
            Err(_) => self.ledger.release(upload_id).await,
        }
        result
    }

    /// The object checked, then the forward; the upload is claimed meanwhile.
    async fn confirm_and_forward(
        &self,
        parsed: &super::CallbackBody,
        target: Target<'_>,
        identity: &Identity,
        clock: &Arc<dyn Clock>,
        started: Instant,
        now: i64,
    ) -> Result<Vec<u8>, CallbackError> {
        let refused = CallbackError::Refused;
        let key = identity
            .current()
            .await
            .map_err(|_| refused(Refusal::HeadFailed))?;
        self.confirm(parsed, target, &key, clock.clone())
            .await
            .map_err(refused)?;
        let left = DEADLINE
            .saturating_sub(started.elapsed())
            .max(Duration::from_millis(100));
        self.forward(parsed, target, now, left)
            .await
            .map_err(CallbackError::Failed)
    }
}
