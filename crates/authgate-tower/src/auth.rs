//! [`AuthLayer`]: authenticates every request and puts the [`Principal`] in its
//! extensions.
//!
//! | request | required mode | optional mode |
//! |---|---|---|
//! | no credentials | 401, bare `Bearer realm=".."` challenge | passes, no principal |
//! | bad or expired token, bad API key | 401 `invalid_token` | 401 `invalid_token` |
//! | conflicting or malformed credentials | 400 `invalid_request` | 400 `invalid_request` |
//! | a custom check ([`authgate::VerifierBuilder::check`]) refuses | 403 with its message | 403 with its message |
//! | API key from a client over the unknown-key limit | 429 + `Retry-After` | 429 + `Retry-After` |
//! | key source unreachable, nothing cached | 503 + `Retry-After` | 503 + `Retry-After` |
//! | valid credentials | passes with the principal | passes with the principal |
//! | CORS preflight, when allowed | passes untouched | passes untouched |
//!
//! Rejections are responses (status, challenge and JSON body from [`authgate::Error`]);
//! the inner service's error type is untouched. The detailed reason is logged at DEBUG
//! (WARN for 5xx), never sent.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use authgate::client_addr::{ClientAddr, TrustedProxies};
use authgate::{Attempt, AuthMethod, Authenticator, Error, ErrorKind, Principal};
use bytes::Bytes;
use http::{Method, Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::body::AuthBody;
use crate::context::{AuthContext, Deferred};
use crate::migration::{ApiKeyDeprecation, DeprecationHeaders};
use crate::origin::WsPolicy;
pub use crate::response::ErrorBody;
use crate::response::{Responder, log_rejection};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Configuration shared by every clone of a layer and its services.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) authenticator: Arc<Authenticator>,
    pub(crate) required: bool,
    pub(crate) responder: Responder,
    pub(crate) preflight: bool,
    pub(crate) deprecation: Option<DeprecationHeaders>,
    pub(crate) ws: Option<WsPolicy>,
    pub(crate) proxies: TrustedProxies,
}

impl Shared {
    pub(crate) fn new(authenticator: Authenticator, required: bool) -> Shared {
        Shared {
            authenticator: Arc::new(authenticator),
            required,
            responder: Responder::default(),
            preflight: false,
            deprecation: None,
            ws: None,
            proxies: TrustedProxies::none(),
        }
    }

    fn context(&self) -> AuthContext {
        AuthContext {
            responder: self.responder.clone(),
            leeway: self.authenticator.verifier().map(authgate::Verifier::leeway).unwrap_or_default(),
            protocol_marker: None,
        }
    }
}

/// Authenticates requests with an [`Authenticator`] (a [`tower_layer::Layer`]).
///
/// Required mode ([`AuthLayer::new`]) rejects requests without valid credentials;
/// optional mode ([`AuthLayer::optional`]) lets anonymous requests through and still
/// rejects bad credentials. Handlers read the caller with
/// [`CurrentUser`](crate::CurrentUser) or from the request extensions
/// (`req.extensions().get::<authgate::Principal>()`).
///
/// A token is checked in `call` when its key is at hand (a cache hit, or the signature
/// check, which is computation), as tower-http's request validators do; only a key-set
/// fetch or an API-key lookup runs in the response future. So a `Buffer` belongs inside
/// this layer, not in front of it, or its one worker would check every signature.
///
/// ```
/// # fn main() -> Result<(), authgate::Error> {
/// use authgate::{Authenticator, KeySet, Verifier};
/// use authgate_tower::AuthLayer;
/// use http::HeaderValue;
///
/// let verifier = Verifier::builder()
///     .issuer("http://127.0.0.1:8011", KeySet::from_jwks_url("http://127.0.0.1:8011/v1/auth/.well-known/jwks.json")?)
///     .audience("trading-platform")
///     .build()?;
/// let auth = Authenticator::jwt(verifier);
///
/// // Every route needs a token; browsers' CORS preflights pass.
/// let required = AuthLayer::new(auth.clone()).realm("trading").allow_cors_preflight();
///
/// // Anonymous callers pass; errors as RFC 9457 problem documents.
/// let optional = AuthLayer::optional(auth).error_body(|e: &authgate::Error| {
///     let body = serde_json::json!({"title": e.kind().description(), "status": e.status().as_u16()});
///     (HeaderValue::from_static("application/problem+json"), body.to_string().into())
/// });
/// # let _ = (required, optional); Ok(()) }
/// ```
#[derive(Clone)]
#[must_use]
pub struct AuthLayer {
    pub(crate) shared: Arc<Shared>,
}

