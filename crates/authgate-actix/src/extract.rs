//! Extractors: the verified caller in a handler's signature.
//!
//! They read what [`crate::AuthMiddleware`] stored. Used on a route the middleware does
//! not wrap, they fail with a 500 and an error log naming the missing middleware: a
//! route that silently runs without authentication is the bug this prevents.

use std::fmt;
use std::future::{Ready, ready};
use std::marker::PhantomData;
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use authgate::{Error, ErrorKind, Principal, Requirement};
use serde::de::DeserializeOwned;

use crate::middleware::AuthState;
use crate::reply::{ErrorReply, Responder};

/// The verified caller; 401 when the request carries no credentials (optional mode).
///
/// ```
/// use authgate_actix::CurrentUser;
///
/// async fn me(user: CurrentUser) -> String {
///     format!("{} via {}", user.user_id(), user.auth_method())
/// }
/// ```
#[derive(Debug, Clone)]
pub struct CurrentUser(pub Principal);

impl Deref for CurrentUser {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.0
    }
}

/// The caller if there is one: `None` only when the middleware runs in optional mode
/// and the request carried no credentials.
///
/// Prefer it to `Option<CurrentUser>`, which also works: actix turns any extractor
/// error into `None` there, so on a route the middleware does not wrap that form only
/// logs the wiring error (at ERROR) and runs anonymously instead of answering 500.
///
/// ```
/// use authgate_actix::MaybeCurrentUser;
///
/// async fn quotes(user: MaybeCurrentUser) -> &'static str {
///     if user.0.is_some() { "live quotes" } else { "delayed quotes" }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct MaybeCurrentUser(pub Option<Principal>);

/// The caller's user id (`sub`), for handlers that need nothing else.
///
/// ```
/// use authgate_actix::UserId;
///
/// async fn list_alerts(UserId(user): UserId) -> String {
///     format!("alerts of {user}")
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserId(pub String);

impl Deref for UserId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// Custom claims deserialized from the verified token; 401 `invalid_token` when the
/// token lacks them, because the service cannot work with such a token.
///
/// ```
/// use authgate_actix::Claims;
///
/// #[derive(serde::Deserialize)]
/// struct Tier {
///     tier: String,
/// }
///
/// async fn limits(Claims(t): Claims<Tier>) -> String {
///     format!("tier {}", t.tier)
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Claims<T>(pub T);

/// A requirement a handler states in its signature: the marker type `R` names it.
/// Unmet, it answers 403 with `WWW-Authenticate: Bearer error="insufficient_scope",
/// scope="..."`; without a caller, 401.
///
/// ```
/// use authgate_actix::{Permission, Require};
///
/// struct AdminDelete;
/// impl Permission for AdminDelete {
///     const NAME: &'static str = "admin:delete";
/// }
///
/// async fn purge(admin: Require<AdminDelete>) -> String {
///     format!("purged by {}", admin.user_id())
/// }
/// ```
pub struct Require<R> {
    principal: Principal,
    marker: PhantomData<fn() -> R>,
}

/// Names what a [`Require`] extractor demands: a permission by default, or any
/// [`Requirement`].
///
/// ```
/// use authgate::Requirement;
/// use authgate_actix::Permission;
///
/// /// Deleting data.
/// struct AdminDelete;
/// impl Permission for AdminDelete {
///     const NAME: &'static str = "admin:delete";
/// }
///
/// /// Support staff or admins.
/// struct Staff;
/// impl Permission for Staff {
///     const NAME: &'static str = "staff";
///     fn requirement() -> Requirement {
///         Requirement::any([Requirement::role("support"), Requirement::role("admin")])
///     }
/// }
/// assert_eq!(Staff::requirement().to_string(), "(role support or role admin)");
/// ```
pub trait Permission: 'static {
    /// The permission (or, with a custom [`Self::requirement`], a label for logs).
    const NAME: &'static str;

    /// What the principal must have; by default the permission [`Self::NAME`].
    fn requirement() -> Requirement {
        Requirement::permission(Self::NAME)
    }
}

impl<R> Require<R> {
    /// The verified caller who met the requirement.
    pub fn into_inner(self) -> Principal {
        self.principal
    }
}

impl<R> Deref for Require<R> {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.principal
    }
}

impl<R> fmt::Debug for Require<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Require").field("principal", &self.principal).finish()
    }
}

