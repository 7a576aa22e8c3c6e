//! `/v1/permissions`, `/v1/roles`: the role catalog (rules in `crate::domain::roles`),
//! guarded like `/v1/admin/*`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::caller::Acting;
use super::openapi::{BodyErrors, ErrorBody, PermissionErrors};
use super::views::rfc3339;
use crate::domain::error::DomainResult;
use crate::domain::roles::{MAX_PERMISSIONS, PERMISSIONS, Permission, RoleCatalog, check_grantable};
use crate::routes::error::ApiJson;
use crate::state::AppState;
use crate::store::Role;

pub(crate) fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_permissions))
        .routes(routes!(list_roles, create_role))
        .routes(routes!(get_role, update_role, delete_role))
        .route_layer(super::caller::auth_layer(state))
}

#[derive(Serialize, ToSchema)]
struct PermissionList {
    permissions: &'static [Permission],
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

/// The permission catalog: every permission the platform checks.
#[utoipa::path(
    get,
    path = "/v1/permissions",
    security(("bearer" = ["admin:roles:read"])),
    responses((status = 200, description = "The catalog", body = PermissionList), PermissionErrors),
)]
async fn list_permissions(me: Acting) -> DomainResult<Json<PermissionList>> {
    Ok(Json(PermissionList { permissions: RoleCatalog::permission_catalog(&me.actor())? }))
}

/// Every role, system roles first.
#[utoipa::path(
    get,
    path = "/v1/roles",
    security(("bearer" = ["admin:roles:read"])),
    responses((status = 200, description = "The roles", body = RoleList), PermissionErrors),
)]
async fn list_roles(State(state): State<AppState>, me: Acting) -> DomainResult<Json<RoleList>> {
    let roles = state.roles.list(&me.actor()).await?.into_iter().map(RoleView::from).collect();
    Ok(Json(RoleList { roles }))
}

/// Creates a custom role.
#[utoipa::path(
    post,
    path = "/v1/roles",
    security(("bearer" = ["admin:roles:write"])),
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
    me: Acting,
    ApiJson(body): ApiJson<CreateRole>,
) -> DomainResult<(StatusCode, Json<RoleView>)> {
    let role = state.roles.create(&me.actor(), body.name, body.description, body.permissions).await?;
    Ok((StatusCode::CREATED, Json(role.into())))
}

/// One role.
#[utoipa::path(
    get,
    path = "/v1/roles/{id}",
    security(("bearer" = ["admin:roles:read"])),
    params(("id" = String, Path, description = "Role id")),
    responses(
        (status = 200, description = "The role", body = RoleView),
        PermissionErrors,
        (status = 404, description = "No such role", body = ErrorBody),
    ),
)]
async fn get_role(
    State(state): State<AppState>,
    me: Acting,
    Path(id): Path<String>,
) -> DomainResult<Json<RoleView>> {
    Ok(Json(state.roles.get(&me.actor(), &id).await?.into()))
}

/// Changes a role's description or permissions (the system `admin` role cannot change).
#[utoipa::path(
    patch,
    path = "/v1/roles/{id}",
    security(("bearer" = ["admin:roles:write"])),
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
    me: Acting,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateRole>,
) -> DomainResult<Json<RoleView>> {
    let role = state.roles.update(&me.actor(), &id, body.description, body.permissions).await?;
    Ok(Json(role.into()))
}

/// Deletes a custom role that no user holds.
#[utoipa::path(
    delete,
    path = "/v1/roles/{id}",
    security(("bearer" = ["admin:roles:write"])),
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
    me: Acting,
    Path(id): Path<String>,
) -> DomainResult<StatusCode> {
    state.roles.delete(&me.actor(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
