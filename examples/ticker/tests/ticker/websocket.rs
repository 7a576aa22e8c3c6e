//! The quote socket over a real client.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::helpers::{LEEWAY_SECS, logs, spawn_ticker, token, token_expiring_at};

pub(crate) type Client =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(crate) async fn connect(url: &str, headers: &[(&str, &str)]) -> Result<(Client, http::HeaderMap), u16> {
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

/// The next quote, after the `subscribed` frame that opens every stream.
pub(crate) async fn next_quote(ws: &mut Client) -> serde_json::Value {
    loop {
        match ws.next().await.unwrap().unwrap() {
            Message::Text(text) => {
                let json: serde_json::Value = serde_json::from_str(&text).unwrap();
                if json["type"] != "subscribed" {
                    return json;
                }
            }
            Message::Close(frame) => panic!("closed early: {frame:?}"),
            _ => {}
        }
    }
}

#[tokio::test]
async fn quotes_arrive_at_least_once_a_second() {
    let t = spawn_ticker("", true).await;
    let (mut ws, _) =
        connect(&format!("ws://{}/ws/quotes?token={}", t.addr, token("q1")), &[]).await.unwrap();
    let started = Instant::now();
    for _ in 0..3 {
        let quote = tokio::time::timeout(Duration::from_secs(1), next_quote(&mut ws)).await.unwrap();
        assert_eq!(quote["type"], "quote");
        assert!(quote["bid"].as_f64().unwrap() < quote["ask"].as_f64().unwrap());
    }
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn token_in_the_subprotocol_works_and_bearer_is_echoed() {
    let t = spawn_ticker("", true).await;
    let offer = format!("bearer, {}", token("p1"));
    let (mut ws, headers) =
        connect(&format!("ws://{}/ws/quotes", t.addr), &[("sec-websocket-protocol", &offer)]).await.unwrap();
    assert_eq!(headers["sec-websocket-protocol"], "bearer");
    assert_eq!(next_quote(&mut ws).await["type"], "quote");
}

#[tokio::test]
async fn w01_origin_outside_the_allow_list_is_403_before_the_upgrade() {
    let t = spawn_ticker("https://app.example.com, https://admin.example.com", true).await;
    let url = format!("ws://{}/ws/quotes?token={}", t.addr, token("o1"));
    assert_eq!(connect(&url, &[("origin", "https://evil.example.com")]).await.err(), Some(403));
    assert_eq!(connect(&url, &[("origin", "https://app.example.com.evil.io")]).await.err(), Some(403));
    assert_eq!(connect(&url, &[]).await.err(), Some(403));
    let (mut ws, _) = connect(&url, &[("origin", "https://admin.example.com")]).await.unwrap();
    assert_eq!(next_quote(&mut ws).await["type"], "quote");
}

#[tokio::test]
async fn w02_invalid_or_expired_token_is_401_and_no_upgrade() {
    let t = spawn_ticker("", true).await;
    let expired = token_expiring_at("e1", authgate_testkit::now() - LEEWAY_SECS - 60);
    for bad in ["garbage", "a.b.c", expired.as_str()] {
        assert_eq!(
            connect(&format!("ws://{}/ws/quotes?token={bad}", t.addr), &[]).await.err(),
            Some(401),
            "{bad}"
        );
    }
    assert_eq!(connect(&format!("ws://{}/ws/quotes", t.addr), &[]).await.err(), Some(401));
    assert_eq!(
        connect(&format!("ws://{}/ws/quotes", t.addr), &[("sec-websocket-protocol", "bearer, garbage")])
            .await
            .err(),
        Some(401)
    );
}

#[tokio::test]
async fn w03_socket_closes_with_1008_within_exp_plus_leeway_plus_5s() {
    let t = spawn_ticker("", true).await;
    let exp = authgate_testkit::now() + 2;
    let (mut ws, _) =
        connect(&format!("ws://{}/ws/quotes?token={}", t.addr, token_expiring_at("x1", exp)), &[])
            .await
            .unwrap();
    let mut quotes = 0;
    let close = tokio::time::timeout(Duration::from_secs(2 + LEEWAY_SECS + 6), async {
        while let Some(msg) = ws.next().await {
            match msg.unwrap() {
                Message::Close(frame) => return frame,
                Message::Text(text) if text.contains(r#""type":"quote""#) => quotes += 1,
                _ => {}
            }
        }
        None
    })
    .await
    .expect("the server closed the socket in time")
    .expect("with a close frame");
    let now = authgate_testkit::now();
    assert_eq!(u16::from(close.code), 1008);
    assert_eq!(close.reason.as_str(), "the access token expired");
    assert!(now <= exp + LEEWAY_SECS + 5, "closed at {now}, exp {exp}");
    assert!(now >= exp, "closed before expiry");
    assert!(quotes >= 2, "quotes flowed until expiry ({quotes})");
}

#[tokio::test]
async fn w04_query_tokens_never_reach_access_logs_or_spans() {
    let captured = logs();
    let t = spawn_ticker("", true).await;
    let valid = token("canary-user");
    let (mut ws, _) =
        connect(&format!("ws://{}/ws/quotes?token={valid}&symbol=ACME", t.addr), &[]).await.unwrap();
    next_quote(&mut ws).await;
    drop(ws);
    let canary = "eyJjYW5hcnkiOnRydWV9.eyJzdWIiOiJjYW5hcnkifQ.Y2FuYXJ5LXNpZ25hdHVyZS05OTE3";
    assert_eq!(connect(&format!("ws://{}/ws/quotes?token={canary}", t.addr), &[]).await.err(), Some(401));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let text = String::from_utf8_lossy(&captured.lock().unwrap()).into_owned();
    assert!(text.contains("/ws/quotes?token=REDACTED&symbol=ACME"), "spans were captured: {text}");
    assert!(!text.contains(&valid), "the valid token leaked");
    assert!(!text.contains(canary), "the canary token leaked");
    assert!(!text.contains("Y2FuYXJ5LXNpZ25hdHVyZS05OTE3"), "part of the canary leaked");
}
