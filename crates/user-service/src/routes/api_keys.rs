//! `/v1/api-keys`: API keys of the calling user.
//!
//! A key is `ak_{live|test}_` + 190 random bits + a CRC32 checksum (the core crate's
//! `authgate::api_key::format`), shown once at creation or rotation and stored only as
//! its SHA-256 (I23). Its permissions are a subset of its owner's. Managing keys needs
//! `api_keys:manage` and a bearer token: these endpoints never accept a key, so a leaked
//! key cannot mint more. Another user's key is "not found" (I25). Revoking keeps the row.

use authgate::api_key::format;
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, LOCATION};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::caller::Caller;
use super::openapi::{BodyErrors, ErrorBody, PageErrors};
use super::users::Page;
use super::{RequestMeta, rfc3339};
use crate::crypto::new_id;
use crate::domain::api_key_auth::api_key_environment;
use crate::domain::audit::record;
use crate::domain::error::{DomainError, DomainResult, ErrorKind};
use crate::domain::roles::covers;
use crate::routes::error::{ApiJson, ApiQuery};
use crate::startup::AppState;
use crate::store::{ApiKey, ApiKeyUsageRow};

/// The permission every endpoint here requires.
const MANAGE: &str = "api_keys:manage";
/// Keys a user may have that are neither revoked nor expired.
const MAX_LIVE_KEYS: i64 = 50;
const MAX_NAME_CHARS: usize = 100;
const MAX_PERMISSIONS: usize = 64;
const MAX_PERMISSION_BYTES: usize = 100;
const MAX_EXPIRES_IN_DAYS: i64 = 3650;

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(create_key, list_keys, get_key, update_key, revoke_key, rotate_key, key_usage),
    components(schemas(
        CreateApiKey,
        UpdateApiKey,
        ApiKeyView,
        ApiKeyStatus,
        CreatedApiKey,
        ApiKeyList,
        UsageEntry,
        UsagePage
    ))
)]
pub(crate) struct Api;

pub(crate) fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/v1/api-keys", post(create_key).get(list_keys))
        .route("/v1/api-keys/{id}", get(get_key).patch(update_key).delete(revoke_key))
        .route("/v1/api-keys/{id}/rotate", post(rotate_key))
        .route("/v1/api-keys/{id}/usage", get(key_usage))
        .route_layer(super::auth_layer(state))
}

/// Body of `POST /v1/api-keys`.
#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct CreateApiKey {
    /// A label for the owner.
    #[schema(
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    name: String,
    /// Permissions the key carries, each one the owner holds; default: all of the owner's.
    #[serde(default)]
    #[schema(max_items = 64, inline, value_type = Option<Vec<PermissionName>>)]
    permissions: Option<Vec<String>>,
    /// Lifetime in days; default: no expiry.
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(minimum = 1, maximum = 3650)]
    expires_in_days: Option<i64>,
    /// The trading account the key is meant for, if any (one the caller is a member of).
    #[serde(default)]
    #[schema(pattern = r"^[A-Za-z0-9-]{1,64}$")]
    trading_account_id: Option<String>,
}

/// JSON Schema counts `30.0` as an integer; serde's `i64` does not. Saturates, so a
/// huge value is out of range (400), not of the wrong type.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<f64>::deserialize(d)? {
        Some(n) if n.fract() != 0.0 => Err(serde::de::Error::custom("not a whole number")),
        n => Ok(n.map(|n| n as i64)),
    }
}

/// Body of `PATCH /v1/api-keys/{id}`; absent fields stay as they are.
#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct UpdateApiKey {
    #[serde(default)]
    #[schema(
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    name: Option<String>,
    #[serde(default)]
    #[schema(max_items = 64, inline, value_type = Option<Vec<PermissionName>>)]
    permissions: Option<Vec<String>>,
}

/// A permission a key may carry (the owner must hold it).
#[derive(utoipa::ToSchema)]
#[schema(pattern = r"^[a-z0-9_:.*-]{1,100}$")]
#[allow(dead_code, reason = "documents the shape valid_permissions checks")]
struct PermissionName(String);

/// Whether a key works.
#[derive(Serialize, utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq)]
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

