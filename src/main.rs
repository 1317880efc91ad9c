//! Thin entry point: the command line is parsed and run by `sts_broker::cli`.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    sts_broker::cli::run(&args).await
}
