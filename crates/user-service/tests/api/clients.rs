//! Service clients: OAuth 2.0 client credentials (RFC 6749 section 4.4), their admin
//! routes, and the internal credentials endpoint that only client tokens may call.

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;

use crate::db_tests;
use crate::helpers::{
    TestApp, TestDb, assert_error, captured_logs, claims_of, header_of, test_config, unique,
};

const CREDS: &str = "trading_accounts:credentials:read";

db_tests!(
    admin_creates_lists_and_revokes_clients_and_shows_the_secret_once,
    admin_client_routes_need_the_permission_and_valid_input,
    token_via_http_basic_and_via_form_fields,
    token_errors_follow_rfc6749_section_5_2,
    requested_scope_must_be_a_subset_of_the_client_scopes,
    client_token_verifies_with_the_core_verifier_against_the_jwks,
    client_tokens_are_never_user_tokens,
    revoked_client_gets_no_token_and_its_token_is_refused,
    clients_create_library_function_registers_a_usable_client,
    credentials_endpoint_refuses_user_tokens_even_an_admins_and_audits_it,
    credentials_endpoint_needs_the_scope_and_audits_every_call,
    failed_client_authentications_are_throttled_and_audited,
    client_token_fetches_trading_account_credentials_and_a_user_token_gets_403,
    i27_client_secrets_tokens_and_credentials_never_reach_the_logs,
);

// ---- helpers ---------------------------------------------------------------------------

/// An `application/x-www-form-urlencoded` body.
trait WithForm {
    fn with_form(self, pairs: &[(&str, &str)]) -> Self;
}

impl WithForm for reqwest::RequestBuilder {
    fn with_form(self, pairs: &[(&str, &str)]) -> Self {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
        self.header("content-type", "application/x-www-form-urlencoded").body(body)
    }
}

/// Registers a client through the admin API: `(client_id, client_secret)`.
async fn new_client(app: &TestApp, admin: &str, scopes: &[&str]) -> (String, String) {
    let r = app.post_auth("/v1/admin/clients", admin, json!({"name": "ticker", "scopes": scopes})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    (body["client_id"].as_str().unwrap().to_owned(), body["client_secret"].as_str().unwrap().to_owned())
}

/// A token request with HTTP Basic client authentication.
async fn token_basic(app: &TestApp, id: &str, secret: &str, form: &[(&str, &str)]) -> Response {
    app.client
        .post(app.url("/v1/auth/token"))
        .basic_auth(id, Some(secret))
        .with_form(form)
        .send()
        .await
        .unwrap()
}

/// A token request with only form fields.
async fn token_form(app: &TestApp, form: &[(&str, &str)]) -> Response {
    app.client.post(app.url("/v1/auth/token")).with_form(form).send().await.unwrap()
}

/// A client token (Basic, all scopes).
async fn client_token(app: &TestApp, id: &str, secret: &str) -> String {
    let r = token_basic(app, id, secret, &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
}

/// Asserts an RFC 6749 error body (`error`, `error_description`) and `no-store`.
async fn assert_oauth_error(r: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(r.status(), status);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], code, "{body}");
    assert!(body["error_description"].is_string(), "{body}");
    body
}

/// `(user_id, actor_id, details)` of every audit event named `event`.
async fn audit_rows(app: &TestApp, event: &str) -> Vec<(Option<String>, Option<String>, Value)> {
    sqlx::query("SELECT user_id, actor_id, details FROM audit_events WHERE event = $1 ORDER BY created_at")
        .bind(event)
        .fetch_all(&app.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let details: Option<String> = r.get("details");
            (r.get("user_id"), r.get("actor_id"), serde_json::from_str(&details.unwrap_or_default()).unwrap())
        })
        .collect()
}

fn credentials_path(account_id: &str) -> String {
    format!("/v1/internal/trading-accounts/{account_id}/credentials")
}

// ---- admin routes ----------------------------------------------------------------------

