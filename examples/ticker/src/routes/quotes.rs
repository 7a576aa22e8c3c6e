//! `GET /ws/quotes?token=...`: a WebSocket sending quotes until the token expires.

use std::time::Duration;

use authgate::Authenticator;
use authgate_tower::ws::POLICY_VIOLATION;
use authgate_tower::{WsAuthLayer, WsSession};
use axum::Router;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;

use crate::quotes::Feed;

/// How often a quote is sent (the contract is at least once a second).
const QUOTE_EVERY: Duration = Duration::from_millis(500);

/// The route, behind a [`WsAuthLayer`] with the Origin allow-list (empty: any).
pub fn router(auth: &Authenticator, allowed_origins: &[String]) -> Router {
    Router::new()
        .route("/ws/quotes", get(upgrade))
        .layer(WsAuthLayer::new(auth).allowed_origins(allowed_origins))
}

async fn upgrade(upgrade: WebSocketUpgrade, session: WsSession) -> Response {
    // Browsers sending `Sec-WebSocket-Protocol: bearer, <token>` need `bearer` back.
    let upgrade = match session.protocol() {
        Some(marker) => upgrade.protocols([marker]),
        None => upgrade,
    };
    upgrade.on_upgrade(move |socket| stream_quotes(socket, session))
}

async fn close(mut socket: WebSocket, reason: &str) {
    let frame = CloseFrame { code: POLICY_VIOLATION, reason: reason.to_owned().into() };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

async fn stream_quotes(mut socket: WebSocket, session: WsSession) {
    let Some(user) = session.principal().map(|p| p.user_id().to_owned()) else {
        return close(socket, session.close_reason().unwrap_or("authentication failed")).await;
    };
    tracing::info!(user = %user, "quote stream opened");
    let expired = session.expired();
    tokio::pin!(expired);
    let mut feed = Feed::default();
    let mut tick = tokio::time::interval(QUOTE_EVERY);
    loop {
        tokio::select! {
            () = &mut expired => {
                tracing::info!(user = %user, "token expired; closing with 1008");
                return close(socket, session.close_reason_expired()).await;
            }
            _ = tick.tick() => {
                let Ok(text) = serde_json::to_string(&feed.next_quote()) else { continue };
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
