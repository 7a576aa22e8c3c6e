//! WebSockets over 127.0.0.1:0 with a real client: W01-W04 of SECURITY.md.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use authgate_tower::redact::RedactedMakeSpan;
use authgate_tower::ws::POLICY_VIOLATION;
use authgate_tower::{WsAuthLayer, WsSession};
use axum::Router;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message as ClientMessage};
use tower_http::trace::TraceLayer;

use crate::helpers::{captured_logs, logs_text, token, token_with, verifier};

async fn quotes(upgrade: WebSocketUpgrade, session: WsSession) -> Response {
    let upgrade = match session.protocol() {
        Some(marker) => upgrade.protocols([marker]),
        None => upgrade,
    };
    upgrade.on_upgrade(move |socket| serve(socket, session))
}

async fn close(mut socket: WebSocket, reason: &str) {
    let frame = CloseFrame { code: POLICY_VIOLATION, reason: reason.to_owned().into() };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

async fn serve(mut socket: WebSocket, session: WsSession) {
    if let Some(reason) = session.close_reason() {
        return close(socket, reason).await;
    }
    let user = session.principal().map(|p| p.user_id().to_owned()).unwrap_or_default();
    if socket.send(Message::Text(format!("hello {user}").into())).await.is_err() {
        return;
    }
    let expired = session.expired();
    tokio::pin!(expired);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            () = &mut expired => return close(socket, session.close_reason_expired()).await,
            _ = tick.tick() => if socket.send(Message::Text("tick".into())).await.is_err() { return },
            msg = socket.recv() => if !matches!(msg, Some(Ok(_))) { return },
        }
    }
}

async fn spawn(layer: WsAuthLayer) -> SocketAddr {
    let app = Router::new()
        .route("/ws", get(quotes).layer(layer))
        .layer(TraceLayer::new_for_http().make_span_with(RedactedMakeSpan::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn layer(leeway_secs: u64) -> WsAuthLayer {
    WsAuthLayer::new(&authgate::Authenticator::jwt(verifier(Duration::from_secs(leeway_secs))))
}

type Client = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str, headers: &[(&str, &str)]) -> Result<(Client, http::HeaderMap), u16> {
    let mut req = url.into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, response)) => Ok((ws, response.headers().clone())),
        Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(e) => panic!("unexpected client error {e}"),
    }
}

/// The next close frame's code and reason, skipping data frames.
async fn close_frame(ws: &mut Client) -> (u16, String) {
    while let Some(msg) = ws.next().await {
        if let ClientMessage::Close(frame) = msg.unwrap() {
            let frame = frame.unwrap();
            return (u16::from(frame.code), frame.reason.to_string());
        }
    }
    panic!("the server never sent a close frame")
}

#[tokio::test]
async fn w01_origin_outside_the_allow_list_is_403_before_the_upgrade() {
    let addr = spawn(layer(60).allowed_origins(["https://app.example.com"])).await;
    let url = format!("ws://{addr}/ws?token={}", token("u1"));
    assert_eq!(connect(&url, &[("origin", "https://evil.example")]).await.err(), Some(403));
    assert_eq!(connect(&url, &[]).await.err(), Some(403), "no Origin with an allow-list is refused");
    let (mut ws, _) = connect(&url, &[("origin", "https://APP.example.com")]).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), ClientMessage::Text("hello u1".into()));
}

#[tokio::test]
async fn w01_bad_origin_is_403_even_with_a_bad_token() {
    let addr = spawn(layer(60).allowed_origins(["https://app.example.com"])).await;
    let url = format!("ws://{addr}/ws?token=garbage");
    assert_eq!(connect(&url, &[("origin", "https://evil.example")]).await.err(), Some(403));
}

#[tokio::test]
async fn w02_invalid_or_expired_token_is_401_before_the_upgrade() {
    let addr = spawn(layer(0)).await;
    let expired = token_with("u1", 0, &[("exp", serde_json::json!(authgate_testkit::now() - 10))]);
    for t in ["garbage", expired.as_str()] {
        assert_eq!(connect(&format!("ws://{addr}/ws?token={t}"), &[]).await.err(), Some(401));
    }
    assert_eq!(connect(&format!("ws://{addr}/ws"), &[]).await.err(), Some(401), "no token at all");
}

#[tokio::test]
async fn w02_accept_then_close_mode_closes_with_1008_and_a_reason() {
    let addr = spawn(layer(60).close_on_invalid()).await;
    let (mut ws, _) = connect(&format!("ws://{addr}/ws?token=garbage"), &[]).await.unwrap();
    assert_eq!(close_frame(&mut ws).await, (1008, "the access token is malformed".to_owned()));
}

#[tokio::test]
async fn token_in_the_subprotocol_is_accepted_and_the_marker_echoed() {
    let addr = spawn(layer(60)).await;
    let offer = format!("bearer, {}", token("proto-user"));
    let (mut ws, headers) =
        connect(&format!("ws://{addr}/ws"), &[("sec-websocket-protocol", &offer)]).await.unwrap();
    assert_eq!(headers.get("sec-websocket-protocol").unwrap(), "bearer");
    assert_eq!(ws.next().await.unwrap().unwrap(), ClientMessage::Text("hello proto-user".into()));
}

#[tokio::test]
async fn w03_token_expiring_mid_connection_closes_with_1008_within_exp_plus_leeway_plus_5s() {
    let leeway = 1;
    let addr = spawn(layer(leeway)).await;
    let exp = authgate_testkit::now() + 2;
    let short = token_with("short", 0, &[("exp", serde_json::json!(exp))]);
    let started = Instant::now();
    let (mut ws, _) = connect(&format!("ws://{addr}/ws?token={short}"), &[]).await.unwrap();
    let deadline = Duration::from_secs(2 + leeway + 5 + 1);
    let (code, reason) = tokio::time::timeout(deadline, close_frame(&mut ws)).await.expect("closed in time");
    assert_eq!((code, reason.as_str()), (1008, "the access token expired"));
    let closed_at = authgate_testkit::now();
    assert!(closed_at <= exp + leeway + 5, "closed at {closed_at}, exp {exp}");
    assert!(closed_at >= exp, "closed before the token expired");
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn w04_query_token_never_reaches_tracing_output() {
    captured_logs();
    let addr = spawn(layer(60)).await;
    // A valid token and an invalid canary: neither may be logged, in spans or events.
    let valid = token("canary-user");
    let (mut ws, _) = connect(&format!("ws://{addr}/ws?token={valid}&symbol=ACME"), &[]).await.unwrap();
    ws.next().await.unwrap().unwrap();
    drop(ws);
    let canary = "canary.eyJub3QiOiJhIHRva2VuIn0.c2lnbmF0dXJlLWNhbmFyeS03NzQx";
    assert_eq!(connect(&format!("ws://{addr}/ws?token={canary}"), &[]).await.err(), Some(401));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let logs = logs_text();
    assert!(logs.contains("token=REDACTED&symbol=ACME"), "the request span was captured: {logs}");
    assert!(!logs.contains(&valid), "valid token leaked into logs");
    assert!(!logs.contains(canary), "canary token leaked into logs");
    assert!(!logs.contains("c2lnbmF0dXJlLWNhbmFyeS03NzQx"), "canary signature leaked into logs");
}
