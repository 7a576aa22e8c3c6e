//! API keys (I23-I25, I27): `/v1/api-keys*`, and `GET /v1/users/me` with `X-API-Key`, the
//! verification call of the core crate's `RemoteApiKeyVerifier`.

use std::time::{Duration, Instant};

use authgate::api_key::{ApiKeyVerifier, RemoteApiKeyVerifier, format};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;

use crate::db_tests;
use crate::helpers::{TestApp, TestDb, assert_error, captured_logs};

db_tests!(
    i23_a_key_is_shown_once_prefixed_and_stored_only_as_its_sha256,
    key_on_users_me_answers_the_owner_with_the_keys_permissions,
    i24_a_bad_checksum_is_refused_before_any_storage_lookup,
    i24_unknown_revoked_expired_and_disabled_owner_keys_are_401,
    i24_a_key_in_the_query_string_is_never_accepted,
    i24_only_users_me_accepts_a_key_so_a_key_cannot_mint_keys,
    i25_key_permissions_must_be_a_subset_of_the_owners,
    i25_another_users_key_is_404_everywhere,
    managing_keys_needs_the_api_keys_manage_permission,
    patch_renames_and_narrows_and_delete_revokes_but_keeps_the_row,
    rotation_shows_a_new_key_once_and_the_old_one_stops_at_once,
    usage_is_recorded_with_route_and_outcome_and_moves_last_used_at,
    invalid_input_is_a_json_error_never_a_panic,
    i25_a_key_links_only_to_a_trading_account_of_its_owner,
    i25_remote_verifier_carries_the_keys_permissions_and_drops_a_revoked_key_within_its_ttl,
    i27_keys_and_their_hashes_never_appear_in_the_logs,
);

/// The caller's own permissions, as its bearer token sees them.
async fn owner_permissions(app: &TestApp, token: &str) -> Value {
    let me: Value = app.get_auth("/v1/users/me", token).await.json().await.unwrap();
    assert!(me["permissions"].as_array().unwrap().iter().any(|p| p == "api_keys:manage"), "{me}");
    me["permissions"].clone()
}

