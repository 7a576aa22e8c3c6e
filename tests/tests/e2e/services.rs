//! The consuming services: the backend's dual authentication and admin guard, the
//! ticker's WebSocket, the alert service's per-user data.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::e2e_tests;
use crate::harness::{APP_ORIGIN, Platform, next_text};

/// Broker credentials of the accounts the ticker flows link.
fn kite_credentials() -> Value {
    json!({"api_key": "kite-api-key-0042", "api_secret": "kite-secret-e2e-7781", "access_token": "kite-session-0001"})
}

e2e_tests!(
    positions_answer_a_jwt_and_an_api_key_with_their_auth_method,
    a_revoked_api_key_stops_working_at_the_services_within_the_cache_ttl,
    admin_data_is_forbidden_to_a_user_and_allowed_to_an_admin,
    ticker_streams_quotes_for_a_linked_account_with_credentials_its_service_client_read,
    ticker_answers_409_no_trading_account_to_a_user_without_one,
    a_ticker_whose_service_client_lacks_the_scope_answers_503_and_user_service_audits_the_refusal,
    alerts_are_created_with_the_users_id_and_invisible_to_other_users,
    a_service_client_reads_linked_broker_credentials_and_user_tokens_cannot,
    forged_api_keys_from_one_client_get_429_before_user_service_is_asked,
    an_api_key_bound_to_a_trading_account_keeps_its_binding_at_the_backend,
);