async fn admin_creates_lists_and_revokes_clients_and_shows_the_secret_once(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (admin_email, admin) = app.new_admin().await;
    let r = app
        .post_auth(
            "/v1/admin/clients",
            &admin.access,
            json!({"name": " ticker ", "scopes": [CREDS, "positions:read"]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let created: Value = r.json().await.unwrap();
    let client_id = created["client_id"].as_str().unwrap();
    let secret = created["client_secret"].as_str().unwrap();
    assert!(client_id.starts_with("svc_"), "{created}");
    assert!(secret.len() >= 43, "256 bits of base64url");
    assert_eq!(created["name"], "ticker");
    assert_eq!(created["scopes"], json!([CREDS, "positions:read"]));
    assert_eq!(created["created_by"], app.user_id(&admin_email).await);
    assert!(created["revoked_at"].is_null());

    // Only a hash is stored; the listing never shows the secret again.
    let stored: String = sqlx::query("SELECT secret_hash FROM service_clients WHERE client_id = $1")
        .bind(client_id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
        .get("secret_hash");
    assert_ne!(stored, secret);
    let list = app.get_auth("/v1/admin/clients", &admin.access).await.text().await.unwrap();
    assert!(!list.contains(secret) && !list.contains("client_secret"), "{list}");
    let list: Value = serde_json::from_str(&list).unwrap();
    let listed = list["clients"].as_array().unwrap().iter().find(|c| c["client_id"] == client_id).unwrap();
    assert_eq!(listed["id"], created["id"]);

    // Revoke by client_id (the internal id works too); unknown ids are 404.
    let r = app
        .client
        .delete(app.url(&format!("/v1/admin/clients/{client_id}")))
        .bearer_auth(&admin.access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let list: Value = app.get_auth("/v1/admin/clients", &admin.access).await.json().await.unwrap();
    let listed = list["clients"].as_array().unwrap().iter().find(|c| c["client_id"] == client_id).unwrap();
    assert!(listed["revoked_at"].is_string(), "{listed}");
    let r = app
        .client
        .delete(app.url("/v1/admin/clients/svc_nope"))
        .bearer_auth(&admin.access)
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;

    // I26: creation and revocation are audited, with the administrator as the actor.
    let admin_id = app.user_id(&admin_email).await;
    for event in ["client_created", "client_revoked"] {
        let rows = audit_rows(&app, event).await;
        assert_eq!(rows.len(), 1, "{event}");
        assert_eq!(rows[0].1.as_deref(), Some(admin_id.as_str()));
        assert_eq!(rows[0].2["client_id"], client_id);
    }
}

async fn admin_client_routes_need_the_permission_and_valid_input(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, user) = app.new_user().await;
    let (_, admin) = app.new_admin().await;
    let r = app.get_auth("/v1/admin/clients", &user.access).await;
    assert!(r.headers()["www-authenticate"].to_str().unwrap().contains(r#"error="insufficient_scope""#));
    assert_error(r, StatusCode::FORBIDDEN, "insufficient_scope").await;
    let r = app.post_auth("/v1/admin/clients", &user.access, json!({"name": "x", "scopes": [CREDS]})).await;
    assert_error(r, StatusCode::FORBIDDEN, "insufficient_scope").await;
    let r =
        app.client.delete(app.url("/v1/admin/clients/svc_x")).bearer_auth(&user.access).send().await.unwrap();
    assert_error(r, StatusCode::FORBIDDEN, "insufficient_scope").await;
    assert_eq!(app.get("/v1/admin/clients").await.status(), StatusCode::UNAUTHORIZED);
    let count: i64 =
        sqlx::query("SELECT COUNT(*) AS n FROM service_clients").fetch_one(&app.pool).await.unwrap().get("n");
    assert_eq!(count, 0, "nothing was created by the refused calls");

    // Wildcards, RFC 6749-invalid scope characters, no scopes and bad names are refused.
    for scopes in [json!(["*"]), json!(["admin:*"]), json!(["a\"b"]), json!([]), json!([" "])] {
        let r =
            app.post_auth("/v1/admin/clients", &admin.access, json!({"name": "x", "scopes": scopes})).await;
        assert_error(r, StatusCode::BAD_REQUEST, "invalid_scopes").await;
    }
    for name in ["", "   ", "a\u{0}b"] {
        let r =
            app.post_auth("/v1/admin/clients", &admin.access, json!({"name": name, "scopes": [CREDS]})).await;
        assert_error(r, StatusCode::BAD_REQUEST, "invalid_name").await;
    }
    let r = app.post_auth("/v1/admin/clients", &admin.access, json!({"name": "x"})).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

// ---- the token endpoint ----------------------------------------------------------------

async fn token_via_http_basic_and_via_form_fields(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, admin) = app.new_admin().await;
    let (id, secret) = new_client(&app, &admin.access, &[CREDS, "positions:read"]).await;
    let last_used = || async {
        sqlx::query("SELECT last_used_at FROM service_clients WHERE client_id = $1")
            .bind(&id)
            .fetch_one(&app.pool)
            .await
            .unwrap()
            .get::<Option<i64>, _>("last_used_at")
    };
    assert_eq!(last_used().await, None);

    let basic = token_basic(&app, &id, &secret, &[("grant_type", "client_credentials")]).await;
    let form = token_form(
        &app,
        &[("grant_type", "client_credentials"), ("client_id", &id), ("client_secret", &secret)],
    )
    .await;
    for r in [basic, form] {
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert_eq!(r.headers()["pragma"], "no-cache");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 300);
        assert_eq!(body["scope"], format!("{CREDS} positions:read"));
        assert!(body.get("refresh_token").is_none(), "RFC 6749 4.4.3: no refresh token");
        assert_eq!(claims_of(body["access_token"].as_str().unwrap())["sub"], id.as_str());
    }
    assert!(last_used().await.is_some());

    // The token lifetime is configurable.
    let short = TestApp::spawn_with(&db, |c| c.client_token_ttl_secs = 60).await;
    let r = token_basic(&short, &id, &secret, &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.json::<Value>().await.unwrap()["expires_in"], 60);
}

async fn token_errors_follow_rfc6749_section_5_2(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, admin) = app.new_admin().await;
    let (id, secret) = new_client(&app, &admin.access, &[CREDS]).await;
    let grant = ("grant_type", "client_credentials");

    // invalid_request: missing grant_type, a repeated parameter, both methods, half of
    // the form credentials, not a form, credentials in the URL, malformed Basic.
    let r = token_basic(&app, &id, &secret, &[("scope", CREDS)]).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    let r = token_basic(&app, &id, &secret, &[grant, grant]).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    let r = token_basic(&app, &id, &secret, &[grant, ("scope", CREDS), ("scope", CREDS)]).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    let r = token_basic(&app, &id, &secret, &[grant, ("client_id", &id), ("client_secret", &secret)]).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    let r = token_basic(&app, &id, &secret, &[grant, ("client_id", &id)]).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    let r = token_form(&app, &[grant, ("client_id", &id)]).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    let r = app
        .client
        .post(app.url("/v1/auth/token"))
        .basic_auth(&id, Some(&secret))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    let r = app
        .client
        .post(app.url(&format!("/v1/auth/token?client_id={id}&client_secret={secret}")))
        .with_form(&[grant])
        .send()
        .await
        .unwrap();
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    for header in ["Basic !!!", "Basic", "Basic Zm9v"] {
        let r = app
            .client
            .post(app.url("/v1/auth/token"))
            .header("authorization", header)
            .with_form(&[grant])
            .send();
        assert_oauth_error(r.await.unwrap(), StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    let big = "x".repeat(10_000);
    let r = token_basic(&app, &id, &secret, &[grant, ("pad", &big)]).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;

    // unsupported_grant_type.
    for other in ["password", "authorization_code", "refresh_token", "CLIENT_CREDENTIALS"] {
        let r = token_basic(&app, &id, &secret, &[("grant_type", other)]).await;
        assert_oauth_error(r, StatusCode::BAD_REQUEST, "unsupported_grant_type").await;
    }

    // invalid_scope.
    let r = token_basic(&app, &id, &secret, &[grant, ("scope", "positions:read")]).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_scope").await;

    // invalid_client: 401 with a Basic challenge.
    let wrong = "A".repeat(43);
    let cases = [
        token_basic(&app, &id, &wrong, &[grant]).await,
        token_basic(&app, "svc_00000000000000000000", &secret, &[grant]).await,
        token_form(&app, &[grant, ("client_id", &id), ("client_secret", &wrong)]).await,
        token_form(&app, &[grant]).await,
        app.client
            .post(app.url("/v1/auth/token"))
            .bearer_auth(&secret)
            .with_form(&[grant])
            .send()
            .await
            .unwrap(),
    ];
    for r in cases {
        let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(challenge.starts_with("Basic realm="), "{challenge}");
        assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    }

    // Only POST.
    assert_eq!(app.get("/v1/auth/token").await.status(), StatusCode::METHOD_NOT_ALLOWED);
    // The client still works: none of the above consumed anything.
    client_token(&app, &id, &secret).await;
}

async fn requested_scope_must_be_a_subset_of_the_client_scopes(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, admin) = app.new_admin().await;
    let (id, secret) = new_client(&app, &admin.access, &["positions:read", CREDS]).await;
    let grant = ("grant_type", "client_credentials");
    let r = token_basic(&app, &id, &secret, &[grant, ("scope", CREDS)]).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["scope"], CREDS);
    let claims = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(claims["scope"], CREDS);
    assert_eq!(claims["permissions"], json!([CREDS]));
    // Both, in the requested order, duplicates dropped.
    let both = format!("{CREDS} positions:read {CREDS}");
    let r = token_basic(&app, &id, &secret, &[grant, ("scope", &both)]).await;
    assert_eq!(r.json::<Value>().await.unwrap()["scope"], format!("{CREDS} positions:read"));
    // An empty scope counts as omitted (RFC 6749 3.1): every scope of the client.
    let r = token_basic(&app, &id, &secret, &[grant, ("scope", "")]).await;
    assert_eq!(r.json::<Value>().await.unwrap()["scope"], format!("positions:read {CREDS}"));
    // One scope too many, a wildcard or a prefix: invalid_scope.
    for scope in
        [format!("{CREDS} alerts:read"), "*".to_owned(), "trading_accounts:*".to_owned(), "positions".into()]
    {
        let r = token_basic(&app, &id, &secret, &[grant, ("scope", &scope)]).await;
        assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_scope").await;
    }
}

async fn client_token_verifies_with_the_core_verifier_against_the_jwks(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, admin) = app.new_admin().await;
    let (id, secret) = new_client(&app, &admin.access, &[CREDS, "positions:read"]).await;
    let token = client_token(&app, &id, &secret).await;
    let jwks = app.get("/v1/auth/.well-known/jwks.json").await.text().await.unwrap();
    let verifier = authgate::Verifier::builder()
        .issuer(app.issuer.clone(), authgate::KeySet::from_jwks_json(&jwks).unwrap())
        .audience("trading-platform")
        .require_at_jwt()
        .build()
        .unwrap();
    let principal = verifier.verify(&token).await.unwrap();
    assert_eq!(principal.user_id(), id);
    assert_eq!(principal.claims().extra()["client_id"], id.as_str(), "RFC 9068 client_id");
    assert_eq!(principal.scopes(), [CREDS, "positions:read"]);
    assert_eq!(principal.permissions(), [CREDS, "positions:read"]);
    assert!(principal.has_permission(CREDS));
    assert_eq!(principal.session_id(), None);
    assert_eq!(principal.email(), None);
    assert!(principal.roles().is_empty());

    let header = header_of(&token);
    assert_eq!(header["typ"], "at+jwt");
    assert!(header["kid"].is_string());
    let claims = claims_of(&token);
    assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 300);
    assert_eq!(claims["nbf"], claims["iat"]);
    assert!(claims["jti"].is_string());
    for absent in ["sid", "email", "name", "roles", "amr"] {
        assert!(claims.get(absent).is_none(), "{absent} in {claims}");
    }
}

async fn client_tokens_are_never_user_tokens(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, admin) = app.new_admin().await;
    // A client token is no user: user routes need a session.
    let (id, secret) = new_client(&app, &admin.access, &["positions:read"]).await;
    let token = client_token(&app, &id, &secret).await;
    assert_eq!(app.get_auth("/v1/users/me", &token).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.get_auth("/v1/admin/clients", &token).await.status(), StatusCode::UNAUTHORIZED);
    // And no client may hold an admin permission, nor a scope missing from the catalog.
    for scopes in [json!(["admin:clients:read"]), json!(["admin:delete"]), json!(["positions:raed"])] {
        let r =
            app.post_auth("/v1/admin/clients", &admin.access, json!({"name": "x", "scopes": scopes})).await;
        assert_error(r, StatusCode::BAD_REQUEST, "invalid_scopes").await;
    }
}

async fn revoked_client_gets_no_token_and_its_token_is_refused(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, admin) = app.new_admin().await;
    let (id, secret) = new_client(&app, &admin.access, &[CREDS]).await;
    let token = client_token(&app, &id, &secret).await;
    let r = app.client.delete(app.url(&format!("/v1/admin/clients/{id}"))).bearer_auth(&admin.access).send();
    assert_eq!(r.await.unwrap().status(), StatusCode::NO_CONTENT);

    let r = token_basic(&app, &id, &secret, &[("grant_type", "client_credentials")]).await;
    assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let r = app.get_auth(&credentials_path("any-account"), &token).await;
    assert_eq!(
        r.headers()["www-authenticate"],
        r#"Bearer realm="api", error="invalid_token", error_description="the access token claims are invalid""#
    );
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_token").await;

    let failures = audit_rows(&app, "client_auth_failed").await;
    assert_eq!(failures.last().unwrap().2["reason"], "revoked");
    let reads = audit_rows(&app, "credentials_read").await;
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0].2["client_id"], id.as_str());
    assert_eq!(reads[0].2["outcome"], "invalid_token");
}

