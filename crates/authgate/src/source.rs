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
//! [`http::request::Parts`] and [`http::Request`] (whose extensions may hold the
//! [`ClientAddr`] an adapter resolved); the actix adapter implements it for its own
//! request type.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::OnceLock;

use http::HeaderName;
use http::header::{AUTHORIZATION, COOKIE, SEC_WEBSOCKET_PROTOCOL, UPGRADE};

use crate::client_addr::ClientAddr;
use crate::error::{Error, ErrorKind};
use crate::token_cache::CacheMiss;

/// Read access to what credentials can be taken from.
///
/// Two methods to implement for a framework's own request type (the actix adapter
/// does); header values are handed out as an iterator over the request's own bytes, so
/// reading credentials allocates nothing.
///
/// ```
/// use authgate::{CredentialSource, TokenSources};
/// use http::HeaderName;
///
/// /// A request kept as (lowercase name, value) pairs.
/// struct Raw {
///     headers: Vec<(&'static str, Vec<u8>)>,
///     query: Option<String>,
/// }
///
/// impl CredentialSource for Raw {
///     fn header_values(&self, name: &HeaderName) -> impl Iterator<Item = &[u8]> {
///         self.headers.iter().filter(move |(n, _)| *n == name.as_str()).map(|(_, v)| v.as_slice())
///     }
///     fn query(&self) -> Option<&str> {
///         self.query.as_deref()
///     }
/// }
///
/// let req = Raw { headers: vec![("authorization", b"Bearer abc".to_vec())], query: None };
/// let credentials = TokenSources::default().extract(&req)?;
/// assert_eq!(credentials.bearer(), Some("abc"));
/// # Ok::<(), authgate::Error>(())
/// ```
pub trait CredentialSource {
    /// The values of header `name`, in order.
    fn header_values(&self, name: &HeaderName) -> impl Iterator<Item = &[u8]>;
    /// The raw query string, without `?`.
    fn query(&self) -> Option<&str>;

    /// The client's address, when known: adapters resolve it (see
    /// [`crate::client_addr`]) and store it where this method finds it. Per-client limits
    /// (unknown API keys) key on it. Defaults to `None`.
    fn client_addr(&self) -> Option<IpAddr> {
        None
    }

    /// Whether this is a WebSocket upgrade request (`Upgrade: websocket`).
    fn is_websocket_upgrade(&self) -> bool {
        self.header_values(&UPGRADE)
            .any(|v| v.split(|b| *b == b',').any(|p| p.trim_ascii().eq_ignore_ascii_case(b"websocket")))
    }
}

impl CredentialSource for http::request::Parts {
    fn header_values(&self, name: &HeaderName) -> impl Iterator<Item = &[u8]> {
        self.headers.get_all(name).iter().map(http::HeaderValue::as_bytes)
    }
    fn query(&self) -> Option<&str> {
        self.uri.query()
    }
    fn client_addr(&self) -> Option<IpAddr> {
        self.extensions.get::<ClientAddr>().map(|c| c.0)
    }
}

impl<B> CredentialSource for http::Request<B> {
    fn header_values(&self, name: &HeaderName) -> impl Iterator<Item = &[u8]> {
        self.headers().get_all(name).iter().map(http::HeaderValue::as_bytes)
    }
    fn query(&self) -> Option<&str> {
        self.uri().query()
    }
    fn client_addr(&self) -> Option<IpAddr> {
        self.extensions().get::<ClientAddr>().map(|c| c.0)
    }
}

/// The credentials found in a request, and the client address they came from.
///
/// They borrow from the request where they can (a token percent-decoded from a query
/// string is the exception), so reading them copies nothing; [`Credentials::into_owned`]
/// detaches them, e.g. to move them into a `'static` future.
///
/// ```
/// use authgate::{Credentials, TokenSources};
/// let req = http::Request::get("/").header("authorization", "Bearer abc").body(())?;
/// let credentials = TokenSources::default().extract(&req)?;
/// assert_eq!(credentials.bearer(), Some("abc"));
/// let owned: Credentials<'static> = credentials.into_owned();
/// drop(req);
/// assert!(owned.api_key().is_none());
///
/// // Built by hand, e.g. for `Authenticator::authenticate_credentials`.
/// let by_hand = Credentials::builder().api_key("ak_test_x").client_addr([10, 0, 0, 7].into()).build();
/// assert_eq!(by_hand.api_key(), Some("ak_test_x"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Default)]
#[non_exhaustive]
pub struct Credentials<'a> {
    bearer: Option<Cow<'a, str>>,
    api_key: Option<Cow<'a, str>>,
    client_addr: Option<IpAddr>,
    /// Set when [`crate::Authenticator::authenticate_cached`] missed the verified-token
    /// cache, so the verification that follows neither hashes the token nor looks it up
    /// again. Not part of the credentials' identity (see `PartialEq`).
    cache_miss: OnceLock<CacheMiss>,
}

