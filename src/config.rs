//! Raw environment → validated [`Settings`]. Every problem is collected and reported at once,
//! naming the variable; nothing here binds sockets or talks to the network, and no secret value
//! is ever part of a message.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::identity::Identity;
use crate::policy::{upload_session_policy, BucketName, CallerId, UploadPrefix};
use crate::sts::types::RoleArn;

/// How callers are authenticated (`BROKER_AUTH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Every caller is `anonymous`.
    None,
    /// `Authorization: Bearer <JWT>`; the caller is a claim (`sub`).
    Jwt,
    /// A configured API key (bearer or `X-Api-Key`) names the caller.
    ApiKey,
    /// A trusted sidecar/proxy names the caller in a header.
    Header,
}

impl AuthMode {
    /// The `BROKER_AUTH` spelling, also used in audit lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Jwt => "jwt",
            Self::ApiKey => "api-key",
            Self::Header => "header",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// Everything the broker needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub identity: Identity,
    pub role_arn: RoleArn,
    /// Tried in order on retryable failures.
    pub sts_endpoints: Vec<reqwest::Url>,
    pub sts_connect_timeout: Duration,
    pub sts_timeout: Duration,
    /// Total time one credential load may spend on STS, retries included.
    pub sts_retry_budget: Duration,
    pub sts_max_qps: u32,
    pub duration_seconds: u32,
    /// A cached credential with less validity left is refreshed in the background.
    pub refresh_ahead_seconds: u32,
    /// A credential with less validity left is never handed out.
    pub min_ttl_seconds: u32,
    pub cache_max_entries: u64,
    /// Upper bound of the random delay before a background refresh starts.
    pub refresh_jitter: Duration,
    pub bucket: BucketName,
    pub region: String,
    pub upload_host: String,
    pub upload_prefix: UploadPrefix,
    pub auth: AuthMode,
    /// Authentication details, CORS and rate limits (issue 4).
    pub access: crate::auth::settings::AccessSettings,
    pub log_format: LogFormat,
    pub shutdown_timeout: Duration,
    /// `BROKER_METRICS_LISTEN`: a separate address for `/metrics` (then it is not served on
    /// `listen`); `None` serves it on `listen`.
    pub metrics_listen: Option<SocketAddr>,
    /// Server-side POST signing (`/getPostObjectParams`, `sts-broker cors`).
    pub post: PostSettings,
}

/// Which OSS PostObject signature `/getPostObjectParams` produces (`BROKER_POST_SIGNATURE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostSignature {
    /// HMAC-SHA1 over the Base64 policy (spec §5.4).
    V1,
    /// `OSS4-HMAC-SHA256` with the `aliyun_v4` derived key (spec §5.5).
    V4,
}

/// Settings of the server-side signing flow and of the bucket CORS set-up.
#[derive(Debug, Clone)]
pub struct PostSettings {
    pub signature: PostSignature,
    /// `BROKER_POST_POLICY_TTL_SECONDS`: how long a signed policy is valid (capped by the
    /// signing credential's own expiry).
    pub policy_ttl: Duration,
    /// `BROKER_MAX_UPLOAD_BYTES`: upper bound of `content-length-range`.
    pub max_upload_bytes: u64,
    /// `BROKER_ALLOWED_CONTENT_TYPES`: when non-empty, an `in` condition on `$content-type`.
    pub allowed_content_types: Vec<String>,
    /// The bucket's own URL for OSS API calls (`PutBucketCors`), without a trailing `/`:
    /// `https://<bucket>.oss-<region>.aliyuncs.com`, or path-style `http://127.0.0.1:<port>/<bucket>`.
    pub oss_endpoint: String,
}

/// One offending variable and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub variable: &'static str,
    pub reason: String,
}

/// All configuration problems found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

impl ConfigError {
    pub fn mentions(&self, variable: &str) -> bool {
        self.problems.iter().any(|p| p.variable == variable)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid configuration ({} problem{}):",
            self.problems.len(),
            if self.problems.len() == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            write!(f, "\n  {}: {}", p.variable, p.reason)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

pub(crate) struct Reader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    pub(crate) problems: Vec<Problem>,
}

impl Reader<'_> {
    /// The trimmed value; empty counts as unset.
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    pub(crate) fn problem(&mut self, variable: &'static str, reason: impl Into<String>) {
        self.problems.push(Problem {
            variable,
            reason: reason.into(),
        });
    }

