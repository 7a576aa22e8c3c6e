//! WebSocket authentication: [`WsAuthLayer`] checks the upgrade request, [`WsSession`]
//! hands the handler the caller and the moment the socket must close.
//!
//! Browsers cannot set headers on WebSocket requests, so the token comes from the query
//! (`?token=`, name configurable) or from `Sec-WebSocket-Protocol: bearer, <token>`;
//! a plain `Authorization` header works too. Query tokens are read on upgrade requests
//! only (J26) and must be kept out of logs with [`crate::redact`] (W04).
//!
//! Before the upgrade, in this order:
//! 1. the `Origin` header must be in the allow-list, when one is set: 403 otherwise
//!    (W01; cross-site WebSocket hijacking). A missing `Origin` is refused too, since
//!    every browser sends one;
//! 2. the token must be valid: 401 with the usual challenge, no upgrade (W02), or, with
//!    [`WsAuthLayer::close_on_invalid`], the upgrade goes ahead and the handler closes
//!    at once with 1008 and [`WsSession::close_reason`] (for clients that cannot read
//!    an HTTP answer to a failed handshake).
//!
//! After the upgrade, the handler selects on [`WsSession::expired`] and closes with
//! [`POLICY_VIOLATION`] when the token runs out (W03).
//!
//! ```
//! # fn main() -> Result<(), authgate::Error> {
//! use authgate::{Authenticator, KeySet, Verifier};
//! use authgate_tower::WsAuthLayer;
//! # let verifier = Verifier::builder().issuer("http://127.0.0.1:8011", KeySet::from_jwks_json(r#"{"keys":[]}"#)?).audience("a").build()?;
//! let auth = Authenticator::jwt(verifier);
//!
//! // Tokens in `?token=` or the subprotocol; only our web app may connect.
//! let strict = WsAuthLayer::new(&auth).allowed_origins(["https://app.example.com"]);
//!
//! // Tokens in `?access_token=`; failures close the socket with 1008 after the upgrade.
//! let lenient = WsAuthLayer::new(&auth).token_query("access_token").close_on_invalid();
//! # let _ = (strict, lenient); Ok(()) }
//! ```
//!
//! A handler (axum with its `ws` feature):
//!
//! ```
//! use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
//! use axum::response::Response;
//! use authgate_tower::ws::{POLICY_VIOLATION, WsSession};
//!
//! async fn quotes(upgrade: WebSocketUpgrade, session: WsSession) -> Response {
//!     let upgrade = match session.protocol() {
//!         Some(marker) => upgrade.protocols([marker]), // echo `bearer` back to browsers
//!         None => upgrade,
//!     };
//!     upgrade.on_upgrade(move |mut socket: WebSocket| async move {
//!         if let Some(reason) = session.close_reason() {
//!             let frame = CloseFrame { code: POLICY_VIOLATION, reason: reason.to_owned().into() };
//!             let _ = socket.send(Message::Close(Some(frame))).await;
//!             return;
//!         }
//!         let expired = session.expired();
//!         tokio::pin!(expired);
//!         loop {
//!             tokio::select! {
//!                 _ = &mut expired => {
//!                     let frame = CloseFrame { code: POLICY_VIOLATION, reason: session.close_reason_expired().into() };
//!                     let _ = socket.send(Message::Close(Some(frame))).await;
//!                     return;
//!                 }
//!                 msg = socket.recv() => if msg.is_none() { return },
//!             }
//!         }
//!     })
//! }
//! # let _ = axum::Router::<()>::new().route("/ws", axum::routing::get(quotes));
//! ```

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use authgate::client_addr::TrustedProxies;
use authgate::{Authenticator, Error, ErrorKind, Principal};
use axum_core::extract::FromRequestParts;
use http::request::Parts;
use tower_layer::Layer;

use crate::auth::{Auth, AuthLayer, Shared};
use crate::context::{AuthContext, Deferred, missing_layer};
use crate::extract::Rejected;
use crate::origin::{WsPolicy, normalize_origin};
use crate::response::{ErrorBody, Responder};

/// The close code for "policy violation" (RFC 6455 §7.4.1), used for invalid and
/// expired tokens.
pub const POLICY_VIOLATION: u16 = 1008;

pub use crate::origin::PROTOCOL_MARKER;

/// The close reason sent when the token expires.
const EXPIRED_REASON: &str = "the access token expired";

/// Authenticates WebSocket upgrade requests (a [`tower_layer::Layer`]); put it on the
/// WebSocket route only. See the [module docs](self) for the order of checks.
#[derive(Clone)]
#[must_use]
pub struct WsAuthLayer {
    authenticator: Authenticator,
    query: String,
    responder: Responder,
    policy: WsPolicy,
    proxies: TrustedProxies,
}

impl WsAuthLayer {
    /// Reads tokens from `Authorization`, `?token=` and `Sec-WebSocket-Protocol`, any
    /// Origin allowed, invalid tokens answered with 401 before the upgrade.
    pub fn new(authenticator: &Authenticator) -> Self {
        WsAuthLayer {
            authenticator: authenticator.clone(),
            query: "token".into(),
            responder: Responder::default(),
            policy: WsPolicy::default(),
            proxies: TrustedProxies::none(),
        }
    }

