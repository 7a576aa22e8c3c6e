//! Registration, login, access tokens, throttling.

use std::time::Instant;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::db_tests;
use crate::helpers::{
    PASSWORD, TestApp, TestDb, Tokens, assert_error, claims_of, header_of, run_sqlite, unique,
};

db_tests!(
    register_returns_201_with_the_user,
    i25_registration_ignores_roles_field,
    register_existing_email_is_409_case_insensitively,
    i01_passwords_shorter_than_minimum_or_longer_than_128_are_refused,
    i03_common_passwords_are_refused,
    i04_stored_hashes_are_argon2id_with_unique_salts,
    login_returns_a_token_pair_and_an_httponly_cookie,
    i12_access_token_is_an_rs256_at_jwt_with_every_claim_and_15_minutes,
    i12_every_login_issues_a_new_pair,
    i05_unknown_email_and_wrong_password_answer_alike,
    i07_account_is_throttled_after_five_failures_with_retry_after,
    i07_unknown_accounts_are_throttled_too,
    i07_ip_is_throttled_across_accounts,
    i07_throttled_attempts_are_not_counted_so_an_account_stays_under_100_failures_an_hour,
    i26_login_success_and_failure_are_audited_with_ip_and_user_agent,
    disabled_accounts_cannot_log_in,
);

async fn register_returns_201_with_the_user(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let email = format!("new{}@example.com", unique());
    let r = app.register(&email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["email"], email);
    assert_eq!(body["name"], "Test User");
    assert_eq!(body["roles"], json!(["user"]));
    assert_eq!(body["mfa_enabled"], false);
    assert!(body.get("password_hash").is_none());
}

async fn i25_registration_ignores_roles_field(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let email = format!("sneaky{}@example.com", unique());
    let r = app
        .post(
            "/v1/auth/register",
            json!({"email": email, "password": PASSWORD, "name": "x", "roles": ["admin"], "permissions": ["*"]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["roles"], json!(["user"]));
    let tokens = Tokens::from_body(&app.login(&email, PASSWORD).await.json().await.unwrap());
    assert_eq!(claims_of(&tokens.access)["roles"], json!(["user"]));
    assert!(!claims_of(&tokens.access)["permissions"].as_array().unwrap().contains(&json!("*")));
}

async fn register_existing_email_is_409_case_insensitively(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let email = format!("dup{}@example.com", unique());
    assert_eq!(app.register(&email, PASSWORD).await.status(), StatusCode::CREATED);
    assert_error(app.register(&email.to_uppercase(), PASSWORD).await, StatusCode::CONFLICT, "email_taken")
        .await;
}

async fn i01_passwords_shorter_than_minimum_or_longer_than_128_are_refused(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let email = format!("p{}@example.com", unique());
    assert_error(app.register(&email, "elevenchars").await, StatusCode::BAD_REQUEST, "weak_password").await;
    assert_error(
        app.register(&email, &"long-pass".repeat(15)).await,
        StatusCode::BAD_REQUEST,
        "weak_password",
    )
    .await;
    // 12 characters of any script are enough and nothing is truncated.
    let unicode = "пароль-пароль";
    assert_eq!(app.register(&email, unicode).await.status(), StatusCode::CREATED);
    assert_eq!(app.login(&email, unicode).await.status(), StatusCode::OK);
    assert_eq!(app.login(&email, "пароль-парол").await.status(), StatusCode::UNAUTHORIZED);
}

async fn i03_common_passwords_are_refused(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let email = format!("c{}@example.com", unique());
    assert_error(app.register(&email, "password1234").await, StatusCode::BAD_REQUEST, "weak_password").await;
}

async fn i04_stored_hashes_are_argon2id_with_unique_salts(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (a, _) = app.new_user().await;
    let (b, _) = app.new_user().await;
    let hash = |email: String| {
        let pool = app.pool.clone();
        async move {
            use sqlx::Row;
            sqlx::query("SELECT password_hash FROM users WHERE email = $1")
                .bind(email)
                .fetch_one(&pool)
                .await
                .unwrap()
                .get::<String, _>("password_hash")
        }
    };
    let (ha, hb) = (hash(a).await, hash(b).await);
    assert!(ha.starts_with("$argon2id$v=19$"), "{ha}");
    assert_ne!(ha, hb, "same password, different salts");
    assert!(!ha.contains(PASSWORD));
}

async fn login_returns_a_token_pair_and_an_httponly_cookie(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, _) = app.new_user().await;
    let r = app.login(&email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    let refresh = body["refresh_token"].as_str().unwrap();
    assert!(cookie.starts_with(&format!("refresh_token={refresh};")), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("Path=/v1/auth") && cookie.contains("SameSite=Lax")
    );
}

async fn i12_access_token_is_an_rs256_at_jwt_with_every_claim_and_15_minutes(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, tokens) = app.new_user().await;
    let header = header_of(&tokens.access);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "RS256");
    // Verifies with a standard JWT library against the published JWKS.
    let jwks: jsonwebtoken::jwk::JwkSet =
        app.get("/v1/auth/.well-known/jwks.json").await.json().await.unwrap();
    let jwk = jwks.find(header["kid"].as_str().unwrap()).expect("kid published");
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut v = Validation::new(Algorithm::RS256);
    v.set_issuer(&[&app.issuer]);
    v.set_audience(&["trading-platform"]);
    let claims = jsonwebtoken::decode::<Value>(&tokens.access, &key, &v).unwrap().claims;
    for claim in [
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "nbf",
        "jti",
        "sid",
        "email",
        "name",
        "roles",
        "permissions",
        "amr",
    ] {
        assert!(claims.get(claim).is_some(), "missing {claim}: {claims}");
    }
    assert_eq!(claims["sub"], app.user_id(&email).await);
    assert_eq!(claims["email"], email);
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert_eq!(
        claims["permissions"],
        json!([
            "positions:read",
            "alerts:read",
            "alerts:write",
            "api_keys:manage",
            "trading_accounts:read",
            "trading_accounts:write"
        ])
    );
    assert!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap() <= 900);
}

