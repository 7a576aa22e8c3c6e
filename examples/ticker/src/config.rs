//! Configuration, read from the environment: `PORT`, `WS_ALLOWED_ORIGINS`,
//! `USER_SERVICE_URL`, the service client (`SERVICE_CLIENT_ID`/`SERVICE_CLIENT_SECRET`),
//! plus the variables every service of the platform reads (see [`authgate::ServiceConfig`]),
//! with this platform's defaults ([`platform_default`]).

use std::fmt;
use std::ops::Deref;

use authgate::{Error, ErrorKind, ServiceConfig};

/// Where the dev user-service listens.
pub const DEFAULT_USER_SERVICE_URL: &str = "http://127.0.0.1:8011";

/// The scope the ticker's service client needs (`user-service clients create --scopes ...`).
pub const CREDENTIALS_SCOPE: &str = "trading_accounts:credentials:read";

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
    /// `USER_SERVICE_URL` (default [`DEFAULT_USER_SERVICE_URL`]): where the ticker reads
    /// the caller's trading accounts and, as a service client, their broker credentials.
    /// `https`, or `http` to a loopback host only: the service secret, users' tokens and
    /// broker credentials travel on this connection.
    pub user_service_url: String,
    /// `SERVICE_CLIENT_ID` + `SERVICE_CLIENT_SECRET` (or `..._FILE` variants naming files
    /// that hold them, for Docker/Kubernetes secrets): the ticker's own OAuth 2.0 client,
    /// created with `user-service clients create --name ticker --scopes
    /// trading_accounts:credentials:read`. Optional in dev, where subscribing then
    /// answers 503 `service_client_not_configured`; required with any other `APP_ENV`.
    pub service_client: Option<ServiceClient>,
    /// `METRICS_ADDR`: where `GET /metrics` (Prometheus) is served, on a listener of its
    /// own (default `127.0.0.1:{port + 1000}`); `None` for `off`.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// `JWKS_URL`, `JWT_*`, `TRUSTED_PROXIES` (the ticker accepts JWTs only).
    pub auth: ServiceConfig,
}

impl Deref for Config {
    type Target = ServiceConfig;

    fn deref(&self) -> &ServiceConfig {
        &self.auth
    }
}

/// The ticker's client-credentials pair. The secret never shows in `Debug` output.
#[derive(Clone)]
pub struct ServiceClient {
    /// The public client id (`svc_...`).
    pub client_id: String,
    secret: String,
}

impl ServiceClient {
    /// A pair, e.g. for tests; [`Config`] reads it from the environment.
    pub fn new(client_id: impl Into<String>, secret: impl Into<String>) -> ServiceClient {
        ServiceClient { client_id: client_id.into(), secret: secret.into() }
    }

    /// The secret, for the token request only.
    pub(crate) fn secret(&self) -> &str {
        &self.secret
    }
}

