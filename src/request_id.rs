//! The ids of the request being served, as a task-local set by the request middleware, so that
//! log lines written deep inside a call (STS attempts, credential loads) carry the broker's own
//! id and error bodies carry the one the response echoes. No I/O; ids are made by the middleware.

/// A request's ids: the broker's own, unique for every request, which every log line calls
/// `request_id`; and the caller's `X-Request-Id` when it sent a sane one, which is only ever
/// logged as `client_request_id` beside it (a caller can send any id, even another request's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestIds {
    pub own: String,
    pub client: Option<String>,
}

impl RequestIds {
    /// The id the response carries in `X-Request-Id` and error bodies: the caller's when it
    /// sent a sane one, else the broker's own.
    pub fn answered(&self) -> &str {
        self.client.as_deref().unwrap_or(&self.own)
    }
}

tokio::task_local! {
    /// The ids of the request being served. (`Rc`: a request is served on one worker thread,
    /// and sharing the ids costs no allocation.)
    pub static REQUEST_ID: std::rc::Rc<RequestIds>;
}

/// The broker's own id of the current request, or `-` outside a request (a background
/// refresh, say). This is what log lines call `request_id`.
pub fn current_request_id() -> String {
    REQUEST_ID
        .try_with(|ids| ids.own.clone())
        .unwrap_or_else(|_| "-".to_owned())
}

/// The id the current request's answer carries ([`RequestIds::answered`]), for error bodies;
/// `-` outside a request.
pub fn answered_request_id() -> String {
    REQUEST_ID
        .try_with(|ids| ids.answered().to_owned())
        .unwrap_or_else(|_| "-".to_owned())
}
