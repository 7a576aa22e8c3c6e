//! Every route's statuses and headers.

use authgate::api_key::StaticApiKeys;
use authgate::{AuthMethod, KeySet, Principal, Verifier};
use authgate_testkit::{TestKey, jwks, standard_claims};
use axum::body::Body;
use example_backend::{Auth, app};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

const ISSUER: &str = "http://127.0.0.1:8011";

fn fixture() -> (axum::Router, String) {
    let keys = KeySet::from_jwks_json(&jwks(&[&TestKey::shared_rs256()]).to_string()).unwrap();
    let verifier = Verifier::builder().issuer(ISSUER, keys).audience("trading-platform").build().unwrap();
    let api_key = authgate::api_key::format::generate("test").unwrap();
    let keys = StaticApiKeys::new().with_key(
        &api_key,
        Principal::builder("legacy-7", AuthMethod::ApiKey).permissions(["positions:read"]).build(),
    );
    (app(Auth::new(verifier, keys).unwrap()), api_key)
}

fn token(sub: &str, permissions: &[&str]) -> String {
    TestKey::shared_rs256()
        .token()
        .claims(standard_claims(ISSUER, "trading-platform", sub, 300))
        .claim("email", format!("{sub}@example.com"))
        .claim("roles", serde_json::json!(["trader"]))
        .claim("permissions", serde_json::json!(permissions))
        .sign()
}

struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    json: serde_json::Value,
}

async fn call(app: axum::Router, method: &str, uri: &str, headers: &[(&str, &str)]) -> Answer {
    let mut b = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let response = app.oneshot(b.body(Body::empty()).unwrap()).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        json: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    }
}

#[tokio::test]
async fn health_needs_no_credentials() {
    let (app, _) = fixture();
    let a = call(app, "GET", "/health", &[]).await;
    assert_eq!((a.status, a.json), (StatusCode::OK, serde_json::json!({"status": "ok"})));
}

#[tokio::test]
async fn positions_accept_a_jwt_and_say_so() {
    let (app, _) = fixture();
    let a = call(app, "GET", "/api/positions", &[("authorization", &format!("Bearer {}", token("u1", &[])))])
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!((a.json["user_id"].as_str(), a.json["auth_method"].as_str()), (Some("u1"), Some("jwt")));
    assert!(a.headers.get("deprecation").is_none());
}

#[tokio::test]
async fn positions_accept_an_api_key_with_deprecation_headers() {
    let (app, key) = fixture();
    let a = call(app, "GET", "/api/positions", &[("x-api-key", &key)]).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        (a.json["user_id"].as_str(), a.json["auth_method"].as_str()),
        (Some("legacy-7"), Some("api_key"))
    );
    assert_eq!(a.headers["deprecation"], "@1767225600");
    assert!(a.headers["link"].to_str().unwrap().contains(r#"rel="deprecation""#));
}

#[tokio::test]
async fn positions_without_credentials_get_the_bare_challenge() {
    let (app, _) = fixture();
    let a = call(app, "GET", "/api/positions", &[]).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.headers["www-authenticate"], r#"Bearer realm="api""#);
}

#[tokio::test]
async fn me_returns_the_profile_from_the_token() {
    let (app, _) = fixture();
    let t = token("u2", &["positions:read"]);
    let a = call(app, "GET", "/api/me", &[("authorization", &format!("Bearer {t}"))]).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        a.json,
        serde_json::json!({"user_id": "u2", "email": "u2@example.com", "roles": ["trader"], "permissions": ["positions:read"]})
    );
}

#[tokio::test]
async fn me_is_jwt_only_and_ignores_api_keys() {
    let (app, key) = fixture();
    let a = call(app, "GET", "/api/me", &[("x-api-key", &key)]).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.headers["www-authenticate"], r#"Bearer realm="api""#);
}

#[tokio::test]
async fn j26_query_token_is_not_accepted_on_rest_routes() {
    let (app, _) = fixture();
    let a = call(app, "GET", &format!("/api/me?access_token={}", token("u1", &[])), &[]).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn admin_delete_needs_the_permission() {
    let (app, _) = fixture();
    let user = token("u3", &["positions:read"]);
    let a =
        call(app.clone(), "DELETE", "/admin/data/42", &[("authorization", &format!("Bearer {user}"))]).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(
        a.headers["www-authenticate"],
        r#"Bearer realm="api", error="insufficient_scope", error_description="the credentials lack a required permission", scope="admin:delete""#
    );
    let admin = token("boss", &["admin:*"]);
    let a =
        call(app.clone(), "DELETE", "/admin/data/42", &[("authorization", &format!("Bearer {admin}"))]).await;
    assert_eq!((a.status, a.json), (StatusCode::OK, serde_json::json!({"deleted": "42"})));
    let a = call(app, "DELETE", "/admin/data/42", &[]).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn expired_token_is_401_invalid_token() {
    let (app, _) = fixture();
    let expired = TestKey::shared_rs256()
        .token()
        .claims(standard_claims(ISSUER, "trading-platform", "u1", 0))
        .claim("exp", authgate_testkit::now() - 600)
        .sign();
    let a = call(app, "GET", "/api/me", &[("authorization", &format!("Bearer {expired}"))]).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.json["error_description"], "the access token expired");
}
