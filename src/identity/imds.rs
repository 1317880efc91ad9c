//! The ECS instance RAM role from the metadata service (protocol.md §4.4): IMDSv2 session token first,
//! token-less v1 only when allowed, then the role's credentials JSON. Talks to the configured
//! metadata base URL only (never probes), never through a proxy, and never logs a credential or
//! the metadata token.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

use super::{is_role_name, Fetch, Fetched, IdentityError, IdentityErrorKind};
use crate::credentials::AccessKey;

/// The documented metadata address, plain http (protocol.md §4.4).
pub const DEFAULT_IMDS_ENDPOINT: &str = "http://100.100.100.200";
/// Token lifetime the SDKs ask for, the maximum (protocol.md §4.4: 21600 s = 6 h).
const TOKEN_TTL_SECONDS: &str = "21600";
const TOKEN_TTL_HEADER: &str = "X-aliyun-ecs-metadata-token-ttl-seconds";
const TOKEN_HEADER: &str = "X-aliyun-ecs-metadata-token";
const CREDENTIALS_PATH: &str = "latest/meta-data/ram/security-credentials/";
/// The SDKs use 1 s connect and read timeouts (protocol.md §4.4); the whole request gets a little more.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const TOTAL_TIMEOUT: Duration = Duration::from_secs(3);
/// A metadata answer larger than this is not a metadata answer.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// An ECS instance-role source as configured.
#[derive(Debug, Clone)]
pub struct EcsSource {
    pub endpoint: reqwest::Url,
    /// `None`: discover it from the metadata service (`auto`).
    pub role_name: Option<String>,
    /// Whether a token-less (v1) request may follow a failed token request.
    pub imdsv1_allowed: bool,
    pub origin: String,
}

impl EcsSource {
    pub fn describe(&self) -> String {
        format!(
            "ECS instance RAM role {} ({}) from {} (IMDSv2{})",
            self.role_name
                .as_deref()
                .map_or("(discovered)".to_owned(), |r| format!("`{r}`")),
            self.origin,
            self.endpoint.as_str().trim_end_matches('/'),
            if self.imdsv1_allowed {
                ", v1 fallback allowed"
            } else {
                " only"
            }
        )
    }
}

#[derive(Debug)]
pub(super) struct ImdsFetcher {
    source: EcsSource,
    http: reqwest::Client,
}

/// protocol.md §4.4 credentials document; every field required.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CredentialsBody {
    code: String,
    access_key_id: String,
    access_key_secret: String,
    security_token: String,
    expiration: String,
}

impl ImdsFetcher {
    pub(super) fn new(source: EcsSource) -> Result<Self, IdentityError> {
        // The metadata service answers only the instance itself: never via a proxy.
        let http = crate::http_client::client(CONNECT_TIMEOUT, TOTAL_TIMEOUT).map_err(|e| {
            IdentityError::new(
                IdentityErrorKind::Client,
                format!("cannot build the metadata client: {e}"),
            )
        })?;
        Ok(Self { source, http })
    }

