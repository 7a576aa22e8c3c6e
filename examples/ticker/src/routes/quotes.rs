//! `GET /ws/quotes?token=...[&account_id=...]`: a WebSocket sending quotes for one of the
//! caller's trading accounts until the token expires.
//!
//! Subscribing happens on the upgrade request, before any frame: the token is checked
//! (401/403 by [`WsAuthLayer`], before the upgrade), then [`Subscriptions::open`] reads
//! the caller's accounts and the chosen account's credentials from user-service. Its
//! refusals (409 `no_trading_account`, 503 `service_client_not_configured`, ...) are sent
//! after the upgrade, because a browser never sees the status of a refused handshake:
//! one JSON frame `{"type":"error","status":409,"error":"no_trading_account","message":...}`
//! and a close frame with code `4000 + status` (4409) and the error code as reason, the
//! convention of graphql-ws (4401, 4403, ...). On success the first frame is
//! `{"type":"subscribed","account":{...},"api_key":"****1234"}`, then quotes.

use std::time::Duration;

use authgate::{Authenticator, TokenSources};
use authgate_tower::ws::POLICY_VIOLATION;
use authgate_tower::{WsAuthLayer, WsSession};
use axum::Router;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;

use crate::broker::BrokerSession;
use crate::subscribe::{LinkedAccount, SubscribeError, Subscriptions};

/// How often a quote is sent (the contract is at least once a second).
const QUOTE_EVERY: Duration = Duration::from_millis(500);

/// The route, behind a [`WsAuthLayer`] with the Origin allow-list (empty: any).
pub fn router(auth: &Authenticator, allowed_origins: &[String], subscriptions: Subscriptions) -> Router {
    Router::new()
        .route("/ws/quotes", get(upgrade))
        .layer(WsAuthLayer::new(auth).allowed_origins(allowed_origins))
        .with_state(subscriptions)
}

/// The query of the upgrade request (the token may be in it too; it is read elsewhere).
#[derive(Deserialize)]
struct Params {
    /// Which of the caller's accounts to stream for; default: their first.
    account_id: Option<String>,
}

/// The caller's raw access token, taken from where [`WsAuthLayer`] found it, to forward
/// to user-service.
struct CallerToken(String);

impl<S: Send + Sync> FromRequestParts<S> for CallerToken {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let credentials = TokenSources::websocket().extract(parts).map_err(|_| StatusCode::UNAUTHORIZED)?;
        credentials.bearer().map(|t| CallerToken(t.to_owned())).ok_or(StatusCode::UNAUTHORIZED)
    }
}

async fn upgrade(
    upgrade: WebSocketUpgrade,
    session: WsSession,
    State(subscriptions): State<Subscriptions>,
    Query(params): Query<Params>,
    CallerToken(token): CallerToken,
) -> Response {
    // Browsers sending `Sec-WebSocket-Protocol: bearer, <token>` need `bearer` back.
    let upgrade = match session.protocol() {
        Some(marker) => upgrade.protocols([marker]),
        None => upgrade,
    };
    let Some(user) = session.principal().map(|p| p.user_id().to_owned()) else {
        return upgrade.on_upgrade(move |socket| async move {
            close(socket, POLICY_VIOLATION, session.close_reason().unwrap_or("authentication failed")).await;
        });
    };
    let opened = subscriptions.open(&user, &token, params.account_id.as_deref()).await;
    drop(token);
    match opened {
        Ok((account, broker)) => {
            upgrade.on_upgrade(move |socket| stream_quotes(socket, session, user, account, broker))
        }
        Err(e) => {
            if e.is_ours() {
                tracing::error!(user = %user, code = e.code(), reason = %e, "subscription refused: fix the ticker's service client");
            } else {
                tracing::info!(user = %user, code = e.code(), reason = %e, "subscription refused");
            }
            upgrade.on_upgrade(move |socket| refuse(socket, e))
        }
    }
}

async fn close(mut socket: WebSocket, code: u16, reason: &str) {
    let frame = CloseFrame { code, reason: reason.to_owned().into() };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

/// The error frame, then a close frame with `4000 + status` and the code as reason.
async fn refuse(mut socket: WebSocket, e: SubscribeError) {
    let status = e.status().as_u16();
    let frame = json!({"type": "error", "status": status, "error": e.code(), "message": e.message()});
    let _ = socket.send(Message::Text(frame.to_string().into())).await;
    close(socket, 4000 + status, e.code()).await;
}

async fn stream_quotes(
    mut socket: WebSocket,
    session: WsSession,
    user: String,
    account: LinkedAccount,
    mut broker: BrokerSession,
) {
    tracing::info!(user = %user, account = %account.id, "quote stream opened");
    let subscribed =
        json!({"type": "subscribed", "account": account, "api_key": broker.credentials().api_key_hint()});
    if socket.send(Message::Text(subscribed.to_string().into())).await.is_err() {
        return;
    }
    let expired = session.expired();
    tokio::pin!(expired);
    let mut tick = tokio::time::interval(QUOTE_EVERY);
    loop {
        tokio::select! {
            () = &mut expired => {
                tracing::info!(user = %user, "token expired; closing with 1008");
                return close(socket, POLICY_VIOLATION, session.close_reason_expired()).await;
            }
            _ = tick.tick() => {
                let Ok(text) = serde_json::to_string(&broker.next_quote()) else { continue };
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
