//! Health, metrics, discovery, configuration refusals, error shape.

use reqwest::StatusCode;
use serde_json::Value;

use crate::db_tests;
use crate::helpers::{TestApp, TestDb, assert_error};

db_tests!(
    health_is_liveness_and_ready_names_what_is_missing,
    h12_metrics_count_a_scripted_session_exactly_on_their_own_listener,
    jwks_is_served_at_both_paths_with_cache_control,
    unknown_routes_and_bad_bodies_get_json_errors,
    cors_allows_only_configured_origins,
    cookie_flags_follow_the_configuration,
    password_policy_answers_the_rules_in_force_and_openapi_agrees,
);

async fn health_is_liveness_and_ready_names_what_is_missing(db: TestDb) {
    // Keys are re-read on every use, so `/ready` sees the table as it is now.
    let app = TestApp::spawn_with(&db, |c| c.key_reload_secs = 0).await;
    let r = app.get("/health").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap(), serde_json::json!({"status": "ok"}));
    let r = app.get("/ready").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        serde_json::json!({"status": "ready", "database": "ok", "signing_key": "ok", "environment": "dev"})
    );

    sqlx::query("DELETE FROM signing_keys").execute(&app.pool).await.unwrap();
    let r = app.get("/ready").await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["reason"], "no signing key loaded");
    assert_eq!(body["database"], "ok");

    sqlx::query("DROP TABLE signing_keys").execute(&app.pool).await.unwrap();
    let r = app.get("/ready").await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["reason"], "database unavailable, no signing key loaded");
    assert_eq!(body["database"], "unavailable");
    // Liveness does not depend on the database.
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);
}

async fn h12_metrics_count_a_scripted_session_exactly_on_their_own_listener(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    // Not on the public listener (issue 12 item 12).
    assert_error(app.get("/metrics").await, StatusCode::NOT_FOUND, "not_found").await;

    // The script: two accounts log in; one wrong password; two refreshes (one good, one
    // with a made-up token); one reset request; one forged bearer token on an admin route.
    let (email, tokens) = app.new_user().await;
    app.new_user().await;
    assert_eq!(app.login(&email, "not the password 123").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.refresh(&tokens.refresh).await.status(), StatusCode::OK);
    assert_eq!(app.refresh("made-up-refresh-token").await.status(), StatusCode::UNAUTHORIZED);
    let r = app.post("/v1/auth/password/forgot", serde_json::json!({"email": email})).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let (_, forged) = app.new_user().await;
    let mut parts: Vec<&str> = forged.access.split('.').collect();
    parts[2] = "AAAA";
    let forged = parts.join(".");
    assert_eq!(app.get_auth("/v1/admin/users", &forged).await.status(), StatusCode::UNAUTHORIZED);

    let m = app.scrape().await;
    let value = |name: &str, labels: &[(&str, &str)]| m.value(name, labels);
    assert_eq!(m.kind("user_service_logins_total"), Some("counter"));
    assert_eq!(value("user_service_registrations_total", &[]), Some(3.0));
    assert_eq!(value("user_service_logins_total", &[("outcome", "success")]), Some(3.0));
    assert_eq!(value("user_service_logins_total", &[("outcome", "failure")]), Some(1.0));
    assert_eq!(value("user_service_logins_total", &[("outcome", "throttled")]), Some(0.0));
    assert_eq!(value("user_service_token_refresh_total", &[("outcome", "success")]), Some(1.0));
    assert_eq!(value("user_service_token_refresh_total", &[("outcome", "failure")]), Some(1.0));
    assert_eq!(value("user_service_password_reset_requests_total", &[]), Some(1.0));
    assert_eq!(m.kind("user_service_active_sessions"), Some("gauge"));
    assert_eq!(value("user_service_active_sessions", &[]), Some(3.0));
    assert_eq!(value("user_service_mfa_enabled_users", &[]), Some(0.0));
    // The libraries' series, through the facade (process-wide, so other tests of this
    // binary add to them: at least this script's).
    assert_eq!(m.kind("authgate_verify_duration_seconds"), Some("histogram"));
    assert!(m.sum("authgate_verify_duration_seconds_count") >= 1.0);
    assert!(
        m.value("authgate_auth_failures_total", &[("reason", "invalid_signature")]).unwrap_or(0.0) >= 1.0
    );
}

