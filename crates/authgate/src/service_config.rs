//! The standard configuration of a consuming service, read from the environment.
//!
//! Every service of the platform verifies the same tokens the same way, so they read
//! the same variables:
//!
//! | variable | default |
//! | --- | --- |
//! | `USER_SERVICE_URL` | `http://127.0.0.1:8011` |
//! | `JWKS_URL` | `{USER_SERVICE_URL}/v1/auth/.well-known/jwks.json` |
//! | `JWT_ISSUER` | `http://127.0.0.1:8011` |
//! | `JWT_AUDIENCE` | `trading-platform` |
//! | `JWT_ALGORITHMS` | `RS256` (comma list) |
//! | `JWT_LEEWAY_SECS` | `60` |
//! | `API_KEY_CACHE_TTL_SECS` | `60` |
//!
//! Empty values count as unset; a value that cannot be used is a
//! [`ErrorKind::Configuration`] error naming the variable.

use std::time::Duration;

use crate::algorithm::Algorithm;
use crate::api_key::RemoteApiKeyVerifier;
use crate::authenticator::{AuthMode, Authenticator};
use crate::error::{Error, ErrorKind};
use crate::keyset::KeySet;
use crate::verifier::{Issuer, Verifier};

/// How a service finds and checks the platform's tokens and API keys.
///
/// ```
/// use authgate::{AuthMode, ServiceConfig};
/// let config = ServiceConfig::from_lookup(|name| match name {
///     "USER_SERVICE_URL" => Some("http://127.0.0.1:9011".into()),
///     _ => None,
/// })?;
/// assert_eq!(config.jwks_url, "http://127.0.0.1:9011/v1/auth/.well-known/jwks.json");
/// let auth = config.authenticator(AuthMode::Either)?; // JWTs, or API keys checked by user-service
/// # let _ = auth;
/// # Ok::<(), authgate::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceConfig {
    /// `USER_SERVICE_URL`: the identity service, asked about API keys.
    pub user_service_url: String,
    /// `JWKS_URL`: where the signing keys are published.
    pub jwks_url: String,
    /// `JWT_ISSUER`: the exact `iss` of accepted tokens.
    pub jwt_issuer: String,
    /// `JWT_AUDIENCE`: the audience accepted tokens must name.
    pub jwt_audience: String,
    /// `JWT_ALGORITHMS`: the algorithm allow-list.
    pub jwt_algorithms: Vec<Algorithm>,
    /// `JWT_LEEWAY_SECS`: clock-skew allowance.
    pub jwt_leeway: Duration,
    /// `API_KEY_CACHE_TTL_SECS`: how long an accepted API key is trusted without asking
    /// user-service again (a revoked key keeps working at most this long).
    pub api_key_cache_ttl: Duration,
}

