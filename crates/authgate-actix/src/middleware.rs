//! The authentication middleware: [`AuthMiddleware`] (the `Transform`) and
//! [`AuthService`] (the service it wraps around yours).

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};

use actix_web::body::EitherBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{Error as ActixError, HttpMessage};
use authgate::client_addr::{ClientAddr, TrustedProxies};
use authgate::{Attempt, AuthMethod, Authenticator, Error, ErrorKind, Principal};
use futures_util::future::LocalBoxFuture;
use pin_project_lite::pin_project;

use crate::migration::ApiKeyDeprecation;
use crate::origin::WsPolicy;
use crate::reply::{ErrorBody, ErrorReply, Responder, log_rejection};
use crate::source::RequestSource;

/// The counter incremented once per authenticated request, labelled
/// `method="jwt"|"api_key"`: when the `api_key` series stays flat, keys can go.
pub const REQUESTS_METRIC: &str = authgate::metric_names::AUTHENTICATED_REQUESTS;

/// What the middleware leaves in request extensions for extractors and guards.
#[derive(Clone, Debug)]
pub(crate) struct AuthState {
    pub(crate) principal: Option<Principal>,
    /// A WebSocket authentication failure kept for accept-then-close.
    pub(crate) deferred: Option<Error>,
    pub(crate) responder: Responder,
    /// The verifier's leeway, for expiry futures (WebSocket sessions).
    #[cfg(feature = "ws")]
    pub(crate) leeway: std::time::Duration,
    /// The `Sec-WebSocket-Protocol` marker the client used, to be echoed on upgrade.
    pub(crate) protocol: Option<&'static str>,
}

/// Authenticates every request it wraps with an [`Authenticator`] and stores the
/// [`Principal`] in the request extensions, where the extractors
/// ([`crate::CurrentUser`], [`crate::UserId`], ...) and guards find it.
///
/// Rejections answer exactly like `authgate-tower`: 401 with a `WWW-Authenticate:
/// Bearer` challenge (bare when no credentials were sent, RFC 6750 §3.1), 400
/// `invalid_request` for conflicting credentials, 403 when a custom check refuses, 429
/// for a client over the unknown-API-key limit, 503 with `Retry-After` when keys cannot
/// be fetched, each with a JSON body `{"error", "error_description"}`.
///
/// Required mode (the default for REST APIs):
///
/// ```
/// # fn main() -> Result<(), authgate::Error> {
/// use actix_web::{App, web};
/// use authgate::{Authenticator, KeySet, Verifier};
/// use authgate_actix::{AuthMiddleware, UserId};
///
/// let verifier = Verifier::builder()
///     .issuer("http://127.0.0.1:8011", KeySet::from_jwks_url("http://127.0.0.1:8011/v1/auth/.well-known/jwks.json")?)
///     .audience("trading-platform")
///     .build()?;
/// let auth = AuthMiddleware::new(Authenticator::jwt(verifier)).realm("alerts");
///
/// async fn me(user: UserId) -> String {
///     user.0
/// }
/// let app = App::new().wrap(auth).route("/me", web::get().to(me));
/// # let _ = app; Ok(()) }
/// ```
///
/// Optional mode, a custom error body, CORS preflights let through, nginx in front:
///
/// ```
/// # fn main() -> Result<(), authgate::Error> {
/// use actix_web::{App, web};
/// use authgate::client_addr::TrustedProxies;
/// use authgate::{Authenticator, KeySet, Verifier};
/// use actix_web::http::header::HeaderValue;
/// use actix_web::web::Bytes;
/// use authgate_actix::{AuthMiddleware, CurrentUser};
///
/// # let verifier = Verifier::builder()
/// #     .issuer("https://id.example", KeySet::from_jwks_json(r#"{"keys":[]}"#)?)
/// #     .audience("trading-platform")
/// #     .build()?;
/// let auth = AuthMiddleware::optional(Authenticator::jwt(verifier))
///     .allow_cors_preflight()
///     .trusted_proxies(TrustedProxies::parse("127.0.0.1")?)
///     .error_body(|e: &authgate::Error| {
///         let body = serde_json::json!({ "message": e.description() });
///         (HeaderValue::from_static("application/json"), Bytes::from(body.to_string()))
///     });
///
/// async fn greet(user: Option<CurrentUser>) -> String {
///     match user {
///         Some(p) => format!("hello {}", p.user_id()),
///         None => "hello stranger".to_owned(),
///     }
/// }
/// let app = App::new().wrap(auth).route("/", web::get().to(greet));
/// # let _ = app; Ok(()) }
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct AuthMiddleware {
    config: Arc<Config>,
}

#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) authenticator: Authenticator,
    pub(crate) required: bool,
    pub(crate) responder: Responder,
    pub(crate) preflight: bool,
    /// The shim's headers, rendered once.
    pub(crate) deprecation: Option<Arc<[(HeaderName, HeaderValue)]>>,
    pub(crate) ws: Option<WsPolicy>,
    pub(crate) proxies: TrustedProxies,
}

