//! Trading accounts, sharing and credentials (I25, I28, I29).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;
use user_service::config::{MasterKeySource, Secret};

use crate::db_tests;
use crate::helpers::{
    PASSWORD, TEST_MASTER_KEY, TestApp, TestDb, Tokens, assert_error, captured_logs, test_config, totp_code,
    unique,
};

db_tests!(
    create_read_list_update_and_delete_an_account,
    invalid_broker_and_fields_are_422,
    members_are_added_listed_re_roled_and_removed,
    changes_are_audited_without_secrets,
    i25_a_non_member_gets_404_for_everything,
    i25_a_viewer_reads_but_every_change_is_403,
    i25_a_trader_renews_the_access_token_but_cannot_manage_the_account,
    i25_the_last_owner_cannot_be_removed_or_demoted,
    i25_members_may_leave_and_see_shared_accounts_with_their_role,
    i25_without_trading_account_permissions_every_endpoint_is_403,
    i27_credentials_never_appear_in_responses_or_logs,
    i28_the_column_holds_ciphertext_bound_to_its_account,
    i28_a_tampered_tag_fails_cleanly,
    i29_rotate_master_keeps_old_versions_readable_and_new_writes_use_the_new_one,
    i29_a_previous_env_master_key_decrypts_until_rotate_master_re_encrypts,
);

/// Credentials whose values are unique to one test (so log and response checks are
/// meaningful) and long enough that the mask shows their last 4 characters.
struct Canary {
    api_key: String,
    api_secret: String,
    access_token: String,
}

impl Canary {
    fn new() -> Canary {
        let u = unique();
        Canary {
            api_key: format!("canary-api-key-{u}-AK01"),
            api_secret: format!("canary-api-secret-{u}-SC02"),
            access_token: format!("canary-access-token-{u}-AT03"),
        }
    }

    fn json(&self) -> Value {
        json!({"api_key": self.api_key, "api_secret": self.api_secret, "access_token": self.access_token})
    }

    fn secrets(&self) -> [&str; 3] {
        [&self.api_key, &self.api_secret, &self.access_token]
    }
}

