//! Strict emulators of the Alibaba Cloud services the broker talks to, for the test suite and
//! `sts-broker demo`. They verify requests as Alibaba does and must never share signing code
//! with the broker: a bug copied into both would pass unnoticed.

mod common;
pub mod imds;
pub mod oss;
pub mod server;
pub mod sts;
