//! The access section: `BROKER_AUTH` and its details, CORS origins and rate limits, read into
//! `auth::settings::AccessSettings`. No I/O besides reading `BROKER_API_KEYS_FILE`; never puts
//! a secret value or key digest into a message.

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::http::header::HeaderName;
use secrecy::SecretString;

use super::reader::{integer_in, parse_cidrs, web_url, Reader};
use super::variables::VARIABLES;
use crate::auth::api_key::ApiKeys;
use crate::auth::settings::{
    weak_hs256_secret, AccessSettings, AuthMode, HeaderSettings, JwtSettings, RateLimitSettings,
};

/// What every placeholder in `.env.example` (and in the deployment examples) contains.
pub(crate) const PLACEHOLDER: &str = "REPLACE_WITH_";

/// Refuses every variable of the table whose value still contains [`PLACEHOLDER`], whatever
/// section reads it and whether or not the configured mode uses it: a placeholder means the
/// configuration was never finished. A variable another section has already refused is not
/// named twice. The message never quotes the value.
fn refuse_placeholders(r: &mut Reader<'_>) {
    for variable in VARIABLES {
        let placeholder = r
            .get(variable.name)
            .is_some_and(|v| v.contains(PLACEHOLDER));
        let named = r.problems.iter().any(|p| p.variable == variable.name);
        if placeholder && !named {
            r.problem(
                variable.name,
                format!(
                    "is still a {PLACEHOLDER}… placeholder (as in .env.example); set the real value"
                ),
            );
        }
    }
}

/// `BROKER_AUTH`.
pub(crate) fn auth_mode(r: &mut Reader<'_>) -> Option<AuthMode> {
    r.required_parsed(
        "BROKER_AUTH",
        "how callers are authenticated: none, jwt, api-key or header",
        |raw| match raw {
            "none" => Ok(AuthMode::None),
            "jwt" => Ok(AuthMode::Jwt),
            "api-key" => Ok(AuthMode::ApiKey),
            "header" => Ok(AuthMode::Header),
            _ => Err("must be one of none, jwt, api-key, header".into()),
        },
    )
}

/// Reads the variables of this module; `None` when any of them is invalid (the problems are in
/// `r`). `listen` is `None` when `BROKER_LISTEN` itself was invalid.
///
/// It also refuses placeholders in every variable of the table (`refuse_placeholders`): the
/// access section runs once per configuration read, so the check runs exactly once.
pub(crate) fn read(r: &mut Reader<'_>, listen: Option<SocketAddr>) -> Option<AccessSettings> {
    let settings = read_access(r, listen);
    refuse_placeholders(r);
    settings
}

fn read_access(r: &mut Reader<'_>, listen: Option<SocketAddr>) -> Option<AccessSettings> {
    let auth = auth_mode(r);
    let before = r.problems.len();

    let allow_anonymous = r.flag("BROKER_ALLOW_ANONYMOUS", false);
    if let (Some(AuthMode::None), Some(listen)) = (auth, listen) {
        if !listen.ip().is_loopback() && !allow_anonymous {
            r.problem(
                "BROKER_AUTH",
                format!(
                    "`none` hands a credential to anyone who can connect; refused on the \
                     non-loopback BROKER_LISTEN {listen} unless BROKER_ALLOW_ANONYMOUS=true"
                ),
            );
        }
    }

    let jwt = (auth == Some(AuthMode::Jwt)).then(|| read_jwt(r)).flatten();
    let api_keys = (auth == Some(AuthMode::ApiKey))
        .then(|| read_api_keys(r))
        .flatten();
    let header = (auth == Some(AuthMode::Header))
        .then(|| read_header(r))
        .flatten();

    let cors_origins = r
        .parsed("BROKER_CORS_ORIGINS", Some(Vec::new()), parse_origins)
        .unwrap_or_default();

    let per_minute = r.parsed("BROKER_RATE_LIMIT_PER_MINUTE", Some(60), |raw| {
        integer_in(raw, 1, 1_000_000_000).map(|v| v as u32)
    });
    let burst = r.parsed("BROKER_RATE_LIMIT_BURST", Some(10), |raw| {
        integer_in(raw, 1, 100_000_000).map(|v| v as u32)
    });
    let forwarding = super::forwarding::read(r);
    let auth_failures = r.parsed("BROKER_AUTH_FAILURE_LIMIT_PER_MINUTE", Some(10), |raw| {
        integer_in(raw, 0, 100_000).map(|v| v as u32)
    });

    if r.problems.len() != before {
        return None;
    }
    Some(AccessSettings {
        mode: auth?,
        jwt,
        api_keys,
        header,
        allow_anonymous,
        cors_origins,
        forwarding: forwarding?,
        rate_limit: RateLimitSettings {
            per_minute: per_minute?,
            burst: burst?,
            auth_failures_per_minute: auth_failures?,
        },
    })
}

