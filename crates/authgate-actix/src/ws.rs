//! WebSocket upgrade authentication for [`actix_ws`].
//!
//! Browsers cannot set headers on WebSocket requests, so the token comes in the query
//! (`?token=`) or in `Sec-WebSocket-Protocol: bearer, <token>`; both are read only on
//! upgrade requests (J26); a plain `Authorization` header works too. Keep query tokens
//! out of access logs with [`crate::redact`] (W04).
//!
//! Before the upgrade, in this order (the same as `authgate-tower`'s `WsAuthLayer`):
//! 1. the `Origin` header must be in the allow-list, when one is set: 403 otherwise
//!    (W01; cross-site WebSocket hijacking). A missing `Origin` is refused too, since
//!    every browser sends one;
//! 2. the token must be valid: 401 with the usual challenge, no upgrade (W02), or, with
//!    [`WebSocketAuth::close_on_invalid`], the upgrade goes ahead and the socket is
//!    closed at once with 1008 and the error's client-safe description.
//!
//! Once connected, the token can still run out: [`AuthenticatedSocket::close_on_expiry`]
//! (or your own select on [`AuthenticatedSocket::expired`]) closes the socket with
//! [`POLICY_VIOLATION`] at `exp` + leeway (W03).

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::ORIGIN;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use actix_ws::{CloseCode, CloseReason, MessageStream, Session};
use authgate::{Authenticator, Error, ErrorKind, Principal};

use crate::reply::{ErrorBody, ErrorReply, Responder, log_rejection};

/// The close code for "policy violation" (RFC 6455 §7.4.1), used for invalid and
/// expired tokens.
pub const POLICY_VIOLATION: u16 = 1008;

/// The `Sec-WebSocket-Protocol` entry that precedes the token
/// (`Sec-WebSocket-Protocol: bearer, eyJ...`). The upgrade selects it in its answer
/// when the client offered it, or browsers would drop the connection.
pub const PROTOCOL_MARKER: &str = "bearer";

/// The close reason sent when the token expires.
pub const EXPIRED_REASON: &str = "the access token expired";

/// The body of the 403 for a refused Origin (identical in `authgate-tower`).
const FORBIDDEN_ORIGIN_BODY: &str =
    r#"{"error":"forbidden_origin","error_description":"this origin may not open a WebSocket here"}"#;
use crate::source::RequestSource;

/// Authenticates WebSocket upgrades and performs them with [`actix_ws`].
///
/// Mount WebSocket routes outside [`crate::AuthMiddleware`]: the middleware reads only
/// the `Authorization` header (J26), so a query token would be a 401 there.
///
/// ```
/// # fn main() -> Result<(), authgate::Error> {
/// use actix_web::{App, HttpRequest, HttpResponse, web};
/// use actix_ws::{CloseCode, CloseReason, Message};
/// use authgate::{Authenticator, KeySet, Verifier};
/// use authgate_actix::WebSocketAuth;
/// use authgate_actix::ws::{AuthenticatedSocket, EXPIRED_REASON};
///
/// async fn quotes(
///     req: HttpRequest,
///     body: web::Payload,
///     ws: web::Data<WebSocketAuth>,
/// ) -> actix_web::Result<HttpResponse> {
///     let socket = ws.upgrade(&req, body).await?; // 403 / 401 / 503 before the upgrade
///     let expired = socket.expired();
///     let AuthenticatedSocket { response, mut session, mut stream, principal, .. } = socket;
///     actix_web::rt::spawn(async move {
///         tokio::pin!(expired);
///         let _ = session.text(format!("hello {}", principal.user_id())).await;
///         loop {
///             tokio::select! {
///                 _ = &mut expired => {
///                     // W03: the token ran out, close with 1008.
///                     let reason = CloseReason { code: CloseCode::Policy, description: Some(EXPIRED_REASON.into()) };
///                     let _ = session.close(Some(reason)).await;
///                     return;
///                 }
///                 msg = stream.recv() => match msg {
///                     Some(Ok(Message::Ping(bytes))) => {
///                         if session.pong(&bytes).await.is_err() {
///                             return;
///                         }
///                     }
///                     Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
///                     Some(Ok(_)) => {}
///                 },
///             }
///         }
///     });
///     Ok(response)
/// }
///
/// # let verifier = Verifier::builder()
/// #     .issuer("https://id.example", KeySet::from_jwks_json(r#"{"keys":[]}"#)?)
/// #     .audience("trading-platform")
/// #     .build()?;
/// let ws = WebSocketAuth::new(&Authenticator::jwt(verifier))
///     .allowed_origins(["https://app.example"]);
/// let app = App::new().app_data(web::Data::new(ws)).route("/ws/quotes", web::get().to(quotes));
/// # let _ = app; Ok(()) }
/// ```
///
/// Accept-then-close instead of a 401, for browser clients that cannot read upgrade
/// failures, and the token in a custom query parameter (a loop that does not need to
/// select can call [`AuthenticatedSocket::close_on_expiry`] instead):
///
/// ```
/// # fn main() -> Result<(), authgate::Error> {
/// # use authgate::{Authenticator, KeySet, Verifier};
/// # use authgate_actix::WebSocketAuth;
/// # let verifier = Verifier::builder()
/// #     .issuer("https://id.example", KeySet::from_jwks_json(r#"{"keys":[]}"#)?)
/// #     .audience("trading-platform")
/// #     .build()?;
/// let ws = WebSocketAuth::new(&Authenticator::jwt(verifier))
///     .token_query("access_token")
///     .close_on_invalid();
/// # let _ = ws; Ok(()) }
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct WebSocketAuth {
    inner: Arc<WsConfig>,
}