async fn i12_every_login_issues_a_new_pair(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, first) = app.new_user().await;
    let second = Tokens::from_body(&app.login(&email, PASSWORD).await.json().await.unwrap());
    assert_ne!(first.access, second.access);
    assert_ne!(first.refresh, second.refresh);
    assert_ne!(claims_of(&first.access)["sid"], claims_of(&second.access)["sid"]);
}

async fn i05_unknown_email_and_wrong_password_answer_alike(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, _) = app.new_user().await;
    let wrong = app.login(&email, "not the password at all").await;
    let unknown = app.login(&format!("nobody{}@example.com", unique()), "not the password at all").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.status(), unknown.status());
    assert_eq!(wrong.headers().get("www-authenticate"), unknown.headers().get("www-authenticate"));
    let (a, b): (Value, Value) = (wrong.json().await.unwrap(), unknown.json().await.unwrap());
    assert_eq!(a, b);
    assert_eq!(a["error"], "invalid_credentials");
}

/// With real-ish Argon2 cost, an unknown email costs a hash like a wrong password does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i05_unknown_email_costs_the_same_hash_time_as_a_wrong_password() {
    run_sqlite(|db| async move {
        let app = TestApp::spawn_with(&db, |c| {
            c.argon2 = user_service::config::Argon2Params { memory_kib: 4096, iterations: 2, parallelism: 1 };
        })
        .await;
        let (email, _) = app.new_user().await;
        let mut known = Vec::new();
        let mut unknown = Vec::new();
        for i in 0..5 {
            let t = Instant::now();
            app.login(&email, "wrong password here").await;
            known.push(t.elapsed());
            let t = Instant::now();
            app.login(&format!("ghost{i}{}@example.com", unique()), "wrong password here").await;
            unknown.push(t.elapsed());
        }
        known.sort();
        unknown.sort();
        let (k, u) = (known[2].as_secs_f64(), unknown[2].as_secs_f64());
        assert!(u > k * 0.4 && u < k * 2.5, "known {k:.4}s vs unknown {u:.4}s");
    })
    .await
}

