//! The `sts-broker` binary itself: configuration failures, `demo`, the command line, an address
//! in use, unknown variables, and how the test suite builds it.

use std::time::{Duration, Instant};

use crate::harness::{BrokerClient, BrokerCommand, BrokerProcess, Sts};

#[tokio::test]
async fn missing_configuration_exits_non_zero_naming_every_variable() {
    let output = BrokerCommand::new()
        .env(
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
            "secret-that-must-not-print",
        )
        .env("BROKER_DURATION_SECONDS", "60")
        .env("BROKER_STS_ENDPOINT", "http://sts.example.com")
        .output()
        .await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for variable in [
        "ALIBABA_CLOUD_ACCESS_KEY_ID",
        "BROKER_ROLE_ARN",
        "BROKER_BUCKET",
        "BROKER_REGION",
        "BROKER_AUTH",
        "BROKER_DURATION_SECONDS",
        "BROKER_STS_ENDPOINT",
    ] {
        assert!(
            stderr.contains(variable),
            "{variable} not named in:\n{stderr}"
        );
    }
    assert!(!stderr.contains("secret-that-must-not-print"));
    assert!(
        stderr
            .lines()
            .next()
            .unwrap()
            .contains("invalid configuration"),
        "{stderr}"
    );
}

#[tokio::test]
async fn jwt_mode_without_its_settings_names_each_missing_variable() {
    let output = BrokerCommand::new()
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIexample")
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "x")
        .env("BROKER_ROLE_ARN", "acs:ram::1234567890123456:role/r")
        .env("BROKER_BUCKET", "b-bucket")
        .env("BROKER_REGION", "cn-hangzhou")
        .env("BROKER_AUTH", "jwt")
        .output()
        .await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for variable in [
        "BROKER_JWT_HS256_SECRET",
        "BROKER_JWT_ISSUER",
        "BROKER_JWT_AUDIENCE",
    ] {
        assert!(
            stderr.contains(variable),
            "{variable} not named in:\n{stderr}"
        );
    }
}

#[tokio::test]
async fn demo_serves_tokens_and_stops_on_ctrl_c() {
    let mut demo = BrokerCommand::new().demo();
    let url = demo.value("broker");
    let curl_line = demo.line_with("curl");
    assert!(
        curl_line.contains(&format!("{url}/getToken")),
        "{curl_line}"
    );

    assert_eq!(demo.address, url);
    let body: serde_json::Value = demo.get_token().await.json().await.unwrap();
    assert_eq!(body["Code"], "Success");
    assert_eq!(body["Dir"], "uploads/anonymous/");

    demo.signal("INT");
    let exit = demo.wait_exit(Duration::from_secs(15));
    assert!(exit.success(), "{exit:?}");
}

#[tokio::test]
async fn a_malformed_env_file_is_reported_without_its_values() {
    let output = BrokerCommand::new()
        .file(
            ".env",
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET=\"dotenv-secret-never-printed\nBROKER_AUTH=none\n",
        )
        .output()
        .await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(".env"), "{stderr}");
    assert!(!stderr.contains("dotenv-secret-never-printed"), "{stderr}");
}

#[tokio::test]
async fn the_demo_warns_about_a_malformed_env_and_variables_it_does_not_read() {
    let demo = BrokerCommand::new()
        .env("BROKER_REDIS_URL", "redis://127.0.0.1:6379")
        .file(
            ".env",
            "BROKER_AUTH=none\nBROKER_BUCKET=\"unclosed-never-printed\n",
        )
        .demo();
    let lines = wait_for_stderr(&demo, "ignores").join("\n");
    assert!(lines.contains("could not parse .env"), "{lines}");
    assert!(lines.contains("BROKER_REDIS_URL"), "{lines}");
    assert!(!lines.contains("unclosed-never-printed"), "{lines}");
    let body: serde_json::Value = demo.get_token().await.json().await.unwrap();
    assert_eq!(body["Code"], "Success");
}

