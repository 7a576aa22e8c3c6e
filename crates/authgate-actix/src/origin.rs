//! The Origin allow-list and subprotocol marker of WebSocket routes (W01), shared by
//! [`crate::WsAuthMiddleware`] and the middleware it configures.

use std::sync::Arc;

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use actix_web::http::header::{ORIGIN, SEC_WEBSOCKET_PROTOCOL};
use actix_web::web::Bytes;

use crate::reply::ErrorReply;

/// The `Sec-WebSocket-Protocol` entry that precedes the token (public as
/// `ws::PROTOCOL_MARKER`, with the `ws` feature).
pub(crate) const PROTOCOL_MARKER: &str = "bearer";

/// The body of the 403 for a refused Origin (identical in `authgate-tower`).
const FORBIDDEN_ORIGIN_BODY: &str =
    r#"{"error":"forbidden_origin","error_description":"this origin may not open a WebSocket here"}"#;

/// The Origin and failure policy of a WebSocket route.
#[derive(Clone, Debug, Default)]
pub(crate) struct WsPolicy {
    /// Lowercase origins without a trailing slash; empty means any.
    pub(crate) origins: Arc<[String]>,
    pub(crate) close_on_invalid: bool,
}

pub(crate) fn normalize_origin(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

impl WsPolicy {
    /// W01: `None` when the Origin is allowed, else the 403 answered before any upgrade.
    pub(crate) fn check_origin(&self, req: &HttpRequest) -> Option<ErrorReply> {
        if self.origins.is_empty() {
            return None;
        }
        let mut values = req.headers().get_all(ORIGIN);
        let allowed = match (values.next(), values.next()) {
            (Some(origin), None) => {
                origin.to_str().is_ok_and(|o| self.origins.iter().any(|ok| *ok == normalize_origin(o)))
            }
            _ => false,
        };
        if allowed {
            return None;
        }
        tracing::debug!(origin = ?req.headers().get(ORIGIN), "WebSocket origin refused");
        Some(ErrorReply::json(StatusCode::FORBIDDEN, Bytes::from_static(FORBIDDEN_ORIGIN_BODY.as_bytes())))
    }

    /// The marker to echo back, when the client offered the token as a subprotocol.
    pub(crate) fn offered_marker(&self, req: &HttpRequest) -> Option<&'static str> {
        req.headers()
            .get_all(SEC_WEBSOCKET_PROTOCOL)
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|entry| entry.trim() == PROTOCOL_MARKER)
            .then_some(PROTOCOL_MARKER)
    }
}
