//! Thin entry point: parse the command, load configuration, start logging, run.

use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;

use std::sync::Arc;

use sts_broker::bucket_cors::{self as cors, CorsCommand};
use sts_broker::clock::SystemClock;
use sts_broker::config::{self, LogFormat, Settings, UnknownVariable};
#[cfg(feature = "demo")]
use sts_broker::demo;
use sts_broker::startup::{Application, Dependencies};
use sts_broker::telemetry;

const USAGE: &str = "usage: sts-broker [demo | healthcheck [--ready] | cors [--apply | --check]]
  sts-broker                serve, configured from the environment (and .env)
  sts-broker demo           serve with built-in STS and OSS emulators on loopback; no account needed
  sts-broker healthcheck    exit 0 if the broker on BROKER_LISTEN answers /healthz (--ready: /readyz)
  sts-broker cors           print the bucket CORS rule uploads from BROKER_CORS_ORIGINS need
  sts-broker cors --apply   add that rule to the bucket (PutBucketCors, keeping other rules)
  sts-broker cors --check   report what the bucket's CORS configuration lacks (exit 1 if anything)
  sts-broker --version      print the version

`sts-broker <command> --help` prints that command's usage; docs/configuration.md lists every variable.";

const DEMO_USAGE: &str = "usage: sts-broker demo

Serves the broker with built-in STS and OSS emulators on loopback: no cloud account and no
configuration. It prints the URLs and commands to try, serves an upload page at /demo, keeps the
uploaded objects in memory only, and stops on Ctrl-C (or SIGTERM).

It reads only these variables (from the environment or .env):
  BROKER_LISTEN                  where the broker listens (default 127.0.0.1:8080); another port:
                                 BROKER_LISTEN=127.0.0.1:8081 sts-broker demo (127.0.0.1:0: any free port)
  BROKER_LOG_FORMAT              pretty (default) or json
  BROKER_RATE_LIMIT_PER_MINUTE   requests per caller and minute (default 60)
  BROKER_RATE_LIMIT_BURST        requests per caller at once (default 10)
  RUST_LOG                       log levels (default info,actix_server=warn)";

const HEALTHCHECK_USAGE: &str = "usage: sts-broker healthcheck [--ready]

Asks the broker on BROKER_LISTEN for GET /healthz (with --ready: GET /readyz), for container
health checks in an image without curl. A wildcard address (0.0.0.0, [::]) is probed on loopback.
Exits 0 for a 200 answer, 1 for anything else, 2 when BROKER_LISTEN is not an address with a port.
It reads only BROKER_LISTEN (from the environment or .env) and never needs a credential.";

const CORS_USAGE: &str = "usage: sts-broker cors [--apply | --check]

  sts-broker cors           print the bucket CORS rule uploads from BROKER_CORS_ORIGINS need
  sts-broker cors --apply   add that rule to the bucket (PutBucketCors, keeping other rules)
  sts-broker cors --check   report what the bucket's CORS configuration lacks (exit 1 if anything)

It reads the whole configuration, as `sts-broker` does (the environment and .env); --apply and
--check call OSS with the broker's own identity. Exits 2 for bad configuration, 1 when --check
finds something missing or an OSS call fails, 0 otherwise.";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Serve,
    Demo,
    Healthcheck {
        ready: bool,
    },
    Cors(CorsCommand),
    /// Print a usage text on stdout and exit 0.
    Help(&'static str),
    Version,
}

/// A command line that asks for nothing the binary does: the message and the usage to show.
#[derive(Debug, PartialEq, Eq)]
struct UsageError {
    message: String,
    usage: &'static str,
}

fn usage_of(command: &str) -> Option<&'static str> {
    match command {
        "demo" => Some(DEMO_USAGE),
        "healthcheck" => Some(HEALTHCHECK_USAGE),
        "cors" => Some(CORS_USAGE),
        _ => None,
    }
}

fn is_help(arg: &str) -> bool {
    matches!(arg, "-h" | "--help")
}

