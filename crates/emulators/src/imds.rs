//! Emulator of the ECS instance metadata service's RAM-role endpoints (protocol.md §4.4) for tests and
//! local runs: IMDSv2 session tokens, the role listing and the role's credentials JSON, minted
//! through the STS emulator so STS accepts them. Binds loopback only; never logs a credential
//! or token.

use crate::server::Background;
use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard};

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crate::sts::{CredentialMinter, IssuedCredential};
use broker_clock::Clock;

const TOKEN_PATH: &str = "/latest/api/token";
const CREDENTIALS_PATH: &str = "/latest/meta-data/ram/security-credentials/";
/// protocol.md §4.4: the token TTL is 1..=21600 seconds.
const MAX_TOKEN_TTL: i64 = 21_600;

/// How the emulated metadata service behaves.
#[derive(Clone)]
pub struct ImdsEmulatorConfig {
    /// The instance's RAM role (a role of the STS emulator); `None`: no role attached.
    pub role_name: Option<String>,
    /// Whether `PUT /latest/api/token` exists (IMDSv2); without it the PUT answers 404.
    pub token_endpoint: bool,
    /// Hardened mode: GETs without a valid token are refused with 401.
    pub require_token: bool,
    /// Lifetime of minted credentials; the doc sample shows 6 h (protocol.md §4.4).
    pub credential_seconds: u32,
    pub clock: Arc<dyn Clock>,
}

impl ImdsEmulatorConfig {
    /// An IMDSv2-capable service that still answers v1, with 6 h credentials for `role`.
    pub fn new(role: &str, clock: Arc<dyn Clock>) -> Self {
        Self {
            role_name: Some(role.to_owned()),
            token_endpoint: true,
            require_token: false,
            credential_seconds: 21_600,
            clock,
        }
    }
}

/// What the emulator was asked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImdsStats {
    pub token_requests: usize,
    pub gets_with_token: usize,
    pub gets_without_token: usize,
    pub credentials_served: usize,
}

struct State {
    tokens: HashMap<String, DateTime<Utc>>,
    current: Option<IssuedCredential>,
    served: Vec<IssuedCredential>,
    stats: ImdsStats,
}

struct Inner {
    config: ImdsEmulatorConfig,
    minter: CredentialMinter,
    state: Mutex<State>,
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        crate::common::lock(&self.state)
    }
}

/// A running metadata-service emulator; stops on `stop()` or drop.
pub struct ImdsEmulator {
    inner: Arc<Inner>,
    server: Background,
}

impl ImdsEmulator {
    /// Binds 127.0.0.1:0 and serves in the background on the current tokio runtime.
    pub async fn start(
        config: ImdsEmulatorConfig,
        minter: CredentialMinter,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let inner = Arc::new(Inner {
            config,
            minter,
            state: Mutex::new(State {
                tokens: HashMap::new(),
                current: None,
                served: Vec::new(),
                stats: ImdsStats::default(),
            }),
        });
        let data = web::Data::from(inner.clone());
        let server = Background::serve(listener, move |cfg| {
            cfg.app_data(data.clone()).default_service(web::to(handle));
        })?;
        Ok(Self { inner, server })
    }

    /// The base URL to give the broker as `BROKER_IMDS_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }

    pub fn stats(&self) -> ImdsStats {
        self.inner.state().stats
    }

    /// Every credential the emulator has served, oldest first.
    pub fn served(&self) -> Vec<IssuedCredential> {
        self.inner.state().served.clone()
    }

    pub async fn stop(self) {
        self.server.stop().await;
    }
}

fn text(status: u16, body: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("a valid status"))
        .content_type("text/plain")
        .body(body.to_owned())
}

async fn handle(req: HttpRequest, inner: web::Data<Inner>) -> HttpResponse {
    let now = inner.config.clock.now();
    let path = req.path();
    if path == TOKEN_PATH {
        return issue_token(&req, &inner, now);
    }
    if req.method() != Method::GET {
        return text(405, "method not allowed");
    }
    // protocol.md §4.4: a token, when sent, must be one this service issued and still valid.
    let token = req
        .headers()
        .get("x-aliyun-ecs-metadata-token")
        .and_then(|v| v.to_str().ok());
    {
        let mut st = inner.state();
        match token {
            Some(t) => {
                st.stats.gets_with_token += 1;
                if st.tokens.get(t).is_none_or(|expiry| now >= *expiry) {
                    return text(401, "invalid or expired metadata token");
                }
            }
            None => {
                st.stats.gets_without_token += 1;
                if inner.config.require_token {
                    return text(401, "a metadata token is required");
                }
            }
        }
    }
    let Some(role) = inner.config.role_name.clone() else {
        return text(404, "Not Found");
    };
    match path.strip_prefix(CREDENTIALS_PATH) {
        Some("") => text(200, &role),
        Some(name) if name == role => credentials(&inner, &role, now),
        _ => text(404, "Not Found"),
    }
}

fn issue_token(req: &HttpRequest, inner: &Inner, now: DateTime<Utc>) -> HttpResponse {
    inner.state().stats.token_requests += 1;
    if !inner.config.token_endpoint {
        return text(404, "Not Found");
    }
    if req.method() != Method::PUT {
        return text(405, "method not allowed");
    }
    // protocol.md §4.4: requests carrying X-Forwarded-For are refused.
    if req.headers().contains_key("x-forwarded-for") {
        return text(403, "Forbidden");
    }
    let ttl = req
        .headers()
        .get("x-aliyun-ecs-metadata-token-ttl-seconds")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|ttl| (1..=MAX_TOKEN_TTL).contains(ttl));
    let Some(ttl) = ttl else {
        return text(
            400,
            "X-aliyun-ecs-metadata-token-ttl-seconds must be 1 to 21600",
        );
    };
    let token = format!("imds-{}", uuid::Uuid::new_v4().simple());
    inner
        .state()
        .tokens
        .insert(token.clone(), now + Duration::seconds(ttl));
    text(200, &token)
}

/// The same credential until less than half its life is left, then a fresh one (the real
/// service also hands out one credential for a while and rotates it ahead of expiry).
fn credentials(inner: &Inner, role: &str, now: DateTime<Utc>) -> HttpResponse {
    let mut st = inner.state();
    let half = Duration::seconds(i64::from(inner.config.credential_seconds) / 2);
    let stale = st
        .current
        .as_ref()
        .is_none_or(|c| c.expiration - now < half);
    if stale {
        match inner
            .minter
            .mint_for_role(role, inner.config.credential_seconds)
        {
            Some(cred) => st.current = Some(cred),
            None => return text(404, "Not Found"),
        }
    }
    let cred = st.current.clone().expect("minted above");
    st.stats.credentials_served += 1;
    st.served.push(cred.clone());
    let issued_at = cred.expiration - Duration::seconds(i64::from(cred.duration_seconds));
    let stamp = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    HttpResponse::Ok().json(json!({
        "AccessKeyId": cred.access_key_id,
        "AccessKeySecret": cred.access_key_secret,
        "Expiration": stamp(cred.expiration),
        "SecurityToken": cred.security_token,
        "LastUpdated": stamp(issued_at),
        "Code": "Success",
    }))
}