#[tokio::test]
async fn demo_may_listen_on_all_interfaces_as_in_a_container() {
    let demo = BrokerCommand::new()
        .env("BROKER_LISTEN", "0.0.0.0:0")
        .demo();
    let port = demo.value("broker").rsplit(':').next().unwrap().to_owned();
    let loopback = BrokerClient::at(format!("http://127.0.0.1:{port}"));
    let body: serde_json::Value = loopback.get_token().await.json().await.unwrap();
    assert_eq!(body["Code"], "Success");
}

/// What `output` printed on stdout and stderr.
fn printed(output: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn every_command_prints_its_own_usage_for_help() {
    for (args, usage) in [
        (&["--help"][..], "usage: sts-broker "),
        (&["demo", "--help"], "usage: sts-broker demo"),
        (&["demo", "-h"], "usage: sts-broker demo"),
        (&["help", "demo"], "usage: sts-broker demo"),
        (
            &["healthcheck", "--help"],
            "usage: sts-broker healthcheck [--ready]",
        ),
        (
            &["cors", "--help"],
            "usage: sts-broker cors [--apply | --check]",
        ),
    ] {
        let mut command = BrokerCommand::new();
        for arg in args {
            command = command.arg(arg);
        }
        let output = command.output().await;
        let (stdout, stderr) = printed(&output);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stdout.starts_with(usage), "{args:?}:\n{stdout}");
        assert_eq!(stderr, "", "{args:?}");
    }
    let demo = BrokerCommand::new()
        .arg("demo")
        .arg("--help")
        .output()
        .await;
    let (stdout, _) = printed(&demo);
    // The demo's own usage: the variables it reads, and how to pick another port.
    for needle in [
        "BROKER_LISTEN",
        "BROKER_RATE_LIMIT_PER_MINUTE",
        "BROKER_LISTEN=127.0.0.1:8081",
    ] {
        assert!(stdout.contains(needle), "{needle} in:\n{stdout}");
    }
}

#[tokio::test]
async fn an_unknown_argument_is_named() {
    for (args, named) in [
        (
            &["demo", "--port=9000"][..],
            "unknown argument `--port=9000`",
        ),
        (&["healthcheck", "--live"], "unknown argument `--live`"),
        (&["cors", "--fix"], "unknown argument `--fix`"),
        (&["--verbose"], "unknown option `--verbose`"),
        (&["dmeo"], "unknown command `dmeo`"),
    ] {
        let mut command = BrokerCommand::new();
        for arg in args {
            command = command.arg(arg);
        }
        let output = command.output().await;
        let (stdout, stderr) = printed(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert_eq!(stdout, "", "{args:?}");
        assert!(stderr.contains(named), "{args:?}:\n{stderr}");
        assert!(stderr.contains("usage: sts-broker"), "{args:?}:\n{stderr}");
    }
}

#[tokio::test]
async fn demo_on_an_address_in_use_names_it_and_how_to_pick_another_port() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let output = BrokerCommand::new()
        .arg("demo")
        .env("BROKER_LISTEN", address.clone())
        .output()
        .await;
    let (_, stderr) = printed(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    for needle in [
        address.as_str(),
        "BROKER_LISTEN",
        "already in use",
        "BROKER_LISTEN=127.0.0.1:0",
        "sts-broker demo",
    ] {
        assert!(stderr.contains(needle), "{needle} in:\n{stderr}");
    }
    assert!(!stderr.contains("os error"), "{stderr}");
}

#[tokio::test]
async fn serve_on_an_address_in_use_names_it_and_the_variable() {
    let sts = Sts::demo().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let output = BrokerCommand::new()
        .envs(&sts.broker_vars())
        .env("BROKER_LISTEN", address.clone())
        .output()
        .await;
    let (_, stderr) = printed(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&address), "{stderr}");
    assert!(stderr.contains("BROKER_LISTEN"), "{stderr}");
    assert!(stderr.contains("already in use"), "{stderr}");

    // The metrics listener is named by its own variable.
    let output = BrokerCommand::new()
        .envs(&sts.broker_vars())
        .env("BROKER_METRICS_LISTEN", address.clone())
        .output()
        .await;
    let (_, stderr) = printed(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&address), "{stderr}");
    assert!(stderr.contains("BROKER_METRICS_LISTEN"), "{stderr}");
}

