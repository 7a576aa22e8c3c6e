//! Roles and permissions: `/v1/permissions`, `/v1/roles`, custom roles in tokens.

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::db_tests;
use crate::helpers::{PASSWORD, TestApp, TestDb, Tokens, assert_error, claims_of};

db_tests!(
    permissions_catalog_lists_every_platform_permission_with_a_description,
    system_roles_user_and_admin_are_seeded,
    admin_creates_reads_updates_and_deletes_a_custom_role_and_each_change_is_audited,
    invalid_role_bodies_are_refused_with_422_and_duplicates_with_409,
    unknown_role_ids_are_404,
    system_roles_cannot_be_deleted_and_admin_cannot_change,
    changing_the_user_role_applies_to_every_user,
    an_assigned_role_cannot_be_deleted_until_unassigned,
    a_custom_role_shows_in_the_next_access_token_and_in_users_me,
    assigning_an_unknown_role_is_422,
    role_endpoints_need_admin_roles_permissions,
    a_role_editor_cannot_grant_more_than_they_hold,
    a_new_role_never_inherits_holders_of_a_deleted_roles_name,
    a_role_change_on_one_instance_applies_on_another_within_the_cache_time,
);

const USER_PERMISSIONS: [&str; 6] = [
    "positions:read",
    "alerts:read",
    "alerts:write",
    "api_keys:manage",
    "trading_accounts:read",
    "trading_accounts:write",
];

async fn send(app: &TestApp, method: Method, path: &str, token: &str, body: Option<Value>) -> Response {
    let mut req = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.unwrap()
}

async fn create_role(app: &TestApp, admin: &str, name: &str, permissions: &[&str]) -> Value {
    let r =
        send(app, Method::POST, "/v1/roles", admin, Some(json!({"name": name, "permissions": permissions})))
            .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json().await.unwrap()
}

async fn roles(app: &TestApp, token: &str) -> Vec<Value> {
    let r = app.get_auth("/v1/roles", token).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    body["roles"].as_array().unwrap().clone()
}

async fn role_id(app: &TestApp, token: &str, name: &str) -> String {
    let all = roles(app, token).await;
    all.iter().find(|r| r["name"] == name).unwrap()["id"].as_str().unwrap().to_owned()
}

async fn set_roles(app: &TestApp, admin: &str, user_id: &str, roles: Value) -> Response {
    send(app, Method::PUT, &format!("/v1/admin/users/{user_id}/roles"), admin, Some(json!({"roles": roles})))
        .await
}

async fn login(app: &TestApp, email: &str) -> Tokens {
    let r = app.login(email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    Tokens::from_body(&r.json().await.unwrap())
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect()
}

async fn permissions_catalog_lists_every_platform_permission_with_a_description(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, admin) = app.new_admin().await;
    let r = app.get_auth("/v1/permissions", &admin.access).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    let list = body["permissions"].as_array().unwrap();
    for p in list {
        assert!(!p["description"].as_str().unwrap().is_empty(), "{p}");
    }
    let names: Vec<&str> = list.iter().map(|p| p["name"].as_str().unwrap()).collect();
    let expected = USER_PERMISSIONS.iter().copied().chain([
        "admin:delete",
        "admin:users:read",
        "admin:users:write",
        "admin:roles:read",
        "admin:roles:write",
        "admin:audit:read",
        "admin:keys:rotate",
        "admin:clients:read",
        "admin:clients:write",
        "trading_accounts:credentials:read",
    ]);
    for name in expected {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    let credentials = list.iter().find(|p| p["name"] == "trading_accounts:credentials:read").unwrap();
    assert_eq!(credentials["service_clients_only"], true);
}

async fn system_roles_user_and_admin_are_seeded(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, admin) = app.new_admin().await;
    let all = roles(&app, &admin.access).await;
    let user = all.iter().find(|r| r["name"] == "user").unwrap();
    assert_eq!(strings(&user["permissions"]), USER_PERMISSIONS);
    assert_eq!(user["system"], true);
    let admin_role = all.iter().find(|r| r["name"] == "admin").unwrap();
    assert_eq!(admin_role["permissions"], json!(["*"]));
    assert_eq!(admin_role["system"], true);
    // A new user's token carries the `user` role's permissions.
    let (_, fresh) = app.new_user().await;
    assert_eq!(strings(&claims_of(&fresh.access)["permissions"]), USER_PERMISSIONS);
}

