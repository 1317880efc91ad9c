//! sts-broker: hands out short-lived, prefix-scoped Alibaba Cloud STS credentials so mini
//! programs and browsers can upload straight to OSS without a long-term AccessKey.
#![forbid(unsafe_code)]

/// The injectable clock and nonce source (its own crate, shared with the emulators).
pub use broker_clock as clock;

pub mod auth;
pub mod cache;
pub mod config;
pub mod cors;
#[cfg(feature = "demo")]
pub mod demo;
pub mod error;
pub mod healthcheck;
pub mod identity;
pub mod issuer;
pub mod metrics;
pub mod oss;
pub mod policy;
pub mod ratelimit;
pub mod readiness;
pub mod routes;
pub mod shutdown;
pub mod startup;
pub mod sts;
pub mod telemetry;
