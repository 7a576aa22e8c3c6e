//! Access tokens shaped like each identity provider's, from committed fixtures.
//!
//! Each provider has a fixture in `fixtures/providers/<name>.json` copied from its
//! documentation (the `source` field cites the page): the header (`typ` present or not,
//! as the provider sends it), every claim of a documented access token, the service
//! configuration that accepts it (`env`, the variables of
//! [`authgate::ServiceConfig`]), and the roles, permissions and scopes its preset must
//! read from it (`expect`). Minting keeps all of that, re-signs with a [`TestKey`] (its
//! `alg` and `kid`) and moves the times to now.
//!
//! ```
//! use authgate_testkit::TestKey;
//! use authgate_testkit::providers::Provider;
//!
//! let keycloak = Provider::Keycloak.fixture();
//! assert_eq!(keycloak.issuer(), "https://sso.example.com/realms/trading");
//! assert!(keycloak.source().starts_with("https://www.keycloak.org/"));
//! let token = keycloak.token(&TestKey::shared_rs256()).sign();
//! let id_token = keycloak.id_token(&TestKey::shared_rs256()).expect("Keycloak ID tokens differ by a claim").sign();
//! # let _ = (token, id_token);
//! ```

use std::fmt;

use serde_json::{Map, Value};

use crate::keys::TestKey;
use crate::token::{TokenBuilder, now};

/// The identity providers with a fixture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Provider {
    /// Our own user-service.
    Authgate,
    /// Keycloak.
    Keycloak,
    /// Auth0.
    Auth0,
    /// Microsoft Entra ID (v2.0 tokens).
    Entra,
    /// Okta (custom authorization server).
    Okta,
    /// Amazon Cognito user pools.
    Cognito,
}

impl Provider {
    /// Every provider with a fixture.
    pub const ALL: [Provider; 6] = [
        Provider::Authgate,
        Provider::Keycloak,
        Provider::Auth0,
        Provider::Entra,
        Provider::Okta,
        Provider::Cognito,
    ];

    /// The fixture's file name without `.json`.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Authgate => "authgate",
            Provider::Keycloak => "keycloak",
            Provider::Auth0 => "auth0",
            Provider::Entra => "entra",
            Provider::Okta => "okta",
            Provider::Cognito => "cognito",
        }
    }

    fn json(self) -> &'static str {
        match self {
            Provider::Authgate => include_str!("../fixtures/providers/authgate.json"),
            Provider::Keycloak => include_str!("../fixtures/providers/keycloak.json"),
            Provider::Auth0 => include_str!("../fixtures/providers/auth0.json"),
            Provider::Entra => include_str!("../fixtures/providers/entra.json"),
            Provider::Okta => include_str!("../fixtures/providers/okta.json"),
            Provider::Cognito => include_str!("../fixtures/providers/cognito.json"),
        }
    }

    /// The provider's fixture.
    ///
    /// # Panics
    ///
    /// If the committed fixture is not valid (a bug in this crate, caught by its tests).
    pub fn fixture(self) -> Fixture {
        let doc: Value = serde_json::from_str(self.json()).expect("provider fixtures are valid JSON");
        let object = |name: &str| doc[name].as_object().cloned().unwrap_or_default();
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default()
        };
        Fixture {
            provider: self,
            source: doc["source"].as_str().unwrap_or_default().to_owned(),
            env: object("env")
                .into_iter()
                .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_owned()))
                .collect(),
            header: object("header"),
            claims: object("claims"),
            grants: strings(&doc["grants"]),
            id_token_claims: doc["id_token_claims"].as_object().cloned(),
            roles: strings(&doc["expect"]["roles"]),
            permissions: strings(&doc["expect"]["permissions"]),
            scopes: strings(&doc["expect"]["scopes"]),
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One provider's documented access token, its configuration and what it grants.
#[derive(Debug, Clone)]
pub struct Fixture {
    provider: Provider,
    source: String,
    env: Vec<(String, String)>,
    header: Map<String, Value>,
    claims: Map<String, Value>,
    grants: Vec<String>,
    id_token_claims: Option<Map<String, Value>>,
    roles: Vec<String>,
    permissions: Vec<String>,
    scopes: Vec<String>,
}

/// Claims holding times, moved to now when minting.
const TIMES: [&str; 4] = ["iat", "nbf", "auth_time", "exp"];