async fn admin_creates_reads_updates_and_deletes_a_custom_role_and_each_change_is_audited(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (admin_email, admin) = app.new_admin().await;
    let r = send(
        &app,
        Method::POST,
        "/v1/roles",
        &admin.access,
        Some(json!({
            "name": "support",
            "description": "Helpdesk",
            "permissions": ["admin:users:read", "admin:audit:read", "admin:users:read"],
        })),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["name"], "support");
    assert_eq!(created["description"], "Helpdesk");
    assert_eq!(created["permissions"], json!(["admin:users:read", "admin:audit:read"]), "deduplicated");
    assert_eq!(created["system"], false);
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/roles/{id}");

    let read: Value = app.get_auth(&path, &admin.access).await.json().await.unwrap();
    assert_eq!(read, created);
    assert!(roles(&app, &admin.access).await.iter().any(|r| r["id"] == id.as_str()));

    let r = send(&app, Method::PATCH, &path, &admin.access, Some(json!({"permissions": ["admin:*"]}))).await;
    assert_eq!(r.status(), StatusCode::OK);
    let updated: Value = r.json().await.unwrap();
    assert_eq!(updated["permissions"], json!(["admin:*"]));
    assert_eq!(updated["description"], "Helpdesk", "fields not sent stay");
    let r =
        send(&app, Method::PATCH, &path, &admin.access, Some(json!({"description": "Support desk"}))).await;
    let updated: Value = r.json().await.unwrap();
    assert_eq!(updated["description"], "Support desk");
    assert_eq!(updated["permissions"], json!(["admin:*"]));

    assert_eq!(send(&app, Method::DELETE, &path, &admin.access, None).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get_auth(&path, &admin.access).await.status(), StatusCode::NOT_FOUND);

    let admin_id = app.user_id(&admin_email).await;
    let events: Vec<String> = sqlx::query("SELECT event FROM audit_events WHERE actor_id = $1")
        .bind(&admin_id)
        .fetch_all(&app.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| sqlx::Row::get(r, "event"))
        .collect();
    for event in ["role_created", "role_updated", "role_deleted"] {
        assert!(events.iter().any(|e| e == event), "{event} not in {events:?}");
    }
}

async fn invalid_role_bodies_are_refused_with_422_and_duplicates_with_409(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, admin) = app.new_admin().await;
    let post = |body: Value| send(&app, Method::POST, "/v1/roles", &admin.access, Some(body));
    let unknown = post(json!({"name": "x", "permissions": ["alerts:delete"]})).await;
    assert_error(unknown, StatusCode::UNPROCESSABLE_ENTITY, "unknown_permission").await;
    let wildcard = post(json!({"name": "x", "permissions": ["nothing:*"]})).await;
    assert_error(wildcard, StatusCode::UNPROCESSABLE_ENTITY, "unknown_permission").await;
    let service_only = post(json!({"name": "x", "permissions": ["trading_accounts:credentials:read"]})).await;
    assert_error(service_only, StatusCode::UNPROCESSABLE_ENTITY, "permission_not_grantable").await;
    for name in ["", "Support", "1st", "with space", "a,b", &"x".repeat(65)] {
        let r = post(json!({"name": name, "permissions": []})).await;
        assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_role_name").await;
    }
    let missing = post(json!({"name": "x"})).await;
    assert_error(missing, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    let long = post(json!({"name": "x", "description": "d".repeat(501), "permissions": []})).await;
    assert_error(long, StatusCode::UNPROCESSABLE_ENTITY, "invalid_description").await;

    create_role(&app, &admin.access, "support", &["alerts:read"]).await;
    let dup = post(json!({"name": "support", "permissions": []})).await;
    assert_error(dup, StatusCode::CONFLICT, "role_exists").await;
    let system_dup = post(json!({"name": "admin", "permissions": []})).await;
    assert_error(system_dup, StatusCode::CONFLICT, "role_exists").await;

    let id = role_id(&app, &admin.access, "support").await;
    let path = format!("/v1/roles/{id}");
    let rename = send(&app, Method::PATCH, &path, &admin.access, Some(json!({"name": "other"}))).await;
    assert_error(rename, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    let bad = send(&app, Method::PATCH, &path, &admin.access, Some(json!({"permissions": ["nope"]}))).await;
    assert_error(bad, StatusCode::UNPROCESSABLE_ENTITY, "unknown_permission").await;
}

async fn unknown_role_ids_are_404(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, admin) = app.new_admin().await;
    let path = "/v1/roles/00000000-0000-4000-8000-00000000dead";
    assert_error(app.get_auth(path, &admin.access).await, StatusCode::NOT_FOUND, "not_found").await;
    let patch = send(&app, Method::PATCH, path, &admin.access, Some(json!({"description": "x"}))).await;
    assert_error(patch, StatusCode::NOT_FOUND, "not_found").await;
    let delete = send(&app, Method::DELETE, path, &admin.access, None).await;
    assert_error(delete, StatusCode::NOT_FOUND, "not_found").await;
}