    pub(crate) fn required(&mut self, name: &'static str, what: &str) -> Option<String> {
        let value = self.get(name);
        if value.is_none() {
            self.problem(name, format!("is required ({what})"));
        }
        value
    }

    /// Parses a value with `parse`, or uses `default` when unset.
    pub(crate) fn parsed<T>(
        &mut self,
        name: &'static str,
        default: Option<T>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        match self.get(name) {
            None => default,
            Some(raw) => match parse(&raw) {
                Ok(v) => Some(v),
                Err(reason) => {
                    self.problem(name, reason);
                    None
                }
            },
        }
    }
}

pub(crate) fn integer_in(raw: &str, min: u64, max: u64) -> Result<u64, String> {
    match raw.parse::<u64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(format!("must be a whole number from {min} to {max}")),
    }
}

/// `cn-hangzhou`, `ap-southeast-1`, `cn-shanghai-finance-1`: lower-case words joined by `-`.
fn is_region_id(raw: &str) -> bool {
    let mut parts = raw.split('-');
    let first_ok = parts
        .next()
        .is_some_and(|p| p.len() >= 2 && p.bytes().all(|b| b.is_ascii_lowercase()));
    let rest: Vec<&str> = parts.collect();
    first_ok
        && !raw.starts_with("oss-")
        && !rest.is_empty()
        && raw.len() <= 64
        && rest.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

pub(crate) fn is_loopback_host(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// An `https://` URL (or `http://` on a loopback host), without credentials, query or fragment.
pub(crate) fn web_url(raw: &str, allow_path: bool) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(raw).map_err(|e| format!("is not a URL ({e})"))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback_host(&url) => {}
        "http" => {
            return Err("plain http:// is accepted only for loopback hosts; use https://".into())
        }
        other => return Err(format!("scheme `{other}` is not supported; use https://")),
    }
    if url.host().is_none() {
        return Err("has no host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment".into());
    }
    if !allow_path && url.path() != "/" {
        return Err("must not have a path".into());
    }
    Ok(url)
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    /// Reads from a map (tests, `demo`), with exactly the rules of [`Settings::from_env`].
    pub fn from_map(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        Self::from_lookup(&|name| vars.get(name).cloned())
    }

    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = Reader {
            lookup,
            problems: Vec::new(),
        };

        let listen = r.parsed(
            "BROKER_LISTEN",
            Some(SocketAddr::from(([127, 0, 0, 1], 8080))),
            |raw| {
                raw.parse::<SocketAddr>().map_err(|_| {
                    "must be an address with a port, e.g. 127.0.0.1:8080 or [::]:8080".into()
                })
            },
        );

        let identity = read_identity(&mut r);

        let role_arn = r
            .required(
                "BROKER_ROLE_ARN",
                "the role credentials are issued for, acs:ram::<account>:role/<name>",
            )
            .and_then(|raw| match RoleArn::parse(&raw) {
                Ok(arn) => Some(arn),
                Err(reason) => {
                    r.problem("BROKER_ROLE_ARN", reason);
                    None
                }
            });

        let sts_region = r.parsed("BROKER_STS_REGION", None, |raw| {
            if is_region_id(raw) {
                Ok(raw.to_owned())
            } else {
                Err("must be a region id such as cn-hangzhou".into())
            }
        });
        let default_endpoint = match &sts_region {
            Some(region) => format!("https://sts.{region}.aliyuncs.com"),
            None => "https://sts.aliyuncs.com".to_owned(),
        };
        let sts_endpoints = r.parsed(
            "BROKER_STS_ENDPOINT",
            Some(vec![
                reqwest::Url::parse(&default_endpoint).expect("default endpoint is a URL")
            ]),
            |raw| {
                raw.split(',')
                    .map(str::trim)
                    .enumerate()
                    .map(|(i, one)| {
                        web_url(one, false).map_err(|e| format!("endpoint {}: {e}", i + 1))
                    })
                    .collect::<Result<Vec<_>, _>>()
            },
        );
        let sts_retry_budget = r.parsed("BROKER_STS_RETRY_BUDGET_MS", Some(8000), |raw| {
            integer_in(raw, 1, 120_000)
        });
        let sts_max_qps = r.parsed("BROKER_STS_MAX_QPS", Some(50), |raw| {
            integer_in(raw, 1, 10_000).map(|v| v as u32)
        });
        let cache_max_entries = r.parsed("BROKER_CACHE_MAX_ENTRIES", Some(10_000), |raw| {
            integer_in(raw, 1, 10_000_000)
        });

        let sts_connect_timeout = r.parsed("BROKER_STS_CONNECT_TIMEOUT_MS", Some(5000), |raw| {
            integer_in(raw, 1, 60_000)
        });
        let sts_timeout = r.parsed("BROKER_STS_TIMEOUT_MS", Some(10_000), |raw| {
            integer_in(raw, 1, 120_000)
        });

        let duration_seconds = r.parsed("BROKER_DURATION_SECONDS", Some(3600), |raw| {
            integer_in(raw, 900, 43_200).map(|v| v as u32)
        });

        let (refresh_ahead_seconds, min_ttl_seconds) = refresh_windows(&mut r, duration_seconds);

        let bucket = r
            .required("BROKER_BUCKET", "the OSS bucket clients upload to")
            .and_then(|raw| match BucketName::parse(&raw) {
                Ok(b) => Some(b),
                Err(reason) => {
                    r.problem("BROKER_BUCKET", reason);
                    None
                }
            });
        let region = r
            .required("BROKER_REGION", "the bucket's region id, e.g. cn-hangzhou")
            .and_then(|raw| {
                if is_region_id(&raw) {
                    Some(raw)
                } else {
                    r.problem(
                        "BROKER_REGION",
                        "must be a region id such as cn-hangzhou (plain id, without an `oss-` prefix)",
                    );
                    None
                }
            });
        let upload_host = r.parsed("BROKER_UPLOAD_HOST", None, |raw| {
            web_url(raw, true).map(|u| u.as_str().trim_end_matches('/').to_owned())
        });
        let upload_host = upload_host.or_else(|| match (&bucket, &region) {
            (Some(b), Some(reg)) => Some(format!("https://{}.oss-{reg}.aliyuncs.com", b.as_str())),
            _ => None,
        });
        let upload_prefix = r.parsed(
            "BROKER_UPLOAD_PREFIX",
            Some(UploadPrefix::parse("uploads/${sub}/").expect("default prefix is valid")),
            UploadPrefix::parse,
        );

        let auth = r
            .required(
                "BROKER_AUTH",
                "how callers are authenticated: none, jwt, api-key or header",
            )
            .and_then(|raw| match raw.as_str() {
                "none" => Some(AuthMode::None),
                "jwt" => Some(AuthMode::Jwt),
                "api-key" => Some(AuthMode::ApiKey),
                "header" => Some(AuthMode::Header),
                _ => {
                    r.problem("BROKER_AUTH", "must be one of none, jwt, api-key, header");
                    None
                }
            });

        let access = crate::auth::settings::read(&mut r, auth, listen);

        let log_format = r.parsed(
            "BROKER_LOG_FORMAT",
            Some(LogFormat::Json),
            |raw| match raw {
                "json" => Ok(LogFormat::Json),
                "pretty" => Ok(LogFormat::Pretty),
                _ => Err("must be `json` or `pretty`".into()),
            },
        );
        let shutdown_timeout = r.parsed("BROKER_SHUTDOWN_TIMEOUT_SECONDS", Some(30), |raw| {
            integer_in(raw, 0, 3600)
        });

        let post = read_post_settings(&mut r, bucket.as_ref(), region.as_deref());

        // Unset, or the same address as BROKER_LISTEN: served on the main listener (port 0
        // means "any free port", so two of them are two listeners).
        let metrics_listen = r
            .parsed("BROKER_METRICS_LISTEN", None, |raw| {
                raw.parse::<SocketAddr>().map_err(|_| {
                    "must be an address with a port, e.g. 127.0.0.1:9090 or [::]:9090".into()
                })
            })
            .filter(|addr| Some(*addr) != listen || addr.port() == 0);

        // The longest possible caller id must still give a policy STS accepts.
        if let (Some(bucket), Some(prefix)) = (&bucket, &upload_prefix) {
            let longest = CallerId::parse(&"x".repeat(CallerId::MAX_LEN)).expect("valid id");
            if let Err(e) = upload_session_policy(bucket, &prefix.render(&longest)) {
                r.problem(
                    "BROKER_UPLOAD_PREFIX",
                    format!("too long together with BROKER_BUCKET: {e}"),
                );
            }
        }

        let refresh_jitter = r.parsed("BROKER_REFRESH_JITTER_MS", Some(5000), |raw| {
            integer_in(raw, 0, 60_000)
        });
        let tuning = (
            refresh_jitter,
            sts_retry_budget,
            sts_max_qps,
            refresh_ahead_seconds,
            min_ttl_seconds,
            cache_max_entries,
        );
        match (
            listen,
            identity,
            role_arn,
            sts_endpoints,
            sts_connect_timeout,
            sts_timeout,
            duration_seconds,
            bucket,
            region,
            upload_host,
            upload_prefix,
            auth,
            access,
            log_format,
            shutdown_timeout,
            tuning,
            post,
        ) {
            (
                Some(listen),
                Some(identity),
                Some(role_arn),
                Some(sts_endpoints),
                Some(connect),
                Some(total),
                Some(duration_seconds),
                Some(bucket),
                Some(region),
                Some(upload_host),
                Some(upload_prefix),
                Some(auth),
                Some(access),
                Some(log_format),
                Some(shutdown),
                (
                    Some(refresh_jitter),
                    Some(retry_budget),
                    Some(sts_max_qps),
                    Some(refresh_ahead_seconds),
                    Some(min_ttl_seconds),
                    Some(cache_max_entries),
                ),
                Some(post),
            ) if r.problems.is_empty() => Ok(Settings {
                listen,
                identity,
                role_arn,
                sts_endpoints,
                sts_connect_timeout: Duration::from_millis(connect),
                sts_timeout: Duration::from_millis(total),
                sts_retry_budget: Duration::from_millis(retry_budget),
                sts_max_qps,
                duration_seconds,
                refresh_ahead_seconds,
                min_ttl_seconds,
                cache_max_entries,
                refresh_jitter: Duration::from_millis(refresh_jitter),
                bucket,
                region,
                upload_host,
                upload_prefix,
                auth,
                access,
                log_format,
                shutdown_timeout: Duration::from_secs(shutdown),
                metrics_listen,
                post,
            }),
            _ => Err(ConfigError {
                problems: r.problems,
            }),
        }
    }
}