/// A clone starts with no cache miss noted: only the credentials that were looked up
/// carry their miss on (into the verification that follows it).
impl Clone for Credentials<'_> {
    fn clone(&self) -> Self {
        Credentials {
            bearer: self.bearer.clone(),
            api_key: self.api_key.clone(),
            client_addr: self.client_addr,
            cache_miss: OnceLock::new(),
        }
    }
}

impl PartialEq for Credentials<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.bearer == other.bearer && self.api_key == other.api_key && self.client_addr == other.client_addr
    }
}

impl Eq for Credentials<'_> {}

impl<'a> Credentials<'a> {
    /// Starts empty credentials.
    pub fn builder() -> CredentialsBuilder<'a> {
        CredentialsBuilder { credentials: Credentials::default() }
    }

    /// A bearer token, from whichever source carried it.
    pub fn bearer(&self) -> Option<&str> {
        self.bearer.as_deref()
    }

    /// An API key.
    pub fn api_key(&self) -> Option<&str> {
        self.api_key.as_deref()
    }

    /// The client's address, when the request source knows it (see
    /// [`crate::client_addr`]); per-client limits key on it.
    pub fn client_addr(&self) -> Option<IpAddr> {
        self.client_addr
    }

    /// True when the request carries no credentials at all.
    pub fn is_empty(&self) -> bool {
        self.bearer.is_none() && self.api_key.is_none()
    }

    /// The same credentials, copied out of the request.
    pub fn into_owned(self) -> Credentials<'static> {
        let own = |c: Cow<'_, str>| Cow::Owned(c.into_owned());
        Credentials {
            bearer: self.bearer.map(own),
            api_key: self.api_key.map(own),
            client_addr: self.client_addr,
            // The same bearer token, so what the cache said about it still holds.
            cache_miss: self.cache_miss,
        }
    }

    pub(crate) fn into_parts(self) -> CredentialParts<'a> {
        CredentialParts {
            bearer: self.bearer,
            api_key: self.api_key,
            client_addr: self.client_addr,
            cache_miss: self.cache_miss.into_inner(),
        }
    }

    /// Where [`crate::Authenticator::authenticate_cached`] notes a miss for the bearer
    /// token.
    pub(crate) fn cache_miss_slot(&self) -> &OnceLock<CacheMiss> {
        &self.cache_miss
    }
}

impl std::fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secrets themselves.
        f.debug_struct("Credentials")
            .field("bearer", &self.bearer.as_ref().map(|_| "<redacted>"))
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("client_addr", &self.client_addr)
            .finish()
    }
}

/// [`Credentials`] taken apart for authentication.
pub(crate) struct CredentialParts<'a> {
    pub(crate) bearer: Option<Cow<'a, str>>,
    pub(crate) api_key: Option<Cow<'a, str>>,
    pub(crate) client_addr: Option<IpAddr>,
    pub(crate) cache_miss: Option<CacheMiss>,
}

/// Builds [`Credentials`] by hand.
#[derive(Debug, Clone)]
#[must_use]
pub struct CredentialsBuilder<'a> {
    credentials: Credentials<'a>,
}

