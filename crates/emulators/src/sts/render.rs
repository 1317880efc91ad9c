//! The JSON bodies of the STS emulator's successful answers (protocol.md §1.5, §4.5, §4.7): the
//! assumed-role answer shared by `AssumeRole` and `AssumeRoleWithOIDC`, the OIDC token summary
//! and `GetCallerIdentity`. It decides nothing; it shows a secret or token only inside the
//! credential it is answering with.

use chrono::DateTime;
use serde_json::{json, Value};

use super::shared::Caller;
use super::{Inner, IssuedCredential};

const WIRE_TIME: &str = "%Y-%m-%dT%H:%M:%SZ";

/// protocol.md §1.5: the answer shared by AssumeRole and AssumeRoleWithOIDC.
pub(super) fn assumed_role_body(
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
            "Expiration": cred.expiration.format(WIRE_TIME).to_string(),
            "AccessKeySecret": cred.access_key_secret,
            "AccessKeyId": cred.access_key_id,
        },
    })
}

/// protocol.md §4.5: what `AssumeRoleWithOIDC` adds to the assumed-role answer, from the token's
/// claims (`exp` already checked).
pub(super) fn add_oidc_token_info(body: &mut Value, claims: &Value, exp: i64) {
    let stamp = |secs: i64| {
        DateTime::from_timestamp(secs, 0)
            .map(|t| t.format(WIRE_TIME).to_string())
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
}

/// protocol.md §4.7.
pub(super) fn caller_identity(inner: &Inner, caller: &Caller, request_id: &str) -> Value {
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
