//! The web layer's shared state, and the `Caller` extractor that asks the access layer who is
//! calling. Domain modules never see this type.

use std::sync::Arc;

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use crate::auth::{Access, Caller};
use crate::clock::Clock;
use crate::config::Settings;
use crate::error::ApiError;
use crate::issuer::Issuer;
use crate::metrics::Metrics;
use crate::readiness::Readiness;

/// State shared by all handlers.
#[derive(Debug)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub issuer: Issuer,
    pub clock: Arc<dyn Clock>,
    /// Who the caller is and whether it may ask now.
    pub access: Access,
    pub metrics: Arc<Metrics>,
    pub readiness: Readiness,
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| ApiError::Internal("application state is not registered".into()))?
                .clone();
            Ok(state.access.caller(req.headers(), req.peer_addr()).await?)
        })
    }
}
