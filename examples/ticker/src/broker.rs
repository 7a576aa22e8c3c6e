//! The broker side: the credentials of a trading account and the (simulated) market-data
//! session opened with them. Knows nothing of HTTP or sockets.
//!
//! Credentials live in memory only, for as long as the one stream that needs them, and
//! never reach a log: `Debug` prints the broker and account, masks the API key like
//! user-service does (`****` and the last 4 characters) and redacts the rest.

use std::fmt;

use serde::Deserialize;

use crate::quotes::Feed;

/// The decrypted credentials of a trading account, as
/// `GET /v1/internal/trading-accounts/{id}/credentials` answers them.
#[derive(Clone, Deserialize)]
pub struct BrokerCredentials {
    /// The trading account's id at user-service.
    pub account_id: String,
    /// `kite`.
    pub broker: String,
    /// The account's id at the broker.
    pub broker_user_id: String,
    credentials: Secrets,
}

#[derive(Clone, Deserialize)]
struct Secrets {
    api_key: String,
    api_secret: String,
    #[serde(default)]
    access_token: Option<String>,
}

/// `****` and the last 4 characters of values of 12 characters or more, `****` alone for
/// shorter ones: what user-service shows the account's members.
pub fn mask(value: &str) -> String {
    let n = value.chars().count();
    if n >= 12 {
        let tail: String = value.chars().skip(n - 4).collect();
        format!("****{tail}")
    } else {
        "****".to_owned()
    }
}

impl BrokerCredentials {
    /// The API key, masked.
    pub fn api_key_hint(&self) -> String {
        mask(&self.credentials.api_key)
    }
}

impl fmt::Debug for BrokerCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokerCredentials")
            .field("account_id", &self.account_id)
            .field("broker", &self.broker)
            .field("broker_user_id", &self.broker_user_id)
            .field("api_key", &self.api_key_hint())
            .field("api_secret", &"<redacted>")
            .field("access_token", &self.credentials.access_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Why a broker session could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The stored credentials cannot log in (an empty key or secret).
    #[error("the broker credentials of account {0} are incomplete")]
    IncompleteCredentials(String),
}

/// A market-data session at the broker, opened with an account's credentials.
///
/// This example simulates the broker: opening checks that the credentials are complete
/// and the feed is a random walk. A real ticker would log in to the broker's streaming
/// API here (Kite Connect: `api_key` + the daily `access_token`).
#[derive(Debug)]
pub struct BrokerSession {
    credentials: BrokerCredentials,
    feed: Feed,
}

impl BrokerSession {
    /// Logs in with `credentials`, which the session then owns (and drops with it).
    pub fn open(credentials: BrokerCredentials) -> Result<BrokerSession, BrokerError> {
        let secrets = &credentials.credentials;
        if secrets.api_key.trim().is_empty() || secrets.api_secret.trim().is_empty() {
            return Err(BrokerError::IncompleteCredentials(credentials.account_id.clone()));
        }
        Ok(BrokerSession { credentials, feed: Feed::default() })
    }

    /// The account this session streams for.
    pub fn credentials(&self) -> &BrokerCredentials {
        &self.credentials
    }

    /// The next quote of the session's feed.
    pub fn next_quote(&mut self) -> crate::quotes::Quote {
        self.feed.next_quote()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(api_key: &str, api_secret: &str) -> BrokerCredentials {
        serde_json::from_value(serde_json::json!({
            "account_id": "acc-1",
            "broker": "kite",
            "broker_user_id": "ZX0042",
            "credentials": {"api_key": api_key, "api_secret": api_secret, "access_token": "canary-session-3141"},
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn debug_shows_the_account_and_never_a_secret() {
        let c = credentials("kite-api-key-0042", "canary-secret-2718");
        let debug = format!("{c:?} {:?}", BrokerSession::open(c.clone()).unwrap_or_else(|e| panic!("{e}")));
        assert!(debug.contains("acc-1") && debug.contains("ZX0042") && debug.contains("****0042"), "{debug}");
        for secret in ["kite-api-key-0042", "canary-secret-2718", "canary-session-3141"] {
            assert!(!debug.contains(secret), "{secret} leaked: {debug}");
        }
    }

    #[test]
    fn masks_match_user_service() {
        assert_eq!(mask("kiteapikey0123456789"), "****6789");
        assert_eq!(mask("short"), "****");
        assert_eq!(mask(""), "****");
    }

    #[test]
    fn incomplete_credentials_open_no_session() {
        let e = BrokerSession::open(credentials(" ", "secret")).unwrap_err();
        assert_eq!(e.to_string(), "the broker credentials of account acc-1 are incomplete");
        let mut session = BrokerSession::open(credentials("key", "secret")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(session.next_quote().kind, "quote");
    }
}