    fn ecs(&self) -> &EcsSource {
        &self.source
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/{path}",
            self.ecs().endpoint.as_str().trim_end_matches('/')
        )
    }

    /// The IMDSv2 session token; `None` when the service gave none and v1 is allowed.
    async fn session_token(&self) -> Result<Option<SecretString>, IdentityError> {
        let answer = self
            .http
            .put(self.url("latest/api/token"))
            .header(TOKEN_TTL_HEADER, TOKEN_TTL_SECONDS)
            .send()
            .await;
        let outcome = match answer {
            Ok(r) if r.status().is_success() => match read_body(r).await {
                Ok(body) if !body.trim().is_empty() => {
                    return Ok(Some(SecretString::from(body.trim().to_owned())))
                }
                Ok(_) => "an empty token".to_owned(),
                Err(e) => e,
            },
            Ok(r) => format!("HTTP {}", r.status().as_u16()),
            Err(e) => format!("no answer ({})", transport_kind(&e)),
        };
        if self.ecs().imdsv1_allowed {
            tracing::debug!(
                outcome = %outcome,
                "no IMDSv2 token from the metadata service; falling back to v1"
            );
            Ok(None)
        } else {
            Err(IdentityError::metadata(format!(
                "the metadata service gave no IMDSv2 token ({outcome}) and IMDSv1 is disabled"
            )))
        }
    }

    async fn get(&self, path: &str, token: Option<&SecretString>) -> Result<String, IdentityError> {
        let mut request = self.http.get(self.url(path));
        if let Some(token) = token {
            request = request.header(TOKEN_HEADER, token.expose_secret());
        }
        let response = request.send().await.map_err(|e| {
            IdentityError::metadata(format!(
                "the metadata service did not answer ({})",
                transport_kind(&e)
            ))
        })?;
        let status = response.status().as_u16();
        if status == 404 {
            return Err(IdentityError::metadata(
                "the metadata service knows no RAM role for this instance (HTTP 404)",
            ));
        }
        if !(200..300).contains(&status) {
            return Err(IdentityError::metadata(format!(
                "the metadata service answered HTTP {status}"
            )));
        }
        read_body(response).await.map_err(IdentityError::metadata)
    }

    async fn load(&self) -> Result<Fetched, IdentityError> {
        let token = self.session_token().await?;
        let role = match &self.ecs().role_name {
            Some(role) => role.clone(),
            None => {
                let listed = self.get(CREDENTIALS_PATH, token.as_ref()).await?;
                let role = listed.trim().to_owned();
                if !is_role_name(&role) {
                    return Err(IdentityError::metadata(
                        "the metadata service listed no usable RAM role name",
                    ));
                }
                role
            }
        };
        let body = self
            .get(&format!("{CREDENTIALS_PATH}{role}"), token.as_ref())
            .await?;
        let parsed: CredentialsBody = serde_json::from_str(&body).map_err(|e| {
            IdentityError::metadata(format!(
                "the metadata service's credentials for `{role}` are malformed (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        // protocol.md §4.4: the document must say `Code: Success`.
        if parsed.code != "Success" {
            return Err(IdentityError::metadata(format!(
                "the metadata service's credentials for `{role}` have Code `{}`",
                parsed.code.chars().take(64).collect::<String>()
            )));
        }
        if [
            &parsed.access_key_id,
            &parsed.access_key_secret,
            &parsed.security_token,
        ]
        .iter()
        .any(|v| v.trim().is_empty())
        {
            return Err(IdentityError::metadata(format!(
                "the metadata service's credentials for `{role}` have an empty field"
            )));
        }
        let expiration = DateTime::parse_from_rfc3339(&parsed.expiration)
            .map_err(|_| {
                IdentityError::metadata(format!(
                    "the metadata service's credentials for `{role}` have no RFC 3339 Expiration"
                ))
            })?
            .with_timezone(&Utc);
        Ok(Fetched {
            key: AccessKey {
                id: parsed.access_key_id,
                secret: SecretString::from(parsed.access_key_secret),
                security_token: Some(SecretString::from(parsed.security_token)),
            },
            expiration,
        })
    }
}

impl Fetch for ImdsFetcher {
    fn describe(&self) -> String {
        self.ecs().describe()
    }

    fn fetch(&self) -> BoxFuture<'_, Result<Fetched, IdentityError>> {
        Box::pin(self.load())
    }
}

async fn read_body(response: reqwest::Response) -> Result<String, String> {
    let bytes = response
        .bytes()
        .await
        .map_err(|e| format!("the metadata answer broke off ({})", transport_kind(&e)))?;
    if bytes.len() > MAX_BODY_BYTES {
        return Err(format!(
            "the metadata answer of {} bytes is too large",
            bytes.len()
        ));
    }
    String::from_utf8(bytes.to_vec()).map_err(|_| "the metadata answer is not UTF-8".into())
}

fn transport_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "connection broken"
    }
}