async fn call(app: &TestApp, method: Method, path: &str, token: &str, body: Option<Value>) -> Response {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

/// Creates a key and returns the 201 body (`key` included).
async fn create_key(app: &TestApp, token: &str, body: Value) -> Value {
    let r = call(app, Method::POST, "/v1/api-keys", token, Some(body)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json().await.unwrap()
}

async fn me_with_key(app: &TestApp, key: &str) -> Response {
    app.client.get(app.url("/v1/users/me")).header("x-api-key", key).send().await.unwrap()
}

async fn metric(app: &TestApp, name: &str, labels: &[(&str, &str)]) -> f64 {
    app.scrape().await.value(name, labels).unwrap_or_else(|| panic!("{name} {labels:?} not in /metrics"))
}

async fn i23_a_key_is_shown_once_prefixed_and_stored_only_as_its_sha256(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, tokens) = app.new_user().await;
    let r = call(&app, Method::POST, "/v1/api-keys", &tokens.access, Some(json!({"name": "backend"}))).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = r.json().await.unwrap();
    let key = created["key"].as_str().unwrap();
    let id = created["id"].as_str().unwrap();
    assert_eq!(location, format!("/v1/api-keys/{id}"));
    // The dev service issues test keys: readable prefix, 32 random base62 + 6 checksum.
    assert!(key.starts_with("ak_test_"), "{key}");
    assert_eq!(key.len(), "ak_test_".len() + 38);
    assert!(format::check(key).is_ok());
    assert_eq!(created["prefix"], &key[..12]);
    assert_eq!(created["name"], "backend");
    assert_eq!(created["status"], "active");
    assert_eq!(
        created["permissions"],
        owner_permissions(&app, &tokens.access).await,
        "default: the owner's permissions"
    );
    assert!(created["expires_at"].is_null() && created["last_used_at"].is_null());

    // Never shown again, neither the key nor its hash.
    let hash = format::hash_hex(key);
    for path in ["/v1/api-keys".to_owned(), format!("/v1/api-keys/{id}")] {
        let text = app.get_auth(&path, &tokens.access).await.text().await.unwrap();
        assert!(text.contains(id), "{text}");
        assert!(!text.contains(&key[12..]) && !text.contains(&hash), "{text}");
        assert!(!text.contains("\"key\""), "{text}");
    }

    // Stored as SHA-256 only.
    let row =
        sqlx::query("SELECT * FROM api_keys WHERE id = $1").bind(id).fetch_one(&app.pool).await.unwrap();
    assert_eq!(row.get::<String, _>("key_hash"), hash);
    for column in ["id", "user_id", "name", "key_hash", "display_prefix", "permissions"] {
        assert!(!row.get::<String, _>(column).contains(&key[12..]), "{column} holds the key");
    }
    assert!(app.audit_events(&email).await.contains(&"api_key_created".to_owned()));

    // Two keys never collide.
    let other = create_key(&app, &tokens.access, json!({"name": "second"})).await;
    assert_ne!(other["key"], created["key"]);
}

async fn key_on_users_me_answers_the_owner_with_the_keys_permissions(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, tokens) = app.new_user().await;
    let created =
        create_key(&app, &tokens.access, json!({"name": "reader", "permissions": ["positions:read"]})).await;
    let r = me_with_key(&app, created["key"].as_str().unwrap()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["auth_method"], "api_key");
    assert_eq!(me["id"], app.user_id(&email).await);
    assert_eq!(me["email"], email);
    assert_eq!(me["name"], "Test User");
    assert_eq!(me["roles"], json!([]), "a key carries permissions, not its owner's roles");
    assert_eq!(me["permissions"], json!(["positions:read"]), "the key's, not the owner's");
    assert_eq!(me["api_key"]["id"], created["id"]);
    assert!(me.get("session_id").is_none());

    // The same call with a bearer token is a JWT call.
    let me: Value = app.get_auth("/v1/users/me", &tokens.access).await.json().await.unwrap();
    assert_eq!(me["auth_method"], "jwt");
    assert_ne!(me["permissions"], json!(["positions:read"]));
    assert_eq!(me["permissions"], owner_permissions(&app, &tokens.access).await);

    // A key and a bearer token together are ambiguous.
    let r = app
        .client
        .get(app.url("/v1/users/me"))
        .bearer_auth(&tokens.access)
        .header("x-api-key", created["key"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
}

async fn i24_a_bad_checksum_is_refused_before_any_storage_lookup(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, tokens) = app.new_user().await;
    let created = create_key(&app, &tokens.access, json!({"name": "k"})).await;
    let key = created["key"].as_str().unwrap();
    // One character changed: the checksum no longer matches.
    let mut typo = key.as_bytes().to_vec();
    typo[20] = if typo[20] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).unwrap();
    assert!(format::check(&typo).is_err());

    let r = me_with_key(&app, &typo).await;
    assert_eq!(
        r.headers()["www-authenticate"],
        r#"Bearer realm="api", error="invalid_token", error_description="the API key is invalid""#
    );
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_api_key").await;
    assert_eq!(metric(&app, "user_service_api_key_auth_total", &[("outcome", "malformed")]).await, 1.0);
    assert_eq!(metric(&app, "user_service_api_key_auth_total", &[("outcome", "unknown")]).await, 0.0);

    // With the key table gone, a lookup would fail with a 500: the bad checksum still gets
    // its 401 because it is refused before storage is touched, while a well-formed key
    // does reach storage.
    sqlx::query("ALTER TABLE api_keys RENAME TO api_keys_gone").execute(&app.pool).await.unwrap();
    assert_error(me_with_key(&app, &typo).await, StatusCode::UNAUTHORIZED, "invalid_api_key").await;
    assert_error(me_with_key(&app, "ak_test_short").await, StatusCode::UNAUTHORIZED, "invalid_api_key").await;
    assert_eq!(me_with_key(&app, key).await.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(metric(&app, "user_service_api_key_auth_total", &[("outcome", "malformed")]).await, 3.0);
}

async fn i24_unknown_revoked_expired_and_disabled_owner_keys_are_401(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, tokens) = app.new_user().await;
    let unknown = format::generate("test").unwrap();
    let other_environment = format::generate("live").unwrap();
    for key in [unknown.as_str(), other_environment.as_str(), "", "garbage", "ak_test_ü"] {
        let r = me_with_key(&app, key).await;
        assert_error(r, StatusCode::UNAUTHORIZED, "invalid_api_key").await;
    }

    let revoked = create_key(&app, &tokens.access, json!({"name": "revoked"})).await;
    let path = format!("/v1/api-keys/{}", revoked["id"].as_str().unwrap());
    assert_eq!(
        call(&app, Method::DELETE, &path, &tokens.access, None).await.status(),
        StatusCode::NO_CONTENT
    );
    let r = me_with_key(&app, revoked["key"].as_str().unwrap()).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_api_key").await;

    let expired = create_key(&app, &tokens.access, json!({"name": "expired", "expires_in_days": 1})).await;
    assert!(expired["expires_at"].is_string());
    assert_eq!(me_with_key(&app, expired["key"].as_str().unwrap()).await.status(), StatusCode::OK);
    sqlx::query("UPDATE api_keys SET expires_at = created_at - 1 WHERE id = $1")
        .bind(expired["id"].as_str().unwrap())
        .execute(&app.pool)
        .await
        .unwrap();
    let r = me_with_key(&app, expired["key"].as_str().unwrap()).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_api_key").await;
    let listed: Value = app.get_auth("/v1/api-keys", &tokens.access).await.json().await.unwrap();
    let statuses: Vec<&str> =
        listed["api_keys"].as_array().unwrap().iter().map(|k| k["status"].as_str().unwrap()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == "expired").count(), 1, "{listed}");
    assert_eq!(statuses.iter().filter(|s| **s == "revoked").count(), 1, "{listed}");

    let live = create_key(&app, &tokens.access, json!({"name": "live"})).await;
    assert_eq!(me_with_key(&app, live["key"].as_str().unwrap()).await.status(), StatusCode::OK);
    sqlx::query("UPDATE users SET status = 'disabled' WHERE email = $1")
        .bind(&email)
        .execute(&app.pool)
        .await
        .unwrap();
    let r = me_with_key(&app, live["key"].as_str().unwrap()).await;
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_api_key").await;
}

