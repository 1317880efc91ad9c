//! Black-box tests: the real broker over HTTP on port 0 against the strict emulators on port 0,
//! in this process (`TestApp`) or as the compiled binary (`BrokerCommand`). One binary, one
//! harness (`harness`).

mod access;
mod auth;
mod binary;
mod bucket_cors;
mod cache;
mod callbacks;
mod capacity;
mod dashboards;
mod demo_page;
mod docs;
mod downloads;
mod downloads_config;
mod emulator_strictness;
mod fleet;
mod fleet_cluster;
mod fleet_hostile;
mod fleet_loads;
mod forwarding;
mod harness;
mod hosts;
mod identity;
mod jwks;
mod jwt_support;
mod leaks;
mod multipart;
mod multipart_callbacks;
mod object_keys;
mod ops;
mod post_object;
mod profiles;
mod scoping;
mod slow_bodies;
mod token;
mod traces;
