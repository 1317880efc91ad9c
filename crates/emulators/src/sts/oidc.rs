//! The emulator's `AssumeRoleWithOIDC` (protocol.md §4.5): an anonymous call, so it checks the request
//! shape, the provider ARN, a JWT-shaped and unexpired token and the role, then issues like
//! `AssumeRole`. It cannot verify the token's signature (it knows no issuer keys) and says so;
//! it never logs the token.

use std::collections::BTreeMap;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::actions::{
    duration_param, find_role, parse_ram_arn, parse_role_arn, record_answer, session_name_ok,
};
use super::errors::{fail, fail_with, missing, StsError};
use super::mint::issue;
use super::policy::policy_param;
use super::render::{add_oidc_token_info, assumed_role_body};
use super::shared::{check_timestamp, API_VERSION};
use super::Inner;

/// protocol.md §4.5: `OIDCToken` is 4-20,000 characters.
const TOKEN_CHARS: std::ops::RangeInclusive<usize> = 4..=20_000;

pub(super) fn assume_role_with_oidc(
    inner: &Inner,
    params: &BTreeMap<String, String>,
    request_id: &str,
) -> Result<Value, StsError> {
    let p = |name: &str| params.get(name).map(String::as_str);
    let now = check_anonymous_request(inner, params)?;

    let arn = p("RoleArn").ok_or_else(|| missing("RoleArn"))?;
    let (account, role_name) =
        parse_role_arn(arn).ok_or_else(|| fail("InvalidParameter.RoleArn"))?;
    check_provider(inner, p("OIDCProviderArn"))?;
    let token = p("OIDCToken").ok_or_else(|| missing("OIDCToken"))?;
    let claims = check_token(token)?;
    let exp = claims["exp"].as_i64().unwrap_or_default();
    if exp <= now.timestamp() {
        return Err(fail("AuthenticationFail.OIDCToken.Expired"));
    }
    let role_index = find_role(inner, account, role_name)?;
    let role = &inner.roles[role_index].0;
    let session = match p("RoleSessionName") {
        None => format!("oidc-{}", now.timestamp()),
        Some(s) if session_name_ok(s) => s.to_owned(),
        Some(_) => return Err(fail("InvalidParameter.RoleSessionName")),
    };
    let duration = duration_param(p("DurationSeconds"), role)?;
    let policy = policy_param(p("Policy"))?;

    let cred = issue(inner, role_index, &session, policy, duration, now)?;
    record_answer(inner, &cred)
        .oidc_tokens
        .push(token.to_owned());
    let mut body = assumed_role_body(inner, role_index, &cred, request_id);
    add_oidc_token_info(&mut body, &claims, exp);
    Ok(body)
}

/// The request shape of an anonymous call: no signing parameters, the common ones it does need,
/// this API version, JSON answers, a fresh timestamp; returns the emulator's "now".
fn check_anonymous_request(
    inner: &Inner,
    params: &BTreeMap<String, String>,
) -> Result<DateTime<Utc>, StsError> {
    let p = |name: &str| params.get(name).map(String::as_str);
    // Anonymous (protocol.md §4.5): a signature or key here means the client leaks its own identity.
    for name in [
        "AccessKeyId",
        "Signature",
        "SignatureNonce",
        "SecurityToken",
    ] {
        if params.contains_key(name) {
            let msg = format!("AssumeRoleWithOIDC is anonymous; \"{name}\" must not be sent.");
            return Err(fail_with("InvalidParameter", msg));
        }
    }
    for name in ["Version", "Format", "Timestamp"] {
        if !params.contains_key(name) {
            return Err(missing(name));
        }
    }
    if p("Version") != Some(API_VERSION) {
        let msg = "The specified parameter \"Version\" is not valid.".to_owned();
        return Err(fail_with("InvalidParameter", msg));
    }
    if !p("Format").unwrap_or_default().eq_ignore_ascii_case("JSON") {
        let msg = "Format is not supported: this emulator answers JSON only.".to_owned();
        return Err(fail_with("InvalidParameter.Format", msg));
    }
    check_timestamp(inner, p("Timestamp").unwrap_or_default())
}

/// `OIDCProviderArn`: present, well-formed, and a provider of the emulator's own account.
fn check_provider(inner: &Inner, provider: Option<&str>) -> Result<(), StsError> {
    let provider = provider.ok_or_else(|| missing("OIDCProviderArn"))?;
    let (provider_account, _provider_name) =
        parse_provider_arn(provider).ok_or_else(|| fail("InvalidParameter.OIDCProviderArn"))?;
    if provider_account != inner.account_id {
        return Err(fail("AuthenticationFail.NoPermission"));
    }
    Ok(())
}

/// `acs:ram::<digits>:oidc-provider/<name>` → (account, name) (protocol.md §4.5 example).
fn parse_provider_arn(arn: &str) -> Option<(&str, &str)> {
    parse_ram_arn(arn, "oidc-provider", 128, b"._-")
}

/// A JWT shape: three unpadded base64url parts, a JSON header with `alg`, a JSON payload with
/// string `iss` and `sub` and a numeric `exp`, and a non-empty signature (not verified).
fn check_token(token: &str) -> Result<Value, StsError> {
    let invalid = || fail("AuthenticationFail.OIDCToken.Invalid");
    if !TOKEN_CHARS.contains(&token.chars().count()) {
        return Err(invalid());
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = parts.as_slice() else {
        return Err(invalid());
    };
    let json_part = |part: &str| -> Option<Value> {
        let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
        serde_json::from_slice::<Value>(&bytes)
            .ok()
            .filter(Value::is_object)
    };
    let header = json_part(header).ok_or_else(invalid)?;
    let claims = json_part(payload).ok_or_else(invalid)?;
    let shaped = header["alg"].is_string()
        && claims["iss"].is_string()
        && claims["sub"].is_string()
        && claims["exp"].is_i64()
        && !signature.is_empty()
        && URL_SAFE_NO_PAD.decode(signature).is_ok();
    if shaped {
        Ok(claims)
    } else {
        Err(invalid())
    }
}
