//! `/openapi.json` (OpenAPI 3.1, generated with utoipa) and `/docs` (Swagger UI from
//! vendored files).

use axum::Router;
use utoipa::OpenApi;

use crate::startup::AppState;

/// The whole document: every route module contributes its own `Api`.
pub(crate) fn document() -> utoipa::openapi::OpenApi {
    let mut doc = super::api_keys::Api::openapi();
    doc.merge(super::accounts::Api::openapi());
    doc.merge(super::clients::Api::openapi());
    doc.merge(super::roles::Api::openapi());
    doc
}

pub(crate) fn router() -> Router<AppState> {
    let json = document().to_json().unwrap_or_default();
    Router::new().route("/openapi.json", axum::routing::get(move || async move { json }))
}
