//! WebSocket upgrades over a real server on 127.0.0.1:0 with a real client
//! (tokio-tungstenite): W01 Origin, W02 bad tokens, W03 expiry close.

use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, web};
use actix_ws::Message;
use actix_ws::{CloseCode as ActixCloseCode, CloseReason};
use authgate_actix::ws::{EXPIRED_REASON, POLICY_VIOLATION};
use authgate_actix::{WsAuthMiddleware, WsSession};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};

use crate::helpers::{authenticator_with_leeway, spawn, token, user_token};

const APP_ORIGIN: &str = "https://app.example";

async fn quotes(req: HttpRequest, body: web::Payload, ws: WsSession) -> actix_web::Result<HttpResponse> {
    let (response, mut session, mut stream) = ws.handshake(&req, body)?;
    if let Some(reason) = ws.close_reason() {
        let reason = CloseReason { code: ActixCloseCode::Policy, description: Some(reason.to_owned()) };
        actix_web::rt::spawn(async move { session.close(Some(reason)).await });
        return Ok(response);
    }
    ws.close_on_expiry(&session);
    let user = ws.principal().map(|p| p.user_id().to_owned()).unwrap_or_default();
    actix_web::rt::spawn(async move {
        if session.text(format!("hello {user}")).await.is_err() {
            return;
        }
        while let Some(Ok(msg)) = stream.recv().await {
            let done = match msg {
                Message::Ping(b) => session.pong(&b).await.is_err(),
                Message::Close(_) => true,
                _ => false,
            };
            if done {
                return;
            }
        }
    });
    Ok(response)
}

fn server(ws: WsAuthMiddleware) -> String {
    spawn(move || {
        App::new().service(web::resource("/ws/quotes").wrap(ws.clone()).route(web::get().to(quotes)))
    })
}

fn strict(leeway: Duration) -> WsAuthMiddleware {
    let (auth, _) = authenticator_with_leeway(leeway);
    WsAuthMiddleware::new(&auth).allowed_origins([APP_ORIGIN])
}

type Client = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(
    addr: &str,
    query: &str,
    headers: &[(&str, &str)],
) -> Result<(Client, tokio_tungstenite::tungstenite::handshake::client::Response), WsError> {
    let mut req = format!("ws://{addr}/ws/quotes{query}").into_client_request().unwrap();
    for (k, v) in headers {
        let name = tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap();
        req.headers_mut().insert(name, v.parse().unwrap());
    }
    tokio_tungstenite::connect_async(req).await
}

