//! Subscribing: the caller's accounts, the service token, the credentials, and every way
//! it is refused (an error frame, then a close with 4000 + status).

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{Setup, logs, spawn, spawn_ticker, token};
use crate::mock_user_service::{ACCESS_TOKEN, API_KEY, API_SECRET, CLIENT_SECRET, account};
use crate::websocket::{Client, connect, next_quote};

/// Every frame until the server closes: the JSON texts, and the close code and reason.
async fn until_closed(ws: &mut Client) -> (Vec<Value>, u16, String) {
    let mut texts = Vec::new();
    let read = async {
        while let Some(msg) = ws.next().await {
            match msg.unwrap() {
                Message::Text(t) => texts.push(serde_json::from_str(&t).unwrap()),
                Message::Close(Some(frame)) => return (u16::from(frame.code), frame.reason.to_string()),
                Message::Close(None) => return (1005, String::new()),
                _ => {}
            }
        }
        (1006, String::new())
    };
    let (code, reason) = tokio::time::timeout(Duration::from_secs(5), read).await.expect("closed in time");
    (texts, code, reason)
}

/// Opens the socket as `user_token` and returns the refusal: (error frame, close code, reason).
async fn refusal(addr: std::net::SocketAddr, user_token: &str, query: &str) -> (Value, u16, String) {
    let (mut ws, _) = connect(&format!("ws://{addr}/ws/quotes?token={user_token}{query}"), &[])
        .await
        .expect("the upgrade itself succeeds: browsers cannot read a refused handshake");
    let (texts, code, reason) = until_closed(&mut ws).await;
    assert_eq!(texts.len(), 1, "one error frame: {texts:?}");
    (texts[0].clone(), code, reason)
}

async fn subscribed(addr: std::net::SocketAddr, user_token: &str, query: &str) -> (Client, Value) {
    let (mut ws, _) =
        connect(&format!("ws://{addr}/ws/quotes?token={user_token}{query}"), &[]).await.unwrap();
    let first = match tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap().unwrap().unwrap()
    {
        Message::Text(t) => serde_json::from_str(&t).unwrap(),
        other => panic!("expected the subscribed frame, got {other:?}"),
    };
    (ws, first)
}

#[tokio::test]
async fn a_linked_account_is_announced_then_quotes_flow_from_its_broker_session() {
    let t = spawn_ticker("", true).await;
    let user = token("owner-1");
    t.users.set_accounts(
        &user,
        vec![account("acc-shared", "Desk", "viewer"), account("acc-own", "Main", "owner")],
    );
    let (mut ws, first) = subscribed(t.addr, &user, "").await;
    assert_eq!(
        first,
        json!({"type": "subscribed", "api_key": "****0042",
               "account": {"id": "acc-own", "broker": "kite", "label": "Main", "broker_user_id": "ZX-acc-own", "role": "owner"}}),
        "an owned account comes before shared ones; the key is masked as user-service masks it"
    );
    assert_eq!(next_quote(&mut ws).await["type"], "quote");
    assert_eq!((t.users.token_requests(), t.users.credential_reads()), (1, 1));

    // `?account_id=` picks another of the caller's accounts...
    let (_ws, first) = subscribed(t.addr, &user, "&account_id=acc-shared").await;
    assert_eq!(first["account"]["id"], "acc-shared");
    assert_eq!(t.users.token_requests(), 1, "the service token is reused");
    // ...but never someone else's: 404 before any credentials are read.
    let reads = t.users.credential_reads();
    let (frame, code, reason) = refusal(t.addr, &user, "&account_id=acc-someone-elses").await;
    assert_eq!(
        (frame["status"].as_u64(), code, reason.as_str()),
        (Some(404), 4404, "trading_account_not_found")
    );
    assert_eq!(t.users.credential_reads(), reads);
}

#[tokio::test]
async fn no_trading_account_is_an_error_frame_then_close_4409() {
    let t = spawn_ticker("", true).await;
    let user = token("nobody");
    t.users.set_accounts(&user, vec![]);
    let (frame, code, reason) = refusal(t.addr, &user, "").await;
    assert_eq!(
        frame,
        json!({"type": "error", "status": 409, "error": "no_trading_account",
               "message": "No trading account is linked to your login. Link one to receive quotes."})
    );
    assert_eq!((code, reason.as_str()), (4409, "no_trading_account"));
    assert_eq!(t.users.credential_reads(), 0);
}

#[tokio::test]
async fn concurrent_subscribers_share_one_token_request() {
    let t = spawn_ticker("", true).await;
    t.users.delay_tokens(Duration::from_millis(300));
    let user = token("crowd");
    let opened = futures_util::future::join_all((0..5).map(|_| subscribed(t.addr, &user, ""))).await;
    for (_, first) in &opened {
        assert_eq!(first["type"], "subscribed");
    }
    assert_eq!(t.users.token_requests(), 1, "single flight");
    assert_eq!(t.users.credential_reads(), 5, "each stream reads (and user-service audits) its credentials");
}

