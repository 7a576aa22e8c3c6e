//! Issue 12 item 5: email verification, `REQUIRE_EMAIL_VERIFICATION`, `create-admin`
//! on unverified accounts, and look-alike emails as one account.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Row;

use crate::db_tests;
use crate::helpers::{
    PASSWORD, TestApp, TestDb, Tokens, assert_error, captured_logs, claims_of, test_config, token_in, unique,
    wait_for_new_verification_mail, wait_for_verification_mail,
};

db_tests!(
    h5_registration_mails_a_single_use_hashed_link_that_verifies_the_email,
    h5_verification_links_expire_and_a_resend_voids_the_previous_one,
    h5_resend_is_throttled_and_answers_alike_for_unknown_and_verified_accounts,
    h5_required_verification_refuses_login_only_after_the_right_password,
    h5_create_admin_refuses_an_existing_unverified_account,
    h5_look_alike_emails_are_one_account,
    h5_migration_keys_existing_emails_and_reports_collisions_without_merging,
);

async fn me(app: &TestApp, access: &str) -> Value {
    let r = app.get_auth("/v1/users/me", access).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn verify(app: &TestApp, token: &str) -> reqwest::Response {
    app.post("/v1/auth/email/verify", json!({"token": token})).await
}

async fn resend(app: &TestApp, email: &str) -> reqwest::Response {
    app.post("/v1/auth/email/verify/resend", json!({"email": email})).await
}

async fn h5_registration_mails_a_single_use_hashed_link_that_verifies_the_email(db: TestDb) {
    let app = TestApp::spawn_with(&db, |c| c.frontend_url = Some("https://app.example.com".into())).await;
    let (email, tokens) = app.new_user().await;
    assert_eq!(me(&app, &tokens.access).await["email_verified"], false);
    assert_eq!(claims_of(&tokens.access)["email_verified"], false);

    let mail = wait_for_verification_mail(&app, &email, None).await;
    assert!(mail.contains("\nhttps://app.example.com/verify-email?token="), "{mail}");
    let token = token_in(&mail);
    // Only a hash is stored.
    let rows = sqlx::query("SELECT token_hash FROM email_verifications").fetch_all(&app.pool).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_ne!(rows[0].get::<String, _>("token_hash"), token);

    let r = verify(&app, &token).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"status": "email_verified"}));
    // Single use, and a made-up token is refused alike.
    assert_error(verify(&app, &token).await, StatusCode::BAD_REQUEST, "invalid_verification_token").await;
    assert_error(verify(&app, "not-a-token").await, StatusCode::BAD_REQUEST, "invalid_verification_token")
        .await;

    assert_eq!(me(&app, &tokens.access).await["email_verified"], true);
    let r = app.login(&email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    let fresh = Tokens::from_body(&r.json().await.unwrap());
    assert_eq!(claims_of(&fresh.access)["email_verified"], true);

    // Both endpoints are documented.
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    for path in ["/v1/auth/email/verify", "/v1/auth/email/verify/resend"] {
        assert!(doc["paths"][path]["post"]["responses"].is_object(), "{path} is not documented");
    }
}

async fn h5_verification_links_expire_and_a_resend_voids_the_previous_one(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, tokens) = app.new_user().await;
    let first = wait_for_verification_mail(&app, &email, None).await;
    let r = resend(&app, &email).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let second = wait_for_verification_mail(&app, &email, Some(&first)).await;
    assert_error(
        verify(&app, &token_in(&first)).await,
        StatusCode::BAD_REQUEST,
        "invalid_verification_token",
    )
    .await;

    // The link lives 24 hours.
    let row = sqlx::query("SELECT created_at, expires_at FROM email_verifications WHERE used_at IS NULL")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(row.get::<i64, _>("expires_at") - row.get::<i64, _>("created_at"), 24 * 3600);
    sqlx::query("UPDATE email_verifications SET expires_at = created_at - 1")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_error(
        verify(&app, &token_in(&second)).await,
        StatusCode::BAD_REQUEST,
        "invalid_verification_token",
    )
    .await;
    assert_eq!(me(&app, &tokens.access).await["email_verified"], false);

    // A signed-in caller may ask too (no email needed).
    let r = app.post_auth("/v1/auth/email/verify/resend", &tokens.access, json!({})).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let third = wait_for_new_verification_mail(&app, &email, &[&first, &second]).await;
    assert_eq!(verify(&app, &token_in(&third)).await.status(), StatusCode::OK);
    assert_eq!(me(&app, &tokens.access).await["email_verified"], true);
}

