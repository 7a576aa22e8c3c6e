//! `/v1/admin/*`: user administration, audit log, key rotation.
//!
//! Guarded by the tower crate's `AuthLayer` (the token), then each handler checks its
//! permission once, with `Caller::require`, against the user's current roles (a demotion
//! applies at once). A missing permission is 403 `insufficient_scope` (`admin` holds `*`).

use axum::extract::{Path, Query, State};
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::ToSchema;

use super::openapi::{BodyErrors, ErrorBody, PermissionErrors};
use super::users::{AuditEventList, Page, UserView, actor, audit_json};
use super::{RequestMeta, user_json};
use crate::auth::Caller;
use crate::domain::audit;
use crate::domain::error::{DomainError, DomainResult, ErrorKind};
use crate::login::Login;
use crate::routes::error::ApiJson;
use crate::startup::AppState;
use crate::users;

/// Most roles one user may hold.
const MAX_ROLES_PER_USER: usize = 32;
const USERS_READ: &str = "admin:users:read";
const USERS_WRITE: &str = "admin:users:write";
const ROLES_ASSIGN: &str = "admin:roles:assign";
const KEYS_ROTATE: &str = "admin:keys:rotate";

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list_users, get_user, update_user, set_roles, audit_events, rotate_keys))]
pub(crate) struct Api;

#[derive(ToSchema)]
#[allow(dead_code, reason = "documents the JSON the handler builds")]
struct UserList {
    users: Vec<UserView>,
}

/// A new signing key.
#[derive(ToSchema)]
#[allow(dead_code, reason = "documents the JSON the handler builds")]
struct RotatedKey {
    kid: String,
    /// RFC 3339: the key is published now and signs from then on.
    signs_from: String,
}

pub(crate) fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/v1/admin/users", get(list_users))
        .route("/v1/admin/users/{id}", get(get_user).merge(patch(update_user)))
        .route("/v1/admin/users/{id}/roles", put(set_roles))
        .route("/v1/admin/audit-events", get(audit_events))
        .route("/v1/admin/keys/rotate", post(rotate_keys))
        // The service's own verifier, whose key set is replaced in place on reload.
        .route_layer(super::auth_layer(state))
}

/// Users, oldest first.
#[utoipa::path(
    get,
    path = "/v1/admin/users",
    tag = "admin",
    security(("bearer" = [])),
    params(Page),
    responses((status = 200, description = "Users (needs `admin:users:read`)", body = UserList), PermissionErrors),
)]
async fn list_users(
    State(state): State<AppState>,
    me: Caller,
    Query(page): Query<Page>,
) -> DomainResult<Json<serde_json::Value>> {
    me.require(USERS_READ)?;
    let users = state.db.list_users(page.limit(), page.offset()).await?;
    let mut items = Vec::with_capacity(users.len());
    for user in &users {
        items.push(user_json(user, &state.roles.permissions_for(&user.roles).await?));
    }
    Ok(Json(serde_json::json!({ "users": items })))
}

#[utoipa::path(
    get,
    path = "/v1/admin/users/{id}",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "The user (needs `admin:users:read`)", body = UserView),
        PermissionErrors,
        (status = 404, description = "No such user", body = ErrorBody),
    ),
)]
async fn get_user(
    State(state): State<AppState>,
    me: Caller,
    Path(id): Path<String>,
) -> DomainResult<Json<serde_json::Value>> {
    me.require(USERS_READ)?;
    let user = state.db.user_by_id(&id).await?.ok_or_else(DomainError::not_found)?;
    Ok(Json(user_json(&user, &state.roles.permissions_for(&user.roles).await?)))
}

#[derive(Deserialize, ToSchema)]
struct UpdateUser {
    /// `active` or `disabled`.
    status: Option<String>,
    /// Clears the login throttling of the account.
    unlock: Option<bool>,
    name: Option<String>,
}

/// Disables (revoking every session), enables, unlocks or renames a user.
#[utoipa::path(
    patch,
    path = "/v1/admin/users/{id}",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")),
    request_body = UpdateUser,
    responses(
        (status = 200, description = "The user (needs `admin:users:write` and every permission the \
            user's roles grant)", body = UserView),
        PermissionErrors,
        BodyErrors,
        (status = 404, description = "No such user", body = ErrorBody),
    ),
)]
async fn update_user(
    State(state): State<AppState>,
    RequestMeta(client): RequestMeta,
    me: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateUser>,
) -> DomainResult<Json<serde_json::Value>> {
    me.require(USERS_WRITE)?;
    let user = state.db.user_by_id(&id).await?.ok_or_else(DomainError::not_found)?;
    users::require_may_change(&state.roles, &me.permissions, &user).await?;
    let name = body.name.as_deref().map(users::checked_name).transpose()?;
    let now = crate::now();
    if let Some(status) = body.status.as_deref() {
        if status != "active" && status != "disabled" {
            return Err(DomainError::bad_request("invalid_status", "status must be active or disabled"));
        }
        state.db.set_status(&id, status, now).await?;
        if status == "disabled" {
            state.db.revoke_user_sessions(&id, None, "disabled_by_admin", now).await?;
        }
        audit::record(&state.db, &format!("user_{status}"), Some(&id), Some(&me.user.id), &client, None)
            .await;
    }
    if body.unlock == Some(true) {
        Login::of(&state).unlock(&user).await?;
        audit::record(&state.db, "user_unlocked", Some(&id), Some(&me.user.id), &client, None).await;
    }
    if let Some(name) = name {
        state.db.update_user_name(&id, &name, now).await?;
    }
    let user = state.db.user_by_id(&id).await?.ok_or_else(DomainError::not_found)?;
    Ok(Json(user_json(&user, &state.roles.permissions_for(&user.roles).await?)))
}

