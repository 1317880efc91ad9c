//! The client's address behind a load balancer: `BROKER_FORWARDED_HEADER` names the header a
//! proxy in `BROKER_FORWARDING_PROXIES` appends the address it received a request from to
//! (`X-Forwarded-For`, or RFC 7239 `Forwarded`), and [`Forwarding::client_address`] walks that
//! header from the right, past every trusted proxy, to the first address no trusted proxy
//! owns. A header from any other peer is ignored: that peer is the client. Every per-address
//! limit counts [`limit_key`] of the result, so an IPv6 client is one /64.
//!
//! Pure functions on header values; no I/O.

use std::net::{IpAddr, Ipv6Addr};

use actix_web::http::header::{HeaderMap, HeaderName};
use ipnet::IpNet;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const FORWARDED: HeaderName = HeaderName::from_static("forwarded");

/// `BROKER_FORWARDED_HEADER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForwardedHeader {
    /// The TCP peer is the client.
    #[default]
    None,
    /// `X-Forwarded-For: client, proxy1, proxy2`.
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
}

impl ForwardedHeader {
    /// The configuration's spelling.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(Self::None),
            "x-forwarded-for" => Ok(Self::XForwardedFor),
            "forwarded" => Ok(Self::Forwarded),
            _ => Err("must be one of none, x-forwarded-for, forwarded".into()),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::XForwardedFor => "x-forwarded-for",
            Self::Forwarded => "forwarded",
        }
    }
}

/// `BROKER_FORWARDED_HEADER` with `BROKER_FORWARDING_PROXIES` (never empty unless the header
/// is `none`; the configuration refuses a header without proxies).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forwarding {
    pub header: ForwardedHeader,
    pub proxies: Vec<IpNet>,
}

impl Forwarding {
    /// No header: the peer is the client.
    pub fn off() -> Self {
        Self::default()
    }

    /// Whether a header is read at all.
    pub fn enabled(&self) -> bool {
        self.header != ForwardedHeader::None
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        self.proxies.iter().any(|net| net.contains(&ip))
    }

    /// The client's address of a request from `peer` with `headers`.
    ///
    /// From a trusted peer, the header's addresses are walked from the right: a trusted one is
    /// the next proxy, the first untrusted one is the client. An entry that is not an address
    /// (`unknown`, an obfuscated `Forwarded` node, garbage) ends the walk at the last address
    /// a trusted proxy vouched for; so does the header's left end when every entry is trusted.
    /// Only the trusted proxies' own appends are believed, whatever a client wrote further left.
    pub fn client_address(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer.map(|ip| ip.to_canonical());
        let name = match self.header {
            ForwardedHeader::None => return peer,
            ForwardedHeader::XForwardedFor => &X_FORWARDED_FOR,
            ForwardedHeader::Forwarded => &FORWARDED,
        };
        let mut current = peer?;
        if !self.trusted(current) {
            return Some(current);
        }
        let mut hops = Vec::new();
        for value in headers.get_all(name) {
            match value.to_str() {
                Ok(text) => match self.header {
                    ForwardedHeader::Forwarded => hops.extend(forwarded_hops(text)),
                    _ => hops.extend(x_forwarded_for_hops(text)),
                },
                // Not text: no address can be read from it.
                Err(_) => hops.push(None),
            }
        }
        for hop in hops.into_iter().rev() {
            let Some(ip) = hop else {
                return Some(current);
            };
            current = ip;
            if !self.trusted(ip) {
                return Some(ip);
            }
        }
        Some(current)
    }
}

/// The key every per-address limit counts: an IPv4 address itself, an IPv6 address's /64
/// (one subscriber usually holds a whole /64 and picks addresses in it freely).
pub fn limit_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        v4 => v4,
    }
}

/// The entries of one `X-Forwarded-For` value, left to right; `None` for one that is not an
/// address. Entries may carry a port (`192.0.2.1:4711`, `[2001:db8::1]:4711`).
pub fn x_forwarded_for_hops(value: &str) -> Vec<Option<IpAddr>> {
    value
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(node_address)
        .collect()
}

