//! Unit tests of the STS emulator's own canonicalisation, signing, timestamps, policy grammar and
//! minting against published vectors, and the fixture of the HTTP tests in `tests/http.rs`: an
//! emulator on a manual clock and an independent test-only signer (its own byte-table encoder
//! and HMAC, deliberately not the emulator's code).

use super::mint::{mint_token, random_from, ALNUM};
use super::policy::check_policy;
use super::signature::{sign, string_to_sign};
use super::*;
use crate::common::{
    parse_utc_timestamp as parse_timestamp, percent_encode, policy_allows, wildcard,
};
use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use broker_clock::ManualClock;
use chrono::{Duration, TimeZone};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha1::Sha1;

mod http;

const AK: &str = "LTAI5tTestKey0000000001";
const SECRET: &str = "TestSecret0123456789abcdefghij";
const ACCT: &str = "1234567890123456";
const UPLOADER: &str = "acs:ram::1234567890123456:role/demo-uploader";
const SHORT: &str = "acs:ram::1234567890123456:role/short-role";

fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn sts(method: &str, pairs: &[(&str, &str)]) -> String {
    string_to_sign(method, &kv(pairs).into_iter().collect())
}

// ---- the emulator's canonicalisation against published vectors ----------------------

/// Provenance: protocol.md §2.3 V-DOC (Alibaba "Request signature" page, DOC-RPC-V2); the POST
/// value is an independent recomputation for the same parameters (asserted by third-party repos).
#[test]
fn v_doc_get_and_post_vectors() {
    let params = [
        ("AccessKeyId", "testid"),
        ("Action", "DescribeRegions"),
        ("Format", "XML"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
        ("SignatureVersion", "1.0"),
        ("Timestamp", "2016-02-23T12:46:24Z"),
        ("Version", "2014-05-26"),
    ];
    let get = sts("GET", &params);
    assert_eq!(get, "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26");
    assert_eq!(sign("testsecret", &get), "OLeaidS1JvxuMvnyHOwuJ+uX5qY=");
    assert_eq!(
        sign("testsecret", &sts("POST", &params)),
        "MxbnVAM4w6sft9xjVpe/GCKueuk="
    );
    let with_sig = [&params[..], &[("Signature", "ignored")]].concat();
    assert_eq!(
        sts("GET", &with_sig),
        get,
        "Signature is not part of what it signs"
    );
}

/// Provenance: protocol.md §2.3 V-PY (aliyun-python-sdk-core tests/test_request.py @01a61e8);
/// exercises the empty-valued `SignatureType=`.
#[test]
fn v_py_vector_with_empty_value() {
    let s = sts(
        "GET",
        &[
            ("Action", "action_name"),
            ("Version", "version"),
            ("Format", "None"),
            ("RegionId", "regionid"),
            ("Timestamp", "7e1c7d12-7551-4856-8abb-1938ccac6bcc"),
            ("SignatureNonce", "2018-12-04T04:03:12Z"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureType", ""),
            ("SignatureVersion", "1.0"),
            ("AccessKeyId", "accesskeyid"),
        ],
    );
    assert!(s.contains("%26SignatureType%3D%26"));
    assert_eq!(sign("secret", &s), "Ej4GsaOI7FJyN00E5OpDHHCx2vk=");
}

/// Provenance: protocol.md §2.3 percent-encoding table (credentials-java AcsURLEncoderTest); the
/// second line and the vectors below are protocol.md §2.4 (computed independently, NOT published).
#[test]
fn percent_encoding_and_broker_shaped_vectors() {
    let table = "123abc!@#$%^&*()-=_+ ~|\\/";
    let want = "123abc%21%40%23%24%25%5E%26%2A%28%29-%3D_%2B%20~%7C%5C%2F";
    assert_eq!(percent_encode(table), want);
    assert_eq!(
        percent_encode("a b*c~d+e/f=g:h@i"),
        "a%20b%2Ac~d%2Be%2Ff%3Dg%3Ah%40i"
    );
    for s in [table, "中文 unicode~*", "CAIS+/="] {
        assert_eq!(
            percent_encode(s),
            pct(s),
            "test signer and emulator disagree"
        );
    }
    let policy = r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":["oss:PutObject"],"Resource":["acs:oss:*:*:examplebucket/uploads/*"]}]}"#;
    let common = [
        ("AccessKeyId", "testid"),
        ("Format", "JSON"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("Timestamp", "2024-01-01T00:00:00Z"),
        ("Version", "2015-04-01"),
    ];
    let ar = [
        ("Action", "AssumeRole"),
        ("DurationSeconds", "3600"),
        ("Policy", policy),
        ("RoleArn", "acs:ram::1234567890123456:role/upload-role"),
        ("RoleSessionName", "user-42@mini.app"),
        ("SignatureNonce", "6a3e1b5c-0d2f-4c1e-9f4b-123456789abc"),
    ];
    let ar = [&common[..], &ar[..]].concat();
    assert_eq!(
        sign("testsecret", &sts("GET", &ar)),
        "YwBvvjIJGRBfVGhKUrdSTbHhIUI="
    );
    assert_eq!(
        sign("testsecret", &sts("POST", &ar)),
        "bB0/BZwLmIWhgoF90UX1c5G54YE="
    );
    let tok = [&ar[..], &[("SecurityToken", "CAIS+abc/def==")]].concat();
    assert_eq!(
        sign("testsecret", &sts("POST", &tok)),
        "JmK5ujqHJpW0IXG37CpujIBvFYI="
    );
    let gci = [
        ("Action", "GetCallerIdentity"),
        ("SignatureNonce", "0c7a5f0e-1111-2222-3333-444455556666"),
    ];
    let gci = [&common[..], &gci[..]].concat();
    assert_eq!(
        sign("testsecret", &sts("POST", &gci)),
        "tnk2WpHWeFxb1NHFLHuKaBK2eEM="
    );
}

#[test]
fn timestamp_formats() {
    let t = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
    assert_eq!(parse_timestamp("2024-01-02T03:04:05Z"), Some(t));
    let ms = parse_timestamp("2024-01-02T03:04:05.123Z");
    assert_eq!(ms, Some(t + Duration::milliseconds(123)));
    for bad in [
        "2024-01-02T03:04:05",
        "2024-01-02 03:04:05Z",
        "2024-1-2T03:04:05Z",
        "2024-01-02T03:04:05.Z",
        "2024-01-02T03:04:05+00:00",
        "2024-01-02T03:04:05.12aZ",
    ] {
        assert_eq!(parse_timestamp(bad), None, "{bad}");
    }
}

#[test]
fn policy_grammar_and_matching() {
    let stmt = |s: &str| format!(r#"{{"Version":"1","Statement":[{s}]}}"#);
    let ok = r#"{"Effect":"Allow","Action":"oss:PutObject","Resource":"*"}"#;
    assert!(check_policy(&stmt(ok)).is_some());
    assert!(check_policy(&stmt(
        r#"{"Effect":"Deny","Action":["oss:Get*","sts:*"],"Resource":["a","b"],"Condition":{}}"#
    ))
    .is_some());
    assert!(check_policy(&stmt(r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#)).is_some());
    #[rustfmt::skip]
    let bad = [
        "not json".to_string(), "[]".into(), stmt(""), stmt("1"),
        format!(r#"{{"Statement":[{ok}]}}"#),
        format!(r#"{{"Version":"2","Statement":[{ok}]}}"#),
        format!(r#"{{"Version":1,"Statement":[{ok}]}}"#),
        format!(r#"{{"Version":"1","Statement":{ok}}}"#),
        format!(r#"{{"Version":"1","Statement":[{ok}],"Id":"x"}}"#),
        stmt(r#"{"Effect":"allow","Action":"oss:PutObject","Resource":"*"}"#),
        stmt(r#"{"Effect":"Allow","Action":"PutObject","Resource":"*"}"#),
        stmt(r#"{"Effect":"Allow","Action":[],"Resource":"*"}"#),
        stmt(r#"{"Effect":"Allow","Action":[1],"Resource":"*"}"#),
        stmt(r#"{"Effect":"Allow","Action":"oss:PutObject"}"#),
        stmt(r#"{"Effect":"Allow","Action":"oss:PutObject","Resource":""}"#),
        stmt(r#"{"Effect":"Allow","Action":"oss:PutObject","Resource":"*","Condition":"x"}"#),
        stmt(r#"{"Effect":"Allow","Action":"oss:PutObject","Resource":"*","Principal":"*"}"#),
    ];
    for p in &bad {
        assert!(check_policy(p).is_none(), "{p}");
    }
    let allows = |s: &str| {
        policy_allows(
            &check_policy(&stmt(s)).expect("valid"),
            "sts:AssumeRole",
            None,
        )
    };
    assert!(allows(
        r#"{"Effect":"Allow","Action":"sts:*","Resource":"*"}"#
    ));
    assert!(allows(
        r#"{"Effect":"Allow","Action":"STS:assume*","Resource":"*"}"#
    ));
    assert!(!allows(ok));
    assert!(!allows(
        r#"{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"sts:AssumeRole","Resource":"*"}"#
    ));
    assert!(wildcard("a*b*c", "axxbyyc", false) && !wildcard("a*b", "axxc", false));
}

#[test]
fn demo_config_randomness_and_debug_redaction() {
    let demo = StsEmulatorConfig::demo();
    assert_eq!(
        (demo.account_id.as_str(), demo.access_keys[0].0.as_str()),
        (ACCT, "LTAI5tDemoBrokerKey00001")
    );
    assert_eq!(demo.access_keys[0].1.len(), 30);
    let cred = IssuedCredential {
        access_key_id: "STS.x".into(),
        access_key_secret: "very-secret".into(),
        security_token: "CAIStoken".into(),
        expiration: Utc::now(),
        role_arn: UPLOADER.into(),
        role_session_name: "s1".into(),
        policy: None,
        duration_seconds: 900,
    };
    let dbg = format!("{cred:?}");
    assert!(dbg.contains("STS.x") && !dbg.contains("very-secret") && !dbg.contains("CAIStoken"));
    let tokens: Vec<String> = (0..12).map(|_| mint_token()).collect();
    assert!(tokens
        .iter()
        .all(|t| t.starts_with("CAIS") && t.len() > 1000));
    assert!(tokens.iter().any(|t| t.ends_with('=')), "padding shows up");
    assert!(random_from(ALNUM, 28)
        .bytes()
        .all(|b| b.is_ascii_alphanumeric()));
}

// ---- HTTP tests, signed by an independent test-only signer ---------------------------

/// Byte-table RPC encoder, deliberately not the emulator's form-urlencode recipe.
fn pct(s: &str) -> String {
    (s.bytes())
        .map(
            |b| match b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                true => char::from(b).to_string(),
                false => format!("%{b:02X}"),
            },
        )
        .collect()
}

fn test_string_to_sign(method: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<_> = params.iter().filter(|(k, _)| k != "Signature").collect();
    sorted.sort();
    let canon: Vec<_> = sorted
        .iter()
        .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
        .collect();
    format!("{method}&%2F&{}", pct(&canon.join("&")))
}

/// Adds AccessKeyId, SecurityToken (if any) and the Signature to `params`.
fn signed(
    method: &str,
    ak: &str,
    secret: &str,
    token: Option<&str>,
    mut params: Vec<(String, String)>,
) -> Vec<(String, String)> {
    params.push(("AccessKeyId".into(), ak.into()));
    params.extend(token.map(|t| ("SecurityToken".to_string(), t.to_string())));
    let mut mac =
        <Hmac<Sha1> as KeyInit>::new_from_slice(format!("{secret}&").as_bytes()).expect("key");
    mac.update(test_string_to_sign(method, &params).as_bytes());
    params.push(("Signature".into(), B64.encode(mac.finalize().into_bytes())));
    params
}

/// (extra AssumeRole parameters, expected status, expected code)
type Case<'a> = (&'a [(&'a str, &'a str)], u16, &'a str);

fn code(v: &Value) -> &str {
    v["Code"].as_str().unwrap_or("<none>")
}

struct Fx {
    em: StsEmulator,
    clock: ManualClock,
    http: reqwest::Client,
}

async fn fx() -> Fx {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap());
    let config = StsEmulatorConfig {
        account_id: ACCT.into(),
        access_keys: vec![(AK.into(), SECRET.into())],
        clock: Arc::new(clock.clone()),
        ..StsEmulatorConfig::demo()
    };
    let em = StsEmulator::start(config).await.expect("emulator starts");
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    Fx { em, clock, http }
}

impl Fx {
    /// Unsigned common parameters at the emulator's "now", plus `extra`.
    fn params(&self, action: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let now = self.clock.now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let nonce = uuid::Uuid::new_v4().to_string();
        let common = [
            ("Action", action),
            ("Version", "2015-04-01"),
            ("Format", "JSON"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("SignatureNonce", nonce.as_str()),
            ("Timestamp", now.as_str()),
        ];
        kv(&[&common[..], extra].concat())
    }

    async fn raw(&self, method: &str, params: &[(String, String)]) -> (u16, String) {
        let url = format!("{}/", self.em.endpoint());
        let resp = match method {
            "GET" => {
                let q = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(params)
                    .finish();
                self.http.get(format!("{url}?{q}")).send().await
            }
            _ => self.http.post(url).form(params).send().await,
        };
        let resp = resp.expect("request sent");
        (resp.status().as_u16(), resp.text().await.expect("body"))
    }

    async fn json(&self, method: &str, params: &[(String, String)]) -> (u16, Value) {
        let (status, text) = self.raw(method, params).await;
        (
            status,
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")),
        )
    }

    /// A POST signed with the long-term key.
    async fn call(&self, action: &str, extra: &[(&str, &str)]) -> (u16, Value) {
        self.json(
            "POST",
            &signed("POST", AK, SECRET, None, self.params(action, extra)),
        )
        .await
    }

    /// A long-term POST with parameter `name` replaced (or removed when `value` is None).
    async fn tweaked(&self, name: &str, value: Option<&str>) -> (u16, Value) {
        let mut params = self.params("GetCallerIdentity", &[]);
        params.retain(|(k, _)| k != name);
        params.extend(value.map(|v| (name.to_string(), v.to_string())));
        self.json("POST", &signed("POST", AK, SECRET, None, params))
            .await
    }

    async fn call_as(
        &self,
        c: &IssuedCredential,
        token: Option<&str>,
        action: &str,
        extra: &[(&str, &str)],
    ) -> (u16, Value) {
        let params = signed(
            "POST",
            &c.access_key_id,
            &c.access_key_secret,
            token,
            self.params(action, extra),
        );
        self.json("POST", &params).await
    }

    async fn issue(&self, extra: &[(&str, &str)]) -> IssuedCredential {
        let (status, body) = self.call("AssumeRole", extra).await;
        assert_eq!(status, 200, "{body}");
        self.em
            .issued(body["Credentials"]["AccessKeyId"].as_str().expect("id"))
            .expect("remembered")
    }
}
