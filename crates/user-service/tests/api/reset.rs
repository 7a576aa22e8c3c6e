//! Password forgot/reset through the dev outbox.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Row;

use user_service::config::Secret;

use crate::db_tests;
use crate::helpers::{PASSWORD, TestApp, TestDb, assert_error, token_in, totp_code, unique, wait_for_mail};

db_tests!(
    i21_reset_flow_sets_the_password_revokes_sessions_and_does_not_log_in,
    i05_forgot_password_always_answers_202,
    i21_reset_tokens_are_single_use_hashed_and_expire,
    i21_a_new_request_voids_older_tokens,
    i21_mfa_is_still_required_after_a_reset,
    i22_reset_links_use_the_frontend_url_not_the_host_header,
    dev_outbox_lists_messages,
);

async fn forgot(app: &TestApp, email: &str) {
    let r = app.post("/v1/auth/password/forgot", json!({"email": email})).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
}

async fn i21_reset_flow_sets_the_password_revokes_sessions_and_does_not_log_in(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, tokens) = app.new_user().await;
    forgot(&app, &email).await;
    let token = token_in(&wait_for_mail(&app, &email, None).await);
    let r = app.post("/v1/auth/password/reset", json!({"token": token, "new_password": "short"})).await;
    assert_error(r, StatusCode::BAD_REQUEST, "weak_password").await;
    let r = app
        .post("/v1/auth/password/reset", json!({"token": token, "new_password": "reset passphrase ok"}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert!(body.get("access_token").is_none(), "no automatic login");
    assert_eq!(app.refresh(&tokens.refresh).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.get_auth("/v1/users/me", &tokens.access).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.login(&email, PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.login(&email, "reset passphrase ok").await.status(), StatusCode::OK);
    let events = app.audit_events(&email).await;
    assert!(
        events.contains(&"password_reset".to_owned())
            && events.contains(&"password_reset_requested".to_owned())
    );
}

async fn i05_forgot_password_always_answers_202(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, _) = app.new_user().await;
    let known = app.post("/v1/auth/password/forgot", json!({"email": email})).await;
    let unknown = app
        .post("/v1/auth/password/forgot", json!({"email": format!("nobody{}@example.com", unique())}))
        .await;
    assert_eq!(known.status(), StatusCode::ACCEPTED);
    assert_eq!(unknown.status(), StatusCode::ACCEPTED);
    let (a, b): (Value, Value) = (known.json().await.unwrap(), unknown.json().await.unwrap());
    assert_eq!(a, b);
    wait_for_mail(&app, &email, None).await;
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM outbox WHERE subject = 'Reset your password'")
        .fetch_one(&app.pool)
        .await
        .unwrap()
        .get("n");
    assert_eq!(n, 1, "only the real account gets mail");
}

async fn i21_reset_tokens_are_single_use_hashed_and_expire(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, _) = app.new_user().await;
    forgot(&app, &email).await;
    let token = token_in(&wait_for_mail(&app, &email, None).await);
    assert!(token.len() >= 22, ">= 128 bits");
    let stored: Vec<String> = sqlx::query("SELECT token_hash FROM password_resets")
        .fetch_all(&app.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get("token_hash"))
        .collect();
    assert!(!stored.contains(&token));
    let ttl: i64 = sqlx::query("SELECT expires_at - created_at AS ttl FROM password_resets")
        .fetch_one(&app.pool)
        .await
        .unwrap()
        .get("ttl");
    assert_eq!(ttl, 1800);
    assert_eq!(
        app.post("/v1/auth/password/reset", json!({"token": token, "new_password": "first new password"}))
            .await
            .status(),
        StatusCode::OK
    );
    let r = app
        .post("/v1/auth/password/reset", json!({"token": token, "new_password": "second new password"}))
        .await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_reset_token").await;
    // Expired.
    let previous = wait_for_mail(&app, &email, None).await;
    forgot(&app, &email).await;
    let token = token_in(&wait_for_mail(&app, &email, Some(&previous)).await);
    sqlx::query("UPDATE password_resets SET expires_at = 1").execute(&app.pool).await.unwrap();
    let r = app
        .post("/v1/auth/password/reset", json!({"token": token, "new_password": "third new password"}))
        .await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_reset_token").await;
}