impl AuthLayer {
    /// Required mode: requests without valid credentials are rejected.
    pub fn new(authenticator: Authenticator) -> Self {
        AuthLayer { shared: Arc::new(Shared::new(authenticator, true)) }
    }

    /// Optional mode: requests without credentials pass with no principal; requests
    /// with bad credentials are still rejected (a bad token is never "anonymous").
    pub fn optional(authenticator: Authenticator) -> Self {
        AuthLayer { shared: Arc::new(Shared::new(authenticator, false)) }
    }

    /// The realm named in `WWW-Authenticate` challenges (default `"api"`).
    pub fn realm(mut self, realm: &str) -> Self {
        Arc::make_mut(&mut self.shared).responder.set_realm(realm);
        self
    }

    /// Shapes rejection bodies; status, `WWW-Authenticate` and `Retry-After` stay as the
    /// error says. Guards and extractors behind this layer use the same hook.
    pub fn error_body(mut self, hook: impl ErrorBody) -> Self {
        Arc::make_mut(&mut self.shared).responder.set_body(Arc::new(hook));
        self
    }

    /// Lets CORS preflight requests (`OPTIONS` with `Access-Control-Request-Method`)
    /// through without credentials, since browsers never send credentials on them. Put
    /// the CORS layer outside this one, or let the inner service answer them.
    pub fn allow_cors_preflight(mut self) -> Self {
        Arc::make_mut(&mut self.shared).preflight = true;
        self
    }

    /// Marks API keys as deprecated: responses to API-key requests carry the
    /// `Deprecation` (and optional `Sunset` and `Link`) headers. See
    /// [`crate::migration`].
    pub fn deprecate_api_keys(mut self, notice: ApiKeyDeprecation) -> Self {
        Arc::make_mut(&mut self.shared).deprecation = Some(DeprecationHeaders::new(&notice));
        self
    }

    /// Believes the forwarding header (`X-Forwarded-For` by default) of these proxies
    /// when resolving the client's address ([`ClientAddr`](crate::ClientAddr), the
    /// per-client limit on unknown API keys). Default: none, the socket peer is the
    /// client. See [`authgate::client_addr`].
    ///
    /// ```
    /// # fn main() -> Result<(), authgate::Error> {
    /// use authgate::client_addr::TrustedProxies;
    /// # use authgate::{Authenticator, KeySet, Verifier};
    /// use authgate_tower::AuthLayer;
    /// # let verifier = Verifier::builder().issuer("https://id.example", KeySet::from_jwks_json(r#"{"keys":[]}"#)?).audience("a").build()?;
    /// // nginx on the same host.
    /// let layer = AuthLayer::new(Authenticator::jwt(verifier)).trusted_proxies(TrustedProxies::parse("127.0.0.1, ::1")?);
    /// # let _ = layer; Ok(()) }
    /// ```
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        Arc::make_mut(&mut self.shared).proxies = proxies;
        self
    }

    pub(crate) fn from_shared(shared: Shared) -> Self {
        AuthLayer { shared: Arc::new(shared) }
    }
}

impl std::fmt::Debug for AuthLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthLayer")
            .field("authenticator", &self.shared.authenticator)
            .field("required", &self.shared.required)
            .field("preflight", &self.shared.preflight)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Auth<S> {
        Auth { inner, shared: self.shared.clone() }
    }
}

/// The service made by [`AuthLayer`] (and [`WsAuthLayer`](crate::WsAuthLayer)).
#[derive(Clone)]
pub struct Auth<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> std::fmt::Debug for Auth<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").field("required", &self.shared.required).finish_non_exhaustive()
    }
}