impl ApiKeyView {
    fn new(k: &ApiKey, now: i64) -> ApiKeyView {
        let status = if k.revoked_at.is_some() {
            ApiKeyStatus::Revoked
        } else if k.is_expired(now) {
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

fn valid_name(name: &str) -> DomainResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(DomainError::bad_request(
            "invalid_name",
            "The name must have 1 to 100 printable characters",
        ));
    }
    Ok(name.to_owned())
}

/// Checks the shape of every permission, then that the owner holds each one: a key can
/// only delegate what its owner has (403, like any other missing permission).
fn valid_permissions(requested: &[String], owner: &[String]) -> DomainResult<Vec<String>> {
    if requested.len() > MAX_PERMISSIONS {
        return Err(DomainError::bad_request("invalid_permissions", "At most 64 permissions per key"));
    }
    let mut out: Vec<String> = Vec::with_capacity(requested.len());
    for p in requested {
        let well_formed = !p.is_empty()
            && p.len() <= MAX_PERMISSION_BYTES
            && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_:.*-".contains(&b));
        if !well_formed {
            return Err(DomainError::bad_request(
                "invalid_permissions",
                "Permissions are 1-100 characters of a-z, 0-9, _ : . * -",
            ));
        }
        if !covers(owner, p) {
            return Err(DomainError::insufficient_scope(p));
        }
        if !out.contains(p) {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn valid_trading_account_id(id: Option<String>) -> DomainResult<Option<String>> {
    match id {
        None => Ok(None),
        Some(id)
            if !id.is_empty()
                && id.len() <= 64
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
        {
            Ok(Some(id))
        }
        Some(_) => Err(DomainError::bad_request("invalid_trading_account_id", "Not a trading account id")),
    }
}

/// A fresh key for the service's environment: `(key, stored row)`.
fn new_key(state: &AppState, template: ApiKey) -> DomainResult<(String, ApiKey)> {
    let key =
        format::generate(api_key_environment(state.config.environment)).map_err(DomainError::internal)?;
    let row = ApiKey {
        key_hash: format::hash_hex(&key),
        display_prefix: format::display_prefix(&key).to_owned(),
        ..template
    };
    Ok((key, row))
}

/// 201 with the key, `Location`, and `Cache-Control: no-store` (the body holds a secret).
fn created(key: String, row: &ApiKey, now: i64) -> Response {
    let location = HeaderValue::from_str(&format!("/v1/api-keys/{}", row.id))
        .unwrap_or_else(|_| HeaderValue::from_static("/v1/api-keys"));
    let body = CreatedApiKey { key, api_key: ApiKeyView::new(row, now) };
    (
        StatusCode::CREATED,
        [(LOCATION, location), (CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(body),
    )
        .into_response()
}

/// The caller's key `id`, or 404 (also for another user's key).
async fn own_key(state: &AppState, me: &Caller, id: &str) -> DomainResult<ApiKey> {
    state.db.api_key_of_user(id, &me.user.id).await?.ok_or_else(DomainError::not_found)
}

fn refuse_revoked(key: &ApiKey) -> DomainResult<()> {
    if key.revoked_at.is_some() {
        return Err(DomainError::conflict("api_key_revoked", "The key is revoked"));
    }
    Ok(())
}

/// Creates a key; the answer is the only time the key is shown.
#[utoipa::path(
    post,
    path = "/v1/api-keys",
    tag = "api-keys",
    request_body = CreateApiKey,
    responses(
        (status = 201, description = "The new key, shown once", body = CreatedApiKey),
        BodyErrors,
        (status = 400, description = "Invalid name, permissions, lifetime or account id", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Missing api_keys:manage, or a permission the caller lacks", body = ErrorBody),
        (status = 404, description = "The trading account is not one of the caller's", body = ErrorBody),
        (status = 409, description = "Too many active keys", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn create_key(
    State(state): State<AppState>,
    RequestMeta(client): RequestMeta,
    me: Caller,
    ApiJson(body): ApiJson<CreateApiKey>,
) -> DomainResult<Response> {
    me.require(MANAGE)?;
    let name = valid_name(&body.name)?;
    let owner_permissions = state.roles.permissions_for(&me.user.roles).await?;
    let permissions = match &body.permissions {
        Some(requested) => valid_permissions(requested, &owner_permissions)?,
        None => owner_permissions,
    };
    let now = crate::now();
    let expires_at = match body.expires_in_days {
        None => None,
        Some(days @ 1..=MAX_EXPIRES_IN_DAYS) => Some(now + days * 86_400),
        Some(_) => {
            return Err(DomainError::bad_request("invalid_expiry", "expires_in_days must be 1 to 3650"));
        }
    };
    let trading_account_id = valid_trading_account_id(body.trading_account_id)?;
    // Only an account the caller is a member of; any other is "not found" (I25).
    if let Some(account) = &trading_account_id
        && state.db.trading_account_for_member(account, &me.user.id).await?.is_none()
    {
        return Err(DomainError::new(
            ErrorKind::NotFound,
            "trading_account_not_found",
            "No such trading account",
        ));
    }
    if state.db.live_api_key_count(&me.user.id, now).await? >= MAX_LIVE_KEYS {
        return Err(DomainError::conflict(
            "too_many_api_keys",
            "Revoke a key before creating another (at most 50 active keys)",
        ));
    }
    let (key, row) = new_key(
        &state,
        ApiKey {
            id: new_id(),
            user_id: me.user.id.clone(),
            name,
            key_hash: String::new(),
            display_prefix: String::new(),
            permissions,
            trading_account_id,
            created_at: now,
            expires_at,
            last_used_at: None,
            revoked_at: None,
        },
    )?;
    state.db.insert_api_key(&row).await?;
    record(
        &state.db,
        "api_key_created",
        Some(&me.user.id),
        Some(&me.user.id),
        &client,
        Some(serde_json::json!({"key_id": row.id, "prefix": row.display_prefix, "permissions": row.permissions})),
    )
    .await;
    Ok(created(key, &row, now))
}

/// The caller's keys, newest first, revoked ones included; never a key or its hash.
#[utoipa::path(
    get,
    path = "/v1/api-keys",
    tag = "api-keys",
    responses(
        (status = 200, description = "The caller's keys", body = ApiKeyList),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Missing api_keys:manage", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn list_keys(State(state): State<AppState>, me: Caller) -> DomainResult<Json<ApiKeyList>> {
    me.require(MANAGE)?;
    let now = crate::now();
    let keys = state.db.api_keys_of_user(&me.user.id).await?;
    Ok(Json(ApiKeyList { api_keys: keys.iter().map(|k| ApiKeyView::new(k, now)).collect() }))
}

/// One of the caller's keys.
#[utoipa::path(
    get,
    path = "/v1/api-keys/{id}",
    tag = "api-keys",
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 200, description = "The key", body = ApiKeyView),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Missing api_keys:manage", body = ErrorBody),
        (status = 404, description = "No such key of the caller", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn get_key(
    State(state): State<AppState>,
    me: Caller,
    Path(id): Path<String>,
) -> DomainResult<Json<ApiKeyView>> {
    me.require(MANAGE)?;
    let key = own_key(&state, &me, &id).await?;
    Ok(Json(ApiKeyView::new(&key, crate::now())))
}

/// Renames a key or changes its permissions (still a subset of the caller's).
#[utoipa::path(
    patch,
    path = "/v1/api-keys/{id}",
    tag = "api-keys",
    params(("id" = String, Path, description = "Key id")),
    request_body = UpdateApiKey,
    responses(
        (status = 200, description = "The updated key", body = ApiKeyView),
        BodyErrors,
        (status = 400, description = "Invalid name or permissions", body = ErrorBody),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Missing api_keys:manage, or a permission the caller lacks", body = ErrorBody),
        (status = 404, description = "No such key of the caller", body = ErrorBody),
        (status = 409, description = "The key is revoked", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn update_key(
    State(state): State<AppState>,
    RequestMeta(client): RequestMeta,
    me: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateApiKey>,
) -> DomainResult<Json<ApiKeyView>> {
    me.require(MANAGE)?;
    let mut key = own_key(&state, &me, &id).await?;
    refuse_revoked(&key)?;
    if let Some(name) = &body.name {
        key.name = valid_name(name)?;
    }
    if let Some(requested) = &body.permissions {
        key.permissions = valid_permissions(requested, &state.roles.permissions_for(&me.user.roles).await?)?;
    }
    state.db.update_api_key(&key.id, &key.name, &key.permissions).await?;
    record(
        &state.db,
        "api_key_updated",
        Some(&me.user.id),
        Some(&me.user.id),
        &client,
        Some(serde_json::json!({"key_id": key.id, "permissions": key.permissions})),
    )
    .await;
    Ok(Json(ApiKeyView::new(&key, crate::now())))
}

/// Revokes a key at once; the row stays, with `revoked_at`. Revoking twice is a no-op.
#[utoipa::path(
    delete,
    path = "/v1/api-keys/{id}",
    tag = "api-keys",
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Missing api_keys:manage", body = ErrorBody),
        (status = 404, description = "No such key of the caller", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn revoke_key(
    State(state): State<AppState>,
    RequestMeta(client): RequestMeta,
    me: Caller,
    Path(id): Path<String>,
) -> DomainResult<StatusCode> {
    me.require(MANAGE)?;
    let key = own_key(&state, &me, &id).await?;
    if state.db.revoke_api_key(&key.id, crate::now()).await? {
        record(
            &state.db,
            "api_key_revoked",
            Some(&me.user.id),
            Some(&me.user.id),
            &client,
            Some(serde_json::json!({"key_id": key.id})),
        )
        .await;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces a key by a new one with the same name, permissions, account and lifetime
/// length; the old key stops working at once. The new key is shown once.
#[utoipa::path(
    post,
    path = "/v1/api-keys/{id}/rotate",
    tag = "api-keys",
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 201, description = "The replacement key, shown once", body = CreatedApiKey),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Missing api_keys:manage", body = ErrorBody),
        (status = 404, description = "No such key of the caller", body = ErrorBody),
        (status = 409, description = "The key is revoked (or was rotated meanwhile)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn rotate_key(
    State(state): State<AppState>,
    RequestMeta(client): RequestMeta,
    me: Caller,
    Path(id): Path<String>,
) -> DomainResult<Response> {
    me.require(MANAGE)?;
    let old = own_key(&state, &me, &id).await?;
    refuse_revoked(&old)?;
    let now = crate::now();
    // Rotating is for live keys: an expired one would otherwise come back with a fresh
    // lifetime, past the owner's decision and the live-key cap.
    if old.expires_at.is_some_and(|t| t <= now) {
        return Err(DomainError::conflict("api_key_expired", "The key has expired"));
    }
    let expires_at = old.expires_at.map(|t| now + (t - old.created_at).max(0));
    let (key, row) = new_key(
        &state,
        ApiKey {
            id: new_id(),
            created_at: now,
            expires_at,
            last_used_at: None,
            revoked_at: None,
            ..old.clone()
        },
    )?;
    if !state.db.rotate_api_key(&old.id, &row, now).await? {
        return Err(DomainError::conflict("api_key_revoked", "The key is revoked"));
    }
    record(
        &state.db,
        "api_key_rotated",
        Some(&me.user.id),
        Some(&me.user.id),
        &client,
        Some(serde_json::json!({"key_id": row.id, "replaced_key_id": old.id, "prefix": row.display_prefix})),
    )
    .await;
    Ok(created(key, &row, now))
}

/// Uses of a key, newest first: time, IP, route, outcome (written in batches, so the
/// latest second may be missing).
#[utoipa::path(
    get,
    path = "/v1/api-keys/{id}/usage",
    tag = "api-keys",
    params(("id" = String, Path, description = "Key id"), Page),
    responses(
        (status = 200, description = "A page of uses", body = UsagePage),
        PageErrors,
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "Missing api_keys:manage", body = ErrorBody),
        (status = 404, description = "No such key of the caller", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn key_usage(
    State(state): State<AppState>,
    me: Caller,
    Path(id): Path<String>,
    ApiQuery(page): ApiQuery<Page>,
) -> DomainResult<Json<UsagePage>> {
    me.require(MANAGE)?;
    let key = own_key(&state, &me, &id).await?;
    let (limit, offset) = (page.limit(), page.offset());
    let rows = state.db.api_key_usage(&key.id, limit, offset).await?;
    let usage = rows
        .into_iter()
        .map(|ApiKeyUsageRow { at, ip, route, outcome }| UsageEntry { time: rfc3339(at), ip, route, outcome })
        .collect();
    Ok(Json(UsagePage { usage, limit, offset }))
}
