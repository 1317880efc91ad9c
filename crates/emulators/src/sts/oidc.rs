//! The emulator's `AssumeRoleWithOIDC` (spec §4.5): an anonymous call, so it checks the request
//! shape, the provider ARN, a JWT-shaped and unexpired token and the role, then issues like
//! `AssumeRole`. It cannot verify the token's signature (it knows no issuer keys) and says so;
//! it never logs the token.

use std::collections::BTreeMap;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use chrono::Duration;
use serde_json::{json, Value};

use super::{
    assumed_role_body, duration_param, fail, fail_with, issue, missing, parse_role_arn,
    parse_timestamp, policy_param, Inner, StsError, API_VERSION, MAX_SKEW_SECONDS,
};

/// Spec §4.5: `OIDCToken` is 4-20,000 characters.
const TOKEN_CHARS: std::ops::RangeInclusive<usize> = 4..=20_000;

pub(super) fn assume_role_with_oidc(
    inner: &Inner,
    params: &BTreeMap<String, String>,
    request_id: &str,
) -> Result<Value, StsError> {
    let p = |name: &str| params.get(name).map(String::as_str);
    // Anonymous (spec §4.5): a signature or key here means the client leaks its own identity.
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
    let now = inner.clock.now();
    let ts = parse_timestamp(p("Timestamp").unwrap_or_default())
        .ok_or_else(|| fail("IllegalTimestamp"))?;
    if (now - ts).abs() > Duration::seconds(MAX_SKEW_SECONDS) {
        return Err(fail("InvalidTimeStamp.Expired"));
    }

    let arn = p("RoleArn").ok_or_else(|| missing("RoleArn"))?;
    let (account, role_name) =
        parse_role_arn(arn).ok_or_else(|| fail("InvalidParameter.RoleArn"))?;
    let provider = p("OIDCProviderArn").ok_or_else(|| missing("OIDCProviderArn"))?;
    let (provider_account, _provider_name) =
        parse_provider_arn(provider).ok_or_else(|| fail("InvalidParameter.OIDCProviderArn"))?;
    if provider_account != inner.account_id {
        return Err(fail("AuthenticationFail.NoPermission"));
    }
    let token = p("OIDCToken").ok_or_else(|| missing("OIDCToken"))?;
    let claims = check_token(token)?;
    let exp = claims["exp"].as_i64().unwrap_or_default();
    if exp <= now.timestamp() {
        return Err(fail("AuthenticationFail.OIDCToken.Expired"));
    }
    let role_index = (inner.roles.iter())
        .position(|(r, _)| account == inner.account_id && r.name == role_name)
        .ok_or_else(|| fail("EntityNotExist.Role"))?;
    let role = &inner.roles[role_index].0;
    let session = match p("RoleSessionName") {
        None => format!("oidc-{}", now.timestamp()),
        Some(s)
            if (2..=64).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".@_-".contains(&b)) =>
        {
            s.to_owned()
        }
        Some(_) => return Err(fail("InvalidParameter.RoleSessionName")),
    };
    let duration = duration_param(p("DurationSeconds"), role)?;
    let policy = policy_param(p("Policy"))?;

    let cred = issue(inner, role_index, &session, policy, duration, now)?;
    {
        let mut st = inner.state();
        st.issued_count += 1;
        st.last_issued = Some(cred.access_key_id.clone());
        st.oidc_tokens.push(token.to_owned());
    }
    let mut body = assumed_role_body(inner, role_index, &cred, request_id);
    let stamp = |secs: i64| {
        chrono::DateTime::from_timestamp(secs, 0)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default()
    };
    let client_ids = match &claims["aud"] {
        Value::String(a) => a.clone(),
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(","),
        _ => String::new(),
    };
    body["OIDCTokenInfo"] = json!({
        "Subject": claims["sub"],
        "Issuer": claims["iss"],
        "ClientIds": client_ids,
        "ExpirationTime": stamp(exp),
        "IssuanceTime": stamp(claims["iat"].as_i64().unwrap_or(exp)),
        "VerificationInfo": "Success",
    });
    body["SourceIdentity"] = json!("");
    Ok(body)
}

/// `acs:ram::<digits>:oidc-provider/<name>` → (account, name) (spec §4.5 example).
fn parse_provider_arn(arn: &str) -> Option<(&str, &str)> {
    let (account, name) = arn
        .strip_prefix("acs:ram::")?
        .split_once(":oidc-provider/")?;
    let account_ok = !account.is_empty() && account.bytes().all(|b| b.is_ascii_digit());
    let name_ok = (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    (account_ok && name_ok).then_some((account, name))
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
