//! Configuration from the environment: `PORT`, plus the variables every service of
//! the platform reads (see [`authgate::ServiceConfig`]).

use std::ops::Deref;

use authgate::{Error, ErrorKind, ServiceConfig};

/// Where the service listens and how it verifies callers.
#[derive(Debug, Clone)]
pub struct Config {
    /// `PORT` (default 8012; 0 picks a free port).
    pub port: u16,
    /// `USER_SERVICE_URL`, `JWKS_URL`, `JWT_*`, `API_KEY_CACHE_TTL_SECS`.
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
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, Error> {
        let port = match get("PORT").map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) {
            None => 8012,
            Some(v) => {
                v.parse().map_err(|e| Error::new(ErrorKind::Configuration, format!("PORT: {v:?}: {e}")))?
            }
        };
        Ok(Config { port, auth: ServiceConfig::from_lookup(get)? })
    }
}
