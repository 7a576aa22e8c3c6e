//! `/v1/auth/token` (client credentials), `/v1/admin/clients`, `/v1/internal/*`.
//!
//! - The token endpoint speaks RFC 6749: a form body, client authentication by HTTP Basic
//!   (`client_secret_basic`) or form fields (`client_secret_post`) but not both, errors
//!   as `{"error", "error_description"}` (section 5.2), `Cache-Control: no-store`. Failed
//!   client authentications are throttled per client id (and per address) with the login
//!   throttle's counters, and audited (`client_auth_failed`).
//! - The admin routes are guarded like `/v1/admin/*`: the tower crate's `AuthLayer`,
//!   then `Caller::require` in the handler.
//! - The internal routes accept only service-client tokens ([`ServiceClient`]) and audit
//!   every call, refusals included; they have no `AuthLayer`, which would refuse before
//!   the audit.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};

use super::caller::Caller;
use super::openapi::{BodyErrors, ErrorBody, PageErrors};
use super::users::Page;
use super::{RequestMeta, auth_layer, no_store, rfc3339};
use crate::clients::{
    AuthFailure, CREDENTIALS_READ, ServiceClient, ServiceClientRejection, ServiceClientRow, authenticate,
    granted_scopes, issue_token, register,
};
use crate::crypto::hash_token;
use crate::domain::audit::record;
use crate::domain::error::{DomainError, DomainResult};
use crate::routes::error::{ApiJson, ApiQuery};
use crate::startup::AppState;
use crate::store::ClientInfo;

const CLIENTS_READ: &str = "admin:clients:read";
const CLIENTS_WRITE: &str = "admin:clients:write";

/// Largest accepted token request body.
const MAX_TOKEN_REQUEST_BYTES: usize = 8 * 1024;

/// The realm of the Basic challenge on `invalid_client`.
const BASIC_CHALLENGE: &str = r#"Basic realm="authgate", charset="UTF-8""#;

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(token, list_clients, create_client, revoke_client, account_credentials),
    components(schemas(
        TokenRequest,
        TokenResponse,
        OAuthErrorBody,
        CreateClientBody,
        ClientView,
        ClientList,
        CreatedClient
    ))
)]
pub(crate) struct Api;

pub(crate) fn router(state: &AppState) -> Router<AppState> {
    let admin = Router::new()
        .route("/v1/admin/clients", get(list_clients).merge(post(create_client)))
        .route("/v1/admin/clients/{id}", delete(revoke_client))
        .route_layer(auth_layer(state));
    Router::new()
        .route("/v1/auth/token", post(token))
        .route("/v1/internal/trading-accounts/{id}/credentials", get(account_credentials))
        .merge(admin)
}

// ---- POST /v1/auth/token ---------------------------------------------------------------

/// A token request (RFC 6749 section 4.4.2), form encoded.
#[derive(ToSchema)]
#[allow(dead_code, reason = "documents the form body, which is parsed by hand")]
struct TokenRequest {
    #[schema(pattern = "^client_credentials$")]
    grant_type: String,
    /// Space-separated subset of the client's scopes; all of them when omitted.
    scope: Option<String>,
    /// `client_secret_post` only; otherwise HTTP Basic.
    client_id: Option<String>,
    /// `client_secret_post` only; otherwise HTTP Basic.
    client_secret: Option<String>,
}

/// A successful token response (RFC 6749 section 5.1).
#[derive(Serialize, ToSchema)]
struct TokenResponse {
    /// An `at+jwt` signed like user tokens: `sub` and `client_id` are the client id.
    access_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Lifetime in seconds (`CLIENT_TOKEN_TTL_SECS`).
    expires_in: u64,
    /// The granted scopes, space separated.
    scope: String,
}

/// An error of the token endpoint (RFC 6749 section 5.2).
#[derive(Serialize, ToSchema)]
struct OAuthErrorBody {
    /// `invalid_request`, `invalid_client`, `unsupported_grant_type`, `invalid_scope`,
    /// `too_many_requests` or `server_error`.
    error: &'static str,
    /// A client-safe explanation.
    error_description: &'static str,
}

