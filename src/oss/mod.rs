//! Everything the broker says to or signs for OSS: PostObject policies and signatures, OSS V4
//! header signing, presigned URLs and their `response-content-disposition`, and the bucket CORS
//! set-up. Pure stages live apart from the one HTTP client.

pub mod client;
pub mod cors_rules;
pub mod disposition;
pub mod header_signer;
pub mod multipart;
pub mod multipart_xml;
pub mod post_object;
pub mod post_policy;
pub mod post_signer;
pub mod presign;