fn read_jwt(r: &mut Reader<'_>) -> Option<JwtSettings> {
    let secret = r.get("BROKER_JWT_HS256_SECRET");
    if let Some(reason) = secret
        .as_deref()
        .and_then(|s| weak_hs256_secret(s.as_bytes()))
    {
        r.problem("BROKER_JWT_HS256_SECRET", reason);
    }
    let jwks_url = r.parsed("BROKER_JWT_JWKS_URL", None, |raw| web_url(raw, true));
    if secret.is_none() && r.get("BROKER_JWT_JWKS_URL").is_none() {
        r.problem(
            "BROKER_JWT_HS256_SECRET",
            "BROKER_AUTH=jwt needs BROKER_JWT_HS256_SECRET or BROKER_JWT_JWKS_URL (or both)",
        );
    }
    // Both are required: without them a token minted for another application by the same
    // identity provider would be accepted.
    let issuer = r.required(
        "BROKER_JWT_ISSUER",
        "the `iss` every accepted token must carry",
    );
    let audiences = r
        .required(
            "BROKER_JWT_AUDIENCE",
            "the `aud` accepted tokens must carry (comma-separated for several)",
        )
        .map(|raw| {
            raw.split(',')
                .map(|a| a.trim().to_owned())
                .filter(|a| !a.is_empty())
                .collect::<Vec<_>>()
        });
    let subject_claim = r.parsed("BROKER_JWT_SUBJECT_CLAIM", Some("sub".to_owned()), |raw| {
        if raw.len() <= 64
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
        {
            Ok(raw.to_owned())
        } else {
            Err("must be a claim name (letters, digits, `_-.:`, at most 64)".into())
        }
    });
    let leeway = r.parsed("BROKER_JWT_LEEWAY_SECONDS", Some(30), |raw| {
        integer_in(raw, 0, 300)
    });
    let max_lifetime = r.parsed("BROKER_JWT_MAX_LIFETIME_SECONDS", Some(None), |raw| {
        integer_in(raw, 1, 31_536_000).map(|s| Some(Duration::from_secs(s)))
    });
    let max_age = r.parsed("BROKER_JWT_JWKS_MAX_AGE_SECONDS", Some(600), |raw| {
        integer_in(raw, 10, 86_400)
    });
    let min_refetch = r.parsed("BROKER_JWT_JWKS_MIN_REFETCH_SECONDS", Some(30), |raw| {
        integer_in(raw, 1, 3600)
    });
    Some(JwtSettings {
        hs256_secret: secret.map(SecretString::from),
        jwks_url,
        issuer: issuer?,
        audiences: audiences?,
        subject_claim: subject_claim?,
        leeway: Duration::from_secs(leeway?),
        max_lifetime: max_lifetime?,
        jwks_max_age: Duration::from_secs(max_age?),
        jwks_min_refetch_interval: Duration::from_secs(min_refetch?),
    })
}

