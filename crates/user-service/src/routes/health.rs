//! `GET /health` (liveness), `GET /ready` (readiness), and in dev `GET /v1/dev/outbox`.
//! `GET /metrics` is on the metrics listener (`crate::metrics`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::openapi::ErrorBody;
use crate::domain::error::DomainResult;
use crate::state::AppState;
use crate::store;

/// The body of `/health`: the process answers.
#[derive(Serialize, utoipa::ToSchema)]
struct Health {
    /// Always `ok`.
    #[schema(value_type = String, example = "ok")]
    status: &'static str,
}

/// The body of `/ready`.
#[derive(Serialize, utoipa::ToSchema)]
struct Ready {
    /// `ready` or `not_ready`.
    #[schema(value_type = String, example = "ready")]
    status: &'static str,
    /// `ok` or `unavailable`: the database answers and is migrated.
    #[schema(value_type = String)]
    database: &'static str,
    /// `ok` or `unavailable`: a signing key is loaded and can sign now.
    #[schema(value_type = String)]
    signing_key: &'static str,
    /// `ok` or `unavailable`; present when Redis holds the throttling counters.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    redis: Option<&'static str>,
    /// When not ready: the checks that failed, e.g. `database unavailable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// `dev`, `staging` or `production`.
    #[schema(value_type = String)]
    environment: &'static str,
}

/// A message of the development outbox.
#[derive(Serialize, utoipa::ToSchema)]
struct OutboxMessage {
    id: String,
    recipient: String,
    subject: String,
    body: String,
    /// Unix seconds.
    created_at: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Outbox {
    messages: Vec<OutboxMessage>,
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health)).routes(routes!(ready))
}

/// Routes that exist only in `dev`.
pub(crate) fn dev_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(outbox))
}

/// Liveness: the process is up and serving. Checks no dependency, so an orchestrator
/// does not restart a healthy process because the database is briefly away.
#[utoipa::path(
    get,
    path = "/health",
    responses((status = 200, description = "The process answers", body = Health)),
)]
async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: the database answers (and is migrated), Redis answers when it holds the
/// throttling counters, and a signing key is loaded. 503 names what is missing.
#[utoipa::path(
    get,
    path = "/ready",
    responses(
        (status = 200, description = "Ready to serve", body = Ready),
        (status = 503, description = "A dependency is missing; `reason` says which", body = Ready),
    ),
)]
async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Ready>) {
    let checks = Readiness {
        database: state.db.ping().await,
        redis: state.throttle.counters.redis_ok().await,
        signing_key: state.keys.can_sign(crate::now()).await,
    };
    let (status, body) = checks.report(state.config.environment.as_str());
    (status, Json(body))
}

/// The outcome of each readiness check.
#[derive(Debug, Clone, Copy)]
struct Readiness {
    database: bool,
    /// `None` when Redis is not configured.
    redis: Option<bool>,
    signing_key: bool,
}

impl Readiness {
    fn report(self, environment: &'static str) -> (StatusCode, Ready) {
        let word = |ok: bool| if ok { "ok" } else { "unavailable" };
        let mut failed = Vec::new();
        if !self.database {
            failed.push("database unavailable");
        }
        if self.redis == Some(false) {
            failed.push("redis unavailable");
        }
        if !self.signing_key {
            failed.push("no signing key loaded");
        }
        let body = Ready {
            status: if failed.is_empty() { "ready" } else { "not_ready" },
            database: word(self.database),
            signing_key: word(self.signing_key),
            redis: self.redis.map(word),
            reason: (!failed.is_empty()).then(|| failed.join(", ")),
            environment,
        };
        let status = if failed.is_empty() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
        (status, body)
    }
}

/// The development mailer's messages, newest first. Served only when `APP_ENV=dev`.
#[utoipa::path(
    get,
    path = "/v1/dev/outbox",
    responses(
        (status = 200, description = "The 50 newest messages", body = Outbox),
        (status = 404, description = "Not in `dev`", body = ErrorBody),
    ),
)]
async fn outbox(State(state): State<AppState>) -> DomainResult<Json<Outbox>> {
    let view = |m: store::OutboxMessage| OutboxMessage {
        id: m.id,
        recipient: m.recipient,
        subject: m.subject,
        body: m.body,
        created_at: m.created_at,
    };
    Ok(Json(Outbox { messages: state.db.outbox(50).await?.into_iter().map(view).collect() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failed_check_is_named_in_the_reason() {
        let all = Readiness { database: true, redis: Some(true), signing_key: true };
        let (status, body) = all.report("dev");
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            serde_json::to_value(body).unwrap(),
            serde_json::json!({"status": "ready", "database": "ok", "redis": "ok", "signing_key": "ok",
                "environment": "dev"})
        );

        let (status, body) = Readiness { database: true, redis: None, signing_key: true }.report("dev");
        let body = serde_json::to_value(body).unwrap();
        assert_eq!(status, StatusCode::OK);
        assert!(body.get("redis").is_none(), "{body}");

        let none = Readiness { database: false, redis: Some(false), signing_key: false };
        let (status, body) = none.report("dev");
        let body = serde_json::to_value(body).unwrap();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["status"], "not_ready");
        assert_eq!(body["reason"], "database unavailable, redis unavailable, no signing key loaded");
        assert_eq!(body["redis"], "unavailable");
    }
}
