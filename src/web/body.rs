//! Reading a request body, for the routes that read one: at most `limit` bytes, within the
//! body deadline (`BROKER_BODY_TIMEOUT_MS`), and only while fewer than a share of the
//! connection ceiling are being read at once. A client that trickles its body, or many of them,
//! can therefore hold a connection for the deadline at most, and never most of the
//! connections: the credential routes, which read no body, keep the rest.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web::{Bytes, BytesMut, Payload};
use futures_util::StreamExt as _;
use tokio::sync::Semaphore;

use crate::web::error::ApiError;

#[derive(Debug)]
pub struct BodyReader {
    deadline: Duration,
    readers: Arc<Semaphore>,
}

impl BodyReader {
    /// `readers`: bodies read at once, at most.
    pub fn new(deadline: Duration, readers: usize) -> Self {
        Self {
            deadline,
            readers: Arc::new(Semaphore::new(readers.max(1))),
        }
    }

    /// The whole body, or `Busy` (too many bodies being read), `BodyTimeout` (not all of it
    /// within the deadline), `BodyTooLarge` (over `limit`) or `BodyUnreadable`.
    pub async fn read(&self, payload: Payload, limit: usize) -> Result<Bytes, ApiError> {
        let Ok(_reading) = self.readers.try_acquire() else {
            return Err(ApiError::Busy);
        };
        match tokio::time::timeout(self.deadline, collect(payload, limit)).await {
            Ok(body) => body,
            Err(_) => Err(ApiError::BodyTimeout),
        }
    }
}

async fn collect(mut payload: Payload, limit: usize) -> Result<Bytes, ApiError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ApiError::BodyUnreadable)?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::BodyTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
