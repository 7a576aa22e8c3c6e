//! Typed configuration read from environment variables and `.env.{APP_ENV}` files.
//!
//! Precedence, highest first: real environment variables, then `.env.{APP_ENV}.local`,
//! then `.env.{APP_ENV}` (both looked up in `USER_SERVICE_ENV_DIR`, default the current
//! directory). Every variable is optional in `dev`; `production` refuses to start while
//! [`Config::production_problems`] lists anything.
//!
//! | Variable | Meaning | Default |
//! | --- | --- | --- |
//! | `APP_ENV` | `dev`, `staging` or `production` | `dev` |
//! | `USER_SERVICE_HOST` | address to bind | `127.0.0.1` |
//! | `USER_SERVICE_PORT` | port to bind | 8011 / 8111 / 8211 |
//! | `DATABASE_URL` | `sqlite://...` or `postgres://...` (TLS: `?sslmode=verify-full&sslrootcert=/path/ca.pem`, or `require`) | `sqlite://.user-service-dev/{env}.db` |
//! | `REDIS_URL` | throttling counters in Redis (else in the database); `rediss://` for TLS | none |
//! | `REDIS_TLS_CA_FILE` | PEM CA that `rediss://` servers are checked against (else the system's roots) | none |
//! | `ALLOW_CLEARTEXT_DATASTORES` | `true` lets production reach PostgreSQL/Redis on another host without TLS | `false` |
//! | `SMTP_URL`, `SMTP_FROM` | SMTP for mail, e.g. `smtps://user:pass@host`, `smtp://host:587?tls=required` (STARTTLS) or `smtp://127.0.0.1` (else the outbox table) | none, `no-reply@localhost` |
//! | `REDIS_KEY_PREFIX` | prefix of the Redis keys | `user-service:{env}:throttle:` |
//! | `PUBLIC_URL` | the issuer and the base of links in mails | `http://127.0.0.1:{port}` |
//! | `JWT_AUDIENCE` | `aud` of access tokens | `trading-platform` |
//! | `ACCESS_TOKEN_TTL_SECS` | access token lifetime, at most 900 | 900 |
//! | `REFRESH_TOKEN_TTL_SECS` | refresh token (session) lifetime | 2592000 (30 days) |
//! | `CLIENT_TOKEN_TTL_SECS` | lifetime of service-client (client credentials) tokens, at most 900 | 300 |
//! | `MASTER_ENCRYPTION_KEY` | base64 of 32 bytes; encrypts signing keys, TOTP secrets and (through versioned data keys) broker credentials | dev: generated file |
//! | `MASTER_ENCRYPTION_KEY_PREVIOUS` | the env master key being replaced: what it sealed still opens until `keys rotate-master` has re-encrypted it under the current key | none |
//! | `CORS_ALLOWED_ORIGINS` | comma-separated origins, or `*` (refused in production) | none |
//! | `SESSION_COOKIE_SECURE` | `Secure` flag of the refresh-token cookie | false (dev), true otherwise |
//! | `SESSION_COOKIE_SAMESITE` | `lax`, `strict` or `none` | `lax` (dev), `strict` otherwise |
//! | `LOG_LEVEL` | a `tracing` filter such as `info` or `user_service=debug` | `info` |
//! | `LOG_FORMAT` | `text` or `json` | `text` (dev), `json` otherwise |
//! | `JWKS_MAX_AGE_SECS` | `Cache-Control: max-age` of the JWKS | 300 |
//! | `KEY_PUBLISH_DELAY_SECS` | how long a rotated-in key is published before it signs | `JWKS_MAX_AGE_SECS` |
//! | `SIGNING_ALG` | algorithm of new signing keys: `RS256`, `ES256` or `EdDSA` | `RS256` |
//! | `BOOTSTRAP_ADMIN_EMAIL`, `BOOTSTRAP_ADMIN_PASSWORD` | create this admin on first start | none |
//! | `TRUSTED_PROXIES`, `TRUSTED_PROXY_HEADER` | proxies (addresses, CIDR networks) whose forwarding header gives the client address, and that header (`x-forwarded-for` or `forwarded`) | none, `x-forwarded-for` |
//!
//! Policy by environment: passwords of at least 12 characters (14 in production) and
//! 5 failed logins per account before throttling (3 in production).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use authgate::client_addr::TrustedProxies;