/// The `for=` node of each element of one RFC 7239 `Forwarded` value, left to right; `None`
/// for an element without `for` or whose node is not an address (`unknown`, `_hidden`).
pub fn forwarded_hops(value: &str) -> Vec<Option<IpAddr>> {
    split_unquoted(value, ',')
        .into_iter()
        .filter(|element| !element.trim().is_empty())
        .map(|element| {
            let mut node = None;
            for pair in split_unquoted(element, ';') {
                let (name, raw) = pair.split_once('=')?;
                if name.trim().eq_ignore_ascii_case("for") {
                    if node.is_some() {
                        // `for` twice in one element: ambiguous.
                        return None;
                    }
                    node = Some(unquote(raw.trim())?);
                }
            }
            node.and_then(|n| node_address(&n))
        })
        .collect()
}

/// Splits at `sep` outside double-quoted strings (RFC 7230 quoted-string, `\` escapes).
fn split_unquoted(text: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            parts.push(&text[start..i]);
            start = i + 1;
        }
    }
    parts.push(&text[start..]);
    parts
}

/// A token or a quoted string's content; `None` for an unterminated quote.
fn unquote(raw: &str) -> Option<String> {
    let Some(inner) = raw.strip_prefix('"') else {
        return Some(raw.to_owned());
    };
    let inner = inner.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' { chars.next()? } else { c });
    }
    Some(out)
}

/// `192.0.2.1`, `192.0.2.1:80`, `2001:db8::1`, `[2001:db8::1]`, `[2001:db8::1]:80`.
fn node_address(node: &str) -> Option<IpAddr> {
    let node = node.trim();
    let ip = if let Some(rest) = node.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || port(after.strip_prefix(':')?)) {
            return None;
        }
        IpAddr::V6(inside.parse().ok()?)
    } else if let Ok(ip) = node.parse::<IpAddr>() {
        ip
    } else {
        let (host, p) = node.rsplit_once(':')?;
        if !port(p) {
            return None;
        }
        IpAddr::V4(host.parse().ok()?)
    };
    Some(ip.to_canonical())
}

