//! Bounded HTTP GETs for key material: a total deadline, a body cap, no redirects.
//!
//! A JWKS or discovery endpoint is a dependency we do not control. Whatever it does
//! (never answer, drip bytes, send gigabytes, redirect elsewhere) the fetch ends within
//! the deadline, holds at most the cap in memory, and reports a
//! [`ErrorKind::KeySourceUnavailable`] error with no upstream text for clients. The
//! deadline, the cap and the refusal of redirected answers hold for a client the caller
//! injected too (its proxy, CA and connection pool are its own).

use std::net::IpAddr;
use std::time::Duration;

use http::header;
use url::Url;

use crate::error::{Error, ErrorKind};

/// Limits applied to every fetch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FetchLimits {
    pub(crate) deadline: Duration,
    pub(crate) max_body: usize,
}

/// The caller's client if there is one, else the built-in one.
pub(crate) fn client_or_default(
    given: Option<&reqwest::Client>,
    limits: FetchLimits,
) -> Result<reqwest::Client, Error> {
    match given {
        Some(client) => Ok(client.clone()),
        None => client(limits),
    }
}

/// Builds the HTTP client used for key material: no redirects, no proxy surprises.
pub(crate) fn client(limits: FetchLimits) -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(limits.deadline)
        .connect_timeout(limits.deadline)
        .user_agent(concat!("authgate/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::new(ErrorKind::Configuration, format!("HTTP client: {e}")))
}

/// Checks that a key URL may be used: `https`, or `http` to a loopback host, or `http`
/// anywhere when explicitly allowed (K12).
pub(crate) fn check_url(raw: &str, allow_http: bool) -> Result<Url, Error> {
    let url = Url::parse(raw)
        .map_err(|e| Error::new(ErrorKind::Configuration, format!("bad key URL {raw:?}: {e}")))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if allow_http || is_loopback(&url) => Ok(url),
        "http" => Err(Error::new(
            ErrorKind::Configuration,
            format!("refusing plain-http key URL {raw:?}: use https, a loopback host, or allow_http"),
        )),
        other => Err(Error::new(ErrorKind::Configuration, format!("unsupported key URL scheme {other:?}"))),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// A fetched body and the freshness lifetime the server announced, if any.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) body: Vec<u8>,
    pub(crate) max_age: Option<Duration>,
}

/// GETs `url` within `limits`.
pub(crate) async fn get(client: &reqwest::Client, url: &Url, limits: FetchLimits) -> Result<Fetched, Error> {
    fetch(client, url, limits, false).await?.ok_or_else(|| {
        Error::new(ErrorKind::KeySourceUnavailable, format!("GET {url}: status 404 Not Found"))
    })
}

/// Like [`get`], but a `404` is `Ok(None)`: for documents that may live elsewhere.
pub(crate) async fn get_unless_missing(
    client: &reqwest::Client,
    url: &Url,
    limits: FetchLimits,
) -> Result<Option<Fetched>, Error> {
    fetch(client, url, limits, true).await
}

async fn fetch(
    client: &reqwest::Client,
    url: &Url,
    limits: FetchLimits,
    missing_ok: bool,
) -> Result<Option<Fetched>, Error> {
    let unavailable = |detail: String| Error::new(ErrorKind::KeySourceUnavailable, detail);
    let fetch = async {
        let mut response = client
            .get(url.clone())
            .header(header::ACCEPT, "application/jwk-set+json, application/json")
            .send()
            .await
            .map_err(|e| unavailable(format!("GET {url}: {}", error_chain(&e))))?;
        // A caller's client may follow redirects; the answer must still come from `url`
        // itself (K10), or keys could be fetched from wherever a redirect points.
        if response.url() != url {
            return Err(unavailable(format!("GET {url}: redirected, and redirects are not followed")));
        }
        let status = response.status();
        if missing_ok && status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            // 3xx lands here too: redirects are never followed (K10).
            return Err(unavailable(format!("GET {url}: status {status}")));
        }
        if response.content_length().is_some_and(|len| len > limits.max_body as u64) {
            return Err(unavailable(format!("GET {url}: body larger than {} bytes", limits.max_body)));
        }
        let max_age = response
            .headers()
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_max_age);
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| unavailable(format!("GET {url}: reading body: {}", error_chain(&e))))?
        {
            if body.len() + chunk.len() > limits.max_body {
                return Err(unavailable(format!("GET {url}: body larger than {} bytes", limits.max_body)));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Some(Fetched { body, max_age }))
    };
    // reqwest's timeout covers the body too; this outer one also bounds anything it
    // might not (e.g. DNS), so the deadline is a promise.
    tokio::time::timeout(limits.deadline, fetch).await.unwrap_or_else(|_| {
        Err(unavailable(format!("GET {url}: no complete answer within {:?}", limits.deadline)))
    })
}

/// Reads `max-age` from a `Cache-Control` value; `no-store`/`no-cache` mean zero.
pub(crate) fn parse_max_age(value: &str) -> Option<Duration> {
    let mut max_age = None;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Some(Duration::ZERO);
        }
        if let Some(secs) = lower.strip_prefix("max-age=") {
            max_age = secs.trim_matches('"').parse::<u64>().ok().map(Duration::from_secs);
        }
    }
    max_age
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_max_age_is_read() {
        assert_eq!(parse_max_age("public, max-age=300"), Some(Duration::from_secs(300)));
        assert_eq!(parse_max_age("Max-Age=\"60\""), Some(Duration::from_secs(60)));
        assert_eq!(parse_max_age("no-store, max-age=300"), Some(Duration::ZERO));
        assert_eq!(parse_max_age("public"), None);
        assert_eq!(parse_max_age("max-age=-1"), None);
    }

    #[test]
    fn k12_plain_http_is_refused_except_loopback_or_opt_in() {
        assert!(check_url("https://idp.example/jwks", false).is_ok());
        assert!(check_url("http://127.0.0.1:8011/jwks", false).is_ok());
        assert!(check_url("http://[::1]:8011/jwks", false).is_ok());
        assert!(check_url("http://localhost/jwks", false).is_ok());
        let err = check_url("http://idp.example/jwks", false).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Configuration);
        assert!(check_url("http://idp.example/jwks", true).is_ok());
        assert!(check_url("file:///etc/passwd", true).is_err());
        assert!(check_url("not a url", true).is_err());
    }
}
