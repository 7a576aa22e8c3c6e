//! Reading credentials from an actix-web request.
//!
//! actix-web 4 has its own header types (from `http` 0.2), so the core crate's
//! [`CredentialSource`] impls for `http` 1 requests do not apply; this wrapper bridges
//! the two without copying headers (names are matched by their text).

use std::net::IpAddr;

use actix_web::{HttpMessage, HttpRequest};
use authgate::CredentialSource;
use authgate::client_addr::ClientAddr;
use http::HeaderName;

/// An actix-web request seen as an [`authgate::CredentialSource`], so any
/// [`authgate::Authenticator`] can read it.
///
/// The middleware and [`crate::WsAuthMiddleware`] use it internally; it is public for
/// handlers that want to run an authenticator themselves.
///
/// ```
/// use actix_web::test::TestRequest;
/// use authgate::TokenSources;
/// use authgate_actix::RequestSource;
///
/// let req = TestRequest::get().insert_header(("authorization", "Bearer abc")).to_http_request();
/// let source = RequestSource::new(&req);
/// let credentials = TokenSources::default().extract(&source).unwrap();
/// assert_eq!(credentials.bearer(), Some("abc"));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RequestSource<'a> {
    req: &'a HttpRequest,
}

impl<'a> RequestSource<'a> {
    /// Wraps `req`.
    pub fn new(req: &'a HttpRequest) -> Self {
        RequestSource { req }
    }
}

/// The default API-key header ([`authgate::TokenSources`]), as `http` 1 and as actix-web
/// (`http` 0.2) name it.
const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
const ACTIX_X_API_KEY: actix_web::http::header::HeaderName =
    actix_web::http::header::HeaderName::from_static("x-api-key");

impl CredentialSource for RequestSource<'_> {
    fn header_values(&self, name: &HeaderName) -> impl Iterator<Item = &[u8]> {
        let headers = self.req.headers();
        // By text, actix parses the name on every lookup; the two headers read on every
        // request go by actix's own names instead.
        let values = if *name == http::header::AUTHORIZATION {
            headers.get_all(actix_web::http::header::AUTHORIZATION)
        } else if *name == X_API_KEY {
            headers.get_all(ACTIX_X_API_KEY)
        } else {
            headers.get_all(name.as_str())
        };
        values.map(|v| v.as_bytes())
    }

    fn query(&self) -> Option<&str> {
        self.req.uri().query()
    }

    /// The address [`crate::AuthMiddleware`] resolved (through its trusted proxies).
    fn client_addr(&self) -> Option<IpAddr> {
        self.req.extensions().get::<ClientAddr>().map(|c| c.0)
    }
}
