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

use std::time::{SystemTime, UNIX_EPOCH};

use http::header::LINK;
use http::{HeaderMap, HeaderName, HeaderValue};

/// The `Deprecation` header (RFC 9745).
pub const DEPRECATION: HeaderName = HeaderName::from_static("deprecation");
/// The `Sunset` header (RFC 8594).
pub const SUNSET: HeaderName = HeaderName::from_static("sunset");

/// What API-key clients are told about the deprecation of keys.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use authgate_tower::ApiKeyDeprecation;
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
        let since = unix_seconds(self.since);
        if let Ok(v) = HeaderValue::try_from(format!("@{since}")) {
            out.push((DEPRECATION, v));
        }
        if let Some(sunset) = self.sunset
            && let Ok(v) = HeaderValue::try_from(http_date(sunset))
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

/// Precomputed headers, appended to each API-key response.
#[derive(Debug, Clone)]
pub(crate) struct DeprecationHeaders(Vec<(HeaderName, HeaderValue)>);

impl DeprecationHeaders {
    pub(crate) fn new(notice: &ApiKeyDeprecation) -> Self {
        DeprecationHeaders(notice.header_values())
    }

    pub(crate) fn apply(&self, headers: &mut HeaderMap) {
        for (name, value) in &self.0 {
            headers.append(name.clone(), value.clone());
        }
    }
}

fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// An RFC 9110 IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`); dates before 1970 are
/// written as the epoch.
pub(crate) fn http_date(t: SystemTime) -> String {
    let secs = unix_seconds(t).max(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (hour, minute, second) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Days since the epoch to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let weekday = WEEKDAYS[usize::try_from(days % 7).unwrap_or(0)];
    let month_name = MONTHS[usize::try_from(month - 1).unwrap_or(0)];
    format!("{weekday}, {day:02} {month_name} {year} {hour:02}:{minute:02}:{second:02} GMT")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn http_dates_match_rfc_9110_examples() {
        let at = |s| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(http_date(at(784_111_777)), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(at(0)), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(at(951_782_400)), "Tue, 29 Feb 2000 00:00:00 GMT");
    }

    #[test]
    fn link_with_angle_brackets_is_dropped() {
        let n = ApiKeyDeprecation::since(UNIX_EPOCH).link("https://x/>; rel=evil");
        assert_eq!(n.header_values().len(), 1);
    }
}
