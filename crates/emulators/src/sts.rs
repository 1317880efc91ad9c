//! Strict emulator of Alibaba Cloud STS (`AssumeRole`, `AssumeRoleWithOIDC`,
//! `GetCallerIdentity`, RPC HMAC-SHA1 signing) for integration tests and `sts-broker demo`. This
//! module owns the running server, its shared state and the handles other emulators hold
//! ([`EmulatedKeys`], [`CredentialMinter`]); the rules live in its submodules. It owns its own
//! verification and canonicalisation; it must never reuse `crate::sts` code, never log secrets or
//! tokens, and never accept a request real STS would refuse (a lenient emulator proves nothing).

use crate::server::Background;
use std::collections::{HashMap, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard};

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};

use broker_clock::Clock;

mod actions;
mod config;
mod errors;
mod faults;
mod mint;
mod oidc;
mod policy;
mod render;
mod request;
mod shared;
mod signature;
#[cfg(test)]
mod tests;

pub use config::{EmulatedRole, Fault, IssuedCredential, StsEmulatorConfig};

use mint::{random_from, DIGITS};

#[derive(Clone)]
struct Issued {
    cred: IssuedCredential,
    role_id: String,
}

#[derive(Default)]
struct State {
    queued: VecDeque<Fault>,
    persistent: Option<Fault>,
    requests: usize,
    issued_count: usize,
    issued: HashMap<String, Issued>,
    last_issued: Option<String>,
    nonces: HashMap<String, DateTime<Utc>>,
    /// AccessKeyId that signed each accepted AssumeRole, in order.
    assume_role_callers: Vec<String>,
    /// OIDC tokens of successful AssumeRoleWithOIDC calls, in order.
    oidc_tokens: Vec<String>,
    /// The W3C `traceparent` header of every request that carried one, in order.
    traceparents: Vec<String>,
}

struct Inner {
    account_id: String,
    /// (AccessKeyId, AccessKeySecret, UserId)
    users: Vec<(String, String, String)>,
    /// (role, RoleId)
    roles: Vec<(EmulatedRole, String)>,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        crate::common::lock(&self.state)
    }
}

/// Every request: count it, apply an injected fault if one is due, else answer it.
async fn handle(req: HttpRequest, body: web::Bytes, inner: web::Data<Inner>) -> HttpResponse {
    if let Some(value) = req.headers().get("traceparent") {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        inner.state().traceparents.push(value);
    }
    let fault = faults::next_fault(&inner);
    let request_id = uuid::Uuid::new_v4().to_string().to_uppercase();
    if let Some(response) = faults::apply(fault, &request_id).await {
        return response;
    }
    match request::process(&req, &body, &inner, &request_id) {
        Ok(v) => HttpResponse::Ok()
            .insert_header(("x-acs-request-id", request_id.as_str()))
            .json(v),
        Err(e) => errors::error_response(&request_id, &e),
    }
}

/// A running emulator; its server stops on `stop()` or drop.
pub struct StsEmulator {
    inner: Arc<Inner>,
    server: Background,
}

impl StsEmulator {
    /// Binds 127.0.0.1:0 and serves in the background on the current tokio runtime.
    pub async fn start(config: StsEmulatorConfig) -> std::io::Result<StsEmulator> {
        Self::start_on(config, TcpListener::bind("127.0.0.1:0")?).await
    }

