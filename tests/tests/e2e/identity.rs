//! Accounts and sessions seen from a client: register, login, `/v1/users/me`, MFA,
//! refresh, logout, and what each means for the other services.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::e2e_tests;
use crate::harness::{PASSWORD, Platform, Tokens, jwt_part, totp_code, unique};

e2e_tests!(
    a_registered_user_logs_in_and_every_service_knows_them,
    mfa_login_with_a_totp_code_gives_tokens_every_service_accepts,
    refreshed_tokens_are_accepted_everywhere_and_reusing_a_refresh_token_revokes_the_session,
    logout_ends_the_session_while_issued_access_tokens_live_until_they_expire,
);

async fn a_registered_user_logs_in_and_every_service_knows_them(p: Platform) {
    let email = format!("New.User{}@Trading.Test", unique());
    let user = p.register(&email).await;
    // Stored as entered; compared on a case-folded, look-alike-proof key (issue 12, H5).
    assert_eq!(user["email"], email);
    assert_eq!(user["roles"], json!(["user"]));
    assert!(user["permissions"].as_array().unwrap().contains(&json!("positions:read")), "{user}");
    let id = user["id"].as_str().unwrap();

    let again = p
        .post_us(
            "/v1/auth/register",
            None,
            json!({"email": email.to_lowercase(), "password": PASSWORD, "name": "Twice"}),
        )
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert_eq!(again.json::<Value>().await.unwrap()["error"], "email_taken");

    let wrong =
        p.post_us("/v1/auth/login", None, json!({"email": email, "password": "wrong password!"})).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.json::<Value>().await.unwrap()["error"], "invalid_credentials");

    let r = p.post_us("/v1/auth/login", None, json!({"email": email, "password": PASSWORD})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("refresh_token=") && cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("Path=/v1/auth"), "{cookie}");
    let body: Value = r.json().await.unwrap();
    assert_eq!((body["token_type"].as_str(), body["expires_in"].as_u64()), (Some("Bearer"), Some(900)));
    let tokens = Tokens::from_body(&body);

    let header = jwt_part(&tokens.access, 0);
    assert_eq!((header["alg"].as_str(), header["typ"].as_str()), (Some("RS256"), Some("at+jwt")));
    let claims = jwt_part(&tokens.access, 1);
    assert_eq!(claims["iss"], p.users.issuer);
    assert_eq!(claims["aud"], "trading-platform");
    assert_eq!(claims["sub"], id);
    assert_eq!(claims["amr"], json!(["pwd"]));

    let me = p.get_with(&p.users.url("/v1/users/me"), &tokens.access).await;
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.unwrap();
    assert_eq!((me["id"].as_str(), me["auth_method"].as_str()), (Some(id), Some("jwt")));
    assert_eq!(me["mfa_enabled"], false);

    let anonymous = p.http.get(p.users.url("/v1/users/me")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        anonymous.headers()["www-authenticate"],
        "Bearer realm=\"api\"",
        "one challenge shape across the service (issue 11)"
    );

    let r = p.get_with(&format!("{}/api/me", p.backend), &tokens.access).await;
    assert_eq!(r.status(), StatusCode::OK);
    let backend_me: Value = r.json().await.unwrap();
    assert_eq!(backend_me["email"], email);
    assert_eq!(backend_me["roles"], json!(["user"]));
    assert_eq!(backend_me["permissions"], me["permissions"], "same permissions as user-service says");
    p.assert_accepted_everywhere(&tokens.access, id).await;

    // Claims from this token with another token's signature: 401 invalid_token everywhere.
    let other = p.login(&email, PASSWORD).await;
    let (signed, _) = tokens.access.rsplit_once('.').unwrap();
    let (_, foreign_signature) = other.access.rsplit_once('.').unwrap();
    p.assert_refused_everywhere(&format!("{signed}.{foreign_signature}")).await;
}

