//! axum extractors for the caller authenticated by [`AuthLayer`](crate::AuthLayer).
//!
//! | extractor | gives | without a principal |
//! |---|---|---|
//! | [`CurrentUser`] | the [`Principal`](authgate::Principal) | 401 |
//! | `Option<CurrentUser>` | the principal, if any (optional mode) | `None` |
//! | [`Claims<T>`] | your own claims type | 401 (or 401 `invalid_token` if they do not fit `T`) |
//! | [`UserId`] | the user id | 401 |
//! | [`Require<P>`] | the principal, once it has `P`'s permission | 401, or 403 `insufficient_scope` |
//!
//! Every one of them answers **500 with an error log naming the missing layer** when no
//! authgate layer ran for the route: a forgotten layer must never look like an
//! anonymous or, worse, an authorized call. Rejections carry the realm and body hook of
//! the layer in front, so they look exactly like the layer's own.

use authgate::Error;
use http::StatusCode;

use crate::response::Responder;

mod claims;
mod current_user;
mod require;
mod user_id;

pub use claims::{Claims, ClaimsRejection};
pub use current_user::{CurrentUser, CurrentUserRejection};
pub use require::{Permission, Require, RequireRejection};
pub use user_id::{UserId, UserIdRejection};

/// The error behind every rejection, with the responder of the layer in front.
pub(crate) struct Rejected {
    error: Error,
    responder: Responder,
}

impl Rejected {
    pub(crate) fn new(error: Error, responder: Responder) -> Self {
        crate::response::log_rejection(&error);
        Rejected { error, responder }
    }

    /// A rejection with the default responder (no layer ran, so none is known).
    pub(crate) fn plain(error: Error) -> Self {
        Rejected { error, responder: Responder::default() }
    }

    pub(crate) fn status(&self) -> StatusCode {
        self.error.status()
    }

    pub(crate) fn body_text(&self) -> String {
        String::from_utf8_lossy(self.responder.respond(&self.error).body()).into_owned()
    }

    pub(crate) fn error(&self) -> &Error {
        &self.error
    }

    pub(crate) fn into_bytes_response(self) -> http::Response<bytes::Bytes> {
        self.responder.respond(&self.error)
    }

    pub(crate) fn into_response(self) -> axum_core::response::Response {
        self.into_bytes_response().map(axum_core::body::Body::from)
    }
}

/// Reads the principal the layer left, distinguishing "no layer" (a 500) from "no
/// credentials" (`Ok(None)`) and a deferred WebSocket failure (its error).
pub(crate) fn principal(
    parts: &http::request::Parts,
    what: &str,
) -> Result<Option<authgate::Principal>, Rejected> {
    let Some(context) = parts.extensions.get::<crate::context::AuthContext>() else {
        return Err(Rejected::plain(crate::context::missing_layer(what)));
    };
    if let Some(principal) = parts.extensions.get::<authgate::Principal>() {
        return Ok(Some(principal.clone()));
    }
    if let Some(crate::context::Deferred(error)) = parts.extensions.get() {
        return Err(Rejected::new(error.clone(), context.responder.clone()));
    }
    Ok(None)
}

/// The same, with "no credentials" turned into the 401 of the layer in front.
pub(crate) fn required_principal(
    parts: &http::request::Parts,
    what: &str,
) -> Result<authgate::Principal, Rejected> {
    match principal(parts, what)? {
        Some(principal) => Ok(principal),
        None => Err(unauthenticated(parts)),
    }
}

pub(crate) fn responder(parts: &http::request::Parts) -> Responder {
    parts.extensions.get::<crate::context::AuthContext>().map(|c| c.responder.clone()).unwrap_or_default()
}

fn unauthenticated(parts: &http::request::Parts) -> Rejected {
    let error = Error::new(authgate::ErrorKind::MissingCredentials, "no principal (optional AuthLayer)");
    Rejected::new(error, responder(parts))
}

/// Defines a public rejection type wrapping [`Rejected`].
macro_rules! rejection {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        ///
        /// Answers with the status, challenge and body of the underlying
        /// [`authgate::Error`]; the detailed reason is logged, never sent.
        pub struct $name(pub(crate) $crate::extract::Rejected);

        impl $name {
            /// The HTTP status of the answer.
            pub fn status(&self) -> ::http::StatusCode {
                self.0.status()
            }

            /// The client-safe body of the answer.
            pub fn body_text(&self) -> String {
                self.0.body_text()
            }
        }

        impl From<$crate::extract::Rejected> for $name {
            fn from(rejected: $crate::extract::Rejected) -> Self {
                $name(rejected)
            }
        }

        impl ::axum_core::response::IntoResponse for $name {
            fn into_response(self) -> ::axum_core::response::Response {
                self.0.into_response()
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_tuple(stringify!($name)).field(self.0.error()).finish()
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.0.error().kind().description())
            }
        }

        impl ::std::error::Error for $name {}
    };
}
pub(crate) use rejection;