impl<'a> CredentialsBuilder<'a> {
    /// Sets the bearer token.
    pub fn bearer(mut self, token: impl Into<Cow<'a, str>>) -> Self {
        self.credentials.bearer = Some(token.into());
        self
    }
    /// Sets the API key.
    pub fn api_key(mut self, key: impl Into<Cow<'a, str>>) -> Self {
        self.credentials.api_key = Some(key.into());
        self
    }
    /// Sets the client address.
    pub fn client_addr(mut self, addr: IpAddr) -> Self {
        self.credentials.client_addr = Some(addr);
        self
    }
    /// Finishes the credentials.
    pub fn build(self) -> Credentials<'a> {
        self.credentials
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
    /// `None` when the configured name is not a valid header name (nothing matches it).
    api_key_header: Option<HeaderName>,
}

impl Default for TokenSources {
    fn default() -> Self {
        TokenSources {
            cookie: None,
            query: None,
            protocol_marker: None,
            api_key_header: Some(HeaderName::from_static("x-api-key")),
        }
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
    /// Reads API keys from header `name` (any case) instead of `X-API-Key`. A name that
    /// is not a valid header name matches no header.
    pub fn api_key_header(mut self, name: impl Into<String>) -> Self {
        self.api_key_header = HeaderName::from_bytes(name.into().as_bytes()).ok();
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

    /// Reads the credentials of a request, borrowing them from it.
    pub fn extract<'a, R: CredentialSource + ?Sized>(&self, req: &'a R) -> Result<Credentials<'a>, Error> {
        let invalid = |d: &str| Error::new(ErrorKind::InvalidRequest, d.to_owned());
        let mut bearer: Option<Cow<'a, str>> = None;
        let mut add = |token: Cow<'a, str>| -> Result<(), Error> {
            match &bearer {
                Some(existing) if *existing != token => Err(invalid("several different bearer tokens")),
                _ => {
                    bearer = Some(token);
                    Ok(())
                }
            }
        };

        let Ok(auth) = only_value(req.header_values(&AUTHORIZATION)) else {
            return Err(invalid("repeated Authorization header"));
        };
        if let Some(value) = auth {
            let value = std::str::from_utf8(value).map_err(|_| invalid("Authorization is not ASCII"))?;
            if let Some((scheme, token)) = value.trim().split_once(' ')
                && scheme.eq_ignore_ascii_case("bearer")
            {
                let token = token.trim();
                if token.is_empty() || !is_printable_ascii(token.as_bytes()) {
                    return Err(invalid("malformed Bearer credentials"));
                }
                add(Cow::Borrowed(token))?;
            } else if value.trim().eq_ignore_ascii_case("bearer") {
                return Err(invalid("Bearer scheme without a token"));
            }
            // Other schemes (Basic...) are not ours: treated as no bearer token.
        }

        if let Some(name) = &self.cookie {
            for header in req.header_values(&COOKIE) {
                let Ok(header) = std::str::from_utf8(header) else { continue };
                for pair in header.split(';') {
                    if let Some((k, v)) = pair.trim().split_once('=')
                        && k == name
                        && !v.is_empty()
                    {
                        add(Cow::Borrowed(v.trim_matches('"')))?;
                    }
                }
            }
        }

        let query = req.query().unwrap_or_default();
        if names_an_api_key(query) {
            return Err(Error::new(
                ErrorKind::InvalidApiKey,
                "API keys are not accepted in the query string",
            ));
        }

        // Only WebSocket sources depend on the upgrade check; skip its header lookup otherwise.
        if (self.query.is_some() || self.protocol_marker.is_some()) && req.is_websocket_upgrade() {
            if let Some(name) = &self.query {
                for (k, v) in query_pairs(query) {
                    if k == name.as_str() && !v.is_empty() {
                        add(v)?;
                    }
                }
            }
            if let Some(marker) = &self.protocol_marker {
                for header in req.header_values(&SEC_WEBSOCKET_PROTOCOL) {
                    let Ok(header) = std::str::from_utf8(header) else { continue };
                    let mut entries = header.split(',').map(str::trim);
                    while let Some(entry) = entries.next() {
                        if entry == marker
                            && let Some(token) = entries.next()
                        {
                            add(Cow::Borrowed(token))?;
                        }
                    }
                }
            }
        }

