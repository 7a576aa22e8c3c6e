//! WebSocket authentication: [`WsAuthMiddleware`] checks the upgrade request,
//! [`WsSession`] hands the handler the caller, the upgrade and the moment the socket
//! must close (the same names and rules as `authgate-tower`'s `WsAuthLayer` and
//! `WsSession`).
//!
//! Browsers cannot set headers on WebSocket requests, so the token comes from the query
//! (`?token=`, name configurable) or from `Sec-WebSocket-Protocol: bearer, <token>`;
//! both are read only on upgrade requests (J26); a plain `Authorization` header works
//! too. Keep query tokens out of access logs with [`crate::redact`] (W04).
//!
//! Before the upgrade, in this order:
//! 1. the `Origin` header must be in the allow-list, when one is set: 403 otherwise
//!    (W01; cross-site WebSocket hijacking). A missing `Origin` is refused too, since
//!    every browser sends one;
//! 2. the token must be valid: 401 with the usual challenge, no upgrade (W02), or, with
//!    [`WsAuthMiddleware::close_on_invalid`], the upgrade goes ahead and the handler
//!    closes at once with 1008 and [`WsSession::close_reason`] (browsers' WebSocket API
//!    hides the status of a failed handshake but shows the close reason).
//!
//! After the upgrade, the handler selects on [`WsSession::expired`] (or calls
//! [`WsSession::close_on_expiry`]) and closes with [`POLICY_VIOLATION`] when the token
//! runs out (W03).
//!
//! ```
//! # fn main() -> Result<(), authgate::Error> {
//! use actix_web::{App, HttpRequest, HttpResponse, web};
//! use actix_ws::{CloseCode, CloseReason, Message};
//! use authgate::{Authenticator, KeySet, Verifier};
//! use authgate_actix::ws::{EXPIRED_REASON, WsAuthMiddleware, WsSession};
//!
//! async fn quotes(req: HttpRequest, body: web::Payload, ws: WsSession) -> actix_web::Result<HttpResponse> {
//!     let (response, mut session, mut stream) = ws.handshake(&req, body)?;
//!     if let Some(reason) = ws.close_reason() {
//!         // close_on_invalid: upgraded, now closed with 1008 and a client-safe reason.
//!         let reason = CloseReason { code: CloseCode::Policy, description: Some(reason.to_owned()) };
//!         actix_web::rt::spawn(async move { session.close(Some(reason)).await });
//!         return Ok(response);
//!     }
//!     let expired = ws.expired();
//!     let user = ws.principal().map(|p| p.user_id().to_owned()).unwrap_or_default();
//!     actix_web::rt::spawn(async move {
//!         tokio::pin!(expired);
//!         let _ = session.text(format!("hello {user}")).await;
//!         loop {
//!             tokio::select! {
//!                 _ = &mut expired => {
//!                     // W03: the token ran out, close with 1008.
//!                     let reason = CloseReason { code: CloseCode::Policy, description: Some(EXPIRED_REASON.into()) };
//!                     let _ = session.close(Some(reason)).await;
//!                     return;
//!                 }
//!                 msg = stream.recv() => match msg {
//!                     Some(Ok(Message::Ping(bytes))) => {
//!                         if session.pong(&bytes).await.is_err() {
//!                             return;
//!                         }
//!                     }
//!                     Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
//!                     Some(Ok(_)) => {}
//!                 },
//!             }
//!         }
//!     });
//!     Ok(response)
//! }
//!
//! # let verifier = Verifier::builder()
//! #     .issuer("https://id.example", KeySet::from_jwks_json(r#"{"keys":[]}"#)?)
//! #     .audience("trading-platform")
//! #     .build()?;
//! let auth = Authenticator::jwt(verifier);
//! // Tokens in `?token=` or the subprotocol; only our web app may connect.
//! let strict = WsAuthMiddleware::new(&auth).allowed_origins(["https://app.example"]);
//! // Tokens in `?access_token=`; failures close the socket with 1008 after the upgrade.
//! let lenient = WsAuthMiddleware::new(&auth).token_query("access_token").close_on_invalid();
//! let app = App::new().service(web::resource("/ws/quotes").wrap(strict).route(web::get().to(quotes)));
//! # let _ = (app, lenient); Ok(()) }
//! ```

use std::future::{Future, Ready, ready};
use std::time::{Duration, SystemTime};

use actix_web::body::EitherBody;
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::{Error as ActixError, FromRequest, HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, CloseReason, MessageStream, Session};
use authgate::client_addr::TrustedProxies;
use authgate::{Authenticator, Error, ErrorKind, Principal};

use crate::extract::{Rejected, auth_state, rejection};
use crate::middleware::{AuthMiddleware, AuthService};
use crate::origin::{WsPolicy, normalize_origin};
use crate::reply::ErrorBody;

/// The close code for "policy violation" (RFC 6455 §7.4.1), used for invalid and
/// expired tokens.
pub const POLICY_VIOLATION: u16 = 1008;

/// The `Sec-WebSocket-Protocol` entry that precedes the token
/// (`Sec-WebSocket-Protocol: bearer, eyJ...`). The upgrade selects it in its answer
/// when the client offered it, or browsers would drop the connection.
pub const PROTOCOL_MARKER: &str = crate::origin::PROTOCOL_MARKER;

/// The close reason sent when the token expires.
pub const EXPIRED_REASON: &str = "the access token expired";

/// Authenticates WebSocket upgrade requests (actix middleware); wrap the WebSocket
/// route with it and extract a [`WsSession`] in the handler. See the
/// [module docs](self) for the order of checks.
#[derive(Clone, Debug)]
#[must_use]
pub struct WsAuthMiddleware {
    base: Authenticator,
    query: String,
    inner: AuthMiddleware,
}

