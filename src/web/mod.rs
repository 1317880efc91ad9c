//! The web layer: the app state, the `Caller` extractor, the middleware (request ids and log
//! lines, allowed hosts, CORS), the audit line and the one HTTP error type that turns the
//! domain's typed errors into answers. The routes (`crate::routes`) and the wiring
//! (`crate::startup`) build on it; the domain never imports it.

pub mod audit;
pub mod body;
pub mod cors;
pub mod error;
pub mod extract;
pub mod hosts;
pub mod json;
pub mod middleware;
pub mod state;
