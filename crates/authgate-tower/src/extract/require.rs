//! [`Require<P>`]: a handler states its requirement in its signature.

use std::marker::PhantomData;
use std::ops::Deref;

use authgate::{Principal, Requirement};
use axum_core::extract::FromRequestParts;
use http::request::Parts;

use super::{Rejected, rejection, required_principal, responder};

/// A marker type naming what a route requires, for [`Require<P>`].
///
/// Name one permission with `NAME`; override [`Permission::requirement`] for roles,
/// scopes or combinations.
///
/// ```
/// use authgate::Requirement;
/// use authgate_tower::Permission;
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
pub trait Permission: Send + Sync + 'static {
    /// The permission (or, with a custom [`Self::requirement`], a label for logs).
    const NAME: &'static str;

    /// What the principal must have; by default the permission [`Self::NAME`].
    fn requirement() -> Requirement {
        Requirement::permission(Self::NAME)
    }
}

/// The caller, once they meet `P`'s requirement; derefs to [`Principal`].
///
/// Answers 403 `insufficient_scope` naming what is missing, 401 without a principal and
/// 500 without a layer.
///
/// ```
/// use authgate_tower::{Permission, Require};
///
/// struct AdminDelete;
/// impl Permission for AdminDelete {
///     const NAME: &'static str = "admin:delete";
/// }
///
/// async fn delete(admin: Require<AdminDelete>) -> String {
///     format!("deleted by {}", admin.user_id())
/// }
/// # let _ = axum::Router::<()>::new().route("/x", axum::routing::delete(delete));
/// ```
pub struct Require<P> {
    principal: Principal,
    _marker: PhantomData<fn() -> P>,
}

impl<P> Require<P> {
    /// The principal.
    pub fn into_inner(self) -> Principal {
        self.principal
    }
}

impl<P> Clone for Require<P> {
    fn clone(&self) -> Self {
        Require { principal: self.principal.clone(), _marker: PhantomData }
    }
}

impl<P> std::fmt::Debug for Require<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Require").field(&self.principal).finish()
    }
}

impl<P> Deref for Require<P> {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.principal
    }
}

rejection! {
    /// Why [`Require`] could not be extracted: 403 when the requirement is unmet, 401
    /// without a principal, 500 without a layer.
    RequireRejection
}

impl<S: Send + Sync, P: Permission> FromRequestParts<S> for Require<P> {
    type Rejection = RequireRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let principal = required_principal(parts, "the Require extractor")?;
        P::requirement().check(&principal).map_err(|error| Rejected::new(error, responder(parts)))?;
        Ok(Require { principal, _marker: PhantomData })
    }
}
