//! Fault injection for the STS emulator: which injected [`Fault`] applies to a request (queued
//! ones first, then the persistent one) and what the client then sees — an error document, a
//! delay, garbage or a dropped connection. It runs before any check and must not consume nonces
//! or issue anything.

use actix_web::{web, HttpResponse};

use super::errors::{error_response, fail};
use super::{Fault, Inner};

const GARBAGE: &str =
    "<html><head><title>502 Bad Gateway</title></head><body>Tengine</body></html>";

/// Counts the request and takes the fault due for it, if any.
pub(super) fn next_fault(inner: &Inner) -> Option<Fault> {
    let mut st = inner.state();
    st.requests += 1;
    st.queued.pop_front().or_else(|| st.persistent.clone())
}

/// The answer a fault forces; `None` when the request is to be processed (no fault, or after a
/// delay).
pub(super) async fn apply(fault: Option<Fault>, request_id: &str) -> Option<HttpResponse> {
    let canned = |code| Some(error_response(request_id, &fail(code)));
    match fault {
        None => None,
        Some(Fault::Throttle) => canned("Throttling.User"),
        Some(Fault::InternalError) => canned("InternalError"),
        Some(Fault::ServiceUnavailable) => canned("ServiceUnavailable"),
        Some(Fault::Delay(d)) => {
            tokio::time::sleep(d).await;
            None
        }
        Some(Fault::Reject(code)) => canned(code),
        Some(Fault::Garbage) => Some(HttpResponse::Ok().content_type("text/html").body(GARBAGE)),
        Some(Fault::DropConnection) => {
            // A body stream failing before its first byte makes actix abort the connection
            // without flushing the head, so the client sees a broken connection.
            let s = futures_util::stream::once(async {
                Err::<web::Bytes, _>(std::io::Error::other("emulated connection drop"))
            });
            Some(HttpResponse::Ok().streaming(s))
        }
    }
}
