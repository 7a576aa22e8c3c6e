//! Refresh-token rotation, reuse detection, concurrency, logout.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Row;

use crate::db_tests;
use crate::helpers::{TestApp, TestDb, Tokens, assert_error, claims_of};

db_tests!(
    i08_refresh_rotates_and_reuse_revokes_the_whole_family,
    i08_refresh_tokens_are_opaque_and_stored_hashed,
    refresh_accepts_the_cookie_and_sets_a_new_one,
    i09_two_concurrent_refreshes_with_one_token_exactly_one_succeeds,
    i10_logout_revokes_the_session,
    logout_all_revokes_every_session,
    refresh_without_a_token_is_401,
);

async fn i08_refresh_rotates_and_reuse_revokes_the_whole_family(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, first) = app.new_user().await;
    let r = app.refresh(&first.refresh).await;
    assert_eq!(r.status(), StatusCode::OK);
    let second = Tokens::from_body(&r.json().await.unwrap());
    assert_ne!(second.refresh, first.refresh);
    assert_eq!(claims_of(&second.access)["sid"], claims_of(&first.access)["sid"], "same session");
    // Replaying the rotated token (later than the 10 s a racing tab gets, H8): refused,
    // and the family (including the new token) dies.
    sqlx::query("UPDATE refresh_tokens SET used_at = used_at - 11 WHERE used_at IS NOT NULL")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_error(app.refresh(&first.refresh).await, StatusCode::UNAUTHORIZED, "invalid_grant").await;
    assert_error(app.refresh(&second.refresh).await, StatusCode::UNAUTHORIZED, "invalid_grant").await;
    assert_eq!(app.get_auth("/v1/users/me", &second.access).await.status(), StatusCode::UNAUTHORIZED);
    assert!(app.audit_events(&email).await.contains(&"refresh_token_reuse".to_owned()));
}

async fn i08_refresh_tokens_are_opaque_and_stored_hashed(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, tokens) = app.new_user().await;
    assert!(!tokens.refresh.contains('.'), "not a JWT");
    assert!(tokens.refresh.len() >= 22, ">= 128 bits of base64url");
    let rows = sqlx::query("SELECT token_hash FROM refresh_tokens").fetch_all(&app.pool).await.unwrap();
    let hashes: Vec<String> = rows.iter().map(|r| r.get("token_hash")).collect();
    assert!(!hashes.contains(&tokens.refresh), "plaintext never stored");
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, tokens.refresh.as_bytes());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert!(hashes.contains(&hex));
}

async fn refresh_accepts_the_cookie_and_sets_a_new_one(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, _) = app.new_user().await;
    let client = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let r = client
        .post(app.url("/v1/auth/login"))
        .json(&json!({"email": email, "password": crate::helpers::PASSWORD}))
        .send()
        .await
        .unwrap();
    let first: Value = r.json().await.unwrap();
    let r = client.post(app.url("/v1/auth/refresh")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    let second: Value = r.json().await.unwrap();
    let old_token = first["refresh_token"].as_str().unwrap();
    assert!(cookie.starts_with("refresh_token=") && !cookie.contains(old_token), "{cookie}");
    // The cookie flow keeps the new token in the HttpOnly cookie only (H11).
    assert!(second.get("refresh_token").is_none(), "{second}");
    assert!(second["access_token"].is_string());
    // The jar now holds the rotated token, so a second cookie refresh works too.
    assert_eq!(client.post(app.url("/v1/auth/refresh")).send().await.unwrap().status(), StatusCode::OK);
}

async fn i09_two_concurrent_refreshes_with_one_token_exactly_one_succeeds(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    for _ in 0..3 {
        let (_, tokens) = app.new_user().await;
        let (a, b) = tokio::join!(app.refresh(&tokens.refresh), app.refresh(&tokens.refresh));
        let ok = [a.status(), b.status()].iter().filter(|s| **s == StatusCode::OK).count();
        assert_eq!(ok, 1, "{} {}", a.status(), b.status());
        // The loser is told another request won (H8).
        assert!([a.status(), b.status()].contains(&StatusCode::CONFLICT));
    }
}

async fn i10_logout_revokes_the_session(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, tokens) = app.new_user().await;
    let r = app.post("/v1/auth/logout", json!({"refresh_token": tokens.refresh})).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(r.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(app.refresh(&tokens.refresh).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.get_auth("/v1/users/me", &tokens.access).await.status(), StatusCode::UNAUTHORIZED);
    assert!(app.audit_events(&email).await.contains(&"logout".to_owned()));
    // Logging out with the access token alone works too.
    let (_, other) = app.new_user().await;
    let r = app.client.post(app.url("/v1/auth/logout")).bearer_auth(&other.access).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.refresh(&other.refresh).await.status(), StatusCode::UNAUTHORIZED);
}

async fn logout_all_revokes_every_session(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, first) = app.new_user().await;
    let second = Tokens::from_body(&app.login(&email, crate::helpers::PASSWORD).await.json().await.unwrap());
    let r = app.post_auth("/v1/auth/logout-all", &second.access, json!({})).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    for t in [&first, &second] {
        assert_eq!(app.refresh(&t.refresh).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.get_auth("/v1/users/me", &t.access).await.status(), StatusCode::UNAUTHORIZED);
    }
}

async fn refresh_without_a_token_is_401(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let r = app.client.post(app.url("/v1/auth/refresh")).send().await.unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_grant").await;
    assert_error(app.refresh("made-up-token").await, StatusCode::UNAUTHORIZED, "invalid_grant").await;
}
