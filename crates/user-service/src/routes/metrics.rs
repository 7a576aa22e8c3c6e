//! `GET /metrics`, the only route of the separate metrics listener (`METRICS_ADDR`),
//! never of the public one.

use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::state::AppState;

/// The metrics listener's router.
pub(crate) fn router(state: AppState) -> Router {
    Router::new().route("/metrics", get(scrape)).with_state(state)
}

async fn scrape(State(state): State<AppState>) -> impl IntoResponse {
    let body = state.metrics.scrape(&state.db, &state.passwords).await;
    ([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body)
}
