//! Configuration, read from the environment: `PORT`, plus the variables every service of
//! the platform reads (see [`authgate::ServiceConfig`]), with this platform's defaults
//! ([`platform_default`]).

use std::ops::Deref;

use authgate::{Error, ErrorKind, ServiceConfig};

/// Everything the backend reads at start-up.
#[derive(Debug, Clone)]
pub struct Config {
    /// `PORT`: where to listen on 127.0.0.1 (default 8010; 0 picks a free port).
    pub port: u16,
    /// `USER_SERVICE_URL`, `JWKS_URL`, `JWT_*`, `API_KEY_*`, `TRUSTED_PROXIES`.
    pub auth: ServiceConfig,
}

impl Deref for Config {
    type Target = ServiceConfig;

    fn deref(&self) -> &ServiceConfig {
        &self.auth
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, Error> {
        Config::from_lookup(|name| std::env::var(name).ok(), 8010)
    }

    /// Reads variables through `lookup` (tests pass a map), with `default_port`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>, default_port: u16) -> Result<Config, Error> {
        let port = match lookup("PORT").map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) {
            None => default_port,
            Some(v) => {
                v.parse().map_err(|e| Error::new(ErrorKind::Configuration, format!("PORT: {v:?}: {e}")))?
            }
        };
        Ok(Config { port, auth: service_config(&lookup)? })
    }
}

/// Where the platform's own user-service runs unless `USER_SERVICE_URL` says otherwise.
pub const DEFAULT_USER_SERVICE_URL: &str = "http://127.0.0.1:8011";

/// The platform's defaults for the variables [`ServiceConfig`] requires: the library
/// has none, this service knows its identity service. `USER_SERVICE_URL` (default
/// [`DEFAULT_USER_SERVICE_URL`]) gives the JWKS and API-key endpoints; the issuer is
/// `http://127.0.0.1:8011` and the audience `trading-platform`, as user-service's own
/// defaults.
pub fn platform_default(name: &str, user_service_url: &str) -> Option<String> {
    let base = user_service_url.trim_end_matches('/');
    match name {
        "JWT_ISSUER" => Some(DEFAULT_USER_SERVICE_URL.to_owned()),
        "JWT_AUDIENCE" => Some("trading-platform".to_owned()),
        "JWKS_URL" => Some(format!("{base}/v1/auth/.well-known/jwks.json")),
        "API_KEY_VERIFY_URL" => Some(format!("{base}/v1/users/me")),
        _ => None,
    }
}

/// The [`ServiceConfig`] from `lookup`, falling back to [`platform_default`].
fn service_config(lookup: &impl Fn(&str) -> Option<String>) -> Result<ServiceConfig, Error> {
    let set = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let user_service = set("USER_SERVICE_URL").unwrap_or_else(|| DEFAULT_USER_SERVICE_URL.to_owned());
    ServiceConfig::from_lookup(|name| set(name).or_else(|| platform_default(name, &user_service)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_user_service_url() {
        let c = Config::from_lookup(
            |n| (n == "USER_SERVICE_URL").then(|| "http://127.0.0.1:9/".to_owned()),
            8010,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.jwks_url.as_deref(), Some("http://127.0.0.1:9/v1/auth/.well-known/jwks.json"));
        assert_eq!(c.api_key_verify_url.as_deref(), Some("http://127.0.0.1:9/v1/users/me"));
        assert_eq!((c.port, c.jwt_audience.as_deref()), (8010, Some("trading-platform")));
        assert_eq!(c.jwt_algorithms, vec![authgate::Algorithm::RS256]);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e =
            Config::from_lookup(|n| (n == "JWT_ALGORITHMS").then(|| "RS256,none".to_owned()), 1).unwrap_err();
        assert!(e.detail().starts_with("JWT_ALGORITHMS"));
        let e = Config::from_lookup(|n| (n == "PORT").then(|| "http".to_owned()), 1).unwrap_err();
        assert!(e.detail().starts_with("PORT"));
    }
}
