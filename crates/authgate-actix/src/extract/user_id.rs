//! [`UserId`]: just the caller's id.

use std::future::{Ready, ready};
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};

use super::{rejection, required_principal};

/// The caller's user id (`sub`), for handlers that need nothing else.
///
/// ```
/// use authgate_actix::UserId;
///
/// async fn list_alerts(UserId(user): UserId) -> String {
///     format!("alerts of {user}")
/// }
/// # let _ = actix_web::App::new().route("/alerts", actix_web::web::get().to(list_alerts));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserId(pub String);

rejection! {
    /// Why [`UserId`] could not be extracted: 401 without a principal, 500 without a
    /// middleware.
    UserIdRejection
}

impl Deref for UserId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl FromRequest for UserId {
    type Error = UserIdRejection;
    type Future = Ready<Result<Self, UserIdRejection>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            required_principal(req, "the UserId extractor")
                .map(|(p, _)| UserId(p.user_id().to_owned()))
                .map_err(Into::into),
        )
    }
}
