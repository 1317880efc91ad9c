//! Strict emulator of one OSS bucket, path-style on loopback, for integration tests and
//! `sts-broker demo`: PostObject (V1 and V4 form signatures, POST policies, STS tokens and session
//! policies), reading objects back, bucket CORS (`PutBucketCors`/`GetBucketCors` with OSS V4
//! header signatures) and preflight. It owns its own multipart parser, XML, canonicalisation and
//! HMAC code and must never call `crate::oss`: a bug copied into both would pass unnoticed. It
//! never logs secrets, tokens or bodies.

use crate::server::Background;
use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard};

use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha1::Sha1;
use sha2::{Digest as _, Sha256};

use crate::sts::EmulatedKeys;
use broker_clock::Clock;

/// Spec §5.5: V4 requests may be signed up to 15 minutes off the server's clock.
const MAX_SKEW_SECONDS: i64 = 15 * 60;
/// Spec §5.5: a V4 POST is valid at most 7 days from its `x-oss-date`.
const MAX_V4_VALIDITY_DAYS: i64 = 7;
/// Spec §5.2: all form-field values together.
const MAX_FIELD_VALUES_BYTES: usize = 2 * 1024 * 1024;
/// Larger bodies are refused before parsing.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
const ALGORITHM: &str = "OSS4-HMAC-SHA256";

/// The bucket the emulator serves and whose keys it trusts.
#[derive(Clone)]
pub struct OssEmulatorConfig {
    pub bucket: String,
    /// Plain region id, as V4 scopes name it.
    pub region: String,
    /// Long-term keys and issued STS credentials of the emulated account.
    pub keys: EmulatedKeys,
    pub clock: Arc<dyn Clock>,
}

/// An object the emulator stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub body: Vec<u8>,
    pub content_type: String,
    /// Who wrote it (the signing AccessKeyId).
    pub writer: String,
}

/// One bucket CORS rule as the emulator keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmulatedCorsRule {
    pub origins: Vec<String>,
    pub methods: Vec<String>,
    pub headers: Vec<String>,
    pub expose: Vec<String>,
    pub max_age: Option<u32>,
}

#[derive(Default)]
struct State {
    objects: HashMap<String, StoredObject>,
    cors: Option<Vec<EmulatedCorsRule>>,
    requests: usize,
}

struct Inner {
    bucket: String,
    region: String,
    keys: EmulatedKeys,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running emulator; stops its server on `stop()` or drop.
pub struct OssEmulator {
    inner: Arc<Inner>,
    server: Background,
}

impl OssEmulator {
    /// Binds 127.0.0.1:0 and serves in the background on the current tokio runtime.
    pub async fn start(config: OssEmulatorConfig) -> std::io::Result<OssEmulator> {
        Self::start_on(config, TcpListener::bind("127.0.0.1:0")?).await
    }

    pub async fn start_on(
        config: OssEmulatorConfig,
        listener: TcpListener,
    ) -> std::io::Result<OssEmulator> {
        let inner = Arc::new(Inner {
            bucket: config.bucket,
            region: config.region,
            keys: config.keys,
            clock: config.clock,
            state: Mutex::new(State::default()),
        });
        let data = web::Data::from(inner.clone());
        let server = Background::serve(listener, move |cfg| {
            cfg.app_data(data.clone())
                .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
                .default_service(web::to(handle));
        })?;
        Ok(OssEmulator { inner, server })
    }

    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }

    /// The path-style bucket URL clients post forms to.
    pub fn bucket_url(&self) -> String {
        format!("{}/{}", self.endpoint(), self.inner.bucket)
    }

    pub fn object(&self, key: &str) -> Option<StoredObject> {
        self.inner.state().objects.get(key).cloned()
    }

    pub fn object_count(&self) -> usize {
        self.inner.state().objects.len()
    }

    pub fn request_count(&self) -> usize {
        self.inner.state().requests
    }

    pub fn cors_rules(&self) -> Option<Vec<EmulatedCorsRule>> {
        self.inner.state().cors.clone()
    }

    /// Sets rules directly (as the console would).
    pub fn set_cors_rules(&self, rules: Option<Vec<EmulatedCorsRule>>) {
        self.inner.state().cors = rules;
    }

    pub async fn stop(self) {
        self.server.stop().await;
    }
}

/// An OSS-style error (spec §5.8).
#[derive(Debug)]
struct OssError {
    status: u16,
    code: &'static str,
    message: String,
}

fn err(status: u16, code: &'static str, message: impl Into<String>) -> OssError {
    OssError {
        status,
        code,
        message: message.into(),
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn error_response(inner: &Inner, request_id: &str, e: &OssError) -> HttpResponse {
    tracing::debug!(code = e.code, request_id, "oss emulator answered an error");
    let host = format!("{}.oss-{}.aliyuncs.com", inner.bucket, inner.region);
    HttpResponse::build(StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST))
        .content_type("application/xml")
        .insert_header(("x-oss-request-id", request_id))
        .body(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>{}</Code>\n  <Message>{}</Message>\n  <RequestId>{request_id}</RequestId>\n  <HostId>{host}</HostId>\n</Error>\n",
            e.code,
            xml_escape(&e.message)
        ))
}

async fn handle(req: HttpRequest, body: web::Bytes, inner: web::Data<Inner>) -> HttpResponse {
    inner.state().requests += 1;
    let request_id = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
    let result = dispatch(&req, &body, &inner);
    let mut response = match result {
        Ok(r) => r,
        Err(e) => error_response(&inner, &request_id, &e),
    };
    let headers = response.headers_mut();
    headers.insert(
        actix_web::http::header::HeaderName::from_static("x-oss-request-id"),
        actix_web::http::header::HeaderValue::from_str(&request_id).expect("hex id"),
    );
    if req.method() != Method::OPTIONS {
        add_cors_headers(&req, &inner, &mut response);
    }
    response
}

