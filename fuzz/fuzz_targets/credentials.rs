//! Credential extraction: `Authorization`, cookies, `X-API-Key`, the WebSocket query
//! parameter and `Sec-WebSocket-Protocol`, plus query-string redaction for logs.
//!
//! Input: lines. The first is the query string; each further line is `name: value`
//! (lines that do not make a valid header are skipped, as the HTTP layer would refuse
//! them before us).
#![no_main]

use authgate::TokenSources;
use authgate::redact::{REDACTED, looks_like_secret, redact_query};
use http::{HeaderName, HeaderValue, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|b| *b == b'\n');
    let query = lines.next().and_then(|q| std::str::from_utf8(q).ok()).unwrap_or_default();
    let mut builder = Request::builder();
    if let Ok(uri) = http::Uri::try_from(format!("/ws?{query}")) {
        builder = builder.uri(uri);
    }
    for line in lines {
        let Some(colon) = line.iter().position(|b| *b == b':') else { continue };
        let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(&line[..colon]), HeaderValue::from_bytes(line[colon + 1..].trim_ascii()))
        else {
            continue;
        };
        builder = builder.header(name, value);
    }
    let Ok(request) = builder.body(()) else { return };

    for sources in [
        TokenSources::default(),
        TokenSources::websocket().cookie("session").websocket_query("token").websocket_protocol("bearer"),
    ] {
        if let Ok(credentials) = sources.extract(&request) {
            let owned = credentials.clone().into_owned();
            assert!(owned == credentials);
            assert_eq!(credentials.is_empty(), credentials.bearer().is_none() && credentials.api_key().is_none());
        }
    }

    if let Some(q) = request.uri().query() {
        let redacted = redact_query(q, &["session"]);
        // Redaction keeps the parameter layout and never lets a JWT-looking value through.
        assert_eq!(redacted.split('&').count(), q.split('&').count());
        for pair in redacted.split('&') {
            let value = pair.split_once('=').map_or(pair, |(_, v)| v);
            assert!(value == REDACTED || !looks_like_secret(value), "{q:?} -> {redacted:?}");
        }
    }
});
