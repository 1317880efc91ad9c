//! Benchmark harness: the real broker, configured as in production (JSON logs at `info`, rate
//! limiter on), wired to an in-process STS emulator — or, with `BROKER_STS_ENDPOINT=<url>`
//! among the arguments, to an emulator in another process (`bench-capacity sts`), so the
//! broker's own memory can be measured. Prints `ready <url>` and serves until killed. Extra
//! `NAME=value` arguments override broker variables; `OTEL_*` variables in its environment
//! turn trace export on as in the real binary.
//!
//! usage: bench-broker <listen address> [NAME=value ...]

use std::collections::HashMap;

use broker_emulators::sts::{StsEmulator, StsEmulatorConfig};
use sts_broker::config::{LogFormat, Settings};
use sts_broker::startup::{Application, Dependencies};
use sts_broker::telemetry;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:18081".into());
    let config = StsEmulatorConfig::demo();
    let overrides: Vec<String> = args.collect();
    let external = overrides
        .iter()
        .any(|a| a.starts_with("BROKER_STS_ENDPOINT="));
    // Kept alive for the whole run when it is in this process.
    let sts = if external {
        None
    } else {
        Some(StsEmulator::start(config.clone()).await?)
    };
    let (key_id, key_secret) = config.access_keys[0].clone();
    let mut vars: HashMap<String, String> = [
        ("BROKER_LISTEN", listen),
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", key_id),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", key_secret),
        (
            "BROKER_ROLE_ARN",
            format!("acs:ram::{}:role/demo-uploader", config.account_id),
        ),
        (
            "BROKER_STS_ENDPOINT",
            sts.as_ref().map(StsEmulator::endpoint).unwrap_or_default(),
        ),
        ("BROKER_BUCKET", "bench-bucket".to_owned()),
        ("BROKER_REGION", "cn-hangzhou".to_owned()),
        ("BROKER_AUTH", "none".to_owned()),
        // The limiter runs on every request but must not be what the load measures.
        ("BROKER_RATE_LIMIT_PER_MINUTE", "1000000000".to_owned()),
        ("BROKER_RATE_LIMIT_BURST", "100000000".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    vars.extend(std::env::vars().filter(|(k, _)| k.starts_with("OTEL_")));
    for pair in overrides {
        if let Some((name, value)) = pair.split_once('=') {
            vars.insert(name.to_owned(), value.to_owned());
        }
    }
    let settings = Settings::from_map(&vars).map_err(std::io::Error::other)?;
    let _log_guard = telemetry::init(LogFormat::Json, "info", settings.server.tracing.as_ref());
    let app = Application::build(settings, Dependencies::default())?;
    println!("ready http://127.0.0.1:{}", app.port());
    app.run_until_stopped().await
}
