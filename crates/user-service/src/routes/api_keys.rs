//! `/v1/api-keys`: API keys of the calling user (the rules: [`crate::domain::api_keys`]).
//!
//! Managing keys needs `api_keys:manage` and a bearer token: these endpoints never accept
//! a key, so a leaked key cannot mint more.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, LOCATION};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::caller::Acting;
use super::openapi::{BodyErrors, ErrorBody, PageErrors, PermissionErrors};
use super::users::Page;
use super::views::rfc3339;
use crate::domain::api_key_auth::api_key_environment;
use crate::domain::api_keys::{ApiKeys, CreateApiKey, UpdateApiKey};
use crate::domain::error::DomainResult;
use crate::routes::error::{ApiJson, ApiQuery};
use crate::state::AppState;
use crate::store::{ApiKey, ApiKeyUsageRow};

pub(crate) fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_key, list_keys))
        .routes(routes!(get_key, update_key, revoke_key))
        .routes(routes!(rotate_key))
        .routes(routes!(key_usage))
        .route_layer(super::caller::auth_layer(state))
}

fn keys(state: &AppState) -> ApiKeys<'_> {
    ApiKeys { db: &state.db, environment: api_key_environment(state.config.environment) }
}

/// Whether a key works.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ApiKeyStatus {
    Active,
    Expired,
    Revoked,
}

/// A key as listed: never the key itself nor its hash.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ApiKeyView {
    id: String,
    name: String,
    /// The key's first characters (`ak_live_AbCd`), to recognise it.
    prefix: String,
    permissions: Vec<String>,
    trading_account_id: Option<String>,
    status: ApiKeyStatus,
    /// RFC 3339 times.
    created_at: String,
    expires_at: Option<String>,
    last_used_at: Option<String>,
    revoked_at: Option<String>,
}

impl From<&ApiKey> for ApiKeyView {
    fn from(k: &ApiKey) -> ApiKeyView {
        let status = if k.revoked_at.is_some() {
            ApiKeyStatus::Revoked
        } else if k.is_expired(crate::now()) {
            ApiKeyStatus::Expired
        } else {
            ApiKeyStatus::Active
        };
        ApiKeyView {
            id: k.id.clone(),
            name: k.name.clone(),
            prefix: k.display_prefix.clone(),
            permissions: k.permissions.clone(),
            trading_account_id: k.trading_account_id.clone(),
            status,
            created_at: rfc3339(k.created_at),
            expires_at: k.expires_at.map(rfc3339),
            last_used_at: k.last_used_at.map(rfc3339),
            revoked_at: k.revoked_at.map(rfc3339),
        }
    }
}

/// A new key: the only answer that ever contains `key`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct CreatedApiKey {
    /// The full key. Shown once: only its SHA-256 is stored.
    key: String,
    #[serde(flatten)]
    api_key: ApiKeyView,
}

/// `GET /v1/api-keys`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ApiKeyList {
    api_keys: Vec<ApiKeyView>,
}

/// One use of a key.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct UsageEntry {
    /// RFC 3339.
    time: String,
    ip: Option<String>,
    route: String,
    /// `success`, `revoked`, `expired` or `owner_disabled`.
    outcome: String,
}

/// A page of uses, newest first.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct UsagePage {
    usage: Vec<UsageEntry>,
    limit: i64,
    offset: i64,
}

/// 201 with the key, `Location`, and `Cache-Control: no-store` (the body holds a secret).
fn created((key, row): (String, ApiKey)) -> Response {
    let location = HeaderValue::from_str(&format!("/v1/api-keys/{}", row.id))
        .unwrap_or_else(|_| HeaderValue::from_static("/v1/api-keys"));
    let body = CreatedApiKey { key, api_key: ApiKeyView::from(&row) };
    (
        StatusCode::CREATED,
        [(LOCATION, location), (CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(body),
    )
        .into_response()
}

/// Creates a key; the answer is the only time the key is shown.
#[utoipa::path(
    post,
    path = "/v1/api-keys",
    request_body = CreateApiKey,
    responses(
        (status = 201, description = "The new key, shown once", body = CreatedApiKey),
        BodyErrors,
        PermissionErrors,
        (status = 400, description = "Invalid name, permissions, lifetime or account id", body = ErrorBody),
        (status = 403, description = "Missing api_keys:manage, or a permission the caller lacks", body = ErrorBody),
        (status = 404, description = "The trading account is not one of the caller's", body = ErrorBody),
        (status = 409, description = "Too many active keys", body = ErrorBody),
    ),
    security(("bearer" = ["api_keys:manage"]))
)]
async fn create_key(
    State(state): State<AppState>,
    me: Acting,
    ApiJson(body): ApiJson<CreateApiKey>,
) -> DomainResult<Response> {
    Ok(created(keys(&state).create(&me.actor(), body).await?))
}

