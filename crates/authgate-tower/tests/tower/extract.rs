//! Extractors and guards: 401/403, typed claims, and the 500 for a missing layer.

use authgate::Requirement;
use authgate_tower::{
    AuthLayer, Claims, CurrentUser, Permission, Require, RequireLayer, UserId, require_permission,
};
use axum::Router;
use axum::routing::get;
use http::StatusCode;

use crate::helpers::{
    authenticator, bearer, captured_logs, get as get_req, logs_text, send, token, token_with,
};

struct AdminDelete;
impl Permission for AdminDelete {
    const NAME: &'static str = "admin:delete";
}

struct Staff;
impl Permission for Staff {
    const NAME: &'static str = "staff";
    fn requirement() -> Requirement {
        Requirement::any([Requirement::role("support"), Requirement::role("admin")])
    }
}

#[derive(serde::Deserialize)]
struct Tier {
    tier: String,
}

fn routes() -> Router {
    Router::new()
        .route("/me", get(|u: CurrentUser| async move { u.user_id().to_owned() }))
        .route("/maybe", get(|u: Option<CurrentUser>| async move { format!("{}", u.is_some()) }))
        .route("/id", get(|UserId(id): UserId| async move { id }))
        .route("/tier", get(|Claims(c): Claims<Tier>| async move { c.tier }))
        .route(
            "/maybe-tier",
            get(
                |c: Option<Claims<Tier>>| async move { c.map_or("anonymous".to_owned(), |Claims(c)| c.tier) },
            ),
        )
        .route("/delete", get(|u: Require<AdminDelete>| async move { u.user_id().to_owned() }))
        .route("/staff", get(|u: Require<Staff>| async move { u.user_id().to_owned() }))
        .route("/guarded", get(|| async { "in" }).layer(require_permission("admin:delete")))
}

fn auth(t: &str) -> [(&'static str, String); 1] {
    [("authorization", bearer(t))]
}

async fn call(app: Router, uri: &str, t: Option<&str>) -> crate::helpers::Answer {
    let header = t.map(auth);
    let headers: Vec<(&str, &str)> = header.iter().flatten().map(|(k, v)| (*k, v.as_str())).collect();
    send(app, get_req(uri, &headers)).await
}

#[tokio::test]
async fn user_id_and_typed_claims_are_extracted() {
    let app = routes().layer(AuthLayer::new(authenticator()));
    let gold = token_with("u1", 300, &[("tier", serde_json::json!("gold"))]);
    assert_eq!(call(app.clone(), "/id", Some(&gold)).await.body, "u1");
    assert_eq!(call(app.clone(), "/tier", Some(&gold)).await.body, "gold");
    let a = call(app, "/tier", Some(&token("u1"))).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "claims that do not fit T are the token's fault");
    assert!(a.header("www-authenticate").unwrap().contains("invalid_token"));
}

#[tokio::test]
async fn require_extractor_answers_403_naming_the_permission() {
    let app = routes().layer(AuthLayer::new(authenticator()));
    let a = call(app.clone(), "/delete", Some(&token("u1"))).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(a.header("www-authenticate").unwrap().ends_with(r#"error="insufficient_scope", error_description="the credentials lack a required permission", scope="admin:delete""#));
    assert_eq!(a.json()["scope"], "admin:delete");

    let admin = token_with("boss", 300, &[("permissions", serde_json::json!(["admin:*"]))]);
    assert_eq!(call(app.clone(), "/delete", Some(&admin)).await.body, "boss");

    let support = token_with("s1", 300, &[("roles", serde_json::json!(["support"]))]);
    assert_eq!(call(app.clone(), "/staff", Some(&support)).await.status, StatusCode::OK);
    let a = call(app, "/staff", Some(&token("u1"))).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(a.json()["scope"], "role:support role:admin");
}

#[tokio::test]
async fn require_layer_any_and_all_combinations_answer_403() {
    let layer = RequireLayer::new(Requirement::all([
        Requirement::role("trader"),
        Requirement::any([Requirement::permission("orders:write"), Requirement::permission("orders:*")]),
    ]));
    let app = Router::new()
        .route("/order", get(|| async { "placed" }).layer(layer))
        .layer(AuthLayer::new(authenticator()));
    let trader = token_with(
        "t",
        300,
        &[("roles", serde_json::json!(["trader"])), ("permissions", serde_json::json!(["orders:*"]))],
    );
    assert_eq!(call(app.clone(), "/order", Some(&trader)).await.status, StatusCode::OK);
    let viewer = token_with("v", 300, &[("roles", serde_json::json!(["trader"]))]);
    let a = call(app.clone(), "/order", Some(&viewer)).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(a.json()["scope"], "orders:write orders:*");
    let a = call(app, "/order", Some(&token("nobody"))).await;
    assert_eq!((a.status, a.json()["scope"].as_str()), (StatusCode::FORBIDDEN, Some("role:trader")));
}

#[tokio::test]
async fn guards_behind_an_optional_layer_answer_401_for_anonymous_callers() {
    let app = routes().layer(AuthLayer::optional(authenticator()));
    assert_eq!(call(app.clone(), "/maybe", None).await.body, "false");
    for uri in ["/me", "/id", "/tier", "/delete", "/guarded"] {
        let a = call(app.clone(), uri, None).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(a.header("www-authenticate"), Some(r#"Bearer realm="api""#), "{uri}");
    }
}

#[tokio::test]
async fn extractors_and_guards_without_the_layer_answer_500_and_log_the_missing_layer() {
    captured_logs();
    let app = routes();
    for uri in ["/me", "/maybe", "/id", "/tier", "/delete", "/guarded"] {
        let a = call(app.clone(), uri, Some(&token("u1"))).await;
        assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR, "{uri} must never pass silently");
        assert_eq!(a.json()["error"], "server_error");
        assert_eq!(a.header("www-authenticate"), None);
    }
    let logs = logs_text();
    assert!(
        logs.contains("the CurrentUser extractor used on a route without authgate_tower::AuthLayer"),
        "{logs}"
    );
    assert!(logs.contains("RequireLayer used on a route without authgate_tower::AuthLayer"));
}

#[tokio::test]
async fn optional_claims_follow_the_rules_of_optional_current_user() {
    let app = routes().layer(AuthLayer::optional(authenticator()));
    let gold = token_with("u1", 300, &[("tier", serde_json::json!("gold"))]);
    assert_eq!(call(app.clone(), "/maybe-tier", Some(&gold)).await.body, "gold");
    assert_eq!(call(app.clone(), "/maybe-tier", None).await.body, "anonymous");
    // Authenticated but without the claims the route needs: 401, not anonymous.
    let a = call(app.clone(), "/maybe-tier", Some(&token("u1"))).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.header("www-authenticate").unwrap_or_default().contains("invalid_token"));
    // And without any layer: 500.
    assert_eq!(call(routes(), "/maybe-tier", None).await.status, StatusCode::INTERNAL_SERVER_ERROR);
}
