//! The configuration of a consuming service, read from the environment, for any identity
//! provider.
//!
//! | variable | meaning | default |
//! | --- | --- | --- |
//! | `JWT_ISSUER` | the exact `iss` of accepted tokens | (required) |
//! | `JWT_AUDIENCE` | the audience tokens must name | (required unless the check is skipped) |
//! | `JWKS_URL` | where the signing keys are | found through OIDC discovery from `JWT_ISSUER` |
//! | `JWT_ALGORITHMS` | algorithm allow-list, comma list | `RS256` |
//! | `JWT_LEEWAY_SECS` | clock-skew allowance | `60` |
//! | `JWT_REQUIRE_TYP` | accepted header `typ` values, comma list, `absent` for none | the preset's rule, else `at+jwt` |
//! | `JWT_CLAIMS_PRESET` | `keycloak:<client>`, `auth0`, `entra`, `okta`, `cognito` or `standard` | `standard` |
//! | `JWT_ROLES_CLAIM` | where roles are: JSON pointers or claim names, comma list | the preset's |
//! | `JWT_PERMISSIONS_CLAIM` | where permissions are | the preset's |
//! | `JWT_SCOPE_CLAIM` | where scopes are | the preset's |
//! | `JWT_SKIP_AUDIENCE_CHECK` | `true` to accept any `aud` (logged at WARN) | `false` |
//! | `JWT_AUTHORIZED_PARTY` | clients (`azp`/`client_id`/`cid`) accepted, comma list | any |
//! | `API_KEY_VERIFY_URL` | the endpoint API keys are checked at (user-service's `/v1/users/me`) | (required for API keys) |
//! | `API_KEY_CACHE_TTL_SECS` | how long an accepted API key is trusted | `60` |
//! | `TRUSTED_PROXIES` | proxies whose forwarding header is believed, CIDR list | none |
//! | `TRUSTED_PROXY_HEADER` | `x-forwarded-for` or `forwarded` | `x-forwarded-for` |
//!
//! Empty values count as unset; a missing required value or one that cannot be used is
//! an [`ErrorKind::Configuration`] error naming the variable. The library has no
//! product defaults: a platform's own services supply theirs (see the examples'
//! `Config`).

use std::time::Duration;

use crate::algorithm::Algorithm;
use crate::api_key::RemoteApiKeyVerifier;
use crate::authenticator::{AuthMode, Authenticator};
use crate::client_addr::TrustedProxies;
use crate::error::{Error, ErrorKind};
use crate::keyset::{KeySet, KeySetConfig};
use crate::mapping::{ClaimMapping, ClaimPath, Grant};
use crate::token_types::TokenTypes;
use crate::verifier::{Issuer, Verifier};

/// How a service finds and checks its identity provider's tokens and API keys.
///
/// ```
/// use authgate::{AuthMode, ServiceConfig};
/// let env = [
///     ("JWT_ISSUER", "https://sso.example.com/realms/trading"),
///     ("JWT_AUDIENCE", "orders-api"),
///     ("JWT_CLAIMS_PRESET", "keycloak:orders-api"),
/// ];
/// let config = ServiceConfig::from_lookup(|name| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()))?;
/// assert_eq!(config.jwks_url, None); // keys found through discovery
/// let auth = config.authenticator(AuthMode::JwtOnly)?;
/// # let _ = auth;
///
/// // A required variable missing is an error naming it.
/// let err = ServiceConfig::from_lookup(|_| None).unwrap_err();
/// assert!(err.detail().starts_with("JWT_ISSUER"));
/// # Ok::<(), authgate::Error>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServiceConfig {
    /// `JWT_ISSUER`: the exact `iss` of accepted tokens.
    pub jwt_issuer: String,
    /// `JWT_AUDIENCE`: the audience accepted tokens must name; `None` only when the
    /// audience check is skipped.
    pub jwt_audience: Option<String>,
    /// `JWKS_URL`: where the signing keys are published; `None` to find them through
    /// OIDC discovery from the issuer.
    pub jwks_url: Option<String>,
    /// `JWT_ALGORITHMS`: the algorithm allow-list.
    pub jwt_algorithms: Vec<Algorithm>,
    /// `JWT_LEEWAY_SECS`: clock-skew allowance.
    pub jwt_leeway: Duration,
    /// `JWT_REQUIRE_TYP` (or the preset's rule): accepted header `typ` values.
    pub jwt_token_types: TokenTypes,
    /// `JWT_CLAIMS_PRESET` with `JWT_ROLES_CLAIM`, `JWT_PERMISSIONS_CLAIM` and
    /// `JWT_SCOPE_CLAIM` replacing the preset's sources.
    pub claim_mapping: ClaimMapping,
    /// `JWT_SKIP_AUDIENCE_CHECK`.
    pub jwt_skip_audience_check: bool,
    /// `JWT_AUTHORIZED_PARTY`: the clients tokens may be issued to; empty means any.
    pub jwt_authorized_parties: Vec<String>,
    /// `API_KEY_VERIFY_URL`: where API keys are checked.
    pub api_key_verify_url: Option<String>,
    /// `API_KEY_CACHE_TTL_SECS`: how long an accepted API key is trusted without asking
    /// again (a revoked key keeps working at most this long).
    pub api_key_cache_ttl: Duration,
    /// `TRUSTED_PROXIES` and `TRUSTED_PROXY_HEADER`: for the adapters' client address.
    pub trusted_proxies: TrustedProxies,
    http_client: Option<reqwest::Client>,
}