fn with_ws_sources(authenticator: &Authenticator, query: &str) -> Authenticator {
    let sources = authenticator.sources().clone().websocket_query(query).websocket_protocol(PROTOCOL_MARKER);
    authenticator.with_sources(sources)
}

impl WsAuthMiddleware {
    /// Reads tokens from `Authorization`, `?token=` and `Sec-WebSocket-Protocol`, any
    /// Origin allowed, invalid tokens answered with 401 before the upgrade.
    pub fn new(authenticator: &Authenticator) -> Self {
        let mut inner = AuthMiddleware::new(with_ws_sources(authenticator, "token"));
        inner.config_mut().ws = Some(WsPolicy::default());
        WsAuthMiddleware { base: authenticator.clone(), query: "token".into(), inner }
    }

    /// Reads the query token from parameter `name` instead of `token`.
    pub fn token_query(mut self, name: impl Into<String>) -> Self {
        self.query = name.into();
        self.inner.config_mut().authenticator = with_ws_sources(&self.base, &self.query);
        self
    }

    /// Only these origins (`scheme://host[:port]`, compared case-insensitively) may open
    /// a socket; others, and requests without `Origin`, get 403 before the upgrade. An
    /// empty list allows any origin.
    pub fn allowed_origins<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, origins: I) -> Self {
        let origins: Vec<String> =
            origins.into_iter().map(|o| normalize_origin(o.as_ref())).filter(|o| !o.is_empty()).collect();
        if let Some(ws) = &mut self.inner.config_mut().ws {
            ws.origins = origins.into();
        }
        self
    }

    /// Accepts the upgrade even with a missing or invalid token, so the handler can
    /// close the socket with 1008 and [`WsSession::close_reason`]. A bad Origin is still
    /// a 403 and an unreachable key source still a 503.
    pub fn close_on_invalid(mut self) -> Self {
        if let Some(ws) = &mut self.inner.config_mut().ws {
            ws.close_on_invalid = true;
        }
        self
    }

    /// The realm named in `WWW-Authenticate` challenges (default `"api"`).
    pub fn realm(mut self, realm: &str) -> Self {
        self.inner = self.inner.realm(realm);
        self
    }

    /// Shapes rejection bodies, as [`AuthMiddleware::error_body`] does.
    pub fn error_body(mut self, hook: impl ErrorBody) -> Self {
        self.inner = self.inner.error_body(hook);
        self
    }

    /// Believes these proxies' forwarding header for the client address, as
    /// [`AuthMiddleware::trusted_proxies`] does.
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.inner = self.inner.trusted_proxies(proxies);
        self
    }
}

impl<S, B> Transform<S, ServiceRequest> for WsAuthMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = ActixError> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = ActixError;
    type Transform = AuthService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        self.inner.new_transform(service)
    }
}

/// The caller of a WebSocket route, or why it may not stay: an extractor for routes
/// behind [`WsAuthMiddleware`].
///
/// Rejects with 500 (and an error log) when the route has no authgate middleware, and
/// with 401 when it sits behind an optional [`AuthMiddleware`] without credentials.
#[derive(Clone, Debug)]
pub struct WsSession {
    principal: Result<Principal, Error>,
    leeway: Duration,
    protocol: Option<&'static str>,
}

rejection! {
    /// Why a [`WsSession`] could not be extracted.
    WsSessionRejection
}

impl WsSession {
    /// The authenticated caller, or `None` when the token was invalid and the middleware
    /// was told to [close on invalid](WsAuthMiddleware::close_on_invalid).
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

    /// Performs the upgrade with [`actix_ws`], selecting [`PROTOCOL_MARKER`] when the
    /// client offered it (as browsers require), never the token itself. Return the
    /// response from the handler and drive the session and stream in a task.
    pub fn handshake(
        &self,
        req: &HttpRequest,
        body: web::Payload,
    ) -> Result<(HttpResponse, Session, MessageStream), ActixError> {
        actix_ws::handle_with_protocols(req, body, &[PROTOCOL_MARKER])
    }

    /// Spawns a task that closes `session` with [`POLICY_VIOLATION`] and
    /// [`EXPIRED_REASON`] when [`Self::expired`] resolves. Closing an already closed
    /// session is harmless, but the task lives until the expiry even if the client left
    /// earlier; with many short connections, select on [`Self::expired`] in the socket
    /// loop instead.
    pub fn close_on_expiry(&self, session: &Session) {
        let expired = self.expired();
        let session = session.clone();
        actix_web::rt::spawn(async move {
            expired.await;
            tracing::debug!("closing websocket: token expired");
            let reason = CloseReason { code: CloseCode::Policy, description: Some(EXPIRED_REASON.into()) };
            let _ = session.close(Some(reason)).await;
        });
    }
}

impl FromRequest for WsSession {
    type Error = WsSessionRejection;
    type Future = Ready<Result<Self, WsSessionRejection>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let session = auth_state(req, "WsSession").and_then(|state| {
            let principal = match (state.principal, state.deferred) {
                (Some(principal), _) => Ok(principal),
                (None, Some(error)) => Err(error),
                (None, None) => {
                    let error =
                        Error::new(ErrorKind::MissingCredentials, "no credentials on a WebSocket route");
                    return Err(Rejected::new(&error, &state.responder));
                }
            };
            Ok(WsSession { principal, leeway: state.leeway, protocol: state.protocol })
        });
        ready(session.map_err(Into::into))
    }
}
