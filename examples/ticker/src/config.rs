//! Configuration, read from the environment: `PORT`, `WS_ALLOWED_ORIGINS`, plus the
//! variables every service of the platform reads (see [`authgate::ServiceConfig`]).

use std::ops::Deref;

use authgate::{Error, ErrorKind, ServiceConfig};

/// Everything the ticker reads at start-up.
#[derive(Debug, Clone)]
pub struct Config {
    /// `PORT`: where to listen on 127.0.0.1 (default 8080; 0 picks a free port).
    pub port: u16,
    /// `WS_ALLOWED_ORIGINS`: comma-separated origins allowed to open the quote socket;
    /// empty means any. In dev (`APP_ENV` unset or `dev`) the default is empty, which
    /// admits the web frontend and origin-less tools such as `websocat`; any other
    /// `APP_ENV` refuses to start without an explicit list.
    pub ws_allowed_origins: Vec<String>,
    /// `USER_SERVICE_URL`, `JWKS_URL`, `JWT_*` (the ticker accepts JWTs only).
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
        Config::from_lookup(|name| std::env::var(name).ok(), 8080)
    }

    /// Reads variables through `lookup` (tests pass a map), with `default_port`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>, default_port: u16) -> Result<Config, Error> {
        let port = match lookup("PORT").map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) {
            None => default_port,
            Some(v) => {
                v.parse().map_err(|e| Error::new(ErrorKind::Configuration, format!("PORT: {v:?}: {e}")))?
            }
        };
        let ws_allowed_origins: Vec<String> = lookup("WS_ALLOWED_ORIGINS")
            .map(|v| v.split(',').map(str::trim).filter(|o| !o.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default();
        let dev = lookup("APP_ENV").is_none_or(|e| matches!(e.trim(), "" | "dev" | "development"));
        if !dev && ws_allowed_origins.is_empty() {
            let why = "WS_ALLOWED_ORIGINS: required outside dev (the web frontend's origin, e.g. https://app.example.com)";
            return Err(Error::new(ErrorKind::Configuration, why));
        }
        Ok(Config { port, ws_allowed_origins, auth: ServiceConfig::from_lookup(lookup)? })
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
    fn origins_must_be_named_outside_dev() {
        let e = Config::from_lookup(|n| (n == "APP_ENV").then(|| "production".to_owned()), 8080).unwrap_err();
        assert!(e.detail().starts_with("WS_ALLOWED_ORIGINS"), "{}", e.detail());
        let vars = [("APP_ENV", "production"), ("WS_ALLOWED_ORIGINS", "https://app.example.com")];
        let c =
            Config::from_lookup(|n| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| (*v).to_owned()), 8080)
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.ws_allowed_origins, ["https://app.example.com"]);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e =
            Config::from_lookup(|n| (n == "JWT_ALGORITHMS").then(|| "RS256,none".to_owned()), 1).unwrap_err();
        assert!(e.detail().starts_with("JWT_ALGORITHMS"));
    }
}
