//! Key discovery: JWKS (at two paths) and OpenID Provider metadata.

use axum::Json;
use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::error::{DomainError, DomainResult};
use crate::state::AppState;

/// A JSON Web Key Set (RFC 7517): the public keys that verify access tokens.
#[derive(Serialize, utoipa::ToSchema)]
struct Jwks {
    /// Public JWKs with `kid`, `alg`, `use: sig`.
    #[schema(value_type = Vec<Object>)]
    keys: Vec<serde_json::Value>,
}

/// Key discovery for consumers that look in the OpenID Connect place. This service is
/// not an OpenID provider (no authorization endpoint, no ID tokens): only fields that are
/// true of it are listed.
#[derive(Serialize, utoipa::ToSchema)]
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
#[derive(Serialize, utoipa::ToSchema)]
struct AuthorizationServerMetadata {
    #[serde(flatten)]
    keys: OpenIdConfiguration,
    /// `/v1/auth/token`.
    token_endpoint: String,
    /// The grants `/v1/auth/token` accepts: `["client_credentials"]`.
    #[schema(value_type = Vec<String>)]
    grant_types_supported: &'static [&'static str],
    /// How `/v1/auth/token` authenticates clients.
    #[schema(value_type = Vec<String>)]
    token_endpoint_auth_methods_supported: &'static [&'static str],
    /// Empty: there is no authorization endpoint.
    #[schema(value_type = Vec<String>)]
    response_types_supported: &'static [&'static str],
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(jwks))
        .routes(routes!(jwks_root))
        .routes(routes!(openid_configuration))
        .routes(routes!(authorization_server))
}

/// `Cache-Control` of every discovery document.
type Cached<T> = ([(axum::http::HeaderName, String); 1], Json<T>);

fn cached<T>(state: &AppState, body: T) -> Cached<T> {
    ([(CACHE_CONTROL, format!("public, max-age={}", state.config.jwks_max_age_secs))], Json(body))
}

/// The JWKS: keys that sign now, the next key (published before it signs) and retired
/// keys until their last token expires.
#[utoipa::path(
    get,
    path = "/v1/auth/.well-known/jwks.json",
    responses((status = 200, description = "The key set (`Cache-Control: public, max-age`)", body = Jwks)),
)]
async fn jwks(State(state): State<AppState>) -> DomainResult<Cached<Jwks>> {
    let keys = state.keys.public_jwks(crate::now()).await.map_err(DomainError::internal)?;
    Ok(cached(&state, Jwks { keys }))
}

/// The JWKS at the conventional root path (same document).
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    responses((status = 200, description = "The key set", body = Jwks)),
)]
async fn jwks_root(state: State<AppState>) -> DomainResult<Cached<Jwks>> {
    jwks(state).await
}

/// Key discovery at the OpenID Connect path: issuer, JWKS and algorithms only. This is
/// not a full OpenID provider; use the RFC 8414 document for the token endpoint.
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    responses((status = 200, description = "The metadata", body = OpenIdConfiguration)),
)]
async fn openid_configuration(State(state): State<AppState>) -> DomainResult<Cached<OpenIdConfiguration>> {
    Ok(cached(&state, OpenIdConfiguration::of(&state).await?))
}

/// OAuth 2.0 Authorization Server Metadata (RFC 8414).
#[utoipa::path(
    get,
    path = "/.well-known/oauth-authorization-server",
    responses((status = 200, description = "The metadata", body = AuthorizationServerMetadata)),
)]
async fn authorization_server(
    State(state): State<AppState>,
) -> DomainResult<Cached<AuthorizationServerMetadata>> {
    let body = AuthorizationServerMetadata {
        token_endpoint: format!("{}/v1/auth/token", state.issuer),
        keys: OpenIdConfiguration::of(&state).await?,
        grant_types_supported: &["client_credentials"],
        token_endpoint_auth_methods_supported: &["client_secret_basic", "client_secret_post"],
        response_types_supported: &[],
    };
    Ok(cached(&state, body))
}

impl OpenIdConfiguration {
    async fn of(state: &AppState) -> DomainResult<OpenIdConfiguration> {
        let algs = state.keys.published_algs(crate::now()).await.map_err(DomainError::internal)?;
        Ok(OpenIdConfiguration {
            issuer: state.issuer.clone(),
            jwks_uri: format!("{}/v1/auth/.well-known/jwks.json", state.issuer),
            id_token_signing_alg_values_supported: algs,
        })
    }
}