/// Where the service runs; selects defaults and how strict startup is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// A developer's machine: SQLite, generated dev master key, relaxed cookies.
    Dev,
    /// Pre-production; production defaults but no refusals.
    Staging,
    /// Refuses to start with insecure settings.
    Production,
}

impl Environment {
    /// Parses `dev` / `development`, `staging`, `production` / `prod`.
    pub fn parse(value: &str) -> Option<Environment> {
        match value.trim().to_ascii_lowercase().as_str() {
            "dev" | "development" => Some(Environment::Dev),
            "staging" => Some(Environment::Staging),
            "production" | "prod" => Some(Environment::Production),
            _ => None,
        }
    }

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

    /// Parses a JOSE `alg` name.
    pub fn parse(value: &str) -> Option<SigningAlg> {
        match value {
            "RS256" => Some(SigningAlg::RS256),
            "ES256" => Some(SigningAlg::ES256),
            "EdDSA" => Some(SigningAlg::EdDSA),
            _ => None,
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// Argon2id cost parameters. Only tests lower them, and only through code: no
/// environment variable can.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Iterations.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Argon2Params {
    /// The OWASP minimum for Argon2id (m=19456 KiB, t=2, p=1), our default.
    pub const OWASP: Argon2Params = Argon2Params { memory_kib: 19456, iterations: 2, parallelism: 1 };

    fn below_minimum(self) -> bool {
        self.memory_kib < Self::OWASP.memory_kib || self.iterations < Self::OWASP.iterations
    }
}

/// The whole typed configuration of the service.
#[derive(Debug, Clone)]
pub struct Config {
    /// Environment (`APP_ENV`).
    pub environment: Environment,
    /// Address to bind (`USER_SERVICE_HOST`).
    pub host: String,
    /// Port to bind (`USER_SERVICE_PORT`); 0 picks a free port (tests).
    pub port: u16,
    /// `sqlite://...` or `postgres://...` (`DATABASE_URL`).
    pub database_url: Secret,
    /// Optional Redis (`REDIS_URL`) for throttling counters.
    pub redis_url: Option<Secret>,
    /// CA certificate (PEM) for `rediss://` (`REDIS_TLS_CA_FILE`).
    pub redis_tls_ca_file: Option<PathBuf>,
    /// Production may reach the data stores on another host without TLS
    /// (`ALLOW_CLEARTEXT_DATASTORES`, e.g. inside a private network that encrypts).
    pub allow_cleartext_datastores: bool,
    /// SMTP server for outgoing mail (`SMTP_URL`: `smtps://`, `smtp://...?tls=required`
    /// for STARTTLS, or plain `smtp://` to a local relay; may carry credentials); without
    /// it, mail goes to the outbox table.
    pub smtp_url: Option<Secret>,
    /// Sender address (`SMTP_FROM`).
    pub smtp_from: String,
    /// Prefix of every Redis key (`REDIS_KEY_PREFIX`), so environments can share a Redis.
    pub redis_key_prefix: String,
    /// Issuer and base of links (`PUBLIC_URL`). `None` means `http://127.0.0.1:{bound port}`.
    pub public_url: Option<String>,
    /// `aud` of access tokens (`JWT_AUDIENCE`).
    pub audience: String,
    /// Access token lifetime in seconds (`ACCESS_TOKEN_TTL_SECS`, at most 900).
    pub access_token_ttl_secs: u64,
    /// Refresh token / session lifetime in seconds (`REFRESH_TOKEN_TTL_SECS`).
    pub refresh_token_ttl_secs: u64,
    /// Lifetime of service-client tokens in seconds (`CLIENT_TOKEN_TTL_SECS`, at most 900):
    /// short, since a service fetches a new one whenever it needs it.
    pub client_token_ttl_secs: u64,
    /// The master encryption key.
    pub master_key: MasterKeySource,
    /// The master key being replaced (`MASTER_ENCRYPTION_KEY_PREVIOUS`): everything it
    /// sealed (signing keys, TOTP secrets, master-key versions) still opens until `keys
    /// rotate-master` has re-encrypted it under the current key.
    pub previous_master_key: Option<Secret>,
    /// Allowed CORS origins (`CORS_ALLOWED_ORIGINS`).
    pub cors_allowed_origins: Vec<String>,
    /// `Secure` flag of the refresh cookie (`SESSION_COOKIE_SECURE`).
    pub cookie_secure: bool,
    /// `SameSite` of the refresh cookie (`SESSION_COOKIE_SAMESITE`).
    pub cookie_samesite: SameSite,
    /// `tracing` filter (`LOG_LEVEL`).
    pub log_level: String,
    /// Log format (`LOG_FORMAT`).
    pub log_format: LogFormat,
    /// Admin created on first start (`BOOTSTRAP_ADMIN_EMAIL` / `BOOTSTRAP_ADMIN_PASSWORD`).
    pub bootstrap_admin: Option<(String, Secret)>,
    /// Minimum password length in characters (12, 14 in production).
    pub password_min_chars: usize,
    /// Failed logins per account within the window before 429 (5, 3 in production).
    pub login_max_failures: u32,
    /// The throttling window in seconds (900).
    pub throttle_window_secs: u64,
    /// Argon2id cost.
    pub argon2: Argon2Params,
    /// How many password hashes may run at once (default: number of CPUs).
    pub hash_concurrency: usize,
    /// `Cache-Control: max-age` of the JWKS (`JWKS_MAX_AGE_SECS`).
    pub jwks_max_age_secs: u64,
    /// Delay between publishing a new key and signing with it (`KEY_PUBLISH_DELAY_SECS`).
    pub key_publish_delay_secs: u64,
    /// Algorithm of new signing keys (`SIGNING_ALG`: `RS256`, `ES256` or `EdDSA`).
    pub signing_alg: SigningAlg,
    /// How often an instance re-reads the signing keys from the database.
    pub key_reload_secs: u64,
    /// MFA-pending token lifetime (300 s at most).
    pub mfa_token_ttl_secs: u64,
    /// Password-reset token lifetime (1800 s).
    pub reset_token_ttl_secs: u64,
    /// Proxies whose forwarding header gives the client address (`TRUSTED_PROXIES`,
    /// `TRUSTED_PROXY_HEADER`); none by default, so the socket peer is the client.
    pub trusted_proxies: TrustedProxies,
}

/// Why configuration could not be loaded or is refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A variable has a value that cannot be parsed.
    #[error("invalid value for {name}: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
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

const DEV_DIR: &str = ".user-service-dev";

impl Config {
    /// Loads from the process environment and the `.env.{APP_ENV}` files.
    pub fn load() -> Result<Config, ConfigError> {
        let mut vars: HashMap<String, String> = std::env::vars().collect();
        let env_name = vars.get("APP_ENV").cloned().unwrap_or_else(|| "dev".into());
        let environment = Environment::parse(&env_name).ok_or(ConfigError::Invalid {
            name: "APP_ENV",
            reason: format!("{env_name:?} is not dev, staging or production"),
        })?;
        let dir = vars.get("USER_SERVICE_ENV_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
        for file in [format!(".env.{}.local", environment.as_str()), format!(".env.{}", environment.as_str())]
        {
            let path = dir.join(file);
            if path.exists() {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| ConfigError::Io(format!("reading {}: {e}", path.display())))?;
                for (key, value) in parse_env_file(&text) {
                    vars.entry(key).or_insert(value);
                }
            }
        }
        Config::from_vars(&vars)
    }

    /// Builds the configuration from a map of variables (no file or process lookup).
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let get = |name: &str| vars.get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let environment = match get("APP_ENV") {
            Some(v) => Environment::parse(&v).ok_or(ConfigError::Invalid {
                name: "APP_ENV",
                reason: format!("{v:?} is not dev, staging or production"),
            })?,
            None => Environment::Dev,
        };
        let prod = environment == Environment::Production;
        let dev = environment == Environment::Dev;
        let port = match get("USER_SERVICE_PORT") {
            Some(v) => parse_num("USER_SERVICE_PORT", &v)?,
            None => environment.default_port(),
        };
        let database_url = get("DATABASE_URL")
            .unwrap_or_else(|| format!("sqlite://{DEV_DIR}/{}.db?mode=rwc", environment.as_str()));
        let access_token_ttl_secs: u64 = match get("ACCESS_TOKEN_TTL_SECS") {
            Some(v) => parse_num("ACCESS_TOKEN_TTL_SECS", &v)?,
            None => 900,
        };
        if access_token_ttl_secs == 0 || access_token_ttl_secs > 900 {
            return Err(ConfigError::Invalid {
                name: "ACCESS_TOKEN_TTL_SECS",
                reason: "must be between 1 and 900 seconds".into(),
            });
        }
        let client_token_ttl_secs: u64 = match get("CLIENT_TOKEN_TTL_SECS") {
            Some(v) => parse_num("CLIENT_TOKEN_TTL_SECS", &v)?,
            None => 300,
        };
        if client_token_ttl_secs == 0 || client_token_ttl_secs > 900 {
            return Err(ConfigError::Invalid {
                name: "CLIENT_TOKEN_TTL_SECS",
                reason: "must be between 1 and 900 seconds".into(),
            });
        }
        let master_key = match get("MASTER_ENCRYPTION_KEY") {
            Some(v) => MasterKeySource::Env(Secret::new(v)),
            None if dev => MasterKeySource::DevFile(PathBuf::from(DEV_DIR).join("dev-master.key")),
            None => MasterKeySource::Missing,
        };
        let cookie_samesite = match get("SESSION_COOKIE_SAMESITE").map(|v| v.to_ascii_lowercase()) {
            None if dev => SameSite::Lax,
            None => SameSite::Strict,
            Some(v) if v == "lax" => SameSite::Lax,
            Some(v) if v == "strict" => SameSite::Strict,
            Some(v) if v == "none" => SameSite::None,
            Some(v) => {
                return Err(ConfigError::Invalid {
                    name: "SESSION_COOKIE_SAMESITE",
                    reason: format!("{v:?} is not lax, strict or none"),
                });
            }
        };
        let log_format = match get("LOG_FORMAT").map(|v| v.to_ascii_lowercase()) {
            None if dev => LogFormat::Text,
            None => LogFormat::Json,
            Some(v) if v == "text" => LogFormat::Text,
            Some(v) if v == "json" => LogFormat::Json,
            Some(v) => {
                return Err(ConfigError::Invalid {
                    name: "LOG_FORMAT",
                    reason: format!("{v:?} is not text or json"),
                });
            }
        };
        let bootstrap_admin = match (get("BOOTSTRAP_ADMIN_EMAIL"), vars.get("BOOTSTRAP_ADMIN_PASSWORD")) {
            (Some(email), Some(password)) if !password.is_empty() => {
                Some((email, Secret::new(password.clone())))
            }
            (None, None) => None,
            _ => {
                return Err(ConfigError::Invalid {
                    name: "BOOTSTRAP_ADMIN_EMAIL",
                    reason: "BOOTSTRAP_ADMIN_EMAIL and BOOTSTRAP_ADMIN_PASSWORD go together".into(),
                });
            }
        };
        let jwks_max_age_secs = match get("JWKS_MAX_AGE_SECS") {
            Some(v) => parse_num("JWKS_MAX_AGE_SECS", &v)?,
            None => 300,
        };
        Ok(Config {
            environment,
            host: get("USER_SERVICE_HOST").unwrap_or_else(|| "127.0.0.1".into()),
            port,
            database_url: Secret::new(database_url),
            redis_url: get("REDIS_URL").map(Secret::new),
            redis_tls_ca_file: get("REDIS_TLS_CA_FILE").map(PathBuf::from),
            allow_cleartext_datastores: match get("ALLOW_CLEARTEXT_DATASTORES") {
                None => false,
                Some(v) => parse_bool("ALLOW_CLEARTEXT_DATASTORES", &v)?,
            },
            smtp_url: get("SMTP_URL").map(Secret::new),
            smtp_from: get("SMTP_FROM").unwrap_or_else(|| "no-reply@localhost".into()),
            redis_key_prefix: get("REDIS_KEY_PREFIX")
                .unwrap_or_else(|| format!("user-service:{}:throttle:", environment.as_str())),
            public_url: get("PUBLIC_URL").map(|u| u.trim_end_matches('/').to_owned()),
            audience: get("JWT_AUDIENCE").unwrap_or_else(|| "trading-platform".into()),
            access_token_ttl_secs,
            refresh_token_ttl_secs: match get("REFRESH_TOKEN_TTL_SECS") {
                Some(v) => parse_num("REFRESH_TOKEN_TTL_SECS", &v)?,
                None => 30 * 24 * 3600,
            },
            client_token_ttl_secs,
            master_key,
            previous_master_key: get("MASTER_ENCRYPTION_KEY_PREVIOUS").map(Secret::new),
            cors_allowed_origins: get("CORS_ALLOWED_ORIGINS")
                .map(|v| v.split(',').map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()).collect())
                .unwrap_or_default(),
            cookie_secure: match get("SESSION_COOKIE_SECURE") {
                Some(v) => parse_bool("SESSION_COOKIE_SECURE", &v)?,
                None => !dev,
            },
            cookie_samesite,
            log_level: get("LOG_LEVEL").unwrap_or_else(|| "info".into()),
            log_format,
            bootstrap_admin,
            password_min_chars: if prod { 14 } else { 12 },
            login_max_failures: if prod { 3 } else { 5 },
            throttle_window_secs: 900,
            argon2: Argon2Params::OWASP,
            hash_concurrency: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            jwks_max_age_secs,
            key_publish_delay_secs: match get("KEY_PUBLISH_DELAY_SECS") {
                Some(v) => parse_num("KEY_PUBLISH_DELAY_SECS", &v)?,
                None => jwks_max_age_secs,
            },
            signing_alg: match get("SIGNING_ALG") {
                None => SigningAlg::RS256,
                Some(v) => SigningAlg::parse(&v).ok_or(ConfigError::Invalid {
                    name: "SIGNING_ALG",
                    reason: format!("{v:?} is not RS256, ES256 or EdDSA"),
                })?,
            },
            key_reload_secs: 30,
            mfa_token_ttl_secs: 300,
            reset_token_ttl_secs: 1800,
            trusted_proxies: trusted_proxies(get("TRUSTED_PROXIES"), get("TRUSTED_PROXY_HEADER"))?,
        })
    }