async fn i21_a_new_request_voids_older_tokens(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, _) = app.new_user().await;
    forgot(&app, &email).await;
    let first_mail = wait_for_mail(&app, &email, None).await;
    // Older than a minute: a link younger than that survives a new request (H10).
    sqlx::query("UPDATE password_resets SET created_at = created_at - 61").execute(&app.pool).await.unwrap();
    forgot(&app, &email).await;
    let second_mail = wait_for_mail(&app, &email, Some(&first_mail)).await;
    let r = app
        .post(
            "/v1/auth/password/reset",
            json!({"token": token_in(&first_mail), "new_password": "older token password"}),
        )
        .await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_reset_token").await;
    let r = app
        .post(
            "/v1/auth/password/reset",
            json!({"token": token_in(&second_mail), "new_password": "newer token password"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

async fn i21_mfa_is_still_required_after_a_reset(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, tokens) = app.new_user().await;
    let setup: Value =
        app.post_auth("/v1/users/me/mfa/totp/setup", &tokens.access, json!({})).await.json().await.unwrap();
    let secret = setup["secret"].as_str().unwrap();
    let r = app
        .post_auth("/v1/users/me/mfa/totp/enable", &tokens.access, json!({"code": totp_code(secret, 0)}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    forgot(&app, &email).await;
    let token = token_in(&wait_for_mail(&app, &email, None).await);
    app.post("/v1/auth/password/reset", json!({"token": token, "new_password": "after reset password"}))
        .await;
    let body: Value = app.login(&email, "after reset password").await.json().await.unwrap();
    assert_eq!(body["mfa_required"], true);
}

async fn i22_reset_links_use_the_frontend_url_not_the_host_header(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, _) = app.new_user().await;
    let r = app
        .client
        .post(app.url("/v1/auth/password/forgot"))
        .header("host", "evil.example")
        .header("x-forwarded-host", "evil.example")
        .json(&json!({"email": email}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let mail = wait_for_mail(&app, &email, None).await;
    assert!(mail.contains("\nhttp://127.0.0.1:3001/reset-password?token="), "the dev FRONTEND_URL: {mail}");
    assert!(!mail.contains("evil.example"));
}

async fn dev_outbox_lists_messages(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, _) = app.new_user().await;
    forgot(&app, &email).await;
    wait_for_mail(&app, &email, None).await;
    let body: Value = app.get("/v1/dev/outbox").await.json().await.unwrap();
    assert_eq!(body["messages"][0]["recipient"], email);
    assert!(body["messages"][0]["body"].as_str().unwrap().contains("token="));
}

/// A one-connection fake SMTP server on 127.0.0.1: answers `EHLO` with `ehlo_reply`,
/// accepts `AUTH` and everything else, and hands back the transcript when the client hangs up.
async fn fake_smtp_relay(ehlo_reply: &'static str) -> (u16, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    // One transcript per connection (one mail each): registering mails a verification
    // link before the reset mail.
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(relay_one(stream, ehlo_reply, tx));
        }
    });
    (port, rx)
}

async fn relay_one(
    stream: tokio::net::TcpStream,
    ehlo_reply: &'static str,
    tx: tokio::sync::mpsc::UnboundedSender<String>,
) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    {
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        write.write_all(b"220 fake ESMTP\r\n").await.unwrap();
        let mut transcript = String::new();
        let mut in_data = false;
        loop {
            let mut line = String::new();
            if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                break;
            }
            transcript.push_str(&line);
            let reply: &[u8] = if in_data {
                if line == ".\r\n" {
                    in_data = false;
                    b"250 queued\r\n"
                } else {
                    continue;
                }
            } else if line.starts_with("EHLO") {
                ehlo_reply.as_bytes()
            } else if line.starts_with("AUTH") {
                b"235 authenticated\r\n"
            } else if line.starts_with("DATA") {
                in_data = true;
                b"354 go ahead\r\n"
            } else if line.starts_with("QUIT") {
                let _ = write.write_all(b"221 bye\r\n").await;
                break;
            } else {
                b"250 ok\r\n"
            };
            if write.write_all(reply).await.is_err() {
                break;
            }
        }
        let _ = tx.send(transcript);
    }
}

