//! Reading variables: one `Reader` that every section reads through, collecting problems in one
//! style (`VARIABLE: what is wrong`), and the value parsers the sections share. Each variable is
//! parsed in exactly one place; no message ever quotes a secret's value.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use super::variables;
use super::Problem;

pub(crate) struct Reader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    pub(crate) problems: Vec<Problem>,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self {
            lookup,
            problems: Vec::new(),
        }
    }

    /// The trimmed value; empty counts as unset. Only variables of the table (and `HOME`) are
    /// read, so the table is the whole truth about what the broker reads.
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        debug_assert!(
            name == "HOME" || variables::lookup(name).is_some(),
            "{name} is read but not in config::variables::VARIABLES"
        );
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    pub(crate) fn is_set(&self, name: &str) -> bool {
        self.get(name).is_some()
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

    /// A required value parsed with `parse`.
    pub(crate) fn required_parsed<T>(
        &mut self,
        name: &'static str,
        what: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let raw = self.required(name, what)?;
        match parse(&raw) {
            Ok(v) => Some(v),
            Err(reason) => {
                self.problem(name, reason);
                None
            }
        }
    }

    /// A whole number in `min..=max`, or `default` when unset.
    pub(crate) fn integer(
        &mut self,
        name: &'static str,
        default: u64,
        min: u64,
        max: u64,
    ) -> Option<u64> {
        self.parsed(name, Some(default), |raw| integer_in(raw, min, max))
    }

    /// `true` or `false` (any case); unset is `default`. The one way booleans are read.
    pub(crate) fn flag(&mut self, name: &'static str, default: bool) -> bool {
        self.parsed(name, Some(default), |raw| {
            match raw.to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err("must be `true` or `false`".into()),
            }
        })
        .unwrap_or(default)
    }
}

pub(crate) fn integer_in(raw: &str, min: u64, max: u64) -> Result<u64, String> {
    match raw.parse::<u64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(format!("must be a whole number from {min} to {max}")),
    }
}

/// An address with a port; `example` is the address the message suggests.
pub(crate) fn socket_addr(raw: &str, example_port: u16) -> Result<SocketAddr, String> {
    raw.parse::<SocketAddr>().map_err(|_| {
        format!(
            "must be an address with a port, e.g. 127.0.0.1:{example_port} or [::]:{example_port}"
        )
    })
}

/// `cn-hangzhou`, `ap-southeast-1`, `cn-shanghai-finance-1`: lower-case words joined by `-`.
pub(crate) fn is_region_id(raw: &str) -> bool {
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

/// `10.0.0.0/8, 192.168.1.7, ::1/128`: CIDRs or single addresses.
pub(crate) fn parse_cidrs(raw: &str) -> Result<Vec<IpNet>, String> {
    let mut nets = Vec::new();
    for (i, item) in raw.split(',').map(str::trim).enumerate() {
        if item.is_empty() {
            continue;
        }
        let net = item
            .parse::<IpNet>()
            .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
            .map_err(|_| format!("entry {} (`{item}`) is not a CIDR or IP address", i + 1))?;
        nets.push(net);
    }
    if nets.is_empty() {
        return Err("must list at least one CIDR".into());
    }
    Ok(nets)
}
