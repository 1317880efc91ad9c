//! Strict emulator of Alibaba Cloud STS (`AssumeRole`, `GetCallerIdentity`, RPC HMAC-SHA1
//! signing) for integration tests and `sts-broker demo`. It owns its own verification and
//! canonicalisation; it must never reuse `crate::sts` code, never log secrets or tokens, and never
//! accept a request real STS would refuse (a lenient emulator proves nothing).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration as StdDuration;

use actix_web::dev::ServerHandle;
use actix_web::http::{Method, StatusCode};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha1::Sha1;

use crate::clock::{Clock, SystemClock};

const HOST_ID: &str = "sts.aliyuncs.com";
const API_VERSION: &str = "2015-04-01";
/// Spec §2.2: sources disagree (31 vs 15 min); we enforce the stricter 15 minutes.
const MAX_SKEW_SECONDS: i64 = 15 * 60;
/// Spec §2.2: nonces must be unique across 31 minutes.
const NONCE_WINDOW_SECONDS: i64 = 31 * 60;
/// Spec §1.3: every RPC call carries these, checked in this order.
const COMMON_PARAMS: [&str; 9] = [
    "Action",
    "Version",
    "AccessKeyId",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "Timestamp",
    "Signature",
    "Format",
];
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const DIGITS: &[u8] = b"0123456789";

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
        Self {
            account_id: "1234567890123456".into(),
            access_keys: vec![(
                "LTAI5tDemoBrokerKey00001".into(),
                "EmuDemoSecretDoNotUseInProd001".into(),
            )],
            roles: vec![
                EmulatedRole {
                    name: "demo-uploader".into(),
                    max_session_duration: 43200,
                },
                EmulatedRole {
                    name: "short-role".into(),
                    max_session_duration: 3600,
                },
            ],
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
        // A panicking handler must not wedge every later test request.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running emulator; stops its server on `stop()` or drop.
pub struct StsEmulator {
    inner: Arc<Inner>,
    addr: SocketAddr,
    handle: ServerHandle,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl StsEmulator {
    /// Binds 127.0.0.1:0 and serves in the background on the current tokio runtime.
    pub async fn start(config: StsEmulatorConfig) -> std::io::Result<StsEmulator> {
        Self::start_on(config, TcpListener::bind("127.0.0.1:0")?).await
    }

    /// Serves on a given listener in the background on the current tokio runtime.
    pub async fn start_on(
        config: StsEmulatorConfig,
        listener: TcpListener,
    ) -> std::io::Result<StsEmulator> {
        let addr = listener.local_addr()?;
        let users = config
            .access_keys
            .into_iter()
            .map(|(id, secret)| (id, secret, random_from(DIGITS, 16)))
            .collect();
        let roles = config
            .roles
            .into_iter()
            .map(|r| (r, random_from(DIGITS, 17)))
            .collect();
        let inner = Arc::new(Inner {
            account_id: config.account_id,
            users,
            roles,
            clock: config.clock,
            state: Mutex::new(State::default()),
        });
        let data = web::Data::from(inner.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(1 << 20))
                .default_service(web::to(handle))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)?
        .run();
        let handle = server.handle();
        let task = tokio::spawn(server);
        Ok(StsEmulator {
            inner,
            addr,
            handle,
            task: Some(task),
        })
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr.port())
    }

    /// A fault applied to every request until cleared with `None`.
    pub fn set_fault(&self, fault: Option<Fault>) {
        self.inner.state().persistent = fault;
    }

    /// Faults applied one per request, before the persistent one.
    pub fn enqueue_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.inner.state().queued.extend(faults);
    }

    pub fn request_count(&self) -> usize {
        self.inner.state().requests
    }

    pub fn issued_count(&self) -> usize {
        self.inner.state().issued_count
    }

    pub fn issued(&self, access_key_id: &str) -> Option<IssuedCredential> {
        self.inner
            .state()
            .issued
            .get(access_key_id)
            .map(|i| i.cred.clone())
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

    pub async fn stop(mut self) {
        self.handle.stop(false).await;
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for StsEmulator {
    fn drop(&mut self) {
        // The stop command is sent synchronously; the returned future only awaits completion.
        drop(self.handle.stop(false));
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
    status: StatusCode,
    code: &'static str,
    message: String,
}

fn err(status: u16, code: &'static str, message: impl Into<String>) -> StsError {
    StsError {
        status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        code,
        message: message.into(),
    }
}

fn missing(name: &str) -> StsError {
    err(
        400,
        "MissingParameter",
        format!("The input parameter \"{name}\" that is mandatory for processing this request is not supplied."),
    )
}

fn error_response(request_id: &str, e: &StsError) -> HttpResponse {
    tracing::debug!(code = e.code, request_id, "sts emulator answered an error");
    HttpResponse::build(e.status)
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
    match fault {
        Some(Fault::Throttle) => {
            let e = err(
                400,
                "Throttling.User",
                "Request was denied due to user flow control.",
            );
            return error_response(&request_id, &e);
        }
        Some(Fault::InternalError) => {
            let msg = "STS Server Internal Error happened, please send the RequestId to us.";
            return error_response(&request_id, &err(500, "InternalError", msg));
        }
        Some(Fault::ServiceUnavailable) => {
            let msg = "The request has failed due to a temporary failure of the server.";
            return error_response(&request_id, &err(503, "ServiceUnavailable", msg));
        }
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        Some(Fault::Garbage) => {
            return HttpResponse::Ok()
                .content_type("text/html; charset=utf-8")
                .body(
                    "<html><head><title>502 Bad Gateway</title></head><body>Tengine</body></html>",
                );
        }
        Some(Fault::DropConnection) => {
            // A body stream that fails before its first byte makes actix abort the connection
            // without completing the response, so the client sees a broken connection.
            let s = futures_util::stream::once(async {
                Err::<web::Bytes, _>(std::io::Error::other("emulated connection drop"))
            });
            return HttpResponse::Ok().streaming(s);
        }
        None => {}
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
    // Step 1 (spec §1.4): GET or POST on "/", params = query ∪ form body.
    let method = match *req.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        _ => {
            let msg = "The specified HTTP method is not supported.";
            return Err(err(403, "UnsupportedHTTPMethod", msg));
        }
    };
    if req.path() != "/" {
        let msg = "Specified api is not found, please check your url and method.";
        return Err(err(404, "InvalidAction.NotFound", msg));
    }
    let params = collect_params(req, method, body)?;
    let p = |name: &str| params.get(name).map(String::as_str);

    // Step 2 (spec §1.3): common parameters.
    if let Some(name) = COMMON_PARAMS.iter().find(|n| !params.contains_key(**n)) {
        return Err(missing(name));
    }
    let (action, ak, nonce) = (
        p("Action").unwrap_or_default(),
        p("AccessKeyId").unwrap_or_default(),
        p("SignatureNonce").unwrap_or_default(),
    );
    let format = p("Format").unwrap_or_default();
    if !format.eq_ignore_ascii_case("JSON") {
        let msg = format!(
            "The specified Format \"{format}\" is not supported: this emulator answers JSON only."
        );
        return Err(err(400, "InvalidParameter.Format", msg));
    }
    if p("Version") != Some(API_VERSION) {
        let msg = "The specified parameter \"Action or Version\" is not valid.";
        return Err(err(400, "InvalidParameter", msg));
    }
    if p("SignatureMethod") != Some("HMAC-SHA1") {
        let msg = "The specified parameter \"SignatureMethod\" is not valid.";
        return Err(err(400, "InvalidParameter", msg));
    }
    if p("SignatureVersion") != Some("1.0") {
        let msg = "The specified parameter \"SignatureVersion\" is not valid.";
        return Err(err(400, "InvalidParameter", msg));
    }
    if !matches!(action, "AssumeRole" | "GetCallerIdentity") {
        let msg = "Specified api is not found, please check your url and method.";
        return Err(err(404, "InvalidAction.NotFound", msg));
    }

    // Step 3 (spec §1.3, §2.2): timestamp shape and skew.
    let now = inner.clock.now();
    let Some(ts) = parse_timestamp(p("Timestamp").unwrap_or_default()) else {
        let msg = "The specified parameter \"Timestamp\" is not valid.";
        return Err(err(400, "IllegalTimestamp", msg));
    };
    if (now - ts).abs() > Duration::seconds(MAX_SKEW_SECONDS) {
        let msg = "Specified time stamp or date value is expired.";
        return Err(err(400, "InvalidTimeStamp.Expired", msg));
    }

    // Step 4 (spec §1.7 gateway table): who is calling, and is the token right.
    let (secret, caller) = resolve_caller(inner, ak, p("SecurityToken"), now)?;

    // Step 5 (spec §2.1): recompute the signature from the decoded parameters.
    let string_to_sign = string_to_sign(method, &params);
    let expected = sign(&secret, &string_to_sign);
    if !ct_eq(
        expected.as_bytes(),
        p("Signature").unwrap_or_default().as_bytes(),
    ) {
        let msg = format!("Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}");
        return Err(err(400, "SignatureDoesNotMatch", msg));
    }

    // Step 6 (spec §2.2): nonce replay, recorded only for authentic requests.
    {
        let mut st = inner.state();
        let window = Duration::seconds(NONCE_WINDOW_SECONDS);
        st.nonces.retain(|_, seen| now - *seen < window);
        if st.nonces.contains_key(nonce) {
            let msg = "Specified signature nonce was used already.";
            return Err(err(400, "SignatureNonceUsed", msg));
        }
        st.nonces.insert(nonce.to_string(), now);
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
                return Err(err(400, "InvalidParameter", msg));
            }
        }
        Ok(())
    };
    add(form_urlencoded::parse(req.query_string().as_bytes()))?;
    if method == "POST" && !body.is_empty() {
        let content_type = req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            let msg = "ContentType must be \"application/json\" or \"application/x-www-form-urlencoded\".";
            return Err(err(400, "InvalidParameter.ContentType", msg));
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
    let mut at = NaiveDateTime::parse_from_str(main, "%Y-%m-%dT%H:%M:%S")
        .ok()?
        .and_utc();
    if let Some(f) = frac {
        if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        at += Duration::nanoseconds(format!("{f:0<9}").parse::<i64>().ok()?);
    }
    Some(at)
}

fn resolve_caller(
    inner: &Inner,
    ak: &str,
    token: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(String, Caller), StsError> {
    if let Some(i) = inner.users.iter().position(|(id, _, _)| id == ak) {
        if token.is_some() {
            let msg = "Specified SecurityToken is malformed.";
            return Err(err(400, "InvalidSecurityToken.Malformed", msg));
        }
        return Ok((inner.users[i].1.clone(), Caller::User(i)));
    }
    let Some(issued) = inner.state().issued.get(ak).cloned() else {
        let msg = "Specified access key is not found.";
        return Err(err(404, "InvalidAccessKeyId.NotFound", msg));
    };
    let Some(token) = token else {
        let msg = "SecurityToken is mandatory for this action.";
        return Err(err(400, "MissingSecurityToken", msg));
    };
    if !ct_eq(token.as_bytes(), issued.cred.security_token.as_bytes()) {
        let msg = "Specified SecurityToken mismatch with the AccessKey.";
        return Err(err(400, "InvalidSecurityToken.MismatchWithAccessKey", msg));
    }
    if now >= issued.cred.expiration {
        let msg = "Specified SecurityToken is expired.";
        return Err(err(400, "InvalidSecurityToken.Expired", msg));
    }
    Ok((
        issued.cred.access_key_secret.clone(),
        Caller::Role(Box::new(issued)),
    ))
}

/// Spec §2.1 step 2: form-urlencode, then `+`→`%20`, `*`→`%2A`, `%7E`→`~`.
fn percent_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
        .replace('*', "%2A")
        .replace("%7E", "~")
}

/// Spec §2.1 steps 1–4: all params but `Signature`, sorted by raw name (BTreeMap order).
fn string_to_sign(method: &str, params: &BTreeMap<String, String>) -> String {
    let canonical = params
        .iter()
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

fn assume_role(
    inner: &Inner,
    params: &BTreeMap<String, String>,
    caller: &Caller,
    now: DateTime<Utc>,
    request_id: &str,
) -> Result<Value, StsError> {
    // Spec §1.2 for every parameter rule below.
    let arn = params.get("RoleArn").ok_or_else(|| missing("RoleArn"))?;
    let Some((account, role_name)) = parse_role_arn(arn) else {
        let msg = "The parameter RoleArn is wrongly formed.";
        return Err(err(400, "InvalidParameter.RoleArn", msg));
    };
    let role = inner
        .roles
        .iter()
        .find(|(r, _)| account == inner.account_id && r.name == role_name);
    let Some((role, role_id)) = role else {
        return Err(err(
            404,
            "EntityNotExist.Role",
            "The specified Role not exists .",
        ));
    };
    let session = params
        .get("RoleSessionName")
        .ok_or_else(|| missing("RoleSessionName"))?;
    let session_ok = (2..=64).contains(&session.chars().count())
        && session
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '@' | '_' | '-'));
    if !session_ok {
        let msg = "The parameter RoleSessionName is wrongly formed.";
        return Err(err(400, "InvalidParameter.RoleSessionName", msg));
    }
    let duration = match params.get("DurationSeconds") {
        None => 3600,
        Some(d) => d
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| d.parse::<u32>().ok())
            .flatten()
            .filter(|d| (900..=role.max_session_duration).contains(d))
            .ok_or_else(|| {
                let msg = "The Min/Max value of DurationSeconds is 15min/1hr.";
                err(400, "InvalidParameter.DurationSeconds", msg)
            })?,
    };
    let policy = match params.get("Policy") {
        None => None,
        Some(text) => {
            if !(1..=2048).contains(&text.chars().count()) {
                let msg = "The size of Policy must be smaller than 2048 bytes.";
                return Err(err(400, "InvalidParameter.PolicySize", msg));
            }
            Some(check_policy(text).ok_or_else(|| {
                let msg = "The parameter Policy has not passed grammar check.";
                err(400, "InvalidParameter.PolicyGrammar", msg)
            })?)
        }
    };
    // Spec §1.1: the caller needs sts:AssumeRole; a session policy can only narrow that.
    if let Caller::Role(issued) = caller {
        if let Some(own) = &issued.cred.policy {
            if !policy_allows(own, "sts:AssumeRole") {
                let msg =
                    "You are not authorized to do this action. You should be authorized by RAM.";
                return Err(err(403, "NoPermission", msg));
            }
        }
    }

    let expiration = DateTime::from_timestamp(now.timestamp() + i64::from(duration), 0)
        .ok_or_else(|| err(500, "InternalError", "Expiration out of range."))?;
    let role_arn = format!("acs:ram::{}:role/{}", inner.account_id, role.name);
    let cred = IssuedCredential {
        access_key_id: format!("STS.{}", random_from(ALNUM, 28)),
        access_key_secret: random_from(ALNUM, 40),
        security_token: mint_token(),
        expiration,
        role_arn: role_arn.clone(),
        role_session_name: session.clone(),
        policy,
        duration_seconds: duration,
    };
    let body = json!({
        "RequestId": request_id,
        "AssumedRoleUser": {
            "AssumedRoleId": format!("{role_id}:{session}"),
            "Arn": format!("{role_arn}/{session}"),
        },
        "Credentials": {
            "SecurityToken": cred.security_token,
            "Expiration": expiration.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "AccessKeySecret": cred.access_key_secret,
            "AccessKeyId": cred.access_key_id,
        },
    });
    let mut st = inner.state();
    st.issued_count += 1;
    st.last_issued = Some(cred.access_key_id.clone());
    let role_id = role_id.clone();
    st.issued
        .insert(cred.access_key_id.clone(), Issued { cred, role_id });
    Ok(body)
}

