//! `GET /getObjectUrl` and `POST /getObjectUrls`: signed download URLs for keys the caller may
//! read. Thin: the issuer checks every key and signs (`crate::issuer::download`); this route
//! reads the request, turns the result into the contract's JSON and leaves an audit entry with
//! the keys (never a URL).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::download::{UrlRequest, MAX_KEYS_PER_REQUEST};
use crate::issuer::{DownloadProfile, SignedUrls};
use crate::web::audit::{AuditEntry, DownloadAudit};
use crate::web::error::ApiError;
use crate::web::json;
use crate::web::state::{AppState, ProfileState};

/// The largest `/getObjectUrls` body read: 100 keys of 1023 bytes, JSON-escaped, and room.
pub const MAX_BODY: usize = 512 * 1024;

#[derive(Serialize)]
struct KeyUrl<'a> {
    key: &'a str,
    url: &'a str,
}

#[derive(Serialize)]
struct ManyUrls<'a> {
    urls: Vec<KeyUrl<'a>>,
    expire: i64,
    profile: &'a str,
}

/// The `/getObjectUrls` body. `expires` is taken as JSON (a number, or a string of digits)
/// and checked by the same rule as the query's.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManyRequest {
    keys: Vec<String>,
    process: Option<String>,
    expires: Option<serde_json::Value>,
}

/// The first value of each query parameter the route reads.
#[derive(Default)]
struct OneRequest {
    key: Option<String>,
    process: Option<String>,
    filename: Option<String>,
    expires: Option<String>,
}

impl OneRequest {
    fn parse(query: &str) -> Result<Self, ApiError> {
        let mut out = Self::default();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            let slot = match &*name {
                "key" => &mut out.key,
                "process" => &mut out.process,
                "filename" => &mut out.filename,
                "expires" => &mut out.expires,
                _ => continue,
            };
            if slot.is_some() {
                return Err(ApiError::InvalidRequest(format!("`{name}` given twice")));
            }
            *slot = Some(value.into_owned());
        }
        Ok(out)
    }
}

fn download_profile(profile: &ProfileState) -> DownloadProfile<'_> {
    let settings = &profile.settings;
    DownloadProfile {
        bucket: settings.upload.bucket.as_str(),
        region: &settings.upload.region,
        host: settings
            .download
            .host
            .as_deref()
            .unwrap_or(&settings.upload.host),
        settings: &settings.download,
    }
}

/// `{"url","key","expire","profile"}`, written by hand: the URL (the bulk of the answer) is
/// copied without a second pass through the JSON escaper (`web::json`).
fn one_url_body(url: &str, key: &str, expire: i64, profile: &str) -> String {
    let mut body = String::with_capacity(url.len() + key.len() + profile.len() + 64);
    body.push_str("{\"url\":");
    json::push_str(&mut body, url);
    json::push_field(&mut body, "key", key);
    body.push_str(",\"expire\":");
    body.push_str(&expire.to_string());
    json::push_field(&mut body, "profile", profile);
    body.push('}');
    body
}

/// The answer's headers, the metric and the audit entry every signed answer carries; `body`
/// is the JSON text.
fn answer(
    state: &AppState,
    profile: &ProfileState,
    caller: Caller,
    signed: SignedUrls,
    body: String,
) -> HttpResponse {
    state.metrics.urls_signed(profile.index, signed.urls.len());
    super::audited_json(
        body,
        AuditEntry::Download(DownloadAudit {
            caller: caller.id,
            auth_mode: caller.mode.as_str(),
            profile: profile.index,
            keys: signed.urls.into_iter().map(|(k, _)| k).collect(),
            expire: signed.expire.timestamp(),
            grant: signed.grant,
            outcome: signed.outcome,
        }),
    )
}

pub async fn get_object_url(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let profile = state.profile(req.query_string())?;
    let asked = OneRequest::parse(req.query_string())?;
    let key = asked.key.unwrap_or_default();
    let ask = UrlRequest {
        key: &key,
        process: asked.process.as_deref(),
        filename: asked.filename.as_deref(),
    };
    let signed = profile
        .issuer
        .sign_urls(
            &caller.id,
            download_profile(profile),
            &[ask],
            asked.expires.as_deref(),
        )
        .await?;
    let (key, url) = &signed.urls[0];
    let body = one_url_body(url, key, signed.expire.timestamp(), &profile.name);
    Ok(answer(&state, profile, caller, signed, body))
}

pub async fn get_object_urls(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let profile = state.profile(req.query_string())?;
    let asked: ManyRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::InvalidRequest(format!("body: {e}")))?;
    if asked.keys.is_empty() || asked.keys.len() > MAX_KEYS_PER_REQUEST {
        return Err(ApiError::InvalidRequest(format!(
            "{} keys; 1 to {MAX_KEYS_PER_REQUEST} are taken",
            asked.keys.len()
        )));
    }
    let expires = match &asked.expires {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Number(n)) => Some(match (n.as_u64(), n.as_f64()) {
            (Some(whole), _) => whole.to_string(),
            // A whole number written with a point or too large for u64 (JSON has no limit;
            // the conversion saturates, and anything that large is more than the cap).
            (None, Some(f)) if f >= 1.0 && f.fract() == 0.0 => (f as u64).to_string(),
            // `-1`, `1.5`: the expiry rule judges the text.
            _ => n.to_string(),
        }),
        Some(_) => Some(String::new()),
    };
    let asks: Vec<UrlRequest<'_>> = asked
        .keys
        .iter()
        .map(|key| UrlRequest {
            key,
            process: asked.process.as_deref(),
            filename: None,
        })
        .collect();
    let signed = profile
        .issuer
        .sign_urls(
            &caller.id,
            download_profile(profile),
            &asks,
            expires.as_deref(),
        )
        .await?;
    let body = ManyUrls {
        urls: signed
            .urls
            .iter()
            .map(|(key, url)| KeyUrl { key, url })
            .collect(),
        expire: signed.expire.timestamp(),
        profile: &profile.name,
    };
    let body = serde_json::to_string(&body).expect("plain strings serialise");
    Ok(answer(&state, profile, caller, signed, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_url_body_is_the_contract_json() {
        let body = one_url_body(
            "https://h/k?a=b%2F",
            "uploads/a \"b\".jpg",
            1_700_000_000,
            "p",
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body).unwrap(),
            serde_json::json!({
                "url": "https://h/k?a=b%2F",
                "key": "uploads/a \"b\".jpg",
                "expire": 1_700_000_000,
                "profile": "p",
            })
        );
    }
}