/// `%XX` decoding of a URL path segment; `None` for malformed escapes or non-UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn dispatch(req: &HttpRequest, body: &[u8], inner: &Inner) -> Result<HttpResponse, OssError> {
    let raw_path = req.uri().path();
    let path = percent_decode(raw_path)
        .ok_or_else(|| err(400, "InvalidURI", "Could not parse the specified URI."))?;
    let rest = path.strip_prefix('/').unwrap_or(&path);
    let (bucket, key) = match rest.split_once('/') {
        Some((b, k)) => (b, k),
        None => (rest, ""),
    };
    if bucket != inner.bucket {
        return Err(err(
            404,
            "NoSuchBucket",
            "The specified bucket does not exist.",
        ));
    }
    let query = req.query_string();
    match (req.method().clone(), key.is_empty(), query) {
        (Method::OPTIONS, _, _) => preflight(req, inner),
        (Method::POST, true, "") => post_object(req, body, inner),
        (Method::PUT, true, "cors") => put_cors(req, body, inner),
        (Method::GET, true, "cors") => get_cors(req, inner),
        (Method::GET, false, "") => get_object(key, inner),
        _ => Err(err(
            405,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
        )),
    }
}

fn get_object(key: &str, inner: &Inner) -> Result<HttpResponse, OssError> {
    // Reads are open: the emulator checks writes, which is what the broker hands out.
    let object = inner
        .state()
        .objects
        .get(key)
        .cloned()
        .ok_or_else(|| err(404, "NoSuchKey", "The specified key does not exist."))?;
    Ok(HttpResponse::Ok()
        .content_type(object.content_type.as_str())
        .insert_header(("ETag", etag(&object.body)))
        .body(object.body))
}

/// A quoted hex ETag (not MD5 as in OSS; only its shape matters to clients here).
fn etag(body: &[u8]) -> String {
    format!("\"{}\"", hex::encode_upper(&Sha256::digest(body)[..16]))
}

// ---------------------------------------------------------------- multipart (RFC 7578)

/// One part of a `multipart/form-data` body.
struct Part {
    /// As sent; lookups ignore case (spec §5.2: the API page calls names case-insensitive).
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
    value: Vec<u8>,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn boundary(content_type: &str) -> Option<String> {
    let mut pieces = content_type.split(';');
    let essence = pieces.next()?.trim();
    if !essence.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    pieces
        .find_map(|p| {
            let (k, v) = p.trim().split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("boundary")
                .then(|| v.trim().trim_matches('"').to_owned())
        })
        .filter(|b| (1..=70).contains(&b.len()))
}

/// `form-data; name="a"; filename="b"` → (name, filename).
fn disposition(value: &str) -> Option<(String, Option<String>)> {
    let (kind, mut rest) = value.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("form-data") {
        return None;
    }
    let (mut name, mut filename) = (None, None);
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let (key, after) = rest.split_once('=')?;
        let after = after.trim_start();
        let (val, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (quoted[..end].to_owned(), &quoted[end + 1..])
        } else {
            let end = after.find(';').unwrap_or(after.len());
            (after[..end].trim().to_owned(), &after[end..])
        };
        match key.trim().to_ascii_lowercase().as_str() {
            "name" => name = Some(val),
            "filename" => filename = Some(val),
            _ => {}
        }
        rest = next.trim_start();
        rest = match rest.strip_prefix(';') {
            Some(r) => r,
            None if rest.is_empty() => rest,
            None => return None,
        };
    }
    Some((name?, filename))
}

fn parse_multipart(body: &[u8], boundary: &str) -> Option<Vec<Part>> {
    let first = format!("--{boundary}");
    let delimiter = format!("\r\n--{boundary}");
    let mut rest = body.strip_prefix(first.as_bytes())?;
    let mut parts = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Some(parts);
        }
        rest = rest.strip_prefix(b"\r\n")?;
        let header_end = find(rest, b"\r\n\r\n")?;
        let head = std::str::from_utf8(&rest[..header_end]).ok()?;
        let content = &rest[header_end + 4..];
        let end = find(content, delimiter.as_bytes())?;
        let (mut name, mut filename, mut content_type) = (None, None, None);
        for line in head.split("\r\n") {
            let (k, v) = line.split_once(':')?;
            match k.trim().to_ascii_lowercase().as_str() {
                "content-disposition" => {
                    let (n, f) = disposition(v.trim())?;
                    name = Some(n);
                    filename = f;
                }
                "content-type" => content_type = Some(v.trim().to_owned()),
                _ => {}
            }
        }
        parts.push(Part {
            name: name?,
            filename,
            content_type,
            value: content[..end].to_vec(),
        });
        rest = &content[end + delimiter.len()..];
    }
}

// ---------------------------------------------------------------- crypto (own code)

fn mac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Spec §5.5 key derivation, then the signature over `data`, lower hex.
fn v4_sign(secret: &str, date: &str, region: &str, data: &str) -> String {
    let mut key = format!("aliyun_v4{secret}").into_bytes();
    for step in [date, region, "oss", "aliyun_v4_request"] {
        key = mac_sha256(&key, step.as_bytes());
    }
    hex::encode(mac_sha256(&key, data.as_bytes()))
}

