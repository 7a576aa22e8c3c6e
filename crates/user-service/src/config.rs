//! Typed configuration read from environment variables and `.env` files.
//!
//! Precedence, highest first: the process environment, then `.env.{APP_ENV}.local`,
//! then `.env.{APP_ENV}`, then `.env` (all looked up in `USER_SERVICE_ENV_DIR`, default
//! the current directory). `APP_ENV` itself comes from the process environment or `.env`
//! (so the seed's `cp .env.dev .env` works). Files are read by `dotenvy`: `#` comments
//! (also after a value), `export`, quotes, and `${VAR}` expanded from the process
//! environment or earlier lines of the same file (single quotes keep a value literal).
//! Every variable is optional in `dev`; `production` refuses to start while
//! [`Config::production_problems`] lists anything. `crates/user-service/.env.*.example`
//! ship every setting, commented.
//!
//! Every variable, its meaning and its default are in one table, "user-service
//! configuration" in the repository's `docs/operations.md` (a test below keeps it
//! complete); each field of [`Config`] names its variable, and `user-service config
//! check` prints the effective values, secrets redacted.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use authgate::client_addr::{ProxyHeader, TrustedProxies};
use clap::builder::{BoolishValueParser, TypedValueParser};
use clap::error::{ContextKind, ContextValue};
use clap::{ArgAction, CommandFactory, Parser, value_parser};

/// Where the service runs; selects defaults and how strict startup is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "lower")]
pub enum Environment {
    /// A developer's machine: SQLite, generated dev master key, relaxed cookies.
    #[value(alias = "development")]
    Dev,
    /// Pre-production; production defaults but no refusals.
    Staging,
    /// Refuses to start with insecure settings.
    #[value(alias = "prod")]
    Production,
}

impl Environment {
    /// The name used in `.env.{name}` files.
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Dev => "dev",
            Environment::Staging => "staging",
            Environment::Production => "production",
        }
    }

    /// The port assigned to the service in this environment.
    pub fn default_port(self) -> u16 {
        match self {
            Environment::Dev => 8011,
            Environment::Staging => 8111,
            Environment::Production => 8211,
        }
    }
}

/// The `SameSite` attribute of the refresh-token cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "lower")]
pub enum SameSite {
    /// `SameSite=Lax`.
    Lax,
    /// `SameSite=Strict`.
    Strict,
    /// `SameSite=None` (requires `Secure`).
    None,
}

impl SameSite {
    /// The attribute value as written in `Set-Cookie`.
    pub fn as_str(self) -> &'static str {
        match self {
            SameSite::Lax => "Lax",
            SameSite::Strict => "Strict",
            SameSite::None => "None",
        }
    }
}

/// The algorithm of newly created signing keys (`SIGNING_ALG`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "verbatim")]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys (the default: every JWT library has it).
    RS256,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// Ed25519.
    EdDSA,
}

impl SigningAlg {
    /// The JOSE `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::RS256 => "RS256",
            SigningAlg::ES256 => "ES256",
            SigningAlg::EdDSA => "EdDSA",
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "lower")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// A value that must never be printed; `Debug` shows `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself; call only where it is used.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(value: &str) -> Result<Secret, Self::Err> {
        Ok(Secret::new(value))
    }
}

/// Where the master encryption key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterKeySource {
    /// `MASTER_ENCRYPTION_KEY`: base64 of 32 bytes.
    Env(Secret),
    /// A key generated for development and kept in this file (dev only, never production).
    DevFile(PathBuf),
    /// Not configured.
    Missing,
}

/// Argon2id cost parameters; production refuses less than [`Argon2Params::OWASP`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct Argon2Params {
    /// Memory in KiB (`ARGON2_MEMORY_KIB`).
    #[arg(long = "ARGON2_MEMORY_KIB", default_value_t = Argon2Params::OWASP.memory_kib)]
    pub memory_kib: u32,
    /// Iterations (`ARGON2_ITERATIONS`).
    #[arg(long = "ARGON2_ITERATIONS", value_parser = value_parser!(u32).range(1..=1000), default_value_t = Argon2Params::OWASP.iterations)]
    pub iterations: u32,
    /// Lanes (`ARGON2_PARALLELISM`).
    #[arg(long = "ARGON2_PARALLELISM", value_parser = value_parser!(u32).range(1..=255), default_value_t = Argon2Params::OWASP.parallelism)]
    pub parallelism: u32,
}

impl Argon2Params {
    /// The OWASP minimum for Argon2id (m=19456 KiB, t=2, p=1), our default.
    pub const OWASP: Argon2Params = Argon2Params { memory_kib: 19456, iterations: 2, parallelism: 1 };

    /// The parameters for the `argon2` crate; an error when the three do not go together
    /// (refused by [`Config::from_vars`], so startup never meets it).
    pub(crate) fn params(self) -> Result<argon2::Params, argon2::Error> {
        argon2::Params::new(self.memory_kib, self.iterations, self.parallelism, None)
    }

    fn below_minimum(self) -> bool {
        self.memory_kib < Self::OWASP.memory_kib || self.iterations < Self::OWASP.iterations
    }
}

/// `METRICS_ADDR`: where `/metrics` listens, `None` for `off`.
type MetricsAddr = Option<std::net::SocketAddr>;