/// An RFC 6749 error response.
#[derive(Debug)]
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: &'static str,
    basic_challenge: bool,
    retry_after: Option<u64>,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: &'static str) -> OAuthError {
        OAuthError { status, error, description, basic_challenge: false, retry_after: None }
    }

    fn invalid_request(description: &'static str) -> OAuthError {
        OAuthError::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    fn invalid_client() -> OAuthError {
        let mut e =
            OAuthError::new(StatusCode::UNAUTHORIZED, "invalid_client", "Client authentication failed");
        // Every 401 carries a challenge; Basic is the method we prefer.
        e.basic_challenge = true;
        e
    }

    fn server_error<E: std::fmt::Display>(cause: E) -> OAuthError {
        tracing::error!(error = %cause, "internal error at the token endpoint");
        OAuthError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "Internal server error")
    }
}

impl From<sqlx::Error> for OAuthError {
    fn from(e: sqlx::Error) -> OAuthError {
        OAuthError::server_error(e)
    }
}

impl From<crate::throttle::CounterError> for OAuthError {
    fn from(e: crate::throttle::CounterError) -> OAuthError {
        OAuthError::server_error(e)
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = OAuthErrorBody { error: self.error, error_description: self.description };
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        no_store(headers);
        if self.basic_challenge {
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static(BASIC_CHALLENGE));
        }
        if let Some(secs) = self.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        response
    }
}

/// The parameters the token endpoint reads; every other one is ignored (section 3.2).
#[derive(Default)]
struct TokenParams {
    grant_type: Option<String>,
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

impl TokenParams {
    /// Parses the form; a known parameter twice is `invalid_request`, an empty one counts
    /// as omitted (section 3.1).
    fn parse(body: &[u8]) -> Result<TokenParams, OAuthError> {
        let mut p = TokenParams::default();
        for (name, value) in url::form_urlencoded::parse(body) {
            let slot = match name.as_ref() {
                "grant_type" => &mut p.grant_type,
                "scope" => &mut p.scope,
                "client_id" => &mut p.client_id,
                "client_secret" => &mut p.client_secret,
                _ => continue,
            };
            if value.is_empty() {
                continue;
            }
            if slot.is_some() {
                return Err(OAuthError::invalid_request("A parameter is repeated"));
            }
            *slot = Some(value.into_owned());
        }
        Ok(p)
    }
}

/// How the client authenticated.
#[derive(Debug, Clone, Copy)]
enum ClientAuthMethod {
    Basic,
    Post,
}

impl ClientAuthMethod {
    fn as_str(self) -> &'static str {
        match self {
            ClientAuthMethod::Basic => "client_secret_basic",
            ClientAuthMethod::Post => "client_secret_post",
        }
    }
}

/// Decodes `application/x-www-form-urlencoded` (section 2.3.1: id and secret are encoded
/// so before Basic); `None` on a bad escape or invalid UTF-8.
fn form_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3).filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The HTTP Basic credentials, if the request has an `Authorization` header.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(AUTHORIZATION) else { return Ok(None) };
    if headers.get_all(AUTHORIZATION).iter().count() > 1 {
        return Err(OAuthError::invalid_request("Several Authorization headers"));
    }
    let malformed = || OAuthError::invalid_request("Malformed HTTP Basic credentials");
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, encoded) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        tracing::debug!("token request with an Authorization scheme other than Basic");
        return Err(OAuthError::invalid_client());
    }
    let decoded =
        base64::engine::general_purpose::STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let id = form_decode(id).ok_or_else(malformed)?;
    let secret = form_decode(secret).ok_or_else(malformed)?;
    if id.is_empty() || secret.is_empty() {
        return Err(malformed());
    }
    Ok(Some((id, secret)))
}

/// True for `application/x-www-form-urlencoded`, parameters allowed.
fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

