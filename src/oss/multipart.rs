//! The broker's own multipart calls to OSS (protocol.md §17): InitiateMultipartUpload (content
//! type, `x-oss-forbid-overwrite`), ListParts (following the part-number marker to the end),
//! CompleteMultipartUpload (a parts list, or `x-oss-complete-all: yes`; `x-oss-callback` for a
//! profile with a callback) and AbortMultipartUpload, each signed with OSS V4 headers by the key
//! it is given (a borrowed [`PresignKey`], the same the part URLs are signed with). Requests are built by pure functions (tested without a network); OSS's refusals
//! come back as [`OssRefusal`] with OSS's code, so the web layer can tell a client's fault
//! (`EntityTooSmall`, `InvalidPart`) from the broker's. It decides nothing about who may upload
//! what, and never logs or returns a secret.

use std::sync::Arc;

use crate::clock::Clock;
use crate::encoding::{percent_encode, percent_encode_path};
use crate::oss::header_signer;
use crate::oss::multipart_xml::{
    complete_body, parse_completed, parse_error, parse_initiated, parse_parts_page, Completed,
    Initiated, ListedPart,
};
use crate::oss::presign::PresignKey;

/// OSS answers at most this many parts per ListParts page (protocol.md §17.2).
const PAGE_SIZE: u32 = 1000;
/// 10,000 parts at most, in pages of 1000: more pages than this is a broken answer.
const MAX_PAGES: usize = 11;

/// OSS refused a multipart call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OssRefusal {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub request_id: String,
    pub ec: Option<String>,
}

impl OssRefusal {
    /// Refusals caused by what the uploader sent (its parts and ETags), not by the broker: the
    /// uploader can fix them, so they are the client's `400` with OSS's code, never a 5xx.
    pub fn is_uploaders_fault(&self) -> bool {
        matches!(
            self.code.as_str(),
            "EntityTooSmall" | "InvalidPart" | "InvalidPartOrder"
        )
    }

    pub fn is_no_such_upload(&self) -> bool {
        self.code == "NoSuchUpload"
    }

    pub fn is_file_exists(&self) -> bool {
        self.code == "FileAlreadyExists"
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MultipartError {
    #[error("could not reach OSS: {0}")]
    Transport(#[source] reqwest::Error),
    #[error("OSS refused the request: HTTP {} {} ({}), request id {}", .0.status, .0.code, .0.message, .0.request_id)]
    Rejected(OssRefusal),
    #[error("OSS sent an answer the broker could not read: {0}")]
    Malformed(String),
}

impl MultipartError {
    /// OSS's refusal, when that is what this is.
    pub fn refusal(&self) -> Option<&OssRefusal> {
        match self {
            MultipartError::Rejected(r) => Some(r),
            _ => None,
        }
    }
}

/// Which parts CompleteMultipartUpload joins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartsToJoin {
    /// These `(part number, ETag)`, ascending; ETags quoted as OSS gave them.
    Listed(Vec<(u32, String)>),
    /// `x-oss-complete-all: yes`: every uploaded part, in order.
    All,
}

/// What CompleteMultipartUpload is asked.
#[derive(Debug, Clone)]
pub struct CompleteRequest {
    pub parts: PartsToJoin,
    pub forbid_overwrite: bool,
    /// The Base64 `x-oss-callback` value (and `x-oss-callback-var`), when OSS is to call back.
    pub callback: Option<String>,
    pub callback_var: Option<String>,
}

/// How a completion ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Completion {
    /// Stored; OSS's `CompleteMultipartUploadResult`.
    Stored(Completed),
    /// Stored, and the callback's receiver answered this JSON (OSS relays it with 200).
    CallbackAnswered(serde_json::Value),
    /// Stored, but the callback failed (OSS's 203 `CallbackFailed`); the message is OSS's.
    CallbackFailed { message: String, request_id: String },
}

/// A request ready to send: everything but the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

/// The bucket the calls go to, and how they are signed.
#[derive(Debug, Clone)]
pub struct MultipartTarget {
    /// The bucket URL, without a trailing `/` (path style on loopback, virtual-hosted otherwise).
    pub bucket_url: String,
    pub bucket: String,
    pub region: String,
}

/// A request before signing: `query` decoded, `headers` the request's own (`content-type`).
struct Unsigned<'a> {
    method: &'static str,
    object: &'a str,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Option<String>,
}