async fn system_roles_cannot_be_deleted_and_admin_cannot_change(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, admin) = app.new_admin().await;
    for name in ["user", "admin"] {
        let path = format!("/v1/roles/{}", role_id(&app, &admin.access, name).await);
        let r = send(&app, Method::DELETE, &path, &admin.access, None).await;
        assert_error(r, StatusCode::CONFLICT, "system_role").await;
    }
    let admin_path = format!("/v1/roles/{}", role_id(&app, &admin.access, "admin").await);
    for body in [json!({"permissions": []}), json!({"description": "x"})] {
        let r = send(&app, Method::PATCH, &admin_path, &admin.access, Some(body)).await;
        assert_error(r, StatusCode::CONFLICT, "system_role").await;
    }
    let all = roles(&app, &admin.access).await;
    assert_eq!(all.iter().find(|r| r["name"] == "admin").unwrap()["permissions"], json!(["*"]));
    assert!(all.iter().any(|r| r["name"] == "user"));
}

async fn changing_the_user_role_applies_to_every_user(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, admin) = app.new_admin().await;
    let (email, _) = app.new_user().await;
    let path = format!("/v1/roles/{}", role_id(&app, &admin.access, "user").await);
    let body = json!({"permissions": ["positions:read", "admin:audit:read"]});
    let r = send(&app, Method::PATCH, &path, &admin.access, Some(body)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let fresh = login(&app, &email).await;
    assert_eq!(strings(&claims_of(&fresh.access)["permissions"]), ["positions:read", "admin:audit:read"]);
    assert_eq!(app.get_auth("/v1/admin/audit-events", &fresh.access).await.status(), StatusCode::OK);
}

async fn an_assigned_role_cannot_be_deleted_until_unassigned(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, admin) = app.new_admin().await;
    let (email, _) = app.new_user().await;
    let user_id = app.user_id(&email).await;
    // A name that is a LIKE pattern of another role's name must not count as assigned.
    let role = create_role(&app, &admin.access, "ops_a", &["alerts:read"]).await;
    create_role(&app, &admin.access, "opsxa", &["alerts:read"]).await;
    let path = format!("/v1/roles/{}", role["id"].as_str().unwrap());
    assert_eq!(
        set_roles(&app, &admin.access, &user_id, json!(["user", "ops_a"])).await.status(),
        StatusCode::OK
    );
    let r = send(&app, Method::DELETE, &path, &admin.access, None).await;
    assert_error(r, StatusCode::CONFLICT, "role_in_use").await;
    assert_eq!(
        set_roles(&app, &admin.access, &user_id, json!(["user", "opsxa"])).await.status(),
        StatusCode::OK
    );
    assert_eq!(send(&app, Method::DELETE, &path, &admin.access, None).await.status(), StatusCode::NO_CONTENT);
}

