//! The authentication middleware: [`AuthMiddleware`] (the `Transform`) and
//! [`AuthService`] (the service it wraps around yours).

use std::future::{Ready, ready};
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::EitherBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{Error as ActixError, HttpMessage};
use authgate::{AuthMethod, Authenticator, Error, ErrorKind, Principal};
use futures_util::future::LocalBoxFuture;

use crate::migration::ApiKeyDeprecation;
use crate::reply::{ErrorBody, ErrorReply, Responder};
use crate::source::RequestSource;

/// The counter incremented once per authenticated request, labelled
/// `method="jwt"|"api_key"`: when the `api_key` series stays flat, keys can go.
pub const REQUESTS_METRIC: &str = authgate::metric_names::AUTHENTICATED_REQUESTS;

/// What the middleware leaves in request extensions for extractors and guards.
#[derive(Clone, Debug)]
pub(crate) struct AuthState {
    pub(crate) principal: Option<Principal>,
    pub(crate) responder: Responder,
}

/// Authenticates every request it wraps with an [`Authenticator`] and stores the
/// [`Principal`] in the request extensions, where the extractors
/// ([`crate::CurrentUser`], [`crate::UserId`], ...) and guards find it.
///
/// Rejections answer exactly like `authgate-tower`: 401 with a `WWW-Authenticate:
/// Bearer` challenge (bare when no credentials were sent, RFC 6750 §3.1), 400
/// `invalid_request` for conflicting credentials, 503 with `Retry-After` when keys
/// cannot be fetched, each with a JSON body `{"error", "error_description"}`.
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
/// Optional mode, a custom error body and CORS preflights let through:
///
/// ```
/// # fn main() -> Result<(), authgate::Error> {
/// use actix_web::{App, web};
/// use authgate::{Authenticator, KeySet, Verifier};
/// use actix_web::http::header::HeaderValue;
/// use actix_web::web::Bytes;
/// use authgate_actix::{AuthMiddleware, MaybeCurrentUser};
///
/// # let verifier = Verifier::builder()
/// #     .issuer("https://id.example", KeySet::from_jwks_json(r#"{"keys":[]}"#)?)
/// #     .audience("trading-platform")
/// #     .build()?;
/// let auth = AuthMiddleware::optional(Authenticator::jwt(verifier))
///     .allow_cors_preflight()
///     .error_body(|e: &authgate::Error| {
///         let body = serde_json::json!({ "message": e.kind().description() });
///         (HeaderValue::from_static("application/json"), Bytes::from(body.to_string()))
///     });
///
/// async fn greet(user: MaybeCurrentUser) -> String {
///     match user.0 {
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
struct Config {
    authenticator: Authenticator,
    optional: bool,
    responder: Responder,
    cors_preflight: bool,
    /// The shim's headers, rendered once.
    deprecation: Option<Arc<[(HeaderName, HeaderValue)]>>,
}

impl AuthMiddleware {
    /// Every request must authenticate; no credentials is a 401 with a bare challenge.
    pub fn new(authenticator: Authenticator) -> Self {
        AuthMiddleware::with_mode(authenticator, false)
    }

    /// Requests without credentials pass through without a principal (handlers use
    /// [`crate::MaybeCurrentUser`]); bad credentials are still rejected, since a
    /// client sending a broken token should learn about it.
    pub fn optional(authenticator: Authenticator) -> Self {
        AuthMiddleware::with_mode(authenticator, true)
    }

    fn with_mode(authenticator: Authenticator, optional: bool) -> Self {
        AuthMiddleware {
            config: Arc::new(Config {
                authenticator,
                optional,
                responder: Responder::default(),
                cors_preflight: false,
                deprecation: None,
            }),
        }
    }

    /// The realm named in `WWW-Authenticate` challenges (default `"api"`).
    pub fn realm(mut self, realm: &str) -> Self {
        Arc::make_mut(&mut self.config).responder.realm = realm.into();
        self
    }

    /// Shapes the body of error responses (default: [`Error::json_body`] as
    /// `application/json`). The status, `WWW-Authenticate` and `Retry-After` stay as
    /// the core decides, so clients and RFC 6750 tooling keep working.
    pub fn error_body(mut self, hook: impl ErrorBody) -> Self {
        Arc::make_mut(&mut self.config).responder.body = Some(Arc::new(hook));
        self
    }

    /// Lets CORS preflights (`OPTIONS` with `Access-Control-Request-Method`) through
    /// untouched, since browsers never attach credentials to them. Off by default;
    /// turn it on when a CORS middleware inside this one answers preflights.
    pub fn allow_cors_preflight(mut self) -> Self {
        Arc::make_mut(&mut self.config).cors_preflight = true;
        self
    }

    /// Marks API keys as deprecated: responses to API-key requests carry the
    /// `Deprecation` (and optionally `Sunset` and `Link`) headers, so clients learn
    /// about the migration from their own traffic. See [`crate::migration`].
    pub fn deprecate_api_keys(mut self, deprecation: ApiKeyDeprecation) -> Self {
        Arc::make_mut(&mut self.config).deprecation = Some(crate::migration::render(&deprecation).into());
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

/// The service [`AuthMiddleware`] wraps around the inner one. Rejections are
/// responses; the inner service's errors pass through untouched.
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
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let config = Arc::clone(&self.config);
        Box::pin(async move {
            let responder = config.responder.clone();
            if config.cors_preflight && is_cors_preflight(&req) {
                req.extensions_mut().insert(AuthState { principal: None, responder });
                return service.call(req).await.map(ServiceResponse::map_into_left_body);
            }
            let principal = match config.authenticator.authenticate(&RequestSource::new(req.request())).await
            {
                Ok(Some(principal)) => Some(principal),
                Ok(None) if config.optional => None,
                Ok(None) => {
                    let err = Error::new(ErrorKind::MissingCredentials, "no credentials in the request");
                    return Ok(reject(req, &responder.reply(&err)));
                }
                Err(err) => return Ok(reject(req, &responder.reply(&err))),
            };
            let method = principal.as_ref().map(Principal::auth_method);
            if let Some(method) = method {
                authgate::metric_names::record_authenticated_request(method);
            }
            req.extensions_mut().insert(AuthState { principal, responder });
            let mut res = service.call(req).await?;
            if method == Some(AuthMethod::ApiKey)
                && let Some(deprecation) = &config.deprecation
            {
                let headers = res.headers_mut();
                for (name, value) in deprecation.iter() {
                    headers.append(name.clone(), value.clone());
                }
            }
            Ok(res.map_into_left_body())
        })
    }
}

fn reject<B>(req: ServiceRequest, reply: &ErrorReply) -> ServiceResponse<EitherBody<B>> {
    req.into_response(reply.to_response()).map_into_right_body()
}

fn is_cors_preflight(req: &ServiceRequest) -> bool {
    req.method() == Method::OPTIONS && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}
