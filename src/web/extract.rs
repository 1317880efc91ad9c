//! The `Caller` extractor: asks the access layer who is calling (authentication, caller id,
//! rate limits) before a credential route runs.

use actix_web::{dev::Payload, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use super::error::ApiError;
use super::middleware::ClientAddress;
use super::state::AppState;
use crate::auth::Caller;

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            // Borrowed from the request this future owns: no shared count is touched.
            let state = AppState::of(&req)?;
            let client = ClientAddress::of(&req, state);
            Ok(state
                .access
                .caller(req.headers(), req.peer_addr(), client)
                .await?)
        })
    }
}
