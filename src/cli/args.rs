//! The command line: the `Command` it asks for, and the usage texts.

use crate::bucket_cors::CorsCommand;

pub const USAGE: &str = "usage: sts-broker [serve | demo | healthcheck [--ready] | cors [--apply | --check]]
  sts-broker [serve]        serve, configured from the environment (and .env)
  sts-broker demo           serve with built-in STS and OSS emulators on loopback; no account needed
  sts-broker healthcheck    exit 0 if the broker on BROKER_LISTEN answers /healthz (--ready: /readyz)
  sts-broker cors           print the bucket CORS rule uploads from BROKER_CORS_ORIGINS need
  sts-broker cors --apply   add that rule to the bucket (PutBucketCors, keeping other rules)
  sts-broker cors --check   report what the bucket's CORS configuration lacks (exit 1 if anything)
  sts-broker --version      print the version

`sts-broker <command> --help` prints that command's usage; docs/configuration.md lists every variable.";

pub const DEMO_USAGE: &str = "usage: sts-broker demo

Serves the broker with built-in STS and OSS emulators on loopback: no cloud account and no
configuration. It prints the URLs and commands to try, serves an upload page at /demo, keeps the
uploaded objects in memory only, and stops on Ctrl-C (or SIGTERM).

It reads only these variables (from the environment or .env):
  BROKER_LISTEN                  where the broker listens (default 127.0.0.1:8080); another port:
                                 BROKER_LISTEN=127.0.0.1:8081 sts-broker demo (127.0.0.1:0: any free port)
  BROKER_LOG_FORMAT              pretty (default) or json
  BROKER_RATE_LIMIT_PER_MINUTE   requests per caller and minute (default 60)
  BROKER_RATE_LIMIT_BURST        requests per caller at once (default 10)
  RUST_LOG                       log levels (default info,actix_server=warn)
Any other sts-broker variable that is set is ignored, with a warning.";

pub const HEALTHCHECK_USAGE: &str = "usage: sts-broker healthcheck [--ready]

Asks the broker on BROKER_LISTEN for GET /healthz (with --ready: GET /readyz), for container
health checks in an image without curl. A wildcard address (0.0.0.0, [::]) is probed on loopback.
Exits 0 for a 200 answer, 1 for anything else, 2 when BROKER_LISTEN is not an address with a port.
It reads only BROKER_LISTEN (from the environment or .env) and never needs a credential.";

pub const CORS_USAGE: &str = "usage: sts-broker cors [--apply | --check]

  sts-broker cors           print the bucket CORS rule uploads from BROKER_CORS_ORIGINS need
  sts-broker cors --apply   add that rule to the bucket (PutBucketCors, keeping other rules)
  sts-broker cors --check   report what the bucket's CORS configuration lacks (exit 1 if anything)

It reads the whole configuration, as `sts-broker` does (the environment and .env); --apply and
--check call OSS with the broker's own identity. Exits 2 for bad configuration, 1 when --check
finds something missing or an OSS call fails, 0 otherwise.";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
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
pub struct UsageError {
    pub message: String,
    pub usage: &'static str,
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

pub fn parse(args: &[&str]) -> Result<Command, UsageError> {
    let unknown_argument = |command: &str, arg: &str, usage| UsageError {
        message: format!("sts-broker {command}: unknown argument `{arg}`"),
        usage,
    };
    match args {
        [] | ["serve"] => Ok(Command::Serve),
        ["serve", rest @ ..] if rest.iter().any(|a| is_help(a)) => Ok(Command::Help(USAGE)),
        ["serve", extra, ..] => Err(UsageError {
            message: format!("sts-broker serve: unknown argument `{extra}`"),
            usage: USAGE,
        }),
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
        assert_eq!(parsed("serve"), Ok(Command::Serve));
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
            ("serve --help", USAGE),
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
            ("serve --port", "`--port`"),
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
