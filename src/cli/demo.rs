//! `sts-broker demo`: the broker with built-in emulators (`crate::demo`).

use std::process::ExitCode;

use crate::cli::env::{load_dotenv, warn_unknown_in_log, warn_unknown_on_stderr};
use crate::config::variables::VARIABLES;
use crate::config::{self, LogFormat};
use crate::telemetry;

/// What the demo reads; `sts-broker demo --help` lists the same.
const DEMO_READS: &[&str] = &[
    "BROKER_LISTEN",
    "BROKER_LOG_FORMAT",
    "BROKER_RATE_LIMIT_PER_MINUTE",
    "BROKER_RATE_LIMIT_BURST",
    "RUST_LOG",
];

/// Variables of the broker that are set (in the environment or `.env`) but that the demo does
/// not read: it brings its own emulators and configuration, so they change nothing.
fn ignored_by_the_demo(is_set: impl Fn(&str) -> bool) -> Vec<&'static str> {
    VARIABLES
        .iter()
        .map(|v| v.name)
        .filter(|name| !DEMO_READS.contains(name) && is_set(name))
        .collect()
}

/// Reads only the listener, log format and rate limits; serves until Ctrl-C or SIGTERM. A
/// malformed `.env` and set variables it does not read are warned about, never fatal.
pub async fn run() -> ExitCode {
    if let Err(e) = load_dotenv() {
        eprintln!("sts-broker demo: warning: {e}; the demo goes on without the rest of .env");
    }
    let ignored = ignored_by_the_demo(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()));
    if !ignored.is_empty() {
        eprintln!(
            "sts-broker demo: warning: the demo brings its own emulators and configuration and \
             ignores {} (it reads only {})",
            ignored.join(", "),
            DEMO_READS.join(", ")
        );
    }
    let unknown = config::unknown_variables_in_env();
    let (listen, format) = match config::listen_and_log_format_from_env(LogFormat::Pretty) {
        Ok(found) => found,
        Err(e) => {
            eprintln!("sts-broker demo: {e}");
            warn_unknown_on_stderr("sts-broker demo", &unknown);
            return ExitCode::from(2);
        }
    };
    // The emulator's and the server framework's own chatter is noise in a demo.
    let _log_guard = telemetry::init(format, "info,actix_server=warn", None);
    warn_unknown_in_log(&unknown);
    match crate::demo::run(listen).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sts-broker demo: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_variables_the_demo_does_not_read_are_named() {
        let set = [
            "BROKER_REDIS_URL",
            "BROKER_LISTEN",
            "BROKER_AUTH",
            "RUST_LOG",
        ];
        let ignored = ignored_by_the_demo(|name| set.contains(&name));
        assert!(ignored.contains(&"BROKER_REDIS_URL") && ignored.contains(&"BROKER_AUTH"));
        assert_eq!(ignored.len(), 2, "{ignored:?}");
    }
}
