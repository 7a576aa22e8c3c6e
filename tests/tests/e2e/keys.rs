//! Signing keys over time: rotation picked up without restarting anything, and a
//! user-service outage the services ride out on their cached keys.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::e2e_tests;
use crate::harness::{PASSWORD, Platform, jwt_part};

e2e_tests!(
    rotated_signing_key_is_picked_up_by_every_service_without_a_restart,
    services_keep_accepting_tokens_while_user_service_is_down_and_after_it_restarts,
);

async fn jwks_kids(p: &Platform) -> Vec<String> {
    let r = p.http.get(p.users.url("/v1/auth/.well-known/jwks.json")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cache = r.headers()["cache-control"].to_str().unwrap().to_owned();
    assert!(cache.contains("max-age="), "{cache}");
    let jwks: Value = r.json().await.unwrap();
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
}

async fn rotated_signing_key_is_picked_up_by_every_service_without_a_restart(p: Platform) {
    let discovery: Value = p
        .http
        .get(p.users.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], p.users.issuer);
    assert_eq!(discovery["jwks_uri"], p.users.url("/v1/auth/.well-known/jwks.json"));

    let user = p.new_user().await;
    let old_kid = jwt_part(&user.tokens.access, 0)["kid"].as_str().unwrap().to_owned();
    assert_eq!(jwks_kids(&p).await, vec![old_kid.clone()]);
    // The services load and cache the current key.
    p.assert_accepted_everywhere(&user.tokens.access, &user.id).await;

    let rotate = p.post_us("/v1/admin/keys/rotate", Some(&user.tokens.access), json!({})).await;
    assert_eq!(rotate.status(), StatusCode::FORBIDDEN, "rotation is an admin act");
    let admin = p.admin().await;
    let r = p.post_us("/v1/admin/keys/rotate", Some(&admin.access), json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let rotated: Value = r.json().await.unwrap();
    let new_kid = rotated["kid"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, old_kid);
    assert!(rotated["signs_from"].is_string(), "{rotated}");
    let kids = jwks_kids(&p).await;
    assert!(kids.contains(&old_kid) && kids.contains(&new_kid), "both keys published: {kids:?}");

    // New tokens carry the new kid; each service meets an unknown kid, refreshes its key
    // set once and accepts: no restart, no configuration change.
    let fresh = p.login(&user.email, PASSWORD).await;
    assert_eq!(jwt_part(&fresh.access, 0)["kid"], new_kid.as_str());
    p.assert_accepted_everywhere(&fresh.access, &user.id).await;
    // Tokens signed before the rotation stay valid until they expire.
    p.assert_accepted_everywhere(&user.tokens.access, &user.id).await;
    let r = p.refresh(&user.tokens.refresh).await;
    assert_eq!(r.status(), StatusCode::OK);
    let refreshed = r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(jwt_part(&refreshed, 0)["kid"], new_kid.as_str());
    p.assert_accepted_everywhere(&refreshed, &user.id).await;
}

async fn services_keep_accepting_tokens_while_user_service_is_down_and_after_it_restarts(mut p: Platform) {
    let user = p.new_user().await;
    // A second session whose token no service has seen: accepting it while user-service
    // is down takes the cached keys, not a cached verification result.
    let unseen = p.login(&user.email, PASSWORD).await;
    let key = p.api_key_for(&user).await;
    p.assert_accepted_everywhere(&user.tokens.access, &user.id).await;

    p.users.stop().await;
    assert!(p.http.get(p.users.url("/health")).send().await.is_err(), "user-service is down");

    p.assert_accepted_everywhere(&unseen.access, &user.id).await;
    // The ticker still verifies the token, but subscribing needs user-service: a clear
    // 503, not a blame on the client.
    let (frame, code, reason) = p.refusal_at(&p.ticker, &unseen.access).await;
    assert_eq!(
        (frame["status"].as_u64(), code, reason.as_str()),
        (Some(503), 4503, "user_service_unavailable")
    );
    for ready in [format!("{}/ready", p.backend), format!("http://{}/ready", p.ticker)] {
        assert_eq!(p.http.get(&ready).send().await.unwrap().status(), StatusCode::OK, "{ready}");
    }
    // An API key nobody has checked yet cannot be checked now: 503 with Retry-After,
    // never a 401 that would blame the client.
    let r = p.positions_with_key(&key).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().contains_key("retry-after"));
    assert!(r.headers().get("www-authenticate").is_none());
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error": "temporarily_unavailable", "error_description": "authentication is temporarily unavailable"})
    );

    p.users.restart().await;
    let health: Value = p.http.get(p.users.url("/health")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");
    // Same database, same signing key, same sessions.
    let me = p.get_with(&p.users.url("/v1/users/me"), &unseen.access).await;
    assert_eq!(me.status(), StatusCode::OK);
    let r = p.refresh(&user.tokens.refresh).await;
    assert_eq!(r.status(), StatusCode::OK);
    let after = r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(jwt_part(&after, 0)["kid"], jwt_part(&unseen.access, 0)["kid"]);
    p.assert_accepted_everywhere(&after, &user.id).await;
    let r = p.positions_with_key(&key).await;
    assert_eq!(r.status(), StatusCode::OK, "API keys work again once user-service answers");
}