async fn create(app: &TestApp, token: &str, label: &str, creds: &Canary) -> Value {
    let r = app
        .post_auth(
            "/v1/trading-accounts",
            token,
            json!({"broker": "kite", "label": label, "broker_user_id": "AB1234", "credentials": creds.json()}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json().await.unwrap()
}

async fn patch(app: &TestApp, path: &str, token: &str, body: Value) -> Response {
    app.client.patch(app.url(path)).bearer_auth(token).json(&body).send().await.unwrap()
}

async fn delete(app: &TestApp, path: &str, token: &str) -> Response {
    app.client.delete(app.url(path)).bearer_auth(token).send().await.unwrap()
}

async fn add_member(app: &TestApp, id: &str, token: &str, email: &str, role: &str) -> Response {
    app.post_auth(&format!("/v1/trading-accounts/{id}/members"), token, json!({"email": email, "role": role}))
        .await
}

async fn stored_enc(app: &TestApp, id: &str) -> String {
    sqlx::query("SELECT credentials_enc FROM trading_accounts WHERE id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
        .get("credentials_enc")
}

async fn set_stored_enc(app: &TestApp, id: &str, enc: &str) {
    sqlx::query("UPDATE trading_accounts SET credentials_enc = $2 WHERE id = $1")
        .bind(id)
        .bind(enc)
        .execute(&app.pool)
        .await
        .unwrap();
}

fn aes_open(key: &[u8], b64: &str, aad: &str) -> Option<Vec<u8>> {
    crate::helpers::aes_256_gcm_open(key, &STANDARD.decode(b64).ok()?, aad)
}

/// Decrypts a stored credential independently of the service, following the documented
/// format: `v1:` under the env key, `v{n}:` under the data key of version n, itself
/// wrapped by the env key with `master-key-version:{n}` as associated data.
async fn decrypt_stored(app: &TestApp, env_key_b64: &str, id: &str) -> Value {
    let env_key = STANDARD.decode(env_key_b64).unwrap();
    let enc = stored_enc(app, id).await;
    let (prefix, b64) = enc.split_once(':').unwrap();
    let version: i64 = prefix.strip_prefix('v').unwrap().parse().unwrap();
    let key = if version == 1 {
        env_key
    } else {
        let wrapped: String = sqlx::query("SELECT wrapped_key FROM master_key_versions WHERE version = $1")
            .bind(version)
            .fetch_one(&app.pool)
            .await
            .unwrap()
            .get("wrapped_key");
        let wrapped = wrapped.strip_prefix("v1:").unwrap();
        aes_open(&env_key, wrapped, &format!("master-key-version:{version}")).expect("data key unwraps")
    };
    serde_json::from_slice(&aes_open(&key, b64, id).expect("credentials decrypt")).unwrap()
}

fn assert_no_secret(text: &str, creds: &Canary) {
    for s in creds.secrets() {
        assert!(!text.contains(s), "a credential leaked: {text}");
    }
}

async fn create_read_list_update_and_delete_an_account(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, t) = app.new_user().await;
    let creds = Canary::new();
    let created = create(&app, &t.access, "Main", &creds).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["broker"], "kite");
    assert_eq!(created["label"], "Main");
    assert_eq!(created["broker_user_id"], "AB1234");
    assert_eq!(created["subscription_tier"], "free");
    assert_eq!(created["role"], "owner");
    assert_eq!(
        created["credentials"],
        json!({"api_key": "****AK01", "api_secret": "****SC02", "access_token": "****AT03"})
    );

    let r = app.get_auth(&format!("/v1/trading-accounts/{id}"), &t.access).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["credentials"], created["credentials"]);
    let list: Value = app.get_auth("/v1/trading-accounts", &t.access).await.json().await.unwrap();
    assert_eq!(list["trading_accounts"].as_array().unwrap().len(), 1);
    assert_eq!(list["trading_accounts"][0]["id"], id);
    let mine: Value = app.get_auth("/v1/users/me/accounts", &t.access).await.json().await.unwrap();
    assert_eq!(mine["owned"][0]["id"], id);
    assert_eq!(mine["owned"][0]["role"], "owner");
    assert_eq!(mine["shared"], json!([]));

    // Label and a partial credential change (the others are kept, re-encrypted).
    let r = patch(
        &app,
        &format!("/v1/trading-accounts/{id}"),
        &t.access,
        json!({"label": "Renamed", "credentials": {"api_secret": "new-secret-value-NEW9"}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let updated: Value = r.json().await.unwrap();
    assert_eq!(updated["label"], "Renamed");
    assert_eq!(updated["subscription_tier"], "free");
    assert_eq!(updated["credentials"]["api_secret"], "****NEW9");
    assert_eq!(updated["credentials"]["api_key"], "****AK01");
    let plain = decrypt_stored(&app, TEST_MASTER_KEY, &id).await;
    assert_eq!(plain["api_key"], creds.api_key);
    assert_eq!(plain["api_secret"], "new-secret-value-NEW9");
    assert_eq!(plain["access_token"], creds.access_token);
    let r =
        patch(&app, &format!("/v1/trading-accounts/{id}"), &t.access, json!({"subscription_tier": "gold"}))
            .await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_subscription_tier").await;
    // The tier is billing: an owner does not upgrade their own account...
    let r =
        patch(&app, &format!("/v1/trading-accounts/{id}"), &t.access, json!({"subscription_tier": "pro"}))
            .await;
    assert_error(r, StatusCode::FORBIDDEN, "insufficient_scope").await;
    // ...someone holding admin:billing:write (here an admin, on an account of theirs) does.
    let (_, admin) = app.new_admin().await;
    let admins = create(&app, &admin.access, "Desk", &Canary::new()).await["id"].as_str().unwrap().to_owned();
    let r = patch(
        &app,
        &format!("/v1/trading-accounts/{admins}"),
        &admin.access,
        json!({"subscription_tier": "pro"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["subscription_tier"], "pro");

    assert_eq!(
        delete(&app, &format!("/v1/trading-accounts/{id}"), &t.access).await.status(),
        StatusCode::NO_CONTENT
    );
    let r = app.get_auth(&format!("/v1/trading-accounts/{id}"), &t.access).await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let list: Value = app.get_auth("/v1/trading-accounts", &t.access).await.json().await.unwrap();
    assert_eq!(list["trading_accounts"], json!([]));
    let left: i64 =
        sqlx::query("SELECT COUNT(*) AS n FROM trading_account_memberships WHERE account_id = $1")
            .bind(&id)
            .fetch_one(&app.pool)
            .await
            .unwrap()
            .get("n");
    assert_eq!(left, 0);
}

async fn invalid_broker_and_fields_are_422(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, t) = app.new_user().await;
    let creds = Canary::new();
    let body = |broker: &str, label: &str, api_key: &str| json!({"broker": broker, "label": label, "broker_user_id": "AB1", "credentials": {"api_key": api_key, "api_secret": creds.api_secret}});
    let r = app.post_auth("/v1/trading-accounts", &t.access, body("zerodha-unknown", "x", "k")).await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "unsupported_broker").await;
    let r = app.post_auth("/v1/trading-accounts", &t.access, body("kite", "  ", "k")).await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_label").await;
    let r = app.post_auth("/v1/trading-accounts", &t.access, body("kite", "x", "")).await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_credentials_format").await;
    let r = app
        .post_auth(
            "/v1/trading-accounts",
            &t.access,
            json!({"broker": "kite", "label": "x", "broker_user_id": "AB1"}),
        )
        .await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    // The access token is optional and shows as null.
    let r = app.post_auth("/v1/trading-accounts", &t.access, body("kite", "x", "short")).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["credentials"], json!({"api_key": "****", "api_secret": "****SC02", "access_token": null}));
}

async fn members_are_added_listed_re_roled_and_removed(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (owner_email, owner) = app.new_user().await;
    let (viewer_email, viewer) = app.new_user().await;
    let id = create(&app, &owner.access, "Shared", &Canary::new()).await["id"].as_str().unwrap().to_owned();
    let r = add_member(&app, &id, &owner.access, &viewer_email.to_uppercase(), "viewer").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let m: Value = r.json().await.unwrap();
    let viewer_id = app.user_id(&viewer_email).await;
    assert_eq!(m["user_id"], viewer_id);
    assert_eq!(m["role"], "viewer");
    assert_eq!(m["email"], viewer_email);

    let r = app.get_auth(&format!("/v1/trading-accounts/{id}/members"), &viewer.access).await;
    assert_eq!(r.status(), StatusCode::OK);
    let members: Value = r.json().await.unwrap();
    let roles: Vec<(String, String)> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["email"].as_str().unwrap().to_owned(), m["role"].as_str().unwrap().to_owned()))
        .collect();
    assert!(roles.contains(&(owner_email.clone(), "owner".into())));
    assert!(roles.contains(&(viewer_email.clone(), "viewer".into())));

    // Re-adding changes the role (200), the same role again changes nothing (200).
    let r = add_member(&app, &id, &owner.access, &viewer_email, "trader").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["role"], "trader");
    assert_eq!(add_member(&app, &id, &owner.access, &viewer_email, "trader").await.status(), StatusCode::OK);

    let r = add_member(&app, &id, &owner.access, "nobody-here@example.com", "viewer").await;
    assert_error(r, StatusCode::NOT_FOUND, "user_not_found").await;
    let r = add_member(&app, &id, &owner.access, &viewer_email, "admin").await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_role").await;

    let path = format!("/v1/trading-accounts/{id}/members/{viewer_id}");
    assert_eq!(delete(&app, &path, &owner.access).await.status(), StatusCode::NO_CONTENT);
    assert_error(delete(&app, &path, &owner.access).await, StatusCode::NOT_FOUND, "not_found").await;
    let r = app.get_auth(&format!("/v1/trading-accounts/{id}"), &viewer.access).await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
}

