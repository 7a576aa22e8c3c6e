//! TOTP MFA: setup, enable, login step, replay, lockout, recovery codes, disable.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Row;

use crate::db_tests;
use crate::helpers::{
    PASSWORD, TestApp, TestDb, Tokens, assert_error, claims_of, mfa_user, totp_code, totp_code_at_step,
};

db_tests!(
    totp_setup_enable_and_login_with_a_code,
    i13_totp_secret_is_160_bits_stored_encrypted_and_inactive_until_confirmed,
    i15_a_totp_code_or_an_earlier_step_is_never_accepted_twice,
    i16_five_wrong_codes_lock_the_challenge,
    i18_mfa_token_works_only_at_the_mfa_endpoint_and_once,
    i19_recovery_codes_are_single_use_and_regeneration_voids_the_old_set,
    i20_disabling_mfa_needs_the_password_and_a_code,
);

async fn mfa_token(app: &TestApp, email: &str) -> String {
    let r = app.login(email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["mfa_required"], true);
    assert!(body.get("access_token").is_none());
    body["mfa_token"].as_str().unwrap().to_owned()
}

async fn totp_setup_enable_and_login_with_a_code(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, tokens, secret, codes) = mfa_user(&app).await;
    assert_eq!(codes.len(), 10);
    let me: Value = app.get_auth("/v1/users/me", &tokens.access).await.json().await.unwrap();
    assert_eq!(me["mfa_enabled"], true);
    let token = mfa_token(&app, &email).await;
    // The enabling code used the current step; the next step's code is fresh.
    let r = app.post("/v1/auth/login/mfa", json!({"mfa_token": token, "code": totp_code(&secret, 1)})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let tokens = Tokens::from_body(&r.json().await.unwrap());
    assert_eq!(claims_of(&tokens.access)["amr"], json!(["pwd", "mfa", "otp"]));
    let events = app.audit_events(&email).await;
    assert!(events.contains(&"mfa_enabled".to_owned()) && events.contains(&"login_mfa_required".to_owned()));
}

async fn i13_totp_secret_is_160_bits_stored_encrypted_and_inactive_until_confirmed(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, tokens) = app.new_user().await;
    let setup: Value =
        app.post_auth("/v1/users/me/mfa/totp/setup", &tokens.access, json!({})).await.json().await.unwrap();
    let secret = setup["secret"].as_str().unwrap();
    assert_eq!(totp_rs::Secret::try_from_base32(secret).unwrap().as_bytes().len(), 20);
    let uri = setup["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/") && uri.contains(&format!("secret={secret}")), "{uri}");
    let row = sqlx::query("SELECT totp_pending_enc, mfa_enabled FROM users WHERE email = $1")
        .bind(&email)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let stored: String = row.get("totp_pending_enc");
    assert!(stored.starts_with("v1:") && !stored.contains(secret));
    assert_eq!(row.get::<i64, _>("mfa_enabled"), 0);
    // Not active yet: login still answers with tokens.
    let body: Value = app.login(&email, PASSWORD).await.json().await.unwrap();
    assert!(body.get("access_token").is_some());
    // A wrong confirmation code does not enable it.
    let r = app.post_auth("/v1/users/me/mfa/totp/enable", &tokens.access, json!({"code": "000000"})).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

async fn i15_a_totp_code_or_an_earlier_step_is_never_accepted_twice(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, _, secret, _) = mfa_user(&app).await;
    // Work in steps relative to the one enabling consumed, so a 30-second boundary
    // crossed during the test changes nothing.
    let used: i64 = sqlx::query("SELECT totp_last_step FROM users WHERE email = $1")
        .bind(&email)
        .fetch_one(&app.pool)
        .await
        .unwrap()
        .get("totp_last_step");
    let code = |step: i64| totp_code_at_step(&secret, step);
    let token = mfa_token(&app, &email).await;
    let r = app.post("/v1/auth/login/mfa", json!({"mfa_token": token, "code": code(used)})).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_code").await;
    let r = app.post("/v1/auth/login/mfa", json!({"mfa_token": token, "code": code(used + 1)})).await;
    assert_eq!(r.status(), StatusCode::OK);
    // The same code again, and earlier steps, on a new challenge.
    let token = mfa_token(&app, &email).await;
    for step in [used + 1, used, used - 1] {
        let r = app.post("/v1/auth/login/mfa", json!({"mfa_token": token, "code": code(step)})).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "step {step}");
    }
    assert!(app.audit_events(&email).await.contains(&"totp_replay".to_owned()));
}

