//! One authentication path (issue 11): the auth layer verifies, `Caller` adds the
//! service's own checks, permissions are checked once against the current roles, and
//! every refusal has one shape, whoever refuses.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::db_tests;
use crate::helpers::{PASSWORD, TestApp, TestDb, Tokens, claims_of, real_signing_key, sign};

db_tests!(
    a_demoted_users_still_valid_token_is_refused_at_once_with_403,
    missing_malformed_and_expired_tokens_get_one_401_shape_from_the_layer_and_the_extractors,
);

async fn a_demoted_users_still_valid_token_is_refused_at_once_with_403(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, admin) = app.new_admin().await;
    let (email, _) = app.new_user().await;
    let id = app.user_id(&email).await;
    let set_roles = |roles: Value| {
        app.client
            .put(app.url(&format!("/v1/admin/users/{id}/roles")))
            .bearer_auth(&admin.access)
            .json(&json!({"roles": roles}))
            .send()
    };
    assert_eq!(set_roles(json!(["user", "admin"])).await.unwrap().status(), StatusCode::OK);
    let promoted = Tokens::from_body(&app.login(&email, PASSWORD).await.json().await.unwrap());
    assert!(claims_of(&promoted.access)["permissions"].as_array().unwrap().contains(&json!("*")));
    assert_eq!(app.get_auth("/v1/admin/users", &promoted.access).await.status(), StatusCode::OK);

    assert_eq!(set_roles(json!(["user"])).await.unwrap().status(), StatusCode::OK);
    // The token still says `*` and still verifies, but the permission is checked against
    // the roles the user holds now.
    let r = app.get_auth("/v1/admin/users", &promoted.access).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        r.headers()["www-authenticate"],
        r#"Bearer realm="api", error="insufficient_scope", error_description="the credentials lack a required permission", scope="admin:users:read""#
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": "insufficient_scope", "message": "the credentials lack a required permission"})
    );
    // The token itself stays good for what the user may still do.
    assert_eq!(app.get_auth("/v1/users/me/sessions", &promoted.access).await.status(), StatusCode::OK);
}

/// Status, `WWW-Authenticate` and JSON body of an answer.
async fn answer(app: &TestApp, method: Method, path: &str, token: Option<&str>) -> (u16, String, Value) {
    let mut request = app.client.request(method, app.url(path)).json(&json!({}));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let r = request.send().await.unwrap();
    let challenge = r.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    (r.status().as_u16(), challenge.unwrap_or_default(), r.json().await.unwrap())
}

async fn missing_malformed_and_expired_tokens_get_one_401_shape_from_the_layer_and_the_extractors(
    db: TestDb,
) {
    let app = TestApp::spawn(&db).await;
    let (_, tokens) = app.new_user().await;
    let (kid, key) = real_signing_key(&app).await;
    let mut claims = claims_of(&tokens.access);
    let now = claims["iat"].as_i64().unwrap();
    claims["exp"] = json!(now - 120);
    claims["iat"] = json!(now - 1000);
    claims["nbf"] = json!(now - 1000);
    let expired = sign(&claims, &key, &kid, "at+jwt");

    let cases = [
        (
            "missing",
            None,
            r#"Bearer realm="api""#,
            json!({"error": "unauthorized", "message": "authentication required"}),
        ),
        (
            "malformed",
            Some("not.a.token"),
            r#"Bearer realm="api", error="invalid_token", error_description="the access token is malformed""#,
            json!({"error": "invalid_token", "message": "the access token is malformed"}),
        ),
        (
            "expired",
            Some(expired.as_str()),
            r#"Bearer realm="api", error="invalid_token", error_description="the access token expired""#,
            json!({"error": "invalid_token", "message": "the access token expired"}),
        ),
    ];
    for (what, token, challenge, body) in cases {
        let expected = (401, challenge.to_owned(), body);
        // Refused by the auth layer in front of the route.
        let layer = answer(&app, Method::GET, "/v1/users/me/sessions", token).await;
        assert_eq!(layer, expected, "{what}: auth layer");
        // Refused by an extractor: the service-client one verifies for itself, so that
        // it can audit the refusal.
        let extractor =
            answer(&app, Method::GET, "/v1/internal/trading-accounts/acct-1/credentials", token).await;
        assert_eq!(extractor, expected, "{what}: service-client extractor");
    }
    // `Caller` with no principal (an optional layer let an anonymous request through).
    let caller = answer(&app, Method::PATCH, "/v1/users/me", None).await;
    assert_eq!(caller, answer(&app, Method::GET, "/v1/users/me/sessions", None).await, "missing: Caller");
    assert_eq!(caller.0, 401);
}
