//! `sts-broker healthcheck`: one `GET /healthz` (or `/readyz` with `--ready`) against the
//! broker's own `BROKER_LISTEN`, for container health checks in an image without curl. Its
//! caller reads only `BROKER_LISTEN` (through `config`); it never needs, loads or prints any
//! credential.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(3);

/// The address to probe for a listen address: a wildcard bind is probed on loopback.
pub fn probe_address(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// Probes `path` on the broker listening on `listen`; `Ok` only for a 200 answer.
pub async fn run(listen: SocketAddr, path: &str) -> Result<(), String> {
    let url = format!("http://{}{path}", probe_address(listen));
    let client = crate::http_client::client(TIMEOUT, TIMEOUT)
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let response = client
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("{url}: no answer ({e})"))?;
    match response.status().as_u16() {
        200 => Ok(()),
        status => Err(format!("{url}: HTTP {status}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_binds_are_probed_on_loopback() {
        let p = |s: &str| probe_address(s.parse().unwrap()).to_string();
        assert_eq!(p("0.0.0.0:8080"), "127.0.0.1:8080");
        assert_eq!(p("[::]:9000"), "[::1]:9000");
        assert_eq!(p("10.1.2.3:80"), "10.1.2.3:80");
    }
}
