//! Trading accounts: broker credentials encrypted with the master key, memberships and
//! the roles members hold.

use crate::error::ApiResult;
use crate::startup::{AppState, StartupError};

/// The decrypted credentials of a trading account, as the internal credentials endpoint
/// returns them (`None`: no such account).
#[expect(dead_code, reason = "used by the internal credentials endpoint, still to come")]
pub(crate) async fn account_credentials(
    _state: &AppState,
    _account_id: &str,
) -> ApiResult<Option<serde_json::Value>> {
    Err(crate::error::ApiError::internal("trading accounts are not implemented yet"))
}

/// `keys rotate-master`: starts a new master-key version; returns a summary.
pub(crate) async fn rotate_master(_state: &AppState) -> Result<String, StartupError> {
    Err(StartupError::Command("rotate-master is not implemented yet".into()))
}
