//! Keeps tokens and keys out of logs (W04, I27).
//!
//! WebSocket clients send their token in the query string, and a mistaken client may
//! put an API key there: any access log or tracing span that records the raw URI leaks
//! them. [`redact_uri`] replaces such values with `REDACTED`, and [`RedactedMakeSpan`]
//! is a `tower-http` [`TraceLayer`](tower_http::trace::TraceLayer) span maker that
//! records only the redacted URI (and no headers).
//!
//! A value is redacted when its parameter name is one of [`SENSITIVE_QUERY_PARAMS`]
//! (case-insensitive, after percent-decoding), one added with
//! [`RedactedMakeSpan::also_redact`], or when the value itself looks like a JWT or an
//! authgate API key, whatever its name.
//!
//! ```
//! use authgate_tower::redact::{RedactedMakeSpan, redact_uri};
//! use tower_http::trace::TraceLayer;
//!
//! let uri: http::Uri = "/ws/quotes?symbol=ACME&token=eyJhbGciOi.x.y".parse().unwrap();
//! assert_eq!(redact_uri(&uri), "/ws/quotes?symbol=ACME&token=REDACTED");
//!
//! // Default: INFO spans named `request` with method, redacted uri and version.
//! let trace = TraceLayer::new_for_http().make_span_with(RedactedMakeSpan::new());
//! // DEBUG spans, also hiding `?session=`.
//! let quiet = TraceLayer::new_for_http()
//!     .make_span_with(RedactedMakeSpan::new().level(tracing::Level::DEBUG).also_redact(["session"]));
//! # let _ = (trace, quiet);
//! ```

use std::sync::Arc;

use http::{Request, Uri};
use tower_http::trace::MakeSpan;
use tracing::{Level, Span};

pub use authgate::redact::{REDACTED, SENSITIVE_QUERY_PARAMS};

/// The URI's path and query with sensitive query values replaced by `REDACTED` (the
/// core's rules, shared with `authgate-actix`).
pub fn redact_uri(uri: &Uri) -> String {
    redact_with(uri, &[])
}

fn redact_with(uri: &Uri, extra: &[String]) -> String {
    match uri.query() {
        Some(query) => {
            let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
            format!("{}?{}", uri.path(), authgate::redact::redact_query(query, &extra))
        }
        None => uri.path().to_owned(),
    }
}

/// A `tower-http` span maker recording `method`, the redacted `uri` and `version`,
/// never headers or the raw query.
#[derive(Clone, Debug)]
#[must_use]
pub struct RedactedMakeSpan {
    level: Level,
    extra: Arc<[String]>,
}

impl Default for RedactedMakeSpan {
    fn default() -> Self {
        RedactedMakeSpan { level: Level::INFO, extra: Arc::new([]) }
    }
}

impl RedactedMakeSpan {
    /// INFO spans named `request`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Spans at `level` instead of INFO.
    pub fn level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }

    /// Also redacts these query parameters.
    pub fn also_redact<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        let mut all: Vec<String> = self.extra.to_vec();
        all.extend(names.into_iter().map(Into::into));
        self.extra = all.into();
        self
    }
}

impl<B> MakeSpan<B> for RedactedMakeSpan {
    fn make_span(&mut self, req: &Request<B>) -> Span {
        let method = req.method();
        let version = req.version();
        macro_rules! span {
            ($level:expr) => {
                tracing::span!($level, "request", %method, uri = tracing::field::Empty, ?version)
            };
        }
        let span = match self.level {
            Level::ERROR => span!(Level::ERROR),
            Level::WARN => span!(Level::WARN),
            Level::INFO => span!(Level::INFO),
            Level::DEBUG => span!(Level::DEBUG),
            _ => span!(Level::TRACE),
        };
        // Redacting allocates: only pay for it when the span is recorded.
        if !span.is_disabled() {
            span.record("uri", tracing::field::display(redact_with(req.uri(), &self.extra)));
        }
        span
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(uri: &str) -> String {
        redact_uri(&uri.parse().expect("test uri"))
    }

    #[test]
    fn w04_sensitive_values_are_redacted_and_others_kept() {
        assert_eq!(r("/a?token=abc&x=1"), "/a?token=REDACTED&x=1");
        assert_eq!(r("/a?TOKEN=abc"), "/a?TOKEN=REDACTED");
        assert_eq!(r("/a?to%6Ben=abc"), "/a?to%6Ben=REDACTED");
        assert_eq!(r("/a?api_key=ak_live_x&access_token=t"), "/a?api_key=REDACTED&access_token=REDACTED");
        assert_eq!(r("/a?q=eyJhbGc.x.y"), "/a?q=REDACTED");
        assert_eq!(r("/a?q=%65yJhbGc.x.y"), "/a?q=REDACTED");
        assert_eq!(r("/a?flag&b="), "/a?flag&b=");
        assert_eq!(r("/plain"), "/plain");
        assert_eq!(r("/a?x=%"), "/a?x=%");
    }
}
