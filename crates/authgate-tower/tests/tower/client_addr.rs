//! The client address through trusted proxies, and the per-client limit on unknown API
//! keys that keys on it.

use std::net::SocketAddr;

use authgate::api_key::{StaticApiKeys, format};
use authgate::client_addr::{ProxyHeader, TrustedProxies};
use authgate::{AuthMethod, AuthMode, Authenticator, Principal};
use authgate_tower::{AuthLayer, ClientAddr};
use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use http::StatusCode;

use crate::helpers::{authenticator, bearer, send, token, verifier};

fn app(layer: AuthLayer) -> Router {
    Router::new().route("/ip", get(|ClientAddr(ip): ClientAddr| async move { ip.to_string() })).layer(layer)
}

/// A request from socket peer `peer` (as axum's `ConnectInfo`) with extra headers.
fn from(peer: &str, headers: &[(&str, &str)]) -> http::Request<axum::body::Body> {
    let mut b = http::Request::get("/ip").header("authorization", bearer(&token("u1")));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let peer: SocketAddr = peer.parse().unwrap();
    b.extension(ConnectInfo(peer)).body(axum::body::Body::empty()).unwrap()
}

#[tokio::test]
async fn a_spoofed_forwarding_header_from_an_untrusted_peer_is_ignored() {
    let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
    let app = app(AuthLayer::new(authenticator()).trusted_proxies(proxies));
    let a = send(app.clone(), from("203.0.113.5:4000", &[("x-forwarded-for", "1.2.3.4")])).await;
    assert_eq!((a.status, a.body.as_ref()), (StatusCode::OK, b"203.0.113.5".as_ref()));
    // Without any trusted proxy (the default) the header never counts.
    let plain = app_default();
    let a = send(plain, from("10.0.0.1:4000", &[("x-forwarded-for", "1.2.3.4")])).await;
    assert_eq!(a.body, "10.0.0.1");
}

fn app_default() -> Router {
    app(AuthLayer::new(authenticator()))
}

#[tokio::test]
async fn a_trusted_proxy_is_read_right_to_left_ipv4_and_ipv6() {
    let proxies = TrustedProxies::parse("10.0.0.0/8, fd00::/8").unwrap();
    let app = app(AuthLayer::new(authenticator()).trusted_proxies(proxies.clone()));
    let a =
        send(app.clone(), from("10.0.0.1:4000", &[("x-forwarded-for", "6.6.6.6, 198.51.100.2, 10.9.9.9")]))
            .await;
    assert_eq!(a.body, "198.51.100.2");
    let a = send(app.clone(), from("[fd00::1]:4000", &[("x-forwarded-for", "[2001:db8::7]:5555")])).await;
    assert_eq!(a.body, "2001:db8::7");
    let forwarded = Router::new()
        .route("/ip", get(|ClientAddr(ip): ClientAddr| async move { ip.to_string() }))
        .layer(AuthLayer::new(authenticator()).trusted_proxies(proxies.header(ProxyHeader::Forwarded)));
    let a =
        send(forwarded, from("10.0.0.1:1", &[("forwarded", r#"for="[2001:db8::9]:80";proto=https"#)])).await;
    assert_eq!(a.body, "2001:db8::9");
}

#[tokio::test]
async fn without_a_peer_address_client_addr_is_a_500_never_a_guess() {
    let app = app_default();
    let req = http::Request::get("/ip")
        .header("authorization", bearer(&token("u1")))
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(send(app, req).await.status, StatusCode::INTERNAL_SERVER_ERROR);
    // Without a layer, the socket peer itself (headers ignored).
    let bare = Router::new().route("/ip", get(|ClientAddr(ip): ClientAddr| async move { ip.to_string() }));
    let a = send(bare, from("[::ffff:192.0.2.1]:9", &[("x-forwarded-for", "1.1.1.1")])).await;
    assert_eq!(a.body, "192.0.2.1");
}

#[tokio::test]
async fn eleven_unknown_api_keys_from_one_client_answer_429_behind_a_trusted_proxy() {
    let known = format::generate("test").unwrap();
    let keys = StaticApiKeys::new().with_key(&known, Principal::builder("u1", AuthMethod::ApiKey).build());
    let auth = Authenticator::builder()
        .jwt(verifier(std::time::Duration::from_secs(60)))
        .api_keys(keys)
        .mode(AuthMode::Either)
        .build()
        .unwrap();
    let layer = AuthLayer::new(auth).trusted_proxies(TrustedProxies::parse("127.0.0.1").unwrap());
    let app = Router::new().route("/api", get(|| async { "ok" })).layer(layer);
    let request = |client: &str, key: &str| {
        http::Request::get("/api")
            .header("x-api-key", key)
            .header("x-forwarded-for", client)
            .extension(ConnectInfo("127.0.0.1:5000".parse::<SocketAddr>().unwrap()))
            .body(axum::body::Body::empty())
            .unwrap()
    };
    for _ in 0..10 {
        let a = send(app.clone(), request("198.51.100.9", &format::generate("test").unwrap())).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    }
    let a = send(app.clone(), request("198.51.100.9", &format::generate("test").unwrap())).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(a.header("retry-after").is_some_and(|s| s.parse::<u64>().is_ok()));
    assert!(a.header("www-authenticate").is_none());
    assert_eq!(a.json()["error"], "too_many_requests");
    // Another client behind the same proxy is not affected.
    let a = send(app.clone(), request("198.51.100.10", &known)).await;
    assert_eq!(a.status, StatusCode::OK);
}