async fn positions_answer_a_jwt_and_an_api_key_with_their_auth_method(p: Platform) {
    let user = p.new_user().await;
    let positions = format!("{}/api/positions", p.backend);

    let r = p.get_with(&positions, &user.tokens.access).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("deprecation").is_none(), "JWT answers carry no deprecation notice");
    let by_jwt: Value = r.json().await.unwrap();
    assert_eq!((by_jwt["user_id"].as_str(), by_jwt["auth_method"].as_str()), (Some(&*user.id), Some("jwt")));

    let key = p.api_key_for(&user).await;
    let r = p.positions_with_key(&key).await;
    assert_eq!(r.status(), StatusCode::OK);
    // The backend deprecates API keys since 2026-01-01 (RFC 9745) and links the guide.
    assert_eq!(r.headers()["deprecation"], "@1767225600");
    let link = r.headers()["link"].to_str().unwrap().to_owned();
    assert!(link.contains(r#"rel="deprecation""#), "{link}");
    let by_key: Value = r.json().await.unwrap();
    assert_eq!(
        (by_key["user_id"].as_str(), by_key["auth_method"].as_str()),
        (Some(&*user.id), Some("api_key"))
    );
    assert_eq!(by_key["positions"], by_jwt["positions"], "same data whichever credential");

    // The alert service accepts the same key during the migration.
    let r = p
        .http
        .post(format!("{}/alerts", p.alert))
        .header("x-api-key", &key)
        .json(&json!({"symbol": "ACME", "condition": "below", "price": 90.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.json::<Value>().await.unwrap()["user_id"], user.id);

    // A key limited to reading positions reads them but cannot write alerts (I25).
    let r = p
        .post_us(
            "/v1/api-keys",
            Some(&user.tokens.access),
            json!({"name": "read only", "permissions": ["positions:read"]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let read_only = r.json::<Value>().await.unwrap()["key"].as_str().unwrap().to_owned();
    assert_eq!(p.positions_with_key(&read_only).await.status(), StatusCode::OK);
    let r = p
        .http
        .post(format!("{}/alerts", p.alert))
        .header("x-api-key", &read_only)
        .json(&json!({"symbol": "ACME", "condition": "below", "price": 90.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().contains(r#"scope="alerts:write""#));

    // A well-formed key nobody issued, and a malformed one: 401 invalid_token.
    let unknown = authgate::api_key::format::generate("test").unwrap();
    for bad in [unknown.as_str(), "not-an-api-key"] {
        let r = p.positions_with_key(bad).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{bad}");
        assert_eq!(
            r.headers()["www-authenticate"],
            r#"Bearer realm="api", error="invalid_token", error_description="the API key is invalid""#
        );
    }
    // `/api/me` takes JWTs only: a key there is no credential at all.
    let r = p.http.get(format!("{}/api/me", p.backend)).header("x-api-key", &key).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["www-authenticate"], r#"Bearer realm="api""#);

    let r = p.http.get(&positions).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["www-authenticate"], r#"Bearer realm="api""#);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error": "unauthorized", "error_description": "authentication required"})
    );
}

async fn a_revoked_api_key_stops_working_at_the_services_within_the_cache_ttl(p: Platform) {
    let user = p.new_user().await;
    let r = p.post_us("/v1/api-keys", Some(&user.tokens.access), json!({"name": "to revoke"})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(p.positions_with_key(&key).await.status(), StatusCode::OK);

    let r = p.delete_us(&format!("/v1/api-keys/{id}"), &user.tokens.access).await;
    assert!(r.status().is_success(), "revoking: {}", r.status());
    // user-service refuses it at once...
    let r = p.http.get(p.users.url("/v1/users/me")).header("x-api-key", &key).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // ...and the backend once its cached answer (API_KEY_CACHE_TTL_SECS=1) expires.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let status = p.positions_with_key(&key).await.status();
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(tokio::time::Instant::now() < deadline, "the revoked key still works after 10 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn admin_data_is_forbidden_to_a_user_and_allowed_to_an_admin(p: Platform) {
    let user = p.new_user().await;
    let delete = |token: String| {
        let req = p.http.delete(format!("{}/admin/data/42", p.backend)).bearer_auth(token);
        async move { req.send().await.unwrap() }
    };

    let r = delete(user.tokens.access.clone()).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.contains(r#"error="insufficient_scope""#), "{challenge}");
    assert!(challenge.contains(r#"scope="admin:delete""#), "{challenge}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        (body["error"].as_str(), body["scope"].as_str()),
        (Some("insufficient_scope"), Some("admin:delete"))
    );

    // The bootstrap admin (BOOTSTRAP_ADMIN_EMAIL) holds `*`.
    let admin = p.admin().await;
    let r = delete(admin.access.clone()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"deleted": "42"}));

    // Granting a role is an admin act at user-service; users cannot do it themselves.
    let roles = format!("/v1/admin/users/{}/roles", user.id);
    let put = |token: String| {
        let req =
            p.http.put(p.users.url(&roles)).bearer_auth(token).json(&json!({"roles": ["user", "admin"]}));
        async move { req.send().await.unwrap() }
    };
    let r = put(user.tokens.access.clone()).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "insufficient_scope");
    let r = put(admin.access.clone()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["roles"], json!(["user", "admin"]));

    // Roles travel in the token: the old one still says `user`, the next one `admin`.
    assert_eq!(delete(user.tokens.access.clone()).await.status(), StatusCode::FORBIDDEN);
    let r = p.refresh(&user.tokens.refresh).await;
    assert_eq!(r.status(), StatusCode::OK);
    let promoted = r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(delete(promoted).await.status(), StatusCode::OK);
}

/// Issue 14 item 6, the seed ticker's job: the caller's linked accounts from
/// user-service (with the caller's token), the account's broker credentials with the
/// ticker's own service-client token (audited by user-service), then quotes.
async fn ticker_streams_quotes_for_a_linked_account_with_credentials_its_service_client_read(p: Platform) {
    let user = p.new_user().await;
    let account_id = p.link_account(&user, "Main", kite_credentials()).await;
    let token = user.tokens.access.as_str();
    let (mut ws, first) = p.subscribe(token).await;
    assert_eq!(
        first,
        json!({"type": "subscribed", "api_key": "****0042", "account": {"id": account_id, "broker": "kite",
               "label": "Main", "broker_user_id": "ZX0042", "role": "owner"}}),
        "the account user-service lists, and the key of the credentials the ticker read, masked"
    );
    for _ in 0..2 {
        let quote = tokio::time::timeout(Duration::from_millis(1500), next_text(&mut ws))
            .await
            .expect("a quote at least once a second");
        assert_eq!(quote["type"], "quote");
        assert!(quote["symbol"].is_string(), "{quote}");
        assert!(quote["bid"].as_f64().unwrap() < quote["ask"].as_f64().unwrap(), "{quote}");
    }
    ws.close(None).await.unwrap();

    // user-service audited the read: by the ticker's client, for that account.
    let reads = p.credential_reads().await;
    assert_eq!(reads.len(), 1, "{reads:?}");
    let details = &reads[0]["details"];
    assert_eq!(
        (details["client_id"].as_str(), details["account_id"].as_str(), details["outcome"].as_str()),
        (Some(p.ticker_client_id.as_str()), Some(account_id.as_str()), Some("ok"))
    );
    let agent = reads[0]["user_agent"].as_str().unwrap_or_default();
    assert!(agent.starts_with("example-ticker/"), "{agent}");

    // Refused before the upgrade: another site's page (403), no Origin at all (403, since
    // an allow-list is set), no token or a bad one (401).
    assert_eq!(p.open_quotes(token, Some("https://evil.example")).await.err(), Some(403));
    assert_eq!(p.open_quotes(token, None).await.err(), Some(403));
    assert_eq!(p.open_quotes("", Some(APP_ORIGIN)).await.err(), Some(401));
    assert_eq!(p.open_quotes("not.a.token", Some(APP_ORIGIN)).await.err(), Some(401));
    assert_eq!(p.credential_reads().await.len(), 1, "no credentials read for refused upgrades");

    let r = p.get_with(&format!("http://{}/subscription-status", p.ticker), token).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"user_id": user.id, "status": "active"}));
}

async fn ticker_answers_409_no_trading_account_to_a_user_without_one(p: Platform) {
    let user = p.new_user().await;
    let (frame, code, reason) = p.refusal_at(&p.ticker, &user.tokens.access).await;
    assert_eq!(
        frame,
        json!({"type": "error", "status": 409, "error": "no_trading_account",
               "message": "No trading account is linked to your login. Link one to receive quotes."})
    );
    assert_eq!((code, reason.as_str()), (4409, "no_trading_account"));
    assert!(p.credential_reads().await.is_empty(), "no credentials read without an account");

    // Once the user links one, the same token streams.
    p.link_account(&user, "Later", kite_credentials()).await;
    let (_ws, first) = p.subscribe(&user.tokens.access).await;
    assert_eq!(first["type"], "subscribed", "{first}");
}

async fn a_ticker_whose_service_client_lacks_the_scope_answers_503_and_user_service_audits_the_refusal(
    p: Platform,
) {
    let user = p.new_user().await;
    let account_id = p.link_account(&user, "Main", kite_credentials()).await;
    // A client registered with the wrong scope: its token works, the credentials read does not.
    let (ticker, client_id) = p.start_ticker_with_scopes(&["trading_accounts:read"]).await;
    let (frame, code, reason) = p.refusal_at(&ticker, &user.tokens.access).await;
    assert_eq!(
        frame,
        json!({"type": "error", "status": 503, "error": "credentials_forbidden",
               "message": "The ticker may not read broker credentials: its service client lacks the trading_accounts:credentials:read scope."})
    );
    assert_eq!((code, reason.as_str()), (4503, "credentials_forbidden"));
    let reads = p.credential_reads().await;
    assert_eq!(reads.len(), 1, "{reads:?}");
    let details = &reads[0]["details"];
    assert_eq!(
        (details["client_id"].as_str(), details["account_id"].as_str(), details["outcome"].as_str()),
        (Some(client_id.as_str()), Some(account_id.as_str()), Some("insufficient_scope"))
    );
    // The platform's ticker, whose client has the scope, streams for the same user.
    let (_ws, first) = p.subscribe(&user.tokens.access).await;
    assert_eq!(first["type"], "subscribed", "{first}");
}

async fn alerts_are_created_with_the_users_id_and_invisible_to_other_users(p: Platform) {
    let (alice, bob) = (p.new_user().await, p.new_user().await);
    let (status, alert) = p.create_alert(&alice.tokens.access, "ACME").await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(alert["user_id"], alice.id, "the owner is the token's subject, not a client field");
    assert_eq!((alert["symbol"].as_str(), alert["price"].as_f64()), (Some("ACME"), Some(101.5)));
    let id = alert["id"].as_u64().unwrap();

    let list = |token: String| {
        let req = p.http.get(format!("{}/alerts", p.alert)).bearer_auth(token);
        async move {
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<Vec<Value>>().await.unwrap()
        }
    };
    assert_eq!(list(alice.tokens.access.clone()).await, vec![alert.clone()]);
    assert_eq!(list(bob.tokens.access.clone()).await, Vec::<Value>::new());

    let delete = |token: String| {
        let req = p.http.delete(format!("{}/alerts/{id}", p.alert)).bearer_auth(token);
        async move { req.send().await.unwrap().status() }
    };
    assert_eq!(
        delete(bob.tokens.access.clone()).await,
        StatusCode::NOT_FOUND,
        "not even its existence leaks"
    );
    assert_eq!(delete(alice.tokens.access.clone()).await, StatusCode::NO_CONTENT);

    let r = p.http.get(format!("{}/alerts", p.alert)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["www-authenticate"], r#"Bearer realm="alerts""#);
}

/// The ticker's need from issue 6: as a service (OAuth 2.0 client credentials), read the
/// broker credentials of an account a user linked; the account is shared, masked for its
/// members, and no user token opens the credentials.
async fn a_service_client_reads_linked_broker_credentials_and_user_tokens_cannot(p: Platform) {
    let owner = p.new_user().await;
    let viewer = p.new_user().await;
    let credentials = json!({"api_key": "kite-api-key-0042", "api_secret": "kite-secret-e2e-7781", "access_token": "kite-session-0001"});
    let r = p
        .post_us(
            "/v1/trading-accounts",
            Some(&owner.tokens.access),
            json!({"broker": "kite", "label": "main", "broker_user_id": "ZX0042", "credentials": credentials}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let account: Value = r.json().await.unwrap();
    let account_id = account["id"].as_str().unwrap().to_owned();
    assert_eq!(account["credentials"]["api_secret"], "****7781", "members see masks only");

    let members = format!("/v1/trading-accounts/{account_id}/members");
    let r = p
        .post_us(&members, Some(&owner.tokens.access), json!({"email": viewer.email, "role": "viewer"}))
        .await;
    assert!(r.status().is_success(), "sharing: {}", r.status());
    let shared: Value =
        p.get_with(&p.users.url("/v1/users/me/accounts"), &viewer.tokens.access).await.json().await.unwrap();
    assert_eq!(shared["shared"][0]["role"], "viewer", "{shared}");

    // An admin registers the ticker as a client; the ticker gets a token with its secret.
    let admin = p.admin().await;
    let r = p
        .post_us(
            "/v1/admin/clients",
            Some(&admin.access),
            json!({"name": "ticker", "scopes": ["trading_accounts:credentials:read"]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let client: Value = r.json().await.unwrap();
    let r = p
        .http
        .post(p.users.url("/v1/auth/token"))
        .basic_auth(client["client_id"].as_str().unwrap(), client["client_secret"].as_str())
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let client_token = r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();

    let internal = p.users.url(&format!("/v1/internal/trading-accounts/{account_id}/credentials"));
    let r = p.get_with(&internal, &client_token).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["credentials"]["api_secret"], "kite-secret-e2e-7781");
    assert_eq!(body["broker_user_id"], "ZX0042");
    for token in [&owner.tokens.access, &viewer.tokens.access, &admin.access] {
        assert_eq!(
            p.get_with(&internal, token).await.status(),
            StatusCode::FORBIDDEN,
            "user tokens never read credentials"
        );
    }
}

/// user-service's count of API-key lookups that found no usable key.
async fn refused_key_lookups(p: &Platform) -> u64 {
    let text = p.http.get(p.users.metrics_url()).send().await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| l.starts_with("user_service_api_key_auth_total{") && !l.contains("success"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

async fn forged_api_keys_from_one_client_get_429_before_user_service_is_asked(p: Platform) {
    let user = p.new_user().await;
    let before = refused_key_lookups(&p).await;
    // Keys with a valid checksum (anyone can make them): each costs user-service a lookup.
    let forged: Vec<String> = (0..25).map(|_| authgate::api_key::format::generate("live").unwrap()).collect();
    let mut statuses = Vec::new();
    for key in &forged {
        let r = p.positions_with_key(key).await;
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
            assert!((1..=60).contains(&retry), "{retry}");
        }
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses[..10], [401; 10]);
    assert_eq!(statuses[10..], [429; 15]);
    assert_eq!(refused_key_lookups(&p).await - before, 10, "user-service saw only the first 10");
    // The same client's JWT is not affected.
    let r = p.get_with(&format!("{}/api/positions", p.backend), &user.tokens.access).await;
    assert_eq!(r.status(), StatusCode::OK);
    // The alert service (actix) keeps its own count, with the same rule.
    let mut alert = Vec::new();
    for key in &forged[..11] {
        let r = p.http.get(format!("{}/alerts", p.alert)).header("x-api-key", key).send().await.unwrap();
        alert.push(r.status().as_u16());
    }
    assert_eq!(alert[10], 429, "{alert:?}");
}

async fn an_api_key_bound_to_a_trading_account_keeps_its_binding_at_the_backend(p: Platform) {
    let owner = p.new_user().await;
    let credentials = json!({"api_key": "kite-api-key-0043", "api_secret": "kite-secret-e2e-7782"});
    let r = p
        .post_us(
            "/v1/trading-accounts",
            Some(&owner.tokens.access),
            json!({"broker": "kite", "label": "bot", "broker_user_id": "ZX0043", "credentials": credentials}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let account_id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let r = p
        .post_us(
            "/v1/api-keys",
            Some(&owner.tokens.access),
            json!({"name": "bot key", "trading_account_id": account_id}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    let bound = created["key"].as_str().unwrap().to_owned();

    let r = p.positions_with_key(&bound).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["api_key"], json!({"id": created["id"], "trading_account_id": account_id}));

    // An unbound key says so, and a JWT caller has no key at all.
    let unbound = p.api_key_for(&owner).await;
    let body: Value = p.positions_with_key(&unbound).await.json().await.unwrap();
    assert_eq!(body["api_key"]["trading_account_id"], Value::Null);
    let positions = format!("{}/api/positions", p.backend);
    let body: Value = p.get_with(&positions, &owner.tokens.access).await.json().await.unwrap();
    assert_eq!(body["api_key"], Value::Null);
}
