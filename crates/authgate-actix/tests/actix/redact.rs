//! W04: query tokens never reach access logs.

use authgate_actix::redact::{REDACTED, redact_query};
// An access log around a WebSocket route (the `ws` feature).
#[cfg(feature = "ws")]
use {
    crate::helpers::{authenticator, capture_logs, captured_logs, spawn},
    actix_web::{App, HttpRequest, HttpResponse, web},
    authgate_actix::redact,
    authgate_actix::{WsAuthMiddleware, WsSession},
};

#[cfg(feature = "ws")]
async fn upgrade(req: HttpRequest, body: web::Payload, ws: WsSession) -> actix_web::Result<HttpResponse> {
    Ok(ws.handshake(&req, body)?.0)
}

#[test]
fn redaction_keeps_other_parameters_byte_for_byte() {
    assert_eq!(redact_query("symbol=A%20B&page=2"), "symbol=A%20B&page=2");
    assert_eq!(redact_query("TOKEN=abc&x=1"), format!("TOKEN={REDACTED}&x=1"));
    assert_eq!(redact_query("acc%65ss_token=abc"), format!("acc%65ss_token={REDACTED}"));
    assert_eq!(redact_query("api_key=ak_live_x&k=ak_test_y"), format!("api_key={REDACTED}&k={REDACTED}"));
    assert_eq!(redact_query("eyJhbGciOiJSUzI1NiJ9.e30.c2ln"), REDACTED);
}

#[cfg(feature = "ws")]
#[actix_web::test]
async fn w04_canary_token_never_appears_in_access_logs() {
    capture_logs();
    let (auth, _) = authenticator();
    let addr = spawn(move || {
        App::new()
            .service(
                web::resource("/ws/quotes").wrap(WsAuthMiddleware::new(&auth)).route(web::get().to(upgrade)),
            )
            .wrap(redact::logger())
    });
    let canary = "eyJhbGciOiJSUzI1NiJ9.CANARY-3f9c2d.c2lnbmF0dXJl";
    let key_canary = "ak_live_CANARYKEY0123456789";
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/ws/quotes?symbol=ACME&token={canary}&x={key_canary}");
    // A real upgrade request, so the WebSocket authenticator reads (and rejects) the
    // query token and logs why, at TRACE level here.
    let res = client
        .get(&url)
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("referer", format!("https://app.example/?access_token={canary}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.text().await.unwrap().contains("malformed"));
    // The logger writes when the response completes; give it a moment.
    let mut logs = String::new();
    for _ in 0..50 {
        logs = captured_logs();
        if logs.contains("/ws/quotes?symbol=ACME") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(logs.contains("GET /ws/quotes?symbol=ACME&token=REDACTED&x=REDACTED HTTP/1.1"), "{logs}");
    assert!(logs.contains("https://app.example/?access_token=REDACTED"), "{logs}");
    assert!(logs.contains("malformed_token"), "the rejection reason is logged: {logs}");
    assert!(!logs.contains("CANARY"), "a canary reached the logs:\n{logs}");
}
