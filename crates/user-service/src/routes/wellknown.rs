//! Key discovery: JWKS (at two paths) and OpenID Provider metadata.

use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use crate::domain::error::{DomainError, DomainResult};
use crate::startup::AppState;

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(jwks, jwks_root, openid_configuration, authorization_server))]
pub(crate) struct Api;

/// A JSON Web Key Set (RFC 7517): the public keys that verify access tokens.
#[derive(utoipa::ToSchema)]
#[allow(dead_code, reason = "documents the JSON the key manager builds")]
struct Jwks {
    /// Public JWKs with `kid`, `alg`, `use: sig`.
    #[schema(value_type = Vec<Object>)]
    keys: Vec<serde_json::Value>,
}

/// Key discovery for consumers that look in the OpenID Connect place. This service is
/// not an OpenID provider (no authorization endpoint, no ID tokens): only fields that are
/// true of it are listed.
#[derive(utoipa::ToSchema)]
#[allow(dead_code, reason = "documents the JSON the handler builds")]
struct OpenIdConfiguration {
    /// The `iss` of every token this service signs.
    issuer: String,
    /// The JWKS.
    jwks_uri: String,
    /// The algorithms of the published signing keys (of access tokens: no ID token is
    /// ever issued; this is the field verifiers read to pin algorithms).
    id_token_signing_alg_values_supported: Vec<String>,
}

/// OAuth 2.0 Authorization Server Metadata (RFC 8414): the token endpoint grants
/// client credentials only.
#[derive(utoipa::ToSchema)]
#[allow(dead_code, reason = "documents the JSON the handler builds")]
struct AuthorizationServerMetadata {
    /// The `iss` of every token this service signs.
    issuer: String,
    /// The JWKS.
    jwks_uri: String,
    /// `/v1/auth/token`.
    token_endpoint: String,
    /// `["client_credentials"]`.
    grant_types_supported: Vec<String>,
    /// `["client_secret_basic", "client_secret_post"]`.
    token_endpoint_auth_methods_supported: Vec<String>,
    /// Empty: there is no authorization endpoint.
    response_types_supported: Vec<String>,
    /// The algorithms of the published signing keys (see the OpenID document).
    id_token_signing_alg_values_supported: Vec<String>,
}

/// The grant types `/v1/auth/token` accepts.
const GRANT_TYPES: &[&str] = &["client_credentials"];
/// How `/v1/auth/token` authenticates clients.
const TOKEN_ENDPOINT_AUTH_METHODS: &[&str] = &["client_secret_basic", "client_secret_post"];

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/.well-known/jwks.json", get(jwks))
        .route("/.well-known/jwks.json", get(jwks_root))
        .route("/.well-known/openid-configuration", get(openid_configuration))
        .route("/.well-known/oauth-authorization-server", get(authorization_server))
}

/// The JWKS: keys that sign now, the next key (published before it signs) and retired
/// keys until their last token expires.
#[utoipa::path(
    get,
    path = "/v1/auth/.well-known/jwks.json",
    tag = "discovery",
    responses((status = 200, description = "The key set (`Cache-Control: public, max-age`)", body = Jwks)),
)]
async fn jwks(State(state): State<AppState>) -> DomainResult<impl IntoResponse> {
    let body = state.keys.jwks(crate::now()).await.map_err(DomainError::internal)?;
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
async fn jwks_root(state: State<AppState>) -> DomainResult<impl IntoResponse> {
    jwks(state).await
}

/// Key discovery at the OpenID Connect path: issuer, JWKS and algorithms only. This is
/// not a full OpenID provider; use the RFC 8414 document for the token endpoint.
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    tag = "discovery",
    responses((status = 200, description = "The metadata", body = OpenIdConfiguration)),
)]
async fn openid_configuration(State(state): State<AppState>) -> DomainResult<impl IntoResponse> {
    let iss = &state.issuer;
    let body = serde_json::json!({
        "issuer": iss,
        "jwks_uri": jwks_uri(iss),
        "id_token_signing_alg_values_supported": signing_algs(&state).await?,
    });
    Ok(([(CACHE_CONTROL, cache_control(&state))], Json(body)))
}

/// OAuth 2.0 Authorization Server Metadata (RFC 8414).
#[utoipa::path(
    get,
    path = "/.well-known/oauth-authorization-server",
    tag = "discovery",
    responses((status = 200, description = "The metadata", body = AuthorizationServerMetadata)),
)]
async fn authorization_server(State(state): State<AppState>) -> DomainResult<impl IntoResponse> {
    let iss = &state.issuer;
    let body = serde_json::json!({
        "issuer": iss,
        "jwks_uri": jwks_uri(iss),
        "token_endpoint": format!("{iss}/v1/auth/token"),
        "grant_types_supported": GRANT_TYPES,
        "token_endpoint_auth_methods_supported": TOKEN_ENDPOINT_AUTH_METHODS,
        "response_types_supported": [],
        "id_token_signing_alg_values_supported": signing_algs(&state).await?,
    });
    Ok(([(CACHE_CONTROL, cache_control(&state))], Json(body)))
}

fn jwks_uri(issuer: &str) -> String {
    format!("{issuer}/v1/auth/.well-known/jwks.json")
}

fn cache_control(state: &AppState) -> String {
    format!("public, max-age={}", state.config.jwks_max_age_secs)
}

/// The distinct `alg` of the published keys, in JWKS order: what really signs (or will,
/// or did for tokens still valid), not every algorithm the code could use.
async fn signing_algs(state: &AppState) -> DomainResult<Vec<String>> {
    let keys = state.keys.keys(crate::now()).await.map_err(DomainError::internal)?;
    let mut algs: Vec<String> = Vec::new();
    for alg in keys.iter().filter_map(|k| k.jwk.get("alg").and_then(|a| a.as_str())) {
        if !algs.iter().any(|a| a == alg) {
            algs.push(alg.to_owned());
        }
    }
    Ok(algs)
}
