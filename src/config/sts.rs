//! The STS section (endpoints, timeouts, budgets) and the credentials section (role, lifetime,
//! refresh window, handout floor, cache size): the settings of `sts::StsClient` and of the
//! `Issuer`.

use std::time::Duration;

use super::reader::{is_region_id, web_url, Reader};
use crate::credentials::RoleArn;
use crate::issuer::NewCallerLimits;
use crate::sts::client::StsConfig;

pub(crate) fn read_sts(r: &mut Reader<'_>) -> Option<StsConfig> {
    let region = r.parsed("BROKER_STS_REGION", None, |raw| {
        if is_region_id(raw) {
            Ok(raw.to_owned())
        } else {
            Err("must be a region id such as cn-hangzhou".into())
        }
    });
    let default_endpoint = match &region {
        Some(region) => format!("https://sts.{region}.aliyuncs.com"),
        None => "https://sts.aliyuncs.com".to_owned(),
    };
    let endpoints = r.parsed(
        "BROKER_STS_ENDPOINT",
        Some(vec![
            reqwest::Url::parse(&default_endpoint).expect("default endpoint is a URL")
        ]),
        |raw| {
            raw.split(',')
                .map(str::trim)
                .enumerate()
                .map(|(i, one)| web_url(one, false).map_err(|e| format!("endpoint {}: {e}", i + 1)))
                .collect::<Result<Vec<_>, _>>()
        },
    );
    let retry_budget = r.integer("BROKER_STS_RETRY_BUDGET_MS", 8000, 1, 120_000);
    let max_qps = r.integer("BROKER_STS_MAX_QPS", 50, 1, 10_000);
    let connect = r.integer("BROKER_STS_CONNECT_TIMEOUT_MS", 5000, 1, 60_000);
    let total = r.integer("BROKER_STS_TIMEOUT_MS", 10_000, 1, 120_000);
    let reserve = r.integer("BROKER_STS_REFRESH_RESERVE_PERCENT", 20, 0, 90);
    Some(StsConfig {
        endpoints: endpoints?,
        connect_timeout: Duration::from_millis(connect?),
        timeout: Duration::from_millis(total?),
        retry_budget: Duration::from_millis(retry_budget?),
        max_qps: max_qps? as u32,
        refresh_reserve_percent: reserve? as u8,
    })
}

/// The first-time-caller limits. The overall one defaults to `BROKER_STS_MAX_QPS` (at least 10):
/// no more new scopes a second than the budget could load.
pub(crate) fn read_new_callers(
    r: &mut Reader<'_>,
    sts: Option<&StsConfig>,
) -> Option<NewCallerLimits> {
    let per_address = r.integer(
        "BROKER_NEW_CALLERS_PER_ADDRESS_PER_MINUTE",
        600,
        0,
        1_000_000,
    );
    let default_overall = sts.map_or(10, |s| u64::from(s.max_qps).max(10));
    let overall = r.integer("BROKER_NEW_CALLERS_PER_SECOND", default_overall, 0, 100_000);
    Some(NewCallerLimits {
        per_address_per_minute: per_address? as u32,
        per_second: overall? as u32,
    })
}

/// The credentials section, before it is joined with the upload section into an
/// `IssuerConfig`.
pub(crate) struct Lifetimes {
    pub role_arn: RoleArn,
    pub duration_seconds: u32,
    pub refresh_ahead_seconds: u32,
    pub min_ttl_seconds: u32,
    pub cache_max_entries: u64,
    pub refresh_jitter: Duration,
    /// `BROKER_REFRESH_AHEAD_SECONDS` and `BROKER_MIN_TTL_SECONDS` as set (not derived from the
    /// duration), for profiles with a duration of their own.
    pub explicit_windows: Windows,
}

pub(crate) fn read_lifetimes(r: &mut Reader<'_>) -> Option<Lifetimes> {
    let role_arn = r.required_parsed(
        "BROKER_ROLE_ARN",
        "the role credentials are issued for, acs:ram::<account>:role/<name>",
        RoleArn::parse,
    );
    let duration = r
        .integer("BROKER_DURATION_SECONDS", 3600, 900, 43_200)
        .map(|v| v as u32);
    let (window, floor, explicit_windows) = refresh_windows(r, duration);
    let cache_max_entries = r.integer("BROKER_CACHE_MAX_ENTRIES", 10_000, 1, 10_000_000);
    let jitter = r.integer("BROKER_REFRESH_JITTER_MS", 5000, 0, 60_000);
    Some(Lifetimes {
        role_arn: role_arn?,
        duration_seconds: duration?,
        refresh_ahead_seconds: window?,
        min_ttl_seconds: floor?,
        cache_max_entries: cache_max_entries?,
        refresh_jitter: Duration::from_millis(jitter?),
        explicit_windows,
    })
}

/// `BROKER_REFRESH_AHEAD_SECONDS` and `BROKER_MIN_TTL_SECONDS`, each when set.
pub(crate) type Windows = (Option<u32>, Option<u32>);

/// The refresh window and the handout floor. Unset, both scale with the credential lifetime
/// (a quarter and a twelfth: 900 s and 300 s for 3600 s, 225 s and 75 s for 900 s), so short
/// credentials are not refreshed on every request. Set, they are honoured as given when
/// `floor <= window < duration`.
fn refresh_windows(
    r: &mut Reader<'_>,
    duration: Option<u32>,
) -> (Option<u32>, Option<u32>, Windows) {
    let window = r.parsed("BROKER_REFRESH_AHEAD_SECONDS", None, |raw| {
        super::reader::integer_in(raw, 1, 43_199).map(|v| v as u32)
    });
    let floor = r.parsed("BROKER_MIN_TTL_SECONDS", None, |raw| {
        super::reader::integer_in(raw, 0, 43_199).map(|v| v as u32)
    });
    // As set (not derived), for profiles with a duration of their own.
    let explicit = (window, floor);
    let Some(duration) = duration else {
        return (None, None, explicit);
    };
    let window_set = r.is_set("BROKER_REFRESH_AHEAD_SECONDS");
    let floor_set = r.is_set("BROKER_MIN_TTL_SECONDS");
    if (window_set && window.is_none()) || (floor_set && floor.is_none()) {
        return (None, None, explicit); // already reported
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
        (Some(window), Some(floor), explicit)
    } else {
        (None, None, explicit)
    }
}

/// The refresh window and floor of a profile with its own `duration`: the environment's when
/// set, otherwise scaled as for the environment's own duration.
pub(crate) fn profile_windows(duration: u32, explicit: Windows) -> Result<(u32, u32), String> {
    let window = explicit.0.unwrap_or(duration / 4);
    let floor = explicit.1.unwrap_or(duration / 12);
    if window >= duration {
        return Err(format!(
            "{duration} is not more than the refresh window BROKER_REFRESH_AHEAD_SECONDS ({window})"
        ));
    }
    if floor > window {
        return Err(format!(
            "gives a handout floor ({floor} s) above the refresh window ({window} s)"
        ));
    }
    Ok((window, floor))
}
