//! Strict emulator of Alibaba Cloud STS (`AssumeRole`, `GetCallerIdentity`, RPC HMAC-SHA1
//! signing) for integration tests and `sts-broker demo`. It owns its own verification and
//! canonicalisation; it must never reuse `crate::sts` code, never log secrets or tokens, and never
//! accept a request real STS would refuse (a lenient emulator proves nothing).

use crate::server::Background;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration as StdDuration;

use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha1::Sha1;

use broker_clock::{Clock, SystemClock};

mod oidc;

const HOST_ID: &str = "sts.aliyuncs.com";
const API_VERSION: &str = "2015-04-01";
/// Spec §2.2: sources disagree (31 vs 15 min); we enforce the stricter 15 minutes.
const MAX_SKEW_SECONDS: i64 = 15 * 60;
/// Spec §2.2: nonces must be unique across 31 minutes.
const NONCE_WINDOW_SECONDS: i64 = 31 * 60;
/// Spec §1.3: every RPC call carries these; checked in this order.
const COMMON_PARAMS: &str = "Action Version AccessKeyId SignatureMethod SignatureVersion SignatureNonce Timestamp Signature Format";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const DIGITS: &[u8] = b"0123456789";
const GARBAGE: &str =
    "<html><head><title>502 Bad Gateway</title></head><body>Tengine</body></html>";

/// Spec §1.7 (AssumeRole and gateway tables): code, HTTP status, message as real STS words it.
/// Codes not listed (MissingParameter, InvalidParameter*, SignatureDoesNotMatch) are 400.
#[rustfmt::skip]
const ERRORS: &[(&str, u16, &str)] = &[
    ("UnsupportedHTTPMethod", 403, "The specified HTTP method is not supported."),
    ("InvalidAction.NotFound", 404, "Specified api is not found, please check your url and method."),
    ("InvalidParameter.ContentType", 400, "ContentType must be \"application/json\" or \"application/x-www-form-urlencoded\"."),
    ("IllegalTimestamp", 400, "The specified parameter \"Timestamp\" is not valid."),
    ("InvalidTimeStamp.Expired", 400, "Specified time stamp or date value is expired."),
    ("InvalidAccessKeyId.NotFound", 404, "Specified access key is not found."),
    ("MissingSecurityToken", 400, "SecurityToken is mandatory for this action."),
    ("InvalidSecurityToken.MismatchWithAccessKey", 400, "Specified SecurityToken mismatch with the AccessKey."),
    ("InvalidSecurityToken.Expired", 400, "Specified SecurityToken is expired."),
    ("InvalidSecurityToken.Malformed", 400, "Specified SecurityToken is malformed."),
    ("SignatureNonceUsed", 400, "Specified signature nonce was used already."),
    ("InvalidParameter.RoleArn", 400, "The parameter RoleArn is wrongly formed."),
    ("EntityNotExist.Role", 404, "The specified Role not exists ."),
    ("InvalidParameter.RoleSessionName", 400, "The parameter RoleSessionName is wrongly formed."),
    ("InvalidParameter.DurationSeconds", 400, "The Min/Max value of DurationSeconds is 15min/1hr."),
    ("InvalidParameter.PolicySize", 400, "The size of Policy must be smaller than 2048 bytes."),
    ("InvalidParameter.PolicyGrammar", 400, "The parameter Policy has not passed grammar check."),
    ("NoPermission", 403, "You are not authorized to do this action. You should be authorized by RAM."),
    ("Throttling.User", 400, "Request was denied due to user flow control."),
    ("InternalError", 500, "STS Server Internal Error happened, please send the RequestId to us."),
    ("ServiceUnavailable", 503, "The request has failed due to a temporary failure of the server."),
    // AssumeRoleWithOIDC (Alibaba's STS error-code reference, api-sts-2015-04-01-errorcodes).
    ("AuthenticationFail.NoPermission", 401, "No such OIDC Provider registered."),
    ("AuthenticationFail.OIDCToken.Invalid", 401, "The Jwt content is invalid that cannot be recognized."),
    ("AuthenticationFail.OIDCToken.Expired", 401, "This JsonWebToken is expired."),
    // Not from a source: the emulator's own code for a provider ARN of the wrong shape.
    ("InvalidParameter.OIDCProviderArn", 400, "The parameter OIDCProviderArn is wrongly formed."),
];

/// A RAM role in the emulator's own account.
#[derive(Debug, Clone)]
pub struct EmulatedRole {
    pub name: String,
    pub max_session_duration: u32,
}

/// What the emulator knows: its account, long-term RAM-user keys, roles and clock.
#[derive(Clone)]
pub struct StsEmulatorConfig {
    pub account_id: String,
    pub access_keys: Vec<(String, String)>,
    pub roles: Vec<EmulatedRole>,
    pub clock: Arc<dyn Clock>,
}

impl StsEmulatorConfig {
    /// The configuration `sts-broker demo` runs against.
    pub fn demo() -> Self {
        let role = |name: &str, max_session_duration| EmulatedRole {
            name: name.into(),
            max_session_duration,
        };
        Self {
            account_id: "1234567890123456".into(),
            access_keys: vec![(
                "LTAI5tDemoBrokerKey00001".into(),
                "EmuDemoSecretDoNotUseInProd001".into(),
            )],
            roles: vec![role("demo-uploader", 43200), role("short-role", 3600)],
            clock: Arc::new(SystemClock),
        }
    }
}

/// A failure injected into the emulator's answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    Throttle,
    InternalError,
    ServiceUnavailable,
    Delay(StdDuration),
    Garbage,
    DropConnection,
    /// An error document with this code (from the table above), e.g.
    /// `InvalidSecurityToken.Expired`.
    Reject(&'static str),
}

/// A temporary credential the emulator handed out.
#[derive(Clone)]
pub struct IssuedCredential {
    pub access_key_id: String,
    pub access_key_secret: String,
    pub security_token: String,
    pub expiration: DateTime<Utc>,
    pub role_arn: String,
    pub role_session_name: String,
    pub policy: Option<Value>,
    pub duration_seconds: u32,
}

