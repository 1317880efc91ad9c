//! The STS emulator is only worth testing against if it is as strict as STS: these drive it
//! with the broker's own client and with hand-tampered requests.

use std::sync::Arc;

use broker_emulators::sts::{StsEmulator, StsEmulatorConfig};
use chrono::{Duration, Utc};
use secrecy::SecretString;
use sts_broker::clock::{FixedNonce, ManualClock, SkewedClock, SystemClock, UuidNonces};
use sts_broker::credentials::AccessKey;
use sts_broker::sts::client::{StsClient, StsConfig, StsError};
use sts_broker::sts::signer;

use crate::harness::Sts;

fn identity(config: &StsEmulatorConfig) -> AccessKey {
    AccessKey {
        id: config.access_keys[0].0.clone(),
        secret: SecretString::from(config.access_keys[0].1.clone()),
        security_token: None,
    }
}

fn client(
    sts: &StsEmulator,
    clock: Arc<dyn sts_broker::clock::Clock>,
    nonces: Arc<dyn sts_broker::clock::NonceSource>,
) -> StsClient {
    StsClient::new(
        StsConfig {
            connect_timeout: std::time::Duration::from_secs(2),
            timeout: std::time::Duration::from_secs(5),
            ..StsConfig::for_endpoint(sts.endpoint().parse().unwrap())
        },
        clock,
        nonces,
    )
    .unwrap()
}

fn code(err: StsError) -> String {
    err.upstream_code()
        .expect("an STS error document")
        .to_owned()
}

#[tokio::test]
async fn accepts_a_correct_call() {
    let sts = Sts::demo().await;
    let config = sts.config.clone();
    let c = client(&sts, Arc::new(SystemClock), Arc::new(UuidNonces));
    let me = c.get_caller_identity(&identity(&config)).await.unwrap();
    assert_eq!(me.account_id, config.account_id);
    assert_eq!(me.identity_type, "RAMUser");
}

#[tokio::test]
async fn rejects_stale_and_future_timestamps() {
    let sts = Sts::demo().await;
    let config = sts.config.clone();
    for offset in [Duration::minutes(-20), Duration::minutes(16)] {
        let c = client(&sts, Arc::new(SkewedClock { offset }), Arc::new(UuidNonces));
        let err = c.get_caller_identity(&identity(&config)).await.unwrap_err();
        assert_eq!(code(err), "InvalidTimeStamp.Expired", "offset {offset}");
    }
    // Inside the window is fine.
    let clock = ManualClock::new(Utc::now() - Duration::minutes(10));
    let c = client(&sts, Arc::new(clock), Arc::new(UuidNonces));
    assert!(c.get_caller_identity(&identity(&config)).await.is_ok());
}

#[tokio::test]
async fn rejects_a_replayed_nonce() {
    let sts = Sts::demo().await;
    let config = sts.config.clone();
    let nonce = Arc::new(FixedNonce(uuid::Uuid::new_v4().to_string()));
    let c = client(&sts, Arc::new(SystemClock), nonce);
    assert!(c.get_caller_identity(&identity(&config)).await.is_ok());
    let err = c.get_caller_identity(&identity(&config)).await.unwrap_err();
    assert_eq!(code(err), "SignatureNonceUsed");
}

/// A correctly signed form, for tampering.
fn signed_form(config: &StsEmulatorConfig) -> Vec<(String, String)> {
    let timestamp = Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let nonce = uuid::Uuid::new_v4().to_string();
    let mut params: Vec<(String, String)> = [
        ("Action", "AssumeRole"),
        ("Version", "2015-04-01"),
        ("Format", "JSON"),
        ("AccessKeyId", config.access_keys[0].0.as_str()),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("SignatureNonce", nonce.as_str()),
        ("Timestamp", timestamp.as_str()),
        ("RoleArn", "acs:ram::1234567890123456:role/demo-uploader"),
        ("RoleSessionName", "alice"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let signature = signer::sign(
        "POST",
        params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &config.access_keys[0].1,
    );
    params.push(("Signature".into(), signature));
    params
}

#[tokio::test]
async fn rejects_tampered_requests_and_accepts_the_untampered_one() {
    let sts = Sts::demo().await;
    let config = sts.config.clone();
    let http = reqwest::Client::new();
    let post = |form: Vec<(String, String)>| {
        let http = http.clone();
        let url = sts.endpoint();
        async move {
            let response = http.post(url).form(&form).send().await.unwrap();
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap();
            (status, body)
        }
    };

    let mut tampered = signed_form(&config);
    for (name, value) in tampered.iter_mut() {
        if name == "RoleSessionName" {
            *value = "mallory".into();
        }
    }
    let (status, body) = post(tampered).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("SignatureDoesNotMatch"))
    );

    let mut resigned_by_stranger = signed_form(&config);
    resigned_by_stranger.pop();
    let forged = signer::sign(
        "POST",
        resigned_by_stranger
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str())),
        "someone-elses-secret",
    );
    resigned_by_stranger.push(("Signature".into(), forged));
    let (status, body) = post(resigned_by_stranger).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("SignatureDoesNotMatch"))
    );

    // Signed for GET, sent as POST.
    let mut wrong_method = signed_form(&config);
    wrong_method.pop();
    let get_sig = signer::sign(
        "GET",
        wrong_method.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &config.access_keys[0].1,
    );
    wrong_method.push(("Signature".into(), get_sig));
    let (status, body) = post(wrong_method).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("SignatureDoesNotMatch"))
    );

    let (status, body) = post(signed_form(&config)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["Credentials"]["AccessKeyId"]
        .as_str()
        .unwrap()
        .starts_with("STS."));
}
