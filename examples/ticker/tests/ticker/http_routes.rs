//! The plain HTTP routes of the ticker.

use std::time::Duration;

use crate::helpers::{http_get, spawn_ticker, token};

#[tokio::test]
async fn subscription_status_needs_a_jwt_and_returns_the_user_id() {
    let t = spawn_ticker("", true).await;
    let (status, body) =
        http_get(t.addr, "/subscription-status", &[("Authorization", &format!("Bearer {}", token("sub-1")))])
            .await;
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["user_id"], "sub-1");
    let (status, _) = http_get(t.addr, "/subscription-status", &[]).await;
    assert_eq!(status, 401);
    let (status, _) = http_get(t.addr, &format!("/subscription-status?token={}", token("sub-1")), &[]).await;
    assert_eq!(status, 401, "J26: query tokens only count on WebSocket upgrades");
}

#[tokio::test]
async fn ready_is_503_until_keys_load() {
    let t = spawn_ticker("", false).await;
    // The mock serves an empty key set: loaded, but nothing can verify... it is "ready"
    // only once a fetch succeeded, so wait for the warm-up either way.
    let (health, _) = http_get(t.addr, "/health", &[]).await;
    assert_eq!(health, 200);
    let mut status = 0;
    for _ in 0..50 {
        status = http_get(t.addr, "/ready", &[]).await.0;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200);

    // A JWKS URL that refuses connections never becomes ready.
    let vars = std::collections::HashMap::from([("PORT", "0"), ("JWKS_URL", "http://127.0.0.1:1/jwks.json")]);
    let config = example_ticker::Config::from_lookup(|n| vars.get(n).map(|v| (*v).to_owned()), 8080).unwrap();
    let app = example_ticker::Application::build(&config).await.unwrap();
    let addr = app.local_addr().unwrap();
    tokio::spawn(app.run_until_stopped());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(http_get(addr, "/ready", &[]).await.0, 503);
}
