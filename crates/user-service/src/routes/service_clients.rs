//! `/v1/admin/clients`: service clients as administrators register, list and revoke
//! them (`admin:clients:read` / `:write`, checked by the domain); and the
//! [`ServiceClient`] extractor of the routes that only service-client tokens may call.

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::caller::Acting;
use super::caller::auth_layer;
use super::caller::bearer_token_from_headers;
use super::openapi::{BodyErrors, ErrorBody, PageErrors, PermissionErrors};
use super::token_response::no_store;
use super::users::Page;
use super::views::rfc3339;
use crate::domain::error::{DomainError, DomainResult};
use crate::domain::service_clients::{self as clients, RefusedService, ServiceClient};
use crate::routes::error::{ApiJson, ApiQuery};
use crate::state::AppState;
use crate::store::ServiceClientRow;

pub(crate) fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_clients, create_client))
        .routes(routes!(revoke_client))
        .route_layer(auth_layer(state))
}

/// A service client as administrators see it (never its secret).
#[derive(Serialize, ToSchema)]
struct ClientView {
    /// Internal id.
    id: String,
    /// The public client id (`svc_...`), used to authenticate.
    client_id: String,
    name: String,
    scopes: Vec<String>,
    /// The administrator who created it; absent when created with the CLI.
    created_by: Option<String>,
    /// RFC 3339.
    created_at: String,
    /// RFC 3339; set once revoked.
    revoked_at: Option<String>,
    /// RFC 3339; the last token issued.
    last_used_at: Option<String>,
}

impl From<&ServiceClientRow> for ClientView {
    fn from(c: &ServiceClientRow) -> ClientView {
        ClientView {
            id: c.id.clone(),
            client_id: c.client_id.clone(),
            name: c.name.clone(),
            scopes: c.scopes.clone(),
            created_by: c.created_by.clone(),
            created_at: rfc3339(c.created_at),
            revoked_at: c.revoked_at.map(rfc3339),
            last_used_at: c.last_used_at.map(rfc3339),
        }
    }
}

#[derive(Serialize, ToSchema)]
struct ClientList {
    clients: Vec<ClientView>,
}

/// A new client and its secret, shown this once.
#[derive(Serialize, ToSchema)]
struct CreatedClient {
    #[serde(flatten)]
    client: ClientView,
    /// 256 random bits; stored only as a hash, so it cannot be shown again.
    client_secret: String,
}

#[derive(Deserialize, ToSchema)]
struct CreateClientBody {
    /// A name for people, e.g. `ticker`.
    #[schema(
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    name: String,
    /// Exact scope names (no wildcards, no `admin:`), e.g. `trading_accounts:credentials:read`.
    #[schema(schema_with = scopes_schema)]
    scopes: Vec<String>,
}

/// What `crate::domain::service_clients` accepts as scopes: at least one, each a catalog
/// permission outside `admin:` without wildcards (duplicates are dropped).
fn scopes_schema() -> utoipa::openapi::Array {
    let names = crate::domain::roles::PERMISSIONS
        .iter()
        .map(|p| p.name)
        .filter(|n| !n.starts_with("admin:") && !n.contains('*'));
    let name = ObjectBuilder::new().schema_type(Type::String).enum_values(Some(names));
    ArrayBuilder::new().items(name).min_items(Some(1)).build()
}

/// Lists service clients, revoked ones included.
#[utoipa::path(
    get,
    path = "/v1/admin/clients",
    params(Page),
    responses(
        (status = 200, description = "The clients", body = ClientList),
        PageErrors,
        PermissionErrors,
    ),
    security(("bearer" = ["admin:clients:read"]))
)]
async fn list_clients(
    State(state): State<AppState>,
    me: Acting,
    ApiQuery(page): ApiQuery<Page>,
) -> DomainResult<Json<ClientList>> {
    let clients = clients::list(&state.db, &me.actor(), page.limit(), page.offset()).await?;
    Ok(Json(ClientList { clients: clients.iter().map(ClientView::from).collect() }))
}