/// The transcript of the first connection.
async fn transcript_of(mut rx: tokio::sync::mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(std::time::Duration::from_secs(20), rx.recv()).await.unwrap().unwrap()
}

/// The transcript of the first connection that sent a mail with `subject`.
async fn transcript_with_subject(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<String>,
    subject: &str,
) -> String {
    loop {
        let t = tokio::time::timeout(std::time::Duration::from_secs(20), rx.recv()).await.unwrap().unwrap();
        if t.contains(&format!("Subject: {subject}")) {
            return t;
        }
    }
}

async fn outbox_len(app: &TestApp) -> i64 {
    sqlx::query("SELECT COUNT(*) AS n FROM outbox").fetch_one(&app.pool).await.unwrap().get("n")
}

/// With `SMTP_URL`, the reset mail goes over SMTP (to a fake relay here), not the outbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_mail_goes_through_smtp_when_configured() {
    let (port, rx) = fake_smtp_relay("250-fake\r\n250 8BITMIME\r\n").await;
    crate::helpers::run_sqlite(|db| async move {
        let app = TestApp::spawn_with(&db, |c| {
            c.smtp_url = Some(Secret::new(format!("smtp://127.0.0.1:{port}")));
            c.smtp_from = "auth@example.com".into();
        })
        .await;
        let (email, _) = app.new_user().await;
        forgot(&app, &email).await;
        let transcript = transcript_with_subject(rx, "Reset your password").await;
        assert!(transcript.contains("MAIL FROM:<auth@example.com>"), "{transcript}");
        assert!(transcript.contains(&format!("RCPT TO:<{email}>")), "{transcript}");
        assert!(transcript.contains("Subject: Reset your password"), "{transcript}");
        // The body may be encoded (quoted-printable wraps long lines): look for the token's
        // parameter name and the issuer's host instead of the whole link.
        assert!(transcript.contains("reset-password"), "{transcript}");
        assert_eq!(outbox_len(&app).await, 0, "nothing in the outbox");
    })
    .await
}

/// SMTP credentials in `SMTP_URL` are used for `AUTH` and never reach the logs (I27).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i27_smtp_credentials_authenticate_and_stay_out_of_logs() {
    use base64::Engine;
    let (port, rx) = fake_smtp_relay("250-fake\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n").await;
    let password = "smtp-pw-canary-7f3a";
    crate::helpers::run_sqlite(|db| async move {
        let logs = crate::helpers::captured_logs();
        let app = TestApp::spawn_with(&db, |c| {
            c.smtp_url = Some(Secret::new(format!("smtp://mailer:{password}@127.0.0.1:{port}")));
        })
        .await;
        let (email, _) = app.new_user().await;
        forgot(&app, &email).await;
        let transcript = transcript_of(rx).await;
        let plain = base64::engine::general_purpose::STANDARD.encode(format!("\0mailer\0{password}"));
        assert!(transcript.contains(&format!("AUTH PLAIN {plain}")), "{transcript}");
        assert!(transcript.contains(&format!("RCPT TO:<{email}>")), "{transcript}");
        let logs = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
        assert!(!logs.contains(password), "the SMTP password reached the logs");
    })
    .await
}

/// `?tls=required` (STARTTLS) against a server that cannot upgrade: the service sends
/// neither credentials nor mail in clear text; the client still gets its neutral 202.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_starttls_required_sends_nothing_in_clear_text() {
    let (port, rx) = fake_smtp_relay("250-fake\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n").await;
    crate::helpers::run_sqlite(|db| async move {
        let app = TestApp::spawn_with(&db, |c| {
            c.smtp_url = Some(Secret::new(format!("smtp://mailer:pw@127.0.0.1:{port}?tls=required")));
        })
        .await;
        let (email, _) = app.new_user().await;
        forgot(&app, &email).await;
        let transcript = transcript_of(rx).await;
        assert!(transcript.starts_with("EHLO"), "{transcript}");
        for never in ["AUTH", "MAIL FROM", "RCPT TO", "DATA"] {
            assert!(!transcript.contains(never), "{never} was sent without TLS: {transcript}");
        }
        assert_eq!(outbox_len(&app).await, 0, "a failed send is not rerouted to the outbox");
    })
    .await
}