async fn i24_a_key_in_the_query_string_is_never_accepted(db: TestDb) {
    let logs = crate::helpers::captured_logs();
    let app = TestApp::spawn(&db).await;
    let (_, tokens) = app.new_user().await;
    let created = create_key(&app, &tokens.access, json!({"name": "k"})).await;
    let key = created["key"].as_str().unwrap();
    for param in ["api_key", "x-api-key", "key"] {
        // The core's auth layer refuses a credential in the URL outright.
        let r = app.get(&format!("/v1/users/me?{param}={key}")).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // Control: the same key in the header works.
    assert_eq!(me_with_key(&app, key).await.status(), StatusCode::OK);
    // The request spans record the URI with the key redacted (I27).
    let logs = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(logs.contains("/v1/users/me?api_key=REDACTED"), "the request was traced, redacted");
    assert!(!logs.contains(key), "a key sent in the query string reached the logs");
}

async fn i24_only_users_me_accepts_a_key_so_a_key_cannot_mint_keys(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, tokens) = app.new_user().await;
    let created = create_key(&app, &tokens.access, json!({"name": "k"})).await;
    let key = created["key"].as_str().unwrap();
    let id = created["id"].as_str().unwrap();
    for (method, path) in [
        (Method::POST, "/v1/api-keys".to_owned()),
        (Method::GET, "/v1/api-keys".to_owned()),
        (Method::POST, format!("/v1/api-keys/{id}/rotate")),
        (Method::DELETE, format!("/v1/api-keys/{id}")),
        (Method::PATCH, "/v1/users/me".to_owned()),
        (Method::GET, "/v1/users/me/sessions".to_owned()),
    ] {
        let r = app
            .client
            .request(method.clone(), app.url(&path))
            .header("x-api-key", key)
            .json(&json!({"name": "minted"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
    }
    let listed: Value = app.get_auth("/v1/api-keys", &tokens.access).await.json().await.unwrap();
    assert_eq!(listed["api_keys"].as_array().unwrap().len(), 1);
    assert_eq!(listed["api_keys"][0]["status"], "active");
}

async fn i25_key_permissions_must_be_a_subset_of_the_owners(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, tokens) = app.new_user().await;
    // Asking for a permission the owner lacks is 403 insufficient_scope: the request is
    // well formed, the caller is just not allowed to delegate what it does not hold.
    for permissions in [json!(["admin:users:read"]), json!(["*"]), json!(["positions:read", "alerts:*"])] {
        let r = call(
            &app,
            Method::POST,
            "/v1/api-keys",
            &tokens.access,
            Some(json!({"name": "k", "permissions": permissions})),
        )
        .await;
        assert_error(r, StatusCode::FORBIDDEN, "insufficient_scope").await;
    }
    // A malformed permission is 400.
    let r = call(
        &app,
        Method::POST,
        "/v1/api-keys",
        &tokens.access,
        Some(json!({"name": "k", "permissions": ["Positions Read\""]})),
    )
    .await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_permissions").await;

    let key = create_key(
        &app,
        &tokens.access,
        json!({"name": "k", "permissions": ["positions:read", "alerts:write", "positions:read"]}),
    )
    .await;
    assert_eq!(key["permissions"], json!(["positions:read", "alerts:write"]), "deduplicated");
    let path = format!("/v1/api-keys/{}", key["id"].as_str().unwrap());
    let r =
        call(&app, Method::PATCH, &path, &tokens.access, Some(json!({"permissions": ["admin:users:write"]})))
            .await;
    assert_error(r, StatusCode::FORBIDDEN, "insufficient_scope").await;

    // An admin may delegate admin permissions.
    let (_, admin) = app.new_admin().await;
    let admin_key =
        create_key(&app, &admin.access, json!({"name": "ops", "permissions": ["admin:users:read"]})).await;
    let me: Value = me_with_key(&app, admin_key["key"].as_str().unwrap()).await.json().await.unwrap();
    assert_eq!(me["permissions"], json!(["admin:users:read"]));

    // A demotion narrows existing keys at once: a key never carries more than its owner.
    sqlx::query("UPDATE users SET roles = '' WHERE email = $1")
        .bind(&email)
        .execute(&app.pool)
        .await
        .unwrap();
    let me: Value = me_with_key(&app, key["key"].as_str().unwrap()).await.json().await.unwrap();
    assert_eq!(me["permissions"], json!([]));
}

async fn i25_another_users_key_is_404_everywhere(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, alice) = app.new_user().await;
    let (_, mallory) = app.new_user().await;
    let key = create_key(&app, &alice.access, json!({"name": "alice"})).await;
    let id = key["id"].as_str().unwrap();
    for (method, path, body) in [
        (Method::GET, format!("/v1/api-keys/{id}"), None),
        (Method::PATCH, format!("/v1/api-keys/{id}"), Some(json!({"name": "mine now"}))),
        (Method::DELETE, format!("/v1/api-keys/{id}"), None),
        (Method::POST, format!("/v1/api-keys/{id}/rotate"), None),
        (Method::GET, format!("/v1/api-keys/{id}/usage"), None),
        (Method::GET, "/v1/api-keys/no-such-key".to_owned(), None),
    ] {
        let r = call(&app, method.clone(), &path, &mallory.access, body).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{method} {path}");
        assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    }
    let listed: Value = app.get_auth("/v1/api-keys", &mallory.access).await.json().await.unwrap();
    assert_eq!(listed["api_keys"], json!([]));
    // Alice's key is untouched.
    let mine: Value = app.get_auth(&format!("/v1/api-keys/{id}"), &alice.access).await.json().await.unwrap();
    assert_eq!((mine["name"].as_str(), mine["status"].as_str()), (Some("alice"), Some("active")));
    assert_eq!(me_with_key(&app, key["key"].as_str().unwrap()).await.status(), StatusCode::OK);
}

async fn managing_keys_needs_the_api_keys_manage_permission(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, tokens) = app.new_user().await;
    assert_eq!(app.get("/v1/api-keys").await.status(), StatusCode::UNAUTHORIZED);
    sqlx::query("UPDATE users SET roles = '' WHERE email = $1")
        .bind(&email)
        .execute(&app.pool)
        .await
        .unwrap();
    let r = app.get_auth("/v1/api-keys", &tokens.access).await;
    assert_error(r, StatusCode::FORBIDDEN, "insufficient_scope").await;
    let r = call(&app, Method::POST, "/v1/api-keys", &tokens.access, Some(json!({"name": "k"}))).await;
    assert_error(r, StatusCode::FORBIDDEN, "insufficient_scope").await;
}

