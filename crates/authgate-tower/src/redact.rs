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

use std::borrow::Cow;
use std::sync::Arc;

use http::{Request, Uri};
use tower_http::trace::MakeSpan;
use tracing::{Level, Span};

/// Query parameter names whose values are always redacted.
pub const SENSITIVE_QUERY_PARAMS: &[&str] = &[
    "token",
    "access_token",
    "id_token",
    "refresh_token",
    "jwt",
    "bearer",
    "auth",
    "authorization",
    "api_key",
    "apikey",
    "x-api-key",
    "x_api_key",
    "key",
    "password",
    "secret",
    "client_secret",
    "code",
    "signature",
    "sig",
];

/// What replaces a redacted value.
pub const REDACTED: &str = "REDACTED";

/// The URI's path and query with sensitive query values replaced by `REDACTED`.
pub fn redact_uri(uri: &Uri) -> String {
    redact_with(uri, &[])
}

fn redact_with(uri: &Uri, extra: &[String]) -> String {
    let path = uri.path();
    let Some(query) = uri.query() else { return path.to_owned() };
    let mut out = String::with_capacity(path.len() + query.len() + 1);
    out.push_str(path);
    out.push('?');
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        let (name, value) = match pair.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (pair, None),
        };
        let decoded = percent_decode(name).to_ascii_lowercase();
        let sensitive = SENSITIVE_QUERY_PARAMS.contains(&decoded.as_str())
            || extra.iter().any(|e| e.eq_ignore_ascii_case(&decoded))
            || value.is_some_and(looks_like_secret);
        match value {
            Some(_) if sensitive => {
                out.push_str(name);
                out.push('=');
                out.push_str(REDACTED);
            }
            _ => out.push_str(pair),
        }
    }
    out
}

/// JWTs (`eyJ...`, in any percent-encoding) and authgate API keys (`ak_live_`,
/// `ak_test_`).
fn looks_like_secret(value: &str) -> bool {
    let value = percent_decode(value);
    let v = value.trim();
    v.starts_with("eyJ") || v.starts_with("ak_live_") || v.starts_with("ak_test_") || v.starts_with("Bearer ")
}

fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains(['%', '+']) {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
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
