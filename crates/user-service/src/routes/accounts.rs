//! `/v1/trading-accounts`, `/v1/users/me/accounts`: trading accounts and members.

use axum::Router;

use crate::startup::AppState;

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
pub(crate) struct Api;

pub(crate) fn router(_state: &AppState) -> Router<AppState> {
    Router::new()
}