fn is_preflight<B>(req: &Request<B>) -> bool {
    req.method() == Method::OPTIONS && req.headers().contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD)
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for Auth<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    ReqB: Send + 'static,
{
    type Response = Response<AuthBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqB>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        let shared = &self.shared;
        if shared.preflight && is_preflight(&req) {
            return ResponseFuture::calling(self.inner.call(req));
        }
        if let Some(peer) = crate::client_addr::peer_ip(req.extensions()) {
            let header = shared.proxies.proxy_header().name();
            let client =
                shared.proxies.resolve(peer, req.headers().get_all(header).iter().map(|v| v.as_bytes()));
            req.extensions_mut().insert(ClientAddr(client));
        }
        let mut context = shared.context();
        if let Some(ws) = &shared.ws {
            if let Some(response) = ws.check_origin(&req) {
                return ResponseFuture::rejected(response);
            }
            context.protocol_marker = ws.offered_marker(&req);
        }
        req.extensions_mut().insert(context);

        // Decided now unless it must wait (an API key to look up, keys to fetch): no
        // future, no copy of the token.
        let principal = match shared.authenticator.attempt(&req) {
            Ok(Attempt::Decided(Some(principal))) => principal,
            Ok(Attempt::Decided(None)) => return self.no_credentials(req),
            Ok(Attempt::Pending(credentials)) => {
                let credentials = credentials.into_owned();
                return self.authenticate(req, credentials);
            }
            Err(error) => return self.fail(req, error),
        };
        match admit(shared, &mut req, Ok(Some(principal))) {
            Ok(deprecation) => {
                ResponseFuture { state: State::Calling { fut: self.inner.call(req), deprecation } }
            }
            Err(response) => ResponseFuture::rejected(*response),
        }
    }
}

/// The deprecation headers to add to the response of an admitted request, or the
/// rejection.
type Admitted = Result<Option<DeprecationHeaders>, Box<Response<Bytes>>>;

/// Applies the outcome of authentication to the request: the principal goes into its
/// extensions.
fn admit<B>(shared: &Shared, req: &mut Request<B>, outcome: Result<Option<Principal>, Error>) -> Admitted {
    match outcome {
        Ok(Some(principal)) => {
            count(&principal);
            let deprecation = match principal.auth_method() {
                AuthMethod::ApiKey => shared.deprecation.clone(),
                _ => None,
            };
            req.extensions_mut().insert(principal);
            Ok(deprecation)
        }
        Ok(None) if !shared.required => Ok(None),
        Ok(None) => reject_or_defer(shared, req, missing_credentials()).map(|()| None),
        Err(error) => reject_or_defer(shared, req, error).map(|()| None),
    }
}

impl<S> Auth<S> {
    /// The path that waits: verifies in a future that owns the request (and the ready inner
    /// service), so the response future stays small for requests decided at once.
    fn authenticate<ReqB>(
        &mut self,
        mut req: Request<ReqB>,
        credentials: authgate::Credentials<'static>,
    ) -> ResponseFuture<S, ReqB>
    where
        S: Service<Request<ReqB>> + Clone,
        ReqB: Send + 'static,
    {
        // The clone is not ready; the ready one moves into the future (tower's rule).
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        let fut: BoxFuture<_> = Box::pin(async move {
            let outcome = shared.authenticator.authenticate_credentials(credentials).await;
            admit(&shared, &mut req, outcome).map(|deprecation| (req, deprecation))
        });
        ResponseFuture { state: State::Authenticating { fut, inner: Some(inner) } }
    }

    fn no_credentials<ReqB>(&mut self, req: Request<ReqB>) -> ResponseFuture<S, ReqB>
    where
        S: Service<Request<ReqB>>,
    {
        if self.shared.required {
            self.fail(req, missing_credentials())
        } else {
            ResponseFuture::calling(self.inner.call(req))
        }
    }

    fn fail<ReqB>(&mut self, mut req: Request<ReqB>, error: Error) -> ResponseFuture<S, ReqB>
    where
        S: Service<Request<ReqB>>,
    {
        match reject_or_defer(&self.shared, &mut req, error) {
            Ok(()) => ResponseFuture::calling(self.inner.call(req)),
            Err(response) => ResponseFuture::rejected(*response),
        }
    }
}

fn missing_credentials() -> Error {
    Error::new(ErrorKind::MissingCredentials, "no credentials in the request")
}

/// Either the rejection, or (WebSocket accept-then-close) the request carrying the
/// failure for the handler.
fn reject_or_defer<B>(
    shared: &Shared,
    req: &mut Request<B>,
    error: Error,
) -> Result<(), Box<Response<Bytes>>> {
    log_rejection(&error);
    let defer = shared.ws.as_ref().is_some_and(|ws| ws.close_on_invalid)
        && error.kind() != ErrorKind::KeySourceUnavailable;
    if defer {
        req.extensions_mut().insert(Deferred(error));
        Ok(())
    } else {
        Err(Box::new(shared.responder.respond(&error)))
    }
}

fn count(principal: &Principal) {
    authgate::metric_names::record_authenticated_request(principal.auth_method());
}

