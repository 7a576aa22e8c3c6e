//! Turns an [`authgate::Error`] into a response, the same way everywhere.
//!
//! Status, `WWW-Authenticate`, `Retry-After` and the JSON body all come from the core
//! error's own methods, so this adapter and the actix one answer byte for byte the same.
//! An [`ErrorBody`] hook may replace the body only.

use std::sync::Arc;

use authgate::Error;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Response};

/// Shapes the body of rejections (for example RFC 9457 problem details) while the layer
/// keeps the status, the `WWW-Authenticate` challenge and `Retry-After` right.
///
/// Implemented for closures, so a simple hook needs no new type:
///
/// ```
/// use authgate_tower::ErrorBody;
/// use bytes::Bytes;
/// use http::HeaderValue;
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

/// The realm and body hook shared by a layer and the extractors behind it.
#[derive(Clone)]
pub(crate) struct Responder {
    realm: Arc<str>,
    body: Option<Arc<dyn ErrorBody>>,
}

impl Default for Responder {
    fn default() -> Self {
        Responder { realm: Arc::from(crate::DEFAULT_REALM), body: None }
    }
}

impl Responder {
    pub(crate) fn set_realm(&mut self, realm: &str) {
        self.realm = Arc::from(realm);
    }

    pub(crate) fn set_body(&mut self, body: Arc<dyn ErrorBody>) {
        self.body = Some(body);
    }

    /// The full rejection for `error`.
    pub(crate) fn respond(&self, error: &Error) -> Response<Bytes> {
        let (content_type, body) = match &self.body {
            Some(hook) => hook.render(error),
            None => (HeaderValue::from_static("application/json"), Bytes::from(error.json_body())),
        };
        let mut response = Response::new(body);
        *response.status_mut() = error.status();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, content_type);
        if let Some(challenge) = error.www_authenticate(&self.realm)
            && let Ok(value) = HeaderValue::try_from(challenge)
        {
            headers.insert(WWW_AUTHENTICATE, value);
        }
        if let Some(after) = error.retry_after_header()
            && let Ok(value) = HeaderValue::try_from(after)
        {
            headers.insert(RETRY_AFTER, value);
        }
        response
    }
}

/// Logs a rejection with its detailed reason (never sent to the client).
pub(crate) fn log_rejection(error: &Error) {
    if error.status().is_server_error() {
        tracing::warn!(kind = error.kind().as_str(), reason = %error, "request rejected");
    } else {
        tracing::debug!(kind = error.kind().as_str(), reason = %error, "request rejected");
    }
}