impl MultipartTarget {
    /// Signs `req`: the URL and every header to send.
    fn prepare(
        &self,
        key: &PresignKey<'_>,
        now: chrono::DateTime<chrono::Utc>,
        req: Unsigned<'_>,
    ) -> Prepared {
        let Unsigned {
            method,
            object,
            query,
            headers,
            body,
        } = req;
        let signed = header_signer::sign(
            method,
            Some(&self.bucket),
            Some(object),
            &query,
            &headers,
            key.access_key_id,
            key.secret,
            key.security_token,
            &self.region,
            now,
        );
        let query_string = query
            .iter()
            .map(|(k, v)| match v.is_empty() {
                true => percent_encode(k),
                false => format!("{}={}", percent_encode(k), percent_encode(v)),
            })
            .collect::<Vec<_>>()
            .join("&");
        Prepared {
            method,
            url: format!(
                "{}/{}?{query_string}",
                self.bucket_url,
                percent_encode_path(object)
            ),
            headers: headers.into_iter().chain(signed).collect(),
            body,
        }
    }

    /// `POST /<object>?uploads` with the object's content type.
    pub fn initiate(
        &self,
        key: &PresignKey<'_>,
        now: chrono::DateTime<chrono::Utc>,
        object: &str,
        content_type: &str,
        forbid_overwrite: bool,
    ) -> Prepared {
        let mut headers = vec![("content-type".to_owned(), content_type.to_owned())];
        if forbid_overwrite {
            headers.push(("x-oss-forbid-overwrite".to_owned(), "true".to_owned()));
        }
        let query = vec![("uploads".to_owned(), String::new())];
        self.prepare(
            key,
            now,
            Unsigned {
                method: "POST",
                object,
                query,
                headers,
                body: None,
            },
        )
    }

    /// `GET /<object>?uploadId=&max-parts=1000&part-number-marker=` (one page).
    pub fn list_parts(
        &self,
        key: &PresignKey<'_>,
        now: chrono::DateTime<chrono::Utc>,
        object: &str,
        upload_id: &str,
        marker: u32,
    ) -> Prepared {
        let mut query = vec![
            ("uploadId".to_owned(), upload_id.to_owned()),
            ("max-parts".to_owned(), PAGE_SIZE.to_string()),
        ];
        if marker > 0 {
            query.push(("part-number-marker".to_owned(), marker.to_string()));
        }
        self.prepare(
            key,
            now,
            Unsigned {
                method: "GET",
                object,
                query,
                headers: Vec::new(),
                body: None,
            },
        )
    }

    /// `POST /<object>?uploadId=` with the parts list, or empty with `x-oss-complete-all`.
    pub fn complete(
        &self,
        key: &PresignKey<'_>,
        now: chrono::DateTime<chrono::Utc>,
        object: &str,
        upload_id: &str,
        request: &CompleteRequest,
    ) -> Prepared {
        let mut headers = Vec::new();
        let body = match &request.parts {
            PartsToJoin::Listed(parts) => {
                headers.push(("content-type".to_owned(), "application/xml".to_owned()));
                Some(complete_body(parts))
            }
            PartsToJoin::All => {
                headers.push(("x-oss-complete-all".to_owned(), "yes".to_owned()));
                None
            }
        };
        if request.forbid_overwrite {
            headers.push(("x-oss-forbid-overwrite".to_owned(), "true".to_owned()));
        }
        if let Some(callback) = &request.callback {
            headers.push(("x-oss-callback".to_owned(), callback.clone()));
        }
        if let Some(var) = &request.callback_var {
            headers.push(("x-oss-callback-var".to_owned(), var.clone()));
        }
        let query = vec![("uploadId".to_owned(), upload_id.to_owned())];
        self.prepare(
            key,
            now,
            Unsigned {
                method: "POST",
                object,
                query,
                headers,
                body,
            },
        )
    }

    /// `DELETE /<object>?uploadId=`.
    pub fn abort(
        &self,
        key: &PresignKey<'_>,
        now: chrono::DateTime<chrono::Utc>,
        object: &str,
        upload_id: &str,
    ) -> Prepared {
        let query = vec![("uploadId".to_owned(), upload_id.to_owned())];
        self.prepare(
            key,
            now,
            Unsigned {
                method: "DELETE",
                object,
                query,
                headers: Vec::new(),
                body: None,
            },
        )
    }
}

/// Sends the prepared requests; one per bucket.
#[derive(Debug, Clone)]
pub struct MultipartClient {
    http: reqwest::Client,
    target: MultipartTarget,
    clock: Arc<dyn Clock>,
}

/// An answer as received.
struct Answer {
    status: u16,
    request_id: String,
    body: String,
}

impl Answer {
    /// OSS's `<Error>` as a refusal; an error without one is a malformed answer.
    fn refusal(self) -> MultipartError {
        match parse_error(&self.body) {
            Some(doc) => MultipartError::Rejected(OssRefusal {
                status: self.status,
                code: doc.code,
                message: doc.message,
                request_id: if doc.request_id.is_empty() {
                    self.request_id
                } else {
                    doc.request_id
                },
                ec: doc.ec,
            }),
            None => MultipartError::Malformed(format!(
                "HTTP {} without an OSS error document",
                self.status
            )),
        }
    }
}