/// The whole typed configuration of the service, parsed and range-checked by clap: each
/// argument's long name is its variable. [`Config::from_vars`] feeds it from a map of
/// variables (clap's own `env` lookup is not used) after writing in the defaults that
/// depend on the environment or on other variables.
#[derive(Debug, Clone, clap::Parser)]
#[command(no_binary_name = true, disable_help_flag = true, disable_version_flag = true)]
pub struct Config {
    /// Environment (`APP_ENV`).
    #[arg(long = "APP_ENV", ignore_case = true)]
    pub environment: Environment,
    /// Address to bind (`USER_SERVICE_HOST`).
    #[arg(long = "USER_SERVICE_HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// Port to bind (`USER_SERVICE_PORT`); 0 picks a free port (tests).
    #[arg(long = "USER_SERVICE_PORT")]
    pub port: u16,
    /// `sqlite://...` or `postgres://...` (`DATABASE_URL`).
    #[arg(long = "DATABASE_URL")]
    pub database_url: Secret,
    /// Optional Redis (`REDIS_URL`) for throttling counters.
    #[arg(long = "REDIS_URL")]
    pub redis_url: Option<Secret>,
    /// CA certificate (PEM) for `rediss://` (`REDIS_TLS_CA_FILE`).
    #[arg(long = "REDIS_TLS_CA_FILE")]
    pub redis_tls_ca_file: Option<PathBuf>,
    /// Production may reach the data stores on another host without TLS
    /// (`ALLOW_CLEARTEXT_DATASTORES`, e.g. inside a private network that encrypts).
    #[arg(long = "ALLOW_CLEARTEXT_DATASTORES", action = ArgAction::Set, value_parser = BoolishValueParser::new(), default_value = "false")]
    pub allow_cleartext_datastores: bool,
    /// SMTP server for outgoing mail (`SMTP_URL`: `smtps://`, `smtp://...?tls=required`
    /// for STARTTLS, or plain `smtp://` to a local relay; may carry credentials); without
    /// it, mail goes to the outbox table.
    #[arg(long = "SMTP_URL")]
    pub smtp_url: Option<Secret>,
    /// Sender address (`SMTP_FROM`).
    #[arg(long = "SMTP_FROM", default_value = "no-reply@localhost")]
    pub smtp_from: String,
    /// Prefix of every Redis key (`REDIS_KEY_PREFIX`), so environments can share a Redis.
    #[arg(long = "REDIS_KEY_PREFIX")]
    pub redis_key_prefix: String,
    /// The issuer (`PUBLIC_URL`). `None` means `http://127.0.0.1:{bound port}`.
    #[arg(long = "PUBLIC_URL", value_parser = without_trailing_slash)]
    pub public_url: Option<String>,
    /// The web app that mail links open (`FRONTEND_URL`); `None` outside dev unless set,
    /// and links then use the issuer.
    #[arg(long = "FRONTEND_URL", value_parser = without_trailing_slash)]
    pub frontend_url: Option<String>,
    /// `aud` of access tokens (`JWT_AUDIENCE`).
    #[arg(long = "JWT_AUDIENCE", default_value = "trading-platform")]
    pub audience: String,
    /// Access token lifetime in seconds (`ACCESS_TOKEN_TTL_SECS`, at most 900).
    #[arg(long = "ACCESS_TOKEN_TTL_SECS", value_parser = value_parser!(u64).range(1..=900), default_value = "900")]
    pub access_token_ttl_secs: u64,
    /// Refresh token / session lifetime in seconds (`REFRESH_TOKEN_TTL_SECS`).
    #[arg(long = "REFRESH_TOKEN_TTL_SECS", default_value_t = 30 * 24 * 3600)]
    pub refresh_token_ttl_secs: u64,
    /// Lifetime of service-client tokens in seconds (`CLIENT_TOKEN_TTL_SECS`, at most 900):
    /// short, since a service fetches a new one whenever it needs it.
    #[arg(long = "CLIENT_TOKEN_TTL_SECS", value_parser = value_parser!(u64).range(1..=900), default_value = "300")]
    pub client_token_ttl_secs: u64,
    /// The master encryption key (`MASTER_ENCRYPTION_KEY`).
    #[arg(skip = MasterKeySource::Missing)]
    pub master_key: MasterKeySource,
    /// The master key being replaced (`MASTER_ENCRYPTION_KEY_PREVIOUS`): everything it
    /// sealed (signing keys, TOTP secrets, master-key versions) still opens until `keys
    /// rotate-master` has re-encrypted it under the current key.
    #[arg(long = "MASTER_ENCRYPTION_KEY_PREVIOUS")]
    pub previous_master_key: Option<Secret>,
    /// Allowed CORS origins (`CORS_ALLOWED_ORIGINS`).
    #[arg(long = "CORS_ALLOWED_ORIGINS", value_delimiter = ',', value_parser = |o: &str| Ok::<_, String>(o.trim().to_owned()))]
    pub cors_allowed_origins: Vec<String>,
    /// `Secure` flag of the refresh cookie (`SESSION_COOKIE_SECURE`).
    #[arg(long = "SESSION_COOKIE_SECURE", action = ArgAction::Set, value_parser = BoolishValueParser::new())]
    pub cookie_secure: bool,
    /// `SameSite` of the refresh cookie (`SESSION_COOKIE_SAMESITE`).
    #[arg(long = "SESSION_COOKIE_SAMESITE", ignore_case = true)]
    pub cookie_samesite: SameSite,
    /// `tracing` filter (`LOG_LEVEL`, normalized: `WARNING` becomes `warn`).
    #[arg(long = "LOG_LEVEL", value_parser = log_filter, default_value = "info")]
    pub log_level: String,
    /// Log format (`LOG_FORMAT`).
    #[arg(long = "LOG_FORMAT", ignore_case = true)]
    pub log_format: LogFormat,
    /// Admin created on first start (`BOOTSTRAP_ADMIN_EMAIL` / `BOOTSTRAP_ADMIN_PASSWORD`).
    #[arg(skip)]
    pub bootstrap_admin: Option<(String, Secret)>,
    /// Minimum password length in characters (`PASSWORD_MIN_LENGTH`: 12, 14 in production).
    #[arg(long = "PASSWORD_MIN_LENGTH", value_parser = value_parser!(u16).range(8..=crate::password::MAX_CHARS as i64).map(usize::from))]
    pub password_min_chars: usize,
    /// Failed logins per account within the window before 429 (`LOGIN_MAX_FAILURES`: 5,
    /// 3 in production).
    #[arg(long = "LOGIN_MAX_FAILURES", value_parser = value_parser!(u32).range(1..=1000))]
    pub login_max_failures: u32,
    /// Failed logins per client address within the window before 429
    /// (`LOGIN_MAX_FAILURES_PER_ADDRESS`: 4 × `login_max_failures`).
    #[arg(long = "LOGIN_MAX_FAILURES_PER_ADDRESS", value_parser = value_parser!(u32).range(1..=100_000))]
    pub address_max_failures: u32,
    /// The throttling window in seconds (`THROTTLE_WINDOW_SECS`: 900).
    #[arg(long = "THROTTLE_WINDOW_SECS", value_parser = value_parser!(u64).range(1..=7 * 24 * 3600), default_value = "900")]
    pub throttle_window_secs: u64,
    /// Argon2id cost (`ARGON2_*`).
    #[command(flatten)]
    pub argon2: Argon2Params,
    /// How many password hashes may run at once (`HASH_CONCURRENCY`: number of CPUs).
    #[arg(long = "HASH_CONCURRENCY", value_parser = value_parser!(u16).range(1..=1024).map(usize::from))]
    pub hash_concurrency: usize,
    /// Connections in the database pool (`DATABASE_MAX_CONNECTIONS`: 8 on SQLite, 10 on
    /// PostgreSQL).
    #[arg(long = "DATABASE_MAX_CONNECTIONS", value_parser = value_parser!(u32).range(1..=10_000))]
    pub db_max_connections: u32,
    /// Where `GET /metrics` is served (`METRICS_ADDR`; `None` for `off`): its own
    /// listener, never the public one. Default `127.0.0.1:{port + 1000}` (port 0 when the
    /// service port is 0).
    #[arg(long = "METRICS_ADDR", value_parser = metrics_addr)]
    pub metrics_addr: MetricsAddr,
    /// `Cache-Control: max-age` of the JWKS (`JWKS_MAX_AGE_SECS`).
    #[arg(long = "JWKS_MAX_AGE_SECS")]
    pub jwks_max_age_secs: u64,
    /// Delay between publishing a new key and signing with it (`KEY_PUBLISH_DELAY_SECS`).
    #[arg(long = "KEY_PUBLISH_DELAY_SECS")]
    pub key_publish_delay_secs: u64,
    /// Algorithm of new signing keys (`SIGNING_ALG`: `RS256`, `ES256` or `EdDSA`).
    #[arg(long = "SIGNING_ALG", default_value = "RS256")]
    pub signing_alg: SigningAlg,
    /// How often an instance re-reads the signing keys from the database.
    #[arg(skip = 30u64)]
    pub key_reload_secs: u64,
    /// MFA-pending token lifetime (300 s at most).
    #[arg(skip = 300u64)]
    pub mfa_token_ttl_secs: u64,
    /// Password-reset token lifetime (1800 s).
    #[arg(skip = 1800u64)]
    pub reset_token_ttl_secs: u64,
    /// Refuse login until the email is verified (`REQUIRE_EMAIL_VERIFICATION`).
    #[arg(long = "REQUIRE_EMAIL_VERIFICATION", action = ArgAction::Set, value_parser = BoolishValueParser::new())]
    pub require_email_verification: bool,
    /// Email-verification link lifetime (`EMAIL_VERIFICATION_TTL_SECS`, 24 h).
    #[arg(long = "EMAIL_VERIFICATION_TTL_SECS", value_parser = value_parser!(u64).range(300..=7 * 24 * 3600), default_value = "86400")]
    pub email_verification_ttl_secs: u64,
    /// Proxies whose forwarding header gives the client address (`TRUSTED_PROXIES`,
    /// `TRUSTED_PROXY_HEADER`); none by default, so the socket peer is the client.
    #[arg(long = "TRUSTED_PROXIES", value_parser = |v: &str| v.parse::<TrustedProxies>().map_err(|e| e.detail().to_owned()), default_value = "")]
    pub trusted_proxies: TrustedProxies,
}

