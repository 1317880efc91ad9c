//! Black-box tests: the real broker over HTTP on port 0 against the strict STS emulator on
//! port 0. One binary, one `spawn_app()` helper.

mod access;
mod auth;
mod binary;
mod bucket_cors;
mod cache;
mod demo_page;
mod emulator_strictness;
mod helpers;
mod identity;
mod jwt_support;
mod leaks;
mod ops;
mod post_object;
mod scoping;
mod token;
