//! [`Require<P>`]: a handler states its requirement in its signature.

use std::fmt;
use std::future::{Ready, ready};
use std::marker::PhantomData;
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use authgate::{Principal, Requirement};

use super::{Rejected, rejection, required_principal};

/// A marker type naming what a route requires, for [`Require<P>`]: a permission by
/// default, or any [`Requirement`].
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

/// The caller, once they meet `P`'s requirement; derefs to [`Principal`]. Unmet, it
/// answers 403 with `WWW-Authenticate: Bearer error="insufficient_scope", scope="..."`;
/// without a caller, 401; without a middleware, 500.
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
/// # let _ = actix_web::App::new().route("/purge", actix_web::web::delete().to(purge));
/// ```
pub struct Require<P> {
    principal: Principal,
    marker: PhantomData<fn() -> P>,
}

rejection! {
    /// Why [`Require`] could not be extracted: 403 when the requirement is unmet, 401
    /// without a principal, 500 without a middleware.
    RequireRejection
}

impl<P> Require<P> {
    /// The verified caller who met the requirement.
    pub fn into_inner(self) -> Principal {
        self.principal
    }
}

impl<P> Deref for Require<P> {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.principal
    }
}

impl<P> fmt::Debug for Require<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Require").field(&self.principal).finish()
    }
}

impl<P> Clone for Require<P> {
    fn clone(&self) -> Self {
        Require { principal: self.principal.clone(), marker: PhantomData }
    }
}

impl<P: Permission> FromRequest for Require<P> {
    type Error = RequireRejection;
    type Future = Ready<Result<Self, RequireRejection>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let checked = required_principal(req, "the Require extractor").and_then(|(principal, responder)| {
            P::requirement().check(&principal).map_err(|e| Rejected::new(&e, &responder))?;
            Ok(Require { principal, marker: PhantomData })
        });
        ready(checked.map_err(Into::into))
    }
}
