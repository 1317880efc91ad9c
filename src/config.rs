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
    pub sts_endpoint: reqwest::Url,
    pub sts_connect_timeout: Duration,
    pub sts_timeout: Duration,
    pub duration_seconds: u32,
    pub bucket: BucketName,
    pub region: String,
    pub upload_host: String,
    pub upload_prefix: UploadPrefix,
    pub auth: AuthMode,
    pub log_format: LogFormat,
    pub shutdown_timeout: Duration,
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

/// Variables the contract names but this version does not implement yet; setting one gets a
/// startup warning instead of silently doing nothing.
pub const NOT_YET_SUPPORTED: &[&str] = &[
    "BROKER_REFRESH_AHEAD_SECONDS",
    "BROKER_MIN_TTL_SECONDS",
    "BROKER_MAX_UPLOAD_BYTES",
    "BROKER_POST_SIGNATURE",
    "BROKER_JWT_HS256_SECRET",
    "BROKER_JWT_JWKS_URL",
    "BROKER_JWT_ISSUER",
    "BROKER_JWT_AUDIENCE",
    "BROKER_CORS_ORIGINS",
    "BROKER_RATE_LIMIT_PER_MINUTE",
    "BROKER_METRICS_LISTEN",
];

struct Reader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<Problem>,
}

impl Reader<'_> {
    /// The trimmed value; empty counts as unset.
    fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn problem(&mut self, variable: &'static str, reason: impl Into<String>) {
        self.problems.push(Problem {
            variable,
            reason: reason.into(),
        });
    }

    fn required(&mut self, name: &'static str, what: &str) -> Option<String> {
        let value = self.get(name);
        if value.is_none() {
            self.problem(name, format!("is required ({what})"));
        }
        value
    }

    /// Parses a value with `parse`, or uses `default` when unset.
    fn parsed<T>(
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

fn integer_in(raw: &str, min: u64, max: u64) -> Result<u64, String> {
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

fn is_loopback_host(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// An `https://` URL (or `http://` on a loopback host), without credentials, query or fragment.
fn web_url(raw: &str, allow_path: bool) -> Result<reqwest::Url, String> {
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
        let sts_endpoint = r.parsed(
            "BROKER_STS_ENDPOINT",
            Some(reqwest::Url::parse(&default_endpoint).expect("default endpoint is a URL")),
            |raw| web_url(raw, false),
        );

        let sts_connect_timeout = r.parsed("BROKER_STS_CONNECT_TIMEOUT_MS", Some(5000), |raw| {
            integer_in(raw, 1, 60_000)
        });
        let sts_timeout = r.parsed("BROKER_STS_TIMEOUT_MS", Some(10_000), |raw| {
            integer_in(raw, 1, 120_000)
        });

        let duration_seconds = r.parsed("BROKER_DURATION_SECONDS", Some(3600), |raw| {
            integer_in(raw, 900, 43_200).map(|v| v as u32)
        });

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
                "how callers are authenticated; `none` in this version",
            )
            .and_then(|raw| match raw.as_str() {
                "none" => Some(AuthMode::None),
                "jwt" | "api-key" | "header" => {
                    r.problem(
                        "BROKER_AUTH",
                        format!("`{raw}` is not available in this version yet; use `none`"),
                    );
                    None
                }
                _ => {
                    r.problem("BROKER_AUTH", "must be one of none, jwt, api-key, header");
                    None
                }
            });

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

        match (
            listen,
            identity,
            role_arn,
            sts_endpoint,
            sts_connect_timeout,
            sts_timeout,
            duration_seconds,
            bucket,
            region,
            upload_host,
            upload_prefix,
            auth,
            log_format,
            shutdown_timeout,
        ) {
            (
                Some(listen),
                Some(identity),
                Some(role_arn),
                Some(sts_endpoint),
                Some(connect),
                Some(total),
                Some(duration_seconds),
                Some(bucket),
                Some(region),
                Some(upload_host),
                Some(upload_prefix),
                Some(auth),
                Some(log_format),
                Some(shutdown),
            ) if r.problems.is_empty() => Ok(Settings {
                listen,
                identity,
                role_arn,
                sts_endpoint,
                sts_connect_timeout: Duration::from_millis(connect),
                sts_timeout: Duration::from_millis(total),
                duration_seconds,
                bucket,
                region,
                upload_host,
                upload_prefix,
                auth,
                log_format,
                shutdown_timeout: Duration::from_secs(shutdown),
            }),
            _ => Err(ConfigError {
                problems: r.problems,
            }),
        }
    }

    /// Names of contract variables that are set but not implemented by this version.
    pub fn unsupported_variables_set(lookup: &dyn Fn(&str) -> Option<String>) -> Vec<&'static str> {
        NOT_YET_SUPPORTED
            .iter()
            .copied()
            .filter(|name| lookup(name).is_some_and(|v| !v.trim().is_empty()))
            .collect()
    }
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
        assert_eq!(s.sts_endpoint.as_str(), "https://sts.aliyuncs.com/");
        assert_eq!(s.duration_seconds, 3600);
        assert_eq!(
            s.upload_host,
            "https://examplebucket.oss-cn-hangzhou.aliyuncs.com"
        );
        assert_eq!(s.auth, AuthMode::None);
        assert_eq!(s.log_format, LogFormat::Json);
        assert!(matches!(&s.identity, Identity::Static(k) if k.security_token.is_none()));
        let regional = with(&[("BROKER_STS_REGION", "ap-southeast-1")]).unwrap();
        assert_eq!(
            regional.sts_endpoint.as_str(),
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
            ("BROKER_AUTH", "jwt"),
            ("BROKER_AUTH", "basic"),
            ("BROKER_LOG_FORMAT", "xml"),
            ("BROKER_STS_TIMEOUT_MS", "0"),
            ("BROKER_SHUTDOWN_TIMEOUT_SECONDS", "-1"),
        ];
        for (var, value) in table {
            let err = with(&[(var, value)]).expect_err(&format!("{var}={value} accepted"));
            assert!(err.mentions(var), "{var}={value}: {err}");
            assert_eq!(err.problems.len(), 1, "{var}={value}: {err}");
        }
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
            "BROKER_AUTH",
        ] {
            assert!(err.mentions(var), "{var} missing from {err}");
        }
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("do-not-print-this-secret"));
        assert!(shown.contains("not available in this version yet"));
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
