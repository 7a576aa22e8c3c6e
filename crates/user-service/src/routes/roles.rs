//! `/v1/permissions`, `/v1/roles`: the role catalog.
//!
//! Guarded like `/v1/admin/*`: the tower `AuthLayer` checks the token, the handler the
//! permission, once, against the caller's current roles. Reads need
//! `admin:roles:read`, writes `admin:roles:write` (`admin` holds `*`).
//!
//! Rules: role names are immutable (`users.roles` and tokens hold them); the system
//! `admin` role cannot be changed and no system role can be deleted (409 `system_role`);
//! a role still assigned to a user cannot be deleted (409 `role_in_use`: take it away
//! from the users first, so nobody loses permissions by surprise). A change applies to
//! new access tokens and, within the catalog's cache time (2 s), to every instance's
//! permission checks.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};

use super::caller::Caller;
use super::openapi::{BodyErrors, ErrorBody, PermissionErrors};
use super::{RequestMeta, audit, rfc3339};
use crate::crypto::new_id;
use crate::domain::error::{DomainError, DomainResult, ErrorKind};
use crate::roles::{ADMIN_ROLE, GrantError, PERMISSIONS, Role, check_grantable};
use crate::routes::error::ApiJson;
use crate::startup::AppState;

const ROLES_READ: &str = "admin:roles:read";
const ROLES_WRITE: &str = "admin:roles:write";

/// Longest role name and description, and most permissions per role.
const MAX_NAME: usize = 64;
const MAX_DESCRIPTION: usize = 500;
const MAX_PERMISSIONS: usize = 100;

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list_permissions, list_roles, create_role, get_role, update_role, delete_role))]
pub(crate) struct Api;

pub(crate) fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/v1/permissions", get(list_permissions))
        .route("/v1/roles", get(list_roles).merge(axum::routing::post(create_role)))
        .route("/v1/roles/{id}", get(get_role).merge(axum::routing::patch(update_role).delete(delete_role)))
        .route_layer(super::auth_layer(state))
}

/// A permission of the catalog.
#[derive(Serialize, ToSchema)]
struct PermissionView {
    #[schema(example = "alerts:read")]
    name: &'static str,
    description: &'static str,
    /// Held by service clients only; no role can grant it.
    service_clients_only: bool,
}

#[derive(Serialize, ToSchema)]
struct PermissionList {
    permissions: Vec<PermissionView>,
}

/// A role.
#[derive(Serialize, ToSchema)]
struct RoleView {
    id: String,
    #[schema(example = "support")]
    name: String,
    description: String,
    /// Catalog permissions, `*`, or `prefix:*` wildcards.
    #[schema(example = json!(["admin:users:read", "admin:audit:read"]))]
    permissions: Vec<String>,
    /// `user` and `admin`, created with the database; never deleted.
    system: bool,
    /// RFC 3339.
    created_at: String,
    /// RFC 3339.
    updated_at: String,
}

