//! Configuration, read from the environment.

use std::time::Duration;

use authgate::Algorithm;

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}={value:?} is invalid: {reason}")]
pub struct ConfigError {
    /// The variable.
    pub name: &'static str,
    /// Its value.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Everything the ticker reads at start-up.
#[derive(Debug, Clone)]
pub struct Config {
    /// `PORT`: where to listen on 127.0.0.1 (default 8080; 0 picks a free port).
    pub port: u16,
    /// `USER_SERVICE_URL`: the identity service, base of the default `JWKS_URL`
    /// (default `http://127.0.0.1:8011`).
    pub user_service_url: String,
    /// `JWKS_URL`: the signing keys (default
    /// `{USER_SERVICE_URL}/v1/auth/.well-known/jwks.json`).
    pub jwks_url: String,
    /// `JWT_ISSUER`: the exact `iss` of accepted tokens (default `http://127.0.0.1:8011`).
    pub jwt_issuer: String,
    /// `JWT_AUDIENCE`: the `aud` accepted tokens must name (default `trading-platform`).
    pub jwt_audience: String,
    /// `JWT_ALGORITHMS`: comma-separated allow-list (default `RS256`).
    pub jwt_algorithms: Vec<Algorithm>,
    /// `JWT_LEEWAY_SECS`: clock-skew allowance (default 60).
    pub jwt_leeway: Duration,
    /// `API_KEY_CACHE_TTL_SECS`: read for parity with the backend (default 60); the
    /// ticker accepts JWTs only, so it does not use it.
    pub api_key_cache_ttl: Duration,
    /// `WS_ALLOWED_ORIGINS`: comma-separated origins allowed to open the quote socket;
    /// empty means any (default empty).
    pub ws_allowed_origins: Vec<String>,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok(), 8080)
    }

    /// Reads variables through `lookup` (tests pass a map), with `default_port`.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        default_port: u16,
    ) -> Result<Config, ConfigError> {
        let var = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let parse_u64 = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match var(name) {
                None => Ok(default),
                Some(v) => v.parse().map_err(|e| ConfigError { name, value: v, reason: format!("{e}") }),
            }
        };
        let port = match var("PORT") {
            None => default_port,
            Some(v) => {
                v.parse().map_err(|e| ConfigError { name: "PORT", value: v, reason: format!("{e}") })?
            }
        };
        let user_service_url = var("USER_SERVICE_URL")
            .unwrap_or_else(|| "http://127.0.0.1:8011".into())
            .trim_end_matches('/')
            .to_owned();
        let jwks_url =
            var("JWKS_URL").unwrap_or_else(|| format!("{user_service_url}/v1/auth/.well-known/jwks.json"));
        let algorithms = var("JWT_ALGORITHMS").unwrap_or_else(|| "RS256".into());
        let jwt_algorithms = algorithms
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| {
                a.parse::<Algorithm>().map_err(|_| ConfigError {
                    name: "JWT_ALGORITHMS",
                    value: algorithms.clone(),
                    reason: format!("unknown algorithm {a}"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Config {
            port,
            user_service_url,
            jwks_url,
            jwt_issuer: var("JWT_ISSUER").unwrap_or_else(|| "http://127.0.0.1:8011".into()),
            jwt_audience: var("JWT_AUDIENCE").unwrap_or_else(|| "trading-platform".into()),
            jwt_algorithms,
            jwt_leeway: Duration::from_secs(parse_u64("JWT_LEEWAY_SECS", 60)?),
            api_key_cache_ttl: Duration::from_secs(parse_u64("API_KEY_CACHE_TTL_SECS", 60)?),
            ws_allowed_origins: var("WS_ALLOWED_ORIGINS")
                .map(|v| v.split(',').map(str::trim).filter(|o| !o.is_empty()).map(str::to_owned).collect())
                .unwrap_or_default(),
        })
    }
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
        assert_eq!(c.jwks_url, "http://127.0.0.1:9/v1/auth/.well-known/jwks.json");
        assert_eq!((c.port, c.jwt_audience.as_str()), (8010, "trading-platform"));
        assert!(c.ws_allowed_origins.is_empty());
        assert_eq!(c.jwt_algorithms, vec![Algorithm::RS256]);
    }

    #[test]
    fn origins_are_a_comma_list() {
        let c = Config::from_lookup(
            |n| (n == "WS_ALLOWED_ORIGINS").then(|| " https://a.example, https://b.example ,".to_owned()),
            8080,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.ws_allowed_origins, ["https://a.example", "https://b.example"]);
        assert_eq!(c.port, 8080);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e =
            Config::from_lookup(|n| (n == "JWT_ALGORITHMS").then(|| "RS256,none".to_owned()), 1).unwrap_err();
        assert_eq!(e.name, "JWT_ALGORITHMS");
    }
}