async fn a_custom_role_shows_in_the_next_access_token_and_in_users_me(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, admin) = app.new_admin().await;
    let (email, old) = app.new_user().await;
    let user_id = app.user_id(&email).await;
    create_role(&app, &admin.access, "support", &["admin:users:read", "admin:audit:read"]).await;
    let r = set_roles(&app, &admin.access, &user_id, json!(["user", "support"])).await;
    assert_eq!(r.status(), StatusCode::OK);
    let shown: Value = r.json().await.unwrap();
    assert_eq!(shown["roles"], json!(["user", "support"]));
    assert!(strings(&shown["permissions"]).contains(&"admin:users:read".to_owned()));

    // The token issued before the change does not carry the role, yet the permission is
    // checked against the current roles: the role applies at once.
    assert_eq!(app.get_auth("/v1/admin/users", &old.access).await.status(), StatusCode::OK);
    let fresh = login(&app, &email).await;
    let claims = claims_of(&fresh.access);
    assert_eq!(claims["roles"], json!(["user", "support"]));
    let mut expected: Vec<String> = USER_PERMISSIONS.iter().map(|s| s.to_string()).collect();
    expected.extend(["admin:users:read".to_owned(), "admin:audit:read".to_owned()]);
    assert_eq!(strings(&claims["permissions"]), expected);
    let me: Value = app.get_auth("/v1/users/me", &fresh.access).await.json().await.unwrap();
    assert_eq!(strings(&me["permissions"]), expected);
    assert_eq!(app.get_auth("/v1/admin/users", &fresh.access).await.status(), StatusCode::OK);
    // Not granted: writes.
    let r = send(&app, Method::PATCH, &format!("/v1/admin/users/{user_id}"), &fresh.access, Some(json!({})))
        .await;
    assert_error(r, StatusCode::FORBIDDEN, "insufficient_scope").await;
    // Refresh also issues the role's permissions.
    let refreshed: Value = app.refresh(&fresh.refresh).await.json().await.unwrap();
    let refreshed = claims_of(refreshed["access_token"].as_str().unwrap());
    assert_eq!(strings(&refreshed["permissions"]), expected);
}

async fn assigning_an_unknown_role_is_422(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, admin) = app.new_admin().await;
    let (email, _) = app.new_user().await;
    let user_id = app.user_id(&email).await;
    let r = set_roles(&app, &admin.access, &user_id, json!(["user", "ghost"])).await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "unknown_role").await;
    let me: Value =
        app.get_auth(&format!("/v1/admin/users/{user_id}"), &admin.access).await.json().await.unwrap();
    assert_eq!(me["roles"], json!(["user"]), "nothing changed");
    // A huge list is refused before any work on it.
    let many: Vec<String> = (0..10_000).map(|i| format!("r{i}")).collect();
    let r = set_roles(&app, &admin.access, &user_id, json!(many)).await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "too_many_roles").await;
}

async fn role_endpoints_need_admin_roles_permissions(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, admin) = app.new_admin().await;
    let (email, user) = app.new_user().await;
    let user_role = role_id(&app, &admin.access, "user").await;
    let one = format!("/v1/roles/{user_role}");
    let writes = [
        (Method::POST, "/v1/roles".to_owned(), Some(json!({"name": "x", "permissions": []}))),
        (Method::PATCH, one.clone(), Some(json!({"description": "x"}))),
        (Method::DELETE, one.clone(), None),
    ];
    for path in ["/v1/permissions", "/v1/roles", one.as_str()] {
        assert_error(app.get_auth(path, &user.access).await, StatusCode::FORBIDDEN, "insufficient_scope")
            .await;
        assert_eq!(app.get(path).await.status(), StatusCode::UNAUTHORIZED);
    }
    for (method, path, body) in &writes {
        let r = send(&app, method.clone(), path, &user.access, body.clone()).await;
        assert_error(r, StatusCode::FORBIDDEN, "insufficient_scope").await;
    }
    // A reader can read but not write.
    create_role(&app, &admin.access, "role_reader", &["admin:roles:read"]).await;
    let user_id = app.user_id(&email).await;
    assert_eq!(
        set_roles(&app, &admin.access, &user_id, json!(["user", "role_reader"])).await.status(),
        StatusCode::OK
    );
    let reader = login(&app, &email).await;
    for path in ["/v1/permissions", "/v1/roles", one.as_str()] {
        assert_eq!(app.get_auth(path, &reader.access).await.status(), StatusCode::OK, "{path}");
    }
    for (method, path, body) in &writes {
        let r = send(&app, method.clone(), path, &reader.access, body.clone()).await;
        assert_error(r, StatusCode::FORBIDDEN, "insufficient_scope").await;
    }
}

/// A role name can be left on a user when a deletion races an assignment; a role created
/// later under that name must not grant its permissions to them.
async fn a_new_role_never_inherits_holders_of_a_deleted_roles_name(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, admin) = app.new_admin().await;
    let (email, _) = app.new_user().await;
    let user_id = app.user_id(&email).await;
    // The state the race leaves: the user holds `ghost`, which no role defines.
    sqlx::query("UPDATE users SET roles = 'user,ghost' WHERE id = $1")
        .bind(&user_id)
        .execute(&app.pool)
        .await
        .unwrap();
    create_role(&app, &admin.access, "ghost", &["admin:users:read"]).await;
    let me: Value =
        app.get_auth("/v1/users/me", &login(&app, &email).await.access).await.json().await.unwrap();
    assert_eq!(me["roles"], json!(["user"]), "the dangling name was removed");
    assert!(!me["permissions"].as_array().unwrap().contains(&json!("admin:users:read")));
}

