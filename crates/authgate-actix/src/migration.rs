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

use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::http::header::{HeaderName, HeaderValue, HttpDate, LINK};

/// The `Deprecation` header (RFC 9745).
pub const DEPRECATION: HeaderName = HeaderName::from_static("deprecation");
/// The `Sunset` header (RFC 8594).
pub const SUNSET: HeaderName = HeaderName::from_static("sunset");

/// What API-key clients are told about the deprecation of keys.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use authgate_actix::ApiKeyDeprecation;
///
/// // Deprecated since 2026-01-01, gone on 2027-01-01, with a migration guide.
/// let notice = ApiKeyDeprecation::since(UNIX_EPOCH + Duration::from_secs(1_767_225_600))
///     .sunset(UNIX_EPOCH + Duration::from_secs(1_798_761_600))
///     .link("https://docs.example.com/migrate-to-jwt");
/// assert_eq!(notice.header_values()[0].1, "@1767225600");
/// assert_eq!(notice.header_values()[1].1, "Fri, 01 Jan 2027 00:00:00 GMT");
///
/// // Just the deprecation date.
/// let minimal = ApiKeyDeprecation::since(UNIX_EPOCH + Duration::from_secs(1_767_225_600));
/// assert_eq!(minimal.header_values().len(), 1);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ApiKeyDeprecation {
    since: SystemTime,
    sunset: Option<SystemTime>,
    link: Option<String>,
}

impl ApiKeyDeprecation {
    /// API keys are deprecated since `date` (may be in the future: RFC 9745 allows
    /// announcing a deprecation).
    pub fn since(date: SystemTime) -> Self {
        ApiKeyDeprecation { since: date, sunset: None, link: None }
    }

    /// API keys stop working at `date`.
    pub fn sunset(mut self, date: SystemTime) -> Self {
        self.sunset = Some(date);
        self
    }

    /// Where clients read how to migrate. A URL with characters that cannot appear in
    /// a header is dropped (and logged) rather than failing requests.
    pub fn link(mut self, url: impl Into<String>) -> Self {
        self.link = Some(url.into());
        self
    }

    /// The headers added to API-key responses, in order.
    pub fn header_values(&self) -> Vec<(HeaderName, HeaderValue)> {
        let mut out = Vec::with_capacity(3);
        if let Ok(v) = HeaderValue::try_from(format!("@{}", unix_seconds(self.since))) {
            out.push((DEPRECATION, v));
        }
        if let Some(sunset) = self.sunset
            && let Ok(v) = HeaderValue::try_from(HttpDate::from(sunset.max(UNIX_EPOCH)).to_string())
        {
            out.push((SUNSET, v));
        }
        if let Some(link) = &self.link {
            match HeaderValue::try_from(format!("<{link}>; rel=\"deprecation\"; type=\"text/html\"")) {
                Ok(v) if !link.contains(['<', '>']) => out.push((LINK, v)),
                _ => tracing::warn!("API-key deprecation link is not a valid header value; dropped"),
            }
        }
        out
    }
}

fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}
