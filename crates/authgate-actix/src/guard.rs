//! Route guards as middleware: [`RequireMiddleware`] and the `require_*` shortcuts.
//!
//! A guard reads the principal [`crate::AuthMiddleware`] stored, so the
//! authentication middleware must wrap *outside* it: in actix the last `.wrap()` runs
//! first, and an `App`-level `.wrap()` runs before a scope's.

use std::future::{Ready, ready};
use std::sync::Arc;

use actix_web::Error as ActixError;
use actix_web::body::EitherBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use authgate::Requirement;
use futures_util::future::{Either, Ready as FutReady};

use crate::extract::{Rejected, required_principal};

/// Answers 403 `insufficient_scope` (with `WWW-Authenticate: Bearer
/// error="insufficient_scope", scope="..."`) unless the caller meets a
/// [`Requirement`]; 401 without a caller.
///
/// ```
/// # fn main() -> Result<(), authgate::Error> {
/// use actix_web::{App, HttpResponse, web};
/// use authgate::{Authenticator, KeySet, Requirement, Verifier};
/// use authgate_actix::{AuthMiddleware, RequireMiddleware, require_permission};
///
/// # let verifier = Verifier::builder()
/// #     .issuer("https://id.example", KeySet::from_jwks_json(r#"{"keys":[]}"#)?)
/// #     .audience("trading-platform")
/// #     .build()?;
/// let app = App::new()
///     .service(
///         web::scope("/admin")
///             .wrap(require_permission("admin:delete"))
///             .route("/data/{id}", web::delete().to(HttpResponse::Ok)),
///     )
///     .service(
///         web::scope("/support")
///             .wrap(RequireMiddleware::new(Requirement::any([
///                 Requirement::role("support"),
///                 Requirement::role("admin"),
///             ])))
///             .route("/tickets", web::get().to(HttpResponse::Ok)),
///     )
///     // Registered last, so it runs first and the guards see the principal.
///     .wrap(AuthMiddleware::new(Authenticator::jwt(verifier)));
/// # let _ = app; Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct RequireMiddleware {
    requirement: Arc<Requirement>,
}

impl RequireMiddleware {
    /// A guard for any [`Requirement`], including `all`/`any` combinations.
    pub fn new(requirement: Requirement) -> Self {
        RequireMiddleware { requirement: Arc::new(requirement) }
    }
}

/// A guard requiring permission `permission` (granted wildcards such as `admin:*`
/// count).
pub fn require_permission(permission: impl Into<String>) -> RequireMiddleware {
    RequireMiddleware::new(Requirement::permission(permission))
}

/// A guard requiring role `role`.
pub fn require_role(role: impl Into<String>) -> RequireMiddleware {
    RequireMiddleware::new(Requirement::role(role))
}

/// A guard requiring OAuth scope `scope`.
pub fn require_scope(scope: impl Into<String>) -> RequireMiddleware {
    RequireMiddleware::new(Requirement::scope(scope))
}

/// A guard met by any one of `requirements`.
pub fn require_any(requirements: impl IntoIterator<Item = Requirement>) -> RequireMiddleware {
    RequireMiddleware::new(Requirement::any(requirements))
}

/// A guard met only by all of `requirements`.
pub fn require_all(requirements: impl IntoIterator<Item = Requirement>) -> RequireMiddleware {
    RequireMiddleware::new(Requirement::all(requirements))
}

impl<S, B> Transform<S, ServiceRequest> for RequireMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = ActixError> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = ActixError;
    type Transform = RequireService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequireService { service, requirement: self.requirement.clone() }))
    }
}

/// The service [`RequireMiddleware`] wraps around the inner one.
#[derive(Debug)]
pub struct RequireService<S> {
    service: S,
    requirement: Arc<Requirement>,
}

type GuardFuture<S, B> = Either<
    futures_util::future::MapOk<
        <S as Service<ServiceRequest>>::Future,
        fn(ServiceResponse<B>) -> ServiceResponse<EitherBody<B>>,
    >,
    FutReady<Result<ServiceResponse<EitherBody<B>>, ActixError>>,
>;

impl<S, B> Service<ServiceRequest> for RequireService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = ActixError> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = ActixError;
    type Future = GuardFuture<S, B>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        use futures_util::TryFutureExt;
        let verdict =
            required_principal(req.request(), "RequireMiddleware").and_then(|(principal, responder)| {
                self.requirement.check(&principal).map_err(|e| Rejected::new(&e, &responder))
            });
        match verdict {
            Ok(()) => Either::Left(
                self.service
                    .call(req)
                    .map_ok(ServiceResponse::map_into_left_body as fn(ServiceResponse<B>) -> _),
            ),
            Err(rejection) => {
                let res = req.into_response(rejection.to_response());
                Either::Right(futures_util::future::ready(Ok(res.map_into_right_body())))
            }
        }
    }
}
