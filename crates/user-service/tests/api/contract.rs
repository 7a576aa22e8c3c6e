//! Regressions of what the contract test (`tests/contract/run.sh`, Schemathesis against
//! `/openapi.json`) found: answers the document did not state, and requests the service
//! accepted although the document forbids them.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::db_tests;
use crate::helpers::{TestApp, TestDb, assert_error};

db_tests!(
    contract_paging_out_of_range_is_a_json_400,
    contract_logout_refuses_a_body_of_the_wrong_shape,
    contract_json_bodies_must_be_objects,
    contract_resend_checks_an_email_sent_beside_a_token,
    contract_api_key_lifetime_may_be_written_as_a_whole_float,
    contract_credential_lengths_count_characters,
);

/// `limit` and `offset` were clamped, or refused by axum in plain text; the document
/// now states their range and the service answers 400 in its JSON shape.
async fn contract_paging_out_of_range_is_a_json_400(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, admin) = app.new_admin().await;
    for query in ["limit=0", "limit=201", "offset=-1", "offset=9223372036854775808", "limit=ten"] {
        for list in
            ["/v1/users/me/audit-events", "/v1/admin/users", "/v1/admin/audit-events", "/v1/admin/clients"]
        {
            let r = app.get_auth(&format!("{list}?{query}"), &admin.access).await;
            assert_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
        }
    }
    let r = app.get_auth("/v1/admin/users?limit=200&offset=0", &admin.access).await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// A logout whose body was not a `{"refresh_token": string}` answered 204 (and fell back
/// to the cookie or the bearer token); it is refused now and revokes nothing.
async fn contract_logout_refuses_a_body_of_the_wrong_shape(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, tokens) = app.new_user().await;
    let send = |body: &'static str| {
        app.client
            .post(app.url("/v1/auth/logout"))
            .bearer_auth(&tokens.access)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for (body, status) in [
        (r#"{"refresh_token": 5}"#, StatusCode::UNPROCESSABLE_ENTITY),
        (r#"["token"]"#, StatusCode::UNPROCESSABLE_ENTITY),
        ("(not json", StatusCode::BAD_REQUEST),
    ] {
        assert_error(send(body).await.unwrap(), status, "invalid_request").await;
    }
    assert_eq!(app.get_auth("/v1/users/me", &tokens.access).await.status(), StatusCode::OK);
    assert_eq!(send("").await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get_auth("/v1/users/me", &tokens.access).await.status(), StatusCode::UNAUTHORIZED);
}

/// serde builds a struct from a JSON array too (`[null, null]` was a valid role patch).
async fn contract_json_bodies_must_be_objects(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, admin) = app.new_admin().await;
    let user_role = "00000000-0000-4000-8000-000000000001";
    let r = app
        .client
        .patch(app.url(&format!("/v1/roles/{user_role}")))
        .bearer_auth(&admin.access)
        .json(&json!([null, null]))
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    let r = app.post("/v1/auth/login", json!(["someone@example.com", "a password"])).await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
}

/// With a bearer token the body was never read: `{"email": {}}` or a malformed address
/// answered 202.
async fn contract_resend_checks_an_email_sent_beside_a_token(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, tokens) = app.new_user().await;
    let resend = "/v1/auth/email/verify/resend";
    let r = app.post_auth(resend, &tokens.access, json!({"email": {}})).await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    let r = app.post_auth(resend, &tokens.access, json!({"email": "not an address"})).await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_email").await;
    let r = app.post_auth(resend, &tokens.access, json!({})).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
}

/// JSON Schema's integers include `30.0`; serde's `i64` refused it with 422.
async fn contract_api_key_lifetime_may_be_written_as_a_whole_float(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, tokens) = app.new_user().await;
    let r =
        app.post_auth("/v1/api-keys", &tokens.access, json!({"name": "ci", "expires_in_days": 30.0})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r =
        app.post_auth("/v1/api-keys", &tokens.access, json!({"name": "ci", "expires_in_days": 30.5})).await;
    assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
}

/// Broker credentials were limited in bytes while the document counts characters (256).
async fn contract_credential_lengths_count_characters(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, tokens) = app.new_user().await;
    let secret = "é".repeat(200);
    let account = json!({"broker": "kite", "label": "Main", "broker_user_id": "ZX0042",
        "credentials": {"api_key": "k-0042", "api_secret": secret}});
    let r = app.post_auth("/v1/trading-accounts", &tokens.access, account).await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

/// The document states the rules the service applies to what the contract test sends:
/// the refused common passwords, the permissions a role may grant, a client's scopes.
#[tokio::test]
async fn contract_the_document_states_passwords_permissions_and_scopes() {
    crate::helpers::run_sqlite(|db| async move {
        let app = TestApp::spawn(&db).await;
        let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
        let schemas = &doc["components"]["schemas"];
        let refused = &schemas["RegisterBody"]["properties"]["password"]["not"]["anyOf"];
        assert!(refused[0]["enum"].as_array().unwrap().contains(&json!("password1234")));
        assert_eq!(refused[1]["pattern"], "^(.)\\1*$");
        let grantable =
            schemas["CreateRole"]["properties"]["permissions"]["items"]["enum"].as_array().unwrap();
        for permission in ["*", "admin:*", "admin:users:*", "alerts:read"] {
            assert!(grantable.contains(&json!(permission)), "{permission}");
        }
        for service_only in ["trading_accounts:*", "trading_accounts:credentials:read"] {
            assert!(!grantable.contains(&json!(service_only)), "{service_only}");
        }
        let scopes = schemas["CreateClientBody"]["properties"]["scopes"]["items"]["enum"].as_array().unwrap();
        assert!(scopes.contains(&json!("trading_accounts:credentials:read")));
        assert!(scopes.iter().all(|s| !s.as_str().unwrap().starts_with("admin:")));
    })
    .await;
}
