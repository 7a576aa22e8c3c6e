//! The dual-auth migration shim: tell API-key clients that keys are going away.
//!
//! While a service accepts both JWTs and API keys ([`authgate::AuthMode::Either`]),
//! [`AuthMiddleware::deprecate_api_keys`](crate::AuthMiddleware::deprecate_api_keys)
//! adds to every response to an API-key request:
//!
//! - `Deprecation: @<unix seconds>` (RFC 9745), the date keys were deprecated;
//! - `Sunset: <HTTP-date>` (RFC 8594), when keys stop working, if known;
//! - `Link: <url>; rel="deprecation"; type="text/html"`, the migration guide, if any.
//!
//! Independently of this, the middleware counts every authenticated request in the
//! [`REQUESTS_METRIC`](crate::REQUESTS_METRIC) counter
//! (`authgate_requests_total{method="jwt"|"api_key"}`, through the `metrics` facade),
//! so teams can see when no client uses keys anymore. Both match `authgate-tower`.

use actix_web::http::header::{HeaderName, HeaderValue};

pub use authgate::ApiKeyDeprecation;

/// The `Deprecation` header (RFC 9745).
pub const DEPRECATION: HeaderName = HeaderName::from_static("deprecation");
/// The `Sunset` header (RFC 8594).
pub const SUNSET: HeaderName = HeaderName::from_static("sunset");

/// The notice as actix headers, rendered once when the middleware is configured.
pub(crate) fn render(notice: &ApiKeyDeprecation) -> Vec<(HeaderName, HeaderValue)> {
    notice
        .headers()
        .into_iter()
        .filter_map(|(name, value)| Some((HeaderName::from_static(name), HeaderValue::try_from(value).ok()?)))
        .collect()
}
