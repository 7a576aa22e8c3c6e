//! Issue 12 item 6: mail links open the frontend, the outbox keeps no usable token
//! outside dev, and the dev defaults let the frontend's dev server in.

use reqwest::StatusCode;
use serde_json::json;
use sqlx::Row;
use user_service::config::Environment;

use crate::db_tests;
use crate::helpers::{PASSWORD, TestApp, TestDb, token_in, wait_for_mail};

db_tests!(
    h6_reset_mail_links_to_the_frontend_url,
    h6_outside_dev_the_outbox_keeps_no_mail_and_is_emptied_at_start,
    h6_dev_cors_default_admits_the_frontend_dev_server,
);

async fn outbox_rows(app: &TestApp) -> i64 {
    sqlx::query("SELECT COUNT(*) AS n FROM outbox").fetch_one(&app.pool).await.unwrap().get("n")
}

async fn h6_reset_mail_links_to_the_frontend_url(db: TestDb) {
    let app = TestApp::spawn_with(&db, |c| c.frontend_url = Some("https://app.example.com".into())).await;
    let (email, _) = app.new_user().await;
    let r = app.post("/v1/auth/password/forgot", json!({"email": email})).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let mail = wait_for_mail(&app, &email, None).await;
    assert!(mail.contains("\nhttps://app.example.com/reset-password?token="), "{mail}");
    assert!(!mail.contains(&app.issuer), "no link to user-service itself: {mail}");
    // The frontend's page posts the token back: it works.
    let r = app
        .post(
            "/v1/auth/password/reset",
            json!({"token": token_in(&mail), "new_password": "a new passphrase 42"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

async fn h6_outside_dev_the_outbox_keeps_no_mail_and_is_emptied_at_start(db: TestDb) {
    // A mail an earlier version kept (in dev, as then in every environment).
    let dev = TestApp::spawn(&db).await;
    let (email, _) = dev.new_user().await;
    assert_eq!(
        dev.post("/v1/auth/password/forgot", json!({"email": email})).await.status(),
        StatusCode::ACCEPTED
    );
    let old_mail = wait_for_mail(&dev, &email, None).await;
    assert_eq!(outbox_rows(&dev).await, 2, "the verification mail and the reset mail");

    // Staging without SMTP_URL (production refuses that) on the same database.
    let staging = TestApp::spawn_with(&db, |c| c.environment = Environment::Staging).await;
    assert_eq!(outbox_rows(&staging).await, 0, "emptied at start");
    assert_eq!(
        staging.post("/v1/auth/password/forgot", json!({"email": email})).await.status(),
        StatusCode::ACCEPTED
    );
    // The request is handled after the 202: wait for its audit event.
    let mut handled = false;
    for _ in 0..200 {
        let events = staging.audit_events(&email).await;
        if events.iter().filter(|e| e.as_str() == "password_reset_requested").count() == 2 {
            handled = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(handled, "the second reset request was handled");
    assert_eq!(outbox_rows(&staging).await, 0, "no mail, so no token, is stored");
    assert!(old_mail.contains("token="));
    assert_eq!(staging.login(&email, PASSWORD).await.status(), StatusCode::OK);
    assert_eq!(staging.get("/v1/dev/outbox").await.status(), StatusCode::NOT_FOUND);
}

async fn h6_dev_cors_default_admits_the_frontend_dev_server(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/v1/auth/login"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    for origin in ["http://127.0.0.1:3001", "http://localhost:3001"] {
        let ok = preflight(origin).await.unwrap();
        assert_eq!(ok.headers()["access-control-allow-origin"], origin);
        assert_eq!(ok.headers()["access-control-allow-credentials"], "true");
    }
    let denied = preflight("http://localhost:3002").await.unwrap();
    assert!(denied.headers().get("access-control-allow-origin").is_none());
}
