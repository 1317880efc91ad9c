//! Thin handlers: extract → domain call → DTO. No parsing of auth headers, no STS details.

#[cfg(feature = "demo")]
pub mod demo_page;
pub mod health;
pub mod metrics;
pub mod multipart;
pub mod object_urls;
pub mod oss_callback;
pub mod post_params;
pub mod ready;
pub mod s3_params;
pub mod token;
