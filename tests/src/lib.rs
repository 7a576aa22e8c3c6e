//! # authgate-e2e
//!
//! No library: this package holds the end-to-end test binary (`tests/e2e`), which starts
//! the real user-service and the backend, ticker and alert examples in one process on
//! `127.0.0.1:0`, wires them together as an operator would (JWKS URL, issuer, API-key
//! endpoint) and walks the platform's flows over HTTP and WebSocket.
//!
//! ```text
//! cargo test -p authgate-e2e                                   # SQLite
//! TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo test -p authgate-e2e                               # and PostgreSQL
//! ```