impl MultipartClient {
    /// `http` should have connect and request timeouts; calls are bounded by them.
    pub fn new(http: reqwest::Client, target: MultipartTarget, clock: Arc<dyn Clock>) -> Self {
        Self {
            http,
            target,
            clock,
        }
    }

    pub fn target(&self) -> &MultipartTarget {
        &self.target
    }

    async fn send(&self, prepared: Prepared) -> Result<Answer, MultipartError> {
        let method = reqwest::Method::from_bytes(prepared.method.as_bytes())
            .expect("the broker's own methods are valid");
        let mut request = self.http.request(method, &prepared.url);
        for (name, value) in &prepared.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        if let Some(body) = prepared.body {
            request = request.body(body);
        }
        let span = crate::trace::client_span("OSS multipart");
        let response = crate::trace::send(request, span)
            .await
            .map_err(MultipartError::Transport)?;
        let status = response.status().as_u16();
        let request_id = response
            .headers()
            .get("x-oss-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response.text().await.map_err(MultipartError::Transport)?;
        Ok(Answer {
            status,
            request_id,
            body,
        })
    }

    /// InitiateMultipartUpload; the answer must name the key asked for.
    pub async fn initiate(
        &self,
        key: &PresignKey<'_>,
        object: &str,
        content_type: &str,
        forbid_overwrite: bool,
    ) -> Result<Initiated, MultipartError> {
        let now = self.clock.now();
        let prepared = self
            .target
            .initiate(key, now, object, content_type, forbid_overwrite);
        let answer = self.send(prepared).await?;
        if answer.status != 200 {
            return Err(answer.refusal());
        }
        let initiated = parse_initiated(&answer.body).map_err(MultipartError::Malformed)?;
        if initiated.key != object {
            return Err(MultipartError::Malformed(
                "InitiateMultipartUpload answered for another key".into(),
            ));
        }
        Ok(initiated)
    }

    /// Every uploaded part, ascending, following `NextPartNumberMarker` page by page.
    pub async fn list_parts(
        &self,
        key: &PresignKey<'_>,
        object: &str,
        upload_id: &str,
    ) -> Result<Vec<ListedPart>, MultipartError> {
        let mut parts: Vec<ListedPart> = Vec::new();
        let mut marker = 0;
        for _ in 0..MAX_PAGES {
            let now = self.clock.now();
            let prepared = self.target.list_parts(key, now, object, upload_id, marker);
            let answer = self.send(prepared).await?;
            if answer.status != 200 {
                return Err(answer.refusal());
            }
            let page = parse_parts_page(&answer.body).map_err(MultipartError::Malformed)?;
            if page.parts.first().is_some_and(|p| p.part_number <= marker) {
                return Err(MultipartError::Malformed(
                    "ListParts answered parts before its marker".into(),
                ));
            }
            parts.extend(page.parts);
            if !page.truncated {
                return Ok(parts);
            }
            if page.next_marker <= marker {
                return Err(MultipartError::Malformed(
                    "ListParts did not advance its marker".into(),
                ));
            }
            marker = page.next_marker;
        }
        Err(MultipartError::Malformed(
            "ListParts answered more pages than 10,000 parts need".into(),
        ))
    }

    /// CompleteMultipartUpload; see [`Completion`] for the callback outcomes.
    pub async fn complete(
        &self,
        key: &PresignKey<'_>,
        object: &str,
        upload_id: &str,
        request: &CompleteRequest,
    ) -> Result<Completion, MultipartError> {
        let now = self.clock.now();
        let prepared = self.target.complete(key, now, object, upload_id, request);
        let answer = self.send(prepared).await?;
        match answer.status {
            200 if request.callback.is_some() => serde_json::from_str(&answer.body)
                .map(Completion::CallbackAnswered)
                .map_err(|_| MultipartError::Malformed("the callback answer is not JSON".into())),
            200 => parse_completed(&answer.body)
                .map(Completion::Stored)
                .map_err(MultipartError::Malformed),
            203 => match parse_error(&answer.body) {
                Some(doc) if doc.code == "CallbackFailed" => Ok(Completion::CallbackFailed {
                    message: doc.message,
                    request_id: doc.request_id,
                }),
                _ => Err(MultipartError::Malformed(
                    "HTTP 203 without CallbackFailed".into(),
                )),
            },
            _ => Err(answer.refusal()),
        }
    }

    /// AbortMultipartUpload.
    pub async fn abort(
        &self,
        key: &PresignKey<'_>,
        object: &str,
        upload_id: &str,
    ) -> Result<(), MultipartError> {
        let now = self.clock.now();
        let answer = self
            .send(self.target.abort(key, now, object, upload_id))
            .await?;
        match answer.status {
            204 | 200 => Ok(()),
            _ => Err(answer.refusal()),
        }
    }
}

#[cfg(test)]
#[path = "multipart_tests.rs"]
mod tests;
