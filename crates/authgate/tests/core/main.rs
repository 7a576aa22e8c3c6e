//! Integration tests of the core crate: one binary, one module per concern.
//! Security cases are named after their ids in `shared/SECURITY.md`.

// Test code: a panic is a failed test, with the location that caused it.
#![allow(clippy::unwrap_used)]

mod api_keys;
mod authenticator;
mod helpers;
#[cfg(feature = "remote")]
mod keyset;
#[cfg(feature = "metrics")]
mod observability;
mod providers;
mod verify;
