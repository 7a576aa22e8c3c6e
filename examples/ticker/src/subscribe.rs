//! Subscribing: which trading account a caller streams for, and its broker credentials.
//!
//! 1. `GET {USER_SERVICE_URL}/v1/users/me/accounts` with the caller's own token: the
//!    accounts they own or that are shared with them. None: 409 `no_trading_account`.
//!    The account is `?account_id=` when given (404 unless it is one of them), else the
//!    first owned account, else the first shared one.
//! 2. `GET {USER_SERVICE_URL}/v1/internal/trading-accounts/{id}/credentials` with the
//!    ticker's service-client token ([`ServiceTokens`]); user-service audits every read.
//! 3. A [`BrokerSession`] opened with them, owned by the one stream that needs it.
//!
//! Every failure is a [`SubscribeError`] with an HTTP status, a stable code and a
//! client-safe message; problems of the ticker's own setup are logged at ERROR.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde::{Deserialize, Serialize};

use crate::broker::{BrokerCredentials, BrokerError, BrokerSession};
use crate::config::{CREDENTIALS_SCOPE, Config};
use crate::service_token::{ServiceTokens, TokenError};

/// How long one call to user-service may take.
const USER_SERVICE_TIMEOUT: Duration = Duration::from_secs(5);

/// An account as `GET /v1/users/me/accounts` lists it.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct LinkedAccount {
    /// The account's id at user-service.
    pub id: String,
    /// `kite`.
    pub broker: String,
    /// The owner's name for it.
    pub label: String,
    /// The account's id at the broker.
    pub broker_user_id: String,
    /// The caller's role: `owner`, `trader` or `viewer`.
    pub role: String,
}

#[derive(Deserialize)]
struct MyAccounts {
    owned: Vec<LinkedAccount>,
    shared: Vec<LinkedAccount>,
}

/// Why a subscription was refused. [`Self::status`], [`Self::code`] and
/// [`Self::message`] are what the client sees; `Display` is the log line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubscribeError {
    /// The caller has no trading account, owned or shared.
    #[error("user {0} has no trading account")]
    NoTradingAccount(String),
    /// `?account_id=` names no account of the caller's (or it was deleted meanwhile).
    #[error("trading account {0:?} is not one of the caller's")]
    AccountNotFound(String),
    /// user-service refused the caller's token (e.g. the session was ended since).
    #[error("user-service refused the caller's token")]
    CallerRejected,
    /// The caller may not read trading accounts (`trading_accounts:read`).
    #[error("the caller lacks trading_accounts:read")]
    CallerForbidden,
    /// The ticker runs without `SERVICE_CLIENT_ID`/`SERVICE_CLIENT_SECRET` (dev only).
    #[error("no service client configured (SERVICE_CLIENT_ID/SERVICE_CLIENT_SECRET)")]
    NotConfigured,
    /// user-service refused the ticker's service client itself.
    #[error(transparent)]
    ClientRejected(TokenError),
    /// The service client lacks `trading_accounts:credentials:read`.
    #[error("the ticker's service client {client_id} lacks {CREDENTIALS_SCOPE} (HTTP 403 from user-service)")]
    CredentialsForbidden {
        /// The client id (public).
        client_id: String,
    },
    /// The stored credentials cannot open a broker session.
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// user-service is unreachable, failing or answering nonsense.
    #[error("user-service unavailable: {0}")]
    Unavailable(String),
}

impl SubscribeError {
    /// The HTTP status this refusal stands for.
    pub fn status(&self) -> StatusCode {
        match self {
            SubscribeError::NoTradingAccount(_) => StatusCode::CONFLICT,
            SubscribeError::AccountNotFound(_) => StatusCode::NOT_FOUND,
            SubscribeError::CallerRejected => StatusCode::UNAUTHORIZED,
            SubscribeError::CallerForbidden => StatusCode::FORBIDDEN,
            SubscribeError::Broker(_) => StatusCode::UNPROCESSABLE_ENTITY,
            SubscribeError::NotConfigured
            | SubscribeError::ClientRejected(_)
            | SubscribeError::CredentialsForbidden { .. }
            | SubscribeError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            SubscribeError::NoTradingAccount(_) => "no_trading_account",
            SubscribeError::AccountNotFound(_) => "trading_account_not_found",
            SubscribeError::CallerRejected => "invalid_token",
            SubscribeError::CallerForbidden => "insufficient_scope",
            SubscribeError::NotConfigured => "service_client_not_configured",
            SubscribeError::ClientRejected(TokenError::Scope { .. })
            | SubscribeError::CredentialsForbidden { .. } => "credentials_forbidden",
            SubscribeError::ClientRejected(_) => "service_client_rejected",
            SubscribeError::Broker(_) => "broker_credentials_incomplete",
            SubscribeError::Unavailable(_) => "user_service_unavailable",
        }
    }