/// Why configuration could not be loaded or is refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A variable has a value that cannot be parsed.
    #[error("invalid value for {name}: {reason}")]
    Invalid {
        /// The variable.
        name: String,
        /// Why.
        reason: String,
    },
    /// Production refuses these settings (every problem is listed).
    #[error("refusing to start in production:\n  - {}", .0.join("\n  - "))]
    Refused(Vec<String>),
    /// Reading an env file or the dev key failed.
    #[error("{0}")]
    Io(String),
}

impl ConfigError {
    pub(crate) fn invalid(name: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid { name: name.to_owned(), reason: reason.into() }
    }
}

const DEV_DIR: &str = ".user-service-dev";

/// Where the frontend's dev server listens (`npm run dev` in `frontend/`): 127.0.0.1,
/// the same site as user-service's refresh cookie.
const DEV_FRONTEND_URL: &str = "http://127.0.0.1:3001";
/// The dev CORS default: the frontend's dev server under both loopback names.
const DEV_FRONTEND_ORIGINS: [&str; 2] = ["http://127.0.0.1:3001", "http://localhost:3001"];

fn is_https_url(value: &str) -> bool {
    url::Url::parse(value).is_ok_and(|u| u.scheme() == "https" && u.host().is_some())
}

/// `scheme://host[:port]` of a URL.
fn origin_of(value: &str) -> Option<String> {
    let url = url::Url::parse(value).ok()?;
    url.host().is_some().then(|| url.origin().ascii_serialization())
}

fn without_trailing_slash(url: &str) -> Result<String, std::convert::Infallible> {
    Ok(url.trim_end_matches('/').to_owned())
}

/// Whether `SMTP_URL` would send mail (and any credentials) in clear text to another
/// machine: a plain `smtp://` URL without `tls=required` and a host other than loopback.
pub(crate) fn smtp_url_is_cleartext_remote(smtp_url: &str) -> bool {
    let Ok(url) = url::Url::parse(smtp_url) else { return false };
    if url.scheme() != "smtp" {
        return false;
    }
    let tls_required = url.query_pairs().any(|(k, v)| k == "tls" && v == "required");
    // `smtp:` is not a "special" scheme to the URL parser, so an IPv4 address arrives as
    // an opaque host name.
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost")
                || d.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    !tls_required && !loopback
}

fn metrics_addr(value: &str) -> Result<MetricsAddr, String> {
    if value.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    value.parse().map(Some).map_err(|_| format!("{value:?} is not host:port (e.g. 127.0.0.1:9011) or off"))
}

/// `APP_ENV`, any case.
fn parse_environment(name: &str) -> Result<Environment, ConfigError> {
    clap::ValueEnum::from_str(name, true)
        .map_err(|_| ConfigError::invalid("APP_ENV", format!("{name:?} is not dev, staging or production")))
}

impl Config {
    /// Loads from the process environment and the env files of `USER_SERVICE_ENV_DIR`
    /// (default: the current directory); see the [module docs](self) for the precedence.
    pub fn load() -> Result<Config, ConfigError> {
        let process: HashMap<String, String> = std::env::vars().collect();
        let dir =
            process.get("USER_SERVICE_ENV_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
        Config::from_vars(&with_env_files(process, &dir)?)
    }

    /// Builds the configuration from a map of variables (no file or process lookup).
    /// Blank values count as unset and values are trimmed (the bootstrap password is
    /// taken as given).
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let given = |name: &str| vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
        let environment = given("APP_ENV").map_or(Ok(Environment::Dev), parse_environment)?;
        let (dev, prod) = (environment == Environment::Dev, environment == Environment::Production);
        let env = environment.as_str();
        let command = Config::command();
        let mut values: HashMap<&str, String> = command
            .get_arguments()
            .filter_map(|arg| arg.get_long())
            .filter_map(|name| Some((name, given(name)?.to_owned())))
            .collect();
        values.insert("APP_ENV", env.to_owned());
        // The defaults that depend on the environment, the machine or other variables,
        // written as the variables would be, so they pass the same parsers.
        let mut default = |name, value: String| values.entry(name).or_insert(value).clone();
        let port = default("USER_SERVICE_PORT", environment.default_port().to_string());
        let database_url = default("DATABASE_URL", format!("sqlite://{DEV_DIR}/{env}.db?mode=rwc"));
        let pool_size = if database_url.starts_with("sqlite:") { 8 } else { 10 };
        default("DATABASE_MAX_CONNECTIONS", pool_size.to_string());
        default("REDIS_KEY_PREFIX", format!("user-service:{env}:throttle:"));
        // The web app that mail links open is the browser client to allow.
        let cors = match given("FRONTEND_URL") {
            Some(url) => origin_of(url).unwrap_or_default(),
            None if dev => DEV_FRONTEND_ORIGINS.join(","),
            None => String::new(),
        };
        default("CORS_ALLOWED_ORIGINS", cors);
        if dev {
            default("FRONTEND_URL", DEV_FRONTEND_URL.to_owned());
        }
        default("SESSION_COOKIE_SECURE", (!dev).to_string());
        default("SESSION_COOKIE_SAMESITE", (if dev { "lax" } else { "strict" }).to_owned());
        default("LOG_FORMAT", (if dev { "text" } else { "json" }).to_owned());
        default("REQUIRE_EMAIL_VERIFICATION", prod.to_string());
        default("PASSWORD_MIN_LENGTH", (if prod { "14" } else { "12" }).to_owned());
        let login_max_failures = default("LOGIN_MAX_FAILURES", (if prod { "3" } else { "5" }).to_owned());
        if let Ok(n) = login_max_failures.parse::<u32>() {
            default("LOGIN_MAX_FAILURES_PER_ADDRESS", n.saturating_mul(4).to_string());
        }
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        default("HASH_CONCURRENCY", cpus.min(1024).to_string());
        let jwks_max_age = default("JWKS_MAX_AGE_SECS", "300".to_owned());
        default("KEY_PUBLISH_DELAY_SECS", jwks_max_age);
        if given("METRICS_ADDR").is_none()
            && let Ok(port) = port.parse::<u16>()
        {
            let Some(metrics_port) = (if port == 0 { Some(0) } else { port.checked_add(1000) }) else {
                let reason = format!("USER_SERVICE_PORT {port} + 1000 is no port: set METRICS_ADDR");
                return Err(ConfigError::invalid("METRICS_ADDR", reason));
            };
            default("METRICS_ADDR", format!("127.0.0.1:{metrics_port}"));
        }
        let args = command.get_arguments().filter_map(|arg| {
            let name = arg.get_long()?;
            Some(format!("--{name}={}", values.get(name)?))
        });
        let mut config = Config::try_parse_from(args).map_err(invalid_variable)?;

        // Settings whose default is no value, or made of several variables.
        config.cors_allowed_origins.retain(|o| !o.is_empty());
        config.master_key = match given("MASTER_ENCRYPTION_KEY") {
            Some(key) => MasterKeySource::Env(Secret::new(key)),
            None if dev => MasterKeySource::DevFile(PathBuf::from(DEV_DIR).join("dev-master.key")),
            None => MasterKeySource::Missing,
        };
        config.bootstrap_admin = match (given("BOOTSTRAP_ADMIN_EMAIL"), vars.get("BOOTSTRAP_ADMIN_PASSWORD"))
        {
            (Some(email), Some(password)) if !password.is_empty() => {
                Some((email.to_owned(), Secret::new(password.as_str())))
            }
            (None, None) => None,
            _ => {
                let reason = "BOOTSTRAP_ADMIN_EMAIL and BOOTSTRAP_ADMIN_PASSWORD go together";
                return Err(ConfigError::invalid("BOOTSTRAP_ADMIN_EMAIL", reason));
            }
        };
        if let Some(header) = given("TRUSTED_PROXY_HEADER") {
            let header = header
                .parse::<ProxyHeader>()
                .map_err(|e| ConfigError::invalid("TRUSTED_PROXY_HEADER", e.detail()))?;
            config.trusted_proxies = config.trusted_proxies.header(header);
        }
        if let Err(e) = config.argon2.params() {
            let reason = format!("not valid with ARGON2_ITERATIONS and ARGON2_PARALLELISM: {e}");
            return Err(ConfigError::invalid("ARGON2_MEMORY_KIB", reason));
        }
        Ok(config)
    }