/// Throttling key of a client id (hashed: the id is caller-controlled and unbounded).
/// The failure counter of one client *from one address*: client ids are public (every
/// token names its client), so a counter per client alone would let anyone lock the real
/// service out by sending wrong secrets. The throttle's own per-address counter still
/// bounds guessing from one address across clients.
fn client_key(client_id: &str, ip: Option<&str>) -> String {
    format!("client:{}", hash_token(&format!("{client_id}\n{}", ip.unwrap_or("-"))))
}

/// Client credentials grant: trades a client's id and secret for a short access token.
#[utoipa::path(
    post,
    path = "/v1/auth/token",
    tag = "service-clients",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "A token (Cache-Control: no-store)", body = TokenResponse),
        (status = 400, description = "invalid_request, unsupported_grant_type or invalid_scope", body = OAuthErrorBody),
        (status = 401, description = "invalid_client: unknown client, wrong secret or revoked", body = OAuthErrorBody),
        (status = 429, description = "Too many failed authentications of this client (Retry-After)", body = OAuthErrorBody),
    ),
    security(("client_basic" = []))
)]
async fn token(
    State(state): State<AppState>,
    RequestMeta(info): RequestMeta,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match token_inner(&state, &info, &uri, &headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn token_inner(
    state: &AppState,
    info: &ClientInfo,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, OAuthError> {
    // Section 2.3.1: credentials never in the URL.
    if let Some(query) = uri.query()
        && url::form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "client_secret")
    {
        return Err(OAuthError::invalid_request("Client credentials must not be sent in the URL"));
    }
    if !is_form(headers) {
        return Err(OAuthError::invalid_request("Expected Content-Type: application/x-www-form-urlencoded"));
    }
    let body = axum::body::to_bytes(body, MAX_TOKEN_REQUEST_BYTES)
        .await
        .map_err(|_| OAuthError::invalid_request("The request body is too large or unreadable"))?;
    let params = TokenParams::parse(&body)?;
    let basic = basic_credentials(headers)?;
    let (client_id, secret, method) = match (basic, params.client_id, params.client_secret) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(OAuthError::invalid_request("Use one client authentication method, not both"));
        }
        (Some((id, secret)), None, None) => (id, secret, ClientAuthMethod::Basic),
        (None, Some(id), Some(secret)) => (id, secret, ClientAuthMethod::Post),
        (None, Some(_), None) | (None, None, Some(_)) => {
            return Err(OAuthError::invalid_request("client_id and client_secret go together"));
        }
        (None, None, None) => {
            tracing::debug!("token request without client authentication");
            return Err(OAuthError::invalid_client());
        }
    };
    match params.grant_type.as_deref() {
        None => return Err(OAuthError::invalid_request("grant_type is required")),
        Some("client_credentials") => {}
        Some(_) => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Only the client_credentials grant is supported here",
            ));
        }
    }
    let now = crate::now();
    let ip = info.ip.as_deref();
    let key = client_key(&client_id, ip);
    let attempt = match state.throttle.begin(&state.throttle.login_keys(&key, ip), now).await? {
        Ok(attempt) => attempt,
        Err(retry) => {
            let mut e = OAuthError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "Too many failed attempts, try again later",
            );
            e.retry_after = Some(retry);
            return Err(e);
        }
    };
    let client = match authenticate(state, &client_id, &secret).await? {
        Ok(client) => client,
        Err(failure) => {
            client_auth_failed(state, info, &client_id, failure, method).await;
            if attempt.filled(&key) {
                let details = serde_json::json!({ "client_id": audit_str(&client_id) });
                record(&state.db, "client_locked", None, None, info, Some(details)).await;
            }
            return Err(OAuthError::invalid_client());
        }
    };
    state.throttle.release(attempt).await?;
    state.throttle.counters.clear(&key).await?;
    let Some(scopes) = granted_scopes(&client, params.scope.as_deref()) else {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "The requested scope exceeds the scopes of the client",
        ));
    };
    let (access_token, expires_in) = match issue_token(state, &client, &scopes).await {
        Ok(t) => t,
        // The cause was logged where the error was made.
        Err(_) => return Err(OAuthError::server_error("issuing a client token failed")),
    };
    let body = TokenResponse { access_token, token_type: "Bearer", expires_in, scope: scopes.join(" ") };
    let mut response = (StatusCode::OK, Json(body)).into_response();
    no_store(response.headers_mut());
    Ok(response)
}