async fn verification_mails(app: &TestApp, email: &str) -> i64 {
    sqlx::query("SELECT COUNT(*) AS n FROM outbox WHERE recipient = $1 AND body LIKE '%verify-email%'")
        .bind(email)
        .fetch_one(&app.pool)
        .await
        .unwrap()
        .get("n")
}

async fn h5_resend_is_throttled_and_answers_alike_for_unknown_and_verified_accounts(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, _) = app.new_user().await;
    let (verified, _) = app.new_user().await;
    crate::helpers::verify_email(&app, &verified).await;
    let unknown = format!("nobody{}@example.com", unique());

    let bodies = [resend(&app, &email).await, resend(&app, &unknown).await, resend(&app, &verified).await];
    let mut seen = Vec::new();
    for r in bodies {
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        seen.push(r.json::<Value>().await.unwrap());
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:?}");
    // Three per email per 15 minutes (counted on every spelling of it).
    assert_eq!(resend(&app, &email).await.status(), StatusCode::ACCEPTED);
    assert_eq!(resend(&app, &email.to_uppercase()).await.status(), StatusCode::ACCEPTED);
    let r = resend(&app, &email).await;
    assert!(r.headers().contains_key("retry-after"));
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;

    // Mail went to the unverified account only: its registration and three resends.
    for _ in 0..200 {
        if verification_mails(&app, &email).await == 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(verification_mails(&app, &email).await, 4);
    assert_eq!(verification_mails(&app, &verified).await, 1, "only its registration's");
    assert_eq!(verification_mails(&app, &unknown).await, 0);

    // Ten per client address: 5 counted so far.
    for n in 0..5 {
        let r = resend(&app, &format!("other{n}-{}@example.com", unique())).await;
        assert_eq!(r.status(), StatusCode::ACCEPTED, "request {}", n + 6);
    }
    let r = resend(&app, &format!("other-{}@example.com", unique())).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}