impl std::fmt::Debug for IssuedCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCredential")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"<redacted>")
            .field("security_token", &"<redacted>")
            .field("expiration", &self.expiration)
            .field("role_arn", &self.role_arn)
            .field("role_session_name", &self.role_session_name)
            .field("policy", &self.policy)
            .field("duration_seconds", &self.duration_seconds)
            .finish()
    }
}

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
        // A panicking handler must not wedge every later request.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
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
        issue(
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

/// An Alibaba-shaped error (spec §1.6, statuses §1.7).
#[derive(Debug)]
struct StsError {
    status: u16,
    code: &'static str,
    message: String,
}

fn fail(code: &'static str) -> StsError {
    let (status, message) = (ERRORS.iter().find(|(c, _, _)| *c == code))
        .map_or((400, ""), |(_, status, message)| (*status, *message));
    StsError {
        status,
        code,
        message: message.into(),
    }
}

fn fail_with(code: &'static str, message: String) -> StsError {
    StsError {
        message,
        ..fail(code)
    }
}

fn missing(name: &str) -> StsError {
    let msg = format!("The input parameter \"{name}\" that is mandatory for processing this request is not supplied.");
    fail_with("MissingParameter", msg)
}

fn error_response(request_id: &str, e: &StsError) -> HttpResponse {
    // Code and request id only: messages may echo request parameters (spec §1.6).
    tracing::debug!(code = e.code, request_id, "sts emulator answered an error");
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    HttpResponse::build(status)
        .insert_header(("x-acs-request-id", request_id))
        .json(json!({
            "RequestId": request_id,
            "HostId": HOST_ID,
            "Code": e.code,
            "Message": e.message,
            "Recommend": format!("https://api.aliyun.com/troubleshoot?q={}&product=Sts", e.code),
        }))
}

async fn handle(req: HttpRequest, body: web::Bytes, inner: web::Data<Inner>) -> HttpResponse {
    let fault = {
        let mut st = inner.state();
        st.requests += 1;
        st.queued.pop_front().or_else(|| st.persistent.clone())
    };
    let request_id = uuid::Uuid::new_v4().to_string().to_uppercase();
    let canned = |code| Some(error_response(&request_id, &fail(code)));
    let early = match fault {
        None => None,
        Some(Fault::Throttle) => canned("Throttling.User"),
        Some(Fault::InternalError) => canned("InternalError"),
        Some(Fault::ServiceUnavailable) => canned("ServiceUnavailable"),
        Some(Fault::Delay(d)) => {
            tokio::time::sleep(d).await;
            None
        }
        Some(Fault::Reject(code)) => canned(code),
        Some(Fault::Garbage) => Some(HttpResponse::Ok().content_type("text/html").body(GARBAGE)),
        Some(Fault::DropConnection) => {
            // A body stream failing before its first byte makes actix abort the connection
            // without flushing the head, so the client sees a broken connection.
            let s = futures_util::stream::once(async {
                Err::<web::Bytes, _>(std::io::Error::other("emulated connection drop"))
            });
            Some(HttpResponse::Ok().streaming(s))
        }
    };
    if let Some(response) = early {
        return response;
    }
    match process(&req, &body, &inner, &request_id) {
        Ok(v) => HttpResponse::Ok()
            .insert_header(("x-acs-request-id", request_id.as_str()))
            .json(v),
        Err(e) => error_response(&request_id, &e),
    }
}

/// Who signed the request.
enum Caller {
    User(usize),
    Role(Box<Issued>),
}

fn process(
    req: &HttpRequest,
    body: &[u8],
    inner: &Inner,
    request_id: &str,
) -> Result<Value, StsError> {
    // 1. Spec §1.4: GET or POST on "/"; parameters are query ∪ form body.
    let method = match *req.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        _ => return Err(fail("UnsupportedHTTPMethod")),
    };
    if req.path() != "/" {
        return Err(fail("InvalidAction.NotFound"));
    }
    let params = collect_params(req, method, body)?;
    if params.get("Action").map(String::as_str) == Some("AssumeRoleWithOIDC") {
        return oidc::assume_role_with_oidc(inner, &params, request_id);
    }
    let p = |name: &str| params.get(name).map(String::as_str).unwrap_or_default();

    // 2. Spec §1.3: common parameters.
    if let Some(name) = COMMON_PARAMS.split(' ').find(|n| !params.contains_key(*n)) {
        return Err(missing(name));
    }
    if !p("Format").eq_ignore_ascii_case("JSON") {
        let msg = format!(
            "Format \"{}\" is not supported: this emulator answers JSON only.",
            p("Format")
        );
        return Err(fail_with("InvalidParameter.Format", msg));
    }
    for (name, want) in [
        ("Version", API_VERSION),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
    ] {
        if p(name) != want {
            let msg = format!("The specified parameter \"{name}\" is not valid.");
            return Err(fail_with("InvalidParameter", msg));
        }
    }
    let action = p("Action");
    if !matches!(action, "AssumeRole" | "GetCallerIdentity") {
        return Err(fail("InvalidAction.NotFound"));
    }

    // 3. Spec §1.3, §2.2: timestamp shape and skew against the emulator's clock.
    let now = inner.clock.now();
    let ts = parse_timestamp(p("Timestamp")).ok_or_else(|| fail("IllegalTimestamp"))?;
    if (now - ts).abs() > Duration::seconds(MAX_SKEW_SECONDS) {
        return Err(fail("InvalidTimeStamp.Expired"));
    }

    // 4. Spec §1.7 gateway table: who is calling, and is its token right.
    let token = params.get("SecurityToken").map(String::as_str);
    let (secret, caller) = resolve_caller(inner, p("AccessKeyId"), token, now)?;

    // 5. Spec §2.1: recompute the signature from the decoded parameters.
    let string_to_sign = string_to_sign(method, &params);
    if !ct_eq(
        sign(&secret, &string_to_sign).as_bytes(),
        p("Signature").as_bytes(),
    ) {
        // Real STS echoes its string to sign (spec §1.6); the broker must never leak it.
        let msg = format!("Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}");
        return Err(fail_with("SignatureDoesNotMatch", msg));
    }

    // 6. Spec §2.2: nonce replay, recorded only once the request proved authentic.
    {
        let mut st = inner.state();
        let window = Duration::seconds(NONCE_WINDOW_SECONDS);
        st.nonces.retain(|_, seen| now - *seen < window);
        if st.nonces.contains_key(p("SignatureNonce")) {
            return Err(fail("SignatureNonceUsed"));
        }
        st.nonces.insert(p("SignatureNonce").to_string(), now);
    }

    match action {
        "AssumeRole" => assume_role(inner, &params, &caller, now, request_id),
        _ => Ok(caller_identity(inner, &caller, request_id)),
    }
}

fn collect_params(
    req: &HttpRequest,
    method: &str,
    body: &[u8],
) -> Result<BTreeMap<String, String>, StsError> {
    let mut params = BTreeMap::new();
    let mut add = |pairs: form_urlencoded::Parse<'_>| {
        for (k, v) in pairs {
            if params.insert(k.to_string(), v.into_owned()).is_some() {
                let msg = format!("The specified parameter \"{k}\" is given more than once.");
                return Err(fail_with("InvalidParameter", msg));
            }
        }
        Ok(())
    };
    add(form_urlencoded::parse(req.query_string().as_bytes()))?;
    if method == "POST" && !body.is_empty() {
        let content_type = (req.headers().get("content-type"))
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(fail("InvalidParameter.ContentType"));
        }
        add(form_urlencoded::parse(body))?;
    }
    Ok(params)
}

/// `YYYY-MM-DDTHH:MM:SSZ`, optionally with 1–9 fractional digits (ali-oss sends milliseconds).
fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    let body = s.strip_suffix('Z')?;
    let (main, frac) = match body.split_once('.') {
        Some((m, f)) => (m, Some(f)),
        None => (body, None),
    };
    // chrono tolerates unpadded fields; the wire format does not.
    if main.len() != 19 {
        return None;
    }
    let at = NaiveDateTime::parse_from_str(main, "%Y-%m-%dT%H:%M:%S")
        .ok()?
        .and_utc();
    match frac {
        None => Some(at),
        Some(f) if (1..=9).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()) => {
            Some(at + Duration::nanoseconds(format!("{f:0<9}").parse().ok()?))
        }
        Some(_) => None,
    }
}