    /// Serves on `listener` in the background on the current tokio runtime.
    pub async fn start_on(
        config: StsEmulatorConfig,
        listener: TcpListener,
    ) -> std::io::Result<StsEmulator> {
        let inner = Arc::new(Inner {
            account_id: config.account_id,
            users: (config.access_keys.into_iter())
                .map(|(id, secret)| (id, secret, random_from(DIGITS, 16)))
                .collect(),
            roles: (config.roles.into_iter())
                .map(|r| (r, random_from(DIGITS, 17)))
                .collect(),
            clock: config.clock,
            state: Mutex::new(State::default()),
        });
        let data = web::Data::from(inner.clone());
        let server = Background::serve(listener, move |cfg| {
            cfg.app_data(data.clone())
                .app_data(web::PayloadConfig::new(1 << 20))
                .default_service(web::to(handle));
        })?;
        Ok(StsEmulator { inner, server })
    }

    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }

    /// A fault applied to every request until cleared with `None`.
    pub fn set_fault(&self, fault: Option<Fault>) {
        self.inner.state().persistent = fault;
    }

    /// Faults applied one per request, before the persistent one.
    pub fn enqueue_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.inner.state().queued.extend(faults);
    }

    /// HTTP requests received, whatever their outcome.
    pub fn request_count(&self) -> usize {
        self.inner.state().requests
    }

    /// The `traceparent` headers received (W3C Trace Context), in order.
    pub fn traceparents(&self) -> Vec<String> {
        self.inner.state().traceparents.clone()
    }

    /// Successful AssumeRole answers.
    pub fn issued_count(&self) -> usize {
        self.inner.state().issued_count
    }

    pub fn issued(&self, access_key_id: &str) -> Option<IssuedCredential> {
        let state = self.inner.state();
        state.issued.get(access_key_id).map(|i| i.cred.clone())
    }

    /// A cloneable view of what this emulator knows about keys, for the OSS emulator.
    pub fn keys(&self) -> EmulatedKeys {
        EmulatedKeys(self.inner.clone())
    }

    pub fn last_issued(&self) -> Option<IssuedCredential> {
        let state = self.inner.state();
        let id = state.last_issued.as_ref()?;
        state.issued.get(id).map(|i| i.cred.clone())
    }

    /// Every credential issued or minted, in no particular order (for leak checks).
    pub fn all_issued(&self) -> Vec<IssuedCredential> {
        let state = self.inner.state();
        state.issued.values().map(|i| i.cred.clone()).collect()
    }

    /// The AccessKeyId that signed each accepted `AssumeRole`, in order.
    pub fn assume_role_callers(&self) -> Vec<String> {
        self.inner.state().assume_role_callers.clone()
    }

    /// The OIDC token of each successful `AssumeRoleWithOIDC`, in order.
    pub fn oidc_tokens(&self) -> Vec<String> {
        self.inner.state().oidc_tokens.clone()
    }

    /// A temporary credential for `role` (a role name of this emulator), as the metadata
    /// service or a test would hold one; STS accepts it like any it issued.
    pub fn mint_for_role(&self, role: &str, duration_seconds: u32) -> Option<IssuedCredential> {
        self.minter().mint_for_role(role, duration_seconds)
    }

    /// Like [`Self::mint_for_role`], with an inline session policy narrowing the credential, as
    /// `AssumeRole` with `Policy` would issue it (the policy is taken as given).
    pub fn mint_with_policy(
        &self,
        role: &str,
        policy: serde_json::Value,
        duration_seconds: u32,
    ) -> Option<IssuedCredential> {
        let index = self.inner.roles.iter().position(|(r, _)| r.name == role)?;
        let now = self.inner.clock.now();
        mint::issue(
            &self.inner,
            index,
            "test-session",
            Some(policy),
            duration_seconds,
            now,
        )
        .ok()
    }

    /// A handle that mints credentials for other emulators (the metadata service).
    pub fn minter(&self) -> CredentialMinter {
        CredentialMinter {
            inner: self.inner.clone(),
        }
    }

    /// Makes STS treat a credential as expired from now on (a token that expired early, or a
    /// caller whose clock runs late); returns whether it was known.
    pub fn expire_credential(&self, access_key_id: &str) -> bool {
        let now = self.inner.clock.now();
        let mut state = self.inner.state();
        match state.issued.get_mut(access_key_id) {
            Some(issued) => {
                issued.cred.expiration = now;
                true
            }
            None => false,
        }
    }

    pub async fn stop(self) {
        self.server.stop().await;
    }
}

/// Mints credentials STS accepts, for the metadata-service emulator.
#[derive(Clone)]
pub struct CredentialMinter {
    inner: Arc<Inner>,
}

impl CredentialMinter {
    /// See [`StsEmulator::mint_for_role`]; `None` when the role does not exist.
    pub fn mint_for_role(&self, role: &str, duration_seconds: u32) -> Option<IssuedCredential> {
        let index = self.inner.roles.iter().position(|(r, _)| r.name == role)?;
        let now = self.inner.clock.now();
        mint::issue(
            &self.inner,
            index,
            "ecs-instance",
            None,
            duration_seconds,
            now,
        )
        .ok()
    }

    pub fn clock(&self) -> Arc<dyn Clock> {
        self.inner.clock.clone()
    }
}

/// Read-only access to the emulated account's keys: its RAM users' long-term keys and the
/// temporary credentials the STS emulator issued (secret, token, expiry, session policy).
#[derive(Clone)]
pub struct EmulatedKeys(Arc<Inner>);

impl EmulatedKeys {
    pub fn account_id(&self) -> &str {
        &self.0.account_id
    }

    /// The secret of a RAM user's long-term key.
    pub fn long_term_secret(&self, access_key_id: &str) -> Option<String> {
        self.0
            .users
            .iter()
            .find(|(id, _, _)| id == access_key_id)
            .map(|(_, secret, _)| secret.clone())
    }

    pub fn issued(&self, access_key_id: &str) -> Option<IssuedCredential> {
        self.0
            .state()
            .issued
            .get(access_key_id)
            .map(|i| i.cred.clone())
    }
}
