//! [`UserId`]: just the caller's id.

use axum_core::extract::FromRequestParts;
use http::request::Parts;

use super::{rejection, required_principal};

/// The authenticated caller's user id (`sub`), for handlers that need nothing else.
///
/// ```
/// use authgate_tower::UserId;
/// async fn subscription(UserId(id): UserId) -> String {
///     id
/// }
/// # let _ = axum::Router::<()>::new().route("/s", axum::routing::get(subscription));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserId(pub String);

rejection! {
    /// Why [`UserId`] could not be extracted: 401 without a principal, 500 without a
    /// layer.
    UserIdRejection
}

impl<S: Send + Sync> FromRequestParts<S> for UserId {
    type Rejection = UserIdRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(UserId(required_principal(parts, "the UserId extractor")?.user_id().to_owned()))
    }
}
