//! The only code that talks to STS over the network: builds signed RPC requests (protocol.md §1.3–1.4),
//! sends them with one shared reqwest client, retries retryable failures across the configured
//! endpoints (see `retry`), and turns answers into typed values or a typed [`StsError`].
//! It never caches.

use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument as _;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

use crate::clock::{Clock, NonceSource};
use crate::credentials::{AccessKey, RoleArn, TemporaryCredentials};
use crate::request_id::current_request_id;
use crate::sts::error::{parse_error, transport};
pub use crate::sts::error::{StsError, TransportKind};
pub use crate::sts::retry::Priority;
use crate::sts::retry::{with_retries, CallBudget, CallGate, RetryPolicy};
use crate::sts::signer;
use crate::timefmt::format_timestamp;

const API_VERSION: &str = "2015-04-01";
/// An STS answer larger than this is not an STS answer.
const MAX_BODY_BYTES: usize = 256 * 1024;

/// What `AssumeRole` is asked for.
#[derive(Debug, Clone)]
pub struct AssumeRoleRequest<'a> {
    pub role_arn: &'a RoleArn,
    pub role_session_name: &'a str,
    pub duration_seconds: u32,
    /// Minified JSON session policy; empty for none.
    pub policy: &'a str,
    /// How the call budget treats it when it runs short.
    pub priority: Priority,
}

/// What `AssumeRoleWithOIDC` is asked for (protocol.md §4.5).
#[derive(Debug, Clone)]
pub struct OidcRequest<'a> {
    pub role_arn: &'a RoleArn,
    /// `acs:ram::<account>:oidc-provider/<name>`
    pub oidc_provider_arn: &'a str,
    /// The raw JWT, as read from the token file.
    pub oidc_token: &'a SecretString,
    pub role_session_name: &'a str,
    pub duration_seconds: u32,
}

/// A successful `AssumeRole`.
#[derive(Debug, Clone)]
pub struct AssumedRole {
    pub credentials: TemporaryCredentials,
    pub request_id: String,
}

/// The answer of `GetCallerIdentity` (protocol.md §4.7).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CallerIdentity {
    pub request_id: String,
    pub account_id: String,
    pub arn: String,
    pub identity_type: String,
}

/// How one attempt (one HTTP request) toward STS ended, for observers (metrics, readiness).
#[derive(Debug, Clone, Copy)]
pub enum AttemptOutcome<'a> {
    Success,
    /// STS answered with an error document.
    Rejected {
        status: u16,
        code: &'a str,
    },
    /// No complete answer arrived.
    Transport(TransportKind),
    /// Something answered, but not with an STS document.
    Malformed {
        status: u16,
    },
    /// The attempt was abandoned before it finished (the retry budget ran out).
    Cancelled,
    /// Nothing was sent: the process-wide call budget was spent.
    BudgetSpent,
}

/// Told about every STS attempt. Implementations must be cheap and must not call STS.
pub trait StsObserver: std::fmt::Debug + Send + Sync {
    fn attempt_finished(
        &self,
        action: &'static str,
        outcome: AttemptOutcome<'_>,
        elapsed: Duration,
    );
}

/// Reports an attempt to the observers when dropped, as `Cancelled` unless told otherwise.
struct AttemptRecord<'a> {
    observers: &'a [Arc<dyn StsObserver>],
    action: &'static str,
    started: std::time::Instant,
    done: bool,
}

impl AttemptRecord<'_> {
    fn finish(&mut self, outcome: AttemptOutcome<'_>) {
        self.done = true;
        let elapsed = self.started.elapsed();
        for observer in self.observers {
            observer.attempt_finished(self.action, outcome, elapsed);
        }
    }
}

impl Drop for AttemptRecord<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.finish(AttemptOutcome::Cancelled);
        }
    }
}

/// The STS client's settings (the STS section of the configuration).
#[derive(Debug, Clone)]
pub struct StsConfig {
    /// Tried in order on retryable failures.
    pub endpoints: Vec<reqwest::Url>,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    /// Total time one logical call may spend, retries included.
    pub retry_budget: Duration,
    /// The process-wide (or, in a fleet, fleet-wide) budget of STS calls per second.
    pub max_qps: u32,
    /// The share of `max_qps` that first loads never take, kept for refreshing credentials in
    /// use (`BROKER_STS_REFRESH_RESERVE_PERCENT`).
    pub refresh_reserve_percent: u8,
}

