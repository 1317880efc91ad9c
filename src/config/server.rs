//! The server section: where the broker listens, which `Host` names it answers, how it logs
//! and how long it drains.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use super::reader::{socket_addr, Reader};
use crate::telemetry::{LogFormat, TracingSettings};

pub(super) const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);

/// The listener, logging and shutdown.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    pub log_format: LogFormat,
    pub shutdown_timeout: Duration,
    /// `BROKER_METRICS_LISTEN`: a separate address for `/metrics` (then it is not served on
    /// `listen`); `None` serves it on `listen`.
    pub metrics_listen: Option<SocketAddr>,
    /// `BROKER_ALLOWED_HOSTS`: the `Host` names the main listener answers.
    pub allowed_hosts: AllowedHosts,
    /// Trace export (`OTEL_EXPORTER_OTLP_ENDPOINT`…); `None`: no traces.
    pub tracing: Option<TracingSettings>,
}

/// `BROKER_ALLOWED_HOSTS`: which `Host` names the broker answers (any port). Anything else is
/// refused before authentication, so a page whose name is made to resolve to the broker's
/// address (DNS rebinding) cannot use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedHosts {
    /// Every `Host`: the default when the broker listens on a non-loopback address, or `*`.
    Any,
    /// Only these names, in the form [`host_name`] gives them.
    Only(Vec<String>),
}

/// The names a loopback listener answers by default (the contract's list).
pub(super) const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

impl AllowedHosts {
    /// The default for a listener on `listen`.
    pub fn default_for(listen: SocketAddr) -> Self {
        if listen.ip().is_loopback() {
            Self::Only(LOOPBACK_HOSTS.iter().map(|h| (*h).to_owned()).collect())
        } else {
            Self::Any
        }
    }

    /// Whether a request for `host` (a host name without its port, as [`host_name`] gives
    /// it) is answered.
    pub fn permits(&self, host: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Only(names) => names.iter().any(|n| n == host),
        }
    }

    pub fn is_any(&self) -> bool {
        matches!(self, Self::Any)
    }
}

/// A host name in one comparable form, or `None` when `raw` is not a host (RFC 3986 `host`,
/// without a port): a registered name in lower case without a trailing `.`, an IPv4 address
/// in dotted form, or an IPv6 address in brackets (`[::1]`), both as `std::net` writes them.
pub(super) fn host_name(raw: &str) -> Option<String> {
    if let Some(inner) = raw.strip_prefix('[') {
        let ip: Ipv6Addr = inner.strip_suffix(']')?.parse().ok()?;
        return Some(format!("[{ip}]"));
    }
    if let Ok(ip) = raw.parse::<Ipv4Addr>() {
        return Some(ip.to_string());
    }
    let name = raw.strip_suffix('.').unwrap_or(raw);
    let labels_ok = name.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    (labels_ok && name.len() <= 253).then(|| name.to_ascii_lowercase())
}

/// The host name of a `Host` header value (`name`, `name:port`, `[v6]:port`), as
/// [`host_name`] gives it; `None` when the value is not a host with an optional port.
pub fn host_of_header(value: &str) -> Option<String> {
    let (host, port) = if value.starts_with('[') {
        let end = value.find(']')?;
        let (host, rest) = value.split_at(end + 1);
        (host, rest.strip_prefix(':').unwrap_or(rest))
    } else {
        match value.rsplit_once(':') {
            Some((host, port)) => (host, port),
            None => (value, ""),
        }
    };
    if !port.bytes().all(|b| b.is_ascii_digit()) || port.len() > 5 {
        return None;
    }
    host_name(host)
}

/// `BROKER_ALLOWED_HOSTS`: `*`, or comma-separated host names without ports.
fn allowed_hosts(raw: &str) -> Result<AllowedHosts, String> {
    if raw == "*" {
        return Ok(AllowedHosts::Any);
    }
    let mut names = Vec::new();
    for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        match host_name(entry) {
            Some(name) => {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
            None if host_of_header(entry).is_some() => {
                return Err(format!(
                    "`{entry}`: list host names without a port (every port is answered)"
                ))
            }
            None => {
                return Err(format!(
                    "`{entry}` is not a host name, an IPv4 address or a bracketed IPv6 address; \
                     use `*` for any host"
                ))
            }
        }
    }
    if names.is_empty() {
        return Err("must name at least one host, or be `*`".into());
    }
    Ok(AllowedHosts::Only(names))
}

/// `BROKER_LISTEN`, the one parser of it (`serve`, `demo` and `healthcheck` all use this).
pub(crate) fn listen(r: &mut Reader<'_>) -> Option<SocketAddr> {
    r.parsed("BROKER_LISTEN", Some(DEFAULT_LISTEN), |raw| {
        socket_addr(raw, 8080)
    })
}

/// `BROKER_LOG_FORMAT`; `default` differs between `serve` (JSON) and `demo` (pretty).
pub(crate) fn log_format(r: &mut Reader<'_>, default: LogFormat) -> Option<LogFormat> {
    r.parsed("BROKER_LOG_FORMAT", Some(default), |raw| match raw {
        "json" => Ok(LogFormat::Json),
        "pretty" => Ok(LogFormat::Pretty),
        _ => Err("must be `json` or `pretty`".into()),
    })
}