fn resolve_caller(
    inner: &Inner,
    ak: &str,
    token: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(String, Caller), StsError> {
    if let Some(i) = inner.users.iter().position(|(id, _, _)| id == ak) {
        if token.is_some() {
            return Err(fail("InvalidSecurityToken.Malformed"));
        }
        return Ok((inner.users[i].1.clone(), Caller::User(i)));
    }
    let issued = inner.state().issued.get(ak).cloned();
    let issued = issued.ok_or_else(|| fail("InvalidAccessKeyId.NotFound"))?;
    let token = token.ok_or_else(|| fail("MissingSecurityToken"))?;
    if !ct_eq(token.as_bytes(), issued.cred.security_token.as_bytes()) {
        return Err(fail("InvalidSecurityToken.MismatchWithAccessKey"));
    }
    if now >= issued.cred.expiration {
        return Err(fail("InvalidSecurityToken.Expired"));
    }
    let secret = issued.cred.access_key_secret.clone();
    Ok((secret, Caller::Role(Box::new(issued))))
}

/// Spec §2.1 step 2: form-urlencode, then `+`→`%20`, `*`→`%2A`, `%7E`→`~`.
fn percent_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
        .replace('*', "%2A")
        .replace("%7E", "~")
}

/// Spec §2.1 steps 1–4: every parameter but `Signature`, sorted by raw name (BTreeMap order).
fn string_to_sign(method: &str, params: &BTreeMap<String, String>) -> String {
    let canonical = (params.iter())
        .filter(|(k, _)| k.as_str() != "Signature")
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    format!(
        "{method}&{}&{}",
        percent_encode("/"),
        percent_encode(&canonical)
    )
}

