//! Test-only JWT minting and a loopback JWKS server whose key set the test can change and whose
//! requests it can count. Keys are the TEST-ONLY PEMs under tests/api/keys/.

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpResponse, HttpServer};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

pub(crate) const ISSUER: &str = "https://idp.test.invalid/";
pub(crate) const AUDIENCE: &str = "sts-broker-tests";
/// Test-only HS256 secret (at least 32 bytes).
pub(crate) const HS256_SECRET: &str = "test-only-hs256-secret-0123456789abcdef";

pub(crate) const RSA_A: &[u8] = include_bytes!("keys/rsa-a.test-only.pem");
pub(crate) const RSA_A_PUBLIC: &[u8] = include_bytes!("keys/rsa-a.test-only.pub.pem");
pub(crate) const RSA_B: &[u8] = include_bytes!("keys/rsa-b.test-only.pem");
pub(crate) const EC_P256: &[u8] = include_bytes!("keys/ec-p256.test-only.pem");

pub(crate) fn rsa(pem: &[u8]) -> EncodingKey {
    EncodingKey::from_rsa_pem(pem).expect("test RSA key")
}

pub(crate) fn ec(pem: &[u8]) -> EncodingKey {
    EncodingKey::from_ec_pem(pem).expect("test EC key")
}

pub(crate) fn hs256(secret: &str) -> EncodingKey {
    EncodingKey::from_secret(secret.as_bytes()).expect("HMAC key")
}

pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Valid claims for `sub`, with an hour to live.
pub(crate) fn claims(sub: &str) -> Value {
    json!({"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 3600, "iat": now()})
}

/// A signed JWT.
pub(crate) fn mint(alg: Algorithm, key: &EncodingKey, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).expect("token encodes")
}

/// A token signed with HMAC-SHA256 by hand, with any header at all (for `alg` tricks).
pub(crate) fn forge_hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine as _;
    use hmac::{Hmac, KeyInit, Mac};
    let signing_input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        B64.encode(mac.finalize().into_bytes())
    )
}

/// An unsigned `alg: none` token.
pub(crate) fn unsigned(claims: &Value) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine as _;
    format!(
        "{}.{}.",
        B64.encode(json!({"alg": "none", "typ": "JWT"}).to_string()),
        B64.encode(claims.to_string())
    )
}

/// The public JWK of a private key, with `kid`.
pub(crate) fn public_jwk(key: &EncodingKey, alg: Algorithm, kid: &str) -> Jwk {
    let mut jwk = Jwk::from_encoding_key(key, alg).expect("public JWK");
    jwk.common.key_id = Some(kid.to_owned());
    jwk
}

/// A JWKS endpoint on loopback.
pub(crate) struct JwksServer {
    pub url: String,
    keys: Arc<Mutex<Vec<Jwk>>>,
    hits: Arc<AtomicUsize>,
}

impl JwksServer {
    pub(crate) async fn start(keys: Vec<Jwk>) -> Self {
        let keys = Arc::new(Mutex::new(keys));
        let hits = Arc::new(AtomicUsize::new(0));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://127.0.0.1:{}/.well-known/jwks.json",
            listener.local_addr().unwrap().port()
        );
        let (k, h) = (keys.clone(), hits.clone());
        let server = HttpServer::new(move || {
            let (k, h) = (k.clone(), h.clone());
            App::new().route(
                "/.well-known/jwks.json",
                web::get().to(move || {
                    let (k, h) = (k.clone(), h.clone());
                    async move {
                        h.fetch_add(1, Ordering::SeqCst);
                        let set = JwkSet {
                            keys: k.lock().unwrap().clone(),
                        };
                        HttpResponse::Ok().json(set)
                    }
                }),
            )
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self { url, keys, hits }
    }

    pub(crate) fn set_keys(&self, keys: Vec<Jwk>) {
        *self.keys.lock().unwrap() = keys;
    }

    pub(crate) fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// Broker variables for JWT mode (HS256 and, when given, a JWKS URL) with generous limits.
pub(crate) fn jwt_vars(
    vars: &mut std::collections::HashMap<String, String>,
    jwks_url: Option<&str>,
) {
    vars.insert("BROKER_AUTH".into(), "jwt".into());
    vars.insert("BROKER_JWT_HS256_SECRET".into(), HS256_SECRET.into());
    vars.insert("BROKER_JWT_ISSUER".into(), ISSUER.into());
    vars.insert("BROKER_JWT_AUDIENCE".into(), AUDIENCE.into());
    if let Some(url) = jwks_url {
        vars.insert("BROKER_JWT_JWKS_URL".into(), url.into());
    }
    generous_limits(vars);
}

/// Limits high enough that only tests about limits meet them.
pub(crate) fn generous_limits(vars: &mut std::collections::HashMap<String, String>) {
    vars.insert("BROKER_RATE_LIMIT_PER_MINUTE".into(), "10000".into());
    vars.insert("BROKER_RATE_LIMIT_BURST".into(), "1000".into());
    vars.insert(
        "BROKER_AUTH_FAILURE_LIMIT_PER_MINUTE".into(),
        "10000".into(),
    );
}
