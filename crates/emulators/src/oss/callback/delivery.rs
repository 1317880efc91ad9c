//! Sending one callback request and judging the reply (protocol.md §9.1, §9.5): a POST with the
//! headers the caller built, a fixed 5-second timeout, no retry, no redirect, never via a proxy,
//! and only to loopback (`localhost` is pinned to 127.0.0.1, so nothing is looked up). Success is
//! 200 with a `Content-Length` of at most 1 MB and a body that is JSON without a BOM; anything
//! else is a failure message worded as OSS words it. It signs nothing and builds no body.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use reqwest::header::{CONTENT_LENGTH, HOST};
use serde_json::Value;
use url::Url;

use super::param::is_loopback;

/// protocol.md §9.1: OSS waits 5 s for the application server.
const TIMEOUT: Duration = Duration::from_secs(5);
/// protocol.md §9.5: the reply body, at most 1 MB.
const MAX_REPLY_BYTES: u64 = 1024 * 1024;

const CANNOT_CONNECT: &str =
    "Error status : -1.OSS can not connect to your callbackUrl, please check it.";
const TOO_LONG_TIME: &str = "Cost too long time";
const NOT_JSON: &str = "Response body is not valid json format";
const NO_LENGTH: &str = "Error Status : 400.User server missing content-length";
const BAD_LENGTH: &str = "Error Status : 400.User server return invalid content-length value";
const TOO_LONG: &str = "Error Status : 400.User server return too long content-length value";
/// A reply that is not HTTP, or a connection dropped before the reply.
const BAD_REPLY: &str = "Error status : 502.";

/// One callback request, ready to send.
pub(in crate::oss) struct Outgoing<'a> {
    pub(in crate::oss) url: &'a Url,
    /// `callbackHost`, or `None` for the URL's own host.
    pub(in crate::oss) host: Option<&'a str>,
    pub(in crate::oss) sni: bool,
    pub(in crate::oss) headers: Vec<(&'static str, String)>,
    pub(in crate::oss) body: &'a [u8],
}

/// Sends `request`; the JSON reply body, or the message of the failure.
pub(in crate::oss) async fn deliver(request: Outgoing<'_>) -> Result<Vec<u8>, String> {
    let url = request.url;
    if !is_loopback(url) {
        tracing::info!("oss emulator calls back on loopback only; this callback fails");
        return Err(CANNOT_CONNECT.to_owned());
    }
    let port = url.port_or_known_default().unwrap_or(80);
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .tls_sni(request.sni)
        .resolve("localhost", SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .build()
        .map_err(|_| CANNOT_CONNECT.to_owned())?;
    let host = request.host.map_or_else(|| url_host(url), str::to_owned);
    let mut builder = client.post(url.clone()).header(HOST, host);
    for (name, value) in request.headers {
        builder = builder.header(name, value);
    }
    let response = builder
        .body(request.body.to_vec())
        .send()
        .await
        .map_err(|e| transport_failure(&e))?;
    judge(response).await
}

/// `host[:port]`, as a client puts it in `Host`.
fn url_host(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

fn transport_failure(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        TOO_LONG_TIME
    } else if e.is_connect() {
        CANNOT_CONNECT
    } else {
        BAD_REPLY
    }
    .to_owned()
}

/// protocol.md §9.5: 200, a positive `Content-Length` within 1 MB, JSON without a BOM. The
/// messages are those of OSS's 203 troubleshooting page.
async fn judge(response: reqwest::Response) -> Result<Vec<u8>, String> {
    let status = response.status().as_u16();
    if status != 200 {
        return Err(format!("Error status : {status}."));
    }
    let Some(length) = response.headers().get(CONTENT_LENGTH) else {
        return Err(NO_LENGTH.to_owned());
    };
    match length.to_str().ok().and_then(|v| v.parse::<u64>().ok()) {
        Some(0) | None => return Err(BAD_LENGTH.to_owned()),
        Some(n) if n > MAX_REPLY_BYTES => return Err(TOO_LONG.to_owned()),
        Some(_) => {}
    }
    let body = response.bytes().await.map_err(|e| transport_failure(&e))?;
    if body.starts_with(b"\xEF\xBB\xBF") || serde_json::from_slice::<Value>(&body).is_err() {
        return Err(NOT_JSON.to_owned());
    }
    Ok(body.to_vec())
}
