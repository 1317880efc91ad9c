//! `sts-broker [serve]`: the broker, configured from the environment (and `.env`).

use std::process::ExitCode;

use crate::cli::env::{load_settings, warn_unknown_in_log};
use crate::startup::{Application, Dependencies};
use crate::telemetry;

/// Serves until SIGTERM or SIGINT: 2 for bad configuration, 1 when the broker cannot start or
/// fails, 0 after a graceful stop.
pub async fn run() -> ExitCode {
    let (settings, unknown) = match load_settings() {
        Ok(found) => found,
        Err(code) => return code,
    };
    let log_guard = telemetry::init(
        settings.server.log_format,
        "info",
        settings.server.tracing.as_ref(),
    );
    warn_unknown_in_log(&unknown);
    tracing::info!(
        listen = %settings.server.listen,
        sts_endpoints = ?settings.sts.endpoints.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
        role_arn = %settings.default_profile().issuer.role_arn,
        bucket = settings.default_profile().upload.bucket.as_str(),
        identity = %settings.identity.describe(),
        "starting sts-broker"
    );
    let app = match Application::build(settings, Dependencies::default()) {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, "could not start");
            return ExitCode::FAILURE;
        }
    };
    let result = app.run_until_signalled().await;
    if let Some(guard) = log_guard {
        // Spans still queued are exported before the process ends.
        guard.shutdown().await;
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            ExitCode::FAILURE
        }
    }
}