#[derive(Clone, Debug)]
struct WsConfig {
    /// The authenticator as given; `authenticator` is it with the WebSocket sources.
    base: Authenticator,
    authenticator: Authenticator,
    /// Lowercase origins without a trailing slash; empty means any.
    origins: Vec<String>,
    responder: Responder,
    close_on_invalid: bool,
}

fn normalize_origin(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

fn with_ws_sources(authenticator: &Authenticator, query: &str) -> Authenticator {
    let sources = authenticator.sources().clone().websocket_query(query).websocket_protocol(PROTOCOL_MARKER);
    authenticator.with_sources(sources)
}

impl WebSocketAuth {
    /// Reads tokens from `Authorization`, `?token=` and `Sec-WebSocket-Protocol`, any
    /// Origin allowed, invalid tokens answered with 401 before the upgrade.
    pub fn new(authenticator: &Authenticator) -> Self {
        WebSocketAuth {
            inner: Arc::new(WsConfig {
                base: authenticator.clone(),
                authenticator: with_ws_sources(authenticator, "token"),
                origins: Vec::new(),
                responder: Responder::default(),
                close_on_invalid: false,
            }),
        }
    }

    /// Reads the query token from parameter `name` instead of `token`.
    pub fn token_query(mut self, name: impl Into<String>) -> Self {
        let config = Arc::make_mut(&mut self.inner);
        config.authenticator = with_ws_sources(&config.base, &name.into());
        self
    }

    /// Only these origins (`scheme://host[:port]`, compared case-insensitively) may open
    /// a socket; others, and requests without `Origin`, get 403 before the upgrade. An
    /// empty list allows any origin.
    pub fn allowed_origins<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, origins: I) -> Self {
        Arc::make_mut(&mut self.inner).origins =
            origins.into_iter().map(|o| normalize_origin(o.as_ref())).filter(|o| !o.is_empty()).collect();
        self
    }

    /// Accepts the upgrade even with a missing or invalid token and closes the socket at
    /// once with 1008 and the error's client-safe description: browsers' WebSocket API
    /// hides the status of a failed handshake but shows the close reason. A bad Origin
    /// is still a 403 and an unreachable key source still a 503.
    pub fn close_on_invalid(mut self) -> Self {
        Arc::make_mut(&mut self.inner).close_on_invalid = true;
        self
    }

    /// The realm named in `WWW-Authenticate` challenges (default `"api"`).
    pub fn realm(mut self, realm: &str) -> Self {
        Arc::make_mut(&mut self.inner).responder.realm = realm.into();
        self
    }

    /// Shapes rejection bodies, as [`crate::AuthMiddleware::error_body`] does.
    pub fn error_body(mut self, hook: impl ErrorBody) -> Self {
        Arc::make_mut(&mut self.inner).responder.body = Some(Arc::new(hook));
        self
    }

    /// W01: whether the request's Origin may open a socket.
    fn origin_allowed(&self, req: &HttpRequest) -> bool {
        let allowed = &self.inner.origins;
        if allowed.is_empty() {
            return true;
        }
        let mut values = req.headers().get_all(ORIGIN);
        match (values.next(), values.next()) {
            (Some(origin), None) => {
                origin.to_str().is_ok_and(|o| allowed.iter().any(|ok| *ok == normalize_origin(o)))
            }
            _ => false,
        }
    }

    /// Checks the Origin, authenticates, then performs the upgrade. On error, the
    /// rejection is the response to return (with `?`): 403, 401, 400, 503, or (with
    /// [`Self::close_on_invalid`]) the upgrade followed by a 1008 close.
    pub async fn upgrade(
        &self,
        req: &HttpRequest,
        body: web::Payload,
    ) -> Result<AuthenticatedSocket, WsRejection> {
        let config = &self.inner;
        if !self.origin_allowed(req) {
            tracing::debug!(origin = ?req.headers().get(ORIGIN), "WebSocket origin refused");
            let reply =
                ErrorReply::json(StatusCode::FORBIDDEN, Bytes::from_static(FORBIDDEN_ORIGIN_BODY.as_bytes()));
            return Err(WsRejection::reply(reply));
        }

        let result = match config.authenticator.authenticate(&RequestSource::new(req)).await {
            Ok(Some(principal)) => Ok(principal),
            Ok(None) => Err(Error::new(ErrorKind::MissingCredentials, "no credentials on a WebSocket route")),
            Err(err) => Err(err),
        };
        let principal = match result {
            Ok(principal) => principal,
            Err(err) if config.close_on_invalid && err.kind() != ErrorKind::KeySourceUnavailable => {
                log_rejection(&err);
                let (response, session, _stream) = handshake(req, body).map_err(WsRejection::actix)?;
                let reason = CloseReason {
                    code: CloseCode::Policy,
                    description: Some(err.kind().description().into()),
                };
                // The channel is buffered: the close frame follows the 101 out.
                let _ = session.close(Some(reason)).await;
                return Err(WsRejection { kind: RejectionKind::Upgraded(RefCell::new(Some(response))) });
            }
            Err(err) => return Err(WsRejection::reply(config.responder.reply(&err))),
        };

        let (response, session, stream) = handshake(req, body).map_err(WsRejection::actix)?;
        let leeway = config.authenticator.verifier().map(authgate::Verifier::leeway).unwrap_or_default();
        Ok(AuthenticatedSocket { response, session, stream, principal, leeway })
    }
}