/// Spec §4.7.
fn caller_identity(inner: &Inner, caller: &Caller, request_id: &str) -> Value {
    match caller {
        Caller::User(i) => {
            let user_id = &inner.users[*i].2;
            json!({
                "RequestId": request_id,
                "AccountId": inner.account_id,
                "UserId": user_id,
                "PrincipalId": user_id,
                "IdentityType": "RAMUser",
                "Arn": format!("acs:ram::{}:user/emulated-user-{}", inner.account_id, i + 1),
            })
        }
        Caller::Role(issued) => json!({
            "RequestId": request_id,
            "AccountId": inner.account_id,
            "RoleId": issued.role_id,
            "PrincipalId": format!("{}:{}", issued.role_id, issued.cred.role_session_name),
            "IdentityType": "AssumedRoleUser",
            "Arn": format!("{}/{}", issued.cred.role_arn, issued.cred.role_session_name),
        }),
    }
}

/// `acs:ram::<digits>:role/<name>` → (account, name). Role names: letters, digits, `.`, `-`.
fn parse_role_arn(arn: &str) -> Option<(&str, &str)> {
    let (account, name) = arn.strip_prefix("acs:ram::")?.split_once(":role/")?;
    let account_ok = !account.is_empty() && account.bytes().all(|b| b.is_ascii_digit());
    let name_ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    (account_ok && name_ok).then_some((account, name))
}

