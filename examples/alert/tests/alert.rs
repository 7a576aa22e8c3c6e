//! The alert service in-process on 127.0.0.1:0, driven over HTTP: owners create, list
//! and delete their alerts; other users see 404s; no token is a 401 with the challenge.

// Test code: a panic with the failed value is the report we want.
#![allow(clippy::unwrap_used)]

use authgate::client_addr::TrustedProxies;
use authgate::{Authenticator, KeySet, Verifier};
use authgate_testkit::{TestKey, jwks, standard_claims};
use example_alert::{Application, REALM};
use serde_json::{Value, json};

const ISSUER: &str = "http://127.0.0.1:8011";
const AUDIENCE: &str = "trading-platform";

struct TestApp {
    base: String,
    http: reqwest::Client,
}

fn spawn_app() -> TestApp {
    let key = TestKey::shared_rs256();
    let verifier = Verifier::builder()
        .issuer(ISSUER, KeySet::from_jwks_json(&jwks(&[&key]).to_string()).unwrap())
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let app = Application::build_with(Authenticator::jwt(verifier), TrustedProxies::none(), ("127.0.0.1", 0))
        .unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp { base, http: reqwest::Client::new() }
}

/// A token with the `user` role's alert permissions.
fn token_for(sub: &str) -> String {
    token_with(sub, &["alerts:read", "alerts:write"])
}

fn token_with(sub: &str, permissions: &[&str]) -> String {
    TestKey::shared_rs256()
        .token()
        .claims(standard_claims(ISSUER, AUDIENCE, sub, 300))
        .claim("permissions", json!(permissions))
        .sign()
}

impl TestApp {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, reqwest::header::HeaderMap, String) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        (status, headers, res.text().await.unwrap())
    }

    async fn create(&self, token: &str, symbol: &str) -> Value {
        let body = json!({"symbol": symbol, "condition": "above", "price": 101.5});
        let (status, _, text) = self.send(reqwest::Method::POST, "/alerts", Some(token), Some(body)).await;
        assert_eq!(status, 201, "{text}");
        serde_json::from_str(&text).unwrap()
    }

    async fn list(&self, token: &str) -> Vec<Value> {
        let (status, _, text) = self.send(reqwest::Method::GET, "/alerts", Some(token), None).await;
        assert_eq!(status, 200, "{text}");
        serde_json::from_str(&text).unwrap()
    }
}

#[actix_web::test]
async fn health_needs_no_token() {
    let app = spawn_app();
    let (status, _, body) = app.send(reqwest::Method::GET, "/health", None, None).await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
}

#[actix_web::test]
async fn created_alert_is_201_and_owned_by_the_token_subject() {
    let app = spawn_app();
    let alert = app.create(&token_for("alice"), "AAPL").await;
    assert_eq!(alert["user_id"], "alice");
    assert_eq!(alert["symbol"], "AAPL");
    assert_eq!(alert["condition"], "above");
    assert_eq!(alert["price"], 101.5);
    assert!(alert["id"].as_u64().is_some());
}

#[actix_web::test]
async fn each_user_lists_only_their_own_alerts() {
    let app = spawn_app();
    let (alice, bob) = (token_for("alice"), token_for("bob"));
    app.create(&alice, "AAPL").await;
    app.create(&alice, "TSLA").await;
    app.create(&bob, "MSFT").await;
    let mine = app.list(&alice).await;
    assert_eq!(mine.len(), 2);
    assert!(mine.iter().all(|a| a["user_id"] == "alice"));
    let theirs = app.list(&bob).await;
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0]["symbol"], "MSFT");
}

#[actix_web::test]
async fn deleting_is_204_for_the_owner_and_404_for_anyone_else() {
    let app = spawn_app();
    let (alice, bob) = (token_for("alice"), token_for("bob"));
    let id = app.create(&alice, "AAPL").await["id"].as_u64().unwrap();
    let path = format!("/alerts/{id}");
    let (status, _, body) = app.send(reqwest::Method::DELETE, &path, Some(&bob), None).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(app.list(&alice).await.len(), 1, "another user's delete must not remove it");
    let (status, _, _) = app.send(reqwest::Method::DELETE, &path, Some(&alice), None).await;
    assert_eq!(status, 204);
    assert!(app.list(&alice).await.is_empty());
    let (status, _, _) = app.send(reqwest::Method::DELETE, &path, Some(&alice), None).await;
    assert_eq!(status, 404);
}