impl fmt::Debug for ServiceClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceClient")
            .field("client_id", &self.client_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

fn config_error(why: impl Into<String>) -> Error {
    Error::new(ErrorKind::Configuration, why)
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, Error> {
        Config::from_lookup(|name| std::env::var(name).ok(), 8080)
    }

    /// Reads variables through `lookup` (tests pass a map), with `default_port`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>, default_port: u16) -> Result<Config, Error> {
        let var = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let port = match var("PORT") {
            None => default_port,
            Some(v) => v.parse().map_err(|e| config_error(format!("PORT: {v:?}: {e}")))?,
        };
        let ws_allowed_origins: Vec<String> = lookup("WS_ALLOWED_ORIGINS")
            .map(|v| v.split(',').map(str::trim).filter(|o| !o.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default();
        let dev = lookup("APP_ENV").is_none_or(|e| matches!(e.trim(), "" | "dev" | "development"));
        if !dev && ws_allowed_origins.is_empty() {
            let why = "WS_ALLOWED_ORIGINS: required outside dev (the web frontend's origin, e.g. https://app.example.com)";
            return Err(config_error(why));
        }
        let user_service_url = var("USER_SERVICE_URL")
            .unwrap_or_else(|| DEFAULT_USER_SERVICE_URL.to_owned())
            .trim_end_matches('/')
            .to_owned();
        check_user_service_url(&user_service_url)?;
        let service_client = service_client(&var)?;
        if !dev && service_client.is_none() {
            return Err(config_error(format!(
                "SERVICE_CLIENT_ID and SERVICE_CLIENT_SECRET: required outside dev (create the client with \
                 `user-service clients create --name ticker --scopes {CREDENTIALS_SCOPE}`)"
            )));
        }
        let metrics_addr =
            example_metrics::metrics_addr(&lookup, port).map_err(|e| config_error(e.to_string()))?;
        Ok(Config {
            port,
            metrics_addr,
            ws_allowed_origins,
            user_service_url,
            service_client,
            auth: service_config(&lookup)?,
        })
    }
}

/// `NAME`, or the trimmed content of the file `NAME_FILE` names; both set is an error.
fn value_or_file(var: &impl Fn(&str) -> Option<String>, name: &str) -> Result<Option<String>, Error> {
    let file_var = format!("{name}_FILE");
    match (var(name), var(&file_var)) {
        (Some(_), Some(_)) => Err(config_error(format!("{name} and {file_var}: set one, not both"))),
        (Some(value), None) => Ok(Some(value)),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| config_error(format!("{file_var}: cannot read {path:?}: {e}")))?;
            let value = text.trim();
            if value.is_empty() {
                return Err(config_error(format!("{file_var}: {path:?} is empty")));
            }
            Ok(Some(value.to_owned()))
        }
        (None, None) => Ok(None),
    }
}

fn service_client(var: &impl Fn(&str) -> Option<String>) -> Result<Option<ServiceClient>, Error> {
    match (value_or_file(var, "SERVICE_CLIENT_ID")?, value_or_file(var, "SERVICE_CLIENT_SECRET")?) {
        (Some(client_id), Some(secret)) => Ok(Some(ServiceClient { client_id, secret })),
        (None, None) => Ok(None),
        (Some(_), None) => Err(config_error("SERVICE_CLIENT_SECRET: required with SERVICE_CLIENT_ID")),
        (None, Some(_)) => Err(config_error("SERVICE_CLIENT_ID: required with SERVICE_CLIENT_SECRET")),
    }
}

