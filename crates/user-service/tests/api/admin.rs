//! Admin endpoints and signing-key rotation.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::db_tests;
use crate::helpers::{PASSWORD, TestApp, TestDb, Tokens, assert_error, header_of};

db_tests!(
    admin_routes_need_the_permission_403_insufficient_scope,
    admin_lists_and_reads_users,
    admin_disables_a_user_which_revokes_their_sessions,
    i07_admin_unlock_clears_the_throttle,
    admin_sets_roles_and_rejects_unknown_ones,
    admin_reads_the_audit_log,
    rotation_publishes_the_next_key_before_it_signs,
    rotation_keeps_old_tokens_verifiable_and_signs_with_the_new_key,
    es256_and_eddsa_keys_are_selectable_and_verify_with_a_standard_library,
);

async fn admin_routes_need_the_permission_403_insufficient_scope(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, user) = app.new_user().await;
    for path in ["/v1/admin/users", "/v1/admin/audit-events"] {
        let r = app.get_auth(path, &user.access).await;
        assert!(r.headers()["www-authenticate"].to_str().unwrap().contains(r#"error="insufficient_scope""#));
        assert_error(r, StatusCode::FORBIDDEN, "insufficient_scope").await;
    }
    assert_eq!(
        app.post_auth("/v1/admin/keys/rotate", &user.access, json!({})).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.get("/v1/admin/users").await.status(), StatusCode::UNAUTHORIZED);
}

async fn admin_lists_and_reads_users(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, admin) = app.new_admin().await;
    let (email, _) = app.new_user().await;
    let list: Value = app.get_auth("/v1/admin/users", &admin.access).await.json().await.unwrap();
    assert!(list["users"].as_array().unwrap().iter().any(|u| u["email"] == email));
    let id = app.user_id(&email).await;
    let user: Value =
        app.get_auth(&format!("/v1/admin/users/{id}"), &admin.access).await.json().await.unwrap();
    assert_eq!(user["email"], email);
    assert_eq!(app.get_auth("/v1/admin/users/nope", &admin.access).await.status(), StatusCode::NOT_FOUND);
}

