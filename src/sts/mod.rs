//! Everything that speaks to Alibaba Cloud STS: the RPC signer (pure), its errors, retries and
//! the HTTP client. Nothing outside this module builds an STS request.

pub mod client;
pub mod error;
pub mod retry;
pub mod signer;