impl AuthMiddleware {
    /// Every request must authenticate; no credentials is a 401 with a bare challenge.
    pub fn new(authenticator: Authenticator) -> Self {
        AuthMiddleware::with_mode(authenticator, true)
    }

    /// Requests without credentials pass through without a principal (handlers use
    /// `Option<CurrentUser>`); bad credentials are still rejected, since a client
    /// sending a broken token should learn about it.
    pub fn optional(authenticator: Authenticator) -> Self {
        AuthMiddleware::with_mode(authenticator, false)
    }

    fn with_mode(authenticator: Authenticator, required: bool) -> Self {
        AuthMiddleware {
            config: Arc::new(Config {
                authenticator,
                required,
                responder: Responder::default(),
                preflight: false,
                deprecation: None,
                ws: None,
                proxies: TrustedProxies::none(),
            }),
        }
    }

    pub(crate) fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// The realm named in `WWW-Authenticate` challenges (default `"api"`).
    pub fn realm(mut self, realm: &str) -> Self {
        self.config_mut().responder.realm = realm.into();
        self
    }

    /// Shapes the body of error responses (default: [`Error::json_body`] as
    /// `application/json`). The status, `WWW-Authenticate` and `Retry-After` stay as
    /// the core decides, so clients and RFC 6750 tooling keep working.
    pub fn error_body(mut self, hook: impl ErrorBody) -> Self {
        self.config_mut().responder.body = Some(Arc::new(hook));
        self
    }

    /// Lets CORS preflights (`OPTIONS` with `Access-Control-Request-Method`) through
    /// untouched, since browsers never attach credentials to them. Off by default;
    /// turn it on when a CORS middleware inside this one answers preflights.
    pub fn allow_cors_preflight(mut self) -> Self {
        self.config_mut().preflight = true;
        self
    }

    /// Marks API keys as deprecated: responses to API-key requests carry the
    /// `Deprecation` (and optionally `Sunset` and `Link`) headers, so clients learn
    /// about the migration from their own traffic. See [`crate::migration`].
    pub fn deprecate_api_keys(mut self, deprecation: ApiKeyDeprecation) -> Self {
        self.config_mut().deprecation = Some(crate::migration::render(&deprecation).into());
        self
    }

    /// Believes the forwarding header (`X-Forwarded-For` by default) of these proxies
    /// when resolving the client's address ([`crate::ClientAddr`], the per-client limit
    /// on unknown API keys). Default: none, the socket peer is the client. See
    /// [`authgate::client_addr`].
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.config_mut().proxies = proxies;
        self
    }
}

impl<S, B> Transform<S, ServiceRequest> for AuthMiddleware
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
        ready(Ok(AuthService { service: Rc::new(service), config: self.config.clone() }))
    }
}

/// The service [`AuthMiddleware`] (and [`crate::WsAuthMiddleware`]) wraps around the
/// inner one. Rejections are responses; the inner service's errors pass through
/// untouched.
#[derive(Debug)]
pub struct AuthService<S> {
    service: Rc<S>,
    config: Arc<Config>,
}

impl<S, B> Service<ServiceRequest> for AuthService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = ActixError> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = ActixError;
    type Future = ResponseFuture<S, B>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let config = &self.config;
        let mut state = AuthState {
            principal: None,
            deferred: None,
            responder: config.responder.clone(),
            #[cfg(feature = "ws")]
            leeway: config.authenticator.verifier().map(authgate::Verifier::leeway).unwrap_or_default(),
            protocol: None,
        };
        if config.preflight && is_cors_preflight(&req) {
            req.extensions_mut().insert(state);
            return ResponseFuture::calling(self.service.call(req), None);
        }
        if let Some(ws) = &config.ws {
            if let Some(reply) = ws.check_origin(req.request()) {
                return ResponseFuture::answered(reject(req, &reply));
            }
            state.protocol = ws.offered_marker(req.request());
        }
        if let Some(peer) = req.peer_addr() {
            let header = config.proxies.proxy_header().name();
            let values = req.headers().get_all(header.as_str()).map(|v| v.as_bytes());
            let client = config.proxies.resolve(peer.ip(), values);
            req.extensions_mut().insert(ClientAddr(client));
        }
        // Decided now unless it must wait (an API key to look up, keys to fetch): no
        // authenticator future, no copy of the token.
        let source = RequestSource::new(req.request());
        let outcome = match config.authenticator.attempt(&source) {
            Ok(Attempt::Decided(outcome)) => Ok(outcome),
            Ok(Attempt::Pending(credentials)) => {
                // Owned, with the cache miss noted: verified without a second lookup.
                let credentials = credentials.into_owned();
                let service = Rc::clone(&self.service);
                let config = Arc::clone(config);
                let fut = Box::pin(async move {
                    let outcome = config.authenticator.authenticate_credentials(credentials).await;
                    match admit(&config, req, state, outcome) {
                        Ok((req, method)) => Ok(decorate(&config, service.call(req).await?, method)),
                        Err(rejection) => Ok(*rejection),
                    }
                });
                return ResponseFuture { state: State::Authenticating { fut } };
            }
            Err(error) => Err(error),
        };
        match admit(config, req, state, outcome) {
            Ok((req, method)) => {
                // Only API-key answers may need the deprecation headers.
                let deprecating = (method == Some(AuthMethod::ApiKey) && config.deprecation.is_some())
                    .then(|| Arc::clone(config));
                ResponseFuture::calling(self.service.call(req), deprecating)
            }
            Err(rejection) => ResponseFuture::answered(*rejection),
        }
    }
}

