//! The authenticators the routes use, built from [`Config`].

use std::time::Duration;

use authgate::api_key::ApiKeyVerifier;
use authgate::client_addr::TrustedProxies;
use authgate::{AuthMode, Authenticator, Verifier};
use authgate_tower::AuthLayer;

use crate::config::Config;

/// The two authenticators of the backend. Both share one verifier, so one key cache
/// and one verified-token cache.
#[derive(Clone, Debug)]
pub struct Auth {
    /// Bearer JWTs only (`/api/me`, `/admin/...`).
    pub jwt: Authenticator,
    /// A JWT or an `X-API-Key` during the migration (`/api/positions`).
    pub jwt_or_api_key: Authenticator,
    /// `TRUSTED_PROXIES`: whose `X-Forwarded-For` names the client (per-client limits).
    pub proxies: TrustedProxies,
}

impl Auth {
    /// Keys from `JWKS_URL`, API keys checked with the user-service.
    pub fn from_config(config: &Config) -> Result<Auth, authgate::Error> {
        Ok(Auth {
            proxies: config.trusted_proxies.clone(),
            ..Auth::new(config.verifier()?, config.api_keys()?)?
        })
    }

    /// From a verifier and any API-key verifier (tests use static keys).
    pub fn new(verifier: Verifier, api_keys: impl ApiKeyVerifier) -> Result<Auth, authgate::Error> {
        let jwt_or_api_key = Authenticator::builder()
            .jwt(verifier.clone())
            .api_keys(api_keys)
            .mode(AuthMode::Either)
            .build()?;
        Ok(Auth { jwt: Authenticator::jwt(verifier), jwt_or_api_key, proxies: TrustedProxies::none() })
    }

    /// A layer requiring `authenticator`, resolving clients through the trusted proxies.
    pub fn layer(&self, authenticator: &Authenticator) -> AuthLayer {
        AuthLayer::new(authenticator.clone()).trusted_proxies(self.proxies.clone())
    }

    /// True once the signing keys are loaded (`/ready`).
    pub fn is_ready(&self) -> bool {
        self.jwt.is_ready()
    }

    /// Loads the signing keys, retrying every `retry` until it works, so `/ready` turns
    /// 200 as soon as the identity service answers.
    pub async fn warm_up(self, retry: Duration) {
        let Some(verifier) = self.jwt.verifier() else { return };
        loop {
            match verifier.refresh_keys().await {
                Ok(()) => {
                    tracing::info!("signing keys loaded");
                    return;
                }
                Err(e) => tracing::warn!(reason = %e, "signing keys not loaded yet; retrying"),
            }
            tokio::time::sleep(retry).await;
        }
    }
}