async fn mfa_login_with_a_totp_code_gives_tokens_every_service_accepts(p: Platform) {
    let user = p.new_user().await;
    let r = p.post_us("/v1/users/me/mfa/totp/setup", Some(&user.tokens.access), json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let setup: Value = r.json().await.unwrap();
    let secret = setup["secret"].as_str().unwrap().to_owned();
    assert!(setup["otpauth_uri"].as_str().unwrap().starts_with("otpauth://totp/"), "{setup}");
    let r = p
        .post_us(
            "/v1/users/me/mfa/totp/enable",
            Some(&user.tokens.access),
            json!({"code": totp_code(&secret, 0)}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["recovery_codes"].as_array().unwrap().len(), 10);

    let r = p.post_us("/v1/auth/login", None, json!({"email": user.email, "password": PASSWORD})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let challenge: Value = r.json().await.unwrap();
    assert_eq!(challenge["mfa_required"], true);
    assert!(challenge.get("access_token").is_none(), "no tokens before the second factor");
    let mfa_token = challenge["mfa_token"].as_str().unwrap();

    let wrong =
        p.post_us("/v1/auth/login/mfa", None, json!({"mfa_token": mfa_token, "code": "000000"})).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    // The enabling code used the current step; the next step's code is still in the window.
    let r = p
        .post_us("/v1/auth/login/mfa", None, json!({"mfa_token": mfa_token, "code": totp_code(&secret, 1)}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let tokens = Tokens::from_body(&r.json().await.unwrap());
    let amr = jwt_part(&tokens.access, 1)["amr"].clone();
    assert!(amr.as_array().unwrap().contains(&json!("mfa")), "{amr}");

    let me: Value = p.get_with(&p.users.url("/v1/users/me"), &tokens.access).await.json().await.unwrap();
    assert_eq!(me["mfa_enabled"], true);
    p.assert_accepted_everywhere(&tokens.access, &user.id).await;
}

async fn refreshed_tokens_are_accepted_everywhere_and_reusing_a_refresh_token_revokes_the_session(
    p: Platform,
) {
    let user = p.new_user().await;
    let r = p.refresh(&user.tokens.refresh).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["set-cookie"].to_str().unwrap().starts_with("refresh_token="));
    let fresh = Tokens::from_body(&r.json().await.unwrap());
    assert_ne!(fresh.access, user.tokens.access);
    assert_ne!(fresh.refresh, user.tokens.refresh, "refresh tokens rotate");
    assert_eq!(jwt_part(&fresh.access, 1)["sid"], jwt_part(&user.tokens.access, 1)["sid"], "same session");
    p.assert_accepted_everywhere(&fresh.access, &user.id).await;

    // The cookie works as well as the body (browsers never see the refresh token).
    let r = p
        .http
        .post(p.users.url("/v1/auth/refresh"))
        .header("cookie", format!("refresh_token={}", fresh.refresh))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The cookie flow keeps the new refresh token in the HttpOnly cookie only.
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    let refresh = cookie.strip_prefix("refresh_token=").unwrap().split(';').next().unwrap().to_owned();
    let body: Value = r.json().await.unwrap();
    assert!(body.get("refresh_token").is_none(), "{body}");
    let latest = Tokens { access: body["access_token"].as_str().unwrap().to_owned(), refresh };

    // Another tab reusing a token rotated a moment ago lost a race: 409, nothing revoked.
    let raced = p.refresh(&user.tokens.refresh).await;
    assert_eq!(raced.status(), StatusCode::CONFLICT);
    assert_eq!(raced.json::<Value>().await.unwrap()["error"], "refresh_superseded");

    // Later, presenting an already-used refresh token (a stolen copy) revokes the whole
    // session: the latest refresh token dies too.
    p.users.age_spent_refresh_tokens(11).await;
    let reused = p.refresh(&user.tokens.refresh).await;
    assert_eq!(reused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(reused.json::<Value>().await.unwrap()["error"], "invalid_grant");
    assert_eq!(p.refresh(&latest.refresh).await.status(), StatusCode::UNAUTHORIZED);
    let me = p.get_with(&p.users.url("/v1/users/me"), &latest.access).await;
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED, "user-service checks the session");
    // The other services verify signatures only: the access token lives until `exp`.
    let r = p.get_with(&format!("{}/api/me", p.backend), &latest.access).await;
    assert_eq!(r.status(), StatusCode::OK);
    // Logging in again starts a new session.
    let again = p.login(&user.email, PASSWORD).await;
    p.assert_accepted_everywhere(&again.access, &user.id).await;
}

async fn logout_ends_the_session_while_issued_access_tokens_live_until_they_expire(p: Platform) {
    let user = p.new_user().await;
    p.assert_accepted_everywhere(&user.tokens.access, &user.id).await;
    let r = p.post_us("/v1/auth/logout", None, json!({"refresh_token": user.tokens.refresh})).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let cleared = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cleared.starts_with("refresh_token=;") && cleared.contains("Max-Age=0"), "{cleared}");

    let r = p.refresh(&user.tokens.refresh).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
    let me = p.get_with(&p.users.url("/v1/users/me"), &user.tokens.access).await;
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(me.json::<Value>().await.unwrap()["error"], "invalid_token");
    // Stateless verification elsewhere: at most ACCESS_TOKEN_TTL_SECS (15 min) more.
    p.assert_accepted_everywhere(&user.tokens.access, &user.id).await;
    // Except where a service asks user-service on the caller's behalf: the ticker's
    // subscription reads the caller's accounts with their token, and that session is over.
    let (frame, code, reason) = p.refusal_at(&p.ticker, &user.tokens.access).await;
    assert_eq!((frame["status"].as_u64(), code, reason.as_str()), (Some(401), 4401, "invalid_token"));
    assert_eq!(frame["message"], "Your session has ended. Sign in again to receive quotes.");
}
