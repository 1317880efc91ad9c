//! Thin entry point: parse the command, load configuration, start logging, run.

use std::process::ExitCode;

use std::sync::Arc;

use sts_broker::bucket_cors::{self as cors, CorsCommand};
use sts_broker::clock::SystemClock;
use sts_broker::config::{self, LogFormat, Settings};
#[cfg(feature = "demo")]
use sts_broker::demo;
use sts_broker::startup::{Application, Dependencies};
use sts_broker::telemetry;

const USAGE: &str = "usage: sts-broker [demo | healthcheck [--ready] | cors [--apply | --check]]\n\
  sts-broker                serve, configured from the environment (and .env)\n\
  sts-broker demo           serve with built-in STS and OSS emulators on loopback; no account needed\n\
  sts-broker healthcheck    exit 0 if the broker on BROKER_LISTEN answers /healthz (--ready: /readyz)\n\
  sts-broker cors           print the bucket CORS rule uploads from BROKER_CORS_ORIGINS need\n\
  sts-broker cors --apply   add that rule to the bucket (PutBucketCors, keeping other rules)\n\
  sts-broker cors --check   report what the bucket's CORS configuration lacks (exit 1 if anything)";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => serve().await,
        #[cfg(feature = "demo")]
        ["demo"] => run_demo().await,
        #[cfg(not(feature = "demo"))]
        ["demo"] => {
            eprintln!(
                "sts-broker: this build has no demo (it was built without the `demo` feature)"
            );
            ExitCode::from(2)
        }
        ["healthcheck"] => healthcheck("/healthz").await,
        ["healthcheck", "--ready"] => healthcheck("/readyz").await,
        ["cors"] => run_cors(CorsCommand::Print).await,
        ["cors", "--apply"] => run_cors(CorsCommand::Apply).await,
        ["cors", "--check"] => run_cors(CorsCommand::Check).await,
        ["-h" | "--help" | "help"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        ["-V" | "--version"] => {
            println!("sts-broker {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn load_dotenv() -> Result<(), String> {
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

/// `.env` and the environment into settings; on failure the message is printed and the exit
/// status (2) returned.
fn load_settings() -> Result<Settings, ExitCode> {
    load_dotenv()
        .and_then(|()| Settings::from_env().map_err(|e| e.to_string()))
        .map_err(|e| {
            eprintln!("sts-broker: {e}");
            ExitCode::from(2)
        })
}

async fn serve() -> ExitCode {
    let settings = match load_settings() {
        Ok(s) => s,
        Err(code) => return code,
    };
    let _log_guard = telemetry::init(settings.server.log_format, "info");
    tracing::info!(
        listen = %settings.server.listen,
        sts_endpoints = ?settings.sts.endpoints.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
        role_arn = %settings.issuer.role_arn,
        bucket = settings.upload.bucket.as_str(),
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
    match app.run_until_signalled().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            ExitCode::FAILURE
        }
    }
}

async fn healthcheck(path: &str) -> ExitCode {
    let _ = load_dotenv();
    let listen = match config::listen_and_log_format_from_env(LogFormat::Json) {
        Ok((listen, _)) => listen,
        Err(e) => {
            eprintln!("sts-broker healthcheck: {e}");
            return ExitCode::from(2);
        }
    };
    match sts_broker::healthcheck::run(listen, path).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sts-broker healthcheck: {e}");
            ExitCode::from(1)
        }
    }
}

async fn run_cors(command: CorsCommand) -> ExitCode {
    let settings = match load_settings() {
        Ok(s) => s,
        Err(code) => return code,
    };
    match cors::run(&settings, command, Arc::new(SystemClock)).await {
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
            ExitCode::FAILURE
        }
    }
}

#[cfg(feature = "demo")]
async fn run_demo() -> ExitCode {
    let _ = load_dotenv();
    let (listen, format) = match config::listen_and_log_format_from_env(LogFormat::Pretty) {
        Ok(found) => found,
        Err(e) => {
            eprintln!("sts-broker: {e}");
            return ExitCode::from(2);
        }
    };
    // The emulator's and the server framework's own chatter is noise in a demo.
    let _log_guard = telemetry::init(format, "info,actix_server=warn");
    match demo::run(listen).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sts-broker demo: {e}");
            ExitCode::FAILURE
        }
    }
}