pin_project! {
    /// The future of [`AuthService`]: the inner service's answer (decided without
    /// waiting: a token cached or verified with its key at hand, a preflight), a
    /// rejection, or authentication that waits (keys to fetch, an API key) then the
    /// inner service. The first two allocate nothing.
    pub struct ResponseFuture<S, B>
    where
        S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = ActixError>,
    {
        #[pin]
        state: State<S, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B>
    where
        S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = ActixError>,
    {
        Calling {
            #[pin]
            fut: S::Future,
            // Set for API-key callers when deprecation headers are configured.
            deprecating: Option<Arc<Config>>,
        },
        Answered {
            response: Option<ServiceResponse<EitherBody<B>>>,
        },
        Authenticating {
            fut: LocalBoxFuture<'static, Result<ServiceResponse<EitherBody<B>>, ActixError>>,
        },
    }
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = ActixError>,
{
    fn calling(fut: S::Future, deprecating: Option<Arc<Config>>) -> Self {
        ResponseFuture { state: State::Calling { fut, deprecating } }
    }

    fn answered(response: ServiceResponse<EitherBody<B>>) -> Self {
        ResponseFuture { state: State::Answered { response: Some(response) } }
    }
}

impl<S, B> std::fmt::Debug for ResponseFuture<S, B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = ActixError>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<S, B> Future for ResponseFuture<S, B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = ActixError>,
{
    type Output = Result<ServiceResponse<EitherBody<B>>, ActixError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Calling { fut, deprecating } => {
                let response = std::task::ready!(fut.poll(cx))?;
                Poll::Ready(Ok(match deprecating {
                    Some(config) => decorate(config, response, Some(AuthMethod::ApiKey)),
                    None => response.map_into_left_body(),
                }))
            }
            StateProj::Answered { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                // Polled again after it answered: futures may not be, so this is a bug
                // in the caller; answer an error rather than panic.
                None => {
                    Poll::Ready(Err(actix_web::error::ErrorInternalServerError("polled after completion")))
                }
            },
            StateProj::Authenticating { fut } => fut.as_mut().poll(cx),
        }
    }
}

/// The request to forward with how the caller authenticated, or the rejection.
type Admitted<B> = Result<(ServiceRequest, Option<AuthMethod>), Box<ServiceResponse<EitherBody<B>>>>;

/// Applies the outcome of authentication: the request to forward, with its
/// [`AuthState`] and how the caller authenticated, or the rejection.
fn admit<B>(
    config: &Config,
    req: ServiceRequest,
    mut state: AuthState,
    outcome: Result<Option<Principal>, Error>,
) -> Admitted<B> {
    let failure = match outcome {
        Ok(Some(principal)) => {
            state.principal = Some(principal);
            None
        }
        Ok(None) if !config.required => None,
        Ok(None) => Some(Error::new(ErrorKind::MissingCredentials, "no credentials in the request")),
        Err(err) => Some(err),
    };
    if let Some(err) = failure {
        let defer = config.ws.as_ref().is_some_and(|ws| ws.close_on_invalid)
            && err.kind() != ErrorKind::KeySourceUnavailable;
        if !defer {
            return Err(Box::new(reject(req, &state.responder.respond(&err))));
        }
        log_rejection(&err);
        state.deferred = Some(err);
    }
    let method = state.principal.as_ref().map(Principal::auth_method);
    if let Some(method) = method {
        authgate::metric_names::record_authenticated_request(method);
    }
    req.extensions_mut().insert(state);
    Ok((req, method))
}

/// The inner service's response, with the deprecation headers on API-key requests.
fn decorate<B>(
    config: &Config,
    mut res: ServiceResponse<B>,
    method: Option<AuthMethod>,
) -> ServiceResponse<EitherBody<B>> {
    if method == Some(AuthMethod::ApiKey)
        && let Some(deprecation) = &config.deprecation
    {
        let headers = res.headers_mut();
        for (name, value) in deprecation.iter() {
            headers.append(name.clone(), value.clone());
        }
    }
    res.map_into_left_body()
}

fn reject<B>(req: ServiceRequest, reply: &ErrorReply) -> ServiceResponse<EitherBody<B>> {
    req.into_response(reply.to_response()).map_into_right_body()
}

fn is_cors_preflight(req: &ServiceRequest) -> bool {
    req.method() == Method::OPTIONS && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}