async fn h5_required_verification_refuses_login_only_after_the_right_password(db: TestDb) {
    let app = TestApp::spawn_with_vars(&db, &[("REQUIRE_EMAIL_VERIFICATION", "true")]).await;
    let email = format!("u{}@example.com", unique());
    assert_eq!(app.register(&email, PASSWORD).await.status(), StatusCode::CREATED);
    assert_error(
        app.login(&email, "a wrong password 1").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    let body =
        assert_error(app.login(&email, PASSWORD).await, StatusCode::FORBIDDEN, "email_not_verified").await;
    assert!(body.get("access_token").is_none(), "{body}");

    crate::helpers::verify_email(&app, &email).await;
    let r = app.login(&email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(claims_of(&Tokens::from_body(&r.json().await.unwrap()).access)["email_verified"], true);

    // On by default in production only; `config check` shows it.
    let setting = |env: &str| {
        let vars = [("APP_ENV", env)].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        user_service::Config::from_vars(&vars).unwrap().redacted_summary()
    };
    assert!(setting("production").contains("REQUIRE_EMAIL_VERIFICATION=true"));
    assert!(setting("staging").contains("REQUIRE_EMAIL_VERIFICATION=false"));
    assert!(setting("dev").contains("REQUIRE_EMAIL_VERIFICATION=false"));
}

async fn roles_of(app: &TestApp, email: &str) -> String {
    sqlx::query("SELECT roles FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(&app.pool)
        .await
        .unwrap()
        .get("roles")
}

async fn h5_create_admin_refuses_an_existing_unverified_account(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    // Someone registered the ops address before the operator ran create-admin.
    let email = format!("ops{}@corp.example", unique());
    assert_eq!(app.register(&email, PASSWORD).await.status(), StatusCode::CREATED);
    let config = test_config(&db);
    let err = user_service::create_admin(config.clone(), &email, "root passphrase 1").await.unwrap_err();
    let err = err.to_string();
    assert!(err.contains("not verified") && err.contains("refusing to grant admin"), "{err}");
    assert_eq!(roles_of(&app, &email).await, "user");
    // Nor through a look-alike spelling.
    let shouting = email.to_uppercase();
    assert!(user_service::create_admin(config.clone(), &shouting, "root passphrase 1").await.is_err());
    assert_eq!(roles_of(&app, &email).await, "user");

    // Once its owner has verified it, the account may be promoted.
    crate::helpers::verify_email(&app, &email).await;
    let out = user_service::create_admin(config, &email, "ignored password").await.unwrap();
    assert!(out.contains("already existed"), "{out}");
    assert_eq!(roles_of(&app, &email).await, "user,admin");
}

async fn register_status(app: &TestApp, email: &str) -> (StatusCode, Value) {
    let r = app.register(email, PASSWORD).await;
    (r.status(), r.json().await.unwrap())
}

async fn h5_look_alike_emails_are_one_account(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let id = unique();
    let alice = format!("alice{id}@example.com");
    let (status, created) = register_status(&app, &format!("  Alice{id}@Example.com ")).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["email"], format!("Alice{id}@Example.com"), "stored as entered, trimmed");

    let (status, duplicate) = register_status(&app, &alice).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(duplicate["error"], "email_taken");
    for look_alike in [format!("ａlice{id}@example.com"), format!("alıce{id}@example.com")] {
        let (status, body) = register_status(&app, &look_alike).await;
        assert_eq!((status, &body), (StatusCode::CONFLICT, &duplicate), "{look_alike}");
    }
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM users").fetch_one(&app.pool).await.unwrap().get("n");
    assert_eq!(n, 1);

    // Every spelling logs in to the one account.
    for spelling in [alice.clone(), format!("ａlice{id}@example.com"), format!("alıce{id}@example.com")] {
        let r = app.login(&spelling, PASSWORD).await;
        assert_eq!(r.status(), StatusCode::OK, "{spelling}");
        let access = Tokens::from_body(&r.json().await.unwrap()).access;
        assert_eq!(claims_of(&access)["sub"], created["id"], "{spelling}");
    }
}

/// The SQL of migrations 1 to 5, applied as an earlier version would have.
async fn migrate_to_version_5(url: &str) {
    use sqlx::SqlSafeStr;
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    let postgres = url.starts_with("postgres");
    macro_rules! old {
        ($v:literal, $name:literal) => {
            (
                $v,
                $name,
                include_str!(concat!("../../migrations/sqlite/000", $v, "_", $name, ".sql")),
                include_str!(concat!("../../migrations/postgres/000", $v, "_", $name, ".sql")),
            )
        };
    }
    let scripts = [
        old!(1, "init"),
        old!(2, "roles"),
        old!(3, "api_keys"),
        old!(4, "trading_accounts"),
        old!(5, "service_clients"),
    ];
    let migrations = scripts
        .into_iter()
        .map(|(v, name, sqlite, pg)| {
            let sql = if postgres { pg } else { sqlite };
            Migration::new(v, name.into(), MigrationType::Simple, sql.into_sql_str(), false)
        })
        .collect();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    Migrator::with_migrations(migrations).run(&pool).await.unwrap();
    pool.close().await;
}

async fn h5_migration_keys_existing_emails_and_reports_collisions_without_merging(db: TestDb) {
    sqlx::any::install_default_drivers();
    migrate_to_version_5(&db.url).await;
    let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
    // Rows an earlier version stored (lowercased): two spellings of one look, and bob.
    for (id, email) in [("u1", "alice@example.com"), ("u2", "alıce@example.com"), ("u3", "bob@example.com")]
    {
        sqlx::query(
            "INSERT INTO users (id, email, name, password_hash, roles, created_at, updated_at) \
             VALUES ($1, $2, 'Old', 'x', 'user', 1, 1)",
        )
        .bind(id)
        .bind(email)
        .execute(&pool)
        .await
        .unwrap();
    }

    let logs = captured_logs();
    let report = user_service::migrate(&test_config(&db)).await.unwrap();
    assert_eq!(format!("{report:?}"), "MigrationReport { colliding_emails: 2 }");
    let logged = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(logged.contains("WARN") && logged.contains("colliding_rows=2"), "{logged}");

    // Nothing merged: both colliding rows are kept, unkeyed; bob got his key.
    let rows =
        sqlx::query("SELECT id, email, email_key FROM users ORDER BY id").fetch_all(&pool).await.unwrap();
    let rows: Vec<(String, String, Option<String>)> =
        rows.iter().map(|r| (r.get("id"), r.get("email"), r.get("email_key"))).collect();
    assert_eq!(rows.len(), 3);
    assert_eq!((rows[0].1.as_str(), rows[0].2.as_deref()), ("alice@example.com", None));
    assert_eq!((rows[1].1.as_str(), rows[1].2.as_deref()), ("alıce@example.com", None));
    assert!(rows[2].2.is_some(), "{rows:?}");
    // Migrating again reports them again (still unresolved) and changes nothing.
    let again = user_service::migrate(&test_config(&db)).await.unwrap();
    assert_eq!(format!("{again:?}"), "MigrationReport { colliding_emails: 2 }");

    // A third look-alike cannot register beside them; bob's key works at once.
    let app = TestApp::spawn(&db).await;
    assert_eq!(app.register("ALICE@example.com", PASSWORD).await.status(), StatusCode::CONFLICT);
    assert_eq!(app.register("Bob@Example.com", PASSWORD).await.status(), StatusCode::CONFLICT);
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM users").fetch_one(&pool).await.unwrap().get("n");
    assert_eq!(n, 3);
}