fn port(text: &str) -> bool {
    !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn forwarding(header: ForwardedHeader, proxies: &[&str]) -> Forwarding {
        Forwarding {
            header,
            proxies: proxies.iter().map(|p| p.parse().unwrap()).collect(),
        }
    }

    fn headers(name: &'static str, values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(
                HeaderName::from_static(name),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    #[test]
    fn rfc7239_examples() {
        // RFC 7239 §4 and §7.1.
        assert_eq!(forwarded_hops(r#"for="_gazonk""#), vec![None]);
        assert_eq!(
            forwarded_hops(r#"For="[2001:db8:cafe::17]:4711""#),
            vec![Some(ip("2001:db8:cafe::17"))]
        );
        assert_eq!(
            forwarded_hops("for=192.0.2.60;proto=http;by=203.0.113.43"),
            vec![Some(ip("192.0.2.60"))]
        );
        assert_eq!(
            forwarded_hops("for=192.0.2.43, for=198.51.100.17"),
            vec![Some(ip("192.0.2.43")), Some(ip("198.51.100.17"))]
        );
        assert_eq!(forwarded_hops("for=unknown"), vec![None]);
        // No `for`, `for` twice, an open quote: no address.
        assert_eq!(forwarded_hops("proto=https"), vec![None]);
        assert_eq!(forwarded_hops("for=192.0.2.1;for=192.0.2.2"), vec![None]);
        assert_eq!(forwarded_hops(r#"for="192.0.2.1"#), vec![None]);
        // A comma inside quotes does not split elements.
        assert_eq!(
            forwarded_hops(r#"for=192.0.2.9;host="a,b", for="192.0.2.10:80""#),
            vec![Some(ip("192.0.2.9")), Some(ip("192.0.2.10"))]
        );
        // An IPv6 node must be bracketed in Forwarded; a bare one reads as an address too,
        // but a bracket without a port after it is refused.
        assert_eq!(forwarded_hops(r#"for="[2001:db8::1]x""#), vec![None]);
    }

    #[test]
    fn x_forwarded_for_entries() {
        assert_eq!(
            x_forwarded_for_hops("203.0.113.7, 10.0.0.2:8080 ,2001:db8::5,[2001:db8::6]:443,junk"),
            vec![
                Some(ip("203.0.113.7")),
                Some(ip("10.0.0.2")),
                Some(ip("2001:db8::5")),
                Some(ip("2001:db8::6")),
                None
            ]
        );
        assert_eq!(
            x_forwarded_for_hops("::ffff:192.0.2.1"),
            vec![Some(ip("192.0.2.1"))]
        );
        assert_eq!(x_forwarded_for_hops("192.0.2.1:99999x"), vec![None]);
        assert!(x_forwarded_for_hops(" , ").is_empty());
    }

    #[test]
    fn right_most_untrusted_from_a_trusted_peer() {
        let f = forwarding(ForwardedHeader::XForwardedFor, &["10.0.0.0/8"]);
        let h = headers(
            "x-forwarded-for",
            &["198.51.100.1, 203.0.113.7", "10.0.0.3"],
        );
        // 10.0.0.3 is a trusted proxy; 203.0.113.7 is the client; 198.51.100.1 was written
        // by the client and is not believed.
        assert_eq!(
            f.client_address(Some(ip("10.0.0.2")), &h),
            Some(ip("203.0.113.7"))
        );
        // From an untrusted peer the header is ignored.
        assert_eq!(
            f.client_address(Some(ip("192.0.2.50")), &h),
            Some(ip("192.0.2.50"))
        );
        // No header from a trusted peer: the peer.
        assert_eq!(
            f.client_address(Some(ip("10.0.0.2")), &HeaderMap::new()),
            Some(ip("10.0.0.2"))
        );
        // All trusted: the left-most.
        let all = headers("x-forwarded-for", &["10.1.1.1, 10.2.2.2"]);
        assert_eq!(
            f.client_address(Some(ip("10.0.0.2")), &all),
            Some(ip("10.1.1.1"))
        );
        // Garbage right of the client ends the walk at the last trusted address.
        let bad = headers("x-forwarded-for", &["203.0.113.7, unknown, 10.2.2.2"]);
        assert_eq!(
            f.client_address(Some(ip("10.0.0.2")), &bad),
            Some(ip("10.2.2.2"))
        );
        // No peer: nothing to go by.
        assert_eq!(f.client_address(None, &h), None);
    }

    #[test]
    fn forwarded_header_and_none() {
        let f = forwarding(ForwardedHeader::Forwarded, &["::1/128", "127.0.0.0/8"]);
        let h = headers(
            "forwarded",
            &[r#"for="[2001:db8:cafe::17]:4711";proto=https"#],
        );
        assert_eq!(
            f.client_address(Some(ip("::1")), &h),
            Some(ip("2001:db8:cafe::17"))
        );
        // An IPv4-mapped peer is its IPv4 address.
        assert_eq!(
            f.client_address(Some(ip("::ffff:127.0.0.1")), &h),
            Some(ip("2001:db8:cafe::17"))
        );
        // X-Forwarded-For is not read when Forwarded is configured.
        let xff = headers("x-forwarded-for", &["203.0.113.7"]);
        assert_eq!(f.client_address(Some(ip("::1")), &xff), Some(ip("::1")));
        let off = Forwarding::off();
        assert_eq!(off.client_address(Some(ip("::1")), &h), Some(ip("::1")));
    }

    #[test]
    fn ipv6_limited_per_64() {
        assert_eq!(limit_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(
            limit_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")),
            ip("2001:db8:1:2::")
        );
        assert_ne!(limit_key(ip("2001:db8:1:3::1")), ip("2001:db8:1:2::"));
        assert_eq!(limit_key(ip("192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(limit_key(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
    }

    #[test]
    fn header_names() {
        assert_eq!(
            ForwardedHeader::parse("X-Forwarded-For"),
            Ok(ForwardedHeader::XForwardedFor)
        );
        assert_eq!(
            ForwardedHeader::parse("forwarded"),
            Ok(ForwardedHeader::Forwarded)
        );
        assert_eq!(ForwardedHeader::parse("none"), Ok(ForwardedHeader::None));
        assert!(ForwardedHeader::parse("x-real-ip").is_err());
    }
}
