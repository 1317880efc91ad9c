//! The server section: where the broker listens, how it logs and how long it drains.

use std::net::SocketAddr;
use std::time::Duration;

use super::reader::{socket_addr, Reader};
use crate::telemetry::LogFormat;

pub const DEFAULT_LISTEN: SocketAddr =
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
    Some(ServerSettings {
        listen: listen?,
        log_format: log_format?,
        shutdown_timeout: Duration::from_secs(shutdown?),
        metrics_listen,
    })
}