async fn admin_disables_a_user_which_revokes_their_sessions(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, admin) = app.new_admin().await;
    let (email, user) = app.new_user().await;
    let id = app.user_id(&email).await;
    let r = app
        .client
        .patch(app.url(&format!("/v1/admin/users/{id}")))
        .bearer_auth(&admin.access)
        .json(&json!({"status": "disabled"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(app.get_auth("/v1/users/me", &user.access).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.refresh(&user.refresh).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.login(&email, PASSWORD).await.status(), StatusCode::FORBIDDEN);
    let r = app
        .client
        .patch(app.url(&format!("/v1/admin/users/{id}")))
        .bearer_auth(&admin.access)
        .json(&json!({"status": "active"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(app.login(&email, PASSWORD).await.status(), StatusCode::OK);
}

async fn i07_admin_unlock_clears_the_throttle(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, admin) = app.new_admin().await;
    let (email, _) = app.new_user().await;
    for _ in 0..5 {
        app.login(&email, "wrong password 123").await;
    }
    assert_eq!(app.login(&email, PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.admin_unlock(&admin.access, &email).await, StatusCode::OK);
    assert_eq!(app.login(&email, PASSWORD).await.status(), StatusCode::OK);
}

async fn admin_sets_roles_and_rejects_unknown_ones(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, admin) = app.new_admin().await;
    let (email, user) = app.new_user().await;
    let id = app.user_id(&email).await;
    let put = |roles: Value| {
        app.client
            .put(app.url(&format!("/v1/admin/users/{id}/roles")))
            .bearer_auth(&admin.access)
            .json(&json!({"roles": roles}))
            .send()
    };
    assert_error(put(json!(["superuser"])).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "unknown_role")
        .await;
    let r = put(json!(["user", "admin"])).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The promotion applies at once: the permission is checked once, against the user's
    // current roles, whatever the token says.
    assert_eq!(app.get_auth("/v1/admin/users", &user.access).await.status(), StatusCode::OK);
    let fresh = Tokens::from_body(&app.login(&email, PASSWORD).await.json().await.unwrap());
    assert_eq!(app.get_auth("/v1/admin/users", &fresh.access).await.status(), StatusCode::OK);
    // A demotion applies at once, even to a token that still says admin.
    assert_eq!(put(json!(["user"])).await.unwrap().status(), StatusCode::OK);
    assert_eq!(app.get_auth("/v1/admin/users", &fresh.access).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        crate::helpers::claims_of(&fresh.access)["permissions"],
        json!([
            "positions:read",
            "alerts:read",
            "alerts:write",
            "api_keys:manage",
            "trading_accounts:read",
            "trading_accounts:write",
            "*"
        ])
    );
}

async fn admin_reads_the_audit_log(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, admin) = app.new_admin().await;
    app.new_user().await;
    let body: Value =
        app.get_auth("/v1/admin/audit-events?limit=5", &admin.access).await.json().await.unwrap();
    let events = body["events"].as_array().unwrap();
    assert_eq!(events.len(), 5);
    assert!(events.iter().all(|e| e["event"].is_string() && e["created_at"].is_string()));
}

async fn rotation_publishes_the_next_key_before_it_signs(db: TestDb) {
    let app = TestApp::spawn_with(&db, |c| c.key_publish_delay_secs = 3600).await;
    let (_, admin) = app.new_admin().await;
    let old_kid = header_of(&admin.access)["kid"].as_str().unwrap().to_owned();
    let r = app.post_auth("/v1/admin/keys/rotate", &admin.access, json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let new_kid = r.json::<Value>().await.unwrap()["kid"].as_str().unwrap().to_owned();
    let jwks: Value = app.get("/v1/auth/.well-known/jwks.json").await.json().await.unwrap();
    let kids: Vec<&str> =
        jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert!(kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()), "{kids:?}");
    // Still signing with the old key until the delay has passed.
    let (_, user) = app.new_user().await;
    assert_eq!(header_of(&user.access)["kid"], old_kid);
}

async fn rotation_keeps_old_tokens_verifiable_and_signs_with_the_new_key(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, admin) = app.new_admin().await;
    let old_kid = header_of(&admin.access)["kid"].as_str().unwrap().to_owned();
    let r = app.post_auth("/v1/admin/keys/rotate", &admin.access, json!({})).await;
    let new_kid = r.json::<Value>().await.unwrap()["kid"].as_str().unwrap().to_owned();
    let (_, user) = app.new_user().await;
    assert_eq!(header_of(&user.access)["kid"], new_kid);
    // Tokens signed by the retired key still verify while it stays published.
    assert_eq!(app.get_auth("/v1/users/me", &admin.access).await.status(), StatusCode::OK);
    let jwks: Value = app.get("/.well-known/jwks.json").await.json().await.unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    use sqlx::Row;
    let row = sqlx::query("SELECT expires_at, created_at FROM signing_keys WHERE kid = $1")
        .bind(&old_kid)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let kept =
        row.get::<i64, _>("expires_at") - crate::helpers::claims_of(&user.access)["iat"].as_i64().unwrap();
    assert!(kept >= 900 + 300 - 5, "retired key published for access TTL + JWKS max-age, got {kept}s");
}

async fn es256_and_eddsa_keys_are_selectable_and_verify_with_a_standard_library(db: TestDb) {
    use user_service::config::SigningAlg;
    for (alg, kty) in [(SigningAlg::ES256, "EC"), (SigningAlg::EdDSA, "OKP")] {
        // One database for both: after each rotation the new algorithm signs while the
        // earlier keys stay published (a mixed JWKS).
        let app = TestApp::spawn_with(&db, |c| c.signing_alg = alg).await;
        let (_, admin) = app.new_admin().await;
        // Rotating publishes a key of the configured algorithm, which then signs.
        let r = app.post_auth("/v1/admin/keys/rotate", &admin.access, json!({})).await;
        assert_eq!(r.status(), StatusCode::OK);
        let (_, user) = app.new_user().await;
        let header = header_of(&user.access);
        assert_eq!(header["alg"], alg.as_str());
        let jwks: jsonwebtoken::jwk::JwkSet =
            app.get("/v1/auth/.well-known/jwks.json").await.json().await.unwrap();
        let jwk = jwks.find(header["kid"].as_str().unwrap()).expect("published");
        let raw: Value = serde_json::to_value(jwk).unwrap();
        assert_eq!(raw["kty"], kty);
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
        let alg_jwt: jsonwebtoken::Algorithm = alg.as_str().parse().unwrap();
        let mut v = jsonwebtoken::Validation::new(alg_jwt);
        v.set_audience(&["trading-platform"]);
        jsonwebtoken::decode::<Value>(&user.access, &key, &v).unwrap();
        assert_eq!(app.get_auth("/v1/users/me", &user.access).await.status(), StatusCode::OK);
    }
}
