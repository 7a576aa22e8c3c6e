//! Start-up from configuration: readiness follows the key source, and the service
//! answers over TCP.

use std::collections::HashMap;
use std::time::Duration;

use authgate_testkit::{Behaviour, MockJwksServer, TestKey};
use example_backend::{Application, Auth, Config, app};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

fn config(jwks: &MockJwksServer) -> Config {
    let vars: HashMap<&str, String> = HashMap::from([
        ("PORT", "0".to_owned()),
        ("JWKS_URL", jwks.jwks_url()),
        ("USER_SERVICE_URL", jwks.base_url()),
    ]);
    Config::from_lookup(|n| vars.get(n).cloned(), 8010).unwrap()
}

async fn ready_status(app: &axum::Router) -> u16 {
    let req = http::Request::get("/ready").body(axum::body::Body::empty()).unwrap();
    app.clone().oneshot(req).await.unwrap().status().as_u16()
}

#[tokio::test]
async fn ready_is_503_until_the_signing_keys_load_then_200() {
    let idp = MockJwksServer::start().await;
    idp.set_behaviour(Behaviour::Status(500));
    let auth = Auth::from_config(&config(&idp)).unwrap();
    let app = app(auth.clone());
    tokio::spawn(auth.warm_up(Duration::from_millis(100)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(ready_status(&app).await, 503);

    idp.set_keys(&[&TestKey::shared_rs256()]);
    idp.set_behaviour(Behaviour::Normal);
    let mut status = 0;
    for _ in 0..100 {
        status = ready_status(&app).await;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200);
}

#[tokio::test]
async fn application_binds_port_zero_and_serves_health_over_tcp() {
    let idp = MockJwksServer::start().await;
    let application = Application::build(&config(&idp)).await.unwrap();
    let addr = application.local_addr().unwrap();
    tokio::spawn(application.run_until_stopped());
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    assert!(raw.ends_with(r#"{"status":"ok"}"#), "{raw}");
}

#[tokio::test]
async fn dev_cors_admits_the_web_frontend_and_no_other_origin() {
    let idp = MockJwksServer::start().await;
    let application = Application::build(&config(&idp)).await.unwrap();
    let addr = application.local_addr().unwrap();
    tokio::spawn(application.run_until_stopped());
    let preflight = |origin: &'static str| async move {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "OPTIONS /api/positions HTTP/1.1\r\nHost: x\r\nOrigin: {origin}\r\n\
             Access-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: authorization\r\n\
             Connection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).await.unwrap();
        raw.to_ascii_lowercase()
    };
    let allowed = preflight("http://127.0.0.1:3001").await;
    assert!(allowed.contains("access-control-allow-origin: http://127.0.0.1:3001"), "{allowed}");
    assert!(allowed.contains("authorization"), "{allowed}");
    let refused = preflight("https://evil.example").await;
    assert!(!refused.contains("access-control-allow-origin"), "{refused}");
}
