//! Key discovery: JWKS (at two paths) and OpenID Provider metadata.

use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use crate::error::{ApiError, ApiResult};
use crate::startup::AppState;

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(jwks, jwks_root, openid_configuration))]
pub(crate) struct Api;

/// A JSON Web Key Set (RFC 7517): the public keys that verify access tokens.
#[derive(utoipa::ToSchema)]
#[allow(dead_code, reason = "documents the JSON the key manager builds")]
struct Jwks {
    /// Public JWKs with `kid`, `alg`, `use: sig`.
    #[schema(value_type = Vec<Object>)]
    keys: Vec<serde_json::Value>,
}

/// OpenID Provider metadata (the subset this service supports).
#[derive(utoipa::ToSchema)]
#[allow(dead_code, reason = "documents the JSON the handler builds")]
struct OpenIdConfiguration {
    issuer: String,
    jwks_uri: String,
    token_endpoint: String,
    userinfo_endpoint: String,
    response_types_supported: Vec<String>,
    subject_types_supported: Vec<String>,
    id_token_signing_alg_values_supported: Vec<String>,
    token_endpoint_auth_methods_supported: Vec<String>,
    claims_supported: Vec<String>,
}

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/.well-known/jwks.json", get(jwks))
        .route("/.well-known/jwks.json", get(jwks_root))
        .route("/.well-known/openid-configuration", get(openid_configuration))
}

/// The JWKS: keys that sign now, the next key (published before it signs) and retired
/// keys until their last token expires.
#[utoipa::path(
    get,
    path = "/v1/auth/.well-known/jwks.json",
    tag = "discovery",
    responses((status = 200, description = "The key set (`Cache-Control: public, max-age`)", body = Jwks)),
)]
async fn jwks(State(state): State<AppState>) -> ApiResult<impl IntoResponse> {
    let body = state.keys.jwks(crate::now()).await.map_err(ApiError::internal)?;
    let cache = format!("public, max-age={}", state.config.jwks_max_age_secs);
    Ok(([(CACHE_CONTROL, cache)], Json(body)))
}

/// The JWKS at the conventional root path (same document).
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "discovery",
    responses((status = 200, description = "The key set", body = Jwks)),
)]
async fn jwks_root(state: State<AppState>) -> ApiResult<impl IntoResponse> {
    jwks(state).await
}

/// OpenID Provider metadata pointing at the JWKS.
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    tag = "discovery",
    responses((status = 200, description = "The metadata", body = OpenIdConfiguration)),
)]
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
