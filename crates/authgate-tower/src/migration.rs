//! The dual-auth migration shim: tell API-key clients that keys are going away.
//!
//! While a service accepts both JWTs and API keys ([`authgate::AuthMode::Either`]),
//! [`AuthLayer::deprecate_api_keys`](crate::AuthLayer::deprecate_api_keys) adds to every
//! response to an API-key request:
//!
//! - `Deprecation: @<unix seconds>` (RFC 9745), the date keys were deprecated;
//! - `Sunset: <HTTP-date>` (RFC 8594), when keys stop working, if known;
//! - `Link: <url>; rel="deprecation"; type="text/html"`, the migration guide, if any.
//!
//! Independently of this, the layer counts every authenticated request in the
//! `authgate_requests_total{method="jwt"|"api_key"}` counter (through the `metrics`
//! facade), so teams can see when no client uses keys anymore.

use http::{HeaderMap, HeaderName, HeaderValue};

pub use authgate::ApiKeyDeprecation;

/// The `Deprecation` header (RFC 9745).
pub const DEPRECATION: HeaderName = HeaderName::from_static("deprecation");
/// The `Sunset` header (RFC 8594).
pub const SUNSET: HeaderName = HeaderName::from_static("sunset");

/// Precomputed headers, appended to each API-key response.
#[derive(Debug, Clone)]
pub(crate) struct DeprecationHeaders(Vec<(HeaderName, HeaderValue)>);

impl DeprecationHeaders {
    pub(crate) fn new(notice: &ApiKeyDeprecation) -> Self {
        DeprecationHeaders(
            notice
                .headers()
                .into_iter()
                .filter_map(|(name, value)| {
                    Some((HeaderName::from_static(name), HeaderValue::try_from(value).ok()?))
                })
                .collect(),
        )
    }

    pub(crate) fn apply(&self, headers: &mut HeaderMap) {
        for (name, value) in &self.0 {
            headers.append(name.clone(), value.clone());
        }
    }
}
