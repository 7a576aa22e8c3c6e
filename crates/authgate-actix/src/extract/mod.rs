//! Extractors: the verified caller in a handler's signature, each with its own
//! rejection type (as in `authgate-tower`).
//!
//! | extractor | gives | without a principal |
//! |---|---|---|
//! | [`CurrentUser`] | the [`Principal`] | 401 |
//! | [`Claims<T>`] | your own claims type | 401 (or 401 `invalid_token` if they do not fit `T`) |
//! | [`UserId`] | the user id | 401 |
//! | [`Require<P>`] | the principal, once it has `P`'s permission | 401, or 403 `insufficient_scope` |
//! | [`ClientAddr`] | the client's IP, through trusted proxies | (not needed) |
//!
//! They read what [`crate::AuthMiddleware`] stored. Used on a route the middleware does
//! not wrap, they fail with a 500 and an error log naming the missing middleware: a
//! route that silently runs without authentication is the bug this prevents.
//!
//! `Option<CurrentUser>` and `Option<Claims<T>>` compile and are `None` for anonymous
//! requests behind an [optional](crate::AuthMiddleware::optional) middleware. Unlike
//! axum, actix turns *every* error of an `Option<T>` extractor into `None`: there, a
//! missing middleware (still logged at ERROR) and claims that do not fit `T` also give
//! `None`, never more access. Use the plain extractor where that difference matters.

use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest};
use authgate::{Error, ErrorKind, Principal};

use crate::middleware::AuthState;
use crate::reply::{ErrorReply, Responder};

mod claims;
mod client_addr;
mod current_user;
mod require;
mod user_id;

pub use claims::{Claims, ClaimsRejection};
pub use client_addr::{ClientAddr, ClientAddrRejection};
pub use current_user::{CurrentUser, CurrentUserRejection};
pub use require::{Permission, Require, RequireRejection};
pub use user_id::{UserId, UserIdRejection};

/// The answer behind every rejection, rendered once by the responder of the middleware
/// in front.
#[derive(Debug, Clone)]
pub(crate) struct Rejected {
    reply: Box<ErrorReply>,
    description: Box<str>,
}

impl Rejected {
    /// Logs `error` and renders it as the middleware in front would.
    pub(crate) fn new(error: &Error, responder: &Responder) -> Self {
        Rejected { reply: Box::new(responder.respond(error)), description: error.description().into() }
    }

    /// Nothing stored by a middleware: a wiring bug, logged at ERROR, answered 500.
    pub(crate) fn missing_middleware(what: &str) -> Self {
        tracing::error!(
            "{what} used on a route that authgate_actix::AuthMiddleware does not wrap (nor \
             WsAuthMiddleware); add `.wrap(AuthMiddleware::new(..))` to the App or scope (it must wrap outside any \
             guard); answering 500"
        );
        Rejected::plain(&Error::new(ErrorKind::Configuration, format!("{what} used without AuthMiddleware")))
    }

    /// A 500 with the default body, no middleware's responder known.
    pub(crate) fn plain(error: &Error) -> Self {
        let reply = Box::new(ErrorReply::json(StatusCode::INTERNAL_SERVER_ERROR, error.json_body()));
        Rejected { reply, description: error.description().into() }
    }

    pub(crate) fn status(&self) -> StatusCode {
        self.reply.status
    }

    pub(crate) fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.reply.body).into_owned()
    }

    pub(crate) fn description(&self) -> &str {
        &self.description
    }

    pub(crate) fn to_response(&self) -> actix_web::HttpResponse {
        self.reply.to_response()
    }
}

/// The state the middleware left, or the 500 naming it.
pub(crate) fn auth_state(req: &HttpRequest, what: &str) -> Result<AuthState, Rejected> {
    req.extensions().get::<AuthState>().cloned().ok_or_else(|| Rejected::missing_middleware(what))
}

/// The caller if there is one (`None`: an optional middleware let an anonymous request
/// through), with the responder of the middleware in front.
pub(crate) fn principal(req: &HttpRequest, what: &str) -> Result<(Option<Principal>, Responder), Rejected> {
    let state = auth_state(req, what)?;
    if let Some(error) = &state.deferred {
        return Err(Rejected::new(error, &state.responder));
    }
    Ok((state.principal, state.responder))
}

/// The caller, or the 401 the middleware's configuration calls for.
pub(crate) fn required_principal(req: &HttpRequest, what: &str) -> Result<(Principal, Responder), Rejected> {
    match principal(req, what)? {
        (Some(p), responder) => Ok((p, responder)),
        (None, responder) => {
            let err = Error::new(ErrorKind::MissingCredentials, "no credentials in the request");
            Err(Rejected::new(&err, &responder))
        }
    }
}

/// Defines a public rejection type wrapping [`Rejected`].
macro_rules! rejection {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        ///
        /// Answers with the status, challenge and body of the underlying
        /// [`authgate::Error`], shaped by the middleware in front; the detailed reason
        /// is logged, never sent.
        pub struct $name(pub(crate) $crate::extract::Rejected);

        impl $name {
            /// The HTTP status of the answer.
            pub fn status(&self) -> ::actix_web::http::StatusCode {
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

        impl ::actix_web::ResponseError for $name {
            fn status_code(&self) -> ::actix_web::http::StatusCode {
                self.0.status()
            }
            fn error_response(&self) -> ::actix_web::HttpResponse {
                self.0.to_response()
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_tuple(stringify!($name)).field(&self.0.status()).field(&self.0.description()).finish()
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.0.description())
            }
        }
    };
}
pub(crate) use rejection;