/// Registers a service client; the answer holds its secret, shown only this once.
#[utoipa::path(
    post,
    path = "/v1/admin/clients",
    request_body = CreateClientBody,
    responses(
        (status = 201, description = "Created; the secret is shown once (Cache-Control: no-store)", body = CreatedClient),
        BodyErrors,
        PermissionErrors,
        (status = 400, description = "invalid_name or invalid_scopes", body = ErrorBody),
    ),
    security(("bearer" = ["admin:clients:write"]))
)]
async fn create_client(
    State(state): State<AppState>,
    me: Acting,
    ApiJson(body): ApiJson<CreateClientBody>,
) -> DomainResult<Response> {
    let (row, client_secret) = clients::register(&state.db, &me.actor(), &body.name, &body.scopes).await?;
    let created = CreatedClient { client: ClientView::from(&row), client_secret };
    let mut response = (StatusCode::CREATED, Json(created)).into_response();
    no_store(response.headers_mut());
    Ok(response)
}

/// Revokes a client (by id or client id): it gets no new tokens, and its current tokens
/// stop working at this service at once.
#[utoipa::path(
    delete,
    path = "/v1/admin/clients/{id}",
    params(("id" = String, Path, description = "The client's id or client_id")),
    responses(
        (status = 204, description = "Revoked (or already revoked)"),
        PermissionErrors,
        (status = 404, description = "No such client", body = ErrorBody),
    ),
    security(("bearer" = ["admin:clients:write"]))
)]
async fn revoke_client(
    State(state): State<AppState>,
    me: Acting,
    Path(id): Path<String>,
) -> DomainResult<StatusCode> {
    clients::revoke(&state.db, &me.actor(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A refusal answered as is, by a handler that does not audit it; a user's token is
/// refused as needing a service client's.
impl IntoResponse for RefusedService {
    fn into_response(self) -> Response {
        let not_a_client =
            || DomainError::forbidden("insufficient_scope", "A service client token is required");
        self.error.unwrap_or_else(not_a_client).into_response()
    }
}

/// The caller of a service endpoint; handlers that audit refusals take
/// `Result<ServiceClient, RefusedService>`.
impl FromRequestParts<AppState> for ServiceClient {
    type Rejection = RefusedService;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let refused = |client_id, reason, error| RefusedService {
            client_id,
            user_id: None,
            reason,
            error: Some(error),
        };
        let token = bearer_token_from_headers(&parts.headers)
            .ok_or_else(|| refused(None, "missing_token", DomainError::missing_token()))?;
        let principal = state
            .auth()
            .verify(token)
            .await
            .map_err(|e| refused(None, "invalid_token", DomainError::auth(&e)))?;
        let claims = principal.claims();
        let sub = principal.user_id();
        let client_id = claims.get("client_id").and_then(|v| v.as_str());
        if claims.sid().is_some() || client_id != Some(sub) {
            tracing::debug!("a token that is not a service-client token at a service endpoint");
            let user_id = Some(sub.to_owned());
            return Err(RefusedService {
                client_id: None,
                user_id,
                reason: "not_a_client_token",
                error: None,
            });
        }
        let row =
            state.db.service_client_by_client_id(sub).await.map_err(|e| refused(None, "error", e.into()))?;
        let Some(row) = row.filter(ServiceClientRow::is_active) else {
            tracing::debug!(client_id = ?sub, "token of a revoked or unknown service client");
            let refusal =
                authgate::Error::new(authgate::ErrorKind::InvalidClaims, "revoked or unknown client");
            return Err(refused(Some(sub.to_owned()), "invalid_token", DomainError::auth(&refusal)));
        };
        let scopes = claims.scopes().into_iter().filter(|s| row.scopes.contains(s)).collect();
        Ok(ServiceClient { client_id: row.client_id, scopes })
    }
}
