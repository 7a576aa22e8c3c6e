//! example-backend driven in-process with `oneshot`, and once over TCP.

#![allow(clippy::unwrap_used)]

mod routes;
mod startup;
