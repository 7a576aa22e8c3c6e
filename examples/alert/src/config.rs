//! Configuration from the environment: `PORT`, `CORS_ALLOWED_ORIGINS`, plus the variables
//! every service of the platform reads (see [`authgate::ServiceConfig`]), with this
//! platform's defaults ([`platform_default`]).

use std::ops::Deref;

use authgate::{Error, ErrorKind, ServiceConfig};

/// Where the service listens and how it verifies callers.
#[derive(Debug, Clone)]
pub struct Config {
    /// `PORT` (default 8012; 0 picks a free port).
    pub port: u16,
    /// `CORS_ALLOWED_ORIGINS`: comma-separated browser origins that may call the API.
    /// Unset, it is the web frontend's dev origins when `APP_ENV` is unset or `dev`
    /// ([`DEV_FRONTEND_ORIGINS`]), and none otherwise: staging and production name theirs.
    pub cors_allowed_origins: Vec<String>,
    /// `METRICS_ADDR`: where `GET /metrics` (Prometheus) is served, on a listener of its
    /// own (default `127.0.0.1:{port + 1000}`); `None` for `off`.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// `USER_SERVICE_URL`, `JWKS_URL`, `JWT_*`, `API_KEY_*`, `TRUSTED_PROXIES`.
    pub auth: ServiceConfig,
}

/// `METRICS_ADDR` (see [`example_metrics::metrics_addr`]), as a configuration error.
fn metrics_addr(
    lookup: impl Fn(&str) -> Option<String>,
    port: u16,
) -> Result<Option<std::net::SocketAddr>, Error> {
    example_metrics::metrics_addr(lookup, port)
        .map_err(|e| Error::new(ErrorKind::Configuration, e.to_string()))
}

/// Where `cd frontend && npm run dev` serves the web frontend.
pub const DEV_FRONTEND_ORIGINS: [&str; 2] = ["http://127.0.0.1:3001", "http://localhost:3001"];

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
        let dev = get("APP_ENV").is_none_or(|e| matches!(e.trim(), "" | "dev" | "development"));
        let cors_allowed_origins = match get("CORS_ALLOWED_ORIGINS") {
            Some(v) => v.split(',').map(str::trim).filter(|o| !o.is_empty()).map(str::to_owned).collect(),
            None if dev => DEV_FRONTEND_ORIGINS.map(str::to_owned).to_vec(),
            None => Vec::new(),
        };
        let metrics_addr = metrics_addr(&get, port)?;
        Ok(Config { port, cors_allowed_origins, metrics_addr, auth: service_config(&get)? })
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
    fn cors_admits_the_dev_frontend_only_in_dev() {
        let origins = |vars: &'static [(&str, &str)]| {
            let c = Config::from_lookup(|n| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| (*v).to_owned()));
            c.unwrap_or_else(|e| panic!("{e}")).cors_allowed_origins
        };
        assert_eq!(origins(&[]), DEV_FRONTEND_ORIGINS);
        assert!(origins(&[("APP_ENV", "staging")]).is_empty());
        assert_eq!(
            origins(&[("CORS_ALLOWED_ORIGINS", "https://a.example, https://b.example")]),
            ["https://a.example", "https://b.example"]
        );
    }
}
