//! `GET /getToken`: temporary credentials scoped to the caller's upload directory.

use actix_web::{HttpRequest, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::auth::Caller;

use crate::issuer::{Grant, Rendered};
use crate::timefmt::push_timestamp;
use crate::web::error::ApiError;
use crate::web::state::{AppState, ProfileState};

/// The parts of the body that are the same for every request served from one grant; field
/// names are the contract (clients and Alibaba's credentials-URI providers read them).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GrantBody<'a> {
    code: &'static str,
    access_key_id: &'a str,
    access_key_secret: &'a str,
    security_token: &'a str,
    expiration: String,
    bucket: &'a str,
    region: &'a str,
    host: &'a str,
    dir: &'a str,
    profile: &'a str,
}

/// Where the security token's value starts in a rendered prefix.
const TOKEN_KEY: &str = "\"SecurityToken\":\"";

/// The grant's fixed fields as a JSON object without its closing brace, rendered once. The
/// security token (the largest field) is left out, its value empty, when it needs no JSON
/// escaping (STS tokens are base64): the credential already holds it, and [`push_prefix`]
/// puts it back at the gap, so a cached scope holds the token once.
fn render_prefix(grant: &Grant, profile: &ProfileState) -> Rendered {
    let settings = &profile.settings;
    let creds = &grant.credentials;
    let token = creds.token();
    let plain = !token
        .bytes()
        .any(|b| b < 0x20 || b == b'"' || b == b'\\' || b == 0x7f);
    let mut json = serde_json::to_string(&GrantBody {
        code: "Success",
        access_key_id: &creds.access_key_id,
        access_key_secret: creds.secret(),
        security_token: if plain { "" } else { token },
        expiration: grant.expiration_text.clone(),
        bucket: settings.upload.bucket.as_str(),
        region: &settings.upload.region,
        host: &settings.upload.host,
        dir: &grant.dir,
        profile: &profile.name,
    })
    .expect("plain strings serialise");
    json.pop(); // the closing `}`
    let gap = if plain { token_gap(&json) } else { None };
    debug_assert!(
        gap.is_none_or(|at| json[at..].starts_with("\",")),
        "an empty value"
    );
    Rendered { text: json, gap }
}

/// Where the security token's value starts in rendered JSON. A key's quote cannot occur
/// unescaped inside a JSON string, so the first match is the key.
fn token_gap(json: &str) -> Option<usize> {
    json.find(TOKEN_KEY).map(|i| i + TOKEN_KEY.len())
}

/// Appends the rendered prefix with the security token back at its gap.
fn push_prefix(body: &mut String, prefix: &Rendered, token: &str) {
    match prefix.gap {
        Some(at) => {
            body.push_str(&prefix.text[..at]);
            body.push_str(token);
            body.push_str(&prefix.text[at..]);
        }
        None => body.push_str(&prefix.text),
    }
}

/// When a client should fetch again: before the credential falls under the handout floor,
/// jittered by up to half the floor so a fleet of clients does not come back at once.
pub fn refresh_after(
    expiration: DateTime<Utc>,
    now: DateTime<Utc>,
    min_ttl_seconds: u32,
) -> DateTime<Utc> {
    let floor = i64::from(min_ttl_seconds);
    let jitter = fastrand::i64(0..=floor / 2);
    (expiration - Duration::seconds(floor + jitter)).max(now)
}

pub async fn get_token(req: HttpRequest, caller: Caller) -> Result<HttpResponse, ApiError> {
    let state = AppState::of(&req)?;
    let profile = state.profile(req.query_string())?;
    // An STS credential cannot carry a callback (nor enforce sizes and types).
    if profile.settings.callback.is_some() {
        return Err(ApiError::ServerSigningOnly);
    }
    let issued = profile.issuer.issue(&caller.id, caller.address).await?;
    let grant = &issued.grant;
    let creds = &grant.credentials;
    state.metrics.credential_handed_out(
        crate::metrics::Handout::Token,
        profile.index,
        issued.outcome,
    );
    let now = state.services.clock.now();
    let prefix = grant.rendered.get_or_init(|| render_prefix(grant, profile));
    let mut body = String::with_capacity(prefix.text.len() + creds.token().len() + 64);
    push_prefix(&mut body, prefix, creds.token());
    body.push_str(",\"ServerTime\":\"");
    push_timestamp(&mut body, now);
    body.push_str("\",\"RefreshAfter\":\"");
    push_timestamp(
        &mut body,
        refresh_after(
            creds.expiration,
            now,
            profile.settings.issuer.min_ttl_seconds,
        ),
    );
    body.push_str("\"}");
    let dir = grant.dir.clone();
    Ok(super::handout(
        body,
        caller,
        profile,
        dir,
        issued.grant,
        issued.outcome,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_goes_back_where_it_was_left_out() {
        let text = r#"{"Code":"Success","AccessKeySecret":"s\"SecurityToken\":\"x","SecurityToken":"","Expiration":"e""#;
        let gap = token_gap(text);
        assert_eq!(gap, text.rfind("\"\",\"Expiration").map(|i| i + 1));
        let prefix = Rendered {
            text: text.into(),
            gap,
        };
        let mut body = String::new();
        push_prefix(&mut body, &prefix, "CAIS+abc/def==");
        assert_eq!(
            body,
            r#"{"Code":"Success","AccessKeySecret":"s\"SecurityToken\":\"x","SecurityToken":"CAIS+abc/def==","Expiration":"e""#
        );
        // A token that needed escaping stayed in the prefix, escaped: nothing is inserted.
        let kept = r#"{"SecurityToken":"a\"b","Expiration":"e""#;
        let prefix = Rendered {
            text: kept.into(),
            gap: None,
        };
        let mut body = String::new();
        push_prefix(&mut body, &prefix, "a\"b");
        assert_eq!(body, kept);
    }

    #[test]
    fn refresh_after_is_before_the_floor_and_never_in_the_past() {
        let now = Utc::now();
        let expiration = now + Duration::seconds(3600);
        for _ in 0..200 {
            let at = refresh_after(expiration, now, 300);
            assert!(at <= expiration - Duration::seconds(300));
            assert!(at >= expiration - Duration::seconds(450));
        }
        assert_eq!(refresh_after(now + Duration::seconds(100), now, 300), now);
    }
}