impl<R> Clone for Require<R> {
    fn clone(&self) -> Self {
        Require { principal: self.principal.clone(), marker: PhantomData }
    }
}

/// Why an extractor or guard refused a request. Its response follows the same rules
/// as the middleware's rejections.
#[derive(Debug, Clone)]
pub struct AuthRejection {
    reply: Box<ErrorReply>,
    reason: String,
}

impl AuthRejection {
    fn from_error(err: &Error, responder: &Responder) -> Self {
        AuthRejection { reply: Box::new(responder.reply(err)), reason: err.to_string() }
    }

    /// Nothing stored by [`crate::AuthMiddleware`]: a wiring bug, logged at ERROR.
    pub(crate) fn missing_middleware(what: &str) -> Self {
        let reason = format!(
            "{what} used on a route that authgate_actix::AuthMiddleware does not wrap; \
             add `.wrap(AuthMiddleware::new(..))` to the App or scope (it must wrap \
             outside any guard)"
        );
        tracing::error!("{reason}");
        let err = Error::new(ErrorKind::Configuration, reason.clone());
        let reply = ErrorReply::json(StatusCode::INTERNAL_SERVER_ERROR, err.json_body());
        AuthRejection { reply: Box::new(reply), reason }
    }

    /// The HTTP status this rejection answers with.
    pub fn status(&self) -> StatusCode {
        self.reply.status
    }

    /// The client-safe body.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.reply.body).into_owned()
    }
}

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl ResponseError for AuthRejection {
    fn status_code(&self) -> StatusCode {
        self.reply.status
    }
    fn error_response(&self) -> HttpResponse {
        self.reply.to_response()
    }
}

/// The state the middleware left, or the 500 rejection naming it.
pub(crate) fn auth_state(req: &HttpRequest, what: &str) -> Result<AuthState, AuthRejection> {
    req.extensions().get::<AuthState>().cloned().ok_or_else(|| AuthRejection::missing_middleware(what))
}

/// The caller, or the 401 the middleware's configuration calls for.
pub(crate) fn require_principal(
    req: &HttpRequest,
    what: &str,
) -> Result<(Principal, Responder), AuthRejection> {
    let state = auth_state(req, what)?;
    match state.principal {
        Some(p) => Ok((p, state.responder)),
        None => {
            let err = Error::new(ErrorKind::MissingCredentials, "no credentials in the request");
            Err(AuthRejection::from_error(&err, &state.responder))
        }
    }
}

/// Checks `requirement`, answering 403 `insufficient_scope` when unmet.
pub(crate) fn check(
    requirement: &Requirement,
    principal: &Principal,
    responder: &Responder,
) -> Result<(), AuthRejection> {
    requirement.check(principal).map_err(|e| AuthRejection::from_error(&e, responder))
}

impl FromRequest for CurrentUser {
    type Error = AuthRejection;
    type Future = Ready<Result<Self, AuthRejection>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(require_principal(req, "the CurrentUser extractor").map(|(p, _)| CurrentUser(p)))
    }
}

impl FromRequest for MaybeCurrentUser {
    type Error = AuthRejection;
    type Future = Ready<Result<Self, AuthRejection>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(auth_state(req, "the MaybeCurrentUser extractor").map(|s| MaybeCurrentUser(s.principal)))
    }
}

impl FromRequest for UserId {
    type Error = AuthRejection;
    type Future = Ready<Result<Self, AuthRejection>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(require_principal(req, "the UserId extractor").map(|(p, _)| UserId(p.user_id().to_owned())))
    }
}

impl<T: DeserializeOwned> FromRequest for Claims<T> {
    type Error = AuthRejection;
    type Future = Ready<Result<Self, AuthRejection>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(require_principal(req, "the Claims extractor").and_then(|(p, responder)| {
            p.claims_as::<T>().map(Claims).map_err(|e| AuthRejection::from_error(&e, &responder))
        }))
    }
}

impl<R: Permission> FromRequest for Require<R> {
    type Error = AuthRejection;
    type Future = Ready<Result<Self, AuthRejection>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(require_principal(req, "the Require extractor").and_then(|(principal, responder)| {
            check(&R::requirement(), &principal, &responder)?;
            Ok(Require { principal, marker: PhantomData })
        }))
    }
}
