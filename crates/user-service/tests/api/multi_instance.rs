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
    // A's token verifies with the core crate against B's published JWKS.
    let b_jwks = b2.get("/v1/auth/.well-known/jwks.json").await.text().await.unwrap();
    let verifier = authgate::Verifier::builder()
        .issuer(shared.clone(), authgate::KeySet::from_jwks_json(&b_jwks).unwrap())
        .audience("trading-platform")
        .require_at_jwt()
        .build()
        .unwrap();
    let principal = verifier.verify(&t.access).await.unwrap();
    assert_eq!(principal.email(), Some(email.as_str()));
    assert_eq!(
        principal.permissions(),
        [
            "positions:read",
            "alerts:read",
            "alerts:write",
            "api_keys:manage",
            "trading_accounts:read",
            "trading_accounts:write"
        ]
    );
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

/// Two instances on separate databases share throttling through Redis alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i07_throttling_counters_are_shared_through_redis() {
    let Ok(redis_url) = std::env::var("TEST_REDIS_URL") else {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "\nNOTICE: TEST_REDIS_URL is not set: the Redis throttling test was SKIPPED.\n"
        );
        return;
    };
    let dir = std::env::temp_dir().join("user-service-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let id = crate::helpers::unique();
    let db = |n: &str| TestDb { url: format!("sqlite://{}/{id}-{n}.db?mode=rwc", dir.display()) };
    let prefix = format!("user-service-test:{}:", crate::helpers::unique());
    let with_redis = |c: &mut user_service::Config| {
        c.redis_url = Some(user_service::config::Secret::new(redis_url.clone()));
        c.redis_key_prefix = prefix.clone();
    };
    let a = TestApp::spawn_with(&db("a"), with_redis).await;
    let b = TestApp::spawn_with(&db("b"), with_redis).await;
    let email = format!("shared{}@example.com", crate::helpers::unique());
    assert_eq!(a.register(&email, PASSWORD).await.status(), StatusCode::CREATED);
    assert_eq!(b.register(&email, PASSWORD).await.status(), StatusCode::CREATED);
    for _ in 0..5 {
        assert_eq!(a.login(&email, "wrong password 123").await.status(), StatusCode::UNAUTHORIZED);
    }
    let ready: serde_json::Value = b.get("/ready").await.json().await.unwrap();
    assert_eq!(ready["redis"], "ok");
    let r = b.login(&email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "B sees A's failures");
    assert!(r.headers().contains_key("retry-after"));
    use sqlx::Row;
    let n: i64 =
        sqlx::query("SELECT COUNT(*) AS n FROM login_failures").fetch_one(&a.pool).await.unwrap().get("n");
    assert_eq!(n, 0, "counters are in Redis, not in the database");
    let client = redis::Client::open(redis_url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> =
        redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut conn).await.unwrap();
    assert!(!keys.is_empty());
    let _: () = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await.unwrap();
    for n in ["a", "b"] {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(dir.join(format!("{id}-{n}.db{suffix}")));
        }
    }
}
