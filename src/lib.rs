//! sts-broker: hands out short-lived, prefix-scoped Alibaba Cloud STS credentials so mini
//! programs and browsers can upload straight to OSS without a long-term AccessKey.
#![forbid(unsafe_code)]

/// The injectable clock and nonce source (its own crate, shared with the emulators).
pub use broker_clock as clock;

pub mod admission;
pub mod auth;
pub mod backoff;
pub mod bucket_cors;
pub mod cache;
pub mod callback;
pub mod cli;
pub mod client_address;
pub mod config;
pub mod credentials;
#[cfg(feature = "demo")]
pub mod demo;
pub mod download;
pub mod encoding;
pub mod fleet;
pub mod healthcheck;
pub mod http_client;
pub mod identity;
pub mod issuer;
pub mod key_template;
pub mod metrics;
pub mod multipart;
pub mod object_key;
pub mod oss;
pub mod policy;
pub mod ratelimit;
pub mod readiness;
pub mod request_id;
pub mod routes;
pub mod services;
pub mod shutdown;
pub mod startup;
pub mod sts;
pub mod sync;
pub mod telemetry;
pub mod timefmt;
pub mod trace;
pub mod web;