/// Spec §5.4.
fn v1_sign(secret: &str, policy: &str) -> String {
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(policy.as_bytes());
    B64.encode(mac.finalize().into_bytes())
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Whose key signed, with what it may do.
struct Signer {
    access_key_id: String,
    secret: String,
    /// The session policy of an STS credential; `None` for RAM users and unscoped roles.
    policy: Option<Value>,
}

/// Resolves a key as OSS does: RAM user keys as they are; `STS.` keys only with their token and
/// before their expiry.
fn resolve_key(inner: &Inner, ak: &str, token: Option<&str>) -> Result<Signer, OssError> {
    if let Some(secret) = inner.keys.long_term_secret(ak) {
        return Ok(Signer {
            access_key_id: ak.to_owned(),
            secret,
            policy: None,
        });
    }
    let Some(issued) = inner.keys.issued(ak) else {
        return Err(err(
            403,
            "InvalidAccessKeyId",
            "The OSS Access Key Id you provided does not exist in our records.",
        ));
    };
    let Some(token) = token else {
        // Spec §5.8: an STS key without its token is reported as an invalid key id.
        return Err(err(
            403,
            "InvalidAccessKeyId",
            "The OSS Access Key Id you provided does not exist in our records.",
        ));
    };
    if !same(token, &issued.security_token) {
        return Err(err(
            403,
            "InvalidSecurityToken",
            "The security token you provided is invalid.",
        ));
    }
    if inner.clock.now() >= issued.expiration {
        return Err(err(
            403,
            "SecurityTokenExpired",
            "The security token you provided has expired.",
        ));
    }
    Ok(Signer {
        access_key_id: ak.to_owned(),
        secret: issued.access_key_secret,
        policy: issued.policy,
    })
}

/// RAM wildcards: `*` any run, `?` one character.
fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
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
    p[pi..].iter().all(|c| *c == '*')
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// Session policy evaluation: an explicit Deny wins, otherwise some Allow must match.
fn permitted(policy: Option<&Value>, action: &str, resource: &str) -> bool {
    let Some(policy) = policy else { return true };
    let statements = policy["Statement"].as_array().cloned().unwrap_or_default();
    let matches = |s: &Value| {
        strings(s.get("Action"))
            .iter()
            .any(|a| wildcard(&a.to_ascii_lowercase(), &action.to_ascii_lowercase()))
            && strings(s.get("Resource"))
                .iter()
                .any(|r| wildcard(r, resource))
    };
    let effect = |e: &str| {
        statements
            .iter()
            .any(|s| s["Effect"].as_str() == Some(e) && matches(s))
    };
    !effect("Deny") && effect("Allow")
}

fn resource(inner: &Inner, key: Option<&str>) -> String {
    let base = format!(
        "acs:oss:{}:{}:{}",
        inner.region,
        inner.keys.account_id(),
        inner.bucket
    );
    match key {
        Some(k) => format!("{base}/{k}"),
        None => base,
    }
}

// ---------------------------------------------------------------- PostObject

/// `YYYY-MM-DDTHH:MM:SS[.fff]Z` (spec §5.3: both forms appear in official material).
fn parse_expiration(s: &str) -> Option<DateTime<Utc>> {
    let body = s.strip_suffix('Z')?;
    let (main, frac) = match body.split_once('.') {
        Some((m, f)) => (m, Some(f)),
        None => (body, None),
    };
    if main.len() != 19 {
        return None;
    }
    let at = NaiveDateTime::parse_from_str(main, "%Y-%m-%dT%H:%M:%S")
        .ok()?
        .and_utc();
    match frac {
        Some(f) if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) => None,
        _ => Some(at),
    }
}

/// `YYYYMMDDTHHMMSSZ`.
fn parse_v4_datetime(s: &str) -> Option<DateTime<Utc>> {
    if s.len() != 16 {
        return None;
    }
    NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%SZ")
        .ok()
        .map(|d| d.and_utc())
}

struct Form {
    parts: Vec<Part>,
}

impl Form {
    fn get(&self, name: &str) -> Option<&Part> {
        self.parts
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }

    fn text(&self, name: &str) -> Option<&str> {
        self.get(name)
            .and_then(|p| std::str::from_utf8(&p.value).ok())
    }
}

fn policy_failed(condition: &Value) -> OssError {
    let shown = serde_json::to_string(condition)
        .unwrap_or_default()
        .replace(',', ", ");
    err(
        403,
        "AccessDenied",
        format!("Invalid according to Policy: Policy Condition failed: {shown}"),
    )
}

fn invalid_policy(why: &str) -> OssError {
    err(
        400,
        "InvalidPolicyDocument",
        format!("Invalid Policy: {why}"),
    )
}

/// A checked condition, ready to evaluate.
enum Check {
    Eq(String, String),
    StartsWith(String, String),
    Length(u64, u64),
    In(String, Vec<String>, bool),
}

fn field_ref(v: &Value) -> Result<String, OssError> {
    v.as_str()
        .and_then(|s| s.strip_prefix('$'))
        .filter(|s| !s.is_empty())
        .map(str::to_ascii_lowercase)
        .ok_or_else(|| invalid_policy("a condition must name a field as \"$name\""))
}

