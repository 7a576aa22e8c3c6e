//! Keeps tokens and keys out of logs (W04, I27).
//!
//! WebSocket clients send their token in the query string, and a mistaken client may
//! put an API key there: an access log or span that records the raw URI leaks them.
//! [`redact_query`] replaces such values with [`REDACTED`]; both adapters build their
//! URI redaction and log formats on it.
//!
//! A value is redacted when its parameter name is one of [`SENSITIVE_QUERY_PARAMS`]
//! (case-insensitive, after percent-decoding), one of the caller's extra names, or when
//! the value itself looks like a JWT, a bearer credential or an authgate API key,
//! whatever its name (a bare `?eyJ...` entry included).
//!
//! ```
//! use authgate::redact::redact_query;
//! assert_eq!(redact_query("symbol=ACME&token=eyJhbGciOi.x.y", &[]), "symbol=ACME&token=REDACTED");
//! assert_eq!(redact_query("session=abc", &["session"]), "session=REDACTED");
//! assert_eq!(redact_query("eyJhbGciOi.x.y", &[]), "REDACTED");
//! ```

use std::borrow::Cow;

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

/// The query string with sensitive values replaced; everything else is kept byte for
/// byte (so logs still show which parameters were sent).
pub fn redact_query(query: &str, extra_names: &[&str]) -> String {
    let mut out = String::with_capacity(query.len());
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((name, value)) => {
                let decoded = decode(name).to_ascii_lowercase();
                let sensitive = SENSITIVE_QUERY_PARAMS.contains(&decoded.as_str())
                    || extra_names.iter().any(|e| e.eq_ignore_ascii_case(&decoded))
                    || looks_like_secret(value);
                out.push_str(name);
                out.push('=');
                out.push_str(if sensitive { REDACTED } else { value });
            }
            None if looks_like_secret(pair) => out.push_str(REDACTED),
            None => out.push_str(pair),
        }
    }
    out
}

/// JWTs (`eyJ...`, in any percent-encoding), bearer credentials and authgate API keys.
pub fn looks_like_secret(value: &str) -> bool {
    let value = decode(value);
    let v = value.trim();
    v.starts_with("eyJ")
        || v.starts_with("ak_")
        || v.get(..7).is_some_and(|p| p.eq_ignore_ascii_case("bearer "))
}

fn decode(s: &str) -> Cow<'_, str> {
    if !s.contains(['%', '+']) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(form_urlencoded::parse(format!("x={s}").as_bytes()).map(|(_, v)| v.into_owned()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn w04_tokens_and_keys_are_redacted_whatever_the_encoding() {
        let cases = [
            ("token=abc", "token=REDACTED"),
            ("TOKEN=abc", "TOKEN=REDACTED"),
            ("%74oken=abc", "%74oken=REDACTED"),
            ("q=%65yJhbGc.x.y", "q=REDACTED"),
            ("q=ak_live_0123", "q=REDACTED"),
            ("h=Bearer%20abc", "h=REDACTED"),
            ("h=bearer+abc", "h=REDACTED"),
            ("symbol=ACME&interval=1s", "symbol=ACME&interval=1s"),
            ("a&&b=", "a&&b="),
        ];
        for (query, expected) in cases {
            assert_eq!(redact_query(query, &[]), expected, "{query}");
        }
    }
}
