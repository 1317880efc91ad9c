//! What every command reads first: `.env`, the settings, and warnings about set variables the
//! broker does not read.

use std::process::ExitCode;

use crate::config::{self, Settings, UnknownVariable};

/// Loads `.env` into the environment (a missing file is fine); the message never quotes a value.
pub fn load_dotenv() -> Result<(), String> {
    match dotenvy::dotenv() {
        Ok(_) => Ok(()),
        Err(e) if e.not_found() => Ok(()),
        // dotenvy's own message quotes the offending line, which may hold a secret.
        Err(dotenvy::Error::LineParse(line, at)) => {
            let name: String = line
                .split('=')
                .next()
                .unwrap_or_default()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .take(64)
                .collect();
            Err(format!(
                "could not parse .env: the line starting with `{name}` is malformed at character {at} (an unclosed quote swallows the lines after it; quote values containing `$` with single quotes)"
            ))
        }
        Err(dotenvy::Error::Io(e)) => Err(format!("could not read .env: {e}")),
        Err(_) => Err("could not read .env".to_owned()),
    }
}

/// Warnings about set variables the broker does not read, on stderr (before logging is up, or
/// for a command that does not log).
pub fn warn_unknown_on_stderr(command: &str, unknown: &[UnknownVariable]) {
    for u in unknown {
        eprintln!("{command}: warning: {u}");
    }
}

/// The same warnings as log lines.
pub fn warn_unknown_in_log(unknown: &[UnknownVariable]) {
    for u in unknown {
        tracing::warn!(variable = %u.name, nearest = u.nearest, "{u}");
    }
}

/// `.env` and the environment into settings, and the set variables it does not read; on
/// failure the message (and those warnings) are printed and the exit status (2) returned.
pub fn load_settings() -> Result<(Settings, Vec<UnknownVariable>), ExitCode> {
    if let Err(e) = load_dotenv() {
        eprintln!("sts-broker: {e}");
        return Err(ExitCode::from(2));
    }
    let unknown = config::unknown_variables_in_env();
    match Settings::from_env() {
        Ok(settings) => Ok((settings, unknown)),
        Err(e) => {
            eprintln!("sts-broker: {e}");
            warn_unknown_on_stderr("sts-broker", &unknown);
            Err(ExitCode::from(2))
        }
    }
}