async fn patch_renames_and_narrows_and_delete_revokes_but_keeps_the_row(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, tokens) = app.new_user().await;
    let key = create_key(&app, &tokens.access, json!({"name": "old"})).await;
    let secret = key["key"].as_str().unwrap();
    let path = format!("/v1/api-keys/{}", key["id"].as_str().unwrap());
    let r = call(
        &app,
        Method::PATCH,
        &path,
        &tokens.access,
        Some(json!({"name": "  new  ", "permissions": ["alerts:read"]})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let updated: Value = r.json().await.unwrap();
    assert_eq!(updated["name"], "new");
    assert_eq!(updated["permissions"], json!(["alerts:read"]));
    let me: Value = me_with_key(&app, secret).await.json().await.unwrap();
    assert_eq!(me["permissions"], json!(["alerts:read"]));

    assert_eq!(
        call(&app, Method::DELETE, &path, &tokens.access, None).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&app, Method::DELETE, &path, &tokens.access, None).await.status(),
        StatusCode::NO_CONTENT
    );
    let shown: Value = app.get_auth(&path, &tokens.access).await.json().await.unwrap();
    assert_eq!(shown["status"], "revoked");
    assert!(shown["revoked_at"].is_string());
    let listed: Value = app.get_auth("/v1/api-keys", &tokens.access).await.json().await.unwrap();
    assert_eq!(listed["api_keys"][0]["status"], "revoked");
    let r = call(&app, Method::PATCH, &path, &tokens.access, Some(json!({"name": "again"}))).await;
    assert_error(r, StatusCode::CONFLICT, "api_key_revoked").await;
    let events = app.audit_events(&email).await;
    assert_eq!(events.iter().filter(|e| *e == "api_key_revoked").count(), 1, "{events:?}");
    assert!(events.contains(&"api_key_updated".to_owned()));
}

