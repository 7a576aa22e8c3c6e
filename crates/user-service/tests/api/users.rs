//! `/v1/users/me*` and how the service authenticates its own endpoints.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::db_tests;
use crate::helpers::{
    PASSWORD, TestApp, TestDb, Tokens, assert_error, claims_of, foreign_rsa_key, real_signing_key, sign,
};

db_tests!(
    me_returns_roles_permissions_mfa_status_and_auth_method,
    me_without_a_token_is_401_with_a_bearer_challenge,
    j26_token_in_query_is_not_accepted_and_the_scheme_is_case_insensitive,
    j13_a_token_without_typ_at_jwt_is_rejected,
    j30_a_token_signed_by_an_unknown_key_is_rejected,
    j02_alg_none_and_garbage_tokens_are_rejected,
    j16_expired_token_and_wrong_audience_are_rejected,
    patch_me_changes_the_name_only,
    i11_password_change_needs_the_current_password_and_revokes_other_sessions,
    sessions_are_listed_and_revocable,
    i25_another_users_session_is_404,
    own_audit_events_are_listed,
);

async fn me_returns_roles_permissions_mfa_status_and_auth_method(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, tokens) = app.new_user().await;
    let r = app.get_auth("/v1/users/me", &tokens.access).await;
    assert_eq!(r.status(), StatusCode::OK);
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["email"], email);
    assert_eq!(me["roles"], json!(["user"]));
    assert_eq!(
        me["permissions"],
        json!([
            "positions:read",
            "alerts:read",
            "alerts:write",
            "api_keys:manage",
            "trading_accounts:read",
            "trading_accounts:write"
        ])
    );
    assert_eq!(me["mfa_enabled"], false);
    assert_eq!(me["auth_method"], "jwt");
    assert_eq!(me["id"], app.user_id(&email).await);
}

