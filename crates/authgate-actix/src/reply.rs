//! Turning an [`authgate::Error`] into an actix-web response.
//!
//! Everything a client sees comes from the core error's own methods
//! ([`Error::status`], [`Error::www_authenticate`], [`Error::retry_after_header`],
//! [`Error::json_body`]), so this adapter and `authgate-tower` answer byte for byte
//! the same. Only the body can be reshaped, through an [`ErrorBody`] hook.

use std::fmt;
use std::sync::Arc;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use actix_web::web::Bytes;
use authgate::Error;

/// The realm named in challenges unless a middleware sets its own.
pub const DEFAULT_REALM: &str = "api";

/// Shapes the body of rejections (for example RFC 9457 problem details) while the
/// middleware keeps the status, the `WWW-Authenticate` challenge and `Retry-After`
/// right.
///
/// Implemented for closures, so a simple hook needs no new type:
///
/// ```
/// use actix_web::http::header::HeaderValue;
/// use actix_web::web::Bytes;
/// use authgate_actix::ErrorBody;
///
/// let problem = |e: &authgate::Error| {
///     let body = serde_json::json!({
///         "type": "about:blank",
///         "title": e.kind().description(),
///         "status": e.status().as_u16(),
///     });
///     (HeaderValue::from_static("application/problem+json"), Bytes::from(body.to_string()))
/// };
/// fn takes_hook(_: impl ErrorBody) {}
/// takes_hook(problem);
/// ```
pub trait ErrorBody: Send + Sync + 'static {
    /// The `Content-Type` and bytes of the body answered for `error`. Never put
    /// [`Error::detail`] here: it is for logs only.
    fn render(&self, error: &Error) -> (HeaderValue, Bytes);
}

impl<F> ErrorBody for F
where
    F: Fn(&Error) -> (HeaderValue, Bytes) + Send + Sync + 'static,
{
    fn render(&self, error: &Error) -> (HeaderValue, Bytes) {
        self(error)
    }
}

pub(crate) type BodyFn = Arc<dyn ErrorBody>;

/// How one middleware instance answers errors: its realm and body shape.
#[derive(Clone)]
pub(crate) struct Responder {
    pub(crate) realm: Arc<str>,
    pub(crate) body: Option<BodyFn>,
}

impl Default for Responder {
    fn default() -> Self {
        Responder { realm: DEFAULT_REALM.into(), body: None }
    }
}

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder")
            .field("realm", &self.realm)
            .field("custom_body", &self.body.is_some())
            .finish()
    }
}

impl Responder {
    /// Logs `err` with its detail (never sent to the client) and builds the answer.
    pub(crate) fn respond(&self, err: &Error) -> ErrorReply {
        log_rejection(err);
        let (content_type, body) = match &self.body {
            Some(hook) => hook.render(err),
            None => (HeaderValue::from_static("application/json"), Bytes::from(err.json_body())),
        };
        ErrorReply {
            status: status_of(err),
            content_type,
            www_authenticate: err.www_authenticate(&self.realm),
            retry_after: err.retry_after_header(),
            body,
        }
    }
}

/// A ready-to-send error answer that can be rendered more than once.
#[derive(Debug, Clone)]
pub(crate) struct ErrorReply {
    pub(crate) status: StatusCode,
    pub(crate) content_type: HeaderValue,
    pub(crate) www_authenticate: Option<String>,
    pub(crate) retry_after: Option<String>,
    pub(crate) body: Bytes,
}

impl ErrorReply {
    /// A JSON answer that is not an authentication error (a refused Origin, a missing
    /// middleware).
    pub(crate) fn json(status: StatusCode, body: impl Into<Bytes>) -> ErrorReply {
        ErrorReply {
            status,
            content_type: HeaderValue::from_static("application/json"),
            www_authenticate: None,
            retry_after: None,
            body: body.into(),
        }
    }

    pub(crate) fn to_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        res.insert_header((CONTENT_TYPE, self.content_type.clone()));
        if let Some(v) = self.www_authenticate.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
            res.insert_header((WWW_AUTHENTICATE, v));
        }
        if let Some(v) = self.retry_after.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
            res.insert_header((RETRY_AFTER, v));
        }
        res.body(self.body.clone())
    }
}

/// The core status (`http` 1) as actix's status type (`http` 0.2).
fn status_of(err: &Error) -> StatusCode {
    StatusCode::from_u16(err.status().as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Logs the detailed reason of a rejection (never sent to clients).
pub(crate) fn log_rejection(err: &Error) {
    let kind = err.kind().as_str();
    if err.status().is_server_error() {
        tracing::warn!(kind, reason = %err, "request rejected");
    } else {
        tracing::debug!(kind, reason = %err, "request rejected");
    }
}
