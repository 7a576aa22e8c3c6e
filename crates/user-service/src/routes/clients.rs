//! `/v1/auth/token` (client credentials), `/v1/admin/clients`, `/v1/internal/*`.

use axum::Router;

use crate::startup::AppState;

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
pub(crate) struct Api;

pub(crate) fn router(_state: &AppState) -> Router<AppState> {
    Router::new()
}
