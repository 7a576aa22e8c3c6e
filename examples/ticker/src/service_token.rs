//! The ticker's own access token: OAuth 2.0 client credentials (RFC 6749 section 4.4) at
//! user-service's `POST /v1/auth/token`, cached until shortly before it expires.
//!
//! Single flight: callers queue on one async mutex, so however many sockets subscribe at
//! once, one token request is in flight and the others reuse its answer. The token and
//! the client secret never reach a log (`Debug` redacts them).

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::config::ServiceClient;

/// Renew this long before expiry at most (a third of the lifetime for short-lived tokens).
const RENEW_BEFORE: Duration = Duration::from_secs(30);

/// Why no service token could be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// user-service refused the client (`invalid_client`: unknown, revoked or a wrong secret).
    #[error("user-service refused the ticker's service client {client_id}: {error}")]
    Rejected {
        /// The client id (public).
        client_id: String,
        /// The RFC 6749 error code.
        error: String,
    },
    /// The client may not have the scopes it asked for (`invalid_scope`).
    #[error("the ticker's service client {client_id} lacks a scope: {error}")]
    Scope {
        /// The client id (public).
        client_id: String,
        /// The RFC 6749 error code.
        error: String,
    },
    /// Unreachable, a 5xx or 429, or an answer that is not a token response.
    #[error("the token endpoint is unavailable: {0}")]
    Unavailable(String),
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

#[derive(Deserialize)]
struct OAuthError {
    error: String,
}

/// A cached token and when to fetch the next one.
struct Cached {
    token: String,
    renew_at: Instant,
}

/// Fetches and caches the service client's access token.
pub struct ServiceTokens {
    http: reqwest::Client,
    token_url: String,
    client: ServiceClient,
    cached: Mutex<Option<Cached>>,
}

impl fmt::Debug for ServiceTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceTokens")
            .field("token_url", &self.token_url)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

/// `application/x-www-form-urlencoded` encoding, which RFC 6749 section 2.3.1 asks for
/// the client id and secret before they go into HTTP Basic.
fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

impl ServiceTokens {
    /// Tokens for `client` from `{user_service_url}/v1/auth/token`.
    pub fn new(http: reqwest::Client, user_service_url: &str, client: ServiceClient) -> ServiceTokens {
        ServiceTokens {
            http,
            token_url: format!("{user_service_url}/v1/auth/token"),
            client,
            cached: Mutex::new(None),
        }
    }

    /// The client id (for logs: it is public).
    pub fn client_id(&self) -> &str {
        &self.client.client_id
    }

    /// A token valid for a while yet: the cached one, or a new one.
    pub async fn token(&self) -> Result<String, TokenError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| Instant::now() < c.renew_at) {
            return Ok(c.token.clone());
        }
        let (token, lifetime) = self.fetch().await?;
        let renew_at = Instant::now() + lifetime.saturating_sub(RENEW_BEFORE.min(lifetime / 3));
        *cached = Some(Cached { token: token.clone(), renew_at });
        Ok(token)
    }

    /// Forgets `token` (user-service refused it before its expiry, e.g. after a signing-key
    /// rotation), so the next [`Self::token`] fetches a new one. A token already replaced
    /// by another caller is left alone.
    pub async fn forget(&self, token: &str) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|c| c.token == token) {
            *cached = None;
        }
    }

    async fn fetch(&self) -> Result<(String, Duration), TokenError> {
        let unavailable = |e: &dyn fmt::Display| TokenError::Unavailable(e.to_string());
        let response = self
            .http
            .post(&self.token_url)
            .basic_auth(form_encode(&self.client.client_id), Some(form_encode(self.client.secret())))
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        let status = response.status();
        if status.is_success() {
            let body: TokenResponse = response.json().await.map_err(|e| unavailable(&e))?;
            tracing::debug!(client_id = %self.client.client_id, expires_in = body.expires_in, "service token fetched");
            return Ok((body.access_token, Duration::from_secs(body.expires_in)));
        }
        let error = response.json::<OAuthError>().await.map(|e| e.error).unwrap_or_default();
        let client_id = self.client.client_id.clone();
        match (status.as_u16(), error.as_str()) {
            (400 | 401, "invalid_client" | "unauthorized_client") => {
                Err(TokenError::Rejected { client_id, error })
            }
            (400, "invalid_scope") => Err(TokenError::Scope { client_id, error }),
            _ => Err(TokenError::Unavailable(format!("HTTP {status} {error}"))),
        }
    }
}