async fn clients_create_library_function_registers_a_usable_client(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let scopes = vec![CREDS.to_owned(), "positions:read".to_owned()];
    let (id, secret) = user_service::create_client(test_config(&db), "ticker", &scopes).await.unwrap();
    assert!(id.starts_with("svc_"));
    let r = token_basic(&app, &id, &secret, &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["scope"], format!("{CREDS} positions:read"));
    let created = audit_rows(&app, "client_created").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].1, None, "created from the CLI, no user");
    assert_eq!(created[0].2["client_id"], id.as_str());

    let bad = user_service::create_client(test_config(&db), "ticker", &["*".to_owned()]).await;
    assert!(matches!(bad, Err(user_service::StartupError::Command(_))), "{bad:?}");
    let bad = user_service::create_client(test_config(&db), " ", &scopes).await;
    assert!(matches!(bad, Err(user_service::StartupError::Command(_))), "{bad:?}");
}

// ---- the internal credentials endpoint -------------------------------------------------

async fn credentials_endpoint_refuses_user_tokens_even_an_admins_and_audits_it(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (user_email, user) = app.new_user().await;
    let (admin_email, admin) = app.new_admin().await;
    let path = credentials_path("acct-1");
    for token in [&user.access, &admin.access] {
        let r = app.get_auth(&path, token).await;
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert_eq!(
            r.headers()["www-authenticate"],
            format!(
                r#"Bearer realm="api", error="insufficient_scope", error_description="the credentials lack a required permission", scope="{CREDS}""#
            )
        );
        assert_error(r, StatusCode::FORBIDDEN, "insufficient_scope").await;
    }
    let r = app.get(&path).await;
    assert_eq!(r.headers()["www-authenticate"], r#"Bearer realm="api""#);
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(app.get_auth(&path, "not.a.token").await.status(), StatusCode::UNAUTHORIZED);

    let rows = audit_rows(&app, "credentials_read").await;
    assert_eq!(rows.len(), 4, "every call is audited");
    let user_id = app.user_id(&user_email).await;
    let admin_id = app.user_id(&admin_email).await;
    assert_eq!(rows[0].0.as_deref(), Some(user_id.as_str()));
    assert_eq!(rows[1].0.as_deref(), Some(admin_id.as_str()));
    for row in &rows[..2] {
        assert_eq!(row.2["outcome"], "not_a_client_token");
        assert_eq!(row.2["account_id"], "acct-1");
    }
    assert_eq!(rows[2].2["outcome"], "missing_token");
    assert_eq!(rows[3].2["outcome"], "invalid_token");
    let ip: Option<String> = sqlx::query("SELECT ip FROM audit_events WHERE event = 'credentials_read'")
        .fetch_one(&app.pool)
        .await
        .unwrap()
        .get("ip");
    assert_eq!(ip.as_deref(), Some("127.0.0.1"));
}

async fn credentials_endpoint_needs_the_scope_and_audits_every_call(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, admin) = app.new_admin().await;
    let (other, other_secret) = new_client(&app, &admin.access, &["positions:read"]).await;
    let token = client_token(&app, &other, &other_secret).await;
    let r = app.get_auth(&credentials_path("acct-1"), &token).await;
    assert_eq!(
        r.headers()["www-authenticate"],
        format!(
            r#"Bearer realm="api", error="insufficient_scope", error_description="the credentials lack a required permission", scope="{CREDS}""#
        )
    );
    assert_error(r, StatusCode::FORBIDDEN, "insufficient_scope").await;

    // A client that holds the scope but asked for a narrower token is refused too.
    let (both, both_secret) = new_client(&app, &admin.access, &["positions:read", CREDS]).await;
    let r = token_basic(
        &app,
        &both,
        &both_secret,
        &[("grant_type", "client_credentials"), ("scope", "positions:read")],
    );
    let narrow = r.await.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let r = app.get_auth(&credentials_path("acct-1"), &narrow).await;
    assert_error(r, StatusCode::FORBIDDEN, "insufficient_scope").await;

    let rows = audit_rows(&app, "credentials_read").await;
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0].1.as_deref(), &rows[0].2["outcome"]),
        (Some(other.as_str()), &json!("insufficient_scope"))
    );
    assert_eq!((rows[1].1.as_deref(), &rows[1].2["client_id"]), (Some(both.as_str()), &json!(both)));
}