impl ServiceConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<ServiceConfig, Error> {
        ServiceConfig::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<ServiceConfig, Error> {
        let var = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let invalid =
            |name: &str, why: String| Error::new(ErrorKind::Configuration, format!("{name}: {why}"));
        let seconds = |name: &str, default: u64| match var(name) {
            None => Ok(Duration::from_secs(default)),
            Some(v) => v.parse().map(Duration::from_secs).map_err(|e| invalid(name, format!("{v:?}: {e}"))),
        };
        let user_service_url = var("USER_SERVICE_URL")
            .unwrap_or_else(|| "http://127.0.0.1:8011".into())
            .trim_end_matches('/')
            .to_owned();
        let jwks_url =
            var("JWKS_URL").unwrap_or_else(|| format!("{user_service_url}/v1/auth/.well-known/jwks.json"));
        let jwt_algorithms = var("JWT_ALGORITHMS")
            .unwrap_or_else(|| "RS256".into())
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| a.parse().map_err(|_| invalid("JWT_ALGORITHMS", format!("unknown algorithm {a:?}"))))
            .collect::<Result<Vec<Algorithm>, Error>>()?;
        if jwt_algorithms.is_empty() {
            return Err(invalid("JWT_ALGORITHMS", "no algorithm".into()));
        }
        Ok(ServiceConfig {
            user_service_url,
            jwks_url,
            jwt_issuer: var("JWT_ISSUER").unwrap_or_else(|| "http://127.0.0.1:8011".into()),
            jwt_audience: var("JWT_AUDIENCE").unwrap_or_else(|| "trading-platform".into()),
            jwt_algorithms,
            jwt_leeway: seconds("JWT_LEEWAY_SECS", 60)?,
            api_key_cache_ttl: seconds("API_KEY_CACHE_TTL_SECS", 60)?,
        })
    }

    /// A verifier for the configured issuer, keys fetched lazily from `JWKS_URL`.
    pub fn verifier(&self) -> Result<Verifier, Error> {
        let keys = KeySet::from_jwks_url(&self.jwks_url)?;
        Verifier::builder()
            .add_issuer(Issuer::new(&self.jwt_issuer, keys).algorithms(self.jwt_algorithms.iter().copied()))
            .audience(&self.jwt_audience)
            .leeway(self.jwt_leeway)
            .build()
    }

    /// An API-key verifier asking `USER_SERVICE_URL`, caching answers for
    /// `API_KEY_CACHE_TTL_SECS`.
    pub fn api_keys(&self) -> Result<RemoteApiKeyVerifier, Error> {
        Ok(RemoteApiKeyVerifier::new(&self.user_service_url)?.positive_ttl(self.api_key_cache_ttl))
    }

    /// An authenticator in `mode`, with whichever verifiers the mode needs.
    pub fn authenticator(&self, mode: AuthMode) -> Result<Authenticator, Error> {
        let mut builder = Authenticator::builder().mode(mode);
        if mode != AuthMode::ApiKeyOnly {
            builder = builder.jwt(self.verifier()?);
        }
        if mode != AuthMode::JwtOnly {
            builder = builder.api_keys(self.api_keys()?);
        }
        builder.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<ServiceConfig, Error> {
        let map: std::collections::HashMap<String, String> =
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        ServiceConfig::from_lookup(|n| map.get(n).cloned())
    }

    #[test]
    fn defaults_match_the_platform() {
        let c = from(&[]).unwrap();
        assert_eq!(c.jwks_url, "http://127.0.0.1:8011/v1/auth/.well-known/jwks.json");
        assert_eq!(c.jwt_issuer, "http://127.0.0.1:8011");
        assert_eq!(c.jwt_audience, "trading-platform");
        assert_eq!(c.jwt_algorithms, [Algorithm::RS256]);
        assert_eq!((c.jwt_leeway.as_secs(), c.api_key_cache_ttl.as_secs()), (60, 60));
    }

    #[test]
    fn values_are_read_and_bad_ones_name_the_variable() {
        let c = from(&[
            ("USER_SERVICE_URL", "http://us:1/"),
            ("JWT_ALGORITHMS", "RS256, ES256"),
            ("JWT_LEEWAY_SECS", " "),
        ])
        .unwrap();
        assert_eq!(c.jwks_url, "http://us:1/v1/auth/.well-known/jwks.json");
        assert_eq!(c.jwt_algorithms, [Algorithm::RS256, Algorithm::ES256]);
        assert_eq!(c.jwt_leeway.as_secs(), 60);
        let e = from(&[("JWT_ALGORITHMS", "RS256,none")]).unwrap_err();
        assert!(e.detail().starts_with("JWT_ALGORITHMS"));
        let e = from(&[("API_KEY_CACHE_TTL_SECS", "soon")]).unwrap_err();
        assert!(e.detail().starts_with("API_KEY_CACHE_TTL_SECS"));
        // A non-loopback plain-http JWKS URL is refused when the verifier is built.
        let c = from(&[("JWKS_URL", "http://idp.example/jwks")]).unwrap();
        assert_eq!(c.verifier().unwrap_err().kind(), ErrorKind::Configuration);
    }
}