/// The upgrade, selecting [`PROTOCOL_MARKER`] as the subprotocol when the client
/// offered it, as browsers require; never the token itself.
fn handshake(
    req: &HttpRequest,
    body: web::Payload,
) -> Result<(HttpResponse, Session, MessageStream), actix_web::Error> {
    actix_ws::handle_with_protocols(req, body, &[PROTOCOL_MARKER])
}

/// An authenticated, upgraded WebSocket: return `response` from the handler and drive
/// `session`/`stream` in a task.
#[non_exhaustive]
pub struct AuthenticatedSocket {
    /// The `101 Switching Protocols` response to return from the handler.
    pub response: HttpResponse,
    /// Sends messages to the client.
    pub session: Session,
    /// Messages from the client.
    pub stream: MessageStream,
    /// The verified caller.
    pub principal: Principal,
    leeway: Duration,
}

impl fmt::Debug for AuthenticatedSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthenticatedSocket")
            .field("principal", &self.principal)
            .field("leeway", &self.leeway)
            .finish_non_exhaustive()
    }
}

impl AuthenticatedSocket {
    /// Resolves when the token expires (`exp` + leeway); never for credentials without
    /// expiry. Select on it in the socket loop to close with 1008 yourself.
    pub fn expired(&self) -> impl Future<Output = ()> + Send + 'static {
        self.principal.expired(self.leeway)
    }

    /// The verifier's leeway, added to the expiry by [`Self::expired`].
    pub fn leeway(&self) -> Duration {
        self.leeway
    }

    /// Spawns a task that closes the socket with [`POLICY_VIOLATION`] and
    /// [`EXPIRED_REASON`] when [`Self::expired`] resolves. Closing an already closed
    /// session is harmless, but the task lives until the expiry even if the client left
    /// earlier; with many short connections, select on [`Self::expired`] in the socket
    /// loop instead (see [`WebSocketAuth`]).
    pub fn close_on_expiry(&self) {
        let expired = self.expired();
        let session = self.session.clone();
        actix_web::rt::spawn(async move {
            expired.await;
            tracing::debug!("closing websocket: token expired");
            let reason = CloseReason { code: CloseCode::Policy, description: Some(EXPIRED_REASON.into()) };
            let _ = session.close(Some(reason)).await;
        });
    }
}

/// Why [`WebSocketAuth::upgrade`] did not hand out a socket; return it from the
/// handler (it is an actix [`ResponseError`]).
pub struct WsRejection {
    kind: RejectionKind,
}

enum RejectionKind {
    Reply(ErrorReply),
    Actix(actix_web::Error),
    /// Upgraded and already closed with 1008; the 101 response goes out once.
    Upgraded(RefCell<Option<HttpResponse>>),
}

impl WsRejection {
    fn reply(reply: ErrorReply) -> Self {
        WsRejection { kind: RejectionKind::Reply(reply) }
    }
    fn actix(err: actix_web::Error) -> Self {
        WsRejection { kind: RejectionKind::Actix(err) }
    }

    /// The status the client gets (`101` when the socket was upgraded, then closed).
    pub fn status(&self) -> StatusCode {
        match &self.kind {
            RejectionKind::Reply(r) => r.status,
            RejectionKind::Actix(e) => e.as_response_error().status_code(),
            RejectionKind::Upgraded(_) => StatusCode::SWITCHING_PROTOCOLS,
        }
    }
}

impl fmt::Debug for WsRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsRejection").field("status", &self.status()).finish()
    }
}

impl fmt::Display for WsRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            RejectionKind::Reply(r) => write!(f, "websocket upgrade refused with {}", r.status),
            RejectionKind::Actix(e) => write!(f, "websocket handshake failed: {e}"),
            RejectionKind::Upgraded(_) => f.write_str("websocket upgraded and closed with 1008"),
        }
    }
}

impl ResponseError for WsRejection {
    fn status_code(&self) -> StatusCode {
        self.status()
    }
    fn error_response(&self) -> HttpResponse {
        match &self.kind {
            RejectionKind::Reply(r) => r.to_response(),
            RejectionKind::Actix(e) => e.error_response(),
            RejectionKind::Upgraded(cell) => {
                cell.borrow_mut().take().unwrap_or_else(|| HttpResponse::InternalServerError().finish())
            }
        }
    }
}