/// The caller's keys, newest first, revoked ones included; never a key or its hash.
#[utoipa::path(
    get,
    path = "/v1/api-keys",
    responses((status = 200, description = "The caller's keys", body = ApiKeyList), PermissionErrors),
    security(("bearer" = ["api_keys:manage"]))
)]
async fn list_keys(State(state): State<AppState>, me: Acting) -> DomainResult<Json<ApiKeyList>> {
    let rows = keys(&state).of_user(&me.actor()).await?;
    Ok(Json(ApiKeyList { api_keys: rows.iter().map(ApiKeyView::from).collect() }))
}

/// One of the caller's keys.
#[utoipa::path(
    get,
    path = "/v1/api-keys/{id}",
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 200, description = "The key", body = ApiKeyView),
        PermissionErrors,
        (status = 404, description = "No such key of the caller", body = ErrorBody),
    ),
    security(("bearer" = ["api_keys:manage"]))
)]
async fn get_key(
    State(state): State<AppState>,
    me: Acting,
    Path(id): Path<String>,
) -> DomainResult<Json<ApiKeyView>> {
    Ok(Json(ApiKeyView::from(&keys(&state).get(&me.actor(), &id).await?)))
}

/// Renames a key or changes its permissions (still a subset of the caller's).
#[utoipa::path(
    patch,
    path = "/v1/api-keys/{id}",
    params(("id" = String, Path, description = "Key id")),
    request_body = UpdateApiKey,
    responses(
        (status = 200, description = "The updated key", body = ApiKeyView),
        BodyErrors,
        PermissionErrors,
        (status = 400, description = "Invalid name or permissions", body = ErrorBody),
        (status = 403, description = "Missing api_keys:manage, or a permission the caller lacks", body = ErrorBody),
        (status = 404, description = "No such key of the caller", body = ErrorBody),
        (status = 409, description = "The key is revoked", body = ErrorBody),
    ),
    security(("bearer" = ["api_keys:manage"]))
)]
async fn update_key(
    State(state): State<AppState>,
    me: Acting,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateApiKey>,
) -> DomainResult<Json<ApiKeyView>> {
    Ok(Json(ApiKeyView::from(&keys(&state).update(&me.actor(), &id, body).await?)))
}

/// Revokes a key at once; the row stays, with `revoked_at`. Revoking twice is a no-op.
#[utoipa::path(
    delete,
    path = "/v1/api-keys/{id}",
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 204, description = "Revoked"),
        PermissionErrors,
        (status = 404, description = "No such key of the caller", body = ErrorBody),
    ),
    security(("bearer" = ["api_keys:manage"]))
)]
async fn revoke_key(
    State(state): State<AppState>,
    me: Acting,
    Path(id): Path<String>,
) -> DomainResult<StatusCode> {
    keys(&state).revoke(&me.actor(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces a key by a new one with the same name, permissions, account and lifetime
/// length; the old key stops working at once. The new key is shown once.
#[utoipa::path(
    post,
    path = "/v1/api-keys/{id}/rotate",
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 201, description = "The replacement key, shown once", body = CreatedApiKey),
        PermissionErrors,
        (status = 404, description = "No such key of the caller", body = ErrorBody),
        (status = 409, description = "The key is revoked or expired (or was rotated meanwhile)", body = ErrorBody),
    ),
    security(("bearer" = ["api_keys:manage"]))
)]
async fn rotate_key(
    State(state): State<AppState>,
    me: Acting,
    Path(id): Path<String>,
) -> DomainResult<Response> {
    Ok(created(keys(&state).rotate(&me.actor(), &id).await?))
}

/// Uses of a key, newest first: time, IP, route, outcome (written in batches, so the
/// latest second may be missing).
#[utoipa::path(
    get,
    path = "/v1/api-keys/{id}/usage",
    params(("id" = String, Path, description = "Key id"), Page),
    responses(
        (status = 200, description = "A page of uses", body = UsagePage),
        PageErrors,
        PermissionErrors,
        (status = 404, description = "No such key of the caller", body = ErrorBody),
    ),
    security(("bearer" = ["api_keys:manage"]))
)]
async fn key_usage(
    State(state): State<AppState>,
    me: Acting,
    Path(id): Path<String>,
    ApiQuery(page): ApiQuery<Page>,
) -> DomainResult<Json<UsagePage>> {
    let (limit, offset) = (page.limit(), page.offset());
    let rows = keys(&state).usage(&me.actor(), &id, limit, offset).await?;
    let usage = rows
        .into_iter()
        .map(|ApiKeyUsageRow { at, ip, route, outcome }| UsageEntry { time: rfc3339(at), ip, route, outcome })
        .collect();
    Ok(Json(UsagePage { usage, limit, offset }))
}