        let key = match &self.api_key_header {
            Some(name) => {
                only_value(req.header_values(name)).map_err(|()| invalid("repeated API key header"))?
            }
            None => None,
        };
        let api_key = match key {
            Some(v) => Some(
                std::str::from_utf8(v)
                    .map_err(|_| Error::new(ErrorKind::InvalidApiKey, "API key is not ASCII"))?
                    .trim(),
            ),
            None => None,
        };
        Ok(Credentials {
            bearer,
            api_key: api_key.filter(|k| !k.is_empty()).map(Cow::Borrowed),
            client_addr: req.client_addr(),
            cache_miss: OnceLock::new(),
        })
    }

    /// The bytes after `Bearer ` (scheme in any case) of a request whose only credential
    /// can be one `Authorization` header, with no API-key header and no API key in the
    /// query, read by sources with no cookie or WebSocket source: then
    /// [`TokenSources::extract`] finds no other credential, and its bearer token is these
    /// bytes (trimmed, if they have spaces around them) when they are a valid token.
    ///
    /// The bytes are not validated (the point: this is the path of a token seen before).
    /// Only a comparison with a token that was validated and verified may use them, as
    /// the token cache does: a byte-equal token passes [`TokenSources::extract`]'s checks
    /// just as the cached one did. Everything else goes through `extract`.
    pub(crate) fn sole_bearer_token<'a, R: CredentialSource + ?Sized>(&self, req: &'a R) -> Option<&'a [u8]> {
        if self.cookie.is_some() || self.query.is_some() || self.protocol_marker.is_some() {
            return None;
        }
        let value = only_value(req.header_values(&AUTHORIZATION)).ok()??;
        let (scheme, token) = value.split_at_checked(BEARER_PREFIX.len())?;
        if !scheme.eq_ignore_ascii_case(BEARER_PREFIX) || token.is_empty() {
            return None;
        }
        if let Some(name) = &self.api_key_header
            && req.header_values(name).next().is_some()
        {
            return None;
        }
        if req.query().is_some_and(names_an_api_key) {
            return None;
        }
        Some(token)
    }

    /// What [`TokenSources::extract`] reads from a request whose
    /// [`sole_bearer_token`](TokenSources::sole_bearer_token) is `token`, when `token`
    /// is printable ASCII: then it has no spaces to trim and is valid UTF-8, so `extract`
    /// would find that very token and nothing else. `None` otherwise (`extract` decides).
    pub(crate) fn sole_bearer_credentials<'a, R: CredentialSource + ?Sized>(
        &self,
        req: &'a R,
        token: &'a [u8],
    ) -> Option<Credentials<'a>> {
        if token.is_empty() || !is_printable_ascii(token) {
            return None;
        }
        let token = std::str::from_utf8(token).ok()?;
        Some(Credentials {
            bearer: Some(Cow::Borrowed(token)),
            api_key: None,
            client_addr: req.client_addr(),
            cache_miss: OnceLock::new(),
        })
    }
}

/// `Bearer ` with its one space, compared in any case.
const BEARER_PREFIX: &[u8] = b"bearer ";

/// Whether a query string carries a parameter named like an API key.
fn names_an_api_key(query: &str) -> bool {
    query_pairs(query).any(|(k, _)| API_KEY_QUERY_NAMES.iter().any(|n| k.eq_ignore_ascii_case(n)))
}

/// The value of a header that may occur at most once; `Err` when it is repeated.
fn only_value<'a>(mut values: impl Iterator<Item = &'a [u8]>) -> Result<Option<&'a [u8]>, ()> {
    let first = values.next();
    if values.next().is_some() { Err(()) } else { Ok(first) }
}

/// Whether every byte is printable ASCII (`0x21..=0x7E`): RFC 6750's b64token alphabet
/// and a little more. This runs over the whole token of every new token, so it is a
/// branch-free minimum and maximum, which the compiler turns into SSE2's byte min/max
/// (tokens that fail are rare, so stopping early would not pay).
fn is_printable_ascii(bytes: &[u8]) -> bool {
    let (low, high) = bytes.iter().fold((u8::MAX, 0), |(low, high), &b| (low.min(b), high.max(b)));
    bytes.is_empty() || (low >= 0x21 && high <= 0x7e)
}

