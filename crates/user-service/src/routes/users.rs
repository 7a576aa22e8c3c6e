//! `/v1/users/me*`: profile, password change, sessions, own audit events.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::caller::Acting;
use super::caller::{ApiKeyCaller, Caller, MeCaller};
use super::openapi::{BearerErrors, BodyErrors, ErrorBody, PageErrors};
use super::views::UserView;
use super::views::rfc3339;
use crate::domain::error::DomainResult;
use crate::domain::{audit, password_reset};
use crate::routes::error::{ApiJson, ApiQuery};
use crate::state::AppState;
use crate::store::{ApiKey, AuditEvent, Session};

/// `GET /v1/users/me`: the user plus how the caller authenticated.
#[derive(Serialize, ToSchema)]
struct MeView {
    #[serde(flatten)]
    user: UserView,
    /// When MFA is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    recovery_codes_remaining: Option<i64>,
    /// `jwt` or `api_key`.
    #[schema(value_type = String)]
    auth_method: &'static str,
    /// Authentication methods of the session (`pwd`, `mfa`, `otp`, ...); JWT only.
    #[serde(skip_serializing_if = "Option::is_none")]
    amr: Option<Vec<String>>,
    /// JWT only.
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Option<String>,
    /// The key that authenticated the call; API key only.
    #[serde(skip_serializing_if = "Option::is_none")]
    api_key: Option<MeApiKeyView>,
}

impl MeView {
    /// A key carries its permissions, not its owner's roles: an admin's key limited to
    /// `positions:read` must not pass another service's `require_role("admin")`.
    fn api_key(caller: ApiKeyCaller) -> MeView {
        let mut user = UserView::new(&caller.user, &caller.permissions);
        user.roles = Vec::new();
        let ApiKey { id, name, display_prefix: prefix, trading_account_id, expires_at, .. } = caller.key;
        let expires_at = expires_at.map(rfc3339);
        let api_key = Some(MeApiKeyView { id, name, prefix, trading_account_id, expires_at });
        MeView {
            user,
            recovery_codes_remaining: None,
            auth_method: "api_key",
            amr: None,
            session_id: None,
            api_key,
        }
    }
}

/// The API key behind a `GET /v1/users/me` made with `X-API-Key`.
#[derive(Serialize, ToSchema)]
struct MeApiKeyView {
    id: String,
    name: String,
    /// The key's first characters, to recognise it.
    prefix: String,
    trading_account_id: Option<String>,
    expires_at: Option<String>,
}

/// A session of the caller.
#[derive(Serialize, ToSchema)]
struct SessionView {
    id: String,
    created_at: String,
    last_used_at: String,
    expires_at: String,
    ip: Option<String>,
    user_agent: Option<String>,
    amr: Vec<String>,
    /// The session of the token that asked.
    current: bool,
}

impl SessionView {
    fn new(s: Session, current_id: &str) -> SessionView {
        SessionView {
            current: s.id == current_id,
            id: s.id,
            created_at: rfc3339(s.created_at),
            last_used_at: rfc3339(s.last_used_at),
            expires_at: rfc3339(s.expires_at),
            ip: s.ip,
            user_agent: s.user_agent,
            amr: s.amr,
        }
    }
}

#[derive(Serialize, ToSchema)]
struct SessionList {
    sessions: Vec<SessionView>,
}

/// An audit event.
#[derive(Serialize, ToSchema)]
pub(crate) struct AuditEventView {
    id: String,
    /// The user the event is about.
    user_id: Option<String>,
    /// Who did it (the user, an admin, or none for the system).
    actor_id: Option<String>,
    #[schema(example = "login_succeeded")]
    event: String,
    ip: Option<String>,
    user_agent: Option<String>,
    #[schema(value_type = Option<Object>)]
    details: Option<serde_json::Value>,
    /// RFC 3339.
    created_at: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct AuditEventList {
    events: Vec<AuditEventView>,
}

impl From<Vec<AuditEvent>> for AuditEventList {
    fn from(events: Vec<AuditEvent>) -> AuditEventList {
        let view = |e: AuditEvent| AuditEventView {
            id: e.id,
            user_id: e.user_id,
            actor_id: e.actor_id,
            event: e.event,
            ip: e.ip,
            user_agent: e.user_agent,
            details: e.details,
            created_at: rfc3339(e.created_at),
        };
        AuditEventList { events: events.into_iter().map(view).collect() }
    }
}

pub(crate) fn router(state: &AppState) -> OpenApiRouter<AppState> {
    // `GET /v1/users/me` also takes an API key, so a missing token is not refused there.
    let me = OpenApiRouter::new()
        .routes(routes!(me, update_me))
        .route_layer(super::caller::optional_auth_layer(state));
    OpenApiRouter::new()
        .routes(routes!(change_password))
        .routes(routes!(sessions))
        .routes(routes!(revoke_session))
        .routes(routes!(audit_events))
        .route_layer(super::caller::auth_layer(state))
        .merge(me)
}

/// The caller's profile. With `X-API-Key` (the verification call of the core crate's
/// `RemoteApiKeyVerifier`) it answers the key's owner with the key's permissions.
#[utoipa::path(
    get,
    path = "/v1/users/me",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The caller", body = MeView),
        (status = 400, description = "Both an API key and a bearer token, or a malformed one", body = ErrorBody),
        (status = 401, description = "Missing or invalid access token or API key", body = ErrorBody),
    ),
)]
async fn me(State(state): State<AppState>, caller: MeCaller) -> DomainResult<Json<MeView>> {
    let me = match caller {
        MeCaller::Jwt(me) => me,
        MeCaller::ApiKey(caller) => return Ok(Json(MeView::api_key(caller))),
    };
    Ok(Json(MeView {
        recovery_codes_remaining: state.users().recovery_codes_remaining(&me.user).await?,
        user: UserView::new(&me.user, &me.permissions),
        auth_method: "jwt",
        amr: Some(me.amr),
        session_id: Some(me.session_id),
        api_key: None,
    }))
}

