//! `AssumeRole` (protocol.md §1.2, §1.5) and `GetCallerIdentity` (protocol.md §4.7) once the request is
//! authenticated, and the parameter rules `AssumeRoleWithOIDC` shares with `AssumeRole`: role
//! ARN, role lookup, session name, `DurationSeconds`, and the bookkeeping of an answer. It must
//! not issue a credential before every parameter passed, and never let a caller's session policy
//! widen what the caller may do.

use std::collections::BTreeMap;
use std::sync::MutexGuard;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::common::policy_allows;

use super::errors::{fail, missing, StsError};
use super::mint::issue;
use super::policy::policy_param;
use super::render::assumed_role_body;
use super::shared::Caller;
use super::{EmulatedRole, Inner, IssuedCredential, State};

/// protocol.md §1.2 for every parameter rule, §1.5 for the answer.
pub(super) fn assume_role(
    inner: &Inner,
    params: &BTreeMap<String, String>,
    caller: &Caller,
    now: DateTime<Utc>,
    request_id: &str,
) -> Result<Value, StsError> {
    let arn = params.get("RoleArn").ok_or_else(|| missing("RoleArn"))?;
    let (account, role_name) =
        parse_role_arn(arn).ok_or_else(|| fail("InvalidParameter.RoleArn"))?;
    let role_index = find_role(inner, account, role_name)?;
    let role = &inner.roles[role_index].0;
    let session = (params.get("RoleSessionName")).ok_or_else(|| missing("RoleSessionName"))?;
    if !session_name_ok(session) {
        return Err(fail("InvalidParameter.RoleSessionName"));
    }
    let duration = duration_param(params.get("DurationSeconds").map(String::as_str), role)?;
    let policy = policy_param(params.get("Policy").map(String::as_str))?;
    // protocol.md §1.1: the caller needs sts:AssumeRole; a caller's session policy can only narrow it.
    if let Caller::Role(issued) = caller {
        let own = issued.cred.policy.as_ref();
        if own.is_some_and(|own| !policy_allows(own, "sts:AssumeRole", None)) {
            return Err(fail("NoPermission"));
        }
    }

    let cred = issue(inner, role_index, session, policy, duration, now)?;
    record_answer(inner, &cred)
        .assume_role_callers
        .push(match caller {
            Caller::User(i) => inner.users[*i].0.clone(),
            Caller::Role(issued) => issued.cred.access_key_id.clone(),
        });
    Ok(assumed_role_body(inner, role_index, &cred, request_id))
}

/// Counts a successful assume-role answer and remembers its credential as the last issued; the
/// guard lets the caller note who asked.
pub(super) fn record_answer<'a>(
    inner: &'a Inner,
    cred: &IssuedCredential,
) -> MutexGuard<'a, State> {
    let mut st = inner.state();
    st.issued_count += 1;
    st.last_issued = Some(cred.access_key_id.clone());
    st
}

/// The index of the role `name` of `account`, which must be the emulator's own account.
pub(super) fn find_role(inner: &Inner, account: &str, name: &str) -> Result<usize, StsError> {
    (inner.roles.iter())
        .position(|(r, _)| account == inner.account_id && r.name == name)
        .ok_or_else(|| fail("EntityNotExist.Role"))
}

/// `RoleSessionName`: 2-64 letters, digits and `.@_-` (protocol.md §1.2).
pub(super) fn session_name_ok(session: &str) -> bool {
    (2..=64).contains(&session.len())
        && (session.bytes()).all(|b| b.is_ascii_alphanumeric() || b".@_-".contains(&b))
}

/// `acs:ram::<digits>:<kind>/<name>` → (account, name), the name 1 to `max_name` letters,
/// digits and `name_extra` bytes.
pub(super) fn parse_ram_arn<'a>(
    arn: &'a str,
    kind: &str,
    max_name: usize,
    name_extra: &[u8],
) -> Option<(&'a str, &'a str)> {
    let (account, name) = (arn.strip_prefix("acs:ram::")?).split_once(&format!(":{kind}/"))?;
    let account_ok = !account.is_empty() && account.bytes().all(|b| b.is_ascii_digit());
    let name_ok = (1..=max_name).contains(&name.len())
        && (name.bytes()).all(|b| b.is_ascii_alphanumeric() || name_extra.contains(&b));
    (account_ok && name_ok).then_some((account, name))
}

/// `acs:ram::<digits>:role/<name>` → (account, name). RAM role names: letters, digits, `.`, `-`.
pub(super) fn parse_role_arn(arn: &str) -> Option<(&str, &str)> {
    parse_ram_arn(arn, "role", 64, b".-")
}

/// `DurationSeconds`: default 3600, else digits from 900 to the role's maximum (protocol.md §1.2).
pub(super) fn duration_param(value: Option<&str>, role: &EmulatedRole) -> Result<u32, StsError> {
    match value {
        None => Ok(3600),
        Some(d) => (d.bytes().all(|b| b.is_ascii_digit()))
            .then(|| d.parse::<u32>().ok())
            .flatten()
            .filter(|d| (900..=role.max_session_duration).contains(d))
            .ok_or_else(|| fail("InvalidParameter.DurationSeconds")),
    }
}