async fn rotation_shows_a_new_key_once_and_the_old_one_stops_at_once(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, tokens) = app.new_user().await;
    let old = create_key(
        &app,
        &tokens.access,
        json!({"name": "ticker", "permissions": ["positions:read"], "expires_in_days": 30}),
    )
    .await;
    let old_key = old["key"].as_str().unwrap();
    assert_eq!(me_with_key(&app, old_key).await.status(), StatusCode::OK);
    let rotate = format!("/v1/api-keys/{}/rotate", old["id"].as_str().unwrap());
    let r = call(&app, Method::POST, &rotate, &tokens.access, None).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let new: Value = r.json().await.unwrap();
    let new_key = new["key"].as_str().unwrap();
    assert_ne!(new_key, old_key);
    assert_ne!(new["id"], old["id"]);
    assert!(new_key.starts_with("ak_test_"));
    assert_eq!(new["name"], "ticker");
    assert_eq!(new["permissions"], json!(["positions:read"]));
    assert!(new["expires_at"].is_string(), "the lifetime carries over");

    // The old key is refused at once; the new one works.
    assert_error(me_with_key(&app, old_key).await, StatusCode::UNAUTHORIZED, "invalid_api_key").await;
    let me: Value = me_with_key(&app, new_key).await.json().await.unwrap();
    assert_eq!(me["permissions"], json!(["positions:read"]));
    let shown: Value = app
        .get_auth(&format!("/v1/api-keys/{}", old["id"].as_str().unwrap()), &tokens.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["status"], "revoked");
    // The new key is never shown again; a revoked key cannot be rotated.
    let shown: Value = app
        .get_auth(&format!("/v1/api-keys/{}", new["id"].as_str().unwrap()), &tokens.access)
        .await
        .json()
        .await
        .unwrap();
    assert!(shown.get("key").is_none());
    let r = call(&app, Method::POST, &rotate, &tokens.access, None).await;
    assert_error(r, StatusCode::CONFLICT, "api_key_revoked").await;
    assert!(app.audit_events(&email).await.contains(&"api_key_rotated".to_owned()));
}