    /// What to tell the user, in words. Never a secret, a token or an upstream error text.
    pub fn message(&self) -> &'static str {
        match self {
            SubscribeError::NoTradingAccount(_) => {
                "No trading account is linked to your login. Link one to receive quotes."
            }
            SubscribeError::AccountNotFound(_) => "That trading account is not one of yours.",
            SubscribeError::CallerRejected => "Your session has ended. Sign in again to receive quotes.",
            SubscribeError::CallerForbidden => "Your role may not read trading accounts.",
            SubscribeError::NotConfigured => {
                "The ticker has no service client configured, so it cannot read broker credentials \
                 (set SERVICE_CLIENT_ID and SERVICE_CLIENT_SECRET)."
            }
            SubscribeError::ClientRejected(TokenError::Scope { .. })
            | SubscribeError::CredentialsForbidden { .. } => {
                "The ticker may not read broker credentials: its service client lacks the \
                 trading_accounts:credentials:read scope."
            }
            SubscribeError::ClientRejected(_) => {
                "The identity service refused the ticker's service client; an operator must fix its \
                 SERVICE_CLIENT_ID/SERVICE_CLIENT_SECRET."
            }
            SubscribeError::Broker(_) => "The broker credentials of this trading account are incomplete.",
            SubscribeError::Unavailable(_) => "The identity service is unavailable. Try again shortly.",
        }
    }

    /// Whether the ticker's own setup (not the caller) is at fault: logged at ERROR.
    pub fn is_ours(&self) -> bool {
        matches!(
            self,
            SubscribeError::NotConfigured
                | SubscribeError::ClientRejected(_)
                | SubscribeError::CredentialsForbidden { .. }
        )
    }
}

impl From<TokenError> for SubscribeError {
    fn from(e: TokenError) -> SubscribeError {
        match e {
            TokenError::Unavailable(why) => SubscribeError::Unavailable(format!("token endpoint: {why}")),
            other => SubscribeError::ClientRejected(other),
        }
    }
}

fn unavailable(what: &str, e: &dyn std::fmt::Display) -> SubscribeError {
    SubscribeError::Unavailable(format!("{what}: {e}"))
}

/// Opens subscriptions: one per socket, sharing the HTTP client and the service token.
#[derive(Debug, Clone)]
pub struct Subscriptions {
    http: reqwest::Client,
    user_service_url: Arc<str>,
    tokens: Option<Arc<ServiceTokens>>,
}

impl Subscriptions {
    /// From `USER_SERVICE_URL` and the service client of `config`.
    pub fn new(config: &Config) -> Result<Subscriptions, authgate::Error> {
        let http = reqwest::Client::builder()
            .timeout(USER_SERVICE_TIMEOUT)
            .connect_timeout(USER_SERVICE_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("example-ticker/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                authgate::Error::new(authgate::ErrorKind::Configuration, format!("HTTP client: {e}"))
            })?;
        let tokens = config
            .service_client
            .clone()
            .map(|client| Arc::new(ServiceTokens::new(http.clone(), &config.user_service_url, client)));
        Ok(Subscriptions { http, user_service_url: config.user_service_url.as_str().into(), tokens })
    }

    /// Whether a service client is configured (without one every subscription is a 503).
    pub fn has_service_client(&self) -> bool {
        self.tokens.is_some()
    }

    /// Chooses the caller's account (`account_id`, else their first) and opens a broker
    /// session with its credentials. `caller_token` is the caller's access token,
    /// forwarded to user-service, which checks it again (including its session).
    pub async fn open(
        &self,
        user_id: &str,
        caller_token: &str,
        account_id: Option<&str>,
    ) -> Result<(LinkedAccount, BrokerSession), SubscribeError> {
        let tokens = self.tokens.as_deref().ok_or(SubscribeError::NotConfigured)?;
        let accounts = self.linked_accounts(caller_token).await?;
        let account = match account_id {
            Some(wanted) => accounts
                .into_iter()
                .find(|a| a.id == wanted)
                .ok_or_else(|| SubscribeError::AccountNotFound(wanted.to_owned()))?,
            None => accounts
                .into_iter()
                .next()
                .ok_or_else(|| SubscribeError::NoTradingAccount(user_id.to_owned()))?,
        };
        let credentials = self.credentials(tokens, &account.id).await?;
        Ok((account, BrokerSession::open(credentials)?))
    }