/// Decoded `name=value` pairs of a query string.
pub(crate) fn query_pairs(
    query: &str,
) -> impl Iterator<Item = (std::borrow::Cow<'_, str>, std::borrow::Cow<'_, str>)> {
    form_urlencoded::parse(query.as_bytes())
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
            let c =
                s.extract(&req("/", &[("authorization", &format!("{scheme} abc"))])).unwrap().into_owned();
            assert_eq!(c.bearer(), Some("abc"));
        }
        let c = s.extract(&req("/api?access_token=abc&token=abc", &[])).unwrap().into_owned();
        assert!(c.is_empty());
        let c = TokenSources::default()
            .extract(&req("/", &[("authorization", "Basic dXNlcjpwdw==")]))
            .unwrap()
            .into_owned();
        assert!(c.is_empty());
    }

    /// The raw-bytes path answers only for a lone `Authorization: Bearer <token>` whose
    /// token `extract` reads and nothing else.
    #[test]
    fn sole_bearer_token_is_only_the_one_header_shape() {
        let sole = |s: &TokenSources, r: &http::request::Parts| s.sole_bearer_token(r).map(<[u8]>::to_vec);
        let s = TokenSources::default();
        for scheme in ["Bearer", "bearer", "BEARER"] {
            let r = req("/api?page=2", &[("authorization", &format!("{scheme} abc"))]);
            assert_eq!(sole(&s, &r).as_deref(), Some(&b"abc"[..]), "{scheme}");
            assert_eq!(s.extract(&r).unwrap().bearer(), Some("abc"));
        }
        let mut repeated = req("/", &[("authorization", "Bearer a")]);
        repeated.headers.append("authorization", http::HeaderValue::from_static("Bearer a"));
        let not_sole = [
            repeated,
            req("/", &[("authorization", "Bearer ")]),
            req("/", &[("authorization", "Basic abc")]),
            req("/", &[("authorization", "Bearerabc")]),
            req("/", &[("authorization", "Bearer abc"), ("x-api-key", "k")]),
            req("/?api_key=k", &[("authorization", "Bearer abc")]),
            req("/?X-API-Key=k", &[("authorization", "Bearer abc")]),
            req("/", &[]),
        ];
        for r in &not_sole {
            assert_eq!(sole(&s, r), None, "{:?}", r.headers);
        }
        // Unvalidated bytes: with a second space they start with it, and no token that
        // passed `extract`'s printable check (so no cached token) contains a space.
        let spaced = req("/", &[("authorization", "Bearer  abc")]);
        assert_eq!(sole(&s, &spaced).as_deref(), Some(&b" abc"[..]));
        assert_eq!(s.extract(&spaced).unwrap().bearer(), Some("abc"));
        let r = req("/", &[("authorization", "Bearer abc")]);
        for reads_more in [
            TokenSources::default().cookie("access_token"),
            TokenSources::websocket(),
            TokenSources::default().websocket_query("token"),
            TokenSources::default().websocket_protocol("bearer"),
        ] {
            assert_eq!(sole(&reads_more, &r), None, "{reads_more:?}");
        }
    }

    /// Where the raw-bytes path takes a token as the credentials, they are exactly
    /// `extract`'s (client address included); where it declines, `extract` reads
    /// something else or refuses the request.
    #[test]
    fn sole_bearer_credentials_are_what_extract_reads() {
        let s = TokenSources::default();
        let mut with_addr = req("/", &[("authorization", "Bearer abc.def-_~+/=")]);
        with_addr.extensions.insert(crate::client_addr::ClientAddr("192.0.2.7".parse().unwrap()));
        let taken = [
            with_addr,
            req("/api?page=2", &[("authorization", "bearer abc")]),
            req("/", &[("authorization", "BEARER !#$%&'*+-.^_`|~09azAZ")]),
            req("/", &[("authorization", "Bearer a"), ("cookie", "access_token=other")]),
        ];
        for r in &taken {
            let token = s.sole_bearer_token(r).expect("a sole bearer token");
            let credentials = s.sole_bearer_credentials(r, token).expect("taken");
            assert_eq!(credentials, s.extract(r).unwrap(), "{:?}", r.headers);
            assert!(credentials.api_key().is_none());
        }
        assert_eq!(
            s.sole_bearer_credentials(&taken[0], b"abc").unwrap().client_addr(),
            Some("192.0.2.7".parse().unwrap())
        );
        let declined: [(&str, Option<&str>); 4] = [
            ("Bearer  abc", Some("abc")), // two spaces: `extract` trims
            ("Bearer abc ", Some("abc")),
            ("Bearer abc def", None), // refused
            ("Bearer ab\tc", None),
        ];
        for (header, read) in declined {
            let r = req("/", &[("authorization", header)]);
            let token = s.sole_bearer_token(&r).expect("a sole bearer token");
            assert!(s.sole_bearer_credentials(&r, token).is_none(), "{header:?}");
            let extracted = s.extract(&r).ok().and_then(|c| c.bearer().map(str::to_owned));
            assert_eq!(extracted.as_deref(), read, "{header:?}");
        }
        let non_ascii = http::HeaderValue::from_bytes(b"Bearer ab\xffc").unwrap();
        let mut r = req("/", &[]);
        r.headers.insert("authorization", non_ascii);
        let token = s.sole_bearer_token(&r).expect("a sole bearer token");
        assert!(s.sole_bearer_credentials(&r, token).is_none());
        assert!(s.extract(&r).is_err());
    }

    #[test]
    fn websocket_upgrades_read_query_and_subprotocol() {
        let s = TokenSources::websocket();
        let up = [("upgrade", "websocket"), ("connection", "Upgrade")];
        let c = s.extract(&req("/ws?token=t1", &up)).unwrap().into_owned();
        assert_eq!(c.bearer(), Some("t1"));
        let c = s
            .extract(&req("/ws", &[up[0], up[1], ("sec-websocket-protocol", "chat, bearer, t2")]))
            .unwrap()
            .into_owned();
        assert_eq!(c.bearer(), Some("t2"));
        let err = s.extract(&req("/ws?token=t1", &[up[0], ("authorization", "Bearer t2")])).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    }

    #[test]
    fn i24_api_key_in_query_is_refused_and_header_is_read() {
        let s = TokenSources::default();
        let err = s.extract(&req("/x?api_key=ak_live_x", &[])).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidApiKey);
        let c = s.extract(&req("/x", &[("x-api-key", "ak_live_abc")])).unwrap().into_owned();
        assert_eq!(c.api_key(), Some("ak_live_abc"));
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
        assert_eq!(TokenSources::default().cookie("access_token").extract(&r).unwrap().bearer(), Some("abc"));
    }

    #[test]
    fn printable_ascii_check_agrees_with_the_byte_definition() {
        for b in 0..=u8::MAX {
            for len in [1, 31, 32, 33, 70] {
                let mut token = vec![b'a'; len];
                token[len / 2] = b;
                assert_eq!(is_printable_ascii(&token), b.is_ascii_graphic(), "byte {b:#x}, length {len}");
            }
        }
        assert!(is_printable_ascii(b""));
    }

    #[test]
    fn api_key_header_name_is_case_insensitive_and_repeats_are_refused() {
        let s = TokenSources::default().api_key_header("X-Legacy-Key");
        let c = s.extract(&req("/", &[("x-legacy-key", " k1 ")])).unwrap().into_owned();
        assert_eq!(c.api_key(), Some("k1"));
        let mut parts = req("/", &[("x-legacy-key", "k1")]);
        parts.headers.append("x-legacy-key", http::HeaderValue::from_static("k2"));
        assert_eq!(s.extract(&parts).unwrap_err().kind(), ErrorKind::InvalidRequest);
        assert!(TokenSources::default().api_key_header("not a name").extract(&parts).unwrap().is_empty());
    }

    #[test]
    fn credentials_borrow_from_the_request_and_into_owned_detaches_them() {
        let s = TokenSources::websocket();
        let up = [("upgrade", "websocket"), ("authorization", "Bearer a%2Bb")];
        let parts = req("/ws?token=a%2Bb", &up[..1]);
        let from_query = s.extract(&parts).unwrap();
        assert!(matches!(from_query.bearer, Some(Cow::Owned(_))), "percent-decoded, so owned");
        let parts = req("/ws", &up);
        let from_header = s.extract(&parts).unwrap();
        assert!(matches!(from_header.bearer, Some(Cow::Borrowed("a%2Bb"))));
        let owned = from_header.into_owned();
        drop(parts);
        assert_eq!(owned.bearer(), Some("a%2Bb"));
    }
}