/// Polls the usage endpoint until `n` uses are listed (they are written in batches).
async fn wait_for_usage(app: &TestApp, token: &str, id: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let page: Value =
            app.get_auth(&format!("/v1/api-keys/{id}/usage"), token).await.json().await.unwrap();
        let usage = page["usage"].as_array().unwrap().clone();
        if usage.len() >= n {
            return usage;
        }
        assert!(Instant::now() < deadline, "only {} of {n} uses recorded", usage.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn usage_is_recorded_with_route_and_outcome_and_moves_last_used_at(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, tokens) = app.new_user().await;
    let key = create_key(&app, &tokens.access, json!({"name": "k"})).await;
    let id = key["id"].as_str().unwrap();
    let secret = key["key"].as_str().unwrap();
    for _ in 0..2 {
        assert_eq!(me_with_key(&app, secret).await.status(), StatusCode::OK);
    }
    let usage = wait_for_usage(&app, &tokens.access, id, 2).await;
    for u in &usage {
        assert_eq!(u["route"], "/v1/users/me");
        assert_eq!(u["outcome"], "success");
        assert_eq!(u["ip"], "127.0.0.1");
        assert!(u["time"].is_string());
    }
    let shown: Value =
        app.get_auth(&format!("/v1/api-keys/{id}"), &tokens.access).await.json().await.unwrap();
    assert!(shown["last_used_at"].is_string(), "{shown}");

    // A refused use of a known key is recorded with its outcome.
    call(&app, Method::DELETE, &format!("/v1/api-keys/{id}"), &tokens.access, None).await;
    assert_eq!(me_with_key(&app, secret).await.status(), StatusCode::UNAUTHORIZED);
    let usage = wait_for_usage(&app, &tokens.access, id, 3).await;
    assert_eq!(usage.iter().filter(|u| u["outcome"] == "revoked").count(), 1, "{usage:?}");

    // Paginated.
    let page: Value = app
        .get_auth(&format!("/v1/api-keys/{id}/usage?limit=1&offset=1"), &tokens.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["usage"].as_array().unwrap().len(), 1);
    assert_eq!((page["limit"].as_i64(), page["offset"].as_i64()), (Some(1), Some(1)));
    assert_eq!(metric(&app, "user_service_api_key_usage_dropped_total", &[]).await, 0.0);
}

async fn invalid_input_is_a_json_error_never_a_panic(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, tokens) = app.new_user().await;
    for (body, code) in [
        (json!({"name": ""}), "invalid_name"),
        (json!({"name": "x".repeat(101)}), "invalid_name"),
        (json!({"name": "a\u{0}b"}), "invalid_name"),
        (json!({"name": "k", "expires_in_days": 0}), "invalid_expiry"),
        (json!({"name": "k", "expires_in_days": -5}), "invalid_expiry"),
        (json!({"name": "k", "expires_in_days": 100000}), "invalid_expiry"),
        (json!({"name": "k", "permissions": [""]}), "invalid_permissions"),
        (json!({"name": "k", "permissions": vec!["alerts:read"; 65]}), "invalid_permissions"),
        (json!({"name": "k", "trading_account_id": "../x"}), "invalid_trading_account_id"),
    ] {
        let r = call(&app, Method::POST, "/v1/api-keys", &tokens.access, Some(body.clone())).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_error(r, StatusCode::BAD_REQUEST, code).await;
    }
    let r = call(&app, Method::POST, "/v1/api-keys", &tokens.access, Some(json!({"permissions": []}))).await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    let r = app
        .client
        .post(app.url("/v1/api-keys"))
        .bearer_auth(&tokens.access)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    let long = format!("ak_test_{}", "a".repeat(10_000));
    assert_error(me_with_key(&app, &long).await, StatusCode::UNAUTHORIZED, "invalid_api_key").await;
    let empty = create_key(&app, &tokens.access, json!({"name": "identity only", "permissions": []})).await;
    assert_eq!(empty["permissions"], json!([]));
}

