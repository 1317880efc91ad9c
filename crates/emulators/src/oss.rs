//! Strict emulator of one OSS bucket, path-style on loopback, for integration tests and
//! `sts-broker demo`: PostObject (V1 and V4 form signatures, POST policies, STS tokens and session
//! policies, upload callbacks), reading objects back (`GetObject` with presigned V4/V1 URLs or
//! header signatures, the bucket's ACL, and `HeadObject` with OSS V4 header signatures),
//! multipart uploads (header-signed or presigned), bucket CORS
//! (`PutBucketCors`/`GetBucketCors`, header-signed) and preflight. This
//! module owns the running server, its state and the routing, and serves the callback public key
//! at [`PUBLIC_KEY_PATH`]; each rule lives in a submodule. It owns its own multipart parser, XML,
//! canonicalisation, HMAC and callback-signing code and must never call the broker's
//! `crate::oss`: a bug copied into both would pass unnoticed. It never logs secrets, tokens or
//! bodies.

use crate::server::Background;
use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard};

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};

use crate::common::percent_decode;
use crate::sts::EmulatedKeys;
use broker_clock::Clock;

mod access;
mod callback;
mod cors;
mod errors;
mod form;
mod form_signature;
mod get_object;
mod head_object;
mod header_auth;
mod multipart;
mod multipart_upload;
mod objects;
mod post_object;
mod post_policy;
mod preflight;
mod query_auth;
#[cfg(test)]
mod tests;
mod v4;
mod xml;

use callback::CallbackKey;
pub use callback::{verify_callback_signature, PUBLIC_KEY_PATH};
use errors::{err, error_response, OssError};
pub use get_object::{BucketAcl, PROCESS_ECHO_HEADER};

/// Larger bodies are refused before parsing.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

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
    /// When each object was last written (`Last-Modified`).
    modified: HashMap<String, DateTime<Utc>>,
    cors: Option<Vec<EmulatedCorsRule>>,
    requests: usize,
    acl: BucketAcl,
    uploads: multipart_upload::Uploads,
}

struct Inner {
    bucket: String,
    region: String,
    keys: EmulatedKeys,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
    /// Signs upload callbacks (protocol.md §9.4); made when the emulator starts.
    callback_key: CallbackKey,
    /// Where [`Self::callback_key`]'s public half is served.
    callback_key_url: String,
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        crate::common::lock(&self.state)
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
        let port = listener.local_addr()?.port();
        let inner = Arc::new(Inner {
            bucket: config.bucket,
            region: config.region,
            keys: config.keys,
            clock: config.clock,
            state: Mutex::new(State::default()),
            callback_key: CallbackKey::generate()?,
            callback_key_url: format!("http://127.0.0.1:{port}{PUBLIC_KEY_PATH}"),
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

    /// The PEM (SubjectPublicKeyInfo, `BEGIN PUBLIC KEY`) of the key that signs upload
    /// callbacks; the same text is served at [`Self::callback_public_key_url`].
    pub fn callback_public_key_pem(&self) -> String {
        self.inner.callback_key.public_key_pem().to_owned()
    }

    /// The URL callbacks name, Base64-encoded, in `x-oss-pub-key-url`.
    pub fn callback_public_key_url(&self) -> String {
        self.inner.callback_key_url.clone()
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

/// A request header as text; `None` when absent or not visible ASCII.
fn header(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn handle(req: HttpRequest, body: web::Bytes, inner: web::Data<Inner>) -> HttpResponse {
    inner.state().requests += 1;
    let request_id = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
    let result = dispatch(&req, &body, &inner, &request_id).await;
    let mut response = match result {
        Ok(r) => r,
        Err(e) if req.method() == Method::HEAD => head_object::error_without_body(&e),
        Err(e) => error_response(&inner, &request_id, &e),
    };
    let headers = response.headers_mut();
    headers.insert(
        HeaderName::from_static("x-oss-request-id"),
        HeaderValue::from_str(&request_id).expect("hex id"),
    );
    if req.method() != Method::OPTIONS {
        preflight::add_cors_headers(&req, &inner, &mut response);
    }
    response
}

async fn dispatch(
    req: &HttpRequest,
    body: &[u8],
    inner: &Inner,
    request_id: &str,
) -> Result<HttpResponse, OssError> {
    let raw_path = req.uri().path();
    if raw_path == PUBLIC_KEY_PATH && req.method() == Method::GET {
        return Ok(HttpResponse::Ok()
            .content_type("application/x-pem-file")
            .body(inner.callback_key.public_key_pem().to_owned()));
    }
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
        (Method::OPTIONS, _, _) => preflight::preflight(req, inner),
        (method, false, q) if multipart_upload::handles(&method, q) => {
            multipart_upload::handle(req, key, body, inner, request_id).await
        }
        (Method::POST, true, "") => post_object::post_object(req, body, inner, request_id).await,
        (Method::PUT, true, "cors") => cors::put_cors(req, body, inner),
        (Method::GET, true, "cors") => cors::get_cors(req, inner),
        (Method::GET, false, _) => get_object::get_object(req, key, inner),
        (Method::HEAD, false, "") => head_object::head_object(req, key, inner),
        _ => Err(err(
            405,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
        )),
    }
}
