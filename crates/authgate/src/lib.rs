//! # authgate
//!
//! Framework-free verification of the access tokens and API keys a platform's identity
//! service issues: JWKS key sets with correct rotation, an RFC 8725-strict JWT verifier,
//! typed claims, permission requirements, API-key verification and a dual
//! JWT-or-API-key authenticator for migrations. The `authgate-tower` and
//! `authgate-actix` crates turn it into middleware and extractors; both answer with
//! the same RFC 6750 statuses, challenges and bodies because every [`Error`] already
//! knows them.
//!
//! ## A complete example
//!
#![cfg_attr(feature = "remote", doc = "```")]
#![cfg_attr(not(feature = "remote"), doc = "```ignore")]
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), authgate::Error> {
//! use authgate::{KeySet, KeySetConfig, Requirement, Verifier};
//! use authgate_testkit::{MockJwksServer, TestKey, standard_claims};
//!
//! // An identity provider publishing its keys (here, the testkit's mock server).
//! let idp = MockJwksServer::start().await;
//! let key = TestKey::shared_rs256();
//! idp.set_keys(&[&key]);
//!
//! // 1. Keys from a JWKS URL, fetched on first use and kept fresh.
//! let keys = KeySet::from_jwks_url(&idp.jwks_url())?;
//! let verifier = Verifier::builder()
//!     .issuer(idp.issuer(), keys)
//!     .audience("trading-platform")
//!     .build()?;
//!
//! let token = key
//!     .token()
//!     .claims(standard_claims(&idp.issuer(), "trading-platform", "user-7", 900))
//!     .claim("permissions", serde_json::json!(["admin:*"]))
//!     .sign();
//! let user = verifier.verify(&token).await?;
//! assert_eq!(user.user_id(), "user-7");
//!
//! // 2. A requirement check (403 insufficient_scope when unmet).
//! Requirement::permission("admin:delete").check(&user)?;
//!
//! // 3. OIDC discovery instead of a JWKS URL.
//! let discovered = KeySet::from_oidc_issuer(&idp.issuer(), KeySetConfig::default()).await?;
//! discovered.refresh().await?;
//! assert!(discovered.is_ready());
//! # Ok(()) }
//! ```
//!
//! ## Several issuers
//!
//! The issuer is picked by the token's unverified `iss`, then the token is verified only
//! with that issuer's keys and rules. An unknown issuer is rejected without any network
//! call.
//!
#![cfg_attr(feature = "remote", doc = "```")]
#![cfg_attr(not(feature = "remote"), doc = "```ignore")]
//! # fn main() -> Result<(), authgate::Error> {
//! use authgate::{Algorithm, Issuer, KeySet, Verifier};
//! let verifier = Verifier::builder()
//!     .issuer("http://127.0.0.1:8011", KeySet::from_jwks_url("http://127.0.0.1:8011/v1/auth/.well-known/jwks.json")?)
//!     .add_issuer(
//!         Issuer::new("https://partner.example", KeySet::from_jwks_url("https://partner.example/jwks")?)
//!             .audiences(["partner-gateway"])
//!             .algorithms([Algorithm::ES256]),
//!     )
//!     .audience("trading-platform")
//!     .build()?;
//! # let _ = verifier; Ok(()) }
//! ```
//!
//! ## Any identity provider
//!
//! Where roles, permissions and scopes are, and how access tokens are told from ID
//! tokens, is a [`ClaimMapping`] (presets for Keycloak, Auth0, Entra ID, Okta, Cognito);
//! a custom check refuses with a 403 carrying your message; providers without `aud` are
//! checked by their client id instead.
//!
#![cfg_attr(feature = "remote", doc = "```")]
#![cfg_attr(not(feature = "remote"), doc = "```ignore")]
//! # fn main() -> Result<(), authgate::Error> {
//! use authgate::{ClaimMapping, KeySet, KeySetConfig, Verifier};
//! let pool = "https://cognito-idp.us-west-2.amazonaws.com/us-west-2_EXAMPLE";
//! let verifier = Verifier::builder()
//!     .issuer(pool, KeySet::discover(pool, KeySetConfig::default())?)
//!     .skip_audience_check() // Cognito access tokens carry no `aud` (logged at WARN)
//!     .authorized_party("1example23456789")
//!     .claim_mapping(ClaimMapping::cognito())
//!     .check(|user| if user.has_role("suspended") { Err("this account is suspended") } else { Ok(()) })
//!     .build()?;
//! # let _ = verifier; Ok(()) }
//! ```
//!
//! [`ServiceConfig`] reads the same from the environment (`JWT_ISSUER`,
//! `JWT_CLAIMS_PRESET`...); `docs/providers.md` has each provider's lines.
//!
//! Custom claims: [`Verifier::verify_claims`] and [`Principal::claims_as`]. Dual
//! authentication: [`Authenticator`]. API keys: [`api_key`]. The client's address behind
//! reverse proxies: [`client_addr`].
//!
//! ## Feature flags
//!
//! Both are on by default; a service verifying with static keys only can turn them off
//! (`authgate = { version = "0.1", default-features = false }`) and builds no HTTP client.
//!
//! | feature | what it adds | dependencies it brings |
//! | --- | --- | --- |
//! | `remote` | keys from a JWKS URL or OIDC discovery (`KeySet::from_jwks_url`, `KeySet::discover`, `KeySet::from_oidc_issuer`, `KeySetConfig::http_client`), `api_key::RemoteApiKeyVerifier`, `ServiceConfig` | reqwest (rustls on aws-lc-rs, your own `reqwest::Client` if you pass one), url |
//! | `metrics` | the counters and histograms below | metrics |
//!
//! Always available: static key sets ([`KeySet::from_jwks_json`], [`KeySet::from_pem`],
//! [`KeySet::from_der`], [`KeySet::from_hmac_secret`]), the verifier and its token cache,
//! claim mappings, requirements, [`api_key::StaticApiKeys`] and custom
//! [`api_key::ApiKeyVerifier`]s, the [`Authenticator`]. Signatures always use aws-lc-rs.
//!
//! ## Metrics
//!
//! With the `metrics` feature, through the `metrics` facade:
//! `authgate_verifications_total{method,outcome}`, `authgate_auth_failures_total{reason}`,
//! `authgate_verify_duration_seconds{method}`, `authgate_token_cache_total{result}`,
//! `authgate_key_fetches_total{outcome}`, `authgate_key_fetch_seconds` (names in
//! [`metric_names`]). Tracing events carry rejection reasons, never tokens or keys.

#![forbid(unsafe_code)]
// docs.rs (nightly) labels items that need a feature.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod algorithm;
pub mod api_key;
mod authenticator;
mod claims;
pub mod client_addr;
mod clock;
mod error;
#[cfg(feature = "remote")]
mod fetch;
mod jose;
mod jwks;
mod key;
mod keyset;
pub mod mapping;
pub mod metric_names;
mod migration;
mod permission;
mod principal;
pub mod redact;
mod requirement;
#[cfg(feature = "remote")]
mod service_config;
mod source;
mod token_cache;
mod token_types;
mod verifier;
#[cfg(test)]
mod wycheproof;

pub use algorithm::Algorithm;
pub use authenticator::{Attempt, AuthMode, Authenticator, AuthenticatorBuilder};
pub use claims::{AccessClaims, AccessClaimsBuilder, Audience, ScopeList};
pub use clock::{Clock, SystemClock};
pub use error::{Error, ErrorKind};
pub use key::MIN_HMAC_SECRET_LEN;
pub use keyset::{KeySet, KeySetConfig};
pub use mapping::ClaimMapping;
pub use migration::{ApiKeyDeprecation, http_date};
pub use permission::permission_matches;
pub use principal::{ApiKeyInfo, AuthMethod, Principal, PrincipalBuilder};
pub use requirement::Requirement;
#[cfg(feature = "remote")]
#[cfg_attr(docsrs, doc(cfg(feature = "remote")))]
pub use service_config::ServiceConfig;
pub use source::{CredentialSource, Credentials, CredentialsBuilder, TokenSources};
pub use token_cache::TokenCacheConfig;
pub use token_types::TokenTypes;
pub use verifier::{Issuer, Verifier, VerifierBuilder};
