//! Who the caller is, as an extractor; handlers never look at authentication headers.

use std::future::{ready, Ready};

use actix_web::{dev::Payload, FromRequest, HttpRequest};

use crate::config::AuthMode;
use crate::error::ApiError;
use crate::policy::CallerId;
use crate::startup::AppState;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub id: CallerId,
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let mode = req
            .app_data::<actix_web::web::Data<AppState>>()
            .map(|state| state.settings.auth);
        ready(match mode {
            Some(AuthMode::None) => Ok(Caller {
                id: CallerId::anonymous(),
            }),
            None => Err(ApiError::Internal(
                "application state is not registered".into(),
            )),
        })
    }
}