/// The refresh window and the handout floor. Unset, both scale with the credential lifetime
/// (a quarter and a twelfth: 900 s and 300 s for 3600 s, 225 s and 75 s for 900 s), so short
/// credentials are not refreshed on every request. Set, they are honoured as given when
/// `floor <= window < duration`.
fn refresh_windows(r: &mut Reader<'_>, duration: Option<u32>) -> (Option<u32>, Option<u32>) {
    let window = r.parsed("BROKER_REFRESH_AHEAD_SECONDS", None, |raw| {
        integer_in(raw, 1, 43_199).map(|v| v as u32)
    });
    let floor = r.parsed("BROKER_MIN_TTL_SECONDS", None, |raw| {
        integer_in(raw, 0, 43_199).map(|v| v as u32)
    });
    let Some(duration) = duration else {
        return (None, None);
    };
    let window_set = r.get("BROKER_REFRESH_AHEAD_SECONDS").is_some();
    let floor_set = r.get("BROKER_MIN_TTL_SECONDS").is_some();
    if (window_set && window.is_none()) || (floor_set && floor.is_none()) {
        return (None, None); // already reported
    }
    let window = window.unwrap_or(duration / 4);
    let floor = floor.unwrap_or(duration / 12);
    let mut ok = true;
    if window >= duration {
        r.problem(
            "BROKER_REFRESH_AHEAD_SECONDS",
            format!("{window} must be less than BROKER_DURATION_SECONDS ({duration})"),
        );
        ok = false;
    }
    if floor > window {
        let (variable, detail) = if floor_set {
            ("BROKER_MIN_TTL_SECONDS", "")
        } else {
            (
                "BROKER_REFRESH_AHEAD_SECONDS",
                " (the default floor is a twelfth of the duration)",
            )
        };
        r.problem(
            variable,
            format!(
                "the floor BROKER_MIN_TTL_SECONDS ({floor}) must not exceed the refresh window BROKER_REFRESH_AHEAD_SECONDS ({window}){detail}"
            ),
        );
        ok = false;
    }
    if ok {
        (Some(window), Some(floor))
    } else {
        (None, None)
    }
}