    /// Reads the query token from parameter `name` instead of `token`.
    pub fn token_query(mut self, name: impl Into<String>) -> Self {
        self.query = name.into();
        self
    }

    /// Only these origins (`scheme://host[:port]`, compared case-insensitively) may open
    /// a socket; others get 403 before the upgrade. An empty list allows any origin.
    pub fn allowed_origins<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, origins: I) -> Self {
        let origins: Vec<String> =
            origins.into_iter().map(|o| normalize_origin(o.as_ref())).filter(|o| !o.is_empty()).collect();
        self.policy.origins = origins.into();
        self
    }

    /// Accepts the upgrade even with an invalid token, so the handler can close the
    /// socket with 1008 and a reason ([`WsSession::close_reason`]). A bad Origin is
    /// still a 403 and an unreachable key source still a 503.
    pub fn close_on_invalid(mut self) -> Self {
        self.policy.close_on_invalid = true;
        self
    }

    /// The realm named in `WWW-Authenticate` challenges (default `"api"`).
    pub fn realm(mut self, realm: &str) -> Self {
        self.responder.set_realm(realm);
        self
    }

    /// Shapes rejection bodies, as [`AuthLayer::error_body`] does.
    pub fn error_body(mut self, hook: impl ErrorBody) -> Self {
        self.responder.set_body(Arc::new(hook));
        self
    }

    /// Believes these proxies' forwarding header for the client address, as
    /// [`AuthLayer::trusted_proxies`] does.
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.proxies = proxies;
        self
    }
}

impl std::fmt::Debug for WsAuthLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsAuthLayer")
            .field("query", &self.query)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for WsAuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Auth<S> {
        let sources = self
            .authenticator
            .sources()
            .clone()
            .websocket_query(self.query.clone())
            .websocket_protocol(PROTOCOL_MARKER);
        let mut shared = Shared::new(self.authenticator.with_sources(sources), true);
        shared.responder = self.responder.clone();
        shared.ws = Some(self.policy.clone());
        shared.proxies = self.proxies.clone();
        AuthLayer::from_shared(shared).layer(inner)
    }
}

/// The caller of a WebSocket route, or why it may not stay: an axum extractor for
/// routes behind [`WsAuthLayer`].
///
/// Rejects with 500 (and an error log) when the route has no authgate layer, and with
/// 401 when it sits behind an optional [`AuthLayer`] without credentials.
#[derive(Clone, Debug)]
pub struct WsSession {
    principal: Result<Principal, Error>,
    leeway: Duration,
    protocol: Option<&'static str>,
}

crate::extract::rejection! {
    /// Why a [`WsSession`] could not be extracted.
    WsSessionRejection
}

impl WsSession {
    /// The authenticated caller, or `None` when the token was invalid and the layer was
    /// told to [close on invalid](WsAuthLayer::close_on_invalid).
    pub fn principal(&self) -> Option<&Principal> {
        self.principal.as_ref().ok()
    }

    /// The reason to send with a 1008 close frame right after the upgrade, when the
    /// token was invalid (or a custom check refused it: its message). Client-safe: it
    /// never contains token data.
    pub fn close_reason(&self) -> Option<&str> {
        self.principal.as_ref().err().map(Error::description)
    }

    /// The reason to send with a 1008 close frame when [`Self::expired`] resolves.
    pub fn close_reason_expired(&self) -> &'static str {
        EXPIRED_REASON
    }

    /// When the credential expires (without leeway), if it does.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.principal().and_then(Principal::expires_at)
    }

    /// The verifier's leeway, added to the expiry by [`Self::expired`].
    pub fn leeway(&self) -> Duration {
        self.leeway
    }

    /// Resolves when the socket must close: at once for an invalid token, at
    /// `exp + leeway` for a valid one, never for a credential without expiry.
    pub fn expired(&self) -> impl Future<Output = ()> + Send + 'static {
        let at_expiry = self.principal.as_ref().ok().map(|p| p.expired(self.leeway));
        async move {
            if let Some(at_expiry) = at_expiry {
                at_expiry.await;
            }
        }
    }

    /// The subprotocol to select on upgrade ([`PROTOCOL_MARKER`]) when the client sent
    /// its token that way.
    pub fn protocol(&self) -> Option<&'static str> {
        self.protocol
    }
}

impl<S: Send + Sync> FromRequestParts<S> for WsSession {
    type Rejection = WsSessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(context) = parts.extensions.get::<AuthContext>() else {
            return Err(Rejected::plain(missing_layer("WsSession")).into());
        };
        let principal = if let Some(principal) = parts.extensions.get::<Principal>() {
            Ok(principal.clone())
        } else if let Some(Deferred(error)) = parts.extensions.get::<Deferred>() {
            Err(error.clone())
        } else {
            let error = Error::new(ErrorKind::MissingCredentials, "no credentials on a WebSocket route");
            return Err(Rejected::new(error, context.responder.clone()).into());
        };
        Ok(WsSession { principal, leeway: context.leeway, protocol: context.protocol_marker })
    }
}