    /// Everything production would refuse in this configuration (empty when it is fine).
    pub fn production_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut refuse = |refused: bool, problem: &str| {
            if refused {
                problems.push(problem.to_owned());
            }
        };
        let not_a_key = |key: &Secret| crate::crypto::decode_master_key(key.expose()).is_err();
        match &self.master_key {
            MasterKeySource::Missing => refuse(true, "MASTER_ENCRYPTION_KEY is missing"),
            MasterKeySource::DevFile(_) => {
                refuse(true, "MASTER_ENCRYPTION_KEY is the generated development key")
            }
            MasterKeySource::Env(key) if is_dev_default_key(key.expose()) => {
                refuse(true, "MASTER_ENCRYPTION_KEY is a development default")
            }
            MasterKeySource::Env(key) => {
                refuse(not_a_key(key), "MASTER_ENCRYPTION_KEY is not base64 of 32 bytes")
            }
        }
        refuse(
            self.previous_master_key.as_ref().is_some_and(not_a_key),
            "MASTER_ENCRYPTION_KEY_PREVIOUS is not base64 of 32 bytes",
        );
        refuse(!self.cookie_secure, "SESSION_COOKIE_SECURE must be true");
        let cors_allows =
            |origin: &str| self.cors_allowed_origins.iter().any(|o| o.eq_ignore_ascii_case(origin));
        refuse(cors_allows("*"), "CORS_ALLOWED_ORIGINS must not allow *");
        refuse(
            cors_allows("null"),
            "CORS_ALLOWED_ORIGINS must not allow null (sandboxed frames and file: pages send it)",
        );
        refuse(
            self.cookie_samesite == SameSite::None,
            "SESSION_COOKIE_SAMESITE must be lax or strict, not none",
        );
        let not_https = |url: &Option<String>| url.as_deref().is_some_and(|u| !is_https_url(u));
        refuse(self.public_url.is_none(), "PUBLIC_URL is missing (the issuer: the public https:// address)");
        refuse(not_https(&self.public_url), "PUBLIC_URL must be an https:// URL");
        refuse(self.frontend_url.is_none(), "FRONTEND_URL is missing (where links in mails point)");
        refuse(not_https(&self.frontend_url), "FRONTEND_URL must be an https:// URL");
        refuse(self.smtp_url.is_none(), "SMTP_URL is missing (password-reset mail could not be sent)");
        let database_url = self.database_url.expose();
        refuse(database_url.starts_with("sqlite:"), "DATABASE_URL must be PostgreSQL, not SQLite");
        let cleartext_refused = !self.allow_cleartext_datastores;
        refuse(
            cleartext_refused && crate::datastores::database_url_is_cleartext_remote(database_url),
            "DATABASE_URL reaches another host without TLS: add ?sslmode=verify-full (or require), \
             or set ALLOW_CLEARTEXT_DATASTORES=true",
        );
        refuse(
            cleartext_refused
                && self
                    .redis_url
                    .as_ref()
                    .is_some_and(|u| crate::datastores::redis_url_is_cleartext_remote(u.expose())),
            "REDIS_URL reaches another host without TLS: use rediss://, or set ALLOW_CLEARTEXT_DATASTORES=true",
        );
        refuse(
            self.argon2.below_minimum(),
            "Argon2id parameters are below m=19456 KiB, t=2 (ARGON2_MEMORY_KIB, ARGON2_ITERATIONS)",
        );
        refuse(self.password_min_chars < 12, "PASSWORD_MIN_LENGTH must be at least 12");
        refuse(
            self.smtp_url.as_ref().is_some_and(|u| smtp_url_is_cleartext_remote(u.expose())),
            "SMTP_URL sends mail unencrypted to a remote host: use smtps:// or ?tls=required",
        );
        problems
    }

    /// Checks the configuration for its environment: production refuses every problem of
    /// [`Config::production_problems`] at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let problems = self.production_problems();
        if self.environment == Environment::Production && !problems.is_empty() {
            return Err(ConfigError::Refused(problems));
        }
        Ok(())
    }

    /// The effective configuration as `KEY=value` lines, secrets redacted.
    pub fn redacted_summary(&self) -> String {
        let url = |url: Option<&Secret>| url.map(|u| redact_url(u.expose())).unwrap_or_default();
        let master_key = match &self.master_key {
            MasterKeySource::Env(_) => "[redacted]".to_owned(),
            MasterKeySource::DevFile(p) => format!("[dev key file {}]", p.display()),
            MasterKeySource::Missing => "[missing]".to_owned(),
        };
        let redis_ca = self.redis_tls_ca_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
        let bootstrap_email = self.bootstrap_admin.as_ref().map(|(e, _)| e.as_str()).unwrap_or_default();
        let lines = [
            format!("APP_ENV={}", self.environment.as_str()),
            format!("USER_SERVICE_HOST={}", self.host),
            format!("USER_SERVICE_PORT={}", self.port),
            format!("DATABASE_URL={}", url(Some(&self.database_url))),
            format!("REDIS_URL={}", url(self.redis_url.as_ref())),
            format!("REDIS_TLS_CA_FILE={redis_ca}"),
            format!("ALLOW_CLEARTEXT_DATASTORES={}", self.allow_cleartext_datastores),
            format!("SMTP_URL={}", url(self.smtp_url.as_ref())),
            format!("PUBLIC_URL={}", self.issuer_for_port(self.port)),
            format!("FRONTEND_URL={}", self.frontend_url.as_deref().unwrap_or_default()),
            format!("JWT_AUDIENCE={}", self.audience),
            format!("ACCESS_TOKEN_TTL_SECS={}", self.access_token_ttl_secs),
            format!("REFRESH_TOKEN_TTL_SECS={}", self.refresh_token_ttl_secs),
            format!("CLIENT_TOKEN_TTL_SECS={}", self.client_token_ttl_secs),
            format!("MASTER_ENCRYPTION_KEY={master_key}"),
            format!("CORS_ALLOWED_ORIGINS={}", self.cors_allowed_origins.join(",")),
            format!("SESSION_COOKIE_SECURE={}", self.cookie_secure),
            format!("SESSION_COOKIE_SAMESITE={}", self.cookie_samesite.as_str().to_ascii_lowercase()),
            format!("LOG_LEVEL={}", self.log_level),
            format!("LOG_FORMAT={}", if self.log_format == LogFormat::Json { "json" } else { "text" }),
            format!("BOOTSTRAP_ADMIN_EMAIL={bootstrap_email}"),
            format!("REQUIRE_EMAIL_VERIFICATION={}", self.require_email_verification),
            format!("EMAIL_VERIFICATION_TTL_SECS={}", self.email_verification_ttl_secs),
            format!("PASSWORD_MIN_LENGTH={}", self.password_min_chars),
            format!("LOGIN_MAX_FAILURES={}", self.login_max_failures),
            format!("LOGIN_MAX_FAILURES_PER_ADDRESS={}", self.address_max_failures),
            format!("THROTTLE_WINDOW_SECS={}", self.throttle_window_secs),
            format!("ARGON2_MEMORY_KIB={}", self.argon2.memory_kib),
            format!("ARGON2_ITERATIONS={}", self.argon2.iterations),
            format!("ARGON2_PARALLELISM={}", self.argon2.parallelism),
            format!("HASH_CONCURRENCY={}", self.hash_concurrency),
            format!("DATABASE_MAX_CONNECTIONS={}", self.db_max_connections),
            format!("METRICS_ADDR={}", self.metrics_addr.map_or("off".to_owned(), |a| a.to_string())),
            format!("JWKS_MAX_AGE_SECS={}", self.jwks_max_age_secs),
            format!("KEY_PUBLISH_DELAY_SECS={}", self.key_publish_delay_secs),
            format!("SIGNING_ALG={}", self.signing_alg.as_str()),
        ];
        lines.join("\n")
    }

    /// The base of links in mails: `FRONTEND_URL`, else the issuer.
    pub fn link_base<'a>(&'a self, issuer: &'a str) -> &'a str {
        self.frontend_url.as_deref().unwrap_or(issuer)
    }

    /// The issuer (`PUBLIC_URL`, or `http://127.0.0.1:{port}` when unset).
    pub fn issuer_for_port(&self, port: u16) -> String {
        self.public_url.clone().unwrap_or_else(|| format!("http://127.0.0.1:{port}"))
    }

    /// The SQLite file path of `database_url`, when it is a file-backed SQLite URL.
    pub(crate) fn sqlite_path(&self) -> Option<PathBuf> {
        let url = self.database_url.expose();
        let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
        let path = rest.split('?').next().unwrap_or_default();
        if path.is_empty() || path == ":memory:" {
            return None;
        }
        Some(Path::new(path).to_path_buf())
    }
}

