//! The authgate-tower test binary: the real stack driven with `oneshot`, and WebSockets
//! with a real client over 127.0.0.1:0.

#![allow(clippy::unwrap_used)]

mod helpers;

mod auth;
mod client_addr;
mod conformance;
mod extract;
mod shim;
mod ws;
