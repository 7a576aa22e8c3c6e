//! example-ticker started on 127.0.0.1:0 against a mock JWKS and a mock user-service,
//! driven by a real WebSocket client: W01-W04 of SECURITY.md, quotes, subscribing
//! (accounts, the service token, credentials), readiness, subscription status.

#![allow(clippy::unwrap_used)]

mod helpers;
mod mock_user_service;

mod http_routes;
mod subscribe;
mod websocket;