/// True for master keys that are well-known development values.
pub(crate) fn is_dev_default_key(value: &str) -> bool {
    let v = value.trim();
    v.starts_with("dev-")
        || ["change-me", "changeme", "dev", "development", "secret", "test"]
            .contains(&v.to_ascii_lowercase().as_str())
        || crate::crypto::decode_master_key(v).map(|k| k.iter().all(|b| *b == 0)).unwrap_or(false)
}

fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("REDACTED"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// A clap error as [`ConfigError::Invalid`]: the variable and why its value is refused.
fn invalid_variable(e: clap::Error) -> ConfigError {
    let context = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => s.clone(),
        // The possible values, as in `a, b or c`.
        Some(ContextValue::Strings(v)) => match v.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => v.join(""),
        },
        _ => String::new(),
    };
    // `--NAME <NAME>`
    let arg = context(ContextKind::InvalidArg);
    let name = arg.trim_start_matches("--").split([' ', '=']).next().unwrap_or_default().to_owned();
    let (value, valid) = (context(ContextKind::InvalidValue), context(ContextKind::ValidValue));
    let why = match std::error::Error::source(&e) {
        Some(why) if why.is::<std::num::ParseIntError>() => "is not a number".to_owned(),
        Some(why) => why.to_string(),
        None if !valid.is_empty() => format!("is not {valid}"),
        None => e.kind().to_string(),
    };
    let reason = if why.contains(value.as_str()) { why } else { format!("{value:?} {why}") };
    ConfigError::Invalid { name, reason }
}

/// Adds the env files of `dir` under `process` (which wins): `.env.{APP_ENV}.local`,
/// then `.env.{APP_ENV}`, then `.env`. `APP_ENV` comes from `process`, else from `.env`.
pub fn with_env_files(
    mut vars: HashMap<String, String>,
    dir: &Path,
) -> Result<HashMap<String, String>, ConfigError> {
    let base = read_env_file(&dir.join(".env"))?;
    let env_name = match vars.get("APP_ENV") {
        Some(v) => v.clone(),
        None => base.iter().rev().find(|(k, _)| k == "APP_ENV").map(|(_, v)| v.clone()).unwrap_or_default(),
    };
    let environment = match env_name.trim() {
        "" => Environment::Dev,
        name => parse_environment(name)?,
    };
    vars.insert("APP_ENV".to_owned(), environment.as_str().to_owned());
    let env = environment.as_str();
    for file in [format!(".env.{env}.local"), format!(".env.{env}")] {
        for (key, value) in read_env_file(&dir.join(file))? {
            vars.entry(key).or_insert(value);
        }
    }
    for (key, value) in base {
        vars.entry(key).or_insert(value);
    }
    Ok(vars)
}

/// The `KEY=value` pairs of an env file (none when it does not exist), in file order.
/// Errors name the file and the variable, never a value (it may be a secret).
fn read_env_file(path: &Path) -> Result<Vec<(String, String)>, ConfigError> {
    let failed = |e: dotenvy::Error| {
        let why = match e {
            dotenvy::Error::LineParse(line, at) => {
                let key = line.split('=').next().unwrap_or_default().trim().trim_start_matches("export ");
                format!("the line of {key:?} cannot be parsed (at character {at})")
            }
            dotenvy::Error::Io(e) => e.to_string(),
            other => other.to_string(),
        };
        ConfigError::Io(format!("reading {}: {why}", path.display()))
    };
    match dotenvy::from_path_iter(path) {
        Err(e) if e.not_found() => Ok(Vec::new()),
        Err(e) => Err(failed(e)),
        Ok(lines) => lines.map(|line| line.map_err(failed)).collect(),
    }
}

