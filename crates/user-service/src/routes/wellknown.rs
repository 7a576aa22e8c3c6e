//! Key discovery: JWKS (at two paths) and OpenID Provider metadata.

use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use crate::error::{ApiError, ApiResult};
use crate::startup::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/.well-known/jwks.json", get(jwks))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/.well-known/openid-configuration", get(openid_configuration))
}

async fn jwks(State(state): State<AppState>) -> ApiResult<impl IntoResponse> {
    let body = state.keys.jwks(crate::now()).await.map_err(ApiError::internal)?;
    let cache = format!("public, max-age={}", state.config.jwks_max_age_secs);
    Ok(([(CACHE_CONTROL, cache)], Json(body)))
}

async fn openid_configuration(State(state): State<AppState>) -> impl IntoResponse {
    let iss = &state.issuer;
    let body = serde_json::json!({
        "issuer": iss,
        "jwks_uri": format!("{iss}/v1/auth/.well-known/jwks.json"),
        "token_endpoint": format!("{iss}/v1/auth/login"),
        "userinfo_endpoint": format!("{iss}/v1/users/me"),
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
        "token_endpoint_auth_methods_supported": ["none"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "sid", "email", "name", "roles", "permissions", "amr"],
    });
    let cache = format!("public, max-age={}", state.config.jwks_max_age_secs);
    ([(CACHE_CONTROL, cache)], Json(body))
}
