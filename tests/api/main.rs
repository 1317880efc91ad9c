//! Black-box tests: the real broker over HTTP on port 0 against the strict STS emulator on
//! port 0. One binary, one `spawn_app()` helper.

mod binary;
mod emulator_strictness;
mod helpers;
mod identity;
mod token;