pub(crate) fn read(r: &mut Reader<'_>) -> Option<ServerSettings> {
    let listen = listen(r);
    let log_format = log_format(r, LogFormat::Json);
    let shutdown = r.integer("BROKER_SHUTDOWN_TIMEOUT_SECONDS", 30, 0, 3600);
    // Unset, or the same address as BROKER_LISTEN: served on the main listener (port 0 means
    // "any free port", so two of them are two listeners).
    let metrics_listen = r
        .parsed("BROKER_METRICS_LISTEN", None, |raw| socket_addr(raw, 9090))
        .filter(|addr| Some(*addr) != listen || addr.port() == 0);
    let allowed_hosts = r.parsed("BROKER_ALLOWED_HOSTS", None, allowed_hosts);
    let tracing = super::tracing::read(r);
    let listen = listen?;
    Some(ServerSettings {
        listen,
        log_format: log_format?,
        shutdown_timeout: Duration::from_secs(shutdown?),
        metrics_listen,
        allowed_hosts: match allowed_hosts {
            Some(hosts) => hosts,
            None if r.is_set("BROKER_ALLOWED_HOSTS") => return None,
            None => AllowedHosts::default_for(listen),
        },
        tracing: tracing?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_with(vars: &[(&str, &str)]) -> (Option<ServerSettings>, Vec<String>) {
        let map: std::collections::HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let lookup = move |name: &str| map.get(name).cloned();
        let mut r = Reader::new(&lookup);
        let settings = read(&mut r);
        let problems = r
            .problems
            .iter()
            .map(|p| format!("{}: {}", p.variable, p.reason))
            .collect();
        (settings, problems)
    }

    fn hosts(vars: &[(&str, &str)]) -> AllowedHosts {
        let (settings, problems) = read_with(vars);
        assert!(problems.is_empty(), "{problems:?}");
        settings.unwrap().allowed_hosts
    }

    #[test]
    fn loopback_listeners_answer_loopback_names_by_default() {
        let loopback =
            AllowedHosts::Only(vec!["localhost".into(), "127.0.0.1".into(), "[::1]".into()]);
        assert_eq!(hosts(&[]), loopback);
        assert_eq!(hosts(&[("BROKER_LISTEN", "[::1]:9000")]), loopback);
        assert_eq!(
            hosts(&[("BROKER_LISTEN", "0.0.0.0:8080")]),
            AllowedHosts::Any
        );
        assert_eq!(
            hosts(&[("BROKER_LISTEN", "10.1.2.3:8080")]),
            AllowedHosts::Any
        );
        // Explicit lists replace the default, either way.
        assert_eq!(
            hosts(&[
                ("BROKER_LISTEN", "0.0.0.0:8080"),
                (
                    "BROKER_ALLOWED_HOSTS",
                    "Upload.Example.com., 10.0.0.7,[0:0::1]"
                )
            ]),
            AllowedHosts::Only(vec![
                "upload.example.com".into(),
                "10.0.0.7".into(),
                "[::1]".into(),
            ])
        );
        assert_eq!(hosts(&[("BROKER_ALLOWED_HOSTS", "*")]), AllowedHosts::Any);
    }

    #[test]
    fn bad_lists_name_the_variable() {
        for bad in [
            "broker.example.com:8080",
            "[::1]:8080",
            "https://broker.example.com",
            "broker example",
            "a..b",
            "*.example.com",
            ",",
            "user@host",
        ] {
            let (settings, problems) = read_with(&[("BROKER_ALLOWED_HOSTS", bad)]);
            assert!(settings.is_none(), "{bad}");
            assert_eq!(problems.len(), 1, "{bad}: {problems:?}");
            assert!(
                problems[0].starts_with("BROKER_ALLOWED_HOSTS: "),
                "{problems:?}"
            );
        }
        let (_, problems) = read_with(&[("BROKER_ALLOWED_HOSTS", "h:1")]);
        assert!(problems[0].contains("without a port"), "{problems:?}");
    }

    #[test]
    fn host_headers_are_compared_without_port_and_case() {
        let only = AllowedHosts::default_for(DEFAULT_LISTEN);
        for ok in [
            "localhost",
            "LOCALHOST:8080",
            "localhost.:1",
            "127.0.0.1:8080",
            "[::1]:8080",
            "[0:0:0:0:0:0:0:1]",
            "localhost:",
        ] {
            let host = host_of_header(ok).unwrap_or_else(|| panic!("{ok}"));
            assert!(only.permits(&host), "{ok}");
        }
        for refused in [
            "attacker.example",
            "localhost.attacker.example:8080",
            "127.0.0.2:8080",
            "127.1:8080",
            "[::2]:8080",
            "0.0.0.0:8080",
        ] {
            assert!(
                !host_of_header(refused).is_some_and(|h| only.permits(&h)),
                "{refused}"
            );
        }
        for malformed in [
            "",
            "localhost:80a",
            "localhost:123456",
            "[::1",
            "[::1]x",
            "a b",
            "local%68ost",
            "user@localhost",
            "localhost:8080:1",
        ] {
            assert_eq!(host_of_header(malformed), None, "{malformed:?}");
        }
    }
}
