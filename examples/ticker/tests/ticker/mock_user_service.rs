//! A stand-in for user-service's three endpoints the ticker calls, counting calls.
//!
//! - `GET /v1/users/me/accounts`: the accounts set for the bearer token with
//!   [`MockUserService::set_accounts`], else one default account; 401 for tokens passed
//!   to [`MockUserService::end_session`].
//! - `POST /v1/auth/token`: client credentials by HTTP Basic, `svc_ticker` /
//!   [`CLIENT_SECRET`]; tokens `svc-token-N` valid `token_ttl` seconds.
//! - `GET /v1/internal/trading-accounts/{id}/credentials`: 401 unless the bearer is a
//!   live issued token, 403 without the scope, 404 for unknown ids.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

pub(crate) const CLIENT_ID: &str = "svc_ticker";
pub(crate) const CLIENT_SECRET: &str = "canary-client-secret-6021";
/// Credentials of every account of the mock; the test looks for them in logs.
pub(crate) const API_KEY: &str = "kite-api-key-canary-0042";
pub(crate) const API_SECRET: &str = "kite-api-secret-canary-7781";
pub(crate) const ACCESS_TOKEN: &str = "kite-session-canary-5501";

#[derive(Default)]
struct Inner {
    accounts: HashMap<String, Vec<Value>>,
    ended_sessions: HashSet<String>,
    live_tokens: HashSet<String>,
    scope_missing: bool,
    token_ttl: u64,
    token_delay: Duration,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) token_requests: AtomicUsize,
    pub(crate) credential_reads: AtomicUsize,
}

#[derive(Clone)]
struct Shared {
    inner: Arc<Mutex<Inner>>,
    counters: Arc<Counters>,
}

pub(crate) struct MockUserService {
    pub(crate) url: String,
    shared: Shared,
}

pub(crate) fn account(id: &str, label: &str, role: &str) -> Value {
    json!({"id": id, "broker": "kite", "label": label, "broker_user_id": format!("ZX-{id}"),
           "subscription_tier": "free", "role": role})
}

impl MockUserService {
    pub(crate) async fn start() -> MockUserService {
        let shared = Shared {
            inner: Arc::new(Mutex::new(Inner { token_ttl: 300, ..Inner::default() })),
            counters: Arc::new(Counters::default()),
        };
        let app = Router::new()
            .route("/v1/users/me/accounts", get(my_accounts))
            .route("/v1/auth/token", post(token))
            .route("/v1/internal/trading-accounts/{id}/credentials", get(credentials))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        MockUserService { url, shared }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.shared.inner.lock().unwrap())
    }

    pub(crate) fn set_accounts(&self, user_token: &str, accounts: Vec<Value>) {
        self.with(|i| i.accounts.insert(user_token.to_owned(), accounts));
    }

    pub(crate) fn end_session(&self, user_token: &str) {
        self.with(|i| i.ended_sessions.insert(user_token.to_owned()));
    }

    pub(crate) fn remove_scope(&self) {
        self.with(|i| i.scope_missing = true);
    }

    pub(crate) fn set_token_ttl(&self, secs: u64) {
        self.with(|i| i.token_ttl = secs);
    }

    pub(crate) fn delay_tokens(&self, delay: Duration) {
        self.with(|i| i.token_delay = delay);
    }

    /// Every issued service token stops working (as after a signing-key incident).
    pub(crate) fn revoke_service_tokens(&self) {
        self.with(|i| i.live_tokens.clear());
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    pub(crate) fn token_requests(&self) -> usize {
        self.counters().token_requests.load(Ordering::SeqCst)
    }

    pub(crate) fn credential_reads(&self) -> usize {
        self.counters().credential_reads.load(Ordering::SeqCst)
    }
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    value.strip_prefix("Bearer ").map(str::to_owned)
}

async fn my_accounts(State(s): State<Shared>, headers: HeaderMap) -> Response {
    let Some(token) = bearer(&headers) else { return StatusCode::UNAUTHORIZED.into_response() };
    let inner = s.inner.lock().unwrap();
    if inner.ended_sessions.contains(&token) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_token"}))).into_response();
    }
    let accounts =
        inner.accounts.get(&token).cloned().unwrap_or_else(|| vec![account("acc-default", "Main", "owner")]);
    let (owned, shared): (Vec<Value>, Vec<Value>) = accounts.into_iter().partition(|a| a["role"] == "owner");
    Json(json!({"owned": owned, "shared": shared})).into_response()
}

async fn token(State(s): State<Shared>, headers: HeaderMap, body: String) -> Response {
    use base64::Engine;
    s.counters.token_requests.fetch_add(1, Ordering::SeqCst);
    let delay = s.inner.lock().unwrap().token_delay;
    tokio::time::sleep(delay).await;
    let expected = base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    let basic = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    if basic != format!("Basic {expected}") || body != "grant_type=client_credentials" {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_client"}))).into_response();
    }
    let mut inner = s.inner.lock().unwrap();
    let token = format!("svc-token-{}", s.counters.token_requests.load(Ordering::SeqCst));
    inner.live_tokens.insert(token.clone());
    Json(json!({"access_token": token, "token_type": "Bearer", "expires_in": inner.token_ttl,
                "scope": "trading_accounts:credentials:read"}))
    .into_response()
}

async fn credentials(State(s): State<Shared>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    s.counters.credential_reads.fetch_add(1, Ordering::SeqCst);
    let inner = s.inner.lock().unwrap();
    if !bearer(&headers).is_some_and(|t| inner.live_tokens.contains(&t)) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if inner.scope_missing {
        return (StatusCode::FORBIDDEN, Json(json!({"error": "insufficient_scope"}))).into_response();
    }
    if !id.starts_with("acc-") {
        return StatusCode::NOT_FOUND.into_response();
    }
    Json(json!({
        "account_id": id, "broker": "kite", "broker_user_id": format!("ZX-{id}"),
        "credentials": {"api_key": API_KEY, "api_secret": API_SECRET, "access_token": ACCESS_TOKEN},
    }))
    .into_response()
}