async fn changes_are_audited_without_secrets(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, t) = app.new_user().await;
    let (other_email, _) = app.new_user().await;
    let creds = Canary::new();
    let id = create(&app, &t.access, "Audited", &creds).await["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/trading-accounts/{id}");
    patch(&app, &path, &t.access, json!({"label": "L2"})).await;
    patch(&app, &path, &t.access, json!({"credentials": {"access_token": "renewed-access-token-RN01"}}))
        .await;
    add_member(&app, &id, &t.access, &other_email, "viewer").await;
    let other_id = app.user_id(&other_email).await;
    delete(&app, &format!("{path}/members/{other_id}"), &t.access).await;
    delete(&app, &path, &t.access).await;
    let events = app.audit_events(&email).await;
    for e in [
        "trading_account_created",
        "trading_account_updated",
        "trading_account_credentials_changed",
        "trading_account_member_added",
        "trading_account_member_removed",
        "trading_account_deleted",
    ] {
        assert!(events.iter().any(|x| x == e), "{e} missing from {events:?}");
    }
    let details: Vec<String> = sqlx::query("SELECT details FROM audit_events WHERE details IS NOT NULL")
        .fetch_all(&app.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get("details"))
        .collect();
    let all = details.join("\n");
    assert!(all.contains(&id));
    assert_no_secret(&all, &creds);
    assert!(!all.contains("renewed-access-token-RN01"));
}