    /// Everything production would refuse in this configuration (empty when it is fine).
    pub fn production_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        match &self.master_key {
            MasterKeySource::Missing => problems.push("MASTER_ENCRYPTION_KEY is missing".to_owned()),
            MasterKeySource::DevFile(_) => {
                problems.push("MASTER_ENCRYPTION_KEY is the generated development key".to_owned())
            }
            MasterKeySource::Env(key) => {
                if is_dev_default_key(key.expose()) {
                    problems.push("MASTER_ENCRYPTION_KEY is a development default".to_owned());
                } else if crate::crypto::decode_master_key(key.expose()).is_err() {
                    problems.push("MASTER_ENCRYPTION_KEY is not base64 of 32 bytes".to_owned());
                }
            }
        }
        if self
            .previous_master_key
            .as_ref()
            .is_some_and(|k| crate::crypto::decode_master_key(k.expose()).is_err())
        {
            problems.push("MASTER_ENCRYPTION_KEY_PREVIOUS is not base64 of 32 bytes".to_owned());
        }
        if !self.cookie_secure {
            problems.push("SESSION_COOKIE_SECURE must be true".to_owned());
        }
        if self.cors_allowed_origins.iter().any(|o| o == "*") {
            problems.push("CORS_ALLOWED_ORIGINS must not allow *".to_owned());
        }
        if self.database_url.expose().starts_with("sqlite:") {
            problems.push("DATABASE_URL must be PostgreSQL, not SQLite".to_owned());
        }
        if !self.allow_cleartext_datastores {
            if crate::datastores::database_url_is_cleartext_remote(self.database_url.expose()) {
                problems.push(
                    "DATABASE_URL reaches another host without TLS: add ?sslmode=verify-full (or require), \
                     or set ALLOW_CLEARTEXT_DATASTORES=true"
                        .to_owned(),
                );
            }
            if self
                .redis_url
                .as_ref()
                .is_some_and(|u| crate::datastores::redis_url_is_cleartext_remote(u.expose()))
            {
                problems.push(
                    "REDIS_URL reaches another host without TLS: use rediss://, or set ALLOW_CLEARTEXT_DATASTORES=true"
                        .to_owned(),
                );
            }
        }
        if self.argon2.below_minimum() {
            problems.push("Argon2id parameters are below m=19456 KiB, t=2".to_owned());
        }
        if self.smtp_url.as_ref().is_some_and(|u| crate::mailer::smtp_url_is_cleartext_remote(u.expose())) {
            problems.push(
                "SMTP_URL sends mail unencrypted to a remote host: use smtps:// or ?tls=required".to_owned(),
            );
        }
        problems
    }

    /// Checks the configuration for its environment: production refuses every problem of
    /// [`Config::production_problems`] at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.environment == Environment::Production {
            let problems = self.production_problems();
            if !problems.is_empty() {
                return Err(ConfigError::Refused(problems));
            }
        }
        Ok(())
    }

    /// The effective configuration as `KEY=value` lines, secrets redacted.
    pub fn redacted_summary(&self) -> String {
        let db = redact_url(self.database_url.expose());
        let lines = [
            format!("APP_ENV={}", self.environment.as_str()),
            format!("USER_SERVICE_HOST={}", self.host),
            format!("USER_SERVICE_PORT={}", self.port),
            format!("DATABASE_URL={db}"),
            format!(
                "REDIS_URL={}",
                self.redis_url.as_ref().map(|u| redact_url(u.expose())).unwrap_or_default()
            ),
            format!(
                "REDIS_TLS_CA_FILE={}",
                self.redis_tls_ca_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default()
            ),
            format!("ALLOW_CLEARTEXT_DATASTORES={}", self.allow_cleartext_datastores),
            format!(
                "SMTP_URL={}",
                self.smtp_url.as_ref().map(|u| redact_url(u.expose())).unwrap_or_default()
            ),
            format!("PUBLIC_URL={}", self.issuer_for_port(self.port)),
            format!("JWT_AUDIENCE={}", self.audience),
            format!("ACCESS_TOKEN_TTL_SECS={}", self.access_token_ttl_secs),
            format!("REFRESH_TOKEN_TTL_SECS={}", self.refresh_token_ttl_secs),
            format!("CLIENT_TOKEN_TTL_SECS={}", self.client_token_ttl_secs),
            format!(
                "MASTER_ENCRYPTION_KEY={}",
                match &self.master_key {
                    MasterKeySource::Env(_) => "[redacted]".to_owned(),
                    MasterKeySource::DevFile(p) => format!("[dev key file {}]", p.display()),
                    MasterKeySource::Missing => "[missing]".to_owned(),
                }
            ),
            format!("CORS_ALLOWED_ORIGINS={}", self.cors_allowed_origins.join(",")),
            format!("SESSION_COOKIE_SECURE={}", self.cookie_secure),
            format!("SESSION_COOKIE_SAMESITE={}", self.cookie_samesite.as_str().to_ascii_lowercase()),
            format!("LOG_LEVEL={}", self.log_level),
            format!("LOG_FORMAT={}", if self.log_format == LogFormat::Json { "json" } else { "text" }),
            format!(
                "BOOTSTRAP_ADMIN_EMAIL={}",
                self.bootstrap_admin.as_ref().map(|(e, _)| e.as_str()).unwrap_or_default()
            ),
            format!("password_min_chars={}", self.password_min_chars),
            format!("login_max_failures={}", self.login_max_failures),
            format!("JWKS_MAX_AGE_SECS={}", self.jwks_max_age_secs),
            format!("KEY_PUBLISH_DELAY_SECS={}", self.key_publish_delay_secs),
            format!("SIGNING_ALG={}", self.signing_alg.as_str()),
        ];
        lines.join("\n")
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

fn parse_num<T: std::str::FromStr>(name: &'static str, value: &str) -> Result<T, ConfigError> {
    value.parse().map_err(|_| ConfigError::Invalid { name, reason: format!("{value:?} is not a number") })
}

fn parse_bool(name: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::Invalid { name, reason: format!("{value:?} is not a boolean") }),
    }
}

