//! What the request reader (`super::request`) and the actions share: the API version, who
//! signed the request, and the timestamp check (protocol.md §1.3, §2.2). A leaf: it names no
//! other file of the STS emulator but the errors.

use chrono::{DateTime, Duration, Utc};

use crate::common::parse_utc_timestamp;

use super::errors::{fail, StsError};
use super::{Inner, Issued};

pub(super) const API_VERSION: &str = "2015-04-01";
/// protocol.md §2.2: sources disagree (31 vs 15 min); we enforce the stricter 15 minutes.
const MAX_SKEW_SECONDS: i64 = 15 * 60;

/// Who signed the request.
pub(super) enum Caller {
    User(usize),
    Role(Box<Issued>),
}

/// protocol.md §1.3, §2.2: a well-formed `Timestamp` within the allowed skew of the emulator's clock;
/// returns the emulator's "now".
pub(super) fn check_timestamp(inner: &Inner, timestamp: &str) -> Result<DateTime<Utc>, StsError> {
    let now = inner.clock.now();
    let ts = parse_utc_timestamp(timestamp).ok_or_else(|| fail("IllegalTimestamp"))?;
    if (now - ts).abs() > Duration::seconds(MAX_SKEW_SECONDS) {
        return Err(fail("InvalidTimeStamp.Expired"));
    }
    Ok(now)
}