async fn jwks_is_served_at_both_paths_with_cache_control(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let a = app.get("/v1/auth/.well-known/jwks.json").await;
    assert_eq!(a.status(), StatusCode::OK);
    assert_eq!(a.headers()["cache-control"], "public, max-age=300");
    let a: Value = a.json().await.unwrap();
    let b: Value = app.get("/.well-known/jwks.json").await.json().await.unwrap();
    assert_eq!(a, b);
    let key = &a["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["use"], "sig");
    assert!(key.get("d").is_none() && key.get("p").is_none(), "no private members");
    // kid is the RFC 7638 thumbprint of the key.
    let n = key["n"].as_str().unwrap();
    let e = key["e"].as_str().unwrap();
    let canon = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canon.as_bytes());
    use base64::Engine;
    assert_eq!(key["kid"], base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref()));
    // 2048-bit modulus.
    assert_eq!(base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(n).unwrap().len(), 256);
}

async fn unknown_routes_and_bad_bodies_get_json_errors(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    assert_error(app.get("/nope").await, StatusCode::NOT_FOUND, "not_found").await;
    let r = app
        .client
        .post(app.url("/v1/auth/login"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    let r = app.client.post(app.url("/v1/auth/login")).body("email=x").send().await.unwrap();
    assert_error(r, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
    let r = app.post("/v1/auth/login", serde_json::json!({"email": "x@example.com"})).await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
}

#[tokio::test]
async fn h6_production_refuses_to_start_listing_every_unsafe_setting() {
    let vars = [
        ("APP_ENV", "production"),
        ("USER_SERVICE_PORT", "0"),
        ("DATABASE_URL", "sqlite://unused.db"),
        ("MASTER_ENCRYPTION_KEY", "change-me"),
        ("SESSION_COOKIE_SECURE", "false"),
        ("SESSION_COOKIE_SAMESITE", "none"),
        ("CORS_ALLOWED_ORIGINS", "*,null"),
        ("PUBLIC_URL", "http://auth.example.com"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let config = user_service::Config::from_vars(&vars).unwrap();
    let err = user_service::Application::build(config).await.err().expect("refused").to_string();
    for needle in [
        "MASTER_ENCRYPTION_KEY",
        "SESSION_COOKIE_SECURE",
        "CORS_ALLOWED_ORIGINS must not allow *",
        "CORS_ALLOWED_ORIGINS must not allow null",
        "SQLite",
        "SESSION_COOKIE_SAMESITE must be lax or strict",
        "PUBLIC_URL must be an https:// URL",
        "FRONTEND_URL is missing",
        "SMTP_URL is missing",
    ] {
        assert!(err.contains(needle), "{needle} missing from: {err}");
    }
    assert!(!std::path::Path::new("unused.db").exists(), "nothing was created");
}

#[tokio::test]
async fn dev_defaults_bind_8011_and_staging_production_ports_follow() {
    for (env, port) in [("dev", 8011), ("staging", 8111), ("production", 8211)] {
        let vars = [("APP_ENV".to_owned(), env.to_owned())].into_iter().collect();
        let c = user_service::Config::from_vars(&vars).unwrap();
        assert_eq!(c.port, port);
        assert_eq!(c.host, "127.0.0.1");
    }
}

async fn cors_allows_only_configured_origins(db: TestDb) {
    let app =
        TestApp::spawn_with(&db, |c| c.cors_allowed_origins = vec!["http://localhost:3001".into()]).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/v1/auth/login"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let ok = preflight("http://localhost:3001").await.unwrap();
    assert_eq!(ok.headers()["access-control-allow-origin"], "http://localhost:3001");
    assert_eq!(ok.headers()["access-control-allow-credentials"], "true");
    let denied = preflight("http://evil.example").await.unwrap();
    assert!(denied.headers().get("access-control-allow-origin").is_none());
}

async fn cookie_flags_follow_the_configuration(db: TestDb) {
    let app = TestApp::spawn_with(&db, |c| {
        c.cookie_secure = true;
        c.cookie_samesite = user_service::config::SameSite::Strict;
    })
    .await;
    let (email, _) = app.new_user().await;
    let r = app.login(&email, crate::helpers::PASSWORD).await;
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("; Secure") && cookie.contains("SameSite=Strict") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
}

db_tests!(
    cli_migrate_create_admin_and_rotate_keys_work_on_the_database,
    bootstrap_admin_is_created_on_first_start,
);

async fn cli_migrate_create_admin_and_rotate_keys_work_on_the_database(db: TestDb) {
    let config = crate::helpers::test_config(&db);
    user_service::migrate(&config).await.unwrap();
    user_service::migrate(&config).await.unwrap();
    let email = format!("Root{}@Example.com", crate::helpers::unique());
    let err = user_service::create_admin(config.clone(), &email, "short").await.unwrap_err();
    assert!(err.to_string().contains("at least 12"), "{err}");
    let out = user_service::create_admin(config.clone(), &email, "root passphrase 1").await.unwrap();
    assert!(out.contains("created admin"), "{out}");
    let kid = user_service::rotate_keys(config.clone()).await.unwrap();
    let app = TestApp::spawn(&db).await;
    let r = app.login(&email.to_lowercase(), "root passphrase 1").await;
    assert_eq!(r.status(), StatusCode::OK);
    let access = r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        crate::helpers::header_of(&access)["kid"],
        kid,
        "the rotated key signs (no publish delay in tests)"
    );
    assert_eq!(app.get_auth("/v1/admin/users", &access).await.status(), StatusCode::OK);
    // An existing account whose email is verified is promoted, its password unchanged.
    let (user, _) = app.new_user().await;
    crate::helpers::verify_email(&app, &user).await;
    let out = user_service::create_admin(config, &user, "ignored password").await.unwrap();
    assert!(out.contains("already existed"), "{out}");
    assert_eq!(app.login(&user, crate::helpers::PASSWORD).await.status(), StatusCode::OK);
}

async fn bootstrap_admin_is_created_on_first_start(db: TestDb) {
    let email = format!("boot{}@example.com", crate::helpers::unique());
    let app = TestApp::spawn_with(&db, |c| {
        c.bootstrap_admin = Some((email.clone(), user_service::config::Secret::new("bootstrap passphrase")));
    })
    .await;
    let r = app.login(&email, "bootstrap passphrase").await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        crate::helpers::claims_of(body["access_token"].as_str().unwrap())["roles"],
        serde_json::json!(["user", "admin"])
    );
}

async fn password_policy_answers_the_rules_in_force_and_openapi_agrees(db: TestDb) {
    let app = TestApp::spawn_with(&db, |c| c.password_min_chars = 16).await;
    let r = app.get("/v1/auth/password-policy").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        serde_json::json!({"min_length": 16, "max_length": 128, "refuses_common_passwords": true})
    );
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    for (schema, field) in
        [("RegisterBody", "password"), ("ResetBody", "new_password"), ("ChangePassword", "new_password")]
    {
        let property = &doc["components"]["schemas"][schema]["properties"][field];
        assert_eq!(
            (&property["minLength"], &property["maxLength"]),
            (&16.into(), &128.into()),
            "{schema}.{field}"
        );
    }
    // The rules answered are the rules applied.
    let email = format!("policy{}@example.com", crate::helpers::unique());
    assert_error(app.register(&email, "fifteen chars!!").await, StatusCode::BAD_REQUEST, "weak_password")
        .await;
    assert_eq!(app.register(&email, "sixteen chars!!!").await.status(), StatusCode::CREATED);
    let long: String = "x".repeat(128) + "y";
    let other = format!("policy{}@example.com", crate::helpers::unique());
    assert_error(app.register(&other, &long).await, StatusCode::BAD_REQUEST, "weak_password").await;
}
