//! Service clients (OAuth 2.0 client credentials, RFC 6749 section 4.4).

use crate::startup::{AppState, StartupError};

/// `clients create`: registers a client; returns `(client_id, client_secret)`, the secret
/// shown once.
pub(crate) async fn create(
    _state: &AppState,
    _name: &str,
    _scopes: &[String],
) -> Result<(String, String), StartupError> {
    Err(StartupError::Command("service clients are not implemented yet".into()))
}