async fn i07_account_is_throttled_after_five_failures_with_retry_after(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, _) = app.new_user().await;
    for _ in 0..5 {
        assert_eq!(app.login(&email, "wrong password 123").await.status(), StatusCode::UNAUTHORIZED);
    }
    let r = app.login(&email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "even the right password waits");
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= 900, "{retry}");
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
    assert!(app.audit_events(&email).await.contains(&"account_locked".to_owned()));
}

async fn i07_unknown_accounts_are_throttled_too(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let ghost = format!("ghost{}@example.com", unique());
    for _ in 0..5 {
        assert_eq!(app.login(&ghost, "wrong password 123").await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.login(&ghost, "wrong password 123").await.status(), StatusCode::TOO_MANY_REQUESTS);
}

async fn i07_ip_is_throttled_across_accounts(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    // 20 failures from one address over several accounts (4 each, under the account limit).
    for _ in 0..5 {
        let ghost = format!("spray{}@example.com", unique());
        for _ in 0..4 {
            assert_eq!(app.login(&ghost, "wrong password 123").await.status(), StatusCode::UNAUTHORIZED);
        }
    }
    let email = format!("fresh{}@example.com", unique());
    let r = app.login(&email, "wrong password 123").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
}

async fn i26_login_success_and_failure_are_audited_with_ip_and_user_agent(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, _) = app.new_user().await;
    app.client
        .post(app.url("/v1/auth/login"))
        .header("user-agent", "audit-test/1.0")
        .json(&json!({"email": email, "password": "wrong password 123"}))
        .send()
        .await
        .unwrap();
    let events = app.audit_events(&email).await;
    assert!(events.contains(&"login_succeeded".to_owned()), "{events:?}");
    assert!(events.contains(&"login_failed".to_owned()), "{events:?}");
    use sqlx::Row;
    let row = sqlx::query(
        "SELECT ip, user_agent, created_at FROM audit_events WHERE event = 'login_failed' AND user_id = $1",
    )
    .bind(app.user_id(&email).await)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(row.get::<String, _>("ip"), "127.0.0.1");
    assert_eq!(row.get::<String, _>("user_agent"), "audit-test/1.0");
    assert!(row.get::<i64, _>("created_at") > 0);
}

async fn disabled_accounts_cannot_log_in(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, tokens) = app.new_user().await;
    sqlx::query("UPDATE users SET status = 'disabled' WHERE email = $1")
        .bind(&email)
        .execute(&app.pool)
        .await
        .unwrap();
    assert_error(app.login(&email, PASSWORD).await, StatusCode::FORBIDDEN, "account_disabled").await;
    assert_eq!(app.get_auth("/v1/users/me", &tokens.access).await.status(), StatusCode::UNAUTHORIZED);
}

async fn i07_throttled_attempts_are_not_counted_so_an_account_stays_under_100_failures_an_hour(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, _) = app.new_user().await;
    for _ in 0..5 {
        app.login(&email, "wrong password 123").await;
    }
    for _ in 0..10 {
        assert_eq!(app.login(&email, "wrong password 123").await.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    use sqlx::Row;
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM login_failures WHERE scope_key LIKE 'acct:%'")
        .fetch_one(&app.pool)
        .await
        .unwrap()
        .get("n");
    // 5 per 15-minute window: at most 20 an hour.
    assert_eq!(n, 5);
    let events = app.audit_events(&email).await;
    assert_eq!(events.iter().filter(|e| *e == "login_failed").count(), 5);
}