async fn i25_a_non_member_gets_404_for_everything(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (owner_email, owner) = app.new_user().await;
    let (stranger_email, stranger) = app.new_user().await;
    let id = create(&app, &owner.access, "Private", &Canary::new()).await["id"].as_str().unwrap().to_owned();
    let owner_id = app.user_id(&owner_email).await;
    let missing = "00000000-0000-4000-8000-000000000000";
    for target in [id.as_str(), missing] {
        let base = format!("/v1/trading-accounts/{target}");
        let s = &stranger.access;
        let responses = vec![
            app.get_auth(&base, s).await,
            patch(&app, &base, s, json!({"label": "mine now"})).await,
            delete(&app, &base, s).await,
            app.get_auth(&format!("{base}/members"), s).await,
            add_member(&app, target, s, &stranger_email, "owner").await,
            delete(&app, &format!("{base}/members/{owner_id}"), s).await,
        ];
        for r in responses {
            assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
        }
    }
    let list: Value = app.get_auth("/v1/trading-accounts", &stranger.access).await.json().await.unwrap();
    assert_eq!(list["trading_accounts"], json!([]));
    // Nothing changed.
    let v: Value =
        app.get_auth(&format!("/v1/trading-accounts/{id}"), &owner.access).await.json().await.unwrap();
    assert_eq!(v["label"], "Private");
}

/// An account owned by `owner` with a fresh member of `role`: `(id, member email, member tokens)`.
async fn shared_with(app: &TestApp, owner: &Tokens, role: &str) -> (String, String, Tokens) {
    let (email, tokens) = app.new_user().await;
    let id = create(app, &owner.access, "Shared", &Canary::new()).await["id"].as_str().unwrap().to_owned();
    assert_eq!(add_member(app, &id, &owner.access, &email, role).await.status(), StatusCode::CREATED);
    (id, email, tokens)
}

async fn i25_a_viewer_reads_but_every_change_is_403(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (owner_email, owner) = app.new_user().await;
    let (id, viewer_email, viewer) = shared_with(&app, &owner, "viewer").await;
    let base = format!("/v1/trading-accounts/{id}");
    let v = &viewer.access;
    let r = app.get_auth(&base, v).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["role"], "viewer");
    assert_eq!(app.get_auth(&format!("{base}/members"), v).await.status(), StatusCode::OK);
    let owner_id = app.user_id(&owner_email).await;
    let (third_email, _) = app.new_user().await;
    let responses = vec![
        patch(&app, &base, v, json!({"label": "x"})).await,
        patch(&app, &base, v, json!({"credentials": {"access_token": "viewer-token-xxxx"}})).await,
        patch(&app, &base, v, json!({})).await,
        delete(&app, &base, v).await,
        add_member(&app, &id, v, &third_email, "viewer").await,
        add_member(&app, &id, v, &viewer_email, "owner").await,
        delete(&app, &format!("{base}/members/{owner_id}"), v).await,
    ];
    for r in responses {
        assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let after: Value = app.get_auth(&base, &owner.access).await.json().await.unwrap();
    assert_eq!(after["label"], "Shared");
}

async fn i25_a_trader_renews_the_access_token_but_cannot_manage_the_account(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (owner_email, owner) = app.new_user().await;
    let (id, trader_email, trader) = shared_with(&app, &owner, "trader").await;
    let base = format!("/v1/trading-accounts/{id}");
    let tr = &trader.access;
    let r =
        patch(&app, &base, tr, json!({"credentials": {"access_token": "daily-session-token-DS77"}})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["credentials"]["access_token"], "****DS77");
    assert_eq!(v["role"], "trader");
    assert_eq!(decrypt_stored(&app, TEST_MASTER_KEY, &id).await["access_token"], "daily-session-token-DS77");
    let owner_id = app.user_id(&owner_email).await;
    let (third_email, _) = app.new_user().await;
    let responses = vec![
        patch(&app, &base, tr, json!({"label": "x"})).await,
        patch(&app, &base, tr, json!({"credentials": {"api_secret": "trader-secret-xxxx"}})).await,
        patch(&app, &base, tr, json!({"credentials": {"api_key": "k", "access_token": "t"}})).await,
        delete(&app, &base, tr).await,
        add_member(&app, &id, tr, &third_email, "viewer").await,
        add_member(&app, &id, tr, &trader_email, "owner").await,
        delete(&app, &format!("{base}/members/{owner_id}"), tr).await,
    ];
    // The tier needs admin:billing:write, whatever the member's role.
    let r = patch(&app, &base, tr, json!({"subscription_tier": "enterprise"})).await;
    assert_error(r, StatusCode::FORBIDDEN, "insufficient_scope").await;
    for r in responses {
        assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    }
    assert_eq!(app.get_auth(&format!("{base}/members"), tr).await.status(), StatusCode::OK);
}