fn shape(condition: &Value) -> Result<Check, OssError> {
    match condition {
        Value::Object(o) => {
            if o.len() != 1 {
                return Err(invalid_policy(
                    "Simple-Conditions must have exactly one property specified.",
                ));
            }
            let (k, v) = o.iter().next().expect("one property");
            let v = v
                .as_str()
                .ok_or_else(|| invalid_policy("a condition value must be a string"))?;
            Ok(Check::Eq(k.to_ascii_lowercase(), v.to_owned()))
        }
        Value::Array(a) => {
            let op = a
                .first()
                .and_then(Value::as_str)
                .ok_or_else(|| invalid_policy("a condition must start with its operator"))?;
            match (op.to_ascii_lowercase().as_str(), a.len()) {
                ("eq", 3) | ("starts-with", 3) => {
                    let field = field_ref(&a[1])?;
                    let value = a[2]
                        .as_str()
                        .ok_or_else(|| invalid_policy("a condition value must be a string"))?
                        .to_owned();
                    Ok(if op.eq_ignore_ascii_case("eq") {
                        Check::Eq(field, value)
                    } else {
                        Check::StartsWith(field, value)
                    })
                }
                ("content-length-range", 3) => {
                    let (Some(min), Some(max)) = (a[1].as_u64(), a[2].as_u64()) else {
                        return Err(invalid_policy("content-length-range takes two integers"));
                    };
                    Ok(Check::Length(min, max))
                }
                (kind @ ("in" | "not-in"), 3) => {
                    let field = field_ref(&a[1])?;
                    let values = a[2]
                        .as_array()
                        .and_then(|l| {
                            l.iter()
                                .map(|v| v.as_str().map(str::to_owned))
                                .collect::<Option<Vec<_>>>()
                        })
                        .ok_or_else(|| invalid_policy("in/not-in take a list of strings"))?;
                    Ok(Check::In(field, values, kind == "in"))
                }
                _ => Err(invalid_policy(&format!(
                    "unknown or malformed condition `{op}`"
                ))),
            }
        }
        _ => Err(invalid_policy("a condition must be an object or an array")),
    }
}

/// What a `$field` refers to in this form.
fn field_value(form: &Form, inner: &Inner, field: &str) -> Option<String> {
    match field {
        "bucket" => Some(inner.bucket.clone()),
        "content-type" => effective_content_type(form),
        _ => form.text(field).map(str::to_owned),
    }
}

/// Spec §5.2: `x-oss-content-type` > `Content-Type` field > the file part's type.
fn effective_content_type(form: &Form) -> Option<String> {
    form.text("x-oss-content-type")
        .or_else(|| form.text("content-type"))
        .map(str::to_owned)
        .or_else(|| form.get("file").and_then(|f| f.content_type.clone()))
}