/// Waits until a stderr line of `process` contains `needle`; every line so far.
fn wait_for_stderr(process: &BrokerProcess, needle: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut lines = Vec::new();
    loop {
        lines.extend(process.stderr_lines());
        if lines.iter().any(|l| l.contains(needle)) {
            return lines;
        }
        assert!(Instant::now() < deadline, "no `{needle}` in {lines:#?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn misspelt_variables_are_warned_about_with_the_nearest_known_name() {
    let sts = Sts::demo().await;
    // serve: it starts anyway, and its log says what was meant.
    let broker = BrokerCommand::new()
        .envs(&sts.broker_vars())
        .env("BROKER_BUKET", "value-never-printed")
        .env("ALIBABA_CLOUD_ACESS_KEY_ID", "value-never-printed")
        .env("BROKER_LOG_FORMAT", "json")
        .serve()
        .await;
    // Sorted by name: the ALIBABA_CLOUD_ line comes first.
    let lines = wait_for_stderr(&broker, "BROKER_BUKET");
    let warning = |name: &str| -> serde_json::Value {
        lines
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["variable"] == name)
            .unwrap_or_else(|| panic!("no warning for {name} in {lines:#?}"))
    };
    let buket = warning("BROKER_BUKET");
    assert_eq!(buket["level"], "WARN", "{buket}");
    assert_eq!(buket["nearest"], "BROKER_BUCKET", "{buket}");
    assert!(
        buket["message"]
            .as_str()
            .unwrap()
            .contains("did you mean BROKER_BUCKET?"),
        "{buket}"
    );
    assert_eq!(
        warning("ALIBABA_CLOUD_ACESS_KEY_ID")["nearest"],
        "ALIBABA_CLOUD_ACCESS_KEY_ID"
    );
    assert_eq!(broker.get_token().await.status(), 200);
    assert!(!lines.join("\n").contains("value-never-printed"));

    // Bad configuration: the misspelling is named beside the problem it causes.
    let mut vars = sts.broker_vars();
    let bucket = vars.remove("BROKER_BUCKET").unwrap();
    let output = BrokerCommand::new()
        .envs(&vars)
        .file(".env", &format!("BROKER_BUKET={bucket}\n"))
        .output()
        .await;
    let (_, stderr) = printed(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("BROKER_BUCKET: is required"), "{stderr}");
    assert!(
        stderr.contains("warning: BROKER_BUKET is set, but sts-broker reads no such variable; did you mean BROKER_BUCKET?"),
        "{stderr}"
    );

    // The demo and `cors` warn too.
    let demo = BrokerCommand::new()
        .env("BROKER_LISTN", "127.0.0.1:0")
        .demo();
    wait_for_stderr(&demo, "did you mean BROKER_LISTEN?");
    let cors = BrokerCommand::new()
        .envs(&sts.broker_vars())
        .env("BROKER_CORS_ORIGIN", "https://app.example.com")
        .arg("cors")
        .output()
        .await;
    let (_, stderr) = printed(&cors);
    assert!(
        stderr.contains("BROKER_CORS_ORIGIN is set, but sts-broker reads no such variable; did you mean BROKER_CORS_ORIGINS?"),
        "{stderr}"
    );
}

#[tokio::test]
async fn an_unquoted_sub_placeholder_in_env_asks_for_single_quotes() {
    let sts = Sts::demo().await;
    let output = BrokerCommand::new()
        .envs(&sts.broker_vars())
        .file(".env", "BROKER_UPLOAD_PREFIX=uploads/${sub}/\n")
        .output()
        .await;
    let (_, stderr) = printed(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("BROKER_UPLOAD_PREFIX: must contain `${sub}`"),
        "{stderr}"
    );
    assert!(stderr.contains("`uploads//`"), "{stderr}");
    assert!(stderr.contains("single quotes"), "{stderr}");
    assert!(
        stderr.contains("BROKER_UPLOAD_PREFIX='uploads/${sub}/'"),
        "{stderr}"
    );

    // In single quotes it arrives as written.
    let broker = BrokerCommand::new()
        .envs(&sts.broker_vars())
        .file(".env", "BROKER_UPLOAD_PREFIX='tenant/${sub}/'\n")
        .serve()
        .await;
    let body: serde_json::Value = broker.get_token().await.json().await.unwrap();
    assert_eq!(body["Dir"], "tenant/anonymous/");
}

/// `scripts/test` compiles once: the kit's tests run the binary `cargo test` builds for these
/// tests, instead of a second `cargo build` with other features.
#[test]
fn the_test_script_builds_once_and_hands_this_binary_to_the_kit() {
    let root = env!("CARGO_MANIFEST_DIR");
    let script = std::fs::read_to_string(format!("{root}/scripts/test")).unwrap();
    let cargo: Vec<&str> = script
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("cargo "))
        .collect();
    assert_eq!(cargo, ["cargo test --locked --workspace"], "{script}");
    assert!(
        script.contains(r#"STS_BROKER_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/sts-broker""#),
        "{script}"
    );
    // ... which is where cargo test puts the binary these tests run.
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_sts-broker"));
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| format!("{root}/target"));
    assert_eq!(
        bin,
        std::path::Path::new(&target).join("debug/sts-broker"),
        "cargo test built the binary elsewhere"
    );
}