impl From<Role> for RoleView {
    fn from(r: Role) -> RoleView {
        RoleView {
            id: r.id,
            name: r.name,
            description: r.description,
            permissions: r.permissions,
            system: r.system,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
struct RoleList {
    roles: Vec<RoleView>,
}

/// A new custom role.
#[derive(Deserialize, ToSchema)]
struct CreateRole {
    /// Lowercase letters, digits, `_`, `-`; starts with a letter.
    #[schema(example = "support", max_length = 64, pattern = "^[a-z][a-z0-9_-]*$")]
    name: String,
    #[schema(max_length = 500)]
    description: Option<String>,
    #[schema(schema_with = grantable_permissions)]
    permissions: Vec<String>,
}

/// Changes to a role; the name cannot change (a `name` field is refused with 422).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateRole {
    #[schema(max_length = 500)]
    description: Option<String>,
    #[schema(schema_with = grantable_permissions_or_null)]
    permissions: Option<Vec<String>>,
}

/// What `check_grantable` accepts: every catalog permission and `prefix:*` wildcard
/// over them, but those of service clients.
fn grantable_permissions() -> utoipa::openapi::Array {
    grantable(SchemaType::Type(Type::Array))
}

fn grantable_permissions_or_null() -> utoipa::openapi::Array {
    grantable(SchemaType::from_iter([Type::Array, Type::Null]))
}

fn grantable(types: SchemaType) -> utoipa::openapi::Array {
    let mut names: Vec<String> = PERMISSIONS
        .iter()
        .flat_map(|p| {
            p.name.match_indices(':').map(|(i, _)| format!("{}*", &p.name[..=i])).chain([p.name.into()])
        })
        .filter(|name| check_grantable(name).is_ok())
        .collect();
    names.sort();
    names.dedup();
    let name = ObjectBuilder::new().schema_type(Type::String).enum_values(Some(names));
    ArrayBuilder::new().schema_type(types).items(name).max_items(Some(MAX_PERMISSIONS)).build()
}

fn invalid(code: &'static str, message: impl Into<String>) -> DomainError {
    DomainError::new(ErrorKind::Unprocessable, code, message)
}

fn conflict(code: &'static str, message: impl Into<String>) -> DomainError {
    DomainError::conflict(code, message)
}

fn valid_name(name: &str) -> bool {
    name.len() <= MAX_NAME
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

fn checked_description(description: Option<String>) -> DomainResult<Option<String>> {
    let description = description.map(|d| d.trim().to_owned());
    if description.as_ref().is_some_and(|d| d.chars().count() > MAX_DESCRIPTION) {
        return Err(invalid("invalid_description", "The description must have at most 500 characters"));
    }
    Ok(description)
}

/// 403 unless the caller holds every permission in `granted`, so `admin:roles:write`
/// alone is no path to `*`.
fn require_covers(me: &Caller, granted: &[String]) -> DomainResult<()> {
    crate::users::require_covers(&me.permissions, granted)
}

/// Every permission grantable, each once, in the given order.
fn checked_permissions(permissions: Vec<String>) -> DomainResult<Vec<String>> {
    if permissions.len() > MAX_PERMISSIONS {
        return Err(invalid("too_many_permissions", "A role can grant at most 100 permissions"));
    }
    let mut out: Vec<String> = Vec::with_capacity(permissions.len());
    for p in permissions {
        match check_grantable(&p) {
            Ok(()) => {}
            Err(GrantError::Unknown(_)) => {
                return Err(invalid("unknown_permission", "Unknown permission; see GET /v1/permissions"));
            }
            Err(GrantError::ServiceClientsOnly(_)) => {
                return Err(invalid(
                    "permission_not_grantable",
                    "This permission is held by service clients only",
                ));
            }
        }
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

/// The permission catalog: every permission the platform checks.
#[utoipa::path(
    get,
    path = "/v1/permissions",
    tag = "roles",
    security(("bearer" = [])),
    responses((status = 200, description = "The catalog", body = PermissionList), PermissionErrors),
)]
async fn list_permissions(me: Caller) -> DomainResult<Json<PermissionList>> {
    me.require(ROLES_READ)?;
    let permissions = PERMISSIONS
        .iter()
        .map(|p| PermissionView {
            name: p.name,
            description: p.description,
            service_clients_only: p.service_clients_only,
        })
        .collect();
    Ok(Json(PermissionList { permissions }))
}

/// Every role, system roles first.
#[utoipa::path(
    get,
    path = "/v1/roles",
    tag = "roles",
    security(("bearer" = [])),
    responses((status = 200, description = "The roles", body = RoleList), PermissionErrors),
)]
async fn list_roles(State(state): State<AppState>, me: Caller) -> DomainResult<Json<RoleList>> {
    me.require(ROLES_READ)?;
    let roles = state.db.list_roles().await?.into_iter().map(RoleView::from).collect();
    Ok(Json(RoleList { roles }))
}

/// Creates a custom role.
#[utoipa::path(
    post,
    path = "/v1/roles",
    tag = "roles",
    security(("bearer" = [])),
    request_body = CreateRole,
    responses(
        (status = 201, description = "Created", body = RoleView),
        PermissionErrors,
        BodyErrors,
        (status = 409, description = "A role with this name exists (`role_exists`)", body = ErrorBody),
    ),
)]
async fn create_role(
    State(state): State<AppState>,
    RequestMeta(client): RequestMeta,
    me: Caller,
    ApiJson(body): ApiJson<CreateRole>,
) -> DomainResult<Response> {
    me.require(ROLES_WRITE)?;
    if !valid_name(&body.name) {
        return Err(invalid(
            "invalid_role_name",
            "A role name has 1-64 lowercase letters, digits, '_' or '-', starting with a letter",
        ));
    }
    let description = checked_description(body.description)?.unwrap_or_default();
    let permissions = checked_permissions(body.permissions)?;
    require_covers(&me, &permissions)?;
    let now = crate::now();
    let role = Role {
        id: new_id(),
        name: body.name,
        description,
        permissions,
        system: false,
        created_at: now,
        updated_at: now,
    };
    let stripped = state.db.strip_dangling_role(&role.name, now).await?;
    if stripped > 0 {
        tracing::warn!(stripped, "users held a deleted role's name; removed before reusing it");
    }
    if !state.db.insert_role(&role).await? {
        return Err(conflict("role_exists", "A role with this name already exists"));
    }
    state.roles.invalidate();
    let details = serde_json::json!({"role_id": role.id, "name": role.name, "permissions": role.permissions});
    audit(&state, "role_created", None, Some(&me.user.id), &client, Some(details)).await;
    Ok((StatusCode::CREATED, Json(RoleView::from(role))).into_response())
}

