//! `GET /health`, `GET /metrics`, and in dev `GET /v1/dev/outbox`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use crate::error::ApiResult;
use crate::startup::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/health", get(health)).route("/metrics", get(metrics))
}

/// Routes that exist only in `dev`.
pub(crate) fn dev_router() -> Router<AppState> {
    Router::new().route("/v1/dev/outbox", get(outbox))
}

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

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(state.passwords.waiting()),
    )
}

/// The development mailer's messages, newest first.
async fn outbox(State(state): State<AppState>) -> ApiResult<impl IntoResponse> {
    let messages = state.db.outbox(50).await?;
    Ok(Json(serde_json::json!({ "messages": messages })))
}