/// A caller-controlled string, bounded for the audit log.
fn audit_str(s: &str) -> String {
    s.chars().take(64).collect()
}

async fn client_auth_failed(
    state: &AppState,
    info: &ClientInfo,
    client_id: &str,
    failure: AuthFailure,
    method: ClientAuthMethod,
) {
    tracing::debug!(client_id = ?audit_str(client_id), reason = failure.as_str(), "client authentication failed");
    let details = serde_json::json!({
        "client_id": audit_str(client_id),
        "reason": failure.as_str(),
        "method": method.as_str(),
    });
    record(&state.db, "client_auth_failed", None, None, info, Some(details)).await;
}

// ---- /v1/admin/clients -----------------------------------------------------------------

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

/// What `crate::clients` accepts as scopes: at least one, each a catalog permission
/// outside `admin:` without wildcards (duplicates are dropped).
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
    tag = "service-clients",
    params(Page),
    responses(
        (status = 200, description = "The clients", body = ClientList),
        PageErrors,
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "insufficient_scope: needs admin:clients:read", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn list_clients(
    State(state): State<AppState>,
    me: Caller,
    ApiQuery(page): ApiQuery<Page>,
) -> DomainResult<Json<ClientList>> {
    me.require(CLIENTS_READ)?;
    let clients = state.db.list_service_clients(page.limit(), page.offset()).await?;
    Ok(Json(ClientList { clients: clients.iter().map(ClientView::from).collect() }))
}

/// Registers a service client; the answer holds its secret, shown only this once.
#[utoipa::path(
    post,
    path = "/v1/admin/clients",
    tag = "service-clients",
    request_body = CreateClientBody,
    responses(
        (status = 201, description = "Created; the secret is shown once (Cache-Control: no-store)", body = CreatedClient),
        BodyErrors,
        (status = 400, description = "invalid_name or invalid_scopes", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "insufficient_scope: needs admin:clients:write", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn create_client(
    State(state): State<AppState>,
    RequestMeta(info): RequestMeta,
    me: Caller,
    ApiJson(body): ApiJson<CreateClientBody>,
) -> DomainResult<Response> {
    me.require(CLIENTS_WRITE)?;
    let (row, client_secret) = register(&state, &body.name, &body.scopes, Some(&me.user.id), &info).await?;
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
    tag = "service-clients",
    params(("id" = String, Path, description = "The client's id or client_id")),
    responses(
        (status = 204, description = "Revoked (or already revoked)"),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "insufficient_scope: needs admin:clients:write", body = ErrorBody),
        (status = 404, description = "No such client", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn revoke_client(
    State(state): State<AppState>,
    RequestMeta(info): RequestMeta,
    me: Caller,
    Path(id): Path<String>,
) -> DomainResult<StatusCode> {
    me.require(CLIENTS_WRITE)?;
    let row = state.db.revoke_service_client(&id, crate::now()).await?.ok_or_else(DomainError::not_found)?;
    let details = serde_json::json!({ "client_id": row.client_id });
    record(&state.db, "client_revoked", None, Some(&me.user.id), &info, Some(details)).await;
    Ok(StatusCode::NO_CONTENT)
}

// ---- /v1/internal ----------------------------------------------------------------------

/// The decrypted broker credentials of a trading account, for services only: a client
/// token with `trading_accounts:credentials:read`. Every call is audited
/// (`credentials_read`), refusals included.
#[utoipa::path(
    get,
    path = "/v1/internal/trading-accounts/{id}/credentials",
    tag = "service-clients",
    params(("id" = String, Path, description = "The trading account's id")),
    responses(
        (status = 200, description = "The decrypted credentials (Cache-Control: no-store)", body = Object),
        (status = 401, description = "Missing or invalid token, or the token of a revoked client", body = ErrorBody),
        (status = 403, description = "insufficient_scope: not a client token, or no trading_accounts:credentials:read", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn account_credentials(
    State(state): State<AppState>,
    RequestMeta(info): RequestMeta,
    Path(id): Path<String>,
    caller: Result<ServiceClient, ServiceClientRejection>,
) -> Response {
    let mut client_id = None;
    let mut user_id = None;
    let (result, outcome): (DomainResult<Json<serde_json::Value>>, &str) = match caller {
        Err(rejection) => {
            match &rejection {
                ServiceClientRejection::InvalidToken { subject, .. } => client_id = subject.clone(),
                ServiceClientRejection::NotAClient { user_id: u } => user_id = Some(u.clone()),
                _ => {}
            }
            let reason = rejection.reason();
            (Err(rejection.into_error(CREDENTIALS_READ)), reason)
        }
        Ok(client) => {
            client_id = Some(client.client_id.clone());
            match client.require(CREDENTIALS_READ) {
                Err(e) => (Err(e), "insufficient_scope"),
                Ok(()) => match crate::accounts::account_credentials(&state, &id).await {
                    Ok(Some(credentials)) => (Ok(Json(credentials)), "ok"),
                    Ok(None) => (Err(DomainError::not_found()), "not_found"),
                    Err(e) => (Err(e), "error"),
                },
            }
        }
    };
    let details = serde_json::json!({
        "client_id": client_id,
        "account_id": audit_str(&id),
        "outcome": outcome,
    });
    let written = state
        .db
        .insert_audit(
            "credentials_read",
            user_id.as_deref(),
            client_id.as_deref(),
            &info,
            Some(&details),
            crate::now(),
        )
        .await;
    let mut response = match (result, written) {
        // No credentials leave without their audit record.
        (Ok(_), Err(e)) => DomainError::internal(e).into_response(),
        (Ok(json), Ok(())) => json.into_response(),
        (Err(e), written) => {
            if let Err(w) = written {
                tracing::error!(error = %w, "writing the credentials_read audit event failed");
            }
            e.into_response()
        }
    };
    no_store(response.headers_mut());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clients_failure_counter_is_per_address() {
        // Client ids are public: one address failing must not lock the client elsewhere.
        assert_ne!(client_key("svc_1", Some("10.0.0.1")), client_key("svc_1", Some("10.0.0.2")));
        assert_ne!(client_key("svc_1", Some("10.0.0.1")), client_key("svc_2", Some("10.0.0.1")));
        assert_eq!(client_key("svc_1", None), client_key("svc_1", None));
    }

    #[test]
    fn form_decoding_follows_rfc6749_2_3_1() {
        assert_eq!(form_decode("a%3Ab+c").as_deref(), Some("a:b c"));
        assert_eq!(form_decode("%E2%82%AC").as_deref(), Some("€"));
        assert_eq!(form_decode("%"), None);
        assert_eq!(form_decode("%4"), None);
        assert_eq!(form_decode("%zz"), None);
        assert_eq!(form_decode("%+1"), None);
        assert_eq!(form_decode("%FF"), None, "invalid UTF-8");
        assert_eq!(form_decode("%€"), None, "a multibyte char after % never panics");
    }

    #[test]
    fn repeated_parameters_are_refused_and_empty_ones_ignored() {
        assert!(TokenParams::parse(b"grant_type=a&grant_type=b").is_err());
        let p = TokenParams::parse(b"scope=&scope=x&unknown=1&unknown=2").unwrap();
        assert_eq!(p.scope.as_deref(), Some("x"));
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let mut h = HeaderMap::new();
        let enc = base64::engine::general_purpose::STANDARD.encode("svc_a%3A:s+%25");
        h.insert(AUTHORIZATION, HeaderValue::from_str(&format!("basic {enc}")).unwrap());
        assert_eq!(basic_credentials(&h).unwrap(), Some(("svc_a:".to_owned(), "s %".to_owned())));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert_eq!(basic_credentials(&h).unwrap_err().error, "invalid_request");
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        assert_eq!(basic_credentials(&h).unwrap_err().error, "invalid_client");
    }
}
