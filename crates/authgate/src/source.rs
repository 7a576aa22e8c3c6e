//! Where credentials are read from a request.
//!
//! - `Authorization: Bearer <token>` (scheme case-insensitive), always.
//! - A cookie, when configured ([`TokenSources::cookie`]).
//! - A query parameter and the `Sec-WebSocket-Protocol` header, when configured, and
//!   only on WebSocket upgrade requests: browsers cannot set headers on WebSockets,
//!   but query tokens end up in logs, so normal routes never read them (J26).
//! - `X-API-Key` (name configurable) for API keys, never the query string: a key in
//!   the query is refused outright (I24), because it has already leaked into logs.
//!
//! Two different bearer tokens in one request, or a repeated `Authorization` header,
//! are a 400 `invalid_request` (RFC 6750 §2: one method per request).
//!
//! The request is read through [`CredentialSource`], implemented here for
//! [`http::request::Parts`] and [`http::Request`]; the actix adapter implements it for
//! its own request type.

use http::header::{AUTHORIZATION, COOKIE, SEC_WEBSOCKET_PROTOCOL, UPGRADE};

use crate::error::{Error, ErrorKind};

/// Read access to what credentials can be taken from.
pub trait CredentialSource {
    /// The values of header `name` (lowercase), in order.
    fn header_values(&self, name: &str) -> Vec<&[u8]>;
    /// The raw query string, without `?`.
    fn query(&self) -> Option<&str>;

    /// Whether this is a WebSocket upgrade request (`Upgrade: websocket`).
    fn is_websocket_upgrade(&self) -> bool {
        self.header_values(UPGRADE.as_str())
            .iter()
            .any(|v| v.split(|b| *b == b',').any(|p| p.trim_ascii().eq_ignore_ascii_case(b"websocket")))
    }
}

impl CredentialSource for http::request::Parts {
    fn header_values(&self, name: &str) -> Vec<&[u8]> {
        self.headers.get_all(name).iter().map(|v| v.as_bytes()).collect()
    }
    fn query(&self) -> Option<&str> {
        self.uri.query()
    }
}

impl<B> CredentialSource for http::Request<B> {
    fn header_values(&self, name: &str) -> Vec<&[u8]> {
        self.headers().get_all(name).iter().map(|v| v.as_bytes()).collect()
    }
    fn query(&self) -> Option<&str> {
        self.uri().query()
    }
}

/// The credentials found in a request.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// A bearer token, from whichever source carried it.
    pub bearer: Option<String>,
    /// An API key.
    pub api_key: Option<String>,
}

impl Credentials {
    /// True when the request carries no credentials at all.
    pub fn is_empty(&self) -> bool {
        self.bearer.is_none() && self.api_key.is_none()
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secrets themselves.
        f.debug_struct("Credentials")
            .field("bearer", &self.bearer.as_ref().map(|_| "<redacted>"))
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Which places credentials are read from.
///
/// ```
/// use authgate::TokenSources;
/// // REST routes: header only (the default), plus a cookie for a browser app.
/// let rest = TokenSources::default().cookie("access_token");
/// // WebSocket routes: also `?token=` and `Sec-WebSocket-Protocol: bearer, <token>`.
/// let ws = TokenSources::websocket();
/// # let _ = (rest, ws);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct TokenSources {
    cookie: Option<String>,
    query: Option<String>,
    protocol_marker: Option<String>,
    api_key_header: String,
}

impl Default for TokenSources {
    fn default() -> Self {
        TokenSources { cookie: None, query: None, protocol_marker: None, api_key_header: "x-api-key".into() }
    }
}

/// Query parameter names under which API keys are refused (they leak into logs).
const API_KEY_QUERY_NAMES: [&str; 4] = ["api_key", "apikey", "x-api-key", "x_api_key"];

impl TokenSources {
    /// The WebSocket preset: header, `?token=`, and `Sec-WebSocket-Protocol` with the
    /// marker `bearer` followed by the token.
    pub fn websocket() -> Self {
        TokenSources::default().websocket_query("token").websocket_protocol("bearer")
    }
    /// Also reads the token from cookie `name`.
    pub fn cookie(mut self, name: impl Into<String>) -> Self {
        self.cookie = Some(name.into());
        self
    }
    /// On WebSocket upgrades, also reads the token from query parameter `name`.
    pub fn websocket_query(mut self, name: impl Into<String>) -> Self {
        self.query = Some(name.into());
        self
    }
    /// On WebSocket upgrades, also reads the token from `Sec-WebSocket-Protocol`: the
    /// entry after the `marker` entry (`Sec-WebSocket-Protocol: bearer, eyJ...`).
    pub fn websocket_protocol(mut self, marker: impl Into<String>) -> Self {
        self.protocol_marker = Some(marker.into());
        self
    }
    /// Reads API keys from header `name` instead of `X-API-Key`.
    pub fn api_key_header(mut self, name: impl Into<String>) -> Self {
        self.api_key_header = name.into().to_ascii_lowercase();
        self
    }