#[actix_web::test]
async fn requests_without_a_token_are_401_with_the_challenge() {
    let app = spawn_app();
    for (method, path) in [
        (reqwest::Method::GET, "/alerts"),
        (reqwest::Method::POST, "/alerts"),
        (reqwest::Method::DELETE, "/alerts/1"),
    ] {
        let (status, headers, body) = app.send(method, path, None, Some(json!({}))).await;
        assert_eq!(status, 401, "{path}");
        assert_eq!(headers["www-authenticate"], format!("Bearer realm=\"{REALM}\""));
        assert_eq!(body, r#"{"error":"unauthorized","error_description":"authentication required"}"#);
    }
    let (status, headers, _) = app.send(reqwest::Method::GET, "/alerts", Some("not-a-jwt"), None).await;
    assert_eq!(status, 401);
    assert!(headers["www-authenticate"].to_str().unwrap().contains(r#"error="invalid_token""#));
}

#[actix_web::test]
async fn i25_reading_needs_alerts_read_and_writing_alerts_write() {
    let app = spawn_app();
    let owner = token_for("u-guard");
    let created = app.create(&owner, "ACME").await;
    let read_only = token_with("u-guard", &["alerts:read"]);
    assert_eq!(app.list(&read_only).await.len(), 1, "reading needs alerts:read only");
    let id = created["id"].as_u64().unwrap();
    for (method, path) in
        [(reqwest::Method::POST, "/alerts".to_owned()), (reqwest::Method::DELETE, format!("/alerts/{id}"))]
    {
        let body = json!({"symbol": "ACME", "condition": "above", "price": 1.0});
        let (status, headers, text) = app.send(method, &path, Some(&read_only), Some(body)).await;
        assert_eq!(status, 403, "{path}: {text}");
        assert_eq!(
            headers["www-authenticate"],
            format!(
                r#"Bearer realm="{REALM}", error="insufficient_scope", error_description="the credentials lack a required permission", scope="alerts:write""#
            )
        );
    }
    let (status, _, _) =
        app.send(reqwest::Method::GET, "/alerts", Some(&token_with("u-guard", &[])), None).await;
    assert_eq!(status, 403, "no permission, no list");
    assert_eq!(app.list(&owner).await.len(), 1, "the refused delete deleted nothing");
}

#[actix_web::test]
async fn invalid_alert_bodies_are_400_json() {
    let app = spawn_app();
    let t = token_for("alice");
    let (status, _, body) =
        app.send(reqwest::Method::POST, "/alerts", Some(&t), Some(json!({"symbol": "AAPL"}))).await;
    assert_eq!(status, 400);
    assert!(body.contains(r#""error":"invalid_request""#), "{body}");
    let bad_price = json!({"symbol": "AAPL", "condition": "above", "price": -3});
    let (status, _, body) = app.send(reqwest::Method::POST, "/alerts", Some(&t), Some(bad_price)).await;
    assert_eq!((status, body.contains("price")), (400, true));
}

#[test]
fn config_defaults_follow_the_shared_example_conventions() {
    let config = example_alert::Config::from_lookup(|_| None).unwrap();
    assert_eq!(config.port, 8012);
    assert_eq!(config.jwks_url.as_deref(), Some("http://127.0.0.1:8011/v1/auth/.well-known/jwks.json"));
    assert_eq!(config.api_key_verify_url.as_deref(), Some("http://127.0.0.1:8011/v1/users/me"));
    assert_eq!(config.jwt_issuer, "http://127.0.0.1:8011");
    assert_eq!(config.jwt_audience.as_deref(), Some("trading-platform"));
    assert_eq!(config.jwt_token_types, authgate::TokenTypes::at_jwt());
    assert_eq!(config.jwt_algorithms, vec![authgate::Algorithm::RS256]);
    assert_eq!(config.jwt_leeway.as_secs(), 60);
    assert_eq!(config.api_key_cache_ttl.as_secs(), 60);
    let custom = example_alert::Config::from_lookup(|k| match k {
        "USER_SERVICE_URL" => Some("http://users:9000/".into()),
        "JWT_ALGORITHMS" => Some("RS256, ES256".into()),
        "PORT" => Some("0".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(custom.jwks_url.as_deref(), Some("http://users:9000/v1/auth/.well-known/jwks.json"));
    assert_eq!(custom.jwt_algorithms.len(), 2);
    assert_eq!(custom.port, 0);
    assert!(example_alert::Config::from_lookup(|k| (k == "JWT_ALGORITHMS").then(|| "none".into())).is_err());
}

#[actix_web::test]
async fn dev_cors_admits_the_web_frontend_and_no_other_origin() {
    let vars = [("PORT", "0"), ("JWKS_URL", "http://127.0.0.1:9/jwks.json")];
    let config = example_alert::Config::from_lookup(|n| {
        vars.iter().find(|(k, _)| *k == n).map(|(_, v)| (*v).to_owned())
    })
    .unwrap();
    let app = Application::build(&config).unwrap();
    let url = format!("http://127.0.0.1:{}/alerts", app.port());
    actix_web::rt::spawn(app.run_until_stopped());
    let preflight = |origin: &'static str| {
        reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, &url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization,content-type")
            .send()
    };
    let allowed = preflight("http://127.0.0.1:3001").await.unwrap();
    assert_eq!(allowed.status(), 200);
    assert_eq!(allowed.headers()["access-control-allow-origin"], "http://127.0.0.1:3001");
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(refused.headers().get("access-control-allow-origin").is_none());
}
