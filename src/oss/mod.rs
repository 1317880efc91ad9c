//! Everything the broker says to or signs for OSS: PostObject policies and signatures, OSS V4
//! header signing, and the bucket CORS set-up. Pure stages live apart from the one HTTP client.

pub mod client;
pub mod cors_rules;
pub mod header_signer;
pub mod post_object;
pub mod post_policy;
pub mod post_signer;