#[derive(Deserialize, ToSchema)]
struct RolesBody {
    /// Role names from `GET /v1/roles`; replaces the user's roles.
    #[schema(example = json!(["user", "support"]))]
    roles: Vec<String>,
}

/// Replaces a user's roles. Applies to the user's next access token, and at once to
/// this service's own permission checks.
#[utoipa::path(
    put,
    path = "/v1/admin/users/{id}/roles",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")),
    request_body = RolesBody,
    responses(
        (status = 200, description = "The user (needs `admin:roles:assign`; never one's own roles)", body = UserView),
        PermissionErrors,
        BodyErrors,
        (status = 404, description = "No such user", body = ErrorBody),
    ),
)]
async fn set_roles(
    State(state): State<AppState>,
    RequestMeta(client): RequestMeta,
    me: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RolesBody>,
) -> DomainResult<Json<serde_json::Value>> {
    me.require(ROLES_ASSIGN)?;
    let target = state.db.user_by_id(&id).await?.ok_or_else(DomainError::not_found)?;
    // Bounded before the quadratic de-duplication: a 2 MB body holds ~200k names.
    if body.roles.len() > MAX_ROLES_PER_USER {
        return Err(DomainError::new(
            ErrorKind::Unprocessable,
            "too_many_roles",
            "A user holds at most 32 roles",
        ));
    }
    let mut roles: Vec<String> = Vec::new();
    for role in body.roles {
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    // Read from the table, not the cache: a role created a moment ago on another
    // instance can be assigned here.
    if !state.roles.unknown_roles(&roles).await?.is_empty() {
        return Err(DomainError::new(
            ErrorKind::Unprocessable,
            "unknown_role",
            "Unknown role; see GET /v1/roles",
        ));
    }
    users::require_may_assign(&state.roles, &me.user.id, &me.permissions, &target, &roles).await?;
    state.db.set_roles(&id, &roles, crate::now()).await?;
    audit::record(
        &state.db,
        "roles_changed",
        Some(&id),
        Some(&me.user.id),
        &client,
        Some(serde_json::json!({"roles": roles})),
    )
    .await;
    let user = state.db.user_by_id(&id).await?.ok_or_else(DomainError::not_found)?;
    Ok(Json(user_json(&user, &state.roles.permissions_for(&user.roles).await?)))
}

/// Every audit event, newest first.
#[utoipa::path(
    get,
    path = "/v1/admin/audit-events",
    operation_id = "admin_audit_events",
    tag = "admin",
    security(("bearer" = [])),
    params(Page),
    responses((status = 200, description = "Events (needs `admin:audit:read`)", body = AuditEventList),
        PermissionErrors),
)]
async fn audit_events(
    State(state): State<AppState>,
    RequestMeta(client): RequestMeta,
    me: Caller,
    Query(page): Query<Page>,
) -> DomainResult<Json<serde_json::Value>> {
    let events = audit::all_events(&state.db, &actor(&me, &client), page.limit(), page.offset()).await?;
    Ok(Json(audit_json(events)))
}

/// Publishes a new signing key; it signs after the publish delay, the old key stays
/// published until its last token expires.
#[utoipa::path(
    post,
    path = "/v1/admin/keys/rotate",
    tag = "admin",
    security(("bearer" = [])),
    responses((status = 200, description = "The new key (needs `admin:keys:rotate`)", body = RotatedKey),
        PermissionErrors),
)]
async fn rotate_keys(
    State(state): State<AppState>,
    RequestMeta(client): RequestMeta,
    me: Caller,
) -> DomainResult<Json<serde_json::Value>> {
    me.require(KEYS_ROTATE)?;
    let now = crate::now();
    let kid = state.keys.rotate(now).await.map_err(DomainError::internal)?;
    audit::record(
        &state.db,
        "signing_key_rotated",
        None,
        Some(&me.user.id),
        &client,
        Some(serde_json::json!({"kid": kid})),
    )
    .await;
    Ok(Json(serde_json::json!({
        "kid": kid,
        "signs_from": super::rfc3339(now + state.config.key_publish_delay_secs as i64),
    })))
}
