//! [`CurrentUser`]: the authenticated caller.

use std::future::{Ready, ready};
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use authgate::Principal;

use super::{rejection, required_principal};

/// The caller authenticated by [`AuthMiddleware`](crate::AuthMiddleware); derefs to
/// [`Principal`]. 401 when the request carries no credentials (optional middleware), 500
/// when no middleware wraps the route.
///
/// ```
/// use authgate_actix::CurrentUser;
///
/// async fn me(user: CurrentUser) -> String {
///     format!("{} via {}", user.user_id(), user.auth_method())
/// }
///
/// async fn greeting(user: Option<CurrentUser>) -> String {
///     match user {
///         Some(user) => format!("hello {}", user.user_id()),
///         None => "hello stranger".into(),
///     }
/// }
/// # let _ = actix_web::App::new()
/// #     .route("/me", actix_web::web::get().to(me))
/// #     .route("/hi", actix_web::web::get().to(greeting));
/// ```
#[derive(Debug, Clone)]
pub struct CurrentUser(pub Principal);

rejection! {
    /// Why [`CurrentUser`] could not be extracted: 401 without a principal, 500 without
    /// a middleware.
    CurrentUserRejection
}

impl Deref for CurrentUser {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.0
    }
}

impl FromRequest for CurrentUser {
    type Error = CurrentUserRejection;
    type Future = Ready<Result<Self, CurrentUserRejection>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            required_principal(req, "the CurrentUser extractor")
                .map(|(p, _)| CurrentUser(p))
                .map_err(Into::into),
        )
    }
}