fn post_object(req: &HttpRequest, body: &[u8], inner: &Inner) -> Result<HttpResponse, OssError> {
    let malformed = || {
        err(
            400,
            "MalformedPOSTRequest",
            "The body of your POST request is not well-formed multipart/form-data.",
        )
    };
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let boundary = boundary(content_type).ok_or_else(malformed)?;
    let form = Form {
        parts: parse_multipart(body, &boundary).ok_or_else(malformed)?,
    };

    // Shape (spec §5.2): one `file`, last; `key` before it; no duplicated fields.
    let Some(last) = form
        .parts
        .last()
        .filter(|p| p.name.eq_ignore_ascii_case("file"))
    else {
        return Err(err(
            400,
            "InvalidArgument",
            "The file must be the last field in the form and only one file is allowed.",
        ));
    };
    for (i, p) in form.parts.iter().enumerate() {
        if form.parts[..i]
            .iter()
            .any(|q| q.name.eq_ignore_ascii_case(&p.name))
        {
            return Err(err(
                400,
                "InvalidArgument",
                format!("The form field {} is given more than once.", p.name),
            ));
        }
    }
    let fields = &form.parts[..form.parts.len() - 1];
    if fields.iter().map(|p| p.value.len()).sum::<usize>() > MAX_FIELD_VALUES_BYTES {
        return Err(err(
            400,
            "FieldItemTooLong",
            "Your form fields are too long.",
        ));
    }
    if fields
        .iter()
        .any(|p| p.filename.is_some() || std::str::from_utf8(&p.value).is_err())
    {
        return Err(malformed());
    }
    let key = form.text("key").unwrap_or_default().to_owned();
    if key.is_empty() {
        return Err(err(
            400,
            "InvalidArgument",
            "The bucket POST must contain the specified 'key'. If it is specified, please check the order of the fields.",
        ));
    }

    // Signature (spec §5.4, §5.5).
    let v1 = ["OSSAccessKeyId", "Signature"]
        .iter()
        .any(|f| form.get(f).is_some());
    let v4 = form.get("x-oss-signature-version").is_some();
    let policy_b64 = form.text("policy");
    let token = form.text("x-oss-security-token");
    let now = inner.clock.now();
    let (signer, v4_fields) = match (v1, v4) {
        (true, true) => {
            return Err(err(
                400,
                "InvalidArgument",
                "A form must carry either V1 or V4 signature fields, not both.",
            ))
        }
        (false, false) => {
            return Err(err(
                403,
                "AccessDenied",
                "You have no right to access this object because of bucket acl.",
            ))
        }
        (true, false) => {
            let (Some(ak), Some(signature), Some(policy)) = (
                form.text("OSSAccessKeyId"),
                form.text("Signature"),
                policy_b64,
            ) else {
                return Err(err(
                    400,
                    "InvalidArgument",
                    "Bucket POST must contain the fields OSSAccessKeyId, policy and Signature together.",
                ));
            };
            let signer = resolve_key(inner, ak, token)?;
            if !same(&v1_sign(&signer.secret, policy), signature) {
                return Err(err(
                    403,
                    "SignatureDoesNotMatch",
                    "The request signature we calculated does not match the signature you provided.",
                ));
            }
            (signer, None)
        }
        (false, true) => {
            let missing = [
                "x-oss-credential",
                "x-oss-date",
                "x-oss-signature",
                "policy",
            ]
            .into_iter()
            .find(|f| form.text(f).is_none());
            if let Some(f) = missing {
                return Err(err(
                    400,
                    "InvalidArgument",
                    format!("A V4 POST must contain the field {f}."),
                ));
            }
            let version = form.text("x-oss-signature-version").unwrap_or_default();
            if version != ALGORITHM {
                return Err(err(
                    400,
                    "InvalidArgument",
                    "x-oss-signature-version must be OSS4-HMAC-SHA256.",
                ));
            }
            let credential = form.text("x-oss-credential").unwrap_or_default();
            let date_field = form.text("x-oss-date").unwrap_or_default();
            let parts: Vec<&str> = credential.split('/').collect();
            let [ak, date, region, "oss", "aliyun_v4_request"] = parts.as_slice() else {
                return Err(err(
                    400,
                    "InvalidArgument",
                    "Invalid x-oss-credential: expected <AccessKeyId>/<date>/<region>/oss/aliyun_v4_request.",
                ));
            };
            if NaiveDate::parse_from_str(date, "%Y%m%d").is_err() || date.len() != 8 {
                return Err(err(
                    400,
                    "InvalidArgument",
                    "Invalid date in x-oss-credential.",
                ));
            }
            if *region != inner.region {
                return Err(err(
                    400,
                    "InvalidArgument",
                    format!(
                        "Invalid region in x-oss-credential; this bucket is in {}.",
                        inner.region
                    ),
                ));
            }
            let Some(signed_at) = parse_v4_datetime(date_field) else {
                return Err(err(400, "InvalidArgument", "Invalid x-oss-date."));
            };
            if !date_field.starts_with(date) {
                return Err(err(
                    400,
                    "InvalidArgument",
                    "x-oss-date does not match the date of x-oss-credential.",
                ));
            }
            if signed_at - now > Duration::seconds(MAX_SKEW_SECONDS) {
                return Err(err(
                    403,
                    "RequestTimeTooSkewed",
                    "The difference between the request time and the current time is too large.",
                ));
            }
            if now - signed_at > Duration::days(MAX_V4_VALIDITY_DAYS) {
                return Err(err(403, "AccessDenied", "Request has expired."));
            }
            let signer = resolve_key(inner, ak, token)?;
            let policy = policy_b64.unwrap_or_default();
            let expected = v4_sign(&signer.secret, date, region, policy);
            if !same(&expected, form.text("x-oss-signature").unwrap_or_default()) {
                return Err(err(
                    403,
                    "SignatureDoesNotMatch",
                    "The request signature we calculated does not match the signature you provided.",
                ));
            }
            (signer, Some((credential.to_owned(), date_field.to_owned())))
        }
    };

    // Policy document (spec §5.3).
    let decoded = B64
        .decode(policy_b64.unwrap_or_default())
        .map_err(|_| invalid_policy("the policy is not Base64"))?;
    let doc: Value =
        serde_json::from_slice(&decoded).map_err(|_| invalid_policy("the policy is not JSON"))?;
    let expiration = doc
        .get("expiration")
        .and_then(Value::as_str)
        .and_then(parse_expiration)
        .ok_or_else(|| invalid_policy("expiration must be an ISO 8601 UTC time"))?;
    let conditions = doc
        .get("conditions")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid_policy("conditions must be an array"))?;
    let checks = conditions
        .iter()
        .map(|c| shape(c).map(|s| (c, s)))
        .collect::<Result<Vec<_>, _>>()?;
    if now > expiration {
        return Err(err(
            403,
            "AccessDenied",
            "Invalid according to Policy: Policy expired.",
        ));
    }
    let size = last.value.len() as u64;
    for (condition, check) in &checks {
        let ok = match check {
            Check::Eq(field, value) => field_value(&form, inner, field).as_deref() == Some(value),
            Check::StartsWith(field, prefix) => {
                field_value(&form, inner, field).is_some_and(|v| v.starts_with(prefix.as_str()))
            }
            Check::In(field, values, wanted) => {
                field_value(&form, inner, field).is_some_and(|v| values.contains(&v) == *wanted)
            }
            Check::Length(min, max) => {
                if size > *max {
                    return Err(err(
                        400,
                        "EntityTooLarge",
                        "Your proposed upload exceeds the maximum allowed size.",
                    ));
                }
                if size < *min {
                    return Err(err(
                        400,
                        "EntityTooSmall",
                        "Your proposed upload is smaller than the minimum allowed size.",
                    ));
                }
                true
            }
        };
        if !ok {
            return Err(policy_failed(condition));
        }
    }

    // V4 binds its own fields into the policy (spec §5.5, as the SDK samples do).
    if v4_fields.is_some() {
        let mut bound = vec!["x-oss-signature-version", "x-oss-credential", "x-oss-date"];
        if token.is_some() {
            bound.push("x-oss-security-token");
        }
        for field in bound {
            let covered = checks
                .iter()
                .any(|(_, c)| matches!(c, Check::Eq(f, _) if f == field));
            if !covered {
                return Err(err(
                    403,
                    "AccessDenied",
                    format!("Invalid according to Policy: the policy must bind {field}."),
                ));
            }
        }
    }

    // The key, then what the credential may do with it.
    if key.len() > 1023 || key.starts_with('/') || key.starts_with('\\') {
        return Err(err(
            400,
            "InvalidObjectName",
            "The specified object is not valid.",
        ));
    }
    if !permitted(
        signer.policy.as_ref(),
        "oss:PutObject",
        &resource(inner, Some(&key)),
    ) {
        return Err(err(
            403,
            "AccessDenied",
            "You are forbidden to oss:PutObject on this object.",
        ));
    }
    let forbid_overwrite = form
        .text("x-oss-forbid-overwrite")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let content_type =
        effective_content_type(&form).unwrap_or_else(|| "application/octet-stream".to_owned());
    let tag = etag(&last.value);
    {
        let mut st = inner.state();
        if forbid_overwrite && st.objects.contains_key(&key) {
            return Err(err(
                409,
                "FileAlreadyExists",
                "The object you specified already exists.",
            ));
        }
        st.objects.insert(
            key.clone(),
            StoredObject {
                body: last.value.clone(),
                content_type,
                writer: signer.access_key_id.clone(),
            },
        );
    }

    // Spec §5.2: 200 and 204 have empty bodies, 201 an XML PostResponse; anything else is 204.
    let location = format!("{}/{}", req.connection_info().host(), key);
    match form.text("success_action_status") {
        Some("200") => Ok(HttpResponse::Ok().insert_header(("ETag", tag)).finish()),
        Some("201") => Ok(HttpResponse::Created()
            .content_type("application/xml")
            .insert_header(("ETag", tag.clone()))
            .body(format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PostResponse>\n  <Bucket>{}</Bucket>\n  <Location>http://{}</Location>\n  <Key>{}</Key>\n  <ETag>{}</ETag>\n</PostResponse>\n",
                xml_escape(&inner.bucket),
                xml_escape(&location),
                xml_escape(&key),
                xml_escape(&tag)
            ))),
        _ => Ok(HttpResponse::NoContent().insert_header(("ETag", tag)).finish()),
    }
}

