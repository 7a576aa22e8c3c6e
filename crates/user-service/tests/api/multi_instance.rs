//! Several instances on one database: same keys, same JWKS, shared sessions; and I27.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::db_tests;
use crate::helpers::{PASSWORD, TestApp, TestDb, Tokens, captured_logs, token_in, totp_code, wait_for_mail};

db_tests!(two_instances_share_keys_tokens_and_sessions, i27_no_secret_appears_in_the_logs);

async fn two_instances_share_keys_tokens_and_sessions(db: TestDb) {
    let (a, b) = tokio::join!(TestApp::spawn(&db), TestApp::spawn(&db));
    let ja: Value = a.get("/v1/auth/.well-known/jwks.json").await.json().await.unwrap();
    let jb: Value = b.get("/v1/auth/.well-known/jwks.json").await.json().await.unwrap();
    assert_eq!(ja, jb, "same JWKS");
    let (email, tokens) = a.new_user().await;
    // The instances have different issuers here (their own ports), so B accepts A's token
    // only if configured with the same PUBLIC_URL; check with a shared issuer.
    let shared = format!("http://shared-issuer.test/{}", crate::helpers::unique());
    let (a2, b2) = tokio::join!(
        TestApp::spawn_with(&db, |c| c.public_url = Some(shared.clone())),
        TestApp::spawn_with(&db, |c| c.public_url = Some(shared.clone()))
    );
    let t = Tokens::from_body(&a2.login(&email, PASSWORD).await.json().await.unwrap());
    assert_eq!(b2.get_auth("/v1/users/me", &t.access).await.status(), StatusCode::OK);
    let r = b2.refresh(&t.refresh).await;
    assert_eq!(r.status(), StatusCode::OK, "A's refresh token refreshes at B");
    let t2 = Tokens::from_body(&r.json().await.unwrap());
    assert_eq!(a2.get_auth("/v1/users/me", &t2.access).await.status(), StatusCode::OK);
    // A rotation at A is served by B once B reloads (on an unknown kid at the latest).
    let (_, admin) = a2.new_admin().await;
    a2.post_auth("/v1/admin/keys/rotate", &admin.access, json!({})).await;
    let (_, fresh) = a2.new_user().await;
    assert_eq!(b2.get_auth("/v1/users/me", &fresh.access).await.status(), StatusCode::OK);
    let _ = (tokens, b);
}

async fn i27_no_secret_appears_in_the_logs(db: TestDb) {
    let logs = captured_logs();
    let app = TestApp::spawn(&db).await;
    let password = format!("canary-password-{}", crate::helpers::unique());
    let email = format!("canary{}@example.com", crate::helpers::unique());
    assert_eq!(app.register(&email, &password).await.status(), StatusCode::CREATED);
    let tokens = Tokens::from_body(&app.login(&email, &password).await.json().await.unwrap());
    app.login(&email, "canary-wrong-password").await;
    let refreshed = Tokens::from_body(&app.refresh(&tokens.refresh).await.json().await.unwrap());
    app.get_auth("/v1/users/me", &refreshed.access).await;
    let setup: Value = app
        .post_auth("/v1/users/me/mfa/totp/setup", &refreshed.access, json!({}))
        .await
        .json()
        .await
        .unwrap();
    let secret = setup["secret"].as_str().unwrap().to_owned();
    let code = totp_code(&secret, 0);
    app.post_auth("/v1/users/me/mfa/totp/enable", &refreshed.access, json!({"code": code})).await;
    app.post("/v1/auth/password/forgot", json!({"email": email})).await;
    let reset = token_in(&wait_for_mail(&app, &email, None).await);
    app.post("/v1/auth/password/reset", json!({"token": reset, "new_password": "canary-new-password"})).await;
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(text.contains("user-service listening") || text.contains("signing key"), "logs are captured");
    let secrets: [&str; 9] = [
        &password,
        "canary-wrong-password",
        &tokens.access,
        &tokens.refresh,
        &refreshed.refresh,
        &secret,
        &reset,
        "canary-new-password",
        crate::helpers::TEST_MASTER_KEY,
    ];
    for secret in secrets {
        assert!(!text.contains(secret), "a secret leaked into the logs");
    }
}
