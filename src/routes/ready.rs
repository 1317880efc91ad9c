//! `GET /readyz`: 200 while the broker can hand out credentials (from STS or, during an STS
//! outage, from its cache), 503 otherwise; the JSON body says which. Thin: the decision is
//! `crate::readiness`'s.

use actix_web::{web, HttpResponse};

use crate::web::state::AppState;

pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let report = state
        .readiness
        .evaluate(&state.services, &state.issuers())
        .await;
    let mut response = if report.ready {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    response
        .insert_header(("Cache-Control", "no-store"))
        .json(report)
}
