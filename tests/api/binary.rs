//! The `sts-broker` binary itself: configuration failures and `demo`.

use std::process::Command;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_sts-broker");

#[test]
fn missing_configuration_exits_non_zero_naming_every_variable() {
    let dir = tempdir();
    let output = Command::new(BIN)
        .env_clear()
        .env(
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
            "secret-that-must-not-print",
        )
        .env("BROKER_DURATION_SECONDS", "60")
        .env("BROKER_STS_ENDPOINT", "http://sts.example.com")
        .current_dir(&dir)
        .output()
        .expect("binary runs");
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

#[test]
fn jwt_mode_without_its_settings_names_each_missing_variable() {
    let dir = tempdir();
    let output = Command::new(BIN)
        .env_clear()
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIexample")
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "x")
        .env("BROKER_ROLE_ARN", "acs:ram::1234567890123456:role/r")
        .env("BROKER_BUCKET", "b-bucket")
        .env("BROKER_REGION", "cn-hangzhou")
        .env("BROKER_AUTH", "jwt")
        .current_dir(&dir)
        .output()
        .expect("binary runs");
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

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sts-broker-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn demo_serves_tokens_and_stops_on_ctrl_c() {
    let mut demo = crate::helpers::DemoProcess::start();
    let url = demo.value("broker");
    let curl_line = demo.line_with("curl");
    assert!(
        curl_line.contains(&format!("{url}/getToken")),
        "{curl_line}"
    );

    let body: serde_json::Value = reqwest::get(format!("{url}/getToken"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["Code"], "Success");
    assert_eq!(body["Dir"], "uploads/anonymous/");

    let status = Command::new("kill")
        .args(["-INT", &demo.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = demo.child.try_wait().unwrap() {
            break exit;
        }
        assert!(std::time::Instant::now() < deadline, "demo did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
}

#[test]
fn a_malformed_env_file_is_reported_without_its_values() {
    let dir = tempdir();
    std::fs::write(
        dir.join(".env"),
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET=\"dotenv-secret-never-printed\nBROKER_AUTH=none\n",
    )
    .unwrap();
    let output = Command::new(BIN)
        .env_clear()
        .current_dir(&dir)
        .output()
        .expect("binary runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(".env"), "{stderr}");
    assert!(!stderr.contains("dotenv-secret-never-printed"), "{stderr}");
}

#[tokio::test]
async fn demo_may_listen_on_all_interfaces_as_in_a_container() {
    let demo = crate::helpers::DemoProcess::start_on("0.0.0.0:0");
    let port = demo.value("broker").rsplit(':').next().unwrap().to_owned();
    let body: serde_json::Value = reqwest::get(format!("http://127.0.0.1:{port}/getToken"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["Code"], "Success");
}
