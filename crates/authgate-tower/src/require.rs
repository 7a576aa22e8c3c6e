//! [`RequireLayer`]: a per-route guard answering 403 `insufficient_scope`.
//!
//! Put it on routes behind [`AuthLayer`](crate::AuthLayer); it reads the principal the
//! layer left. Unmet requirements answer 403 with
//! `WWW-Authenticate: Bearer ..., error="insufficient_scope", scope="..."` (never 401); a
//! request without a principal answers 401; a route without any authgate layer answers
//! 500 and logs the missing layer.
//!
//! ```
//! use authgate::Requirement;
//! use authgate_tower::{RequireLayer, require_permission, require_role};
//! use axum::{Router, routing::delete, routing::get};
//!
//! let app: Router = Router::new()
//!     .route("/admin/data/{id}", delete(|| async { "deleted" }).layer(require_permission("admin:delete")))
//!     .route("/reports", get(|| async { "reports" }).layer(require_role("analyst")))
//!     .route(
//!         "/support",
//!         get(|| async { "tickets" }).layer(RequireLayer::new(Requirement::any([
//!             Requirement::role("support"),
//!             Requirement::all([Requirement::role("admin"), Requirement::permission("tickets:read")]),
//!         ]))),
//!     );
//! # let _ = app;
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use authgate::{Principal, Requirement};
use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::body::AuthBody;
use crate::extract::required_principal;

/// Guards a route with a [`Requirement`] (a [`tower_layer::Layer`]).
#[derive(Clone, Debug)]
#[must_use]
pub struct RequireLayer {
    requirement: Arc<Requirement>,
}

impl RequireLayer {
    /// Requires `requirement` of every caller.
    pub fn new(requirement: Requirement) -> Self {
        RequireLayer { requirement: Arc::new(requirement) }
    }
}

/// Requires a permission (granted wildcards such as `admin:*` count).
pub fn require_permission(permission: impl Into<String>) -> RequireLayer {
    RequireLayer::new(Requirement::permission(permission))
}

/// Requires a role.
pub fn require_role(role: impl Into<String>) -> RequireLayer {
    RequireLayer::new(Requirement::role(role))
}

/// Requires an OAuth scope.
pub fn require_scope(scope: impl Into<String>) -> RequireLayer {
    RequireLayer::new(Requirement::scope(scope))
}

/// Requires at least one of `requirements`.
pub fn require_any(requirements: impl IntoIterator<Item = Requirement>) -> RequireLayer {
    RequireLayer::new(Requirement::any(requirements))
}

/// Requires every one of `requirements`.
pub fn require_all(requirements: impl IntoIterator<Item = Requirement>) -> RequireLayer {
    RequireLayer::new(Requirement::all(requirements))
}

impl<S> Layer<S> for RequireLayer {
    type Service = RequireService<S>;

    fn layer(&self, inner: S) -> RequireService<S> {
        RequireService { inner, requirement: self.requirement.clone() }
    }
}

/// The service made by [`RequireLayer`]. (Not called `Require`, which is the
/// extractor form of the same guard.)
#[derive(Clone, Debug)]
pub struct RequireService<S> {
    inner: S,
    requirement: Arc<Requirement>,
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for RequireService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
{
    type Response = Response<AuthBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let (parts, body) = req.into_parts();
        let checked = required_principal(&parts, "RequireLayer").and_then(|principal: Principal| {
            self.requirement
                .check(&principal)
                .map_err(|error| crate::extract::Rejected::new(error, crate::extract::responder(&parts)))
        });
        match checked {
            Ok(()) => ResponseFuture {
                state: State::Calling { fut: self.inner.call(Request::from_parts(parts, body)) },
            },
            Err(rejected) => {
                let response = rejected.into_bytes_response();
                ResponseFuture { state: State::Rejected { response: Some(response) } }
            }
        }
    }
}

pin_project! {
    /// The future of [`RequireService`].
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Calling { #[pin] fut: F },
        Rejected { response: Option<Response<Bytes>> },
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, ResB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResB>, E>>,
{
    type Output = Result<Response<AuthBody<ResB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Calling { fut } => Poll::Ready(Ok(ready!(fut.poll(cx))?.map(AuthBody::inner))),
            StateProj::Rejected { response } => {
                let response = response.take().expect("polled after completion");
                Poll::Ready(Ok(response.map(AuthBody::rejection)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tower::{ServiceBuilder, ServiceExt};

    use super::*;
    use crate::AuthLayer;
    use crate::test_helpers::{authenticator, bearer, body_text, echo, request};

    #[tokio::test]
    async fn unmet_requirement_is_403_naming_it_and_met_passes() {
        let svc = ServiceBuilder::new()
            .layer(AuthLayer::new(authenticator()))
            .layer(require_permission("admin:delete"))
            .service_fn(echo);
        let response = svc.clone().oneshot(request(Some(&bearer("u1", &[])))).await.expect("infallible");
        assert_eq!(response.status(), 403);
        let challenge = response.headers()[http::header::WWW_AUTHENTICATE].to_str().unwrap_or_default();
        assert!(
            challenge.contains(r#"error="insufficient_scope""#)
                && challenge.ends_with(r#"scope="admin:delete""#)
        );
        let admin = bearer("boss", &[("permissions", serde_json::json!(["admin:*"]))]);
        let response = svc.oneshot(request(Some(&admin))).await.expect("infallible");
        assert_eq!(body_text(response).await, "boss");
    }

    #[tokio::test]
    async fn guard_without_auth_layer_is_500_never_a_pass() {
        let svc = ServiceBuilder::new().layer(require_role("admin")).service_fn(echo);
        let response = svc.oneshot(request(Some(&bearer("u1", &[])))).await.expect("infallible");
        assert_eq!(response.status(), 500);
        assert!(body_text(response).await.contains("server_error"));
    }
}
