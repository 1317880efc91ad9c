//! The `sts-broker` binary itself: configuration failures and `demo`.

use std::time::Duration;

use crate::harness::{BrokerClient, BrokerCommand};

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
async fn demo_may_listen_on_all_interfaces_as_in_a_container() {
    let demo = BrokerCommand::new()
        .env("BROKER_LISTEN", "0.0.0.0:0")
        .demo();
    let port = demo.value("broker").rsplit(':').next().unwrap().to_owned();
    let loopback = BrokerClient::at(format!("http://127.0.0.1:{port}"));
    let body: serde_json::Value = loopback.get_token().await.json().await.unwrap();
    assert_eq!(body["Code"], "Success");
}