impl StsConfig {
    /// One endpoint with the default timeouts and budgets, and a generous call budget (tests,
    /// tools).
    pub fn for_endpoint(endpoint: reqwest::Url) -> Self {
        Self {
            endpoints: vec![endpoint],
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
            retry_budget: RetryPolicy::default().total_budget,
            max_qps: 1000,
            refresh_reserve_percent: 0,
        }
    }
}

/// Timeouts toward STS.
#[derive(Debug, Clone, Copy)]
pub struct StsTimeouts {
    pub connect: Duration,
    pub total: Duration,
}

/// A signed-request client for STS, over one or more endpoints tried in order.
#[derive(Debug, Clone)]
pub struct StsClient {
    http: reqwest::Client,
    endpoints: Vec<reqwest::Url>,
    clock: Arc<dyn Clock>,
    nonces: Arc<dyn NonceSource>,
    retry: RetryPolicy,
    budget: Arc<dyn CallGate>,
    /// `GetCallerIdentity` (readiness) has its own small budget: probes never take calls from
    /// callers.
    probes: Arc<CallBudget>,
    observers: Vec<Arc<dyn StsObserver>>,
}

/// Readiness probes allowed per second.
const PROBES_PER_SECOND: u32 = 2;

impl StsClient {
    /// The client `config` describes: its endpoints, timeouts, retry budget and call budget.
    pub fn new(
        config: StsConfig,
        clock: Arc<dyn Clock>,
        nonces: Arc<dyn NonceSource>,
    ) -> Result<Self, reqwest::Error> {
        Self::with_endpoints(
            config.endpoints,
            StsTimeouts {
                connect: config.connect_timeout,
                total: config.timeout,
            },
            clock,
            nonces,
            RetryPolicy {
                total_budget: config.retry_budget,
                ..RetryPolicy::default()
            },
            Arc::new(CallBudget::with_reserve(
                config.max_qps,
                config.refresh_reserve_percent,
            )),
        )
    }

    pub fn with_endpoints(
        endpoints: Vec<reqwest::Url>,
        timeouts: StsTimeouts,
        clock: Arc<dyn Clock>,
        nonces: Arc<dyn NonceSource>,
        retry: RetryPolicy,
        budget: Arc<dyn CallGate>,
    ) -> Result<Self, reqwest::Error> {
        assert!(!endpoints.is_empty(), "at least one STS endpoint");
        // STS is called directly; a proxy from the environment would see every request.
        let http = crate::http_client::client(timeouts.connect, timeouts.total)?;
        Ok(Self {
            http,
            endpoints,
            clock,
            nonces,
            retry,
            budget,
            probes: Arc::new(CallBudget::new(PROBES_PER_SECOND)),
            observers: Vec::new(),
        })
    }

    /// The same client drawing on `gate` instead of its own budget (a fleet-wide budget).
    pub fn with_gate(mut self, gate: Arc<dyn CallGate>) -> Self {
        self.budget = gate;
        self
    }

    /// Adds an observer told about every attempt (metrics, readiness).
    pub fn observed_by(mut self, observer: Arc<dyn StsObserver>) -> Self {
        self.observers.push(observer);
        self
    }

    /// Tells the observers that a call could not even start (call budget spent).
    fn note_budget(&self, action: &'static str, error: &StsError) {
        if matches!(error, StsError::CallBudgetSpent) {
            for observer in &self.observers {
                observer.attempt_finished(action, AttemptOutcome::BudgetSpent, Duration::ZERO);
            }
        }
    }

    pub fn endpoints(&self) -> &[reqwest::Url] {
        &self.endpoints
    }

    /// Calls `AssumeRole` signed with `identity`, retrying retryable failures; attempt `n` goes
    /// to endpoint `n mod len`, so a failing primary hands over to the next one.
    pub async fn assume_role(
        &self,
        identity: &AccessKey,
        request: &AssumeRoleRequest<'_>,
    ) -> Result<AssumedRole, StsError> {
        with_retries(&self.retry, &*self.budget, request.priority, |n| {
            self.assume_role_once(identity, request, n as usize)
        })
        .await
        .inspect_err(|e| self.note_budget("AssumeRole", e))
    }

    /// One signed `AssumeRole` attempt against endpoint `attempt mod len`.
    pub async fn assume_role_once(
        &self,
        identity: &AccessKey,
        request: &AssumeRoleRequest<'_>,
        attempt: usize,
    ) -> Result<AssumedRole, StsError> {
        let duration = request.duration_seconds.to_string();
        let mut business = vec![
            ("RoleArn", request.role_arn.as_str()),
            ("RoleSessionName", request.role_session_name),
            ("DurationSeconds", duration.as_str()),
        ];
        if !request.policy.is_empty() {
            business.push(("Policy", request.policy));
        }
        let (status, body) = self
            .call(attempt, "AssumeRole", identity, &business)
            .await?;
        parse_assumed("AssumeRole", status, &body)
    }

