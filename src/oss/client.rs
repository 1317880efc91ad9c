//! The only code that talks to the OSS API (bucket CORS, HeadObject), signing with OSS V4 headers and the
//! broker's own identity. Typed errors carry OSS's code and request id, never a secret.

use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret as _;

use crate::clock::Clock;
use crate::credentials::AccessKey;
use crate::oss::cors_rules::{from_xml, to_xml, CorsRule};
use crate::oss::header_signer;

#[derive(Debug, thiserror::Error)]
pub enum OssError {
    #[error("bad OSS endpoint `{0}`")]
    Endpoint(String),
    #[error("could not reach OSS: {0}")]
    Transport(#[source] reqwest::Error),
    #[error("OSS refused the request: HTTP {status} {code} ({message}), request id {request_id}")]
    Rejected {
        status: u16,
        code: String,
        message: String,
        request_id: String,
    },
    #[error("OSS sent an answer the broker could not read: {0}")]
    Malformed(String),
}

/// A client for one bucket.
#[derive(Debug, Clone)]
pub struct OssClient {
    http: reqwest::Client,
    /// The bucket URL, without a trailing `/`.
    bucket_url: String,
    bucket: String,
    region: String,
    clock: Arc<dyn Clock>,
}

fn first(xml: &str, tag: &str) -> String {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split_once(&open)
        .and_then(|(_, rest)| rest.split_once(&close))
        .map(|(v, _)| v.trim().to_owned())
        .unwrap_or_default()
}

impl OssClient {
    pub fn new(
        bucket_url: &str,
        bucket: &str,
        region: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, OssError> {
        let http = Self::http().map_err(|_| OssError::Endpoint(bucket_url.to_owned()))?;
        Ok(Self::with_http(http, bucket_url, bucket, region, clock))
    }

    /// The HTTP client OSS clients share (built once; clones share its connections).
    pub fn http() -> Result<reqwest::Client, reqwest::Error> {
        crate::http_client::client(Duration::from_secs(5), Duration::from_secs(15))
    }

    /// A client for one bucket on an existing HTTP client ([`OssClient::http`]).
    pub fn with_http(
        http: reqwest::Client,
        bucket_url: &str,
        bucket: &str,
        region: &str,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            http,
            bucket_url: bucket_url.trim_end_matches('/').to_owned(),
            bucket: bucket.to_owned(),
            region: region.to_owned(),
            clock,
        }
    }

    /// Sends a signed bucket-level request with the sub-resource `?<sub>`.
    async fn send(
        &self,
        key: &AccessKey,
        method: reqwest::Method,
        sub: &str,
        body: Option<String>,
    ) -> Result<(u16, String), OssError> {
        let mut headers = Vec::new();
        if body.is_some() {
            headers.push(("content-type".to_owned(), "application/xml".to_owned()));
        }
        let signed = header_signer::sign(
            method.as_str(),
            Some(&self.bucket),
            None,
            &[(sub.to_owned(), String::new())],
            &headers,
            &key.id,
            key.secret.expose_secret(),
            key.security_token.as_ref().map(|t| t.expose_secret()),
            &self.region,
            self.clock.now(),
        );
        let url = format!("{}/?{sub}", self.bucket_url);
        let mut request = self.http.request(method, &url);
        for (name, value) in headers.iter().chain(&signed) {
            request = request.header(name.as_str(), value.as_str());
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let span = crate::trace::client_span("OSS bucket subresource");
        let response = crate::trace::send(request, span)
            .await
            .map_err(OssError::Transport)?;
        let status = response.status().as_u16();
        let header_request_id = response
            .headers()
            .get("x-oss-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = response.text().await.map_err(OssError::Transport)?;
        if (200..300).contains(&status) {
            return Ok((status, text));
        }
        let code = first(&text, "Code");
        if code.is_empty() {
            return Err(OssError::Malformed(format!(
                "HTTP {status} without an OSS error document"
            )));
        }
        let request_id = match first(&text, "RequestId") {
            id if id.is_empty() => header_request_id,
            id => id,
        };
        Err(OssError::Rejected {
            status,
            code,
            message: first(&text, "Message"),
            request_id,
        })
    }

    /// `GetBucketCors`; `None` when the bucket has no CORS configuration.
    pub async fn get_bucket_cors(
        &self,
        key: &AccessKey,
    ) -> Result<Option<Vec<CorsRule>>, OssError> {
        match self.send(key, reqwest::Method::GET, "cors", None).await {
            Ok((_, text)) => from_xml(&text).map(Some).map_err(OssError::Malformed),
            Err(OssError::Rejected { code, .. }) if code == "NoSuchCORSConfiguration" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `PutBucketCors`: replaces every rule of the bucket with `rules`.
    pub async fn put_bucket_cors(
        &self,
        key: &AccessKey,
        rules: &[CorsRule],
    ) -> Result<(), OssError> {
        self.send(key, reqwest::Method::PUT, "cors", Some(to_xml(rules)))
            .await
            .map(|_| ())
    }

    /// `HeadObject`: the object's size, ETag (quotes removed) and content type, or `None` when
    /// it does not exist. Answered within 2 s or not at all.
    pub async fn head_object(
        &self,
        key: &AccessKey,
        object: &str,
    ) -> Result<Option<(u64, String, String)>, OssError> {
        let signed = header_signer::sign(
            "HEAD",
            Some(&self.bucket),
            Some(object),
            &[],
            &[],
            &key.id,
            key.secret.expose_secret(),
            key.security_token.as_ref().map(|t| t.expose_secret()),
            &self.region,
            self.clock.now(),
        );
        let url = format!(
            "{}/{}",
            self.bucket_url,
            crate::encoding::percent_encode_path(object)
        );
        let mut request = self.http.head(&url).timeout(Duration::from_secs(2));
        for (name, value) in &signed {
            request = request.header(name.as_str(), value.as_str());
        }
        let span = crate::trace::client_span("OSS HEAD object");
        let response = crate::trace::send(request, span)
            .await
            .map_err(OssError::Transport)?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        match status {
            200 => {
                let size = header("content-length")
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| {
                        OssError::Malformed("HeadObject without Content-Length".into())
                    })?;
                let etag = header("etag")
                    .map(|e| e.trim_matches('"').to_owned())
                    .ok_or_else(|| OssError::Malformed("HeadObject without ETag".into()))?;
                let content_type = header("content-type").unwrap_or_default();
                Ok(Some((size, etag, content_type)))
            }
            404 => Ok(None),
            _ => Err(OssError::Rejected {
                status,
                code: "HeadObject".into(),
                message: format!("HTTP {status}"),
                request_id: header("x-oss-request-id").unwrap_or_default(),
            }),
        }
    }
}
