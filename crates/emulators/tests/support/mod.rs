//! What the OSS emulator's integration tests share, written apart from the emulator's own code:
//! emulators on loopback, V1-signed PostObject forms, OSS V4 header signatures, and a raw
//! loopback HTTP server that records callback requests and answers them as told.

#![allow(dead_code)]

pub(crate) mod multipart;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use broker_clock::SystemClock;
use broker_emulators::oss::{OssEmulator, OssEmulatorConfig};
use broker_emulators::sts::{StsEmulator, StsEmulatorConfig};
use chrono::Utc;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub(crate) const BUCKET: &str = "examplebucket";
pub(crate) const REGION: &str = "cn-hangzhou";
/// The demo account's long-term key (`StsEmulatorConfig::demo`).
pub(crate) const AK: &str = "LTAI5tDemoBrokerKey00001";
pub(crate) const SECRET: &str = "EmuDemoSecretDoNotUseInProd001";

pub(crate) struct Emulators {
    pub sts: StsEmulator,
    pub oss: OssEmulator,
}

pub(crate) async fn start() -> Emulators {
    let sts = StsEmulator::start(StsEmulatorConfig::demo())
        .await
        .expect("sts starts");
    let oss = OssEmulator::start(OssEmulatorConfig {
        bucket: BUCKET.into(),
        region: REGION.into(),
        keys: sts.keys(),
        clock: Arc::new(SystemClock),
    })
    .await
    .expect("oss starts");
    Emulators { sts, oss }
}

pub(crate) fn b64(s: &str) -> String {
    B64.encode(s)
}

/// A V1 form: `key`, `policy`, `OSSAccessKeyId`, `Signature`, then `fields`, then the file.
pub(crate) struct Upload {
    pub key: String,
    pub conditions: Vec<serde_json::Value>,
    pub fields: Vec<(String, String)>,
    pub file: Vec<u8>,
    pub content_type: String,
}

impl Upload {
    pub(crate) fn new(key: &str, file: &[u8]) -> Upload {
        Upload {
            key: key.into(),
            conditions: vec![
                serde_json::json!({ "bucket": BUCKET }),
                serde_json::json!(["starts-with", "$key", "uploads/"]),
            ],
            fields: Vec::new(),
            file: file.to_vec(),
            content_type: "text/plain".into(),
        }
    }

    /// Adds the `callback` field, pinned in the policy as the broker pins it.
    pub(crate) fn with_pinned_callback(mut self, callback_json: &str) -> Upload {
        let value = b64(callback_json);
        self.conditions
            .push(serde_json::json!({ "callback": value.clone() }));
        self.field("callback", &value)
    }

    pub(crate) fn field(mut self, name: &str, value: &str) -> Upload {
        self.fields.push((name.into(), value.into()));
        self
    }

    /// The multipart body and its boundary.
    pub(crate) fn body(&self) -> (Vec<u8>, String) {
        let boundary = "9431149156168".to_owned();
        let expiration = (Utc::now() + chrono::Duration::hours(1))
            .format("%Y-%m-%dT%H:%M:%S.000Z")
            .to_string();
        let policy = b64(&serde_json::json!({
            "expiration": expiration,
            "conditions": self.conditions,
        })
        .to_string());
        let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(policy.as_bytes());
        let signature = B64.encode(mac.finalize().into_bytes());
        let mut fields = vec![
            ("key".to_owned(), self.key.clone()),
            ("policy".to_owned(), policy),
            ("OSSAccessKeyId".to_owned(), AK.to_owned()),
            ("Signature".to_owned(), signature),
        ];
        fields.extend(self.fields.iter().cloned());
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                    .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\nContent-Type: {}\r\n\r\n", self.content_type)
                .as_bytes(),
        );
        body.extend_from_slice(&self.file);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        (body, boundary)
    }

    pub(crate) async fn post(&self, oss: &OssEmulator) -> reqwest::Response {
        let (body, boundary) = self.body();
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .post(oss.bucket_url())
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .expect("the emulator answers")
    }
}

fn hmac_sha256(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// A request to `/<BUCKET>/<key>` signed with OSS V4 in the `Authorization` header (no query,
/// no additional headers, unsigned payload). `key` must need no percent-encoding.
pub(crate) fn v4_signed(
    method: reqwest::Method,
    endpoint: &str,
    key: &str,
    ak: &str,
    secret: &str,
    token: Option<&str>,
) -> reqwest::RequestBuilder {
    let now = Utc::now();
    let datetime = now.format("%Y%m%dT%H%M%SZ").to_string();
    let date = now.format("%Y%m%d").to_string();
    let mut canonical_headers =
        format!("x-oss-content-sha256:UNSIGNED-PAYLOAD\nx-oss-date:{datetime}\n");
    if let Some(token) = token {
        canonical_headers.push_str(&format!("x-oss-security-token:{token}\n"));
    }
    let canonical = format!(
        "{}\n/{BUCKET}/{key}\n\n{canonical_headers}\n\nUNSIGNED-PAYLOAD",
        method.as_str()
    );
    let scope = format!("{date}/{REGION}/oss/aliyun_v4_request");
    let string_to_sign = format!(
        "OSS4-HMAC-SHA256\n{datetime}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mut signing_key = format!("aliyun_v4{secret}").into_bytes();
    for step in [date.as_str(), REGION, "oss", "aliyun_v4_request"] {
        signing_key = hmac_sha256(&signing_key, step);
    }
    let signature = hex::encode(hmac_sha256(&signing_key, &string_to_sign));
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut request = client
        .request(method, format!("{endpoint}/{BUCKET}/{key}"))
        .header("x-oss-date", datetime)
        .header("x-oss-content-sha256", "UNSIGNED-PAYLOAD")
        .header(
            "authorization",
            format!("OSS4-HMAC-SHA256 Credential={ak}/{scope},Signature={signature}"),
        );
    if let Some(token) = token {
        request = request.header("x-oss-security-token", token);
    }
    request
}

/// A callback request as the receiver got it.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub method: String,
    /// The request target: path and query as sent.
    pub target: String,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How the receiver answers.
#[derive(Clone)]
pub(crate) enum Reply {
    /// These bytes, as the whole HTTP answer, then the connection closes.
    Raw(Vec<u8>),
    /// Nothing for this long, then the bytes.
    Late(Duration, Vec<u8>),
}

/// `200 OK` with `body` and its `Content-Length`.
pub(crate) fn json_reply(body: &str) -> Reply {
    Reply::Raw(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

/// A loopback server that records every request and gives each the same reply.
pub(crate) struct Receiver {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub(crate) async fn start(reply: Reply) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (log, reply) = (log.clone(), reply.clone());
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut stream).await else {
                        return;
                    };
                    log.lock().unwrap().push(request);
                    let bytes = match reply {
                        Reply::Raw(b) => b,
                        Reply::Late(wait, b) => {
                            tokio::time::sleep(wait).await;
                            b
                        }
                    };
                    let _ = stream.write_all(&bytes).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Receiver {
            addr,
            received,
            task,
        }
    }

    /// `http://127.0.0.1:<port><path_and_query>`
    pub(crate) fn url(&self, path_and_query: &str) -> String {
        format!("http://127.0.0.1:{}{path_and_query}", self.addr.port())
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<Received> {
    let mut data = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(data[..head_end].to_vec()).ok()?;
    let mut lines = head.split("\r\n");
    let mut start = lines.next()?.split(' ');
    let (method, target) = (start.next()?.to_owned(), start.next()?.to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = data[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Received {
        method,
        target,
        headers,
        body,
    })
}