/// OSS allows objects up to 5 GB through PostObject (spec §5.1).
const MAX_POST_OBJECT_BYTES: u64 = 5 * 1024 * 1024 * 1024;

/// A MIME type as `type/subtype`: token characters only, so it can never carry a `$`, a comma
/// or anything that needs escaping in a policy.
fn is_mime_type(raw: &str) -> bool {
    let token = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#&-^_.+".contains(&b))
    };
    raw.len() <= 255
        && raw
            .split_once('/')
            .is_some_and(|(t, s)| token(t) && token(s))
}

/// Whether `url` is the bucket's own OSS host (virtual-hosted) or a loopback emulator whose
/// path is the bucket (path-style); anything else is a custom domain that cannot take API calls.
fn is_bucket_api_url(url: &reqwest::Url, bucket: &BucketName, region: &str) -> bool {
    let expected = format!("{}.oss-{region}.aliyuncs.com", bucket.as_str());
    let virtual_hosted = url
        .host_str()
        .is_some_and(|h| h.eq_ignore_ascii_case(&expected))
        && url.path() == "/";
    let path_style = is_loopback_host(url)
        && url.path().trim_end_matches('/') == format!("/{}", bucket.as_str());
    virtual_hosted || path_style
}

fn read_post_settings(
    r: &mut Reader<'_>,
    bucket: Option<&BucketName>,
    region: Option<&str>,
) -> Option<PostSettings> {
    let signature = r.parsed(
        "BROKER_POST_SIGNATURE",
        Some(PostSignature::V4),
        |raw| match raw {
            "v4" => Ok(PostSignature::V4),
            "v1" => Ok(PostSignature::V1),
            _ => Err("must be `v4` (OSS4-HMAC-SHA256) or `v1` (HMAC-SHA1)".into()),
        },
    );
    // V4 requests are valid at most 7 days from x-oss-date (spec §5.5); a day is plenty.
    let policy_ttl = r.parsed("BROKER_POST_POLICY_TTL_SECONDS", Some(600), |raw| {
        integer_in(raw, 10, 86_400)
    });
    let max_upload_bytes = r.parsed("BROKER_MAX_UPLOAD_BYTES", Some(10_485_760), |raw| {
        integer_in(raw, 1, MAX_POST_OBJECT_BYTES)
    });
    let allowed_content_types = r.parsed("BROKER_ALLOWED_CONTENT_TYPES", Some(Vec::new()), |raw| {
        let list: Vec<String> = raw
            .split(',')
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty())
            .collect();
        match list.iter().find(|t| !is_mime_type(t)) {
            Some(bad) => Err(format!(
                "`{bad}` is not a MIME type; write a comma-separated list such as image/jpeg,image/png"
            )),
            None => Ok(list),
        }
    });
    let explicit_endpoint = r.parsed("BROKER_OSS_ENDPOINT", None, |raw| web_url(raw, true));
    let upload_host = r
        .get("BROKER_UPLOAD_HOST")
        .and_then(|raw| web_url(&raw, true).ok());
    let oss_endpoint = match (bucket, region) {
        (Some(bucket), Some(region)) => {
            let derived = explicit_endpoint
                .or_else(|| upload_host.filter(|u| is_bucket_api_url(u, bucket, region)));
            Some(match derived {
                Some(url) => url.as_str().trim_end_matches('/').to_owned(),
                None => format!("https://{}.oss-{region}.aliyuncs.com", bucket.as_str()),
            })
        }
        _ => None,
    };
    Some(PostSettings {
        signature: signature?,
        policy_ttl: Duration::from_secs(policy_ttl?),
        max_upload_bytes: max_upload_bytes?,
        allowed_content_types: allowed_content_types?,
        oss_endpoint: oss_endpoint?,
    })
}

