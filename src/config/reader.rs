//! Reading variables: one `Reader` that every section reads through, collecting problems in one
//! style (`VARIABLE: what is wrong`), and the value parsers the sections share. Each variable is
//! parsed in exactly one place; no message ever quotes a secret's value.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use super::variables;
use super::Problem;

/// What every placeholder in `.env.example` (and in the deployment examples) contains.
pub(crate) const PLACEHOLDER: &str = "REPLACE_WITH_";

/// The one message for a value still as `.env.example` has it, whatever else is wrong with it:
/// the user never typed it, so its shape is not theirs to fix.
pub(crate) const EXAMPLE_VALUE: &str =
    "is still the example value from .env.example (REPLACE_WITH_…); set the real value";

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

    /// Records a problem. A variable whose value still holds a [`PLACEHOLDER`] gets
    /// [`EXAMPLE_VALUE`] instead, once, whatever the section found wrong with it.
    pub(crate) fn problem(&mut self, variable: &'static str, reason: impl Into<String>) {
        let example = (self.lookup)(variable).is_some_and(|v| v.contains(PLACEHOLDER));
        if example && self.problems.iter().any(|p| p.variable == variable) {
            return;
        }
        self.problems.push(Problem {
            variable,
            reason: if example {
                EXAMPLE_VALUE.to_owned()
            } else {
                reason.into()
            },
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

/// An IP address with a port; `example_port` is the port the message suggests. A host name
/// (`localhost:8080`) is refused as such: the listener binds one address, and a name may
/// resolve to several or change.
pub(crate) fn socket_addr(raw: &str, example_port: u16) -> Result<SocketAddr, String> {
    raw.parse::<SocketAddr>().map_err(|_| {
        let named_host = raw.rsplit_once(':').is_some_and(|(host, port)| {
            port.parse::<u16>().is_ok()
                && !host.is_empty()
                && host.parse::<IpAddr>().is_err()
                && !host.starts_with('[')
        });
        if named_host {
            format!(
                "host names are not accepted, only an IP address with a port: \
                 127.0.0.1:{example_port} for this machine only (localhost), \
                 0.0.0.0:{example_port} or [::]:{example_port} for every interface"
            )
        } else {
            format!(
                "must be an IP address with a port, e.g. 127.0.0.1:{example_port} or [::]:{example_port}"
            )
        }
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