/// One role.
#[utoipa::path(
    get,
    path = "/v1/roles/{id}",
    tag = "roles",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Role id")),
    responses(
        (status = 200, description = "The role", body = RoleView),
        PermissionErrors,
        (status = 404, description = "No such role", body = ErrorBody),
    ),
)]
async fn get_role(
    State(state): State<AppState>,
    me: Caller,
    Path(id): Path<String>,
) -> DomainResult<Json<RoleView>> {
    me.require(ROLES_READ)?;
    let role = state.db.role_by_id(&id).await?.ok_or_else(DomainError::not_found)?;
    Ok(Json(role.into()))
}

/// Changes a role's description or permissions (the system `admin` role cannot change).
#[utoipa::path(
    patch,
    path = "/v1/roles/{id}",
    tag = "roles",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Role id")),
    request_body = UpdateRole,
    responses(
        (status = 200, description = "The changed role", body = RoleView),
        PermissionErrors,
        BodyErrors,
        (status = 404, description = "No such role", body = ErrorBody),
        (status = 409, description = "The system `admin` role cannot change (`system_role`)", body = ErrorBody),
    ),
)]
async fn update_role(
    State(state): State<AppState>,
    RequestMeta(client): RequestMeta,
    me: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateRole>,
) -> DomainResult<Json<RoleView>> {
    me.require(ROLES_WRITE)?;
    let role = state.db.role_by_id(&id).await?.ok_or_else(DomainError::not_found)?;
    if role.system && role.name == ADMIN_ROLE {
        return Err(conflict("system_role", "The admin role cannot be changed"));
    }
    let description = checked_description(body.description)?.unwrap_or(role.description);
    let permissions = match body.permissions {
        Some(p) => checked_permissions(p)?,
        None => role.permissions.clone(),
    };
    // Both what the role grants now and what it will grant: no widening past the caller,
    // and no narrowing of a role that grants more than the caller holds.
    require_covers(&me, &role.permissions)?;
    require_covers(&me, &permissions)?;
    if !state.db.update_role(&id, &description, &permissions, crate::now()).await? {
        return Err(DomainError::not_found());
    }
    state.roles.invalidate();
    let details = serde_json::json!({
        "role_id": id,
        "name": role.name,
        "permissions_before": role.permissions,
        "permissions": permissions,
    });
    audit(&state, "role_updated", None, Some(&me.user.id), &client, Some(details)).await;
    let role = state.db.role_by_id(&id).await?.ok_or_else(DomainError::not_found)?;
    Ok(Json(role.into()))
}

/// Deletes a custom role that no user holds.
#[utoipa::path(
    delete,
    path = "/v1/roles/{id}",
    tag = "roles",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Role id")),
    responses(
        (status = 204, description = "Deleted"),
        PermissionErrors,
        (status = 404, description = "No such role", body = ErrorBody),
        (status = 409, description = "A system role (`system_role`) or still assigned (`role_in_use`)",
            body = ErrorBody),
    ),
)]
async fn delete_role(
    State(state): State<AppState>,
    RequestMeta(client): RequestMeta,
    me: Caller,
    Path(id): Path<String>,
) -> DomainResult<Response> {
    me.require(ROLES_WRITE)?;
    let role = state.db.role_by_id(&id).await?.ok_or_else(DomainError::not_found)?;
    if role.system {
        return Err(conflict("system_role", "System roles cannot be deleted"));
    }
    let holders = state.db.users_with_role(&role.name).await?;
    if holders > 0 {
        return Err(conflict(
            "role_in_use",
            format!("The role is assigned to {holders} user(s); remove it from them first"),
        ));
    }
    if !state.db.delete_role(&id).await? {
        return Err(DomainError::not_found());
    }
    state.roles.invalidate();
    let details = serde_json::json!({"role_id": id, "name": role.name, "permissions": role.permissions});
    audit(&state, "role_deleted", None, Some(&me.user.id), &client, Some(details)).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}