/// Session-policy grammar (spec §1.2 `Policy`): Version "1", non-empty Statement array of
/// {Effect, Action, Resource, Condition?} and nothing else.
fn check_policy(text: &str) -> Option<Value> {
    let v: Value = serde_json::from_str(text).ok()?;
    let obj = v.as_object()?;
    let keys_ok = obj.keys().all(|k| k == "Version" || k == "Statement");
    let statements = obj.get("Statement")?.as_array()?;
    let ok = keys_ok
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
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'*' || extra.contains(&b))
    };
    a == "*"
        || a.split_once(':')
            .is_some_and(|(svc, name)| part_ok(svc, b"-") && part_ok(name, b"-_"))
}

/// Deny wins; otherwise some Allow statement must match (RAM actions are case-insensitive).
fn policy_allows(policy: &Value, action: &str) -> bool {
    let statements = policy["Statement"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let matching = |effect: &str| {
        statements.iter().any(|s| {
            s["Effect"].as_str() == Some(effect)
                && string_list(s.get("Action"))
                    .is_some_and(|l| l.iter().any(|pat| wildcard_match(pat, action)))
        })
    };
    !matching("Deny") && matching("Allow")
}

fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.to_ascii_lowercase(), text.to_ascii_lowercase());
    let (p, t) = (p.as_bytes(), t.as_bytes());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] != b'*' && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
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
            u.iter()
                .enumerate()
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
        for b in random_bytes(n) {
            if usize::from(b) < limit && s.len() < n {
                s.push(char::from(alphabet[usize::from(b) % alphabet.len()]));
            }
        }
    }
    s
}

