//! The integration tests, one binary: each module drives the real server over HTTP with
//! independent clients (one test binary links the crate once). Two tests keep binaries of
//! their own because they measure the process: `tests/metrics.rs` (the metrics registry is the
//! process's) and `tests/flood.rs` (RSS).

#[path = "../common/mod.rs"]
mod common;

mod architecture;
mod browser;
mod capacity;
mod concurrency;
mod crash;
mod debits;
mod faults;
mod integrity;
mod lifecycle_crash;
mod oauth_flow;
mod oauth_negative;
mod openapi;
mod portal;
mod reference_api;
mod restarts;
mod sandboxes;
mod scenarios;
mod transfers;
mod webhooks;