impl Fixture {
    /// The provider.
    pub fn provider(&self) -> Provider {
        self.provider
    }
    /// The documentation page(s) the fixture follows.
    pub fn source(&self) -> &str {
        &self.source
    }
    /// The environment of a service accepting these tokens (`JWT_ISSUER`, ...), in the
    /// fixture's order; tests add `JWKS_URL` to point at their keys.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }
    /// One variable of [`Self::env`].
    pub fn var(&self, name: &str) -> Option<&str> {
        self.env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    /// The token's `iss`.
    pub fn issuer(&self) -> &str {
        self.claims.get("iss").and_then(Value::as_str).unwrap_or_default()
    }
    /// The token's `sub`.
    pub fn subject(&self) -> &str {
        self.claims.get("sub").and_then(Value::as_str).unwrap_or_default()
    }
    /// The documented claims, times as documented.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }
    /// The roles the provider's preset reads from the token.
    pub fn roles(&self) -> &[String] {
        &self.roles
    }
    /// The permissions the provider's preset reads from the token.
    pub fn permissions(&self) -> &[String] {
        &self.permissions
    }
    /// The scopes the provider's preset reads from the token.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The documented access token, signed by `key`, valid from now for an hour.
    pub fn token(&self, key: &TestKey) -> TokenBuilder {
        let mut builder = key.token();
        builder = match self.header.get("typ") {
            Some(typ) => builder.header("typ", typ.clone()),
            None => builder.remove_header("typ"),
        };
        for (name, value) in &self.header {
            if !matches!(name.as_str(), "alg" | "kid" | "typ") {
                builder = builder.header(name, value.clone());
            }
        }
        let now = now();
        let mut claims = self.claims.clone();
        for name in TIMES {
            if let Some(slot) = claims.get_mut(name) {
                *slot = Value::from(if name == "exp" { now + 3600 } else { now });
            }
        }
        builder.claims(Value::Object(claims))
    }

    /// The same token without the claims that carry its grants: a caller with no role,
    /// permission or group.
    pub fn token_without_grants(&self, key: &TestKey) -> TokenBuilder {
        self.grants.iter().fold(self.token(key), |b, name| b.remove_claim(name))
    }

    /// The provider's ID token, where it differs from its access token by a claim
    /// (Keycloak's `typ: ID`, Cognito's `token_use: id`): a verifier of access tokens
    /// must refuse it. `None` where only the audience tells them apart.
    pub fn id_token(&self, key: &TestKey) -> Option<TokenBuilder> {
        let changes = self.id_token_claims.as_ref()?;
        Some(changes.iter().fold(self.token(key), |b, (name, value)| b.claim(name, value.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fixture_cites_its_source_and_is_complete() {
        for provider in Provider::ALL {
            let f = provider.fixture();
            assert!(!f.source().is_empty(), "{provider}");
            if provider != Provider::Authgate {
                assert!(f.source().starts_with("https://"), "{provider}: {}", f.source());
            }
            assert_eq!(f.var("JWT_ISSUER"), Some(f.issuer()), "{provider}");
            assert!(!f.subject().is_empty() && f.header.contains_key("alg"), "{provider}");
            assert!(!f.roles().is_empty() || !f.permissions().is_empty(), "{provider} grants nothing");
            for grant in &f.grants {
                assert!(f.claims.contains_key(grant), "{provider}: {grant}");
            }
        }
    }

    #[test]
    fn minting_keeps_the_documented_shape_and_moves_times_to_now() {
        let key = TestKey::shared_rs256();
        for provider in Provider::ALL {
            let f = provider.fixture();
            let token = f.token(&key).sign();
            let parts: Vec<Value> = token
                .split('.')
                .take(2)
                .map(|p| {
                    use base64::Engine as _;
                    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).expect("b64");
                    serde_json::from_slice(&bytes).expect("json")
                })
                .collect();
            assert_eq!(parts[0].get("typ"), f.header.get("typ"), "{provider}");
            assert_eq!(parts[0]["kid"], key.kid(), "{provider}");
            assert!(parts[1]["exp"].as_u64() > Some(now()), "{provider}");
            assert_eq!(parts[1]["sub"], f.subject(), "{provider}");
        }
    }
}
