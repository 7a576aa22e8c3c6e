//! `GET /health`, `GET /metrics`, and in dev `GET /v1/dev/outbox`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use super::openapi::ErrorBody;
use crate::error::ApiResult;
use crate::startup::AppState;

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(health, metrics, outbox))]
pub(crate) struct Api;

/// The body of `/health`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code, reason = "documents the JSON the handler builds")]
struct Health {
    /// `ok` or `degraded`.
    #[schema(example = "ok")]
    status: String,
    /// `ok` or `unavailable`.
    database: String,
    /// `ok` or `unavailable`; present when Redis holds the throttling counters.
    redis: Option<String>,
    /// `dev`, `staging` or `production`.
    environment: String,
}

/// A message of the development outbox.
#[derive(utoipa::ToSchema)]
#[allow(dead_code, reason = "documents the JSON the handler builds")]
struct OutboxMessage {
    id: String,
    recipient: String,
    subject: String,
    body: String,
    /// Unix seconds.
    created_at: i64,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code, reason = "documents the JSON the handler builds")]
struct Outbox {
    messages: Vec<OutboxMessage>,
}

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/health", get(health)).route("/metrics", get(metrics))
}

/// Routes that exist only in `dev`.
pub(crate) fn dev_router() -> Router<AppState> {
    Router::new().route("/v1/dev/outbox", get(outbox))
}

/// Liveness and readiness: the database and (when used) Redis answer.
#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    responses(
        (status = 200, description = "Everything answers", body = Health),
        (status = 503, description = "The database or Redis does not answer", body = Health),
    ),
)]
async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let db_ok = state.db.ping().await;
    let redis = state.throttle.counters.redis_ok().await;
    let ok = db_ok && redis != Some(false);
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let mut body = serde_json::json!({
        "status": if ok { "ok" } else { "degraded" },
        "database": if db_ok { "ok" } else { "unavailable" },
        "environment": state.config.environment.as_str(),
    });
    if let Some(r) = redis {
        body["redis"] = (if r { "ok" } else { "unavailable" }).into();
    }
    (status, Json(body))
}

/// Prometheus metrics (text exposition format 0.0.4).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "The metrics", content_type = "text/plain", body = String)),
)]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(state.passwords.waiting(), state.passwords.verifications()),
    )
}

/// The development mailer's messages, newest first. Served only when `APP_ENV=dev`.
#[utoipa::path(
    get,
    path = "/v1/dev/outbox",
    tag = "operations",
    responses(
        (status = 200, description = "The 50 newest messages", body = Outbox),
        (status = 404, description = "Not in `dev`", body = ErrorBody),
    ),
)]
async fn outbox(State(state): State<AppState>) -> ApiResult<impl IntoResponse> {
    let messages = state.db.outbox(50).await?;
    Ok(Json(serde_json::json!({ "messages": messages })))
}