#[tokio::test]
async fn serve_by_name_is_the_bare_command() {
    // `sts-broker serve` starts the broker as `sts-broker` does: here it reaches the listener
    // (an address in use, exit 1) instead of refusing the command line (exit 2).
    let sts = Sts::demo().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let output = BrokerCommand::new()
        .arg("serve")
        .envs(&sts.broker_vars())
        .env("BROKER_LISTEN", address.clone())
        .output()
        .await;
    let (_, stderr) = printed(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("BROKER_LISTEN"), "{stderr}");
    assert!(stderr.contains("already in use"), "{stderr}");
    assert!(!stderr.contains("usage:"), "{stderr}");
}

#[tokio::test]
async fn cors_without_origins_is_a_configuration_error() {
    let sts = Sts::demo().await;
    for mode in ["--check", "--apply"] {
        let output = BrokerCommand::new()
            .envs(&sts.broker_vars())
            .arg("cors")
            .arg(mode)
            .output()
            .await;
        let (_, stderr) = printed(&output);
        assert_eq!(output.status.code(), Some(2), "{mode}: {stderr}");
        assert!(
            stderr.contains("BROKER_CORS_ORIGINS is not set"),
            "{stderr}"
        );
    }
}

/// The start-up line gives the real address (the port the system picked for `:0`), the
/// profiles served and whether fleet mode is on.
#[tokio::test]
async fn the_start_up_line_names_the_real_port_the_profiles_and_fleet_mode() {
    let sts = Sts::demo().await;
    let broker = BrokerCommand::new()
        .envs(&sts.broker_vars())
        .env("BROKER_LISTEN", "127.0.0.1:0")
        .env("BROKER_LOG_FORMAT", "json")
        .start();
    let lines = wait_for_stderr(&broker, "sts-broker listening");
    let line: serde_json::Value = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message"] == "sts-broker listening")
        .unwrap();
    let listen = line["listen"].as_str().unwrap();
    let port: u16 = listen.rsplit(':').next().unwrap().parse().unwrap();
    assert!(listen.starts_with("127.0.0.1:") && port != 0, "{line}");
    assert_eq!(line["fleet"], "off", "{line}");
    assert_eq!(line["profiles"], "default", "{line}");
    let health = reqwest::get(format!("http://{listen}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}