async fn i25_a_key_links_only_to_a_trading_account_of_its_owner(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, alice) = app.new_user().await;
    let (_, bob) = app.new_user().await;
    let credentials = json!({"api_key": "kite-api-key-0001", "api_secret": "kite-api-secret-0001"});
    let r = app
        .post_auth(
            "/v1/trading-accounts",
            &alice.access,
            json!({"broker": "kite", "label": "main", "broker_user_id": "AB1234", "credentials": credentials}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let account: Value = r.json().await.unwrap();
    let account_id = account["id"].as_str().unwrap();

    let linked =
        create_key(&app, &alice.access, json!({"name": "ticker", "trading_account_id": account_id})).await;
    assert_eq!(linked["trading_account_id"], account_id);
    let me: Value = me_with_key(&app, linked["key"].as_str().unwrap()).await.json().await.unwrap();
    assert_eq!(me["api_key"]["trading_account_id"], account_id);

    // Bob is not a member: Alice's account does not exist for him, nor does a made-up one.
    for id in [account_id, "00000000-0000-4000-8000-000000000000"] {
        let r = call(
            &app,
            Method::POST,
            "/v1/api-keys",
            &bob.access,
            Some(json!({"name": "mine", "trading_account_id": id})),
        )
        .await;
        assert_error(r, StatusCode::NOT_FOUND, "trading_account_not_found").await;
    }

    // The binding is checked at every use: once the account is gone, so is the key.
    let r =
        call(&app, Method::DELETE, &format!("/v1/trading-accounts/{account_id}"), &alice.access, None).await;
    assert!(r.status().is_success(), "deleting the account: {}", r.status());
    let r = me_with_key(&app, linked["key"].as_str().unwrap()).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

async fn i25_remote_verifier_carries_the_keys_permissions_and_drops_a_revoked_key_within_its_ttl(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, tokens) = app.new_user().await;
    let created =
        create_key(&app, &tokens.access, json!({"name": "reader", "permissions": ["positions:read"]})).await;
    let key = created["key"].as_str().unwrap();
    let ttl = Duration::from_secs(1);
    let verifier = RemoteApiKeyVerifier::new(&app.base).unwrap().positive_ttl(ttl).negative_ttl(ttl);

    let principal = verifier.verify(key).await.unwrap();
    assert_eq!(principal.user_id(), app.user_id(&email).await);
    assert_eq!(principal.email(), Some(email.as_str()));
    assert_eq!(principal.auth_method(), authgate::AuthMethod::ApiKey);
    assert_eq!(principal.permissions(), ["positions:read"]);
    assert!(principal.has_permission("positions:read"));
    assert!(!principal.has_permission("alerts:write"), "a read key carries no write permission");
    assert!(!principal.has_permission("api_keys:manage"));
    let last = if key.ends_with('x') { "y" } else { "x" };
    let typo = format!("{}{last}", &key[..key.len() - 1]);
    assert_eq!(verifier.verify(&typo).await.unwrap_err().kind(), authgate::ErrorKind::InvalidApiKey);

    let r = call(
        &app,
        Method::DELETE,
        &format!("/v1/api-keys/{}", created["id"].as_str().unwrap()),
        &tokens.access,
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // user-service refuses it at once; the verifier once its cached answer expires.
    assert_eq!(me_with_key(&app, key).await.status(), StatusCode::UNAUTHORIZED);
    tokio::time::sleep(ttl + Duration::from_millis(200)).await;
    assert_eq!(verifier.verify(key).await.unwrap_err().kind(), authgate::ErrorKind::InvalidApiKey);
}

async fn i27_keys_and_their_hashes_never_appear_in_the_logs(db: TestDb) {
    let logs = captured_logs();
    let app = TestApp::spawn(&db).await;
    let (_, tokens) = app.new_user().await;
    let created = create_key(&app, &tokens.access, json!({"name": "logged? no"})).await;
    let key = created["key"].as_str().unwrap().to_owned();
    me_with_key(&app, &key).await;
    let mut typo = key.clone().into_bytes();
    typo[30] = if typo[30] == b'Z' { b'Y' } else { b'Z' };
    let typo = String::from_utf8(typo).unwrap();
    me_with_key(&app, &typo).await;
    let rotate = format!("/v1/api-keys/{}/rotate", created["id"].as_str().unwrap());
    let rotated: Value = call(&app, Method::POST, &rotate, &tokens.access, None).await.json().await.unwrap();
    let new_key = rotated["key"].as_str().unwrap().to_owned();
    me_with_key(&app, &key).await;
    me_with_key(&app, &new_key).await;
    wait_for_usage(&app, &tokens.access, rotated["id"].as_str().unwrap(), 1).await;

    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(text.contains("API key rejected"), "the rejections were logged");
    for secret in [&key, &new_key, &typo] {
        assert!(!text.contains(&secret[8..]), "an API key is in the logs");
        assert!(!text.contains(&format::hash_hex(secret)), "an API key hash is in the logs");
    }
}