// ---------------------------------------------------------------- OSS V4 header auth

fn uri_encode(s: &str, keep_slash: bool) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric()
                || matches!(b, b'-' | b'_' | b'.' | b'~')
                || (keep_slash && b == b'/')
            {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Verifies `Authorization: OSS4-HMAC-SHA256 ...` on a bucket request; returns the signer.
fn verify_header_auth(req: &HttpRequest, inner: &Inner) -> Result<Signer, OssError> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let Some(auth) = header("authorization") else {
        return Err(err(
            403,
            "AccessDenied",
            "AccessDenied: Anonymous access is forbidden for this operation.",
        ));
    };
    let Some(params) = auth.strip_prefix("OSS4-HMAC-SHA256 ") else {
        return Err(err(
            400,
            "InvalidArgument",
            "Authorization header must be OSS4-HMAC-SHA256.",
        ));
    };
    let mut credential = None;
    let mut additional = String::new();
    let mut signature = None;
    for item in params.split(',') {
        match item.trim().split_once('=') {
            Some(("Credential", v)) => credential = Some(v.to_owned()),
            Some(("AdditionalHeaders", v)) => additional = v.to_owned(),
            Some(("Signature", v)) => signature = Some(v.to_owned()),
            _ => {
                return Err(err(
                    400,
                    "InvalidArgument",
                    "Malformed Authorization header.",
                ))
            }
        }
    }
    let (Some(credential), Some(signature)) = (credential, signature) else {
        return Err(err(
            400,
            "InvalidArgument",
            "Malformed Authorization header.",
        ));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [ak, date, region, "oss", "aliyun_v4_request"] = scope.as_slice() else {
        return Err(err(
            400,
            "InvalidArgument",
            "Malformed Credential in Authorization header.",
        ));
    };
    if *region != inner.region {
        return Err(err(
            400,
            "InvalidArgument",
            "Invalid signing region in Authorization header.",
        ));
    }
    let datetime = header("x-oss-date").unwrap_or_default();
    let Some(signed_at) = parse_v4_datetime(&datetime) else {
        return Err(err(
            400,
            "InvalidArgument",
            "x-oss-date is missing or malformed.",
        ));
    };
    if !datetime.starts_with(date) {
        return Err(err(
            400,
            "InvalidArgument",
            "x-oss-date does not match the credential date.",
        ));
    }
    if (inner.clock.now() - signed_at).num_seconds().abs() > MAX_SKEW_SECONDS {
        return Err(err(
            403,
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
        ));
    }
    let Some(payload) = header("x-oss-content-sha256") else {
        return Err(err(
            400,
            "InvalidArgument",
            "x-oss-content-sha256 is required.",
        ));
    };
    let token = header("x-oss-security-token");
    let signer = resolve_key(inner, ak, token.as_deref())?;

    // Canonical request, from what arrived.
    let path = percent_decode(req.uri().path()).unwrap_or_default();
    let object = path
        .strip_prefix('/')
        .and_then(|p| p.split_once('/'))
        .map(|(_, k)| k.to_owned())
        .unwrap_or_default();
    let canonical_uri = uri_encode(&format!("/{}/{object}", inner.bucket), true);
    let mut query: Vec<(String, String)> = req
        .query_string()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| percent_decode(&s.replace('+', " ")).unwrap_or_default();
            (uri_encode(&dec(k), false), uri_encode(&dec(v), false))
        })
        .collect();
    query.sort();
    let canonical_query = query
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                k.clone()
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join("&");
    let extra: Vec<String> = additional
        .split(';')
        .filter(|h| !h.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let mut names: Vec<String> = req
        .headers()
        .keys()
        .map(|n| n.as_str().to_ascii_lowercase())
        .filter(|n| {
            n.starts_with("x-oss-")
                || n == "content-type"
                || n == "content-md5"
                || extra.contains(n)
        })
        .collect();
    names.sort();
    names.dedup();
    let mut canonical_headers = String::new();
    for name in &names {
        let values: Vec<String> = req
            .headers()
            .get_all(name.as_str())
            .filter_map(|v| v.to_str().ok().map(|s| s.trim().to_owned()))
            .collect();
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let canonical = format!(
        "{}\n{canonical_uri}\n{canonical_query}\n{canonical_headers}\n{additional}\n{payload}",
        req.method().as_str()
    );
    let string_to_sign = format!(
        "{ALGORITHM}\n{datetime}\n{date}/{region}/oss/aliyun_v4_request\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    if !same(
        &v4_sign(&signer.secret, date, region, &string_to_sign),
        &signature,
    ) {
        return Err(err(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        ));
    }
    Ok(signer)
}

// ---------------------------------------------------------------- CORS

const CORS_METHODS: [&str; 5] = ["GET", "PUT", "DELETE", "POST", "HEAD"];

/// The text inside each `<tag>…</tag>`, in order.
fn tags<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        out.push(&after[..j]);
        rest = &after[j + close.len()..];
    }
    out
}

