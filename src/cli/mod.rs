//! The `sts-broker` command line: `args` parses it, and each command has its own module.

pub mod args;
pub mod cors;
#[cfg(feature = "demo")]
pub mod demo;
pub mod env;
pub mod healthcheck;
pub mod serve;

use std::process::ExitCode;

use args::Command;

/// Runs the command `args` (without the program name) asks for; the process's exit status.
pub async fn run(args: &[&str]) -> ExitCode {
    let command = match args::parse(args) {
        Ok(command) => command,
        Err(e) => {
            eprintln!("{}\n\n{}", e.message, e.usage);
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Serve => serve::run().await,
        #[cfg(feature = "demo")]
        Command::Demo => demo::run().await,
        #[cfg(not(feature = "demo"))]
        Command::Demo => {
            eprintln!(
                "sts-broker: this build has no demo (it was built without the `demo` feature)"
            );
            ExitCode::from(2)
        }
        Command::Healthcheck { ready: false } => healthcheck::run("/healthz").await,
        Command::Healthcheck { ready: true } => healthcheck::run("/readyz").await,
        Command::Cors(command) => cors::run(command).await,
        Command::Help(usage) => {
            println!("{usage}");
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("sts-broker {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
    }
}