    /// Owned accounts first, then shared ones.
    async fn linked_accounts(&self, caller_token: &str) -> Result<Vec<LinkedAccount>, SubscribeError> {
        let url = format!("{}/v1/users/me/accounts", self.user_service_url);
        let response = self
            .http
            .get(url)
            .bearer_auth(caller_token)
            .send()
            .await
            .map_err(|e| unavailable("accounts", &e))?;
        match response.status() {
            StatusCode::OK => {
                let mine: MyAccounts = response.json().await.map_err(|e| unavailable("accounts", &e))?;
                Ok(mine.owned.into_iter().chain(mine.shared).collect())
            }
            StatusCode::UNAUTHORIZED => Err(SubscribeError::CallerRejected),
            StatusCode::FORBIDDEN => Err(SubscribeError::CallerForbidden),
            other => Err(SubscribeError::Unavailable(format!("accounts: HTTP {other}"))),
        }
    }

    /// The account's credentials with the service token; a token refused before its
    /// expiry is replaced once.
    async fn credentials(
        &self,
        tokens: &ServiceTokens,
        account_id: &str,
    ) -> Result<BrokerCredentials, SubscribeError> {
        let url = format!(
            "{}/v1/internal/trading-accounts/{}/credentials",
            self.user_service_url,
            url::form_urlencoded::byte_serialize(account_id.as_bytes()).collect::<String>()
        );
        for attempt in 0..2 {
            let token = tokens.token().await?;
            let response = self
                .http
                .get(&url)
                .bearer_auth(&token)
                .send()
                .await
                .map_err(|e| unavailable("credentials", &e))?;
            match response.status() {
                StatusCode::OK => {
                    return response.json().await.map_err(|e| unavailable("credentials", &e));
                }
                StatusCode::UNAUTHORIZED if attempt == 0 => tokens.forget(&token).await,
                StatusCode::UNAUTHORIZED => {
                    return Err(SubscribeError::ClientRejected(TokenError::Rejected {
                        client_id: tokens.client_id().to_owned(),
                        error: "invalid_token".to_owned(),
                    }));
                }
                StatusCode::FORBIDDEN => {
                    return Err(SubscribeError::CredentialsForbidden {
                        client_id: tokens.client_id().to_owned(),
                    });
                }
                StatusCode::NOT_FOUND => return Err(SubscribeError::AccountNotFound(account_id.to_owned())),
                other => return Err(SubscribeError::Unavailable(format!("credentials: HTTP {other}"))),
            }
        }
        Err(SubscribeError::Unavailable("credentials: no answer".to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_has_a_status_a_code_and_words() {
        let scope = TokenError::Scope { client_id: "svc_1".into(), error: "invalid_scope".into() };
        let rejected = TokenError::Rejected { client_id: "svc_1".into(), error: "invalid_client".into() };
        let cases = [
            (SubscribeError::NoTradingAccount("u1".into()), 409, "no_trading_account", false),
            (SubscribeError::AccountNotFound("a".into()), 404, "trading_account_not_found", false),
            (SubscribeError::CallerRejected, 401, "invalid_token", false),
            (SubscribeError::CallerForbidden, 403, "insufficient_scope", false),
            (SubscribeError::NotConfigured, 503, "service_client_not_configured", true),
            (SubscribeError::from(scope), 503, "credentials_forbidden", true),
            (SubscribeError::from(rejected), 503, "service_client_rejected", true),
            (
                SubscribeError::CredentialsForbidden { client_id: "svc_1".into() },
                503,
                "credentials_forbidden",
                true,
            ),
            (
                SubscribeError::from(TokenError::Unavailable("x".into())),
                503,
                "user_service_unavailable",
                false,
            ),
        ];
        for (e, status, code, ours) in cases {
            assert_eq!((e.status().as_u16(), e.code(), e.is_ours()), (status, code, ours), "{e}");
            assert!(e.message().ends_with('.'), "{}", e.message());
        }
    }
}
