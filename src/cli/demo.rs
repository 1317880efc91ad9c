//! `sts-broker demo`: the broker with built-in emulators (`crate::demo`).

use std::process::ExitCode;

use crate::cli::env::{load_dotenv, warn_unknown_in_log, warn_unknown_on_stderr};
use crate::config::{self, LogFormat};
use crate::telemetry;

/// Reads only the listener, log format and rate limits; serves until Ctrl-C or SIGTERM.
pub async fn run() -> ExitCode {
    let _ = load_dotenv();
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
