//! What the layers leave in request extensions for the guards and extractors behind them.

use std::time::Duration;

use authgate::Error;

use crate::response::Responder;

/// Proof that an authgate layer ran, with what the extractors need to answer alike.
#[derive(Clone)]
pub(crate) struct AuthContext {
    pub(crate) responder: Responder,
    /// The verifier's leeway, for expiry futures.
    pub(crate) leeway: Duration,
    /// The `Sec-WebSocket-Protocol` marker the client used, to be echoed on upgrade.
    pub(crate) protocol_marker: Option<&'static str>,
}

/// A WebSocket authentication failure kept for accept-then-close.
#[derive(Clone)]
pub(crate) struct Deferred(pub(crate) Error);

/// The 500 answered when an extractor or guard runs without any authgate layer.
pub(crate) fn missing_layer(what: &str) -> Error {
    tracing::error!(
        "{what} used on a route without authgate_tower::AuthLayer (or WsAuthLayer): add the layer \
         around this route; answering 500"
    );
    Error::new(authgate::ErrorKind::Configuration, format!("{what} used without AuthLayer"))
}