fn read_api_keys(r: &mut Reader<'_>) -> Option<ApiKeys> {
    let inline = r.get("BROKER_API_KEYS");
    let file = r.get("BROKER_API_KEYS_FILE");
    if inline.is_none() && file.is_none() {
        r.problem(
            "BROKER_API_KEYS",
            "BROKER_AUTH=api-key needs BROKER_API_KEYS or BROKER_API_KEYS_FILE \
             (`caller:<hex SHA-256 of the key>` entries)",
        );
        return None;
    }
    let mut entries = Vec::new();
    if let Some(raw) = inline {
        match ApiKeys::parse_entries(raw.split(',')) {
            Ok(mut e) => entries.append(&mut e),
            Err(reason) => r.problem("BROKER_API_KEYS", reason),
        }
    }
    if let Some(path) = file {
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let lines = text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'));
                match ApiKeys::parse_entries(lines) {
                    Ok(mut e) => entries.append(&mut e),
                    Err(reason) => r.problem("BROKER_API_KEYS_FILE", reason),
                }
            }
            Err(e) => r.problem(
                "BROKER_API_KEYS_FILE",
                format!("cannot read {path}: {}", e.kind()),
            ),
        }
    }
    match ApiKeys::new(entries) {
        Ok(keys) => Some(keys),
        Err(reason) => {
            r.problem("BROKER_API_KEYS", reason);
            None
        }
    }
}

fn read_header(r: &mut Reader<'_>) -> Option<HeaderSettings> {
    let header = r.parsed(
        "BROKER_TRUSTED_HEADER",
        Some(HeaderName::from_static("x-authenticated-user")),
        |raw| {
            let name = HeaderName::from_bytes(raw.as_bytes())
                .map_err(|_| "must be an HTTP header name".to_owned())?;
            if matches!(
                name.as_str(),
                "authorization" | "x-api-key" | "cookie" | "host" | "origin" | "x-request-id"
            ) {
                return Err(format!("`{name}` cannot carry the caller's id"));
            }
            Ok(name)
        },
    );
    let proxies = r.parsed(
        "BROKER_TRUSTED_PROXIES",
        Some(vec![
            "127.0.0.0/8".parse().expect("CIDR"),
            "::1/128".parse().expect("CIDR"),
        ]),
        parse_cidrs,
    );
    Some(HeaderSettings {
        header: header?,
        trusted_proxies: proxies?,
    })
}

/// Exact origins: `https://app.example.com`, `http://localhost:5173`. No wildcard, no path.
fn parse_origins(raw: &str) -> Result<Vec<String>, String> {
    let mut origins = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if item.contains('*') || item.eq_ignore_ascii_case("null") {
            return Err(format!(
                "`{item}` is not allowed; list exact origins such as https://app.example.com"
            ));
        }
        let url = reqwest::Url::parse(item)
            .map_err(|_| format!("`{item}` is not an origin such as https://app.example.com"))?;
        let plain = matches!(url.scheme(), "http" | "https")
            && url.host().is_some()
            && url.username().is_empty()
            && url.password().is_none()
            && url.path() == "/"
            && url.query().is_none()
            && url.fragment().is_none();
        if !plain || item.trim_end_matches('/').matches('/').count() != 2 {
            return Err(format!(
                "`{item}` must be an origin (scheme://host[:port]) without path, query or wildcard"
            ));
        }
        origins.push(url.origin().ascii_serialization());
    }
    Ok(origins)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    #[test]
    fn origins_are_exact_and_normalised() {
        assert_eq!(
            parse_origins("https://App.Example.com, http://localhost:5173/,https://a.b:443")
                .unwrap(),
            vec![
                "https://app.example.com",
                "http://localhost:5173",
                "https://a.b"
            ]
        );
        for bad in [
            "*",
            "null",
            "https://*.example.com",
            "app.example.com",
            "https://a.com/path",
            "ftp://a.com",
            "https://a.com?x",
        ] {
            assert!(parse_origins(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cidrs() {
        let nets = parse_cidrs("10.0.0.0/8, 192.168.1.7,::1").unwrap();
        assert_eq!(nets.len(), 3);
        assert!(nets[1].contains(&"192.168.1.7".parse::<IpAddr>().unwrap()));
        assert!(parse_cidrs("10.0.0.0/33").is_err());
        assert!(parse_cidrs("everyone").is_err());
        assert!(parse_cidrs(",").is_err());
    }
}
