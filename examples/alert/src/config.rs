//! Configuration from the environment, with the defaults every example shares.

use std::time::Duration;

use authgate::Algorithm;

/// Where the service listens and how it verifies callers.
#[derive(Debug, Clone)]
pub struct Config {
    /// `PORT` (default 8012; 0 picks a free port).
    pub port: u16,
    /// `USER_SERVICE_URL` (default `http://127.0.0.1:8011`): the identity provider,
    /// also asked about API keys.
    pub user_service_url: String,
    /// `JWKS_URL` (default `{USER_SERVICE_URL}/v1/auth/.well-known/jwks.json`).
    pub jwks_url: String,
    /// `JWT_ISSUER` (default `http://127.0.0.1:8011`): the exact `iss` accepted.
    pub jwt_issuer: String,
    /// `JWT_AUDIENCE` (default `trading-platform`).
    pub jwt_audience: String,
    /// `JWT_ALGORITHMS`, a comma list (default `RS256`).
    pub jwt_algorithms: Vec<Algorithm>,
    /// `JWT_LEEWAY_SECS` (default 60): clock skew tolerated on `exp`/`nbf`.
    pub jwt_leeway: Duration,
    /// `API_KEY_CACHE_TTL_SECS` (default 60): how long an accepted API key is trusted
    /// without asking the user-service again.
    pub api_key_cache_ttl: Duration,
}

/// A variable that is set but unusable.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}: {problem}")]
pub struct ConfigError {
    name: &'static str,
    problem: String,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let var = |name: &str| get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let number = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            var(name).map_or(Ok(default), |v| {
                v.parse().map_err(|_| ConfigError { name, problem: format!("{v:?} is not a number") })
            })
        };
        let port = number("PORT", 8012)?;
        let port = u16::try_from(port)
            .map_err(|_| ConfigError { name: "PORT", problem: format!("{port} is too large") })?;
        let user_service_url = var("USER_SERVICE_URL")
            .unwrap_or_else(|| "http://127.0.0.1:8011".to_owned())
            .trim_end_matches('/')
            .to_owned();
        let jwks_url =
            var("JWKS_URL").unwrap_or_else(|| format!("{user_service_url}/v1/auth/.well-known/jwks.json"));
        let jwt_algorithms = var("JWT_ALGORITHMS")
            .unwrap_or_else(|| "RS256".to_owned())
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| {
                a.parse::<Algorithm>().map_err(|_| ConfigError {
                    name: "JWT_ALGORITHMS",
                    problem: format!("unknown algorithm {a:?}"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Config {
            port,
            user_service_url,
            jwks_url,
            jwt_issuer: var("JWT_ISSUER").unwrap_or_else(|| "http://127.0.0.1:8011".to_owned()),
            jwt_audience: var("JWT_AUDIENCE").unwrap_or_else(|| "trading-platform".to_owned()),
            jwt_algorithms,
            jwt_leeway: Duration::from_secs(number("JWT_LEEWAY_SECS", 60)?),
            api_key_cache_ttl: Duration::from_secs(number("API_KEY_CACHE_TTL_SECS", 60)?),
        })
    }
}
