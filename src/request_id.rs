//! The id of the request being served, as a task-local set by the request middleware, so that
//! log lines written deep inside a call (STS attempts, credential loads) carry it. No I/O.

tokio::task_local! {
    /// The id of the request being served. (`Rc`: a request is served on one worker thread,
    /// and sharing the id costs no allocation.)
    pub static REQUEST_ID: std::rc::Rc<str>;
}

/// The current request's id, or `-` outside a request (a background refresh, say).
pub fn current_request_id() -> String {
    REQUEST_ID
        .try_with(|id| id.to_string())
        .unwrap_or_else(|_| "-".to_owned())
}