#[tokio::test]
async fn the_service_token_is_renewed_shortly_before_it_expires() {
    let t = spawn_ticker("", true).await;
    t.users.set_token_ttl(3); // renewed once a third of its life is left: after 2 s
    let user = token("renewal");
    subscribed(t.addr, &user, "").await;
    subscribed(t.addr, &user, "").await;
    assert_eq!(t.users.token_requests(), 1);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    subscribed(t.addr, &user, "").await;
    assert_eq!(t.users.token_requests(), 2);
}

#[tokio::test]
async fn a_service_token_refused_before_it_expires_is_replaced_once() {
    let t = spawn_ticker("", true).await;
    let user = token("rotated");
    subscribed(t.addr, &user, "").await;
    t.users.revoke_service_tokens();
    let (_ws, first) = subscribed(t.addr, &user, "").await;
    assert_eq!(first["type"], "subscribed");
    assert_eq!((t.users.token_requests(), t.users.credential_reads()), (2, 3));
}

#[tokio::test]
async fn without_a_service_client_subscribing_is_503_service_client_not_configured() {
    let t = spawn(Setup { service_client: None, ..Setup::default() }).await;
    let (frame, code, reason) = refusal(t.addr, &token("dev-user"), "").await;
    assert_eq!(
        (frame["status"].as_u64(), code, reason.as_str()),
        (Some(503), 4503, "service_client_not_configured")
    );
    assert!(frame["message"].as_str().unwrap().contains("SERVICE_CLIENT_ID"), "{frame}");
    assert_eq!((t.users.token_requests(), t.users.credential_reads()), (0, 0));
}

#[tokio::test]
async fn a_service_client_without_the_scope_is_503_credentials_forbidden_and_logged() {
    let captured = logs();
    let t = spawn_ticker("", true).await;
    t.users.remove_scope();
    let (frame, code, reason) = refusal(t.addr, &token("scope-user"), "").await;
    assert_eq!((frame["status"].as_u64(), code, reason.as_str()), (Some(503), 4503, "credentials_forbidden"));
    assert_eq!(
        frame["message"],
        "The ticker may not read broker credentials: its service client lacks the \
         trading_accounts:credentials:read scope."
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let text = String::from_utf8_lossy(&captured.lock().unwrap()).into_owned();
    let line = text
        .lines()
        .find(|l| l.contains("ERROR") && l.contains("scope-user"))
        .unwrap_or_else(|| panic!("an ERROR line for the refusal: {text}"));
    assert!(line.contains("svc_ticker lacks trading_accounts:credentials:read"), "{line}");
}

#[tokio::test]
async fn a_wrong_client_secret_is_503_service_client_rejected() {
    let t = spawn(Setup { service_client: Some("not-the-secret"), ..Setup::default() }).await;
    let (frame, code, reason) = refusal(t.addr, &token("u"), "").await;
    assert_eq!(
        (frame["status"].as_u64(), code, reason.as_str()),
        (Some(503), 4503, "service_client_rejected")
    );
    assert_eq!(t.users.credential_reads(), 0);
}

#[tokio::test]
async fn a_token_whose_session_ended_is_4401_even_though_its_signature_is_valid() {
    let t = spawn_ticker("", true).await;
    let user = token("logged-out");
    t.users.end_session(&user);
    let (frame, code, reason) = refusal(t.addr, &user, "").await;
    assert_eq!((frame["status"].as_u64(), code, reason.as_str()), (Some(401), 4401, "invalid_token"));
}

#[tokio::test]
async fn an_unreachable_user_service_is_503_user_service_unavailable() {
    let t = spawn(Setup { user_service_url: Some("http://127.0.0.1:1"), ..Setup::default() }).await;
    let (frame, code, reason) = refusal(t.addr, &token("u"), "").await;
    assert_eq!(
        (frame["status"].as_u64(), code, reason.as_str()),
        (Some(503), 4503, "user_service_unavailable")
    );
    assert_eq!(frame["message"], "The identity service is unavailable. Try again shortly.");
}

#[tokio::test]
async fn broker_credentials_and_the_service_secret_never_reach_the_logs() {
    let captured = logs();
    let t = spawn_ticker("", true).await;
    let (mut ws, _) = subscribed(t.addr, &token("canary-logs"), "").await;
    next_quote(&mut ws).await;
    drop(ws);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let text = String::from_utf8_lossy(&captured.lock().unwrap()).into_owned();
    assert!(text.contains("canary-logs"), "the subscription was logged: {text}");
    for secret in [API_KEY, API_SECRET, ACCESS_TOKEN, CLIENT_SECRET, "svc-token-1"] {
        assert!(!text.contains(secret), "{secret} leaked into the logs");
    }
}
