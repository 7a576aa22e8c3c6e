//! Integration tests for authgate-actix: one binary, one module per concern. Tests
//! named after a SECURITY.md id (j26_, k01_, w01_...) cover that case.

// Test code: a panic with the failed value is the report we want.
#![allow(clippy::unwrap_used)]

mod client_addr;
mod conformance;
mod extract;
mod guards;
mod helpers;
mod middleware;
mod redact;
mod shim;
#[cfg(feature = "ws")]
mod ws;
