//! example-ticker started on 127.0.0.1:0 against a mock JWKS, driven by a real
//! WebSocket client: W01-W04 of SECURITY.md, quotes, readiness, subscription status.

#![allow(clippy::unwrap_used)]

mod helpers;

mod http_routes;
mod websocket;