/// Parses `KEY=value` lines: `#` comments, optional `export `, optional quotes.
pub(crate) fn parse_env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                return None;
            }
            let line = line.strip_prefix("export ").unwrap_or(line);
            let (key, value) = line.split_once('=')?;
            let value = value.trim();
            let value = if value.len() >= 2
                && ((value.starts_with('"') && value.ends_with('"'))
                    || (value.starts_with('\'') && value.ends_with('\'')))
            {
                &value[1..value.len() - 1]
            } else {
                value
            };
            Some((key.trim().to_owned(), value.to_owned()))
        })
        .collect()
}

/// `TRUSTED_PROXIES` and `TRUSTED_PROXY_HEADER`, read as the core's adapters read them.
fn trusted_proxies(list: Option<String>, header: Option<String>) -> Result<TrustedProxies, ConfigError> {
    let invalid = |name, e: authgate::Error| ConfigError::Invalid { name, reason: e.detail().to_owned() };
    let proxies = match list {
        Some(v) => TrustedProxies::parse(&v).map_err(|e| invalid("TRUSTED_PROXIES", e))?,
        None => TrustedProxies::none(),
    };
    match header {
        Some(h) => Ok(proxies.header(h.parse().map_err(|e| invalid("TRUSTED_PROXY_HEADER", e))?)),
        None => Ok(proxies),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
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
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert_eq!(c.password_min_chars, 14);
        assert_eq!(c.login_max_failures, 3);
    }

    #[test]
    fn production_refuses_cleartext_smtp_to_a_remote_host_and_redacts_its_password() {
        let base = [
            ("APP_ENV", "production"),
            ("MASTER_ENCRYPTION_KEY", "dGVzdC1tYXN0ZXIta2V5LWZvci1pbnRlZ3JhdGlvbnM="),
            ("DATABASE_URL", "postgres://u:p@db/x?sslmode=verify-full"),
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

    #[test]
    fn production_refuses_cleartext_data_stores_on_other_hosts_unless_allowed() {
        let with = |db: &'static str, redis: &'static str, allow: &'static str| {
            let pairs = [
                ("APP_ENV", "production"),
                ("MASTER_ENCRYPTION_KEY", "dGVzdC1tYXN0ZXIta2V5LWZvci1pbnRlZ3JhdGlvbnM="),
                ("DATABASE_URL", db),
                ("REDIS_URL", redis),
                ("ALLOW_CLEARTEXT_DATASTORES", allow),
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
        ]))
        .unwrap();
        assert_eq!(
            c.production_problems(),
            vec!["MASTER_ENCRYPTION_KEY is a development default".to_owned()]
        );
    }

    #[test]
    fn env_file_lines_parse() {
        let parsed = parse_env_file("# c\nexport A=1\nB = \"two words\"\n\nC='x=y'\n");
        assert_eq!(
            parsed,
            vec![("A".into(), "1".into()), ("B".into(), "two words".into()), ("C".into(), "x=y".into())]
        );
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
