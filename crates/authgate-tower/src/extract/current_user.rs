//! [`CurrentUser`]: the authenticated caller.

use std::ops::Deref;

use authgate::Principal;
use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;

use super::{principal, rejection, required_principal};

/// The caller authenticated by [`AuthLayer`](crate::AuthLayer); derefs to
/// [`Principal`].
///
/// `Option<CurrentUser>` is `None` for anonymous requests behind an
/// [optional](crate::AuthLayer::optional) layer. Both forms answer 500 when the route
/// has no authgate layer.
///
/// ```
/// use authgate_tower::CurrentUser;
///
/// async fn me(user: CurrentUser) -> String {
///     format!("hello {} ({})", user.user_id(), user.auth_method())
/// }
///
/// async fn greeting(user: Option<CurrentUser>) -> String {
///     match user {
///         Some(user) => format!("hello {}", user.user_id()),
///         None => "hello stranger".into(),
///     }
/// }
/// # let _ = axum::Router::<()>::new()
/// #     .route("/me", axum::routing::get(me))
/// #     .route("/hi", axum::routing::get(greeting));
/// ```
#[derive(Clone, Debug)]
pub struct CurrentUser(pub Principal);

rejection! {
    /// Why [`CurrentUser`] could not be extracted: 401 without a principal, 500 without
    /// a layer.
    CurrentUserRejection
}

impl Deref for CurrentUser {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = CurrentUserRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(CurrentUser(required_principal(parts, "the CurrentUser extractor")?))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for CurrentUser {
    type Rejection = CurrentUserRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(principal(parts, "the Option<CurrentUser> extractor")?.map(CurrentUser))
    }
}