/// The broker's own identity: the first configured source of the provider chain
/// ([`crate::identity::resolve`]); its problems join everyone else's.
fn read_identity(r: &mut Reader<'_>) -> Option<Identity> {
    let resolved = crate::identity::resolve(&|name| r.get(name));
    match resolved {
        Ok(identity) => Some(identity),
        Err(problems) => {
            for p in problems {
                r.problem(p.variable, p.reason);
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> HashMap<String, String> {
        [
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAI5tExampleKey"),
            (
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
                "do-not-print-this-secret",
            ),
            ("BROKER_ROLE_ARN", "acs:ram::1234567890123456:role/uploader"),
            ("BROKER_BUCKET", "examplebucket"),
            ("BROKER_REGION", "cn-hangzhou"),
            ("BROKER_AUTH", "none"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn with(changes: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let mut vars = base();
        for (k, v) in changes {
            if v.is_empty() {
                vars.remove(*k);
            } else {
                vars.insert((*k).to_owned(), (*v).to_owned());
            }
        }
        Settings::from_map(&vars)
    }

    #[test]
    fn defaults() {
        let s = with(&[]).unwrap();
        assert_eq!(s.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(s.sts_endpoints[0].as_str(), "https://sts.aliyuncs.com/");
        assert_eq!(s.sts_endpoints.len(), 1);
        assert_eq!((s.refresh_ahead_seconds, s.min_ttl_seconds), (900, 300));
        assert_eq!((s.sts_max_qps, s.cache_max_entries), (50, 10_000));
        assert_eq!(s.duration_seconds, 3600);
        assert_eq!(
            s.upload_host,
            "https://examplebucket.oss-cn-hangzhou.aliyuncs.com"
        );
        assert_eq!(s.auth, AuthMode::None);
        assert_eq!(s.log_format, LogFormat::Json);
        assert_eq!(s.metrics_listen, None);
        let separate = with(&[("BROKER_METRICS_LISTEN", "0.0.0.0:9090")]).unwrap();
        assert_eq!(
            separate.metrics_listen,
            Some("0.0.0.0:9090".parse().unwrap())
        );
        let same = with(&[("BROKER_METRICS_LISTEN", "127.0.0.1:8080")]).unwrap();
        assert_eq!(same.metrics_listen, None);
        assert!(matches!(&s.identity, Identity::Static(k) if k.security_token.is_none()));
        let regional = with(&[("BROKER_STS_REGION", "ap-southeast-1")]).unwrap();
        assert_eq!(
            regional.sts_endpoints[0].as_str(),
            "https://sts.ap-southeast-1.aliyuncs.com/"
        );
    }

    #[test]
    fn table_of_invalid_values() {
        let table: &[(&str, &str)] = &[
            ("BROKER_LISTEN", "localhost"),
            ("BROKER_ROLE_ARN", "acs:ram::123:user/bob"),
            ("BROKER_ROLE_ARN", "role/uploader"),
            ("BROKER_DURATION_SECONDS", "899"),
            ("BROKER_DURATION_SECONDS", "43201"),
            ("BROKER_DURATION_SECONDS", "1h"),
            ("BROKER_STS_ENDPOINT", "http://sts.aliyuncs.com"),
            ("BROKER_STS_ENDPOINT", "http://10.0.0.1:8080"),
            ("BROKER_STS_ENDPOINT", "ftp://127.0.0.1"),
            ("BROKER_STS_ENDPOINT", "https://sts.aliyuncs.com/?x=1"),
            ("BROKER_STS_ENDPOINT", "https://user:pw@sts.aliyuncs.com"),
            ("BROKER_STS_ENDPOINT", "not a url"),
            ("BROKER_STS_REGION", "Hangzhou"),
            ("BROKER_REGION", "oss-cn-hangzhou"),
            ("BROKER_REGION", "cn_hangzhou"),
            ("BROKER_BUCKET", "Example_Bucket"),
            ("BROKER_BUCKET", "ab"),
            ("BROKER_UPLOAD_HOST", "http://cdn.example.com"),
            ("BROKER_UPLOAD_PREFIX", "uploads/"),
            ("BROKER_UPLOAD_PREFIX", "uploads/${sub}"),
            ("BROKER_UPLOAD_PREFIX", "../${sub}/"),
            ("BROKER_AUTH", "basic"),
            ("BROKER_LOG_FORMAT", "xml"),
            ("BROKER_METRICS_LISTEN", "9090"),
            ("BROKER_STS_TIMEOUT_MS", "0"),
            ("BROKER_SHUTDOWN_TIMEOUT_SECONDS", "-1"),
            (
                "BROKER_STS_ENDPOINT",
                "https://sts.aliyuncs.com,http://10.1.1.1",
            ),
            ("BROKER_STS_MAX_QPS", "0"),
            ("BROKER_CACHE_MAX_ENTRIES", "many"),
            ("BROKER_REFRESH_AHEAD_SECONDS", "3600"),
            ("BROKER_REFRESH_AHEAD_SECONDS", "200"),
            ("BROKER_MIN_TTL_SECONDS", "1000"),
            ("BROKER_POST_SIGNATURE", "v2"),
            ("BROKER_POST_POLICY_TTL_SECONDS", "0"),
            ("BROKER_POST_POLICY_TTL_SECONDS", "86401"),
            ("BROKER_MAX_UPLOAD_BYTES", "0"),
            ("BROKER_MAX_UPLOAD_BYTES", "5368709121"),
            ("BROKER_ALLOWED_CONTENT_TYPES", "image/jpeg,jpeg"),
            ("BROKER_ALLOWED_CONTENT_TYPES", "image/$x"),
            ("BROKER_CORS_ORIGINS", "https://app.example.com/path"),
            ("BROKER_CORS_ORIGINS", "app.example.com"),
            ("BROKER_OSS_ENDPOINT", "http://oss.example.com"),
        ];
        for (var, value) in table {
            let err = with(&[(var, value)]).expect_err(&format!("{var}={value} accepted"));
            assert!(err.mentions(var), "{var}={value}: {err}");
            assert_eq!(err.problems.len(), 1, "{var}={value}: {err}");
        }
    }

    #[test]
    fn refresh_windows_scale_or_are_honoured() {
        let short = with(&[("BROKER_DURATION_SECONDS", "900")]).unwrap();
        assert_eq!(
            (short.refresh_ahead_seconds, short.min_ttl_seconds),
            (225, 75)
        );
        let long = with(&[("BROKER_DURATION_SECONDS", "43200")]).unwrap();
        assert_eq!(
            (long.refresh_ahead_seconds, long.min_ttl_seconds),
            (10800, 3600)
        );
        let set = with(&[
            ("BROKER_REFRESH_AHEAD_SECONDS", "1200"),
            ("BROKER_MIN_TTL_SECONDS", "600"),
        ])
        .unwrap();
        assert_eq!(
            (set.refresh_ahead_seconds, set.min_ttl_seconds),
            (1200, 600)
        );
        let err = with(&[
            ("BROKER_REFRESH_AHEAD_SECONDS", "400"),
            ("BROKER_MIN_TTL_SECONDS", "500"),
        ])
        .unwrap_err();
        assert!(err.mentions("BROKER_MIN_TTL_SECONDS"), "{err}");
    }

    #[test]
    fn several_sts_endpoints_in_order() {
        let s = with(&[(
            "BROKER_STS_ENDPOINT",
            "https://sts.cn-hangzhou.aliyuncs.com, https://sts.aliyuncs.com",
        )])
        .unwrap();
        let hosts: Vec<_> = s
            .sts_endpoints
            .iter()
            .map(|u| u.host_str().unwrap())
            .collect();
        assert_eq!(hosts, ["sts.cn-hangzhou.aliyuncs.com", "sts.aliyuncs.com"]);
    }

    #[test]
    fn post_settings_defaults_and_values() {
        let s = with(&[]).unwrap();
        assert_eq!(s.post.signature, PostSignature::V4);
        assert_eq!(s.post.policy_ttl, Duration::from_secs(600));
        assert_eq!(s.post.max_upload_bytes, 10_485_760);
        assert!(s.post.allowed_content_types.is_empty() && s.access.cors_origins.is_empty());
        assert_eq!(
            s.post.oss_endpoint,
            "https://examplebucket.oss-cn-hangzhou.aliyuncs.com"
        );
        let s = with(&[
            ("BROKER_POST_SIGNATURE", "v1"),
            ("BROKER_ALLOWED_CONTENT_TYPES", " image/JPEG, image/png ,"),
            (
                "BROKER_CORS_ORIGINS",
                "https://App.Example.com, http://localhost:5173",
            ),
            ("BROKER_UPLOAD_HOST", "http://127.0.0.1:9000/examplebucket"),
        ])
        .unwrap();
        assert_eq!(s.post.signature, PostSignature::V1);
        assert_eq!(s.post.allowed_content_types, ["image/jpeg", "image/png"]);
        assert_eq!(
            s.access.cors_origins,
            ["https://app.example.com", "http://localhost:5173"]
        );
        assert_eq!(s.post.oss_endpoint, "http://127.0.0.1:9000/examplebucket");
        // A custom domain cannot take API calls: the bucket's own host is used instead.
        let s = with(&[("BROKER_UPLOAD_HOST", "https://cdn.example.com")]).unwrap();
        assert_eq!(
            s.post.oss_endpoint,
            "https://examplebucket.oss-cn-hangzhou.aliyuncs.com"
        );
        let s = with(&[
            ("BROKER_UPLOAD_HOST", "https://cdn.example.com"),
            (
                "BROKER_OSS_ENDPOINT",
                "https://examplebucket.oss-cn-hangzhou-internal.aliyuncs.com/",
            ),
        ])
        .unwrap();
        assert_eq!(
            s.post.oss_endpoint,
            "https://examplebucket.oss-cn-hangzhou-internal.aliyuncs.com"
        );
    }

    #[test]
    fn http_is_accepted_for_loopback_only() {
        for ok in [
            "http://127.0.0.1:9000",
            "http://localhost:9",
            "http://[::1]:80",
        ] {
            assert!(with(&[("BROKER_STS_ENDPOINT", ok)]).is_ok(), "{ok}");
        }
        assert!(with(&[("BROKER_UPLOAD_HOST", "http://127.0.0.1:9000/bucket")]).is_ok());
    }

    #[test]
    fn every_problem_is_reported_at_once_without_secrets() {
        let vars: HashMap<String, String> = [
            (
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
                "do-not-print-this-secret",
            ),
            ("BROKER_DURATION_SECONDS", "5"),
            ("BROKER_AUTH", "api-key"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let err = Settings::from_map(&vars).unwrap_err();
        for var in [
            "ALIBABA_CLOUD_ACCESS_KEY_ID",
            "BROKER_ROLE_ARN",
            "BROKER_DURATION_SECONDS",
            "BROKER_BUCKET",
            "BROKER_REGION",
            "BROKER_API_KEYS",
        ] {
            assert!(err.mentions(var), "{var} missing from {err}");
        }
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("do-not-print-this-secret"));
        assert!(shown.contains("BROKER_API_KEYS"), "{shown}");
    }

    #[test]
    fn settings_debug_redacts_the_secret() {
        let s = with(&[("ALIBABA_CLOUD_SECURITY_TOKEN", "CAIS-broker-token")]).unwrap();
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("do-not-print-this-secret") && !shown.contains("CAIS-broker-token")
        );
    }
}
