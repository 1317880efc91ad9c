//! sts-broker: hands out short-lived, prefix-scoped Alibaba Cloud STS credentials so mini
//! programs and browsers can upload straight to OSS without a long-term AccessKey.
#![forbid(unsafe_code)]

/// The injectable clock and nonce source (its own crate, shared with the emulators).
pub use broker_clock as clock;

pub mod audit;
pub mod auth;
pub mod backoff;
pub mod bucket_cors;
pub mod cache;
pub mod callback;
pub mod cli;
pub mod config;
pub mod cors;
#[cfg(feature = "demo")]
pub mod demo;
pub mod encoding;
pub mod error;
pub mod fleet;
pub mod healthcheck;
pub mod identity;
pub mod issuer;
pub mod metrics;
pub mod middleware;
pub mod oss;
pub mod policy;
pub mod ratelimit;
pub mod readiness;
pub mod request_id;
pub mod routes;
pub mod secret_strength;
pub mod shutdown;
pub mod startup;
pub mod state;
pub mod sts;
pub mod telemetry;
