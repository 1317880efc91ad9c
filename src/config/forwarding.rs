//! `BROKER_FORWARDED_HEADER` and `BROKER_FORWARDING_PROXIES`: where the client's address comes
//! from behind a load balancer (`client_address::Forwarding`).

use super::reader::{parse_cidrs, Reader};
use crate::client_address::{ForwardedHeader, Forwarding};

/// `None` when either variable is invalid, or a header is named without proxies.
pub(crate) fn read(r: &mut Reader<'_>) -> Option<Forwarding> {
    let header = r.parsed(
        "BROKER_FORWARDED_HEADER",
        Some(ForwardedHeader::None),
        ForwardedHeader::parse,
    )?;
    let proxies = r.parsed("BROKER_FORWARDING_PROXIES", Some(None), |raw| {
        parse_cidrs(raw).map(Some)
    });
    let proxies = proxies?;
    match (header, proxies) {
        (ForwardedHeader::None, Some(_)) => {
            r.problem(
                "BROKER_FORWARDING_PROXIES",
                "is set but BROKER_FORWARDED_HEADER is none; name the header the proxies \
                 append to (x-forwarded-for or forwarded), or unset it",
            );
            None
        }
        (ForwardedHeader::None, None) => Some(Forwarding::off()),
        (header, None) => {
            r.problem(
                "BROKER_FORWARDING_PROXIES",
                format!(
                    "BROKER_FORWARDED_HEADER={} needs the CIDRs of the proxies whose header is \
                     believed (the load balancer's or ingress's addresses as the broker sees them)",
                    header.as_str()
                ),
            );
            None
        }
        (header, Some(proxies)) => Some(Forwarding { header, proxies }),
    }
}
