//! The client address through trusted proxies, and the per-client limit on unknown API
//! keys that keys on it.

use std::net::SocketAddr;

use actix_web::{App, HttpResponse, test, web};
use authgate::api_key::format;
use authgate::client_addr::{ProxyHeader, TrustedProxies};
use authgate_actix::{AuthMiddleware, ClientAddr};

use crate::helpers::{answer, authenticator, user_token};

async fn ip(ClientAddr(ip): ClientAddr) -> String {
    ip.to_string()
}

fn from(peer: &str, headers: &[(&str, &str)]) -> test::TestRequest {
    let mut req = test::TestRequest::get()
        .uri("/ip")
        .peer_addr(peer.parse::<SocketAddr>().unwrap())
        .insert_header(("authorization", format!("Bearer {}", user_token("u1"))));
    for (k, v) in headers {
        req = req.insert_header((*k, *v));
    }
    req
}

#[actix_web::test]
async fn a_spoofed_forwarding_header_from_an_untrusted_peer_is_ignored() {
    let (auth, _) = authenticator();
    let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
    let svc = test::init_service(
        App::new().route("/ip", web::get().to(ip)).wrap(AuthMiddleware::new(auth).trusted_proxies(proxies)),
    )
    .await;
    let req = from("203.0.113.5:4000", &[("x-forwarded-for", "1.2.3.4")]).to_request();
    assert_eq!(answer(test::call_service(&svc, req).await).await.2, "203.0.113.5");
    let req = from("10.0.0.1:4000", &[("x-forwarded-for", "6.6.6.6, 198.51.100.2, 10.9.9.9")]).to_request();
    assert_eq!(answer(test::call_service(&svc, req).await).await.2, "198.51.100.2");
}

#[actix_web::test]
async fn ipv6_peers_and_the_forwarded_header() {
    let (auth, _) = authenticator();
    let proxies = TrustedProxies::parse("fd00::/8").unwrap().header(ProxyHeader::Forwarded);
    let svc = test::init_service(
        App::new().route("/ip", web::get().to(ip)).wrap(AuthMiddleware::new(auth).trusted_proxies(proxies)),
    )
    .await;
    let req = from("[fd00::1]:4000", &[("forwarded", r#"for="[2001:db8::9]:80", for=_hidden"#)]).to_request();
    assert_eq!(
        answer(test::call_service(&svc, req).await).await.2,
        "fd00::1",
        "an obfuscated hop stops the walk"
    );
    let req = from("[fd00::1]:4000", &[("forwarded", r#"for="[2001:db8::9]:80""#)]).to_request();
    assert_eq!(answer(test::call_service(&svc, req).await).await.2, "2001:db8::9");
    // Without a middleware: the peer itself.
    let bare = test::init_service(App::new().route("/ip", web::get().to(ip))).await;
    let req = from("[::ffff:192.0.2.1]:9", &[("x-forwarded-for", "1.1.1.1")]).to_request();
    assert_eq!(answer(test::call_service(&bare, req).await).await.2, "192.0.2.1");
}

#[actix_web::test]
async fn eleven_unknown_api_keys_from_one_client_answer_429_behind_a_trusted_proxy() {
    let (auth, known) = authenticator();
    let mw = AuthMiddleware::new(auth).trusted_proxies(TrustedProxies::parse("127.0.0.1").unwrap());
    let svc = test::init_service(App::new().route("/api", web::get().to(HttpResponse::Ok)).wrap(mw)).await;
    let request = |client: &str, key: &str| {
        test::TestRequest::get()
            .uri("/api")
            .peer_addr("127.0.0.1:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", client.to_owned()))
            .insert_header(("x-api-key", key.to_owned()))
            .to_request()
    };
    for _ in 0..10 {
        let res = test::call_service(&svc, request("198.51.100.9", &format::generate("test").unwrap())).await;
        assert_eq!(res.status(), 401);
    }
    let res = test::call_service(&svc, request("198.51.100.9", &format::generate("test").unwrap())).await;
    let (status, challenge, body, headers) = answer(res).await;
    assert_eq!((status, challenge), (429, None));
    let retry_after = headers.get("retry-after").and_then(|v| v.to_str().ok());
    assert!(retry_after.is_some_and(|s| s.parse::<u64>().is_ok()));
    assert!(body.contains("too_many_requests"), "{body}");
    let res = test::call_service(&svc, request("198.51.100.10", &known)).await;
    assert_eq!(res.status(), 200, "another client behind the same proxy");
}