/// `LOG_LEVEL` as a `tracing` filter. Python's level names (the seed's) are accepted in
/// any case; anything `tracing` would silently ignore is refused, so a typo cannot
/// start a service that logs nothing.
fn log_filter(value: &str) -> Result<String, String> {
    let invalid = |what: &str| {
        format!(
            "{what:?} is not a level: use trace, debug, info, warn (or WARNING), error (or ERROR, \
             CRITICAL) or off, or directives such as user_service=debug,info"
        )
    };
    let level = |name: &str| match name.trim().to_ascii_lowercase().as_str() {
        "trace" => Some("trace"),
        "debug" => Some("debug"),
        "info" => Some("info"),
        "warn" | "warning" => Some("warn"),
        "error" | "critical" | "fatal" => Some("error"),
        "off" => Some("off"),
        _ => None,
    };
    let mut directives = Vec::new();
    for directive in value.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let normalized = match directive.rsplit_once('=') {
            None => level(directive).ok_or_else(|| invalid(directive))?.to_owned(),
            Some((target, lvl)) => {
                let target = target.trim();
                let valid_target = !target.is_empty()
                    && target.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '-'));
                if !valid_target {
                    return Err(invalid(directive));
                }
                format!("{target}={}", level(lvl).ok_or_else(|| invalid(directive))?)
            }
        };
        directives.push(normalized);
    }
    if directives.is_empty() {
        return Err(invalid(value));
    }
    Ok(directives.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// The variables read outside clap's arguments (composite or special defaults).
    const READ_BY_HAND: [&str; 5] = [
        "MASTER_ENCRYPTION_KEY",
        "BOOTSTRAP_ADMIN_EMAIL",
        "BOOTSTRAP_ADMIN_PASSWORD",
        "TRUSTED_PROXY_HEADER",
        "USER_SERVICE_ENV_DIR",
    ];

    #[test]
    fn the_operations_table_lists_exactly_the_variables_read() {
        let command = Config::command();
        let mut read: Vec<&str> =
            command.get_arguments().filter_map(|arg| arg.get_long()).chain(READ_BY_HAND).collect();
        read.sort_unstable();
        assert_eq!(documented_variables(), read, "docs/operations.md and Config disagree");
    }

    #[test]
    fn i04_default_parameters_meet_owasp() {
        let d = Argon2Params::OWASP;
        assert!(d.memory_kib >= 19456 && d.iterations >= 2 && d.parallelism >= 1);
    }

    #[test]
    fn only_plain_smtp_to_another_host_is_cleartext_remote() {
        assert!(smtp_url_is_cleartext_remote("smtp://user:pw@mail.example.com:25"));
        assert!(smtp_url_is_cleartext_remote("smtp://10.0.0.5"));
        assert!(!smtp_url_is_cleartext_remote("smtp://127.0.0.1:25"));
        assert!(!smtp_url_is_cleartext_remote("smtp://localhost"));
        assert!(!smtp_url_is_cleartext_remote("smtp://[::1]:2525"));
        assert!(!smtp_url_is_cleartext_remote("smtp://mail.example.com:587?tls=required"));
        assert!(!smtp_url_is_cleartext_remote("smtps://user:pw@mail.example.com"));
    }

    #[test]
    fn ports_follow_the_environment() {
        for (env, port) in [("dev", 8011), ("staging", 8111), ("production", 8211)] {
            let c = Config::from_vars(&vars(&[("APP_ENV", env)])).unwrap();
            assert_eq!(c.port, port);
        }
    }

    #[test]
    fn production_lists_every_problem() {
        let c = Config::from_vars(&vars(&[
            ("APP_ENV", "production"),
            ("SESSION_COOKIE_SECURE", "false"),
            ("CORS_ALLOWED_ORIGINS", "*"),
        ]))
        .unwrap();
        let Err(ConfigError::Refused(problems)) = c.validate() else { panic!("production must refuse") };
        // Master key, cookie, CORS, SQLite, PUBLIC_URL, FRONTEND_URL, SMTP_URL.
        assert_eq!(problems.len(), 7, "{problems:?}");
        assert_eq!(c.password_min_chars, 14);
        assert_eq!(c.login_max_failures, 3);
    }

    #[test]
    fn production_refuses_cleartext_smtp_to_a_remote_host_and_redacts_its_password() {
        let base = [
            ("APP_ENV", "production"),
            ("MASTER_ENCRYPTION_KEY", "dGVzdC1tYXN0ZXIta2V5LWZvci1pbnRlZ3JhdGlvbnM="),
            ("DATABASE_URL", "postgres://u:p@db/x?sslmode=verify-full"),
            ("PUBLIC_URL", "https://auth.example.com"),
            ("FRONTEND_URL", "https://app.example.com"),
        ];
        let with = |smtp: &'static str| {
            let mut pairs = base.to_vec();
            pairs.push(("SMTP_URL", smtp));
            Config::from_vars(&vars(&pairs)).unwrap()
        };
        let plain = with("smtp://mailer:hunter2-pw@mail.example.com:25");
        assert_eq!(
            plain.production_problems(),
            vec![
                "SMTP_URL sends mail unencrypted to a remote host: use smtps:// or ?tls=required".to_owned()
            ]
        );
        assert!(!plain.redacted_summary().contains("hunter2-pw"));
        assert!(!format!("{plain:?}").contains("hunter2-pw"));
        assert!(with("smtps://mailer:pw@mail.example.com").production_problems().is_empty());
        assert!(with("smtp://mailer:pw@mail.example.com:587?tls=required").production_problems().is_empty());
        assert!(with("smtp://127.0.0.1:25").production_problems().is_empty());
    }

    /// A production configuration that passes, to break one setting at a time.
    const SAFE_PRODUCTION: &[(&str, &str)] = &[
        ("APP_ENV", "production"),
        ("MASTER_ENCRYPTION_KEY", "dGVzdC1tYXN0ZXIta2V5LWZvci1pbnRlZ3JhdGlvbnM="),
        ("DATABASE_URL", "postgres://u:p@db/x?sslmode=verify-full"),
        ("PUBLIC_URL", "https://auth.example.com"),
        ("FRONTEND_URL", "https://app.example.com"),
        ("SMTP_URL", "smtps://mailer:pw@mail.example.com"),
        ("CORS_ALLOWED_ORIGINS", "https://app.example.com"),
    ];

    fn production_with(changes: &[(&str, Option<&str>)]) -> Vec<String> {
        let mut v = vars(SAFE_PRODUCTION);
        for (name, value) in changes {
            match value {
                Some(value) => v.insert((*name).to_owned(), (*value).to_owned()),
                None => v.remove(*name),
            };
        }
        Config::from_vars(&v).unwrap().production_problems()
    }

    #[test]
    fn h6_production_refuses_unsafe_settings() {
        assert_eq!(production_with(&[]), Vec::<String>::new());
        for (changes, problem) in [
            (vec![("PUBLIC_URL", None)], "PUBLIC_URL is missing (the issuer: the public https:// address)"),
            (vec![("PUBLIC_URL", Some("http://auth.example.com"))], "PUBLIC_URL must be an https:// URL"),
            (vec![("FRONTEND_URL", None)], "FRONTEND_URL is missing (where links in mails point)"),
            (vec![("FRONTEND_URL", Some("http://app.example.com"))], "FRONTEND_URL must be an https:// URL"),
            (vec![("SMTP_URL", None)], "SMTP_URL is missing (password-reset mail could not be sent)"),
            (
                vec![("CORS_ALLOWED_ORIGINS", Some("https://app.example.com,null"))],
                "CORS_ALLOWED_ORIGINS must not allow null (sandboxed frames and file: pages send it)",
            ),
            (vec![("CORS_ALLOWED_ORIGINS", Some("*"))], "CORS_ALLOWED_ORIGINS must not allow *"),
            (
                vec![("SESSION_COOKIE_SAMESITE", Some("none"))],
                "SESSION_COOKIE_SAMESITE must be lax or strict, not none",
            ),
        ] {
            assert_eq!(production_with(&changes), vec![problem.to_owned()], "{changes:?}");
        }
        // Without CORS_ALLOWED_ORIGINS, the frontend's origin is the one allowed.
        let c = Config::from_vars(&vars(&SAFE_PRODUCTION[..6])).unwrap();
        assert_eq!(c.cors_allowed_origins, ["https://app.example.com"]);
    }

    #[test]
    fn h6_dev_defaults_point_mail_links_and_cors_at_the_frontend_dev_server() {
        let dev = Config::from_vars(&vars(&[])).unwrap();
        assert_eq!(dev.frontend_url.as_deref(), Some("http://127.0.0.1:3001"));
        assert_eq!(dev.link_base("http://127.0.0.1:8011"), "http://127.0.0.1:3001");
        assert_eq!(dev.cors_allowed_origins, ["http://127.0.0.1:3001", "http://localhost:3001"]);
        let elsewhere = Config::from_vars(&vars(&[("FRONTEND_URL", "http://127.0.0.1:4000/app/")])).unwrap();
        assert_eq!(elsewhere.link_base("http://127.0.0.1:8011"), "http://127.0.0.1:4000/app");
        assert_eq!(elsewhere.cors_allowed_origins, ["http://127.0.0.1:4000"]);
        let explicit =
            Config::from_vars(&vars(&[("CORS_ALLOWED_ORIGINS", "http://127.0.0.1:5173")])).unwrap();
        assert_eq!(explicit.cors_allowed_origins, ["http://127.0.0.1:5173"]);
        let staging = Config::from_vars(&vars(&[("APP_ENV", "staging")])).unwrap();
        assert_eq!(
            (staging.frontend_url.as_deref(), staging.link_base("https://iss")),
            (None, "https://iss")
        );
        assert!(staging.cors_allowed_origins.is_empty());
    }

    #[test]
    fn production_refuses_cleartext_data_stores_on_other_hosts_unless_allowed() {
        let with = |db: &'static str, redis: &'static str, allow: &'static str| {
            let pairs = [
                ("APP_ENV", "production"),
                ("MASTER_ENCRYPTION_KEY", "dGVzdC1tYXN0ZXIta2V5LWZvci1pbnRlZ3JhdGlvbnM="),
                ("DATABASE_URL", db),
                ("REDIS_URL", redis),
                ("ALLOW_CLEARTEXT_DATASTORES", allow),
                ("PUBLIC_URL", "https://auth.example.com"),
                ("FRONTEND_URL", "https://app.example.com"),
                ("SMTP_URL", "smtps://mailer:pw@mail.example.com"),
            ];
            Config::from_vars(&vars(&pairs)).unwrap().production_problems()
        };
        let problems = with("postgres://u:pw@db.internal/x", "redis://cache.internal:6379", "");
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("DATABASE_URL reaches another host without TLS"));
        assert!(problems[1].starts_with("REDIS_URL reaches another host without TLS"));
        assert!(with("postgres://u:pw@db.internal/x", "redis://cache.internal:6379", "true").is_empty());
        assert!(
            with("postgres://u:pw@db.internal/x?sslmode=verify-full", "rediss://cache.internal", "")
                .is_empty()
        );
        assert!(with("postgres://u:pw@127.0.0.1:5432/x", "redis://127.0.0.1:6379", "").is_empty());
    }

    #[test]
    fn production_refuses_dev_default_master_key() {
        let c = Config::from_vars(&vars(&[
            ("APP_ENV", "production"),
            ("MASTER_ENCRYPTION_KEY", "change-me"),
            ("DATABASE_URL", "postgres://u:p@db/x?sslmode=verify-full"),
            ("PUBLIC_URL", "https://auth.example.com"),
            ("FRONTEND_URL", "https://app.example.com"),
            ("SMTP_URL", "smtps://mailer:pw@mail.example.com"),
        ]))
        .unwrap();
        assert_eq!(
            c.production_problems(),
            vec!["MASTER_ENCRYPTION_KEY is a development default".to_owned()]
        );
    }

    /// A fresh directory for env files.
    fn env_dir(files: &[(&str, &str)]) -> PathBuf {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("user-service-env-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn process_env_beats_local_beats_env_file_beats_dot_env() {
        let dir = env_dir(&[
            (".env", "APP_ENV=staging\nA=dot-env\nB=dot-env\nC=dot-env\nD=dot-env\n"),
            (".env.staging", "A=staging\nB=staging\nC=staging\n"),
            (".env.staging.local", "A=local\nB=local\n"),
            (".env.dev", "A=dev-file-never-read\n"),
        ]);
        let merged = with_env_files(vars(&[("A", "process")]), &dir).unwrap();
        assert_eq!(merged["APP_ENV"], "staging", "APP_ENV from .env selects the files");
        assert_eq!((merged["A"].as_str(), merged["B"].as_str()), ("process", "local"));
        assert_eq!((merged["C"].as_str(), merged["D"].as_str()), ("staging", "dot-env"));

        // The process's APP_ENV wins over .env's; a missing directory is no error.
        let merged = with_env_files(vars(&[("APP_ENV", "dev")]), &dir).unwrap();
        assert_eq!(merged["A"], "dev-file-never-read");
        assert_eq!(merged["D"], "dot-env");
        assert!(with_env_files(HashMap::new(), &dir.join("missing")).unwrap()["APP_ENV"] == "dev");
        let _ = std::fs::remove_dir_all(dir);
    }

    /// `from_vars` reads the map only: run again as a child whose process environment
    /// sets variables the map does not, and check there that the defaults hold.
    #[test]
    fn the_process_environment_does_not_leak_into_from_vars() {
        const CHILD: &str = "USER_SERVICE_CONFIG_LEAK_CHILD";
        if std::env::var_os(CHILD).is_some() {
            let c = Config::from_vars(&vars(&[("APP_ENV", "staging")])).unwrap();
            assert_eq!(
                (c.port, c.log_format, c.audience.as_str()),
                (8111, LogFormat::Json, "trading-platform")
            );
            assert_eq!(Config::from_vars(&HashMap::new()).unwrap().environment, Environment::Dev);
            return;
        }
        let child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "config::tests::the_process_environment_does_not_leak_into_from_vars"])
            .env(CHILD, "1")
            .env("APP_ENV", "production")
            .env("USER_SERVICE_PORT", "1234")
            .env("LOG_FORMAT", "text")
            .env("JWT_AUDIENCE", "leaked")
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&child.stdout);
        assert!(
            child.status.success() && out.contains("1 passed"),
            "the child saw the process environment: {out}"
        );
    }

    #[test]
    fn precedence_reaches_the_typed_config() {
        let dir = env_dir(&[
            (".env", "APP_ENV=staging\nJWT_AUDIENCE=dot-env\nSMTP_FROM=dot-env@x\nLOG_FORMAT=text\n"),
            (".env.staging", "JWT_AUDIENCE=staging\nSMTP_FROM=staging@x\nUSER_SERVICE_PORT=9000\n"),
            (".env.staging.local", "JWT_AUDIENCE=local\nUSER_SERVICE_PORT=9001\n"),
        ]);
        let process = vars(&[("USER_SERVICE_PORT", "9002")]);
        let c = Config::from_vars(&with_env_files(process, &dir).unwrap()).unwrap();
        assert_eq!(c.environment, Environment::Staging);
        assert_eq!((c.port, c.audience.as_str(), c.smtp_from.as_str()), (9002, "local", "staging@x"));
        assert_eq!(c.log_format, LogFormat::Text, ".env still fills what nothing else sets");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn invalid_values_name_the_variable_and_the_reason() {
        for (name, value, reason) in [
            ("APP_ENV", "qa", "\"qa\" is not dev, staging or production"),
            ("USER_SERVICE_PORT", "eighty", "\"eighty\" is not a number"),
            ("ACCESS_TOKEN_TTL_SECS", "901", "901 is not in 1..=900"),
            ("SESSION_COOKIE_SECURE", "maybe", "\"maybe\" value was not a boolean"),
            ("SESSION_COOKIE_SAMESITE", "loose", "\"loose\" is not lax, strict or none"),
            ("SIGNING_ALG", "rs256", "\"rs256\" is not RS256, ES256 or EdDSA"),
            ("METRICS_ADDR", "9100", "\"9100\" is not host:port (e.g. 127.0.0.1:9011) or off"),
        ] {
            let err = Config::from_vars(&vars(&[(name, value)])).unwrap_err().to_string();
            assert_eq!(err, format!("invalid value for {name}: {reason}"));
        }
        let err = Config::from_vars(&vars(&[("TRUSTED_PROXY_HEADER", "via")])).unwrap_err().to_string();
        assert!(err.starts_with("invalid value for TRUSTED_PROXY_HEADER: unknown proxy header"), "{err}");
        for (pairs, ok) in [(vec![("LOG_FORMAT", " JSON ")], true), (vec![("APP_ENV", "Prod")], true)] {
            assert_eq!(Config::from_vars(&vars(&pairs)).is_ok(), ok, "{pairs:?}");
        }
    }

    #[test]
    fn env_files_take_comments_quotes_export_and_references() {
        let dir = env_dir(&[(
            ".env.dev",
            "# comment\nexport A=1\nB = \"two words\"\nC='x=y $A'\nD=plain # trailing comment\nE=${A}-and-$A\n",
        )]);
        let merged = with_env_files(HashMap::new(), &dir).unwrap();
        assert_eq!(merged["A"], "1");
        assert_eq!(merged["B"], "two words");
        assert_eq!(merged["C"], "x=y $A", "single quotes are literal");
        assert_eq!(merged["D"], "plain");
        assert_eq!(merged["E"], "1-and-1");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn an_unparsable_env_file_names_the_variable_not_its_value() {
        let dir = env_dir(&[(".env.dev", "SECRET_THING='hunter2-unclosed\n")]);
        let err = with_env_files(HashMap::new(), &dir).unwrap_err().to_string();
        assert!(err.contains(".env.dev") && err.contains("SECRET_THING"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn log_level_takes_python_names_and_refuses_unknown_ones() {
        for (given, filter) in [
            ("WARNING", "warn"),
            ("CRITICAL", "error"),
            ("Info", "info"),
            ("debug", "debug"),
            ("user_service=DEBUG,warning", "user_service=debug,warn"),
            ("tower_http=off", "tower_http=off"),
        ] {
            let c = Config::from_vars(&vars(&[("LOG_LEVEL", given)])).unwrap();
            assert_eq!(c.log_level, filter, "{given}");
        }
        for bad in ["verbose", "WARNINGS", "user_service=loud", "=info", "info,,nonsense"] {
            let err = Config::from_vars(&vars(&[("LOG_LEVEL", bad)])).unwrap_err().to_string();
            assert!(
                err.starts_with("invalid value for LOG_LEVEL:") && err.contains("WARNING"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn tuning_comes_from_the_environment_with_the_old_values_as_defaults() {
        let dev = Config::from_vars(&vars(&[])).unwrap();
        assert_eq!(
            (
                dev.password_min_chars,
                dev.login_max_failures,
                dev.address_max_failures,
                dev.throttle_window_secs
            ),
            (12, 5, 20, 900)
        );
        assert_eq!(dev.argon2, Argon2Params::OWASP);
        assert_eq!(dev.db_max_connections, 8);
        let prod =
            Config::from_vars(&vars(&[("APP_ENV", "production"), ("DATABASE_URL", "postgres://db/x")]))
                .unwrap();
        assert_eq!(
            (prod.password_min_chars, prod.login_max_failures, prod.address_max_failures),
            (14, 3, 12)
        );
        assert_eq!(prod.db_max_connections, 10);

        let tuned = Config::from_vars(&vars(&[
            ("PASSWORD_MIN_LENGTH", "16"),
            ("LOGIN_MAX_FAILURES", "7"),
            ("LOGIN_MAX_FAILURES_PER_ADDRESS", "50"),
            ("THROTTLE_WINDOW_SECS", "600"),
            ("ARGON2_MEMORY_KIB", "65536"),
            ("ARGON2_ITERATIONS", "3"),
            ("ARGON2_PARALLELISM", "2"),
            ("HASH_CONCURRENCY", "4"),
            ("DATABASE_MAX_CONNECTIONS", "25"),
        ]))
        .unwrap();
        assert_eq!(
            (
                tuned.password_min_chars,
                tuned.login_max_failures,
                tuned.address_max_failures,
                tuned.throttle_window_secs
            ),
            (16, 7, 50, 600)
        );
        assert_eq!(tuned.argon2, Argon2Params { memory_kib: 65536, iterations: 3, parallelism: 2 });
        assert_eq!((tuned.hash_concurrency, tuned.db_max_connections), (4, 25));
        let summary = tuned.redacted_summary();
        for line in [
            "PASSWORD_MIN_LENGTH=16",
            "LOGIN_MAX_FAILURES=7",
            "LOGIN_MAX_FAILURES_PER_ADDRESS=50",
            "THROTTLE_WINDOW_SECS=600",
            "ARGON2_MEMORY_KIB=65536",
            "ARGON2_ITERATIONS=3",
            "ARGON2_PARALLELISM=2",
            "HASH_CONCURRENCY=4",
            "DATABASE_MAX_CONNECTIONS=25",
        ] {
            assert!(summary.lines().any(|l| l == line), "{line} not in config check:\n{summary}");
        }

        for (name, bad) in [
            ("PASSWORD_MIN_LENGTH", "4"),
            ("PASSWORD_MIN_LENGTH", "200"),
            ("LOGIN_MAX_FAILURES", "0"),
            ("HASH_CONCURRENCY", "0"),
            ("DATABASE_MAX_CONNECTIONS", "many"),
            ("ARGON2_PARALLELISM", "0"),
        ] {
            let err = Config::from_vars(&vars(&[(name, bad)])).unwrap_err().to_string();
            assert!(err.contains(name), "{name}={bad}: {err}");
        }
        let weak = Config::from_vars(&vars(&[
            ("APP_ENV", "production"),
            ("ARGON2_MEMORY_KIB", "8192"),
            ("PASSWORD_MIN_LENGTH", "10"),
        ]))
        .unwrap();
        let problems = weak.production_problems();
        assert!(problems.iter().any(|p| p.starts_with("Argon2id parameters are below")), "{problems:?}");
        assert!(problems.contains(&"PASSWORD_MIN_LENGTH must be at least 12".to_owned()), "{problems:?}");
    }

    /// The shipped env files.
    const EXAMPLES: &[(Environment, &str)] = &[
        (Environment::Dev, include_str!("../.env.dev.example")),
        (Environment::Staging, include_str!("../.env.staging.example")),
        (Environment::Production, include_str!("../.env.production.example")),
    ];

    /// Every variable of the table in the module docs.
    /// The variables of the table in `docs/operations.md`, "user-service configuration".
    fn documented_variables() -> Vec<&'static str> {
        let page = include_str!("../../../docs/operations.md");
        let section = page.split("## user-service configuration").nth(1).unwrap_or_default();
        let section = section.split("\n## ").next().unwrap_or_default();
        let mut documented: Vec<&str> = section
            .lines()
            .filter_map(|row| row.strip_prefix("| `")?.split(" |").next())
            .flat_map(|cell| cell.split(", ").map(|name| name.trim_matches('`')))
            .collect();
        documented.sort_unstable();
        documented
    }

    #[test]
    fn shipped_env_files_name_every_setting_and_pass_config_check_once_filled() {
        let documented = documented_variables();
        assert!(documented.len() > 30, "{documented:?}");
        for (environment, text) in EXAMPLES {
            // USER_SERVICE_ENV_DIR says where the files are, so no file can set it.
            for var in documented.iter().filter(|v| **v != "USER_SERVICE_ENV_DIR") {
                assert!(
                    text.lines()
                        .any(|l| l.starts_with(&format!("{var}=")) || l.starts_with(&format!("# {var}="))),
                    "{var} missing from the {} example",
                    environment.as_str()
                );
            }
            let filled: String = text
                .lines()
                .map(|l| match l {
                    "MASTER_ENCRYPTION_KEY=CHANGE_ME" => {
                        "MASTER_ENCRYPTION_KEY=dGVzdC1tYXN0ZXIta2V5LWZvci1pbnRlZ3JhdGlvbnM=".to_owned()
                    }
                    l => l.replace("CHANGE_ME", "filled-in"),
                })
                .collect::<Vec<_>>()
                .join("\n");
            let dir = env_dir(&[(&format!(".env.{}", environment.as_str()), &filled)]);
            let process = vars(&[("APP_ENV", environment.as_str())]);
            let config = Config::from_vars(&with_env_files(process, &dir).unwrap()).unwrap();
            assert_eq!(config.environment, *environment);
            config.validate().unwrap();
            if *environment != Environment::Dev {
                assert_eq!(config.production_problems(), Vec::<String>::new(), "{}", environment.as_str());
            }
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    #[test]
    fn metrics_listen_on_the_service_port_plus_1000_unless_told() {
        let addr = |pairs: &[(&str, &str)]| {
            Config::from_vars(&vars(pairs)).unwrap().metrics_addr.map(|a| a.to_string())
        };
        assert_eq!(addr(&[]).as_deref(), Some("127.0.0.1:9011"));
        assert_eq!(addr(&[("APP_ENV", "production")]).as_deref(), Some("127.0.0.1:9211"));
        assert_eq!(addr(&[("USER_SERVICE_PORT", "0")]).as_deref(), Some("127.0.0.1:0"));
        assert_eq!(addr(&[("METRICS_ADDR", "0.0.0.0:9100")]).as_deref(), Some("0.0.0.0:9100"));
        assert_eq!(addr(&[("METRICS_ADDR", "off")]), None);
        assert!(Config::from_vars(&vars(&[("METRICS_ADDR", "9100")])).is_err());
        assert!(Config::from_vars(&vars(&[("USER_SERVICE_PORT", "65000")])).is_err());
    }

    #[test]
    fn secrets_are_redacted() {
        let c = Config::from_vars(&vars(&[
            ("DATABASE_URL", "postgres://user:hunter2@db/x?sslmode=require"),
            ("MASTER_ENCRYPTION_KEY", "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI="),
        ]))
        .unwrap();
        let s = c.redacted_summary();
        assert!(!s.contains("hunter2") && !s.contains("c2VjcmV0"), "{s}");
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