    /// Calls `AssumeRoleWithOIDC` (protocol.md §4.5), retrying like [`StsClient::assume_role`]. It is
    /// anonymous, so no `AccessKeyId`, `SignatureNonce` or `Signature`. The common parameters go
    /// in the query as credentials-go sends them; the token travels in the form body so it
    /// stays out of URLs.
    pub async fn assume_role_with_oidc(
        &self,
        request: &OidcRequest<'_>,
    ) -> Result<AssumedRole, StsError> {
        with_retries(
            &self.retry,
            &*self.budget,
            Priority::Refresh,
            |n| async move {
                let timestamp = format_timestamp(self.clock.now());
                let duration = request.duration_seconds.to_string();
                let query = [
                    ("Action", "AssumeRoleWithOIDC"),
                    ("Version", API_VERSION),
                    ("Format", "JSON"),
                    ("Timestamp", timestamp.as_str()),
                ];
                let form = [
                    ("RoleArn", request.role_arn.as_str()),
                    ("OIDCProviderArn", request.oidc_provider_arn),
                    ("OIDCToken", request.oidc_token.expose_secret()),
                    ("RoleSessionName", request.role_session_name),
                    ("DurationSeconds", duration.as_str()),
                ];
                let mut url = self.endpoints[n as usize % self.endpoints.len()].clone();
                url.query_pairs_mut().extend_pairs(query);
                let builder = self
                    .http
                    .post(url)
                    .header(reqwest::header::ACCEPT, "application/json")
                    .form(&form);
                let (status, body) = self.send_request(builder).await?;
                parse_assumed("AssumeRoleWithOIDC", status, &body)
            },
        )
        .await
    }

    /// Calls `GetCallerIdentity`: proves the identity, clock and endpoint work, with no side effects.
    pub async fn get_caller_identity(
        &self,
        identity: &AccessKey,
    ) -> Result<CallerIdentity, StsError> {
        with_retries(
            &self.retry,
            &*self.probes,
            Priority::Refresh,
            |n| async move {
                let (status, body) = self
                    .call(n as usize, "GetCallerIdentity", identity, &[])
                    .await?;
                serde_json::from_slice(&body).map_err(|e| StsError::Malformed {
                    status,
                    reason: format!("not a GetCallerIdentity answer: {e}"),
                })
            },
        )
        .await
        .inspect_err(|e| self.note_budget("GetCallerIdentity", e))
    }

    /// One attempt, reported to the observers however it ends (dropped mid-flight included).
    async fn call(
        &self,
        attempt: usize,
        action: &'static str,
        identity: &AccessKey,
        business: &[(&str, &str)],
    ) -> Result<(u16, Vec<u8>), StsError> {
        let mut record = AttemptRecord {
            observers: &self.observers,
            action,
            started: std::time::Instant::now(),
            done: false,
        };
        let span = crate::trace::span(|| {
            tracing::info_span!(
                "sts",
                otel.name = %format_args!("STS {action}"),
                otel.kind = "client",
                otel.status_code = tracing::field::Empty,
                sts.action = action,
                sts.attempt = attempt + 1,
                sts.outcome = tracing::field::Empty,
                sts.code = tracing::field::Empty,
            )
        });
        let result = self
            .send(attempt, action, identity, business)
            .instrument(span.clone())
            .await;
        if !span.is_none() {
            record_outcome(&span, &result);
        }
        match &result {
            Ok(_) => record.finish(AttemptOutcome::Success),
            Err(StsError::Rejected {
                status,
                code,
                request_id,
                ..
            }) => {
                // The STS request id beside ours: one line joins the broker log with STS's.
                tracing::warn!(
                    request_id = %current_request_id(),
                    action,
                    status,
                    sts_code = %code,
                    sts_request_id = request_id.as_deref().unwrap_or("-"),
                    "STS refused the call"
                );
                record.finish(AttemptOutcome::Rejected {
                    status: *status,
                    code,
                });
            }
            Err(StsError::Transport { kind, .. }) => {
                record.finish(AttemptOutcome::Transport(*kind))
            }
            Err(StsError::Malformed { status, .. }) => {
                record.finish(AttemptOutcome::Malformed { status: *status })
            }
            Err(_) => record.finish(AttemptOutcome::Cancelled),
        }
        result
    }

