//! The Origin allow-list and subprotocol marker of WebSocket routes (W01), shared by
//! [`crate::WsAuthLayer`] and the layer it configures.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, ORIGIN, SEC_WEBSOCKET_PROTOCOL};
use http::{HeaderValue, Request, Response, StatusCode};

/// The `Sec-WebSocket-Protocol` entry that precedes the token
/// (`Sec-WebSocket-Protocol: bearer, eyJ...`). A server accepting such a client must
/// select this protocol in its answer, or browsers drop the connection.
pub const PROTOCOL_MARKER: &str = "bearer";

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
    pub(crate) fn check_origin<B>(&self, req: &Request<B>) -> Option<Response<Bytes>> {
        if self.origins.is_empty() {
            return None;
        }
        let mut values = req.headers().get_all(ORIGIN).iter();
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
        let body =
            r#"{"error":"forbidden_origin","error_description":"this origin may not open a WebSocket here"}"#;
        let mut response = Response::new(Bytes::from_static(body.as_bytes()));
        *response.status_mut() = StatusCode::FORBIDDEN;
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Some(response)
    }

    /// The marker to echo back, when the client offered the token as a subprotocol.
    pub(crate) fn offered_marker<B>(&self, req: &Request<B>) -> Option<&'static str> {
        req.headers()
            .get_all(SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|entry| entry.trim() == PROTOCOL_MARKER)
            .then_some(PROTOCOL_MARKER)
    }
}