fn put_cors(req: &HttpRequest, body: &[u8], inner: &Inner) -> Result<HttpResponse, OssError> {
    let signer = verify_header_auth(req, inner)?;
    if !permitted(
        signer.policy.as_ref(),
        "oss:PutBucketCors",
        &resource(inner, None),
    ) {
        return Err(err(
            403,
            "AccessDenied",
            "You are forbidden to oss:PutBucketCors.",
        ));
    }
    let malformed = || {
        err(
            400,
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema.",
        )
    };
    let xml = std::str::from_utf8(body).map_err(|_| malformed())?;
    let config = tags(xml, "CORSConfiguration");
    let [config] = config.as_slice() else {
        return Err(malformed());
    };
    let mut rules = Vec::new();
    for rule in tags(config, "CORSRule") {
        let list = |t| {
            tags(rule, t)
                .into_iter()
                .map(|v| xml_unescape(v.trim()))
                .collect::<Vec<_>>()
        };
        let parsed = EmulatedCorsRule {
            origins: list("AllowedOrigin"),
            methods: list("AllowedMethod"),
            headers: list("AllowedHeader"),
            expose: list("ExposeHeader"),
            max_age: match tags(rule, "MaxAgeSeconds").first() {
                None => None,
                Some(v) => Some(v.trim().parse().map_err(|_| malformed())?),
            },
        };
        let valid = !parsed.origins.is_empty()
            && !parsed.methods.is_empty()
            && parsed
                .methods
                .iter()
                .all(|m| CORS_METHODS.contains(&m.as_str()))
            && parsed
                .origins
                .iter()
                .chain(&parsed.headers)
                .all(|o| o.matches('*').count() <= 1);
        if !valid {
            return Err(err(
                400,
                "InvalidArgument",
                "Each CORSRule needs AllowedOrigin and AllowedMethod (GET, PUT, DELETE, POST, HEAD); at most one * per value.",
            ));
        }
        rules.push(parsed);
    }
    if rules.is_empty() || rules.len() > 10 {
        return Err(err(
            400,
            "InvalidArgument",
            "A CORS configuration holds 1 to 10 rules.",
        ));
    }
    inner.state().cors = Some(rules);
    Ok(HttpResponse::Ok().finish())
}

fn get_cors(req: &HttpRequest, inner: &Inner) -> Result<HttpResponse, OssError> {
    let signer = verify_header_auth(req, inner)?;
    if !permitted(
        signer.policy.as_ref(),
        "oss:GetBucketCors",
        &resource(inner, None),
    ) {
        return Err(err(
            403,
            "AccessDenied",
            "You are forbidden to oss:GetBucketCors.",
        ));
    }
    let Some(rules) = inner.state().cors.clone() else {
        return Err(err(
            404,
            "NoSuchCORSConfiguration",
            "The CORS configuration does not exist.",
        ));
    };
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CORSConfiguration>\n");
    for r in &rules {
        xml.push_str("  <CORSRule>\n");
        for (t, values) in [
            ("AllowedOrigin", &r.origins),
            ("AllowedMethod", &r.methods),
            ("AllowedHeader", &r.headers),
            ("ExposeHeader", &r.expose),
        ] {
            for v in values {
                xml.push_str(&format!("    <{t}>{}</{t}>\n", xml_escape(v)));
            }
        }
        if let Some(age) = r.max_age {
            xml.push_str(&format!("    <MaxAgeSeconds>{age}</MaxAgeSeconds>\n"));
        }
        xml.push_str("  </CORSRule>\n");
    }
    xml.push_str("  <ResponseVary>false</ResponseVary>\n</CORSConfiguration>\n");
    Ok(HttpResponse::Ok().content_type("application/xml").body(xml))
}

/// Case-insensitive `*` matching of CORS origins and headers.
fn cors_match(pattern: &str, value: &str) -> bool {
    wildcard(&pattern.to_ascii_lowercase(), &value.to_ascii_lowercase())
}

fn matching_rule(
    inner: &Inner,
    origin: &str,
    method: &str,
    headers: &[String],
) -> Option<EmulatedCorsRule> {
    let rules = inner.state().cors.clone()?;
    rules.into_iter().find(|r| {
        r.origins.iter().any(|o| cors_match(o, origin))
            && r.methods.iter().any(|m| m == method)
            && headers
                .iter()
                .all(|h| r.headers.iter().any(|p| cors_match(p, h)))
    })
}