    /// Signs and sends one request; every call gets a fresh nonce and timestamp (protocol.md §2.2).
    /// Everything travels in the form body so the policy and tokens stay out of URLs (protocol.md §1.4).
    async fn send(
        &self,
        attempt: usize,
        action: &str,
        identity: &AccessKey,
        business: &[(&str, &str)],
    ) -> Result<(u16, Vec<u8>), StsError> {
        let nonce = self.nonces.nonce();
        let timestamp = format_timestamp(self.clock.now());
        let mut params: Vec<(&str, &str)> = vec![
            ("Action", action),
            ("Version", API_VERSION),
            ("Format", "JSON"),
            ("AccessKeyId", identity.id.as_str()),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("SignatureNonce", nonce.as_str()),
            ("Timestamp", timestamp.as_str()),
        ];
        if let Some(token) = &identity.security_token {
            params.push(("SecurityToken", token.expose_secret()));
        }
        params.extend_from_slice(business);
        let signature = signer::sign(
            "POST",
            params.iter().copied(),
            identity.secret.expose_secret(),
        );
        params.push(("Signature", signature.as_str()));

        let builder = self
            .http
            .post(self.endpoints[attempt % self.endpoints.len()].clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&params);
        self.send_request(builder).await
    }

    /// Sends one request and reads a bounded answer; non-2xx answers become [`StsError`]s.
    async fn send_request(
        &self,
        builder: reqwest::RequestBuilder,
    ) -> Result<(u16, Vec<u8>), StsError> {
        let builder = crate::trace::outbound(builder);
        let mut response = builder.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        // Read in chunks so an oversized answer is refused before it is held in memory.
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(StsError::Malformed {
                    status,
                    reason: format!("body over {MAX_BODY_BYTES} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        if (200..300).contains(&status) {
            Ok((status, body))
        } else {
            Err(parse_error(status, &body))
        }
    }
}

/// The attempt's outcome on its span: `success`, `rejected` (with STS's error code),
/// `transport`, `malformed` or `cancelled`.
fn record_outcome(span: &tracing::Span, result: &Result<(u16, Vec<u8>), StsError>) {
    let outcome = match result {
        Ok(_) => "success",
        Err(StsError::Rejected { code, .. }) => {
            span.record("sts.code", code.as_str());
            "rejected"
        }
        Err(StsError::Transport { .. }) => "transport",
        Err(StsError::Malformed { .. }) => "malformed",
        Err(_) => "cancelled",
    };
    span.record("sts.outcome", outcome);
    if result.is_err() {
        span.record("otel.status_code", "ERROR");
    }
}

/// Reads the `Credentials` of an `AssumeRole`-shaped answer (protocol.md §1.5, §4.5) strictly.
fn parse_assumed(action: &str, status: u16, body: &[u8]) -> Result<AssumedRole, StsError> {
    let parsed: AssumeRoleBody = serde_json::from_slice(body).map_err(|e| StsError::Malformed {
        status,
        reason: format!("not an {action} answer: {e}"),
    })?;
    let c = parsed.credentials;
    for (name, value) in [
        ("RequestId", &parsed.request_id),
        ("Credentials.AccessKeyId", &c.access_key_id),
        ("Credentials.AccessKeySecret", &c.access_key_secret),
        ("Credentials.SecurityToken", &c.security_token),
    ] {
        if value.trim().is_empty() {
            return Err(StsError::Malformed {
                status,
                reason: format!("{name} is empty"),
            });
        }
    }
    let expiration = DateTime::parse_from_rfc3339(&c.expiration)
        .map_err(|_| StsError::Malformed {
            status,
            reason: "Credentials.Expiration is not an RFC 3339 timestamp".into(),
        })?
        .with_timezone(&Utc);
    Ok(AssumedRole {
        credentials: TemporaryCredentials {
            access_key_id: c.access_key_id,
            access_key_secret: SecretString::from(c.access_key_secret),
            security_token: SecretString::from(c.security_token),
            expiration,
        },
        request_id: parsed.request_id,
    })
}

/// Strict shape of a successful `AssumeRole` answer (protocol.md §1.5): a missing field is an error.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AssumeRoleBody {
    request_id: String,
    credentials: CredentialsBody,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CredentialsBody {
    access_key_id: String,
    access_key_secret: String,
    security_token: String,
    expiration: String,
}