async fn me_without_a_token_is_401_with_a_bearer_challenge(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let r = app.get("/v1/users/me").await;
    assert_eq!(r.headers()["www-authenticate"], r#"Bearer realm="api""#);
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = app.get_auth("/v1/users/me", "not-a-token").await;
    assert_eq!(
        r.headers()["www-authenticate"],
        r#"Bearer realm="api", error="invalid_token", error_description="the access token is malformed""#
    );
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

async fn j26_token_in_query_is_not_accepted_and_the_scheme_is_case_insensitive(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, tokens) = app.new_user().await;
    let r = app.get(&format!("/v1/users/me?access_token={}", tokens.access)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app
        .client
        .get(app.url("/v1/users/me"))
        .header("authorization", format!("bEaReR {}", tokens.access))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

async fn j13_a_token_without_typ_at_jwt_is_rejected(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, tokens) = app.new_user().await;
    let (kid, key) = real_signing_key(&app).await;
    let claims = claims_of(&tokens.access);
    // Control: the same claims re-signed as at+jwt are accepted.
    assert_eq!(
        app.get_auth("/v1/users/me", &sign(&claims, &key, &kid, "at+jwt")).await.status(),
        StatusCode::OK
    );
    for typ in ["JWT", "mfa+jwt", ""] {
        let forged = sign(&claims, &key, &kid, typ);
        assert_eq!(
            app.get_auth("/v1/users/me", &forged).await.status(),
            StatusCode::UNAUTHORIZED,
            "typ {typ:?}"
        );
    }
}

async fn j30_a_token_signed_by_an_unknown_key_is_rejected(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, tokens) = app.new_user().await;
    let kid = crate::helpers::header_of(&tokens.access)["kid"].as_str().unwrap().to_owned();
    let forged = sign(&claims_of(&tokens.access), &foreign_rsa_key(), &kid, "at+jwt");
    assert_error(app.get_auth("/v1/users/me", &forged).await, StatusCode::UNAUTHORIZED, "invalid_token")
        .await;
    let forged = sign(&claims_of(&tokens.access), &foreign_rsa_key(), "some-other-kid", "at+jwt");
    assert_eq!(app.get_auth("/v1/users/me", &forged).await.status(), StatusCode::UNAUTHORIZED);
}

async fn j02_alg_none_and_garbage_tokens_are_rejected(db: TestDb) {
    use base64::Engine;
    let app = TestApp::spawn(&db).await;
    let (_, tokens) = app.new_user().await;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let payload = tokens.access.split('.').nth(1).unwrap();
    let kid = crate::helpers::header_of(&tokens.access)["kid"].clone();
    for header in [
        json!({"alg": "none", "typ": "at+jwt", "kid": kid}),
        json!({"alg": "HS256", "typ": "at+jwt", "kid": kid}),
    ] {
        for sig in ["", "AAAA"] {
            let t = format!("{}.{payload}.{sig}", b64(&header));
            assert_eq!(app.get_auth("/v1/users/me", &t).await.status(), StatusCode::UNAUTHORIZED);
        }
    }
    let stripped = tokens.access.rsplit_once('.').unwrap().0;
    assert_eq!(app.get_auth("/v1/users/me", stripped).await.status(), StatusCode::UNAUTHORIZED);
    let huge = "a".repeat(9000);
    assert_eq!(app.get_auth("/v1/users/me", &huge).await.status(), StatusCode::UNAUTHORIZED);
}

async fn j16_expired_token_and_wrong_audience_are_rejected(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, tokens) = app.new_user().await;
    let (kid, key) = real_signing_key(&app).await;
    let mut expired = claims_of(&tokens.access);
    let now = expired["iat"].as_i64().unwrap();
    expired["exp"] = json!(now - 120);
    expired["iat"] = json!(now - 1000);
    expired["nbf"] = json!(now - 1000);
    assert_eq!(
        app.get_auth("/v1/users/me", &sign(&expired, &key, &kid, "at+jwt")).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let mut aud = claims_of(&tokens.access);
    aud["aud"] = json!("another-platform");
    assert_eq!(
        app.get_auth("/v1/users/me", &sign(&aud, &key, &kid, "at+jwt")).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let mut iss = claims_of(&tokens.access);
    iss["iss"] = json!(format!("{}/", app.issuer));
    assert_eq!(
        app.get_auth("/v1/users/me", &sign(&iss, &key, &kid, "at+jwt")).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn patch_me_changes_the_name_only(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, tokens) = app.new_user().await;
    let r = app
        .client
        .patch(app.url("/v1/users/me"))
        .bearer_auth(&tokens.access)
        .json(&json!({"name": "Renamed", "roles": ["admin"], "email": "other@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["name"], "Renamed");
    assert_eq!(me["email"], email);
    assert_eq!(me["roles"], json!(["user"]));
}

async fn i11_password_change_needs_the_current_password_and_revokes_other_sessions(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, first) = app.new_user().await;
    let second = Tokens::from_body(&app.login(&email, PASSWORD).await.json().await.unwrap());
    let body = json!({"current_password": "wrong password 123", "new_password": "a brand new passphrase"});
    assert_error(
        app.post_auth("/v1/users/me/password", &first.access, body).await,
        StatusCode::FORBIDDEN,
        "invalid_password",
    )
    .await;
    let body = json!({"current_password": PASSWORD, "new_password": "a brand new passphrase"});
    assert_eq!(
        app.post_auth("/v1/users/me/password", &first.access, body).await.status(),
        StatusCode::NO_CONTENT
    );
    // This session survives; the other one is revoked.
    assert_eq!(app.get_auth("/v1/users/me", &first.access).await.status(), StatusCode::OK);
    assert_eq!(app.get_auth("/v1/users/me", &second.access).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.refresh(&second.refresh).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.login(&email, PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.login(&email, "a brand new passphrase").await.status(), StatusCode::OK);
    assert!(app.audit_events(&email).await.contains(&"password_changed".to_owned()));
}

async fn sessions_are_listed_and_revocable(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, first) = app.new_user().await;
    let second = Tokens::from_body(&app.login(&email, PASSWORD).await.json().await.unwrap());
    let list: Value = app.get_auth("/v1/users/me/sessions", &first.access).await.json().await.unwrap();
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    let other = claims_of(&second.access)["sid"].as_str().unwrap().to_owned();
    let r = app
        .client
        .delete(app.url(&format!("/v1/users/me/sessions/{other}")))
        .bearer_auth(&first.access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.refresh(&second.refresh).await.status(), StatusCode::UNAUTHORIZED);
    let list: Value = app.get_auth("/v1/users/me/sessions", &first.access).await.json().await.unwrap();
    assert_eq!(list["sessions"].as_array().unwrap().len(), 1);
}

async fn i25_another_users_session_is_404(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, alice) = app.new_user().await;
    let (_, bob) = app.new_user().await;
    let bobs = claims_of(&bob.access)["sid"].as_str().unwrap().to_owned();
    let r = app
        .client
        .delete(app.url(&format!("/v1/users/me/sessions/{bobs}")))
        .bearer_auth(&alice.access)
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(app.refresh(&bob.refresh).await.status(), StatusCode::OK);
}

async fn own_audit_events_are_listed(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, alice) = app.new_user().await;
    let (_, bob) = app.new_user().await;
    let body: Value = app.get_auth("/v1/users/me/audit-events", &alice.access).await.json().await.unwrap();
    let events = body["events"].as_array().unwrap();
    assert!(events.iter().any(|e| e["event"] == "login_succeeded"));
    assert!(events.iter().any(|e| e["event"] == "user_registered"));
    let alice_id = claims_of(&alice.access)["sub"].clone();
    assert!(events.iter().all(|e| e["user_id"] == alice_id), "only own events");
    let _ = bob;
}