/// `CAIS` + base64 of 900–902 random bytes: longer than any real token seen (spec §6) and,
/// two times in three, padded with `=`, so clients must encode it properly.
fn mint_token() -> String {
    let extra = usize::from(random_bytes(1)[0] % 3);
    format!("CAIS{}", B64.encode(random_bytes(900 + extra)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use chrono::TimeZone;

    const AK: &str = "LTAI5tTestKey0000000001";
    const SECRET: &str = "TestSecret0123456789abcdefghij";
    const ACCT: &str = "1234567890123456";
    const UPLOADER: &str = "acs:ram::1234567890123456:role/demo-uploader";
    const SHORT: &str = "acs:ram::1234567890123456:role/short-role";

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    // ---- canonicalisation against published vectors ------------------------------------

    /// Provenance: spec §2.3 V-DOC (Alibaba "Request signature" page, DOC-RPC-V2); the POST
    /// value is the spec's independently recomputed one for the same parameters.
    fn v_doc() -> BTreeMap<String, String> {
        map(&[
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("Format", "XML"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Version", "2014-05-26"),
        ])
    }

    #[test]
    fn v_doc_get_and_post_vectors() {
        let sts = string_to_sign("GET", &v_doc());
        assert_eq!(sts, "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26");
        assert_eq!(sign("testsecret", &sts), "OLeaidS1JvxuMvnyHOwuJ+uX5qY=");
        let post = string_to_sign("POST", &v_doc());
        assert_eq!(sign("testsecret", &post), "MxbnVAM4w6sft9xjVpe/GCKueuk=");
        // `Signature` itself never takes part in the string to sign.
        let mut with_sig = v_doc();
        with_sig.insert("Signature".into(), "whatever".into());
        assert_eq!(string_to_sign("GET", &with_sig), sts);
    }

    /// Provenance: spec §2.3 V-PY (aliyun-python-sdk-core tests/test_request.py @01a61e8);
    /// exercises the empty `SignatureType=` value.
    #[test]
    fn v_py_vector_with_empty_value() {
        let params = map(&[
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
        ]);
        let sts = string_to_sign("GET", &params);
        assert!(sts.contains("%26SignatureType%3D%26"));
        assert_eq!(sign("secret", &sts), "Ej4GsaOI7FJyN00E5OpDHHCx2vk=");
    }

    /// Provenance: spec §2.3 percent-encoding table (credentials-java AcsURLEncoderTest) and
    /// the §2.4 one-liner (computed independently, not published).
    #[test]
    fn percent_encoding_table() {
        assert_eq!(
            percent_encode("123abc!@#$%^&*()-=_+ ~|\\/"),
            "123abc%21%40%23%24%25%5E%26%2A%28%29-%3D_%2B%20~%7C%5C%2F"
        );
        assert_eq!(
            percent_encode("a b*c~d+e/f=g:h@i"),
            "a%20b%2Ac~d%2Be%2Ff%3Dg%3Ah%40i"
        );
        assert_eq!(percent_encode("中"), "%E4%B8%AD");
        for s in ["123abc!@#$%^&*()-=_+ ~|\\/", "中文 unicode~*", "CAIS+/="] {
            assert_eq!(
                percent_encode(s),
                pct(s),
                "test signer and emulator disagree"
            );
        }
    }

    /// Provenance: spec §2.4 broker-shaped vectors (computed independently, NOT published).
    #[test]
    fn broker_shaped_vectors() {
        let policy = r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":["oss:PutObject"],"Resource":["acs:oss:*:*:examplebucket/uploads/*"]}]}"#;
        let mut p = map(&[
            ("AccessKeyId", "testid"),
            ("Action", "AssumeRole"),
            ("DurationSeconds", "3600"),
            ("Format", "JSON"),
            ("Policy", policy),
            ("RoleArn", "acs:ram::1234567890123456:role/upload-role"),
            ("RoleSessionName", "user-42@mini.app"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "6a3e1b5c-0d2f-4c1e-9f4b-123456789abc"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2024-01-01T00:00:00Z"),
            ("Version", "2015-04-01"),
        ]);
        assert_eq!(
            sign("testsecret", &string_to_sign("GET", &p)),
            "YwBvvjIJGRBfVGhKUrdSTbHhIUI="
        );
        assert_eq!(
            sign("testsecret", &string_to_sign("POST", &p)),
            "bB0/BZwLmIWhgoF90UX1c5G54YE="
        );
        p.insert("SecurityToken".into(), "CAIS+abc/def==".into());
        assert_eq!(
            sign("testsecret", &string_to_sign("POST", &p)),
            "JmK5ujqHJpW0IXG37CpujIBvFYI="
        );
        let gci = map(&[
            ("AccessKeyId", "testid"),
            ("Action", "GetCallerIdentity"),
            ("Format", "JSON"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "0c7a5f0e-1111-2222-3333-444455556666"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2024-01-01T00:00:00Z"),
            ("Version", "2015-04-01"),
        ]);
        assert_eq!(
            sign("testsecret", &string_to_sign("POST", &gci)),
            "tnk2WpHWeFxb1NHFLHuKaBK2eEM="
        );
    }

    #[test]
    fn timestamp_formats() {
        let t = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(parse_timestamp("2024-01-02T03:04:05Z"), Some(t));
        assert_eq!(
            parse_timestamp("2024-01-02T03:04:05.123Z"),
            Some(t + Duration::milliseconds(123))
        );
        for bad in [
            "2024-01-02T03:04:05",
            "2024-01-02 03:04:05Z",
            "2024-1-2T03:04:05Z",
            "2024-01-02T03:04:05.Z",
            "2024-01-02T03:04:05+00:00",
            "2024-01-02T03:04:05.12aZ",
            "yesterday",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn policy_grammar_and_matching() {
        let ok = [
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:PutObject","Resource":"*"}]}"#,
            r#"{"Version":"1","Statement":[{"Effect":"Deny","Action":["oss:Get*","sts:*"],"Resource":["a","b"],"Condition":{}}]}"#,
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
        ];
        for p in ok {
            assert!(check_policy(p).is_some(), "{p}");
        }
        let bad = [
            "not json",
            "[]",
            r#"{"Statement":[{"Effect":"Allow","Action":"oss:PutObject","Resource":"*"}]}"#,
            r#"{"Version":"2","Statement":[{"Effect":"Allow","Action":"oss:PutObject","Resource":"*"}]}"#,
            r#"{"Version":1,"Statement":[{"Effect":"Allow","Action":"oss:PutObject","Resource":"*"}]}"#,
            r#"{"Version":"1","Statement":[]}"#,
            r#"{"Version":"1","Statement":{"Effect":"Allow","Action":"oss:PutObject","Resource":"*"}}"#,
            r#"{"Version":"1","Statement":[{"Effect":"allow","Action":"oss:PutObject","Resource":"*"}]}"#,
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"PutObject","Resource":"*"}]}"#,
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":[],"Resource":"*"}]}"#,
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:PutObject"}]}"#,
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:PutObject","Resource":""}]}"#,
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:PutObject","Resource":"*","Condition":"x"}]}"#,
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:PutObject","Resource":"*","Principal":"*"}]}"#,
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:PutObject","Resource":"*"}],"Id":"x"}"#,
        ];
        for p in bad {
            assert!(check_policy(p).is_none(), "{p}");
        }
        let allow = |p: &str| policy_allows(&check_policy(p).expect("valid"), "sts:AssumeRole");
        assert!(allow(
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"sts:*","Resource":"*"}]}"#
        ));
        assert!(allow(
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"STS:assume*","Resource":"*"}]}"#
        ));
        assert!(!allow(
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:*","Resource":"*"}]}"#
        ));
        assert!(!allow(
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"sts:AssumeRole","Resource":"*"}]}"#
        ));
        assert!(wildcard_match("a*b*c", "axxbyyc") && !wildcard_match("a*b", "axxc"));
    }

    #[test]
    fn demo_config_and_debug_redaction() {
        let demo = StsEmulatorConfig::demo();
        assert_eq!(demo.account_id, "1234567890123456");
        assert_eq!(demo.access_keys[0].0, "LTAI5tDemoBrokerKey00001");
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
        let tok = mint_token();
        assert!(tok.starts_with("CAIS") && tok.len() > 1000);
        assert_eq!(random_from(ALNUM, 28).len(), 28);
    }

    // ---- HTTP tests with an independent test-only signer ---------------------------------

    /// Byte-table RPC encoder, deliberately not the emulator's form-urlencode recipe.
    fn pct(s: &str) -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }

    fn test_string_to_sign(method: &str, params: &[(String, String)]) -> String {
        let mut sorted: Vec<_> = params.iter().filter(|(k, _)| k != "Signature").collect();
        sorted.sort();
        let canon: Vec<String> = sorted
            .iter()
            .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
            .collect();
        format!("{method}&%2F&{}", pct(&canon.join("&")))
    }

    fn test_sign(secret: &str, sts: &str) -> String {
        let mut mac =
            <Hmac<Sha1> as KeyInit>::new_from_slice(format!("{secret}&").as_bytes()).expect("key");
        mac.update(sts.as_bytes());
        B64.encode(mac.finalize().into_bytes())
    }

    struct Fixture {
        em: StsEmulator,
        clock: ManualClock,
        http: reqwest::Client,
    }

    async fn fixture() -> Fixture {
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap());
        let config = StsEmulatorConfig {
            account_id: ACCT.into(),
            access_keys: vec![(AK.into(), SECRET.into())],
            roles: vec![
                EmulatedRole {
                    name: "demo-uploader".into(),
                    max_session_duration: 43200,
                },
                EmulatedRole {
                    name: "short-role".into(),
                    max_session_duration: 3600,
                },
            ],
            clock: Arc::new(clock.clone()),
        };
        let em = StsEmulator::start(config).await.expect("emulator starts");
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        Fixture { em, clock, http }
    }

    /// One signed call; fields are public so tests can bend any of them.
    struct Call {
        method: &'static str,
        ak: String,
        secret: String,
        token: Option<String>,
        params: Vec<(String, String)>,
    }

    impl Fixture {
        fn call(&self, action: &str, extra: &[(&str, &str)]) -> Call {
            let mut params = vec![
                ("Action".to_string(), action.to_string()),
                ("Version".into(), "2015-04-01".into()),
                ("Format".into(), "JSON".into()),
                ("SignatureMethod".into(), "HMAC-SHA1".into()),
                ("SignatureVersion".into(), "1.0".into()),
                ("SignatureNonce".into(), uuid::Uuid::new_v4().to_string()),
                (
                    "Timestamp".into(),
                    self.clock.now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                ),
            ];
            params.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            Call {
                method: "POST",
                ak: AK.into(),
                secret: SECRET.into(),
                token: None,
                params,
            }
        }

        fn temp(&self, action: &str, cred: &IssuedCredential, extra: &[(&str, &str)]) -> Call {
            let mut c = self.call(action, extra);
            c.ak = cred.access_key_id.clone();
            c.secret = cred.access_key_secret.clone();
            c.token = Some(cred.security_token.clone());
            c
        }

        async fn send(&self, c: &Call) -> (u16, Value) {
            let (status, text) = self.send_raw(c).await;
            let v = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
            (status, v)
        }

        async fn send_raw(&self, c: &Call) -> (u16, String) {
            let mut params = c.params.clone();
            params.push(("AccessKeyId".into(), c.ak.clone()));
            if let Some(t) = &c.token {
                params.push(("SecurityToken".into(), t.clone()));
            }
            let sig = test_sign(&c.secret, &test_string_to_sign(c.method, &params));
            params.push(("Signature".into(), sig));
            self.send_signed(c.method, &params).await
        }

        async fn send_signed(&self, method: &str, params: &[(String, String)]) -> (u16, String) {
            let url = format!("{}/", self.em.endpoint());
            let resp = if method == "GET" {
                let q = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(params)
                    .finish();
                self.http.get(format!("{url}?{q}")).send().await
            } else {
                self.http.post(url).form(params).send().await
            }
            .expect("request sent");
            let status = resp.status().as_u16();
            (status, resp.text().await.expect("body"))
        }

        async fn assume(&self, extra: &[(&str, &str)]) -> (u16, Value) {
            self.send(&self.call("AssumeRole", extra)).await
        }

        async fn issue(&self, extra: &[(&str, &str)]) -> IssuedCredential {
            let (status, body) = self.assume(extra).await;
            assert_eq!(status, 200, "{body}");
            let id = body["Credentials"]["AccessKeyId"].as_str().expect("id");
            self.em.issued(id).expect("remembered")
        }
    }

    fn code(v: &Value) -> &str {
        v["Code"].as_str().unwrap_or("<none>")
    }

    #[tokio::test]
    async fn assume_role_post_form_happy_path() {
        let f = fixture().await;
        let session = [
            ("RoleArn", UPLOADER),
            ("RoleSessionName", "user-42@mini.app"),
        ];
        let (status, body) = f.assume(&session).await;
        assert_eq!(status, 200, "{body}");
        let creds = &body["Credentials"];
        let id = creds["AccessKeyId"].as_str().expect("id");
        assert!(id.starts_with("STS.") && id.len() == 32);
        assert_eq!(creds["AccessKeySecret"].as_str().map(str::len), Some(40));
        let token = creds["SecurityToken"].as_str().expect("token");
        assert!(token.starts_with("CAIS") && token.len() > 1000);
        assert_eq!(creds["Expiration"], "2024-05-01T13:00:00Z");
        let user = &body["AssumedRoleUser"];
        assert_eq!(user["Arn"], format!("{UPLOADER}/user-42@mini.app"));
        assert!(user["AssumedRoleId"]
            .as_str()
            .expect("id")
            .ends_with(":user-42@mini.app"));
        let rid = body["RequestId"].as_str().expect("rid");
        assert_eq!(rid, rid.to_uppercase());
        assert!(body.get("SourceIdentity").is_none());

        let issued = f.em.issued(id).expect("issued");
        assert_eq!(
            issued.access_key_secret,
            creds["AccessKeySecret"].as_str().expect("s")
        );
        assert_eq!(issued.security_token, token);
        assert_eq!(issued.role_arn, UPLOADER);
        assert_eq!(issued.role_session_name, "user-42@mini.app");
        assert_eq!(issued.duration_seconds, 3600);
        assert_eq!(issued.policy, None);
        assert_eq!(
            f.em.last_issued().map(|c| c.access_key_id),
            Some(id.to_string())
        );
        assert_eq!((f.em.issued_count(), f.em.request_count()), (1, 1));

        // credentials-go style (spec §1.4): common params in the query, business in the body.
        let policy = r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:PutObject","Resource":"acs:oss:*:*:b/u/*"}]}"#;
        let c = f.call(
            "AssumeRole",
            &[
                ("RoleArn", UPLOADER),
                ("RoleSessionName", "s-2"),
                ("DurationSeconds", "43200"),
                ("Policy", policy),
            ],
        );
        let mut params = c.params.clone();
        params.push(("AccessKeyId".into(), AK.into()));
        let sig = test_sign(SECRET, &test_string_to_sign("POST", &params));
        params.push(("Signature".into(), sig));
        let (query, form): (Vec<_>, Vec<_>) = params.into_iter().partition(|(k, _)| {
            !matches!(
                k.as_str(),
                "RoleArn" | "RoleSessionName" | "DurationSeconds" | "Policy"
            )
        });
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
        assert_eq!(last.duration_seconds, 43200);
        assert_eq!(last.expiration, f.clock.now() + Duration::seconds(43200));
        assert_eq!(last.policy, serde_json::from_str::<Value>(policy).ok());
        f.em.stop().await;
    }

    #[tokio::test]
    async fn get_with_all_params_in_query() {
        let f = fixture().await;
        let mut c = f.call(
            "AssumeRole",
            &[("RoleArn", SHORT), ("RoleSessionName", "get.user")],
        );
        c.method = "GET";
        let (status, body) = f.send(&c).await;
        assert_eq!(status, 200, "{body}");
        let mut c = f.call("GetCallerIdentity", &[]);
        c.method = "GET";
        let (status, body) = f.send(&c).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["IdentityType"], "RAMUser");
        assert_eq!(body["AccountId"], ACCT);
        assert!(body["UserId"].is_string() && body["PrincipalId"] == body["UserId"]);
        // Signed as POST but sent as GET: the method is part of the string to sign.
        let c = f.call("GetCallerIdentity", &[]);
        let mut params = c.params.clone();
        params.push(("AccessKeyId".into(), AK.into()));
        let sig = test_sign(SECRET, &test_string_to_sign("POST", &params));
        params.push(("Signature".into(), sig));
        let (status, text) = f.send_signed("GET", &params).await;
        assert_eq!(status, 400);
        assert!(text.contains("SignatureDoesNotMatch"));
    }

    #[tokio::test]
    async fn tampered_signature_echoes_string_to_sign_and_keeps_nonce() {
        let f = fixture().await;
        let c = f.call(
            "AssumeRole",
            &[("RoleArn", UPLOADER), ("RoleSessionName", "tamper")],
        );
        let mut params = c.params.clone();
        params.push(("AccessKeyId".into(), AK.into()));
        let sts = test_string_to_sign("POST", &params);
        params.push(("Signature".into(), test_sign("wrong-secret", &sts)));
        let (status, text) = f.send_signed("POST", &params).await;
        let body: Value = serde_json::from_str(&text).expect("json");
        assert_eq!((status, code(&body)), (400, "SignatureDoesNotMatch"));
        assert_eq!(
            body["Message"],
            format!("Specified signature is not matched with our calculation. server string to sign is:{sts}")
        );
        assert_eq!(body["HostId"], "sts.aliyuncs.com");
        assert_eq!(
            body["Recommend"],
            "https://api.aliyun.com/troubleshoot?q=SignatureDoesNotMatch&product=Sts"
        );
        // The forged request must not have burned the nonce.
        let (status, body) = f.send(&c).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(f.em.issued_count(), 1);
    }

    #[tokio::test]
    async fn timestamp_window() {
        let f = fixture().await;
        let ts = |d: i64| {
            (f.clock.now() + Duration::minutes(d))
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        };
        for (when, expected) in [
            (-20, "InvalidTimeStamp.Expired"),
            (20, "InvalidTimeStamp.Expired"),
        ] {
            let mut c = f.call("GetCallerIdentity", &[]);
            c.params[6].1 = ts(when);
            let (status, body) = f.send(&c).await;
            assert_eq!((status, code(&body)), (400, expected));
        }
        let mut c = f.call("GetCallerIdentity", &[]);
        c.params[6].1 = ts(-14);
        assert_eq!(f.send(&c).await.0, 200);
        let mut c = f.call("GetCallerIdentity", &[]);
        c.params[6].1 = f.clock.now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
        assert_eq!(f.send(&c).await.0, 200, "milliseconds are accepted");
        let mut c = f.call("GetCallerIdentity", &[]);
        c.params[6].1 = "2024-05-01 12:00:00".into();
        let (status, body) = f.send(&c).await;
        assert_eq!((status, code(&body)), (400, "IllegalTimestamp"));
    }

    #[tokio::test]
    async fn replayed_nonce_is_rejected_within_31_minutes() {
        let f = fixture().await;
        let c = f.call("GetCallerIdentity", &[]);
        assert_eq!(f.send(&c).await.0, 200);
        let (status, body) = f.send(&c).await;
        assert_eq!((status, code(&body)), (400, "SignatureNonceUsed"));
        // Same nonce, fresh timestamp, 32 minutes later: outside the window again.
        f.clock.advance(Duration::minutes(32));
        let mut again = f.call("GetCallerIdentity", &[]);
        again.params[5].1 = c.params[5].1.clone();
        assert_eq!(f.send(&again).await.0, 200);
    }

    #[tokio::test]
    async fn unknown_key_role_arn_session_and_duration() {
        let f = fixture().await;
        let mut c = f.call("GetCallerIdentity", &[]);
        c.ak = "LTAI5tNobodyKnowsMe".into();
        let (status, body) = f.send(&c).await;
        assert_eq!((status, code(&body)), (404, "InvalidAccessKeyId.NotFound"));

        #[allow(clippy::type_complexity)] // a literal table reads best inline
        let cases: &[(&[(&str, &str)], u16, &str)] = &[
            (&[("RoleSessionName", "s1")], 400, "MissingParameter"),
            (
                &[
                    ("RoleArn", "acs:ram::1234567890123456:user/bob"),
                    ("RoleSessionName", "s1"),
                ],
                400,
                "InvalidParameter.RoleArn",
            ),
            (
                &[("RoleArn", "demo-uploader"), ("RoleSessionName", "s1")],
                400,
                "InvalidParameter.RoleArn",
            ),
            (
                &[
                    ("RoleArn", "acs:ram::12x:role/demo-uploader"),
                    ("RoleSessionName", "s1"),
                ],
                400,
                "InvalidParameter.RoleArn",
            ),
            (
                &[
                    ("RoleArn", "acs:ram::1234567890123456:role/nope"),
                    ("RoleSessionName", "s1"),
                ],
                404,
                "EntityNotExist.Role",
            ),
            (
                &[
                    ("RoleArn", "acs:ram::9999999999999999:role/demo-uploader"),
                    ("RoleSessionName", "s1"),
                ],
                404,
                "EntityNotExist.Role",
            ),
            (&[("RoleArn", UPLOADER)], 400, "MissingParameter"),
            (
                &[("RoleArn", UPLOADER), ("RoleSessionName", "x")],
                400,
                "InvalidParameter.RoleSessionName",
            ),
            (
                &[("RoleArn", UPLOADER), ("RoleSessionName", "has space")],
                400,
                "InvalidParameter.RoleSessionName",
            ),
            (
                &[("RoleArn", UPLOADER), ("RoleSessionName", &"a".repeat(65))],
                400,
                "InvalidParameter.RoleSessionName",
            ),
            (
                &[
                    ("RoleArn", SHORT),
                    ("RoleSessionName", "s1"),
                    ("DurationSeconds", "7200"),
                ],
                400,
                "InvalidParameter.DurationSeconds",
            ),
            (
                &[
                    ("RoleArn", UPLOADER),
                    ("RoleSessionName", "s1"),
                    ("DurationSeconds", "43201"),
                ],
                400,
                "InvalidParameter.DurationSeconds",
            ),
            (
                &[
                    ("RoleArn", UPLOADER),
                    ("RoleSessionName", "s1"),
                    ("DurationSeconds", "899"),
                ],
                400,
                "InvalidParameter.DurationSeconds",
            ),
            (
                &[
                    ("RoleArn", UPLOADER),
                    ("RoleSessionName", "s1"),
                    ("DurationSeconds", "+1000"),
                ],
                400,
                "InvalidParameter.DurationSeconds",
            ),
        ];
        for (extra, st, expected) in cases {
            let (status, body) = f.assume(extra).await;
            assert_eq!((status, code(&body)), (*st, *expected), "{extra:?}");
        }
        let ok = f
            .issue(&[
                ("RoleArn", SHORT),
                ("RoleSessionName", "s1"),
                ("DurationSeconds", "3600"),
            ])
            .await;
        assert_eq!(ok.duration_seconds, 3600);
        assert_eq!(f.em.issued_count(), 1);
    }

    #[tokio::test]
    async fn policy_size_and_grammar() {
        let f = fixture().await;
        let base = [("RoleArn", UPLOADER), ("RoleSessionName", "pol")];
        let f = &f;
        let with = |p: String| async move {
            let mut extra = base.to_vec();
            extra.push(("Policy", p.as_str()));
            f.assume(&extra).await
        };
        let bad = r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:PutObject"}]}"#;
        let (status, body) = with(bad.into()).await;
        assert_eq!(
            (status, code(&body)),
            (400, "InvalidParameter.PolicyGrammar")
        );
        let (status, body) = with(String::new()).await;
        assert_eq!((status, code(&body)), (400, "InvalidParameter.PolicySize"));
        // Exactly 2048 characters passes, 2049 does not.
        let sized = |n: usize| {
            let head = r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:PutObject","Resource":""#;
            let tail = r#""}]}"#;
            format!("{head}{}{tail}", "r".repeat(n - head.len() - tail.len()))
        };
        assert_eq!(with(sized(2048)).await.0, 200);
        let (status, body) = with(sized(2049)).await;
        assert_eq!((status, code(&body)), (400, "InvalidParameter.PolicySize"));
    }

    #[tokio::test]
    async fn temporary_credentials_and_security_token() {
        let f = fixture().await;
        let cred = f
            .issue(&[
                ("RoleArn", UPLOADER),
                ("RoleSessionName", "tmp"),
                ("DurationSeconds", "900"),
            ])
            .await;
        let (status, body) = f.send(&f.temp("GetCallerIdentity", &cred, &[])).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["IdentityType"], "AssumedRoleUser");
        assert_eq!(body["Arn"], format!("{UPLOADER}/tmp"));
        let role_id = body["RoleId"].as_str().expect("role id");
        assert_eq!(body["PrincipalId"], format!("{role_id}:tmp"));

        let mut c = f.temp("GetCallerIdentity", &cred, &[]);
        c.token = None;
        let (status, body) = f.send(&c).await;
        assert_eq!((status, code(&body)), (400, "MissingSecurityToken"));
        let mut c = f.temp("GetCallerIdentity", &cred, &[]);
        c.token = Some(format!("{}x", cred.security_token));
        let (status, body) = f.send(&c).await;
        assert_eq!(
            (status, code(&body)),
            (400, "InvalidSecurityToken.MismatchWithAccessKey")
        );
        let mut c = f.call("GetCallerIdentity", &[]);
        c.token = Some(cred.security_token.clone());
        let (status, body) = f.send(&c).await;
        assert_eq!(
            (status, code(&body)),
            (400, "InvalidSecurityToken.Malformed")
        );

        f.clock.advance(Duration::seconds(900));
        let (status, body) = f.send(&f.temp("GetCallerIdentity", &cred, &[])).await;
        assert_eq!((status, code(&body)), (400, "InvalidSecurityToken.Expired"));
    }

    #[tokio::test]
    async fn temporary_caller_needs_sts_assume_role_in_its_policy() {
        let f = fixture().await;
        let oss_only = r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:PutObject","Resource":"*"}]}"#;
        let sts_all = r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":["oss:*","sts:*"],"Resource":"*"}]}"#;
        let target = [("RoleArn", SHORT), ("RoleSessionName", "chained")];
        for (policy, expected) in [(Some(oss_only), 403), (Some(sts_all), 200), (None, 200)] {
            let mut extra = vec![("RoleArn", UPLOADER), ("RoleSessionName", "first")];
            extra.extend(policy.map(|p| ("Policy", p)));
            let cred = f.issue(&extra).await;
            let (status, body) = f.send(&f.temp("AssumeRole", &cred, &target)).await;
            assert_eq!(status, expected, "{body}");
            if expected == 403 {
                assert_eq!(code(&body), "NoPermission");
            }
        }
    }

    #[tokio::test]
    async fn request_shape_errors() {
        let f = fixture().await;
        let url = format!("{}/", f.em.endpoint());
        let resp = f.http.put(&url).send().await.expect("sent");
        assert_eq!(resp.status().as_u16(), 403);
        let body: Value = resp.json().await.expect("json");
        assert_eq!(code(&body), "UnsupportedHTTPMethod");
        let resp = f
            .http
            .get(format!("{url}other"))
            .send()
            .await
            .expect("sent");
        assert_eq!(resp.status().as_u16(), 404);
        let resp = f
            .http
            .post(&url)
            .header("content-type", "text/plain")
            .body("Action=GetCallerIdentity")
            .send()
            .await
            .expect("sent");
        let body: Value = resp.json().await.expect("json");
        assert_eq!(code(&body), "InvalidParameter.ContentType");

        // Same parameter in query and body.
        let q = format!("{url}?Action=GetCallerIdentity");
        let resp = f
            .http
            .post(q)
            .form(&[("Action", "GetCallerIdentity")])
            .send()
            .await
            .expect("sent");
        let body: Value = resp.json().await.expect("json");
        assert_eq!(
            (
                body["Code"].as_str(),
                body["Message"].as_str().map(|m| m.contains("Action"))
            ),
            (Some("InvalidParameter"), Some(true))
        );

        let mut c = f.call("GetCallerIdentity", &[]);
        c.params.remove(6); // Timestamp
        let (status, body) = f.send(&c).await;
        assert_eq!((status, code(&body)), (400, "MissingParameter"));
        assert!(body["Message"]
            .as_str()
            .unwrap_or_default()
            .contains("\"Timestamp\""));

        for (idx, value, st, expected) in [
            (2, "XML", 400, "InvalidParameter.Format"),
            (1, "2014-05-26", 400, "InvalidParameter"),
            (3, "HMAC-SHA256", 400, "InvalidParameter"),
            (4, "2.0", 400, "InvalidParameter"),
            (0, "DescribeRegions", 404, "InvalidAction.NotFound"),
        ] {
            let mut c = f.call("GetCallerIdentity", &[]);
            c.params[idx].1 = value.into();
            let (status, body) = f.send(&c).await;
            assert_eq!((status, code(&body)), (st, expected), "{value}");
            if idx == 2 {
                assert!(body["Message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("JSON only"));
            }
        }
        let mut c = f.call("GetCallerIdentity", &[]);
        c.params[2].1 = "json".into();
        assert_eq!(f.send(&c).await.0, 200, "python sends Format=json");
        // A space in a value: form body sends '+', the signature uses %20 (spec §1.4, §2.1).
        let (status, body) = f
            .send(&f.call("GetCallerIdentity", &[("Note", "a b+c*~")]))
            .await;
        assert_eq!(status, 200, "{body}");
    }

    #[tokio::test]
    async fn faults() {
        let f = fixture().await;
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
            let (status, body) = f.send(&f.call("GetCallerIdentity", &[])).await;
            assert_eq!((status, code(&body)), (st, expected));
        }
        for _ in 0..2 {
            let (status, text) = f.send_raw(&f.call("GetCallerIdentity", &[])).await;
            assert_eq!(status, 200);
            assert!(
                serde_json::from_str::<Value>(&text).is_err(),
                "garbage must not be JSON"
            );
        }
        f.em.set_fault(None);

        f.em.enqueue_faults([Fault::Delay(StdDuration::from_millis(300))]);
        let started = std::time::Instant::now();
        let (status, _) = f
            .assume(&[("RoleArn", UPLOADER), ("RoleSessionName", "slow")])
            .await;
        assert_eq!(status, 200);
        assert!(started.elapsed() >= StdDuration::from_millis(300));

        f.em.enqueue_faults([Fault::DropConnection]);
        let c = f.call("GetCallerIdentity", &[]);
        let mut params = c.params.clone();
        params.push(("AccessKeyId".into(), AK.into()));
        let sig = test_sign(SECRET, &test_string_to_sign("POST", &params));
        params.push(("Signature".into(), sig));
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

        // Faults do not consume nonces or issue anything; every request is counted.
        assert_eq!(f.send(&c).await.0, 200);
        assert_eq!((f.em.request_count(), f.em.issued_count()), (8, 1));
        f.em.stop().await;
    }
}
