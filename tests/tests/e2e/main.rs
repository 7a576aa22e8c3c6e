//! The platform end to end: the real user-service and the backend, ticker and alert
//! services in one process on 127.0.0.1:0, wired as an operator wires them, walked
//! through the flows a client sees (issue 7). Every flow runs on SQLite and, with
//! `TEST_DATABASE_URL`, on PostgreSQL.

// Test code: a panic with the failed value is the report we want; helpers are shared
// between modules of this binary only.
#![allow(clippy::unwrap_used, missing_docs, unreachable_pub)]

mod harness;

mod identity;
mod keys;
mod services;