pin_project! {
    /// The future of [`Auth`]: authenticates, then calls the inner service.
    pub struct ResponseFuture<S, ReqB>
    where
        S: Service<Request<ReqB>>,
    {
        #[pin]
        state: State<S, ReqB>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqB>
    where
        S: Service<Request<ReqB>>,
    {
        Authenticating {
            fut: BoxFuture<Result<(Request<ReqB>, Option<DeprecationHeaders>), Box<Response<Bytes>>>>,
            inner: Option<S>,
        },
        Calling {
            #[pin]
            fut: S::Future,
            deprecation: Option<DeprecationHeaders>,
        },
        Rejected {
            response: Option<Response<Bytes>>,
        },
    }
}

impl<S, ReqB> ResponseFuture<S, ReqB>
where
    S: Service<Request<ReqB>>,
{
    fn calling(fut: S::Future) -> Self {
        ResponseFuture { state: State::Calling { fut, deprecation: None } }
    }

    fn rejected(response: Response<Bytes>) -> Self {
        ResponseFuture { state: State::Rejected { response: Some(response) } }
    }
}

impl<S, ReqB> std::fmt::Debug for ResponseFuture<S, ReqB>
where
    S: Service<Request<ReqB>>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<S, ReqB, ResB> Future for ResponseFuture<S, ReqB>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
{
    type Output = Result<Response<AuthBody<ResB>>, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let mut this = self.as_mut().project();
            let next = match this.state.as_mut().project() {
                StateProj::Authenticating { fut, inner } => match ready!(fut.as_mut().poll(cx)) {
                    Ok((req, deprecation)) => {
                        let mut inner = inner.take().expect("the state changes once the future is done");
                        State::Calling { fut: inner.call(req), deprecation }
                    }
                    Err(response) => State::Rejected { response: Some(*response) },
                },
                StateProj::Calling { fut, deprecation } => {
                    let mut response = ready!(fut.poll(cx))?;
                    if let Some(headers) = deprecation {
                        headers.apply(response.headers_mut());
                    }
                    return Poll::Ready(Ok(response.map(AuthBody::inner)));
                }
                StateProj::Rejected { response } => {
                    let response = response.take().expect("polled after completion");
                    return Poll::Ready(Ok(response.map(AuthBody::rejection)));
                }
            };
            this.state.set(next);
        }
    }
}

#[cfg(test)]
mod tests {
    use tower::{ServiceBuilder, ServiceExt};

    use super::*;
    use crate::test_helpers::{authenticator, bearer, body_text, echo, request};

    #[tokio::test]
    async fn required_mode_rejects_anonymous_with_the_bare_challenge() {
        let svc = ServiceBuilder::new().layer(AuthLayer::new(authenticator())).service_fn(echo);
        let response = svc.oneshot(request(None)).await.expect("infallible");
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()[http::header::WWW_AUTHENTICATE], r#"Bearer realm="api""#);
        assert!(body_text(response).await.contains(r#""error":"unauthorized""#));
    }

    #[tokio::test]
    async fn valid_token_puts_the_principal_in_extensions() {
        let svc = ServiceBuilder::new().layer(AuthLayer::new(authenticator())).service_fn(echo);
        let response = svc.oneshot(request(Some(&bearer("u1", &[])))).await.expect("infallible");
        assert_eq!(response.status(), 200);
        assert_eq!(body_text(response).await, "u1");
    }

    #[tokio::test]
    async fn a_repeated_token_is_answered_from_the_cache_with_the_principal() {
        let svc = ServiceBuilder::new().layer(AuthLayer::new(authenticator())).service_fn(echo);
        let token = bearer("u1", &[]);
        for _ in 0..3 {
            let response = svc.clone().oneshot(request(Some(&token))).await.expect("infallible");
            assert_eq!((response.status().as_u16(), body_text(response).await.as_str()), (200, "u1"));
        }
        let response = svc.oneshot(request(Some(&format!("{token}x")))).await.expect("infallible");
        assert_eq!(response.status(), 401, "a token differing from a cached one is verified");
    }

    #[tokio::test]
    async fn optional_mode_passes_anonymous_without_a_principal() {
        let svc = ServiceBuilder::new().layer(AuthLayer::optional(authenticator())).service_fn(echo);
        let response = svc.clone().oneshot(request(None)).await.expect("infallible");
        assert_eq!((response.status().as_u16(), body_text(response).await.as_str()), (200, "-"));
        let response = svc.oneshot(request(Some("Bearer not.a.token"))).await.expect("infallible");
        assert_eq!(response.status(), 401);
    }
}
