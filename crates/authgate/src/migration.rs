//! The API-key deprecation notice both adapters send during a migration.
//!
//! While a service accepts both JWTs and API keys, responses to API-key requests can
//! tell clients that keys are going away:
//!
//! - `Deprecation: @<unix seconds>` (RFC 9745), when keys were (or will be) deprecated;
//! - `Sunset: <HTTP-date>` (RFC 8594), when keys stop working, if known;
//! - `Link: <url>; rel="deprecation"; type="text/html"`, the migration guide, if any.
//!
//! The values are computed once here, as plain strings, so the tower and actix
//! adapters send byte-for-byte the same headers.

use std::time::{SystemTime, UNIX_EPOCH};

/// What API-key clients are told about the deprecation of keys.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use authgate::ApiKeyDeprecation;
///
/// // Deprecated since 2026-01-01, gone on 2027-01-01, with a migration guide.
/// let notice = ApiKeyDeprecation::since(UNIX_EPOCH + Duration::from_secs(1_767_225_600))
///     .sunset(UNIX_EPOCH + Duration::from_secs(1_798_761_600))
///     .link("https://docs.example.com/migrate-to-jwt");
/// let headers = notice.headers();
/// assert_eq!(headers[0], ("deprecation", "@1767225600".to_owned()));
/// assert_eq!(headers[1], ("sunset", "Fri, 01 Jan 2027 00:00:00 GMT".to_owned()));
///
/// // Just the deprecation date.
/// let minimal = ApiKeyDeprecation::since(UNIX_EPOCH + Duration::from_secs(1_767_225_600));
/// assert_eq!(minimal.headers().len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
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

    /// Where clients read how to migrate. A URL that cannot appear inside `<...>` in a
    /// header (angle brackets, control characters) is dropped, with a warning.
    pub fn link(mut self, url: impl Into<String>) -> Self {
        self.link = Some(url.into());
        self
    }

    /// The headers to add to API-key responses: lowercase names and their values, in
    /// order. Every value is visible ASCII, valid in any HTTP library.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::with_capacity(3);
        out.push(("deprecation", format!("@{}", unix_seconds(self.since))));
        if let Some(sunset) = self.sunset {
            out.push(("sunset", http_date(sunset)));
        }
        if let Some(link) = &self.link {
            if link.chars().all(|c| c.is_ascii_graphic() && c != '<' && c != '>') {
                out.push(("link", format!("<{link}>; rel=\"deprecation\"; type=\"text/html\"")));
            } else {
                tracing::warn!("API-key deprecation link is not a valid header value; dropped");
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

/// An RFC 9110 IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`); dates before 1970 are
/// written as the epoch.
pub fn http_date(t: SystemTime) -> String {
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
    fn link_that_could_break_the_header_is_dropped() {
        for bad in ["https://x/>; rel=evil", "https://x/\r\nSet-Cookie: a=b", "https://x/ y"] {
            assert_eq!(ApiKeyDeprecation::since(UNIX_EPOCH).link(bad).headers().len(), 1, "{bad:?}");
        }
        let ok = ApiKeyDeprecation::since(UNIX_EPOCH).link("https://docs.example/migrate");
        assert_eq!(
            ok.headers()[1].1,
            "<https://docs.example/migrate>; rel=\"deprecation\"; type=\"text/html\""
        );
    }
}