#[derive(Deserialize, ToSchema)]
struct UpdateMe {
    #[schema(max_length = 100, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    name: Option<String>,
}

/// Only the display name can change here; unknown fields are ignored.
#[utoipa::path(
    patch,
    path = "/v1/users/me",
    security(("bearer" = [])),
    request_body = UpdateMe,
    responses((status = 200, description = "The changed user", body = UserView), BearerErrors, BodyErrors),
)]
async fn update_me(
    State(state): State<AppState>,
    me: Caller,
    ApiJson(body): ApiJson<UpdateMe>,
) -> DomainResult<Json<UserView>> {
    let user = state.users().update_own(&me.user.id, body.name.as_deref()).await?;
    Ok(Json(UserView::new(&user, &me.permissions)))
}

#[derive(Deserialize, ToSchema)]
struct ChangePassword {
    current_password: String,
    new_password: String,
}

/// Needs the current password; revokes every other session (I11).
#[utoipa::path(
    post,
    path = "/v1/users/me/password",
    security(("bearer" = [])),
    request_body = ChangePassword,
    responses(
        (status = 204, description = "Changed; every other session revoked"),
        BearerErrors,
        BodyErrors,
        (status = 403, description = "The current password is wrong (`invalid_password`)", body = ErrorBody),
        (status = 429, description = "Too many wrong passwords on the account or address (`Retry-After`)", body = ErrorBody),
    ),
)]
async fn change_password(
    State(state): State<AppState>,
    me: Acting,
    ApiJson(body): ApiJson<ChangePassword>,
) -> DomainResult<StatusCode> {
    let (current, new) = (body.current_password, body.new_password);
    password_reset::change(&state.auth(), &me.caller, current, new, &me.client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's active sessions.
#[utoipa::path(
    get,
    path = "/v1/users/me/sessions",
    security(("bearer" = [])),
    responses((status = 200, description = "Active sessions, newest first", body = SessionList), BearerErrors),
)]
async fn sessions(State(state): State<AppState>, me: Caller) -> DomainResult<Json<SessionList>> {
    let list = state.users().sessions(&me.user.id).await?;
    Ok(Json(SessionList {
        sessions: list.into_iter().map(|s| SessionView::new(s, &me.session_id)).collect(),
    }))
}

/// Another user's session is "not found" (I25).
#[utoipa::path(
    delete,
    path = "/v1/users/me/sessions/{id}",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Session id")),
    responses(
        (status = 204, description = "Revoked"),
        BearerErrors,
        (status = 404, description = "No such session of the caller", body = ErrorBody),
    ),
)]
async fn revoke_session(
    State(state): State<AppState>,
    me: Acting,
    Path(id): Path<String>,
) -> DomainResult<StatusCode> {
    state.users().revoke_session(&me.actor(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Pagination of a list; a value out of range is 400, as the document says.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Page {
    /// How many, default 50.
    #[param(minimum = 1, maximum = 200)]
    #[serde(default, deserialize_with = "in_range::<_, 1, 200>")]
    limit: Option<i64>,
    /// How many to skip, default 0.
    #[param(minimum = 0)]
    #[serde(default, deserialize_with = "in_range::<_, 0, { i64::MAX }>")]
    offset: Option<i64>,
}

fn in_range<'de, D: serde::Deserializer<'de>, const MIN: i64, const MAX: i64>(
    d: D,
) -> Result<Option<i64>, D::Error> {
    let n = i64::deserialize(d)?;
    (MIN..=MAX).contains(&n).then_some(Some(n)).ok_or_else(|| serde::de::Error::custom("out of range"))
}

impl Page {
    pub(crate) fn limit(&self) -> i64 {
        self.limit.unwrap_or(50)
    }
    pub(crate) fn offset(&self) -> i64 {
        self.offset.unwrap_or(0)
    }
}

/// The caller's own audit events, newest first.
#[utoipa::path(
    get,
    path = "/v1/users/me/audit-events",
    security(("bearer" = [])),
    params(Page),
    responses((status = 200, description = "Events", body = AuditEventList), BearerErrors, PageErrors),
)]
async fn audit_events(
    State(state): State<AppState>,
    me: Caller,
    ApiQuery(page): ApiQuery<Page>,
) -> DomainResult<Json<AuditEventList>> {
    Ok(Json(audit::events_of(&state.db, &me.user.id, page.limit(), page.offset()).await?.into()))
}