    /// The query parameter name read on upgrades, if any (for redaction).
    pub fn query_param(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// The subprotocol marker, if any; a server echoes it back when it accepts.
    pub fn protocol_marker(&self) -> Option<&str> {
        self.protocol_marker.as_deref()
    }

    /// Reads the credentials of a request.
    pub fn extract<R: CredentialSource + ?Sized>(&self, req: &R) -> Result<Credentials, Error> {
        let invalid = |d: &str| Error::new(ErrorKind::InvalidRequest, d.to_owned());
        let mut bearer: Option<String> = None;
        let mut add = |token: String| -> Result<(), Error> {
            match &bearer {
                Some(existing) if *existing != token => Err(invalid("several different bearer tokens")),
                _ => {
                    bearer = Some(token);
                    Ok(())
                }
            }
        };

        let auth = req.header_values(AUTHORIZATION.as_str());
        if auth.len() > 1 {
            return Err(invalid("repeated Authorization header"));
        }
        if let Some(value) = auth.first() {
            let value = std::str::from_utf8(value).map_err(|_| invalid("Authorization is not ASCII"))?;
            if let Some((scheme, token)) = value.trim().split_once(' ')
                && scheme.eq_ignore_ascii_case("bearer")
            {
                let token = token.trim();
                // RFC 6750 b64token: printable ASCII; a byte scan, this runs on every request.
                if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(invalid("malformed Bearer credentials"));
                }
                add(token.to_owned())?;
            } else if value.trim().eq_ignore_ascii_case("bearer") {
                return Err(invalid("Bearer scheme without a token"));
            }
            // Other schemes (Basic...) are not ours: treated as no bearer token.
        }

        if let Some(name) = &self.cookie {
            for header in req.header_values(COOKIE.as_str()) {
                let Ok(header) = std::str::from_utf8(header) else { continue };
                for pair in header.split(';') {
                    if let Some((k, v)) = pair.trim().split_once('=')
                        && k == name
                        && !v.is_empty()
                    {
                        add(v.trim_matches('"').to_owned())?;
                    }
                }
            }
        }

        let query = req.query().unwrap_or_default();
        if query_pairs(query).any(|(k, _)| API_KEY_QUERY_NAMES.iter().any(|n| k.eq_ignore_ascii_case(n))) {
            return Err(Error::new(
                ErrorKind::InvalidApiKey,
                "API keys are not accepted in the query string",
            ));
        }

        if req.is_websocket_upgrade() {
            if let Some(name) = &self.query {
                for (k, v) in query_pairs(query) {
                    if k == name.as_str() && !v.is_empty() {
                        add(v.into_owned())?;
                    }
                }
            }
            if let Some(marker) = &self.protocol_marker {
                for header in req.header_values(SEC_WEBSOCKET_PROTOCOL.as_str()) {
                    let Ok(header) = std::str::from_utf8(header) else { continue };
                    let mut entries = header.split(',').map(str::trim);
                    while let Some(entry) = entries.next() {
                        if entry == marker
                            && let Some(token) = entries.next()
                        {
                            add(token.to_owned())?;
                        }
                    }
                }
            }
        }

        let keys = req.header_values(&self.api_key_header);
        if keys.len() > 1 {
            return Err(invalid("repeated API key header"));
        }
        let api_key = match keys.first() {
            Some(v) => Some(
                std::str::from_utf8(v)
                    .map_err(|_| Error::new(ErrorKind::InvalidApiKey, "API key is not ASCII"))?
                    .trim()
                    .to_owned(),
            ),
            None => None,
        };
        Ok(Credentials { bearer, api_key: api_key.filter(|k| !k.is_empty()) })
    }
}

/// Decoded `name=value` pairs of a query string.
pub(crate) fn query_pairs(
    query: &str,
) -> impl Iterator<Item = (std::borrow::Cow<'_, str>, std::borrow::Cow<'_, str>)> {
    url::form_urlencoded::parse(query.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut b = http::Request::builder().uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn j26_bearer_scheme_is_case_insensitive_and_query_tokens_are_ignored_on_normal_routes() {
        let s = TokenSources::websocket();
        for scheme in ["Bearer", "bearer", "BEARER"] {
            let c = s.extract(&req("/", &[("authorization", &format!("{scheme} abc"))])).unwrap();
            assert_eq!(c.bearer.as_deref(), Some("abc"));
        }
        let c = s.extract(&req("/api?access_token=abc&token=abc", &[])).unwrap();
        assert!(c.is_empty());
        let c =
            TokenSources::default().extract(&req("/", &[("authorization", "Basic dXNlcjpwdw==")])).unwrap();
        assert!(c.is_empty());
    }

    #[test]
    fn websocket_upgrades_read_query_and_subprotocol() {
        let s = TokenSources::websocket();
        let up = [("upgrade", "websocket"), ("connection", "Upgrade")];
        let c = s.extract(&req("/ws?token=t1", &up)).unwrap();
        assert_eq!(c.bearer.as_deref(), Some("t1"));
        let c =
            s.extract(&req("/ws", &[up[0], up[1], ("sec-websocket-protocol", "chat, bearer, t2")])).unwrap();
        assert_eq!(c.bearer.as_deref(), Some("t2"));
        let err = s.extract(&req("/ws?token=t1", &[up[0], ("authorization", "Bearer t2")])).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    }

    #[test]
    fn i24_api_key_in_query_is_refused_and_header_is_read() {
        let s = TokenSources::default();
        let err = s.extract(&req("/x?api_key=ak_live_x", &[])).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidApiKey);
        let c = s.extract(&req("/x", &[("x-api-key", "ak_live_abc")])).unwrap();
        assert_eq!(c.api_key.as_deref(), Some("ak_live_abc"));
        assert!(!format!("{c:?}").contains("ak_live_abc"));
    }

    #[test]
    fn repeated_authorization_or_empty_bearer_is_invalid_request() {
        let s = TokenSources::default();
        let mut parts = req("/", &[("authorization", "Bearer a")]);
        parts.headers.append("authorization", http::HeaderValue::from_static("Bearer b"));
        assert_eq!(s.extract(&parts).unwrap_err().kind(), ErrorKind::InvalidRequest);
        assert_eq!(
            s.extract(&req("/", &[("authorization", "Bearer ")])).unwrap_err().kind(),
            ErrorKind::InvalidRequest
        );
        assert_eq!(
            s.extract(&req("/", &[("authorization", "Bearer a b")])).unwrap_err().kind(),
            ErrorKind::InvalidRequest
        );
    }

    #[test]
    fn cookie_is_read_only_when_configured() {
        let r = req("/", &[("cookie", "theme=dark; access_token=abc")]);
        assert!(TokenSources::default().extract(&r).unwrap().is_empty());
        assert_eq!(
            TokenSources::default().cookie("access_token").extract(&r).unwrap().bearer.as_deref(),
            Some("abc")
        );
    }
}
