//! sts-broker: hands out short-lived, prefix-scoped Alibaba Cloud STS credentials so mini
//! programs and browsers can upload straight to OSS without a long-term AccessKey.
#![forbid(unsafe_code)]

pub mod auth;
pub mod cache;
pub mod clock;
pub mod config;
pub mod cors;
pub mod demo;
pub mod emulator;
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