async fn i16_five_wrong_codes_lock_the_challenge(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, _, secret, _) = mfa_user(&app).await;
    let token = mfa_token(&app, &email).await;
    let good = totp_code(&secret, 1);
    let bad = if good == "123456" { "654321" } else { "123456" };
    for _ in 0..5 {
        let r = app.post("/v1/auth/login/mfa", json!({"mfa_token": token, "code": bad})).await;
        assert_error(r, StatusCode::UNAUTHORIZED, "invalid_code").await;
    }
    let r = app.post("/v1/auth/login/mfa", json!({"mfa_token": token, "code": good})).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "mfa_locked").await;
    assert!(app.audit_events(&email).await.contains(&"mfa_locked".to_owned()));
}

async fn i18_mfa_token_works_only_at_the_mfa_endpoint_and_once(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, _, secret, _) = mfa_user(&app).await;
    let token = mfa_token(&app, &email).await;
    assert_eq!(app.get_auth("/v1/users/me", &token).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.refresh(&token).await.status(), StatusCode::UNAUTHORIZED);
    let r = app.post("/v1/auth/login/mfa", json!({"mfa_token": token, "code": totp_code(&secret, 1)})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.post("/v1/auth/login/mfa", json!({"mfa_token": token, "code": totp_code(&secret, 1)})).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_mfa_token").await;
    // Lifetime is at most 5 minutes.
    let row =
        sqlx::query("SELECT created_at, expires_at FROM mfa_challenges").fetch_all(&app.pool).await.unwrap();
    assert!(row.iter().all(|r| r.get::<i64, _>("expires_at") - r.get::<i64, _>("created_at") <= 300));
    // An expired challenge is refused.
    let token = mfa_token(&app, &email).await;
    sqlx::query("UPDATE mfa_challenges SET expires_at = 0").execute(&app.pool).await.unwrap();
    let r = app.post("/v1/auth/login/mfa", json!({"mfa_token": token, "code": totp_code(&secret, 1)})).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_mfa_token").await;
}

async fn i19_recovery_codes_are_single_use_and_regeneration_voids_the_old_set(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, tokens, _, codes) = mfa_user(&app).await;
    let stored = sqlx::query("SELECT code_hash FROM recovery_codes").fetch_all(&app.pool).await.unwrap();
    assert!(stored.iter().all(|r| !codes.contains(&r.get::<String, _>("code_hash"))), "stored hashed");
    let token = mfa_token(&app, &email).await;
    let r = app.post("/v1/auth/login/mfa", json!({"mfa_token": token, "code": codes[0]})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        claims_of(&Tokens::from_body(&r.json().await.unwrap()).access)["amr"],
        json!(["pwd", "mfa", "recovery_code"])
    );
    let token = mfa_token(&app, &email).await;
    let r = app.post("/v1/auth/login/mfa", json!({"mfa_token": token, "code": codes[0]})).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "single use");
    // Regenerating needs the password and voids the old set.
    let r = app
        .post_auth("/v1/users/me/mfa/recovery-codes", &tokens.access, json!({"password": "wrong password 1"}))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r =
        app.post_auth("/v1/users/me/mfa/recovery-codes", &tokens.access, json!({"password": PASSWORD})).await;
    let fresh: Value = r.json().await.unwrap();
    let fresh: Vec<String> =
        fresh["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    let token = mfa_token(&app, &email).await;
    let r = app.post("/v1/auth/login/mfa", json!({"mfa_token": token, "code": codes[1]})).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "old set void");
    let r =
        app.post("/v1/auth/login/mfa", json!({"mfa_token": token, "code": fresh[0].to_uppercase()})).await;
    assert_eq!(r.status(), StatusCode::OK);
}

async fn i20_disabling_mfa_needs_the_password_and_a_code(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, tokens, secret, _) = mfa_user(&app).await;
    let r = app
        .post_auth(
            "/v1/users/me/mfa/totp/disable",
            &tokens.access,
            json!({"password": PASSWORD, "code": "000000"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app
        .post_auth(
            "/v1/users/me/mfa/totp/disable",
            &tokens.access,
            json!({"password": "wrong password 1", "code": totp_code(&secret, 1)}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app
        .post_auth(
            "/v1/users/me/mfa/totp/disable",
            &tokens.access,
            json!({"password": PASSWORD, "code": totp_code(&secret, 1)}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let body: Value = app.login(&email, PASSWORD).await.json().await.unwrap();
    assert!(body.get("access_token").is_some(), "no MFA step any more");
    assert!(app.audit_events(&email).await.contains(&"mfa_disabled".to_owned()));
}