fn preflight(req: &HttpRequest, inner: &Inner) -> Result<HttpResponse, OssError> {
    let header = |n: &str| {
        req.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (Some(origin), Some(method)) = (header("origin"), header("access-control-request-method"))
    else {
        return Err(err(
            403,
            "AccessForbidden",
            "CORSResponse: Insufficient information. Origin request header needed.",
        ));
    };
    let requested: Vec<String> = header("access-control-request-headers")
        .unwrap_or_default()
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    let Some(rule) = matching_rule(inner, &origin, &method, &requested) else {
        return Err(err(
            403,
            "AccessForbidden",
            "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Requet-Headers are not whitelisted by the resource's CORS spec.",
        ));
    };
    let allow_origin = if rule.origins.iter().any(|o| o == "*") {
        "*".to_owned()
    } else {
        origin
    };
    let mut response = HttpResponse::Ok();
    response
        .insert_header(("Access-Control-Allow-Origin", allow_origin))
        .insert_header(("Access-Control-Allow-Methods", rule.methods.join(", ")))
        .insert_header(("Vary", "Origin"));
    if !requested.is_empty() {
        response.insert_header(("Access-Control-Allow-Headers", requested.join(", ")));
    }
    if !rule.expose.is_empty() {
        response.insert_header(("Access-Control-Expose-Headers", rule.expose.join(", ")));
    }
    if let Some(age) = rule.max_age {
        response.insert_header(("Access-Control-Max-Age", age.to_string()));
    }
    Ok(response.finish())
}

/// Actual (non-preflight) requests from an allowed origin get the CORS response headers.
fn add_cors_headers(req: &HttpRequest, inner: &Inner, response: &mut HttpResponse) {
    let Some(origin) = req.headers().get("origin").and_then(|v| v.to_str().ok()) else {
        return;
    };
    let Some(rule) = matching_rule(inner, origin, req.method().as_str(), &[]) else {
        return;
    };
    let allow = if rule.origins.iter().any(|o| o == "*") {
        "*".to_owned()
    } else {
        origin.to_owned()
    };
    let headers = response.headers_mut();
    use actix_web::http::header::{HeaderName, HeaderValue};
    if let Ok(v) = HeaderValue::from_str(&allow) {
        headers.insert(HeaderName::from_static("access-control-allow-origin"), v);
    }
    if let Ok(v) = HeaderValue::from_str(&rule.expose.join(", ")) {
        headers.insert(HeaderName::from_static("access-control-expose-headers"), v);
    }
    headers.insert(
        HeaderName::from_static("vary"),
        HeaderValue::from_static("Origin"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_parsing_is_strict() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nuploads/a\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\nworld\r\n--XyZ--\r\n";
        let parts = parse_multipart(body, "XyZ").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "key");
        assert_eq!(parts[0].value, b"uploads/a");
        assert_eq!(parts[1].filename.as_deref(), Some("a.txt"));
        assert_eq!(parts[1].content_type.as_deref(), Some("text/plain"));
        assert_eq!(parts[1].value, b"hello\r\nworld");
        // Truncated, no closing delimiter, or a part without a name: refused.
        assert!(parse_multipart(&body[..body.len() - 12], "XyZ").is_none());
        assert!(
            parse_multipart(b"--XyZ\r\nContent-Type: a/b\r\n\r\nx\r\n--XyZ--", "XyZ").is_none()
        );
        assert!(parse_multipart(b"junk--XyZ--", "XyZ").is_none());
        assert_eq!(
            boundary("multipart/form-data; boundary=\"abc\"").as_deref(),
            Some("abc")
        );
        assert!(boundary("application/x-www-form-urlencoded").is_none());
    }

    #[test]
    fn wildcards_and_session_policies() {
        assert!(wildcard(
            "acs:oss:*:*:b/uploads/a/*",
            "acs:oss:cn-hangzhou:1:b/uploads/a/x.png"
        ));
        assert!(!wildcard(
            "acs:oss:*:*:b/uploads/a/*",
            "acs:oss:cn-hangzhou:1:b/uploads/ab/x"
        ));
        assert!(wildcard("a?c", "abc") && !wildcard("a?c", "ac"));
        let policy: Value = serde_json::from_str(
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":["oss:Put*"],"Resource":["acs:oss:*:*:b/u/*"]},{"Effect":"Deny","Action":"oss:PutObject","Resource":"acs:oss:*:*:b/u/secret*"}]}"#,
        )
        .unwrap();
        assert!(permitted(
            Some(&policy),
            "oss:PutObject",
            "acs:oss:r:1:b/u/x"
        ));
        assert!(!permitted(
            Some(&policy),
            "oss:PutObject",
            "acs:oss:r:1:b/u/secret.txt"
        ));
        assert!(!permitted(
            Some(&policy),
            "oss:PutObject",
            "acs:oss:r:1:b/v/x"
        ));
        assert!(!permitted(
            Some(&policy),
            "oss:GetObject",
            "acs:oss:r:1:b/u/x"
        ));
        assert!(permitted(None, "oss:GetObject", "anything"));
    }

    #[test]
    fn own_v4_derivation_matches_the_published_vector() {
        // Spec §5.5, ug0/aliyun_oss @0eaec40: the POST signature over the UG0 policy.
        let policy = "eyJjb25kaXRpb25zIjpbWyJjb250ZW50LWxlbmd0aC1yYW5nZSIsMCwxMDQ4NTc2MF0seyJidWNrZXQiOiJhaGFoYSJ9LHsiQSI6ImEifSx7ImtleSI6IkFCQyJ9XSwiZXhwaXJhdGlvbiI6IjIwMTMtMTItMDFUMTI6MDA6MDBaIn0=";
        assert_eq!(
            v4_sign("yourAccessKeySecret", "20250701", "cn-hangzhou", policy),
            "4f19e5c3030598cfe1d4e34b6006cd931bae28ddd5df481ff175e70e94495793"
        );
        assert_eq!(
            v1_sign("OtxrzxIsfpFjA7SwPzILwy8Bw21TLhquhboDYROV", policy),
            "W835KpLsL6k1/oo28RcsEflB6hw="
        );
    }

    #[test]
    fn expiration_forms() {
        assert!(parse_expiration("2024-01-01T01:00:00.000Z").is_some());
        assert!(parse_expiration("2024-01-01T01:00:00Z").is_some());
        assert!(parse_expiration("2024-01-01 01:00:00Z").is_none());
        assert!(parse_expiration("2024-01-01T01:00:00+08:00").is_none());
    }
}
