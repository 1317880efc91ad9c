//! `sts-broker cors [--apply | --check]`.

use std::process::ExitCode;
use std::sync::Arc;

use crate::bucket_cors::{self, CorsCommand, CorsError};
use crate::cli::env::{load_settings, warn_unknown_on_stderr};
use crate::clock::SystemClock;

/// Prints, applies or checks the bucket CORS rule: 2 for bad configuration, 1 when `--check`
/// finds something missing or an OSS call fails, 0 otherwise.
pub async fn run(command: CorsCommand) -> ExitCode {
    let (settings, unknown) = match load_settings() {
        Ok(found) => found,
        Err(code) => return code,
    };
    warn_unknown_on_stderr("sts-broker cors", &unknown);
    match bucket_cors::run(&settings, command, Arc::new(SystemClock)).await {
        Ok(outcome) => {
            print!("{}", outcome.report);
            if outcome.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("sts-broker cors: {e}");
            ExitCode::from(exit_status(&e))
        }
    }
}

/// 2 for what the configuration lacks, 1 for what OSS or the identity answered.
fn exit_status(error: &CorsError) -> u8 {
    match error {
        CorsError::NoOrigins => 2,
        CorsError::Identity(_) | CorsError::Oss(_) | CorsError::TooManyRules(_) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_origins_is_configuration_and_a_full_bucket_is_not() {
        assert_eq!(exit_status(&CorsError::NoOrigins), 2);
        assert_eq!(exit_status(&CorsError::TooManyRules(10)), 1);
    }
}