/// `https`, or plain `http` to a loopback host (the rule the core applies to key URLs).
fn check_user_service_url(raw: &str) -> Result<(), Error> {
    let url = url::Url::parse(raw).map_err(|e| config_error(format!("USER_SERVICE_URL: {raw:?}: {e}")))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(config_error(format!(
            "USER_SERVICE_URL: {raw:?}: use https, or http to a loopback host (the service secret and broker \
             credentials travel on it)"
        ))),
    }
}

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

    fn from(pairs: &[(&str, &str)]) -> Result<Config, Error> {
        let vars: std::collections::HashMap<String, String> =
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Config::from_lookup(|n| vars.get(n).cloned(), 8080)
    }

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
        assert_eq!(c.user_service_url, "http://127.0.0.1:9");
        assert!(c.ws_allowed_origins.is_empty());
        assert!(c.service_client.is_none(), "optional in dev");
        assert_eq!(from(&[]).unwrap_or_else(|e| panic!("{e}")).user_service_url, DEFAULT_USER_SERVICE_URL);
    }

    #[test]
    fn origins_are_a_comma_list() {
        let c = from(&[("WS_ALLOWED_ORIGINS", " https://a.example, https://b.example ,")])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.ws_allowed_origins, ["https://a.example", "https://b.example"]);
        assert_eq!(c.port, 8080);
    }

    #[test]
    fn origins_and_the_service_client_must_be_named_outside_dev() {
        let e = from(&[("APP_ENV", "production")]).unwrap_err();
        assert!(e.detail().starts_with("WS_ALLOWED_ORIGINS"), "{}", e.detail());
        let e =
            from(&[("APP_ENV", "staging"), ("WS_ALLOWED_ORIGINS", "https://app.example.com")]).unwrap_err();
        assert!(e.detail().starts_with("SERVICE_CLIENT_ID and SERVICE_CLIENT_SECRET"), "{}", e.detail());
        assert!(e.detail().contains("clients create --name ticker"), "says how: {}", e.detail());
        let c = from(&[
            ("APP_ENV", "production"),
            ("WS_ALLOWED_ORIGINS", "https://app.example.com"),
            ("SERVICE_CLIENT_ID", "svc_1"),
            ("SERVICE_CLIENT_SECRET", "s3cret"),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.ws_allowed_origins, ["https://app.example.com"]);
        assert_eq!(c.service_client.as_ref().map(|s| s.client_id.as_str()), Some("svc_1"));
    }

    #[test]
    fn the_service_client_needs_both_halves_and_its_secret_never_shows_in_debug() {
        let e = from(&[("SERVICE_CLIENT_ID", "svc_1")]).unwrap_err();
        assert!(e.detail().starts_with("SERVICE_CLIENT_SECRET"), "{}", e.detail());
        let e = from(&[("SERVICE_CLIENT_SECRET", "x")]).unwrap_err();
        assert!(e.detail().starts_with("SERVICE_CLIENT_ID"), "{}", e.detail());
        let c = from(&[("SERVICE_CLIENT_ID", "svc_1"), ("SERVICE_CLIENT_SECRET", "canary-secret-4411")])
            .unwrap_or_else(|e| panic!("{e}"));
        let debug = format!("{c:?}");
        assert!(debug.contains("svc_1") && !debug.contains("canary-secret-4411"), "{debug}");
    }

    #[test]
    fn the_service_client_can_come_from_files() {
        let dir = std::env::temp_dir().join(format!("ticker-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let (id, secret) = (dir.join("client_id"), dir.join("client_secret"));
        std::fs::write(&id, "svc_file\n").unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&secret, "from-a-file\n").unwrap_or_else(|e| panic!("{e}"));
        let (id, secret) = (id.display().to_string(), secret.display().to_string());
        let c = from(&[("SERVICE_CLIENT_ID_FILE", &id), ("SERVICE_CLIENT_SECRET_FILE", &secret)])
            .unwrap_or_else(|e| panic!("{e}"));
        let client = c.service_client.unwrap_or_else(|| panic!("read from the files"));
        assert_eq!((client.client_id.as_str(), client.secret()), ("svc_file", "from-a-file"));
        let e = from(&[("SERVICE_CLIENT_ID", "svc_1"), ("SERVICE_CLIENT_ID_FILE", &id)]).unwrap_err();
        assert!(e.detail().contains("set one, not both"), "{}", e.detail());
        let e = from(&[("SERVICE_CLIENT_ID_FILE", "/nonexistent/id"), ("SERVICE_CLIENT_SECRET", "x")])
            .unwrap_err();
        assert!(e.detail().starts_with("SERVICE_CLIENT_ID_FILE: cannot read"), "{}", e.detail());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_user_service_url_is_https_or_loopback() {
        for ok in ["https://users.example.com", "http://localhost:8011", "http://[::1]:8011"] {
            assert!(from(&[("USER_SERVICE_URL", ok)]).is_ok(), "{ok}");
        }
        for bad in ["http://user-service:8011", "ftp://127.0.0.1", "not a url"] {
            let e = from(&[("USER_SERVICE_URL", bad)]).unwrap_err();
            assert!(e.detail().starts_with("USER_SERVICE_URL"), "{bad}: {}", e.detail());
        }
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e = from(&[("JWT_ALGORITHMS", "RS256,none")]).unwrap_err();
        assert!(e.detail().starts_with("JWT_ALGORITHMS"));
    }
}
