//! Keeping tokens out of access logs (W04).
//!
//! WebSocket clients send their token in the query string, and actix's default
//! [`Logger`] format prints the whole request line (`%r`). The helpers here print the
//! path with credential values replaced by `REDACTED`: by parameter name
//! ([`SENSITIVE_QUERY_PARAMS`]: `token`, `access_token`, `api_key`, ...) and, whatever
//! the name, for values that look like a JWT or an authgate API key.
//!
//! ```
//! use actix_web::App;
//! use authgate_actix::redact;
//!
//! // A ready-made access logger: like actix's default, with the request line and the
//! // Referer redacted.
//! let app = App::new().wrap(redact::logger());
//! # let _ = app;
//! ```
//!
//! Or in your own format, through [`Logger::custom_request_replace`]:
//!
//! ```
//! use actix_web::middleware::Logger;
//! use authgate_actix::redact;
//!
//! let logger = Logger::new(r#"%a "%{path}xi" %s %D ms"#)
//!     .custom_request_replace("path", |req| redact::redact_uri(req.uri()));
//! # let _ = logger;
//! ```

use actix_web::dev::ServiceRequest;
use actix_web::http::Uri;
use actix_web::http::header::REFERER;
use actix_web::middleware::Logger;

pub use authgate::redact::{REDACTED, SENSITIVE_QUERY_PARAMS};

/// The access-log format of [`logger`]: actix's default with `%r` and the Referer
/// replaced by their redacted forms.
pub const LOG_FORMAT: &str =
    r#"%a "%{authgate_request}xi" %s %b "%{authgate_referer}xi" "%{User-Agent}i" %T"#;

/// An access logger in [`LOG_FORMAT`] that never prints credential values.
pub fn logger() -> Logger {
    Logger::new(LOG_FORMAT)
        .custom_request_replace("authgate_request", request_line)
        .custom_request_replace("authgate_referer", referer)
}

/// The request line (`GET /ws?token=REDACTED HTTP/1.1`) with credentials redacted, for
/// use in place of `%r`.
pub fn request_line(req: &ServiceRequest) -> String {
    format!("{} {} {:?}", req.method(), redact_uri(req.uri()), req.version())
}

/// The `Referer` header with its query redacted (`-` when absent).
fn referer(req: &ServiceRequest) -> String {
    match req.headers().get(REFERER).and_then(|v| v.to_str().ok()) {
        Some(value) => match value.split_once('?') {
            Some((base, query)) => format!("{base}?{}", redact_query(query)),
            None => value.to_owned(),
        },
        None => "-".to_owned(),
    }
}

/// The URI's path and query with sensitive query values replaced by `REDACTED`.
///
/// ```
/// use actix_web::http::Uri;
/// use authgate_actix::redact::redact_uri;
///
/// let uri: Uri = "/ws/quotes?symbol=AAPL&token=eyJhbGciOi.eyJzdWIi.c2ln".parse().unwrap();
/// assert_eq!(redact_uri(&uri), "/ws/quotes?symbol=AAPL&token=REDACTED");
/// ```
pub fn redact_uri(uri: &Uri) -> String {
    match uri.query() {
        Some(query) => format!("{}?{}", uri.path(), redact_query(query)),
        None => uri.path().to_owned(),
    }
}

/// `query` (without `?`) with credential values replaced by [`REDACTED`]; other
/// parameters are kept byte for byte. The rules are the core's
/// ([`authgate::redact`]), shared with `authgate-tower`.
///
/// ```
/// use authgate_actix::redact::redact_query;
///
/// assert_eq!(redact_query("a=1&Access_Token=xyz"), "a=1&Access_Token=REDACTED");
/// // Caught by its shape, whatever the parameter is called.
/// assert_eq!(redact_query("t=eyJhbGciOi.eyJzdWIi.c2ln"), "t=REDACTED");
/// assert_eq!(redact_query("page=2"), "page=2");
/// ```
pub fn redact_query(query: &str) -> String {
    authgate::redact::redact_query(query, &[])
}
