//! `sts-broker healthcheck [--ready]`.

use std::process::ExitCode;

use crate::cli::env::load_dotenv;
use crate::config::{self, LogFormat};

/// Asks the broker on `BROKER_LISTEN` for `path`: 0 for a 200 answer, 1 for anything else, 2
/// when `BROKER_LISTEN` is not an address with a port.
pub async fn run(path: &str) -> ExitCode {
    let _ = load_dotenv();
    let listen = match config::listen_and_log_format_from_env(LogFormat::Json) {
        Ok((listen, _)) => listen,
        Err(e) => {
            eprintln!("sts-broker healthcheck: {e}");
            return ExitCode::from(2);
        }
    };
    match crate::healthcheck::run(listen, path).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sts-broker healthcheck: {e}");
            ExitCode::from(1)
        }
    }
}