async fn failed_client_authentications_are_throttled_and_audited(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, admin) = app.new_admin().await;
    let (id, secret) = new_client(&app, &admin.access, &[CREDS]).await;
    let grant = [("grant_type", "client_credentials")];
    // A success clears the count, as for logins.
    for _ in 0..4 {
        let r = token_basic(&app, &id, "wrong-secret", &grant).await;
        assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    }
    client_token(&app, &id, &secret).await;
    for _ in 0..5 {
        let r = token_basic(&app, &id, "wrong-secret", &grant).await;
        assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    }
    // Locked: even the right secret waits.
    let r = token_basic(&app, &id, &secret, &grant).await;
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= 900);
    assert_oauth_error(r, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
    // Other clients are not affected.
    let (id2, secret2) = new_client(&app, &admin.access, &[CREDS]).await;
    client_token(&app, &id2, &secret2).await;

    let failures = audit_rows(&app, "client_auth_failed").await;
    assert_eq!(failures.len(), 9);
    assert!(failures.iter().all(|f| f.2["client_id"] == id.as_str() && f.2["reason"] == "wrong_secret"));
    assert_eq!(failures[0].2["method"], "client_secret_basic");
    assert_eq!(audit_rows(&app, "client_locked").await.len(), 1);
}

async fn client_token_fetches_trading_account_credentials_and_a_user_token_gets_403(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, owner) = app.new_user().await;
    let (_, admin) = app.new_admin().await;
    let api_secret = format!("secret-{}", unique());
    let r = app
        .post_auth(
            "/v1/trading-accounts",
            &owner.access,
            json!({
                "broker": "kite",
                "label": "main",
                "broker_user_id": "AB1234",
                "credentials": {"api_key": "kite-key", "api_secret": api_secret, "access_token": "kite-at"},
            }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let account: Value = r.json().await.unwrap();
    let account_id = account["id"].as_str().unwrap();
    let path = credentials_path(account_id);

    let (id, secret) = new_client(&app, &admin.access, &[CREDS]).await;
    let token = client_token(&app, &id, &secret).await;
    let r = app.get_auth(&path, &token).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body = r.text().await.unwrap();
    assert!(body.contains(&api_secret) && body.contains("kite-key") && body.contains("kite-at"), "{body}");

    // The owner's own token, and an admin's, are refused.
    for user_token in [&owner.access, &admin.access] {
        assert_error(app.get_auth(&path, user_token).await, StatusCode::FORBIDDEN, "insufficient_scope")
            .await;
    }
    assert_error(
        app.get_auth(&credentials_path("no-such-account"), &token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    let rows = audit_rows(&app, "credentials_read").await;
    let outcomes: Vec<&Value> = rows.iter().map(|r| &r.2["outcome"]).collect();
    assert_eq!(
        outcomes,
        [&json!("ok"), &json!("not_a_client_token"), &json!("not_a_client_token"), &json!("not_found")]
    );
    assert_eq!(rows[0].1.as_deref(), Some(id.as_str()));
    assert_eq!(rows[0].2["account_id"], account_id);
    assert!(!rows.iter().any(|r| r.2.to_string().contains(&api_secret)), "no credentials in the audit log");
}

async fn i27_client_secrets_tokens_and_credentials_never_reach_the_logs(db: TestDb) {
    let logs = captured_logs();
    let app = TestApp::spawn(&db).await;
    let (_, admin) = app.new_admin().await;
    let (id, secret) = new_client(&app, &admin.access, &[CREDS]).await;
    let token = client_token(&app, &id, &secret).await;
    let form = [("grant_type", "client_credentials"), ("client_id", &id), ("client_secret", &secret)];
    let form_token = token_form(&app, &form).await.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let wrong = format!("canary-wrong-client-secret-{}", unique());
    token_basic(&app, &id, &wrong, &[("grant_type", "client_credentials")]).await;
    token_form(&app, &[("grant_type", "client_credentials"), ("client_id", &id), ("client_secret", &wrong)])
        .await;
    // A hostile client id is logged escaped, never raw.
    token_basic(&app, "svc_evil\nFAKE LOG LINE", &wrong, &[("grant_type", "client_credentials")]).await;
    let (_, user) = app.new_user().await;
    let api_secret = format!("canary-kite-secret-{}", unique());
    let r = app
        .post_auth(
            "/v1/trading-accounts",
            &user.access,
            json!({"broker": "kite", "label": "l", "broker_user_id": "X1",
                   "credentials": {"api_key": "k", "api_secret": api_secret}}),
        )
        .await;
    if r.status() == StatusCode::CREATED {
        let account: Value = r.json().await.unwrap();
        app.get_auth(&credentials_path(account["id"].as_str().unwrap()), &token).await;
    }
    app.get_auth(&credentials_path("x"), &user.access).await;

    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(text.contains("client authentication failed"), "logs are captured");
    for s in [&secret, &token, &form_token, &wrong, &api_secret] {
        assert!(!text.contains(s.as_str()), "a secret leaked into the logs");
    }
    assert!(!text.contains("\nFAKE LOG LINE"), "user-controlled strings are escaped");
}
