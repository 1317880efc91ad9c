//! How the STS emulator reads and authenticates an RPC request, in the order real STS does
//! (protocol.md §1.3–§1.7, §2.2): method and path, parameters from query and form body, the common
//! parameters, the timestamp, the caller's key and token, the signature (`super::signature`) and
//! the nonce. Only then does it hand the request to an action. It must not record a nonce for a
//! request that failed a check, and it never logs a parameter.

use std::collections::BTreeMap;

use actix_web::http::Method;
use actix_web::HttpRequest;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::common::ct_eq;

use super::errors::{fail, fail_with, missing, StsError};
use super::shared::{check_timestamp, Caller, API_VERSION};
use super::{actions, oidc, render, signature, Inner};

/// protocol.md §2.2: nonces must be unique across 31 minutes.
const NONCE_WINDOW_SECONDS: i64 = 31 * 60;
/// protocol.md §1.3: every RPC call carries these; checked in this order.
const COMMON_PARAMS: &str = "Action Version AccessKeyId SignatureMethod SignatureVersion SignatureNonce Timestamp Signature Format";

pub(super) fn process(
    req: &HttpRequest,
    body: &[u8],
    inner: &Inner,
    request_id: &str,
) -> Result<Value, StsError> {
    // 1. protocol.md §1.4: GET or POST on "/"; parameters are query ∪ form body.
    let method = method_on_root(req)?;
    let params = collect_params(req, method, body)?;
    if params.get("Action").map(String::as_str) == Some("AssumeRoleWithOIDC") {
        return oidc::assume_role_with_oidc(inner, &params, request_id);
    }
    let p = |name: &str| params.get(name).map(String::as_str).unwrap_or_default();

    // 2. protocol.md §1.3: common parameters.
    let action = check_common_params(&params)?;

    // 3. protocol.md §1.3, §2.2: timestamp shape and skew against the emulator's clock.
    let now = check_timestamp(inner, p("Timestamp"))?;

    // 4. protocol.md §1.7 gateway table: who is calling, and is its token right.
    let token = params.get("SecurityToken").map(String::as_str);
    let (secret, caller) = resolve_caller(inner, p("AccessKeyId"), token, now)?;

    // 5. protocol.md §2.1: recompute the signature from the decoded parameters.
    signature::verify(method, &params, &secret)?;

    // 6. protocol.md §2.2: nonce replay, recorded only once the request proved authentic.
    consume_nonce(inner, p("SignatureNonce"), now)?;

    match action {
        "AssumeRole" => actions::assume_role(inner, &params, &caller, now, request_id),
        _ => Ok(render::caller_identity(inner, &caller, request_id)),
    }
}

/// protocol.md §1.4: GET or POST, on "/" only.
fn method_on_root(req: &HttpRequest) -> Result<&'static str, StsError> {
    let method = match *req.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        _ => return Err(fail("UnsupportedHTTPMethod")),
    };
    if req.path() != "/" {
        return Err(fail("InvalidAction.NotFound"));
    }
    Ok(method)
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

/// protocol.md §1.3: every common parameter present, JSON answers, this API version and signature
/// method, and an action the emulator serves; returns the action.
fn check_common_params(params: &BTreeMap<String, String>) -> Result<&str, StsError> {
    let p = |name: &str| params.get(name).map(String::as_str).unwrap_or_default();
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
    Ok(action)
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

/// protocol.md §2.2: refuses a nonce seen in the last 31 minutes, then remembers this one.
fn consume_nonce(inner: &Inner, nonce: &str, now: DateTime<Utc>) -> Result<(), StsError> {
    let mut st = inner.state();
    let window = Duration::seconds(NONCE_WINDOW_SECONDS);
    st.nonces.retain(|_, seen| now - *seen < window);
    if st.nonces.contains_key(nonce) {
        return Err(fail("SignatureNonceUsed"));
    }
    st.nonces.insert(nonce.to_string(), now);
    Ok(())
}