fn parse(args: &[&str]) -> Result<Command, UsageError> {
    let unknown_argument = |command: &str, arg: &str, usage| UsageError {
        message: format!("sts-broker {command}: unknown argument `{arg}`"),
        usage,
    };
    match args {
        [] => Ok(Command::Serve),
        ["-h" | "--help" | "help"] => Ok(Command::Help(USAGE)),
        ["-h" | "--help" | "help", command] if is_help(command) => Ok(Command::Help(USAGE)),
        ["-h" | "--help" | "help", command] => {
            usage_of(command)
                .map(Command::Help)
                .ok_or_else(|| UsageError {
                    message: format!("sts-broker help: unknown command `{command}`"),
                    usage: USAGE,
                })
        }
        ["-V" | "--version"] => Ok(Command::Version),
        [first @ ("-h" | "--help" | "help" | "-V" | "--version"), .., extra] => Err(UsageError {
            message: format!("sts-broker {first}: unknown argument `{extra}`"),
            usage: USAGE,
        }),
        [command, rest @ ..] if usage_of(command).is_some() => {
            let usage = usage_of(command).expect("checked");
            if rest.iter().any(|a| is_help(a)) {
                return Ok(Command::Help(usage));
            }
            match (*command, rest) {
                ("demo", []) => Ok(Command::Demo),
                ("healthcheck", []) => Ok(Command::Healthcheck { ready: false }),
                ("healthcheck", ["--ready"]) => Ok(Command::Healthcheck { ready: true }),
                ("cors", []) => Ok(Command::Cors(CorsCommand::Print)),
                ("cors", ["--apply"]) => Ok(Command::Cors(CorsCommand::Apply)),
                ("cors", ["--check"]) => Ok(Command::Cors(CorsCommand::Check)),
                ("cors", ["--apply" | "--check", "--apply" | "--check"]) => Err(UsageError {
                    message: "sts-broker cors: takes at most one of --apply and --check".into(),
                    usage,
                }),
                _ => {
                    // The first argument the command does not take.
                    let known: &[&str] = match *command {
                        "healthcheck" => &["--ready"],
                        "cors" => &["--apply", "--check"],
                        _ => &[],
                    };
                    let bad = rest
                        .iter()
                        .find(|a| !known.contains(a))
                        .or_else(|| rest.last())
                        .expect("the command has arguments here");
                    Err(unknown_argument(command, bad, usage))
                }
            }
        }
        [first, ..] if first.starts_with('-') => Err(UsageError {
            message: format!("sts-broker: unknown option `{first}`"),
            usage: USAGE,
        }),
        [first, ..] => Err(UsageError {
            message: format!("sts-broker: unknown command `{first}`"),
            usage: USAGE,
        }),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let command = match parse(&args) {
        Ok(command) => command,
        Err(e) => {
            eprintln!("{}\n\n{}", e.message, e.usage);
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Serve => serve().await,
        #[cfg(feature = "demo")]
        Command::Demo => run_demo().await,
        #[cfg(not(feature = "demo"))]
        Command::Demo => {
            eprintln!(
                "sts-broker: this build has no demo (it was built without the `demo` feature)"
            );
            ExitCode::from(2)
        }
        Command::Healthcheck { ready: false } => healthcheck("/healthz").await,
        Command::Healthcheck { ready: true } => healthcheck("/readyz").await,
        Command::Cors(command) => run_cors(command).await,
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

/// Warnings about set variables the broker does not read, on stderr (before logging is up, or
/// for a command that does not log).
fn warn_unknown_on_stderr(command: &str, unknown: &[UnknownVariable]) {
    for u in unknown {
        eprintln!("{command}: warning: {u}");
    }
}

/// The same warnings as log lines.
fn warn_unknown_in_log(unknown: &[UnknownVariable]) {
    for u in unknown {
        tracing::warn!(variable = %u.name, nearest = u.nearest, "{u}");
    }
}

/// `.env` and the environment into settings, and the set variables it does not read; on
/// failure the message (and those warnings) are printed and the exit status (2) returned.
fn load_settings() -> Result<(Settings, Vec<UnknownVariable>), ExitCode> {
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

/// Why `addr` (the value of `variable`) cannot be listened on, saying what to do about it.
fn listen_failure(variable: &str, addr: SocketAddr, e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "cannot listen on {addr} ({variable}): the address is already in use, perhaps by another sts-broker; stop that one, or set {variable} to a free address (port 0 picks one)"
        ),
        _ => format!("cannot listen on {addr} ({variable}): {e}"),
    }
}

async fn serve() -> ExitCode {
    let (settings, unknown) = match load_settings() {
        Ok(found) => found,
        Err(code) => return code,
    };
    let _log_guard = telemetry::init(settings.server.log_format, "info");
    warn_unknown_in_log(&unknown);
    tracing::info!(
        listen = %settings.server.listen,
        sts_endpoints = ?settings.sts.endpoints.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
        role_arn = %settings.default_profile().issuer.role_arn,
        bucket = settings.default_profile().upload.bucket.as_str(),
        identity = %settings.identity.describe(),
        "starting sts-broker"
    );
    let listen = settings.server.listen;
    let listener = match TcpListener::bind(listen) {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!(error = %listen_failure("BROKER_LISTEN", listen, &e), "could not start");
            return ExitCode::FAILURE;
        }
    };
    let metrics_listen = settings.server.metrics_listen;
    let app = match Application::build_on(settings, Dependencies::default(), listener) {
        Ok(app) => app,
        Err(e) => {
            // The main listener is bound: an address in use is the metrics one.
            let error = match metrics_listen {
                Some(addr) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    listen_failure("BROKER_METRICS_LISTEN", addr, &e)
                }
                _ => e.to_string(),
            };
            tracing::error!(%error, "could not start");
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
    let (settings, unknown) = match load_settings() {
        Ok(found) => found,
        Err(code) => return code,
    };
    warn_unknown_on_stderr("sts-broker cors", &unknown);
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
    let _log_guard = telemetry::init(format, "info,actix_server=warn");
    warn_unknown_in_log(&unknown);
    match demo::run(listen).await {
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

    fn parsed(line: &str) -> Result<Command, UsageError> {
        let args: Vec<&str> = line.split_whitespace().collect();
        parse(&args)
    }

    #[test]
    fn commands_and_their_arguments() {
        assert_eq!(parsed(""), Ok(Command::Serve));
        assert_eq!(parsed("demo"), Ok(Command::Demo));
        assert_eq!(
            parsed("healthcheck --ready"),
            Ok(Command::Healthcheck { ready: true })
        );
        assert_eq!(
            parsed("cors --check"),
            Ok(Command::Cors(CorsCommand::Check))
        );
        assert_eq!(parsed("--version"), Ok(Command::Version));
    }

    #[test]
    fn every_command_has_its_own_help() {
        for (line, usage) in [
            ("--help", USAGE),
            ("help", USAGE),
            ("demo --help", DEMO_USAGE),
            ("demo -h", DEMO_USAGE),
            ("help demo", DEMO_USAGE),
            ("--help cors", CORS_USAGE),
            ("help --help", USAGE),
            ("healthcheck --help", HEALTHCHECK_USAGE),
            ("healthcheck --ready --help", HEALTHCHECK_USAGE),
            ("cors --help", CORS_USAGE),
            ("cors --apply -h", CORS_USAGE),
        ] {
            assert_eq!(parsed(line), Ok(Command::Help(usage)), "{line}");
        }
        for (command, usage) in [
            ("demo", DEMO_USAGE),
            ("healthcheck", HEALTHCHECK_USAGE),
            ("cors", CORS_USAGE),
        ] {
            assert!(
                usage.starts_with(&format!("usage: sts-broker {command}")),
                "{usage}"
            );
        }
    }

    #[test]
    fn an_unknown_argument_is_named() {
        for (line, named) in [
            ("demo --port", "`--port`"),
            ("healthcheck --ready --live", "`--live`"),
            ("cors --fix", "`--fix`"),
            ("cors --apply --check", "one of --apply and --check"),
            ("serve", "`serve`"),
            ("--bogus", "`--bogus`"),
            ("help nothing", "`nothing`"),
            ("--version now", "`now`"),
            ("--help demo extra", "`extra`"),
        ] {
            let e = parsed(line).expect_err(line);
            assert!(e.message.contains(named), "{line}: {}", e.message);
        }
    }
}