/// `admin:roles:write` alone is no path to `*`: a role editor can neither assign nor
/// create nor widen a role past their own permissions (and cannot demote an admin).
async fn a_role_editor_cannot_grant_more_than_they_hold(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (admin_email, admin) = app.new_admin().await;
    let (email, _) = app.new_user().await;
    create_role(&app, &admin.access, "role_editor", &["admin:roles:read", "admin:roles:write"]).await;
    let editor_id = app.user_id(&email).await;
    let r = set_roles(&app, &admin.access, &editor_id, json!(["user", "role_editor"])).await;
    assert_eq!(r.status(), StatusCode::OK);
    let editor = login(&app, &email).await;

    // Assigning `admin` to oneself, creating a `*` role, widening `user`: all 403.
    let r = set_roles(&app, &editor.access, &editor_id, json!(["user", "role_editor", "admin"])).await;
    assert_error(r, StatusCode::FORBIDDEN, "insufficient_scope").await;
    let r = send(
        &app,
        Method::POST,
        "/v1/roles",
        &editor.access,
        Some(json!({"name": "root", "permissions": ["*"]})),
    )
    .await;
    assert_error(r, StatusCode::FORBIDDEN, "insufficient_scope").await;
    let user_role = role_id(&app, &admin.access, "user").await;
    let r = send(
        &app,
        Method::PATCH,
        &format!("/v1/roles/{user_role}"),
        &editor.access,
        Some(json!({"permissions": ["*"]})),
    )
    .await;
    assert_error(r, StatusCode::FORBIDDEN, "insufficient_scope").await;
    // Nor strip an admin (the admin's roles grant more than the editor holds).
    let admin_id = app.user_id(&admin_email).await;
    let r = set_roles(&app, &editor.access, &admin_id, json!(["user"])).await;
    assert_error(r, StatusCode::FORBIDDEN, "insufficient_scope").await;
    // Within their own permissions they can work.
    let r = send(
        &app,
        Method::POST,
        "/v1/roles",
        &editor.access,
        Some(json!({"name": "auditor_lite", "permissions": ["admin:roles:read"]})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

async fn a_role_change_on_one_instance_applies_on_another_within_the_cache_time(db: TestDb) {
    // One public URL, so each instance accepts the other's tokens.
    let shared = format!("http://shared-issuer.test/{}", crate::helpers::unique());
    let a = TestApp::spawn_with(&db, |c| c.public_url = Some(shared.clone())).await;
    let b = TestApp::spawn_with(&db, |c| c.public_url = Some(shared.clone())).await;
    let (_, admin) = a.new_admin().await;
    let (email, _) = a.new_user().await;
    let user_id = a.user_id(&email).await;
    // Created on A, assignable through B at once (existence is read from the table).
    let role = create_role(&a, &admin.access, "desk", &["alerts:read"]).await;
    assert_eq!(set_roles(&b, &admin.access, &user_id, json!(["desk"])).await.status(), StatusCode::OK);
    let on_b = login(&b, &email).await;
    let me = |token: String| {
        let b = &b;
        async move {
            let body: Value = b.get_auth("/v1/users/me", &token).await.json().await.unwrap();
            strings(&body["permissions"])
        }
    };
    assert_eq!(me(on_b.access.clone()).await, ["alerts:read"]);
    // Changed on A: B follows within its cache time (2 s).
    let path = format!("/v1/roles/{}", role["id"].as_str().unwrap());
    let r =
        send(&a, Method::PATCH, &path, &admin.access, Some(json!({"permissions": ["alerts:write"]}))).await;
    assert_eq!(r.status(), StatusCode::OK);
    let started = std::time::Instant::now();
    loop {
        if me(on_b.access.clone()).await == ["alerts:write"] {
            break;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "B still has the old permissions");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(strings(&claims_of(&login(&b, &email).await.access)["permissions"]), ["alerts:write"]);
}