fn refused_status(result: Result<(Client, impl std::fmt::Debug), WsError>) -> (u16, String) {
    match result {
        Err(WsError::Http(res)) => {
            let body =
                res.body().as_ref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
            (res.status().as_u16(), body)
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("the upgrade should have been refused"),
    }
}

async fn next_text(client: &mut Client) -> String {
    match tokio::time::timeout(Duration::from_secs(5), client.next()).await {
        Ok(Some(Ok(WsMessage::Text(t)))) => t.to_string(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// Waits for the server's close frame; returns its code and reason.
async fn close_frame(client: &mut Client, within: Duration) -> (u16, String) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, client.next()).await {
            Ok(Some(Ok(WsMessage::Close(Some(frame))))) => {
                return (u16::from(frame.code), frame.reason.to_string());
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

#[actix_web::test]
async fn w01_foreign_or_missing_origin_is_403_before_the_upgrade() {
    let addr = server(strict(Duration::from_secs(60)));
    let t = user_token("u1");
    let q = format!("?token={t}");
    let (status, body) = refused_status(connect(&addr, &q, &[("origin", "https://evil.example")]).await);
    assert_eq!(status, 403);
    assert_eq!(
        body,
        r#"{"error":"forbidden_origin","error_description":"this origin may not open a WebSocket here"}"#
    );
    let (status, _) = refused_status(connect(&addr, &q, &[]).await);
    assert_eq!(status, 403);
    // The Origin is checked first: a bad token from a foreign origin is still a 403.
    let (status, _) =
        refused_status(connect(&addr, "?token=not-a-jwt", &[("origin", "https://evil.example")]).await);
    assert_eq!(status, 403);
    // Case and a trailing slash do not matter.
    let (mut client, _) = connect(&addr, &q, &[("origin", "HTTPS://APP.EXAMPLE/")]).await.unwrap();
    assert_eq!(next_text(&mut client).await, "hello u1");
}

#[actix_web::test]
async fn query_token_from_an_allowed_origin_upgrades_and_reaches_the_handler() {
    let addr = server(strict(Duration::from_secs(60)));
    let (mut client, res) =
        connect(&addr, &format!("?token={}", user_token("u2")), &[("origin", APP_ORIGIN)]).await.unwrap();
    assert_eq!(res.status(), 101);
    assert!(res.headers().get("sec-websocket-protocol").is_none());
    assert_eq!(next_text(&mut client).await, "hello u2");
    client.send(WsMessage::Close(None)).await.unwrap();
}

#[actix_web::test]
async fn subprotocol_token_upgrades_and_only_the_marker_is_echoed() {
    let addr = server(strict(Duration::from_secs(60)));
    let t = user_token("u3");
    let protocols = format!("bearer, {t}");
    let (mut client, res) =
        connect(&addr, "", &[("origin", APP_ORIGIN), ("sec-websocket-protocol", &protocols)]).await.unwrap();
    assert_eq!(res.headers()["sec-websocket-protocol"], "bearer");
    assert_eq!(next_text(&mut client).await, "hello u3");
}

#[actix_web::test]
async fn w02_missing_invalid_or_expired_token_is_401_before_the_upgrade() {
    let addr = server(strict(Duration::from_secs(60)));
    let origin = [("origin", APP_ORIGIN)];
    let (status, body) = refused_status(connect(&addr, "", &origin).await);
    assert_eq!(
        (status, body.as_str()),
        (401, r#"{"error":"unauthorized","error_description":"authentication required"}"#)
    );
    let (status, body) = refused_status(connect(&addr, "?token=not-a-jwt", &origin).await);
    assert_eq!(
        (status, body.as_str()),
        (401, r#"{"error":"invalid_token","error_description":"the access token is malformed"}"#)
    );
    let now = authgate_testkit::now();
    let expired =
        token("u", 300, serde_json::json!({"iat": now - 7200, "nbf": now - 7200, "exp": now - 3600}));
    let (status, body) = refused_status(connect(&addr, &format!("?token={expired}"), &origin).await);
    assert_eq!(
        (status, body.as_str()),
        (401, r#"{"error":"invalid_token","error_description":"the access token expired"}"#)
    );
    let protocols = "bearer, not-a-jwt";
    let (status, _) =
        refused_status(connect(&addr, "", &[origin[0], ("sec-websocket-protocol", protocols)]).await);
    assert_eq!(status, 401);
}

#[actix_web::test]
async fn w02_close_on_invalid_upgrades_then_closes_with_1008_and_a_safe_reason() {
    let (auth, _) = authenticator_with_leeway(Duration::from_secs(60));
    let addr = server(WsAuthMiddleware::new(&auth).token_query("access_token").close_on_invalid());
    let (mut client, res) = connect(&addr, "?access_token=not-a-jwt", &[]).await.unwrap();
    assert_eq!(res.status(), 101);
    let (code, reason) = close_frame(&mut client, Duration::from_secs(5)).await;
    assert_eq!((code, reason.as_str()), (POLICY_VIOLATION, "the access token is malformed"));
    // The renamed parameter carries valid tokens too.
    let (mut client, _) = connect(&addr, &format!("?access_token={}", user_token("u4")), &[]).await.unwrap();
    assert_eq!(next_text(&mut client).await, "hello u4");
}

#[actix_web::test]
async fn w03_token_expiring_mid_connection_closes_with_1008_within_exp_plus_leeway_plus_5s() {
    let leeway = Duration::from_secs(1);
    let addr = server(strict(leeway));
    let ttl = 2;
    let exp = authgate_testkit::now() + ttl;
    let short = token("u5", ttl, serde_json::json!({"exp": exp}));
    let (mut client, _) =
        connect(&addr, &format!("?token={short}"), &[("origin", APP_ORIGIN)]).await.unwrap();
    assert_eq!(next_text(&mut client).await, "hello u5");
    let started = Instant::now();
    let deadline = Duration::from_secs(ttl) + leeway + Duration::from_secs(5);
    let (code, reason) = close_frame(&mut client, deadline).await;
    assert_eq!(code, u16::from(CloseCode::Policy));
    assert_eq!((code, reason.as_str()), (POLICY_VIOLATION, EXPIRED_REASON));
    assert!(started.elapsed() <= deadline);
    // Not before the token actually expired (exp is in whole seconds).
    assert!(authgate_testkit::now() >= exp);
}

#[actix_web::test]
async fn j26_query_token_on_a_plain_get_to_the_websocket_route_is_not_read() {
    let addr = server(strict(Duration::from_secs(60)));
    let url = format!("http://{addr}/ws/quotes?token={}", user_token("u6"));
    let res = reqwest::Client::new().get(url).header("origin", APP_ORIGIN).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], r#"Bearer realm="api""#);
}