impl ServiceConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<ServiceConfig, Error> {
        ServiceConfig::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup` (tests pass a map; a platform's services can
    /// fall back to their own defaults there).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<ServiceConfig, Error> {
        let var = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let invalid =
            |name: &str, why: String| Error::new(ErrorKind::Configuration, format!("{name}: {why}"));
        let seconds = |name: &str, default: u64| match var(name) {
            None => Ok(Duration::from_secs(default)),
            Some(v) => v.parse().map(Duration::from_secs).map_err(|e| invalid(name, format!("{v:?}: {e}"))),
        };
        let list = |name: &str| -> Vec<String> {
            var(name)
                .map(|v| v.split(',').map(str::trim).filter(|e| !e.is_empty()).map(str::to_owned).collect())
                .unwrap_or_default()
        };

        let jwt_issuer = var("JWT_ISSUER").ok_or_else(|| {
            invalid("JWT_ISSUER", "required: the exact `iss` of the tokens to accept".into())
        })?;
        let jwt_skip_audience_check = match var("JWT_SKIP_AUDIENCE_CHECK").map(|v| v.to_ascii_lowercase()) {
            None => false,
            Some(v) if matches!(v.as_str(), "true" | "1" | "yes") => true,
            Some(v) if matches!(v.as_str(), "false" | "0" | "no") => false,
            Some(v) => return Err(invalid("JWT_SKIP_AUDIENCE_CHECK", format!("{v:?} is not true or false"))),
        };
        let jwt_audience = var("JWT_AUDIENCE");
        match (&jwt_audience, jwt_skip_audience_check) {
            (None, false) => {
                return Err(invalid(
                    "JWT_AUDIENCE",
                    "required: the audience tokens must name (or set JWT_SKIP_AUDIENCE_CHECK=true, \
                     with JWT_AUTHORIZED_PARTY, for providers whose tokens carry none)"
                        .into(),
                ));
            }
            (Some(_), true) => {
                return Err(invalid(
                    "JWT_SKIP_AUDIENCE_CHECK",
                    "true while JWT_AUDIENCE is set: choose one".into(),
                ));
            }
            _ => {}
        }

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

        let mut claim_mapping = match var("JWT_CLAIMS_PRESET") {
            None => ClaimMapping::standard(),
            Some(preset) => parse_preset(&preset).map_err(|why| invalid("JWT_CLAIMS_PRESET", why))?,
        };
        for (name, grant) in [
            ("JWT_ROLES_CLAIM", Grant::Roles),
            ("JWT_PERMISSIONS_CLAIM", Grant::Permissions),
            ("JWT_SCOPE_CLAIM", Grant::Scopes),
        ] {
            if var(name).is_some() {
                let paths = list(name)
                    .iter()
                    .map(|p| ClaimPath::parse(p))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|why| invalid(name, why))?;
                claim_mapping = claim_mapping.replace(grant, paths);
            }
        }
        let jwt_token_types = match var("JWT_REQUIRE_TYP") {
            Some(v) => {
                TokenTypes::parse(&v).map_err(|e| invalid("JWT_REQUIRE_TYP", e.detail().to_owned()))?
            }
            None => claim_mapping.preset_token_types().cloned().unwrap_or_else(TokenTypes::at_jwt),
        };

        let mut trusted_proxies = match var("TRUSTED_PROXIES") {
            None => TrustedProxies::none(),
            Some(v) => {
                TrustedProxies::parse(&v).map_err(|e| invalid("TRUSTED_PROXIES", e.detail().to_owned()))?
            }
        };
        if let Some(header) = var("TRUSTED_PROXY_HEADER") {
            let header =
                header.parse().map_err(|e: Error| invalid("TRUSTED_PROXY_HEADER", e.detail().to_owned()))?;
            trusted_proxies = trusted_proxies.header(header);
        }

        Ok(ServiceConfig {
            jwt_issuer,
            jwt_audience,
            jwks_url: var("JWKS_URL"),
            jwt_algorithms,
            jwt_leeway: seconds("JWT_LEEWAY_SECS", 60)?,
            jwt_token_types,
            claim_mapping,
            jwt_skip_audience_check,
            jwt_authorized_parties: list("JWT_AUTHORIZED_PARTY"),
            api_key_verify_url: var("API_KEY_VERIFY_URL"),
            api_key_cache_ttl: seconds("API_KEY_CACHE_TTL_SECS", 60)?,
            trusted_proxies,
            http_client: None,
        })
    }

    /// Fetches keys, discovery documents and API-key answers with `client` (a proxy, a
    /// private CA, a shared pool) instead of the built-in client. Deadlines, size caps
    /// and the refusal of redirected answers still apply.
    #[must_use]
    pub fn with_http_client(mut self, client: reqwest::Client) -> ServiceConfig {
        self.http_client = Some(client);
        self
    }

    /// A verifier for the configured issuer. Keys are fetched lazily (from `JWKS_URL`,
    /// or through discovery from `JWT_ISSUER`), so building never touches the network.
    pub fn verifier(&self) -> Result<Verifier, Error> {
        let key_config = KeySetConfig { http_client: self.http_client.clone(), ..KeySetConfig::default() };
        let keys = match &self.jwks_url {
            Some(url) => KeySet::from_jwks_url_with(url, key_config),
            None => KeySet::discover(&self.jwt_issuer, key_config),
        }
        .map_err(|e| {
            let name = if self.jwks_url.is_some() { "JWKS_URL" } else { "JWT_ISSUER" };
            Error::new(ErrorKind::Configuration, format!("{name}: {}", e.detail()))
        })?;
        let mut issuer = Issuer::new(&self.jwt_issuer, keys)
            .algorithms(self.jwt_algorithms.iter().copied())
            .claim_mapping(self.claim_mapping.clone())
            .token_types(self.jwt_token_types.clone());
        issuer = match &self.jwt_audience {
            Some(audience) => issuer.audiences([audience]),
            None => issuer.skip_audience_check(),
        };
        if !self.jwt_authorized_parties.is_empty() {
            issuer = issuer.authorized_parties(self.jwt_authorized_parties.iter().cloned());
        }
        Verifier::builder().add_issuer(issuer).leeway(self.jwt_leeway).build()
    }

    /// An API-key verifier asking `API_KEY_VERIFY_URL`, caching answers for
    /// `API_KEY_CACHE_TTL_SECS`.
    pub fn api_keys(&self) -> Result<RemoteApiKeyVerifier, Error> {
        let url = self.api_key_verify_url.as_deref().ok_or_else(|| {
            Error::new(ErrorKind::Configuration, "API_KEY_VERIFY_URL: required to accept API keys")
        })?;
        let mut keys = RemoteApiKeyVerifier::from_url(url)
            .map_err(|e| Error::new(ErrorKind::Configuration, format!("API_KEY_VERIFY_URL: {}", e.detail())))?
            .positive_ttl(self.api_key_cache_ttl);
        if let Some(client) = &self.http_client {
            keys = keys.http_client(client.clone());
        }
        Ok(keys)
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

fn parse_preset(preset: &str) -> Result<ClaimMapping, String> {
    let (name, argument) = match preset.split_once(':') {
        Some((name, argument)) => (name.trim(), Some(argument.trim())),
        None => (preset.trim(), None),
    };
    match (name.to_ascii_lowercase().as_str(), argument) {
        ("keycloak", Some(client)) if !client.is_empty() => Ok(ClaimMapping::keycloak(client)),
        ("keycloak", _) => Err("keycloak needs its client: keycloak:<client-id>".into()),
        ("auth0", None) => Ok(ClaimMapping::auth0()),
        ("entra", None) => Ok(ClaimMapping::entra()),
        ("okta", None) => Ok(ClaimMapping::okta()),
        ("cognito", None) => Ok(ClaimMapping::cognito()),
        ("standard", None) => Ok(ClaimMapping::standard()),
        _ => Err(format!(
            "unknown preset {preset:?}: use keycloak:<client-id>, auth0, entra, okta, cognito or standard"
        )),
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

    const BASE: [(&str, &str); 2] = [("JWT_ISSUER", "https://id.example"), ("JWT_AUDIENCE", "api")];

    #[test]
    fn issuer_and_audience_are_required_and_named() {
        let e = from(&[]).unwrap_err();
        assert!(e.detail().starts_with("JWT_ISSUER: required"), "{e}");
        let e = from(&BASE[..1]).unwrap_err();
        assert!(e.detail().starts_with("JWT_AUDIENCE: required"), "{e}");
        let c = from(&BASE).unwrap();
        assert_eq!((c.jwt_issuer.as_str(), c.jwt_audience.as_deref()), ("https://id.example", Some("api")));
        assert_eq!(c.jwks_url, None);
        assert_eq!(c.jwt_token_types, TokenTypes::at_jwt());
        assert_eq!(c.claim_mapping, ClaimMapping::standard());
        assert_eq!((c.jwt_leeway.as_secs(), c.api_key_cache_ttl.as_secs()), (60, 60));
        assert!(c.trusted_proxies.is_empty() && c.api_key_verify_url.is_none());
    }

    #[test]
    fn skipping_the_audience_is_explicit_and_exclusive() {
        let c = from(&[
            ("JWT_ISSUER", "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_X"),
            ("JWT_SKIP_AUDIENCE_CHECK", "true"),
            ("JWT_AUTHORIZED_PARTY", "client-a, client-b"),
            ("JWT_CLAIMS_PRESET", "cognito"),
        ])
        .unwrap();
        assert!(c.jwt_skip_audience_check && c.jwt_audience.is_none());
        assert_eq!(c.jwt_authorized_parties, ["client-a", "client-b"]);
        assert_eq!(c.jwt_token_types, TokenTypes::untyped());
        assert!(c.verifier().is_ok());
        let e = from(&[BASE[0], BASE[1], ("JWT_SKIP_AUDIENCE_CHECK", "true")]).unwrap_err();
        assert!(e.detail().starts_with("JWT_SKIP_AUDIENCE_CHECK"), "{e}");
        let e = from(&[BASE[0], ("JWT_SKIP_AUDIENCE_CHECK", "maybe")]).unwrap_err();
        assert!(e.detail().starts_with("JWT_SKIP_AUDIENCE_CHECK"), "{e}");
    }

    #[test]
    fn presets_and_claim_overrides_and_typ() {
        let c = from(&[BASE[0], BASE[1], ("JWT_CLAIMS_PRESET", "keycloak:orders")]).unwrap();
        assert_eq!(c.claim_mapping, ClaimMapping::keycloak("orders"));
        assert_eq!(c.jwt_token_types, TokenTypes::only(["JWT", "at+jwt"]));
        let c = from(&[
            BASE[0],
            BASE[1],
            ("JWT_CLAIMS_PRESET", "auth0"),
            ("JWT_ROLES_CLAIM", "https://example.com/roles"),
            ("JWT_REQUIRE_TYP", "at+jwt"),
        ])
        .unwrap();
        assert_eq!(c.claim_mapping, ClaimMapping::auth0().roles_from("https://example.com/roles"));
        assert_eq!(c.jwt_token_types, TokenTypes::at_jwt());
        for (name, value) in [
            ("JWT_CLAIMS_PRESET", "keycloak"),
            ("JWT_CLAIMS_PRESET", "ping"),
            ("JWT_ROLES_CLAIM", "/a~5"),
            ("JWT_REQUIRE_TYP", ","),
            ("TRUSTED_PROXIES", "10.0.0.0/99"),
            ("TRUSTED_PROXY_HEADER", "x-real-ip"),
            ("JWT_ALGORITHMS", "RS256,none"),
            ("API_KEY_CACHE_TTL_SECS", "soon"),
        ] {
            let e = from(&[BASE[0], BASE[1], (name, value)]).unwrap_err();
            assert!(e.detail().starts_with(name), "{name}: {e}");
        }
    }

    #[test]
    fn urls_are_checked_when_used_and_api_keys_need_their_url() {
        let c = from(&[BASE[0], BASE[1], ("JWKS_URL", "http://idp.example/jwks")]).unwrap();
        let e = c.verifier().unwrap_err();
        assert!(e.detail().starts_with("JWKS_URL"), "{e}");
        let e = from(&BASE).unwrap().authenticator(AuthMode::Either).unwrap_err();
        assert!(e.detail().starts_with("API_KEY_VERIFY_URL"), "{e}");
        let c = from(&[BASE[0], BASE[1], ("API_KEY_VERIFY_URL", "http://127.0.0.1:9/v1/users/me")]).unwrap();
        assert!(c.authenticator(AuthMode::Either).is_ok());
        let c = from(&[("JWT_ISSUER", "http://idp.example"), BASE[1]]).unwrap();
        assert!(c.verifier().unwrap_err().detail().starts_with("JWT_ISSUER"));
    }
}