async fn i25_the_last_owner_cannot_be_removed_or_demoted(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (owner_email, owner) = app.new_user().await;
    let owner_id = app.user_id(&owner_email).await;
    let (id, second_email, second) = shared_with(&app, &owner, "viewer").await;
    let base = format!("/v1/trading-accounts/{id}");
    let r = add_member(&app, &id, &owner.access, &owner_email, "viewer").await;
    assert_error(r, StatusCode::CONFLICT, "last_owner").await;
    let r = delete(&app, &format!("{base}/members/{owner_id}"), &owner.access).await;
    assert_error(r, StatusCode::CONFLICT, "last_owner").await;
    // With a second owner, the first may step down; then the second is the last one.
    assert_eq!(add_member(&app, &id, &owner.access, &second_email, "owner").await.status(), StatusCode::OK);
    let r = add_member(&app, &id, &second.access, &owner_email, "trader").await;
    assert_eq!(r.status(), StatusCode::OK);
    let second_id = app.user_id(&second_email).await;
    let r = delete(&app, &format!("{base}/members/{second_id}"), &second.access).await;
    assert_error(r, StatusCode::CONFLICT, "last_owner").await;
    // The demoted owner is a trader now: no more member management.
    let r = delete(&app, &format!("{base}/members/{second_id}"), &owner.access).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    // The owner can do everything, deletion included.
    let r = patch(
        &app,
        &base,
        &second.access,
        json!({"label": "Owned", "credentials": {"api_key": "owner-new-key-OK11"}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(delete(&app, &base, &second.access).await.status(), StatusCode::NO_CONTENT);
}

async fn i25_members_may_leave_and_see_shared_accounts_with_their_role(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, owner) = app.new_user().await;
    let (id, email, member) = shared_with(&app, &owner, "viewer").await;
    let own = create(&app, &member.access, "Own", &Canary::new()).await["id"].as_str().unwrap().to_owned();
    let mine: Value = app.get_auth("/v1/users/me/accounts", &member.access).await.json().await.unwrap();
    assert_eq!(mine["owned"].as_array().unwrap().len(), 1);
    assert_eq!(mine["owned"][0]["id"], own);
    assert_eq!(mine["shared"].as_array().unwrap().len(), 1);
    assert_eq!(mine["shared"][0]["id"], id);
    assert_eq!(mine["shared"][0]["role"], "viewer");
    assert!(mine["shared"][0].get("credentials").is_none());
    let list: Value = app.get_auth("/v1/trading-accounts", &member.access).await.json().await.unwrap();
    assert_eq!(list["trading_accounts"].as_array().unwrap().len(), 2);
    // Leaving is allowed to any member.
    let me_id = app.user_id(&email).await;
    let r = delete(&app, &format!("/v1/trading-accounts/{id}/members/{me_id}"), &member.access).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let mine: Value = app.get_auth("/v1/users/me/accounts", &member.access).await.json().await.unwrap();
    assert_eq!(mine["shared"], json!([]));
}

async fn i25_without_trading_account_permissions_every_endpoint_is_403(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (email, t) = app.new_user().await;
    let id = create(&app, &t.access, "Mine", &Canary::new()).await["id"].as_str().unwrap().to_owned();
    // No role, so no permissions; the token stays valid (permissions follow the roles).
    sqlx::query("UPDATE users SET roles = '' WHERE email = $1")
        .bind(&email)
        .execute(&app.pool)
        .await
        .unwrap();
    let base = format!("/v1/trading-accounts/{id}");
    let me_id = app.user_id(&email).await;
    let responses = vec![
        app.get_auth("/v1/trading-accounts", &t.access).await,
        app.get_auth("/v1/users/me/accounts", &t.access).await,
        app.get_auth(&base, &t.access).await,
        app.get_auth(&format!("{base}/members"), &t.access).await,
        app.post_auth("/v1/trading-accounts", &t.access, json!({"broker": "kite", "label": "x", "broker_user_id": "y", "credentials": Canary::new().json()})).await,
        patch(&app, &base, &t.access, json!({"label": "x"})).await,
        delete(&app, &base, &t.access).await,
        add_member(&app, &id, &t.access, &email, "viewer").await,
        delete(&app, &format!("{base}/members/{me_id}"), &t.access).await,
    ];
    for r in responses {
        assert_error(r, StatusCode::FORBIDDEN, "insufficient_scope").await;
    }
}

async fn i27_credentials_never_appear_in_responses_or_logs(db: TestDb) {
    let logs = captured_logs();
    let app = TestApp::spawn(&db).await;
    let (_, t) = app.new_user().await;
    let (viewer_email, viewer) = app.new_user().await;
    let creds = Canary::new();
    let mut bodies = Vec::new();
    let r = app
        .post_auth(
            "/v1/trading-accounts",
            &t.access,
            json!({"broker": "kite", "label": "Logs", "broker_user_id": "AB1", "credentials": creds.json()}),
        )
        .await;
    let created = r.text().await.unwrap();
    let id = serde_json::from_str::<Value>(&created).unwrap()["id"].as_str().unwrap().to_owned();
    bodies.push(created);
    let base = format!("/v1/trading-accounts/{id}");
    bodies.push(add_member(&app, &id, &t.access, &viewer_email, "viewer").await.text().await.unwrap());
    for token in [&t.access, &viewer.access] {
        for path in [
            base.clone(),
            "/v1/trading-accounts".into(),
            "/v1/users/me/accounts".into(),
            format!("{base}/members"),
        ] {
            bodies.push(app.get_auth(&path, token).await.text().await.unwrap());
        }
    }
    let fresh = Canary::new();
    bodies.push(
        patch(&app, &base, &t.access, json!({"credentials": fresh.json()})).await.text().await.unwrap(),
    );
    bodies.push(
        patch(&app, &base, &viewer.access, json!({"credentials": fresh.json()})).await.text().await.unwrap(),
    );
    // A failing decryption must not leak either.
    set_stored_enc(&app, &id, "v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").await;
    bodies.push(
        patch(&app, &base, &t.access, json!({"credentials": {"access_token": creds.access_token}}))
            .await
            .text()
            .await
            .unwrap(),
    );
    let all = bodies.join("\n");
    assert!(all.contains("****AK01"));
    assert_no_secret(&all, &creds);
    assert_no_secret(&all, &fresh);
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(text.contains("internal error"), "the failed decryption was logged");
    assert_no_secret(&text, &creds);
    assert_no_secret(&text, &fresh);
}

async fn i28_the_column_holds_ciphertext_bound_to_its_account(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, t) = app.new_user().await;
    let (a_creds, b_creds) = (Canary::new(), Canary::new());
    let a = create(&app, &t.access, "A", &a_creds).await["id"].as_str().unwrap().to_owned();
    let b = create(&app, &t.access, "B", &b_creds).await["id"].as_str().unwrap().to_owned();
    let row = sqlx::query("SELECT * FROM trading_accounts WHERE id = $1")
        .bind(&a)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let mut stored = String::new();
    for i in 0..row.len() {
        if let Ok(Some(v)) = row.try_get::<Option<String>, _>(i) {
            stored.push_str(&v);
            stored.push('\n');
        }
    }
    assert_no_secret(&stored, &a_creds);
    let a_enc = stored_enc(&app, &a).await;
    assert!(a_enc.starts_with("v1:"), "{a_enc}");
    let raw = STANDARD.decode(&a_enc[3..]).unwrap();
    assert!(raw.len() > 12 + 16, "nonce, ciphertext and tag");
    assert_eq!(decrypt_stored(&app, TEST_MASTER_KEY, &a).await["api_secret"], a_creds.api_secret);
    // Two encryptions of the same credentials differ (random nonces).
    let r = patch(
        &app,
        &format!("/v1/trading-accounts/{a}"),
        &t.access,
        json!({"credentials": {"api_key": a_creds.api_key}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let a_enc2 = stored_enc(&app, &a).await;
    assert_ne!(a_enc, a_enc2);
    assert_ne!(raw[..12], STANDARD.decode(&a_enc2[3..]).unwrap()[..12]);

    // A's ciphertext in B's row: refused, never decrypted as B's (or A's) credentials.
    set_stored_enc(&app, &b, &a_enc2).await;
    let r = patch(
        &app,
        &format!("/v1/trading-accounts/{b}"),
        &t.access,
        json!({"credentials": {"access_token": "swap-attempt-SW01"}}),
    )
    .await;
    let body = assert_error(r, StatusCode::INTERNAL_SERVER_ERROR, "internal_error").await;
    assert_no_secret(&body.to_string(), &a_creds);
    assert_eq!(stored_enc(&app, &b).await, a_enc2, "nothing was written");
    // The service is still fine, and B is still readable (masked values need no decryption).
    let r = app.get_auth(&format!("/v1/trading-accounts/{b}"), &t.access).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["credentials"]["api_key"], "****AK01");
}

async fn i28_a_tampered_tag_fails_cleanly(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, t) = app.new_user().await;
    let creds = Canary::new();
    let id = create(&app, &t.access, "T", &creds).await["id"].as_str().unwrap().to_owned();
    let enc = stored_enc(&app, &id).await;
    let mut raw = STANDARD.decode(&enc[3..]).unwrap();
    let last = raw.len() - 1;
    raw[last] ^= 0x01;
    let path = format!("/v1/trading-accounts/{id}");
    let change = json!({"credentials": {"access_token": "after-tamper-TT01"}});
    for bad in [
        format!("v1:{}", STANDARD.encode(&raw)),
        "v1:not base64!".to_owned(),
        "v9:AAAA".to_owned(),
        "garbage".to_owned(),
    ] {
        set_stored_enc(&app, &id, &bad).await;
        let r = patch(&app, &path, &t.access, change.clone()).await;
        assert_error(r, StatusCode::INTERNAL_SERVER_ERROR, "internal_error").await;
        assert_eq!(stored_enc(&app, &id).await, bad);
    }
    // Restoring the genuine ciphertext makes it work again.
    set_stored_enc(&app, &id, &enc).await;
    assert_eq!(patch(&app, &path, &t.access, change).await.status(), StatusCode::OK);
    assert_eq!(decrypt_stored(&app, TEST_MASTER_KEY, &id).await["api_key"], creds.api_key);
}

async fn i29_rotate_master_keeps_old_versions_readable_and_new_writes_use_the_new_one(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    // A second instance on the same database, running before and after the rotation.
    let other = TestApp::spawn(&db).await;
    let (email, t) = app.new_user().await;
    let creds = Canary::new();
    let old = create(&app, &t.access, "Old", &creds).await["id"].as_str().unwrap().to_owned();
    let v1 = stored_enc(&app, &old).await;
    assert!(v1.starts_with("v1:"));

    let out = user_service::rotate_master_key(test_config(&db)).await.expect("rotation succeeds");
    assert!(out.contains("version 2"), "{out}");
    assert!(out.contains("Re-encrypted 1 of 1"), "{out}");
    // Existing credentials were re-encrypted with version 2, same plaintext.
    assert!(stored_enc(&app, &old).await.starts_with("v2:"));
    assert_eq!(decrypt_stored(&app, TEST_MASTER_KEY, &old).await["api_secret"], creds.api_secret);
    // Both running instances write version 2 at once, without a restart. (Each instance
    // is its own issuer here, so the user logs in on each.)
    let t_other = Tokens::from_body(&other.login(&email, PASSWORD).await.json().await.unwrap());
    for (instance, token) in [(&app, &t), (&other, &t_other)] {
        let id =
            create(instance, &token.access, "New", &Canary::new()).await["id"].as_str().unwrap().to_owned();
        assert!(stored_enc(instance, &id).await.starts_with("v2:"));
    }
    // A version-1 ciphertext (e.g. restored from a backup) still decrypts; rewriting it
    // uses the newest version.
    set_stored_enc(&app, &old, &v1).await;
    let path = format!("/v1/trading-accounts/{old}");
    let r =
        patch(&other, &path, &t_other.access, json!({"credentials": {"access_token": "post-rotation-PR01"}}))
            .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(stored_enc(&app, &old).await.starts_with("v2:"));
    let plain = decrypt_stored(&app, TEST_MASTER_KEY, &old).await;
    assert_eq!(plain["api_key"], creds.api_key);
    assert_eq!(plain["access_token"], "post-rotation-PR01");

    // A second rotation: version 2 keeps decrypting, new writes use version 3.
    let v2 = stored_enc(&app, &old).await;
    let out = user_service::rotate_master_key(test_config(&db)).await.unwrap();
    assert!(out.contains("version 3"), "{out}");
    set_stored_enc(&app, &old, &v2).await;
    let r =
        patch(&app, &path, &t.access, json!({"credentials": {"access_token": "third-version-TV01"}})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(stored_enc(&app, &old).await.starts_with("v3:"));
    assert_eq!(decrypt_stored(&app, TEST_MASTER_KEY, &old).await["api_secret"], creds.api_secret);
    let versions: i64 = sqlx::query("SELECT COUNT(*) AS n FROM master_key_versions")
        .fetch_one(&app.pool)
        .await
        .unwrap()
        .get("n");
    assert_eq!(versions, 2, "versions 2 and 3 are stored; version 1 is the env key");
    // The data keys are stored wrapped, never in the clear.
    let wrapped: Vec<String> = sqlx::query("SELECT wrapped_key FROM master_key_versions")
        .fetch_all(&app.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get("wrapped_key"))
        .collect();
    assert!(wrapped.iter().all(|w| w.starts_with("v1:")));
}

async fn i29_a_previous_env_master_key_decrypts_until_rotate_master_re_encrypts(db: TestDb) {
    const NEW_KEY: &str = "bmV3LW1hc3Rlci1rZXktZm9yLWludGVncmF0aW9ucyE=";
    let app = TestApp::spawn(&db).await;
    let (email, _) = app.new_user().await;
    let t = Tokens::from_body(&app.login(&email, PASSWORD).await.json().await.unwrap());
    let (c1, c2) = (Canary::new(), Canary::new());
    let before = create(&app, &t.access, "v1", &c1).await["id"].as_str().unwrap().to_owned();
    // A second user with TOTP on: that secret is sealed with the env key too.
    let (mfa_email, mfa_tokens) = app.new_user().await;
    let setup: Value = app
        .post_auth("/v1/users/me/mfa/totp/setup", &mfa_tokens.access, json!({}))
        .await
        .json()
        .await
        .unwrap();
    let totp_secret = setup["secret"].as_str().unwrap().to_owned();
    let r = app
        .post_auth(
            "/v1/users/me/mfa/totp/enable",
            &mfa_tokens.access,
            json!({"code": totp_code(&totp_secret, 0)}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let jwks_before: Value = app.get("/v1/auth/.well-known/jwks.json").await.json().await.unwrap();
    let before_v1 = stored_enc(&app, &before).await;
    user_service::rotate_master_key(test_config(&db)).await.unwrap();
    set_stored_enc(&app, &before, &before_v1).await;
    let after = create(&app, &t.access, "v2", &c2).await["id"].as_str().unwrap().to_owned();
    assert!(stored_enc(&app, &after).await.starts_with("v2:"));

    // The env key changes, the old one becomes the previous key: signing keys, TOTP secrets
    // and credentials all still open.
    let new_env = |c: &mut user_service::Config| {
        c.master_key = MasterKeySource::Env(Secret::new(NEW_KEY));
    };
    let with_previous = |c: &mut user_service::Config| {
        new_env(c);
        c.previous_master_key = Some(Secret::new(TEST_MASTER_KEY));
    };
    let changed = TestApp::spawn_with(&db, with_previous).await;
    let t = Tokens::from_body(&changed.login(&email, PASSWORD).await.json().await.unwrap());
    let token_change = json!({"credentials": {"access_token": "with-previous-WP01"}});
    for id in [&before, &after] {
        let r = patch(&changed, &format!("/v1/trading-accounts/{id}"), &t.access, token_change.clone()).await;
        assert_eq!(r.status(), StatusCode::OK, "v1 and a version wrapped by the previous key decrypt");
    }
    set_stored_enc(&app, &before, &before_v1).await;

    let mut config = test_config(&db);
    with_previous(&mut config);
    let out = user_service::rotate_master_key(config).await.unwrap();
    assert!(out.contains("version 3"), "{out}");
    assert!(out.contains("re-wrapped 1"), "{out}");
    assert!(out.contains("Re-encrypted 2 of 2"), "{out}");
    assert!(out.contains("0 did not decrypt"), "{out}");
    // Everything now decrypts under the new env key alone: the same signing key signs,
    // the TOTP secret checks codes, the credentials open.
    let only_new = TestApp::spawn_with(&db, new_env).await;
    let jwks_after: Value = only_new.get("/v1/auth/.well-known/jwks.json").await.json().await.unwrap();
    assert_eq!(jwks_after, jwks_before, "the signing key survived the env-key change");
    let r = only_new.login(&mfa_email, PASSWORD).await;
    let mfa_token = r.json::<Value>().await.unwrap()["mfa_token"].as_str().unwrap().to_owned();
    let r = only_new
        .post("/v1/auth/login/mfa", json!({"mfa_token": mfa_token, "code": totp_code(&totp_secret, 1)}))
        .await;
    assert_eq!(r.status(), StatusCode::OK, "the TOTP secret opens under the new key");
    let t = Tokens::from_body(&only_new.login(&email, PASSWORD).await.json().await.unwrap());
    for (id, c) in [(&before, &c1), (&after, &c2)] {
        assert!(stored_enc(&only_new, id).await.starts_with("v3:"));
        assert_eq!(decrypt_stored(&only_new, NEW_KEY, id).await["api_secret"], c.api_secret);
        let r =
            patch(&only_new, &format!("/v1/trading-accounts/{id}"), &t.access, token_change.clone()).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
}
