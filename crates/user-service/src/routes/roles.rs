//! `/v1/permissions`, `/v1/roles`: the role catalog.

use axum::Router;

use crate::startup::AppState;

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
pub(crate) struct Api;

pub(crate) fn router(_state: &AppState) -> Router<AppState> {
    Router::new()
}