/// Spec §2.1 step 5: Base64(HMAC-SHA1(secret + "&", string_to_sign)).
fn sign(secret: &str, string_to_sign: &str) -> String {
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(format!("{secret}&").as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(string_to_sign.as_bytes());
    B64.encode(mac.finalize().into_bytes())
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Spec §1.2 for every parameter rule, §1.5 for the answer.
fn assume_role(
    inner: &Inner,
    params: &BTreeMap<String, String>,
    caller: &Caller,
    now: DateTime<Utc>,
    request_id: &str,
) -> Result<Value, StsError> {
    let arn = params.get("RoleArn").ok_or_else(|| missing("RoleArn"))?;
    let (account, role_name) =
        parse_role_arn(arn).ok_or_else(|| fail("InvalidParameter.RoleArn"))?;
    let role_index = (inner.roles.iter())
        .position(|(r, _)| account == inner.account_id && r.name == role_name)
        .ok_or_else(|| fail("EntityNotExist.Role"))?;
    let role = &inner.roles[role_index].0;
    let session = (params.get("RoleSessionName")).ok_or_else(|| missing("RoleSessionName"))?;
    let session_ok = (2..=64).contains(&session.len())
        && (session.bytes()).all(|b| b.is_ascii_alphanumeric() || b".@_-".contains(&b));
    if !session_ok {
        return Err(fail("InvalidParameter.RoleSessionName"));
    }
    let duration = duration_param(params.get("DurationSeconds").map(String::as_str), role)?;
    let policy = policy_param(params.get("Policy").map(String::as_str))?;
    // Spec §1.1: the caller needs sts:AssumeRole; a caller's session policy can only narrow it.
    if let Caller::Role(issued) = caller {
        let own = issued.cred.policy.as_ref();
        if own.is_some_and(|own| !policy_allows(own, "sts:AssumeRole")) {
            return Err(fail("NoPermission"));
        }
    }

    let cred = issue(inner, role_index, session, policy, duration, now)?;
    let mut st = inner.state();
    st.issued_count += 1;
    st.last_issued = Some(cred.access_key_id.clone());
    st.assume_role_callers.push(match caller {
        Caller::User(i) => inner.users[*i].0.clone(),
        Caller::Role(issued) => issued.cred.access_key_id.clone(),
    });
    Ok(assumed_role_body(inner, role_index, &cred, request_id))
}

/// Spec §1.5: the answer shared by AssumeRole and AssumeRoleWithOIDC.
fn assumed_role_body(
    inner: &Inner,
    role_index: usize,
    cred: &IssuedCredential,
    request_id: &str,
) -> Value {
    let role_id = &inner.roles[role_index].1;
    let session = &cred.role_session_name;
    json!({
        "RequestId": request_id,
        "AssumedRoleUser": {
            "AssumedRoleId": format!("{role_id}:{session}"),
            "Arn": format!("{}/{session}", cred.role_arn),
        },
        "Credentials": {
            "SecurityToken": cred.security_token,
            "Expiration": cred.expiration.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "AccessKeySecret": cred.access_key_secret,
            "AccessKeyId": cred.access_key_id,
        },
    })
}

/// Mints and remembers a temporary credential for the role at `role_index`: the one place
/// credentials are born, whichever way they are asked for.
fn issue(
    inner: &Inner,
    role_index: usize,
    session: &str,
    policy: Option<Value>,
    duration: u32,
    now: DateTime<Utc>,
) -> Result<IssuedCredential, StsError> {
    let (role, role_id) = &inner.roles[role_index];
    // Second precision, so `issued().expiration` equals the `Expiration` the client parses.
    let expiration = DateTime::from_timestamp(now.timestamp() + i64::from(duration), 0)
        .ok_or_else(|| fail("InternalError"))?;
    let cred = IssuedCredential {
        access_key_id: format!("STS.{}", random_from(ALNUM, 28)),
        access_key_secret: random_from(ALNUM, 40),
        security_token: mint_token(),
        expiration,
        role_arn: format!("acs:ram::{}:role/{}", inner.account_id, role.name),
        role_session_name: session.to_owned(),
        policy,
        duration_seconds: duration,
    };
    inner.state().issued.insert(
        cred.access_key_id.clone(),
        Issued {
            cred: cred.clone(),
            role_id: role_id.clone(),
        },
    );
    Ok(cred)
}

/// Spec §4.7.
fn caller_identity(inner: &Inner, caller: &Caller, request_id: &str) -> Value {
    let account = &inner.account_id;
    match caller {
        Caller::User(i) => json!({
            "RequestId": request_id,
            "AccountId": account,
            "UserId": inner.users[*i].2,
            "PrincipalId": inner.users[*i].2,
            "IdentityType": "RAMUser",
            "Arn": format!("acs:ram::{account}:user/emulated-user-{}", i + 1),
        }),
        Caller::Role(issued) => json!({
            "RequestId": request_id,
            "AccountId": account,
            "RoleId": issued.role_id,
            "PrincipalId": format!("{}:{}", issued.role_id, issued.cred.role_session_name),
            "IdentityType": "AssumedRoleUser",
            "Arn": format!("{}/{}", issued.cred.role_arn, issued.cred.role_session_name),
        }),
    }
}

/// `acs:ram::<digits>:role/<name>` → (account, name). RAM role names: letters, digits, `.`, `-`.
fn parse_role_arn(arn: &str) -> Option<(&str, &str)> {
    let (account, name) = arn.strip_prefix("acs:ram::")?.split_once(":role/")?;
    let account_ok = !account.is_empty() && account.bytes().all(|b| b.is_ascii_digit());
    let name_ok = (1..=64).contains(&name.len())
        && (name.bytes()).all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    (account_ok && name_ok).then_some((account, name))
}

/// Session-policy grammar (spec §1.2 `Policy`): `"Version": "1"` and a non-empty `Statement`
/// array of {Effect, Action, Resource, Condition?}; nothing else.
/// `DurationSeconds`: default 3600, else digits from 900 to the role's maximum (spec §1.2).
fn duration_param(value: Option<&str>, role: &EmulatedRole) -> Result<u32, StsError> {
    match value {
        None => Ok(3600),
        Some(d) => (d.bytes().all(|b| b.is_ascii_digit()))
            .then(|| d.parse::<u32>().ok())
            .flatten()
            .filter(|d| (900..=role.max_session_duration).contains(d))
            .ok_or_else(|| fail("InvalidParameter.DurationSeconds")),
    }
}

/// `Policy`: optional, 1-2048 characters, grammatical (spec §1.2).
fn policy_param(value: Option<&str>) -> Result<Option<Value>, StsError> {
    match value {
        None => Ok(None),
        Some(text) if !(1..=2048).contains(&text.chars().count()) => {
            Err(fail("InvalidParameter.PolicySize"))
        }
        Some(text) => check_policy(text)
            .map(Some)
            .ok_or_else(|| fail("InvalidParameter.PolicyGrammar")),
    }
}

fn check_policy(text: &str) -> Option<Value> {
    let v: Value = serde_json::from_str(text).ok()?;
    let obj = v.as_object()?;
    let statements = obj.get("Statement")?.as_array()?;
    let ok = obj.keys().all(|k| k == "Version" || k == "Statement")
        && obj.get("Version")?.as_str()? == "1"
        && !statements.is_empty()
        && statements.iter().all(statement_ok);
    ok.then_some(v)
}

fn statement_ok(s: &Value) -> bool {
    let Some(o) = s.as_object() else {
        return false;
    };
    o.keys()
        .all(|k| matches!(k.as_str(), "Effect" | "Action" | "Resource" | "Condition"))
        && matches!(
            o.get("Effect").and_then(Value::as_str),
            Some("Allow" | "Deny")
        )
        && string_list(o.get("Action")).is_some_and(|l| l.iter().all(|a| action_shaped(a)))
        && string_list(o.get("Resource")).is_some_and(|l| l.iter().all(|r| !r.is_empty()))
        && o.get("Condition").is_none_or(Value::is_object)
}

/// A non-empty string, or a non-empty array of strings.
fn string_list(v: Option<&Value>) -> Option<Vec<&str>> {
    match v? {
        Value::String(s) => Some(vec![s.as_str()]),
        Value::Array(a) if !a.is_empty() => a.iter().map(Value::as_str).collect(),
        _ => None,
    }
}

/// `service:Name` with `*` wildcards, or a bare `*` (as in RAM's AdministratorAccess policy).
fn action_shaped(a: &str) -> bool {
    let part_ok = |p: &str, extra: &[u8]| {
        !p.is_empty() && (p.bytes()).all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
    };
    a == "*"
        || (a.split_once(':'))
            .is_some_and(|(svc, name)| part_ok(svc, b"*-") && part_ok(name, b"*-_"))
}

/// Deny wins; otherwise some Allow statement must match (RAM actions are case-insensitive).
fn policy_allows(policy: &Value, action: &str) -> bool {
    let statements = policy["Statement"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let matching = |effect: &str| {
        statements.iter().any(|s| {
            s["Effect"].as_str() == Some(effect)
                && string_list(s.get("Action"))
                    .is_some_and(|l| l.iter().any(|pat| wildcard_match(pat, action)))
        })
    };
    !matching("Deny") && matching("Allow")
}

/// Case-insensitive glob with `*` only.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.to_ascii_lowercase(), text.to_ascii_lowercase());
    let (p, t) = (p.as_bytes(), t.as_bytes());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] != b'*' && p[pi] == t[ti] {
            (pi, ti) = (pi + 1, ti + 1);
        } else if pi < p.len() && p[pi] == b'*' {
            (star, mark, pi) = (Some(pi), ti, pi + 1);
        } else if let Some(s) = star {
            (pi, mark) = (s + 1, mark + 1);
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

/// Uniform random bytes from UUIDv4s, skipping the bytes that carry version/variant bits.
fn random_bytes(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 14);
    while out.len() < n {
        let u = uuid::Uuid::new_v4().into_bytes();
        out.extend(
            (u.iter().enumerate())
                .filter(|(i, _)| *i != 6 && *i != 8)
                .map(|(_, b)| *b),
        );
    }
    out.truncate(n);
    out
}

fn random_from(alphabet: &[u8], n: usize) -> String {
    // Rejection sampling keeps the distribution uniform.
    let limit = 256 - 256 % alphabet.len();
    let mut s = String::with_capacity(n);
    while s.len() < n {
        for b in random_bytes(n).into_iter().map(usize::from) {
            if b < limit && s.len() < n {
                s.push(char::from(alphabet[b % alphabet.len()]));
            }
        }
    }
    s
}

/// `CAIS` + base64 of 900–902 random bytes: longer than any real token seen (spec §6) and, two
/// times in three, `=`-padded, so clients must encode it properly.
fn mint_token() -> String {
    let extra = usize::from(random_bytes(1)[0] % 3);
    format!("CAIS{}", B64.encode(random_bytes(900 + extra)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use broker_clock::ManualClock;
    use chrono::TimeZone;

    const AK: &str = "LTAI5tTestKey0000000001";
    const SECRET: &str = "TestSecret0123456789abcdefghij";
    const ACCT: &str = "1234567890123456";
    const UPLOADER: &str = "acs:ram::1234567890123456:role/demo-uploader";
    const SHORT: &str = "acs:ram::1234567890123456:role/short-role";

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn sts(method: &str, pairs: &[(&str, &str)]) -> String {
        string_to_sign(method, &kv(pairs).into_iter().collect())
    }

    // ---- the emulator's canonicalisation against published vectors ----------------------

    /// Provenance: spec §2.3 V-DOC (Alibaba "Request signature" page, DOC-RPC-V2); the POST
    /// value is the spec's recomputation for the same parameters (asserted by third-party repos).
    #[test]
    fn v_doc_get_and_post_vectors() {
        let params = [
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("Format", "XML"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Version", "2014-05-26"),
        ];
        let get = sts("GET", &params);
        assert_eq!(get, "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26");
        assert_eq!(sign("testsecret", &get), "OLeaidS1JvxuMvnyHOwuJ+uX5qY=");
        assert_eq!(
            sign("testsecret", &sts("POST", &params)),
            "MxbnVAM4w6sft9xjVpe/GCKueuk="
        );
        let with_sig = [&params[..], &[("Signature", "ignored")]].concat();
        assert_eq!(
            sts("GET", &with_sig),
            get,
            "Signature is not part of what it signs"
        );
    }

    /// Provenance: spec §2.3 V-PY (aliyun-python-sdk-core tests/test_request.py @01a61e8);
    /// exercises the empty-valued `SignatureType=`.
    #[test]
    fn v_py_vector_with_empty_value() {
        let s = sts(
            "GET",
            &[
                ("Action", "action_name"),
                ("Version", "version"),
                ("Format", "None"),
                ("RegionId", "regionid"),
                ("Timestamp", "7e1c7d12-7551-4856-8abb-1938ccac6bcc"),
                ("SignatureNonce", "2018-12-04T04:03:12Z"),
                ("SignatureMethod", "HMAC-SHA1"),
                ("SignatureType", ""),
                ("SignatureVersion", "1.0"),
                ("AccessKeyId", "accesskeyid"),
            ],
        );
        assert!(s.contains("%26SignatureType%3D%26"));
        assert_eq!(sign("secret", &s), "Ej4GsaOI7FJyN00E5OpDHHCx2vk=");
    }

    /// Provenance: spec §2.3 percent-encoding table (credentials-java AcsURLEncoderTest); the
    /// second line and the vectors below are spec §2.4 (computed independently, NOT published).
    #[test]
    fn percent_encoding_and_broker_shaped_vectors() {
        let table = "123abc!@#$%^&*()-=_+ ~|\\/";
        let want = "123abc%21%40%23%24%25%5E%26%2A%28%29-%3D_%2B%20~%7C%5C%2F";
        assert_eq!(percent_encode(table), want);
        assert_eq!(
            percent_encode("a b*c~d+e/f=g:h@i"),
            "a%20b%2Ac~d%2Be%2Ff%3Dg%3Ah%40i"
        );
        for s in [table, "中文 unicode~*", "CAIS+/="] {
            assert_eq!(
                percent_encode(s),
                pct(s),
                "test signer and emulator disagree"
            );
        }
        let policy = r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":["oss:PutObject"],"Resource":["acs:oss:*:*:examplebucket/uploads/*"]}]}"#;
        let common = [
            ("AccessKeyId", "testid"),
            ("Format", "JSON"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2024-01-01T00:00:00Z"),
            ("Version", "2015-04-01"),
        ];
        let ar = [
            ("Action", "AssumeRole"),
            ("DurationSeconds", "3600"),
            ("Policy", policy),
            ("RoleArn", "acs:ram::1234567890123456:role/upload-role"),
            ("RoleSessionName", "user-42@mini.app"),
            ("SignatureNonce", "6a3e1b5c-0d2f-4c1e-9f4b-123456789abc"),
        ];
        let ar = [&common[..], &ar[..]].concat();
        assert_eq!(
            sign("testsecret", &sts("GET", &ar)),
            "YwBvvjIJGRBfVGhKUrdSTbHhIUI="
        );
        assert_eq!(
            sign("testsecret", &sts("POST", &ar)),
            "bB0/BZwLmIWhgoF90UX1c5G54YE="
        );
        let tok = [&ar[..], &[("SecurityToken", "CAIS+abc/def==")]].concat();
        assert_eq!(
            sign("testsecret", &sts("POST", &tok)),
            "JmK5ujqHJpW0IXG37CpujIBvFYI="
        );
        let gci = [
            ("Action", "GetCallerIdentity"),
            ("SignatureNonce", "0c7a5f0e-1111-2222-3333-444455556666"),
        ];
        let gci = [&common[..], &gci[..]].concat();
        assert_eq!(
            sign("testsecret", &sts("POST", &gci)),
            "tnk2WpHWeFxb1NHFLHuKaBK2eEM="
        );
    }

    #[test]
    fn timestamp_formats() {
        let t = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(parse_timestamp("2024-01-02T03:04:05Z"), Some(t));
        let ms = parse_timestamp("2024-01-02T03:04:05.123Z");
        assert_eq!(ms, Some(t + Duration::milliseconds(123)));
        for bad in [
            "2024-01-02T03:04:05",
            "2024-01-02 03:04:05Z",
            "2024-1-2T03:04:05Z",
            "2024-01-02T03:04:05.Z",
            "2024-01-02T03:04:05+00:00",
            "2024-01-02T03:04:05.12aZ",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn policy_grammar_and_matching() {
        let stmt = |s: &str| format!(r#"{{"Version":"1","Statement":[{s}]}}"#);
        let ok = r#"{"Effect":"Allow","Action":"oss:PutObject","Resource":"*"}"#;
        assert!(check_policy(&stmt(ok)).is_some());
        assert!(check_policy(&stmt(
            r#"{"Effect":"Deny","Action":["oss:Get*","sts:*"],"Resource":["a","b"],"Condition":{}}"#
        ))
        .is_some());
        assert!(check_policy(&stmt(r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#)).is_some());
        #[rustfmt::skip]
        let bad = [
            "not json".to_string(), "[]".into(), stmt(""), stmt("1"),
            format!(r#"{{"Statement":[{ok}]}}"#),
            format!(r#"{{"Version":"2","Statement":[{ok}]}}"#),
            format!(r#"{{"Version":1,"Statement":[{ok}]}}"#),
            format!(r#"{{"Version":"1","Statement":{ok}}}"#),
            format!(r#"{{"Version":"1","Statement":[{ok}],"Id":"x"}}"#),
            stmt(r#"{"Effect":"allow","Action":"oss:PutObject","Resource":"*"}"#),
            stmt(r#"{"Effect":"Allow","Action":"PutObject","Resource":"*"}"#),
            stmt(r#"{"Effect":"Allow","Action":[],"Resource":"*"}"#),
            stmt(r#"{"Effect":"Allow","Action":[1],"Resource":"*"}"#),
            stmt(r#"{"Effect":"Allow","Action":"oss:PutObject"}"#),
            stmt(r#"{"Effect":"Allow","Action":"oss:PutObject","Resource":""}"#),
            stmt(r#"{"Effect":"Allow","Action":"oss:PutObject","Resource":"*","Condition":"x"}"#),
            stmt(r#"{"Effect":"Allow","Action":"oss:PutObject","Resource":"*","Principal":"*"}"#),
        ];
        for p in &bad {
            assert!(check_policy(p).is_none(), "{p}");
        }
        let allows =
            |s: &str| policy_allows(&check_policy(&stmt(s)).expect("valid"), "sts:AssumeRole");
        assert!(allows(
            r#"{"Effect":"Allow","Action":"sts:*","Resource":"*"}"#
        ));
        assert!(allows(
            r#"{"Effect":"Allow","Action":"STS:assume*","Resource":"*"}"#
        ));
        assert!(!allows(ok));
        assert!(!allows(
            r#"{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"sts:AssumeRole","Resource":"*"}"#
        ));
        assert!(wildcard_match("a*b*c", "axxbyyc") && !wildcard_match("a*b", "axxc"));
    }

    #[test]
    fn demo_config_randomness_and_debug_redaction() {
        let demo = StsEmulatorConfig::demo();
        assert_eq!(
            (demo.account_id.as_str(), demo.access_keys[0].0.as_str()),
            (ACCT, "LTAI5tDemoBrokerKey00001")
        );
        assert_eq!(demo.access_keys[0].1.len(), 30);
        let cred = IssuedCredential {
            access_key_id: "STS.x".into(),
            access_key_secret: "very-secret".into(),
            security_token: "CAIStoken".into(),
            expiration: Utc::now(),
            role_arn: UPLOADER.into(),
            role_session_name: "s1".into(),
            policy: None,
            duration_seconds: 900,
        };
        let dbg = format!("{cred:?}");
        assert!(
            dbg.contains("STS.x") && !dbg.contains("very-secret") && !dbg.contains("CAIStoken")
        );
        let tokens: Vec<String> = (0..12).map(|_| mint_token()).collect();
        assert!(tokens
            .iter()
            .all(|t| t.starts_with("CAIS") && t.len() > 1000));
        assert!(tokens.iter().any(|t| t.ends_with('=')), "padding shows up");
        assert!(random_from(ALNUM, 28)
            .bytes()
            .all(|b| b.is_ascii_alphanumeric()));
    }

    // ---- HTTP tests, signed by an independent test-only signer ---------------------------

    /// Byte-table RPC encoder, deliberately not the emulator's form-urlencode recipe.
    fn pct(s: &str) -> String {
        (s.bytes())
            .map(
                |b| match b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    true => char::from(b).to_string(),
                    false => format!("%{b:02X}"),
                },
            )
            .collect()
    }

    fn test_string_to_sign(method: &str, params: &[(String, String)]) -> String {
        let mut sorted: Vec<_> = params.iter().filter(|(k, _)| k != "Signature").collect();
        sorted.sort();
        let canon: Vec<_> = sorted
            .iter()
            .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
            .collect();
        format!("{method}&%2F&{}", pct(&canon.join("&")))
    }

    /// Adds AccessKeyId, SecurityToken (if any) and the Signature to `params`.
    fn signed(
        method: &str,
        ak: &str,
        secret: &str,
        token: Option<&str>,
        mut params: Vec<(String, String)>,
    ) -> Vec<(String, String)> {
        params.push(("AccessKeyId".into(), ak.into()));
        params.extend(token.map(|t| ("SecurityToken".to_string(), t.to_string())));
        let mut mac =
            <Hmac<Sha1> as KeyInit>::new_from_slice(format!("{secret}&").as_bytes()).expect("key");
        mac.update(test_string_to_sign(method, &params).as_bytes());
        params.push(("Signature".into(), B64.encode(mac.finalize().into_bytes())));
        params
    }

    /// (extra AssumeRole parameters, expected status, expected code)
    type Case<'a> = (&'a [(&'a str, &'a str)], u16, &'a str);

    fn code(v: &Value) -> &str {
        v["Code"].as_str().unwrap_or("<none>")
    }

    struct Fx {
        em: StsEmulator,
        clock: ManualClock,
        http: reqwest::Client,
    }

    async fn fx() -> Fx {
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap());
        let config = StsEmulatorConfig {
            account_id: ACCT.into(),
            access_keys: vec![(AK.into(), SECRET.into())],
            clock: Arc::new(clock.clone()),
            ..StsEmulatorConfig::demo()
        };
        let em = StsEmulator::start(config).await.expect("emulator starts");
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        Fx { em, clock, http }
    }

    impl Fx {
        /// Unsigned common parameters at the emulator's "now", plus `extra`.
        fn params(&self, action: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
            let now = self.clock.now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
            let nonce = uuid::Uuid::new_v4().to_string();
            let common = [
                ("Action", action),
                ("Version", "2015-04-01"),
                ("Format", "JSON"),
                ("SignatureMethod", "HMAC-SHA1"),
                ("SignatureVersion", "1.0"),
                ("SignatureNonce", nonce.as_str()),
                ("Timestamp", now.as_str()),
            ];
            kv(&[&common[..], extra].concat())
        }

        async fn raw(&self, method: &str, params: &[(String, String)]) -> (u16, String) {
            let url = format!("{}/", self.em.endpoint());
            let resp = match method {
                "GET" => {
                    let q = form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(params)
                        .finish();
                    self.http.get(format!("{url}?{q}")).send().await
                }
                _ => self.http.post(url).form(params).send().await,
            };
            let resp = resp.expect("request sent");
            (resp.status().as_u16(), resp.text().await.expect("body"))
        }

        async fn json(&self, method: &str, params: &[(String, String)]) -> (u16, Value) {
            let (status, text) = self.raw(method, params).await;
            (
                status,
                serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")),
            )
        }

        /// A POST signed with the long-term key.
        async fn call(&self, action: &str, extra: &[(&str, &str)]) -> (u16, Value) {
            self.json(
                "POST",
                &signed("POST", AK, SECRET, None, self.params(action, extra)),
            )
            .await
        }

        /// A long-term POST with parameter `name` replaced (or removed when `value` is None).
        async fn tweaked(&self, name: &str, value: Option<&str>) -> (u16, Value) {
            let mut params = self.params("GetCallerIdentity", &[]);
            params.retain(|(k, _)| k != name);
            params.extend(value.map(|v| (name.to_string(), v.to_string())));
            self.json("POST", &signed("POST", AK, SECRET, None, params))
                .await
        }

        async fn call_as(
            &self,
            c: &IssuedCredential,
            token: Option<&str>,
            action: &str,
            extra: &[(&str, &str)],
        ) -> (u16, Value) {
            let params = signed(
                "POST",
                &c.access_key_id,
                &c.access_key_secret,
                token,
                self.params(action, extra),
            );
            self.json("POST", &params).await
        }

        async fn issue(&self, extra: &[(&str, &str)]) -> IssuedCredential {
            let (status, body) = self.call("AssumeRole", extra).await;
            assert_eq!(status, 200, "{body}");
            self.em
                .issued(body["Credentials"]["AccessKeyId"].as_str().expect("id"))
                .expect("remembered")
        }
    }

    #[tokio::test]
    async fn assume_role_happy_paths() {
        let f = fx().await;
        let (status, body) = f
            .call(
                "AssumeRole",
                &[
                    ("RoleArn", UPLOADER),
                    ("RoleSessionName", "user-42@mini.app"),
                ],
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let (creds, user) = (&body["Credentials"], &body["AssumedRoleUser"]);
        let id = creds["AccessKeyId"].as_str().expect("id");
        assert!(id.starts_with("STS.") && id.len() == 32);
        assert_eq!(creds["AccessKeySecret"].as_str().map(str::len), Some(40));
        let token = creds["SecurityToken"].as_str().expect("token");
        assert!(token.starts_with("CAIS") && token.len() > 1000);
        assert_eq!(creds["Expiration"], "2024-05-01T13:00:00Z");
        assert_eq!(user["Arn"], format!("{UPLOADER}/user-42@mini.app"));
        assert!(user["AssumedRoleId"]
            .as_str()
            .expect("id")
            .ends_with(":user-42@mini.app"));
        let rid = body["RequestId"].as_str().expect("rid");
        assert!(
            rid.len() == 36 && rid == rid.to_uppercase() && body.get("SourceIdentity").is_none()
        );
        let issued = f.em.issued(id).expect("issued");
        assert_eq!(
            (
                issued.access_key_secret.as_str(),
                issued.security_token.as_str()
            ),
            (creds["AccessKeySecret"].as_str().expect("s"), token)
        );
        assert_eq!(
            (issued.role_arn.as_str(), issued.role_session_name.as_str()),
            (UPLOADER, "user-42@mini.app")
        );
        assert_eq!(
            (issued.duration_seconds, issued.policy.clone()),
            (3600, None)
        );
        assert_eq!(
            f.em.last_issued().map(|c| c.access_key_id),
            Some(id.to_string())
        );

        // GET with every parameter in the query (credentials-java/-python, spec §1.4).
        let get = signed(
            "GET",
            AK,
            SECRET,
            None,
            f.params(
                "AssumeRole",
                &[("RoleArn", SHORT), ("RoleSessionName", "get.user")],
            ),
        );
        assert_eq!(f.json("GET", &get).await.0, 200);
        // Common params in the query, business params in the body (credentials-go, spec §1.4).
        let policy = r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:PutObject","Resource":"acs:oss:*:*:b/u/*"}]}"#;
        let extra = [
            ("RoleArn", UPLOADER),
            ("RoleSessionName", "s-2"),
            ("DurationSeconds", "43200"),
            ("Policy", policy),
        ];
        let all = signed("POST", AK, SECRET, None, f.params("AssumeRole", &extra));
        let (form, query): (Vec<_>, Vec<_>) = all
            .into_iter()
            .partition(|(k, _)| extra.iter().any(|(n, _)| n == k));
        let q = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&query)
            .finish();
        let resp = f
            .http
            .post(format!("{}/?{q}", f.em.endpoint()))
            .form(&form)
            .send()
            .await
            .expect("sent");
        assert_eq!(resp.status().as_u16(), 200);
        let last = f.em.last_issued().expect("issued");
        assert_eq!(last.expiration, f.clock.now() + Duration::seconds(43200));
        assert_eq!(last.policy, serde_json::from_str::<Value>(policy).ok());
        assert_eq!((f.em.issued_count(), f.em.request_count()), (3, 3));
        f.em.stop().await;
    }

    #[tokio::test]
    async fn signature_mismatch_echoes_string_to_sign_and_keeps_nonce() {
        let f = fx().await;
        let params = f.params("GetCallerIdentity", &[]);
        let forged = signed("POST", AK, "wrong-secret", None, params.clone());
        let (status, body) = f.json("POST", &forged).await;
        assert_eq!((status, code(&body)), (400, "SignatureDoesNotMatch"));
        let want = format!(
            "Specified signature is not matched with our calculation. server string to sign is:{}",
            test_string_to_sign("POST", &forged)
        );
        assert_eq!(body["Message"], want);
        assert_eq!(body["HostId"], "sts.aliyuncs.com");
        assert_eq!(
            body["Recommend"],
            "https://api.aliyun.com/troubleshoot?q=SignatureDoesNotMatch&product=Sts"
        );
        // Signed for POST but sent as GET: the method is signed too.
        assert_eq!(
            code(
                &f.json("GET", &signed("POST", AK, SECRET, None, params.clone()))
                    .await
                    .1
            ),
            "SignatureDoesNotMatch"
        );
        // The forgeries did not burn the nonce; a genuine request with it then does.
        let genuine = signed("POST", AK, SECRET, None, params);
        assert_eq!(f.json("POST", &genuine).await.0, 200);
        let (status, body) = f.json("POST", &genuine).await;
        assert_eq!((status, code(&body)), (400, "SignatureNonceUsed"));
        // 32 minutes later the nonce is forgotten (same nonce, fresh timestamp).
        f.clock.advance(Duration::minutes(32));
        let nonce = genuine
            .iter()
            .find(|(k, _)| k == "SignatureNonce")
            .map(|(_, v)| v.clone());
        let mut again = f.params("GetCallerIdentity", &[]);
        again.retain(|(k, _)| k != "SignatureNonce");
        again.push(("SignatureNonce".into(), nonce.expect("nonce")));
        assert_eq!(
            f.json("POST", &signed("POST", AK, SECRET, None, again))
                .await
                .0,
            200
        );
    }

    #[tokio::test]
    async fn timestamps_and_request_shape() {
        let f = fx().await;
        let at = |min: i64| {
            (f.clock.now() + Duration::minutes(min))
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        };
        let millis = f.clock.now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
        #[rustfmt::skip]
        let cases: Vec<(&str, Option<String>, u16, &str)> = vec![
            ("Timestamp", Some(at(-20)), 400, "InvalidTimeStamp.Expired"),
            ("Timestamp", Some(at(20)), 400, "InvalidTimeStamp.Expired"),
            ("Timestamp", Some(at(-14)), 200, "<none>"),
            ("Timestamp", Some(millis), 200, "<none>"),
            ("Timestamp", Some("2024-05-01 12:00:00".into()), 400, "IllegalTimestamp"),
            ("Timestamp", None, 400, "MissingParameter"),
            ("Format", Some("XML".into()), 400, "InvalidParameter.Format"),
            ("Format", Some("json".into()), 200, "<none>"),
            ("Version", Some("2014-05-26".into()), 400, "InvalidParameter"),
            ("SignatureMethod", Some("HMAC-SHA256".into()), 400, "InvalidParameter"),
            ("SignatureVersion", Some("2.0".into()), 400, "InvalidParameter"),
            ("Action", Some("DescribeRegions".into()), 404, "InvalidAction.NotFound"),
            ("Note", Some("a b+c*~ 中".into()), 200, "<none>"),
        ];
        for (name, value, st, expected) in cases {
            let (status, body) = f.tweaked(name, value.as_deref()).await;
            assert_eq!((status, code(&body)), (st, expected), "{name}={value:?}");
            if expected == "MissingParameter" {
                assert!(body["Message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("\"Timestamp\""));
            }
            if expected == "InvalidParameter.Format" {
                assert!(body["Message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("JSON only"));
            }
        }
        let unknown = signed(
            "POST",
            "LTAI5tNobody",
            SECRET,
            None,
            f.params("GetCallerIdentity", &[]),
        );
        let (status, body) = f.json("POST", &unknown).await;
        assert_eq!((status, code(&body)), (404, "InvalidAccessKeyId.NotFound"));
        let url = format!("{}/", f.em.endpoint());
        let put = f.http.put(&url).send().await.expect("sent");
        assert_eq!(put.status().as_u16(), 403);
        assert_eq!(
            code(&put.json().await.expect("json")),
            "UnsupportedHTTPMethod"
        );
        assert_eq!(
            f.http
                .get(format!("{url}other"))
                .send()
                .await
                .expect("sent")
                .status()
                .as_u16(),
            404
        );
        let text = f
            .http
            .post(&url)
            .header("content-type", "application/xml")
            .body("<a/>")
            .send()
            .await
            .expect("sent");
        assert_eq!(
            code(&text.json().await.expect("json")),
            "InvalidParameter.ContentType"
        );
        let dup = f
            .http
            .post(format!("{url}?Action=GetCallerIdentity"))
            .form(&[("Action", "GetCallerIdentity")]);
        let body: Value = dup.send().await.expect("sent").json().await.expect("json");
        assert_eq!(code(&body), "InvalidParameter");
    }

    #[tokio::test]
    async fn assume_role_parameter_checks() {
        let f = fx().await;
        let big = |n: usize| {
            let (head, tail) = (
                r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:PutObject","Resource":""#,
                r#""}]}"#,
            );
            format!("{head}{}{tail}", "r".repeat(n - head.len() - tail.len()))
        };
        let (p2048, p2049, long_session) = (big(2048), big(2049), "a".repeat(65));
        let grammar =
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:PutObject"}]}"#;
        #[rustfmt::skip]
        let cases: &[Case<'_>] = &[
            (&[("RoleSessionName", "s1")], 400, "MissingParameter"),
            (&[("RoleArn", "acs:ram::1234567890123456:user/bob"), ("RoleSessionName", "s1")], 400, "InvalidParameter.RoleArn"),
            (&[("RoleArn", "demo-uploader"), ("RoleSessionName", "s1")], 400, "InvalidParameter.RoleArn"),
            (&[("RoleArn", "acs:ram::12x:role/demo-uploader"), ("RoleSessionName", "s1")], 400, "InvalidParameter.RoleArn"),
            (&[("RoleArn", "acs:ram::1234567890123456:role/nope"), ("RoleSessionName", "s1")], 404, "EntityNotExist.Role"),
            (&[("RoleArn", "acs:ram::9999999999999999:role/demo-uploader"), ("RoleSessionName", "s1")], 404, "EntityNotExist.Role"),
            (&[("RoleArn", UPLOADER)], 400, "MissingParameter"),
            (&[("RoleArn", UPLOADER), ("RoleSessionName", "x")], 400, "InvalidParameter.RoleSessionName"),
            (&[("RoleArn", UPLOADER), ("RoleSessionName", "has space")], 400, "InvalidParameter.RoleSessionName"),
            (&[("RoleArn", UPLOADER), ("RoleSessionName", &long_session)], 400, "InvalidParameter.RoleSessionName"),
            (&[("RoleArn", SHORT), ("RoleSessionName", "s1"), ("DurationSeconds", "7200")], 400, "InvalidParameter.DurationSeconds"),
            (&[("RoleArn", UPLOADER), ("RoleSessionName", "s1"), ("DurationSeconds", "43201")], 400, "InvalidParameter.DurationSeconds"),
            (&[("RoleArn", UPLOADER), ("RoleSessionName", "s1"), ("DurationSeconds", "899")], 400, "InvalidParameter.DurationSeconds"),
            (&[("RoleArn", UPLOADER), ("RoleSessionName", "s1"), ("DurationSeconds", "+1000")], 400, "InvalidParameter.DurationSeconds"),
            (&[("RoleArn", UPLOADER), ("RoleSessionName", "s1"), ("Policy", grammar)], 400, "InvalidParameter.PolicyGrammar"),
            (&[("RoleArn", UPLOADER), ("RoleSessionName", "s1"), ("Policy", "")], 400, "InvalidParameter.PolicySize"),
            (&[("RoleArn", UPLOADER), ("RoleSessionName", "s1"), ("Policy", &p2049)], 400, "InvalidParameter.PolicySize"),
            (&[("RoleArn", UPLOADER), ("RoleSessionName", "s1"), ("Policy", &p2048)], 200, "<none>"),
            (&[("RoleArn", SHORT), ("RoleSessionName", "s1"), ("DurationSeconds", "3600")], 200, "<none>"),
        ];
        for (extra, st, expected) in cases {
            let (status, body) = f.call("AssumeRole", extra).await;
            assert_eq!((status, code(&body)), (*st, *expected), "{extra:?}");
        }
        assert_eq!(f.em.issued_count(), 2);
    }

    #[tokio::test]
    async fn temporary_credentials() {
        let f = fx().await;
        let cred = f
            .issue(&[
                ("RoleArn", UPLOADER),
                ("RoleSessionName", "tmp"),
                ("DurationSeconds", "900"),
            ])
            .await;
        let token = cred.security_token.as_str();
        let (status, body) = f
            .call_as(&cred, Some(token), "GetCallerIdentity", &[])
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            (body["IdentityType"].as_str(), body["AccountId"].as_str()),
            (Some("AssumedRoleUser"), Some(ACCT))
        );
        assert_eq!(body["Arn"], format!("{UPLOADER}/tmp"));
        assert_eq!(
            body["PrincipalId"],
            format!("{}:tmp", body["RoleId"].as_str().expect("role id"))
        );
        let (_, body) = f.call("GetCallerIdentity", &[]).await;
        assert_eq!(body["IdentityType"], "RAMUser");
        assert!(body["UserId"].is_string() && body["PrincipalId"] == body["UserId"]);

        let (status, body) = f.call_as(&cred, None, "GetCallerIdentity", &[]).await;
        assert_eq!((status, code(&body)), (400, "MissingSecurityToken"));
        let (status, body) = f
            .call_as(&cred, Some(&format!("{token}x")), "GetCallerIdentity", &[])
            .await;
        assert_eq!(
            (status, code(&body)),
            (400, "InvalidSecurityToken.MismatchWithAccessKey")
        );
        let with_token = signed(
            "POST",
            AK,
            SECRET,
            Some(token),
            f.params("GetCallerIdentity", &[]),
        );
        let (status, body) = f.json("POST", &with_token).await;
        assert_eq!(
            (status, code(&body)),
            (400, "InvalidSecurityToken.Malformed")
        );
        f.clock.advance(Duration::seconds(900));
        let (status, body) = f
            .call_as(&cred, Some(token), "GetCallerIdentity", &[])
            .await;
        assert_eq!((status, code(&body)), (400, "InvalidSecurityToken.Expired"));
    }

    #[tokio::test]
    async fn temporary_caller_needs_sts_assume_role_in_its_policy() {
        let f = fx().await;
        let oss_only = r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:PutObject","Resource":"*"}]}"#;
        let sts_all = r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":["oss:*","sts:*"],"Resource":"*"}]}"#;
        let target = [("RoleArn", SHORT), ("RoleSessionName", "chained")];
        for (policy, expected) in [
            (Some(oss_only), "NoPermission"),
            (Some(sts_all), "<none>"),
            (None, "<none>"),
        ] {
            let mut extra = vec![("RoleArn", UPLOADER), ("RoleSessionName", "first")];
            extra.extend(policy.map(|p| ("Policy", p)));
            let cred = f.issue(&extra).await;
            let (status, body) = f
                .call_as(&cred, Some(&cred.security_token), "AssumeRole", &target)
                .await;
            assert_eq!(
                (status, code(&body)),
                (if policy == Some(oss_only) { 403 } else { 200 }, expected)
            );
        }
    }

    #[tokio::test]
    async fn faults() {
        let f = fx().await;
        f.em.enqueue_faults([
            Fault::Throttle,
            Fault::InternalError,
            Fault::ServiceUnavailable,
        ]);
        f.em.set_fault(Some(Fault::Garbage));
        for (st, expected) in [
            (400, "Throttling.User"),
            (500, "InternalError"),
            (503, "ServiceUnavailable"),
        ] {
            let (status, body) = f.call("GetCallerIdentity", &[]).await;
            assert_eq!((status, code(&body)), (st, expected));
        }
        for _ in 0..2 {
            let (status, text) = f
                .raw(
                    "POST",
                    &signed("POST", AK, SECRET, None, f.params("GetCallerIdentity", &[])),
                )
                .await;
            assert!(
                status == 200 && serde_json::from_str::<Value>(&text).is_err(),
                "garbage must not be JSON"
            );
        }
        f.em.set_fault(None);

        f.em.enqueue_faults([Fault::Delay(StdDuration::from_millis(300))]);
        let started = std::time::Instant::now();
        assert_eq!(
            f.call(
                "AssumeRole",
                &[("RoleArn", UPLOADER), ("RoleSessionName", "slow")]
            )
            .await
            .0,
            200
        );
        assert!(started.elapsed() >= StdDuration::from_millis(300));

        f.em.enqueue_faults([Fault::DropConnection]);
        let params = signed("POST", AK, SECRET, None, f.params("GetCallerIdentity", &[]));
        let sent = f
            .http
            .post(format!("{}/", f.em.endpoint()))
            .form(&params)
            .send()
            .await;
        assert!(
            sent.is_err(),
            "a dropped connection must not look like an HTTP answer"
        );
        // Faults neither consume nonces nor issue anything; every request is counted.
        assert_eq!(f.json("POST", &params).await.0, 200);
        assert_eq!((f.em.request_count(), f.em.issued_count()), (8, 1));
        f.em.stop().await;
    }
}
