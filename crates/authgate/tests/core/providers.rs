//! Interop: each provider's documented access token (testkit fixtures), verified through
//! the `ServiceConfig` a service would use for it, grants what the preset promises.
//! Claim mapping, custom checks, audience skipping and authorized parties.

use authgate::{AuthMethod, ClaimMapping, ErrorKind, Issuer, KeySet, Principal, TokenTypes, Verifier};
use authgate_testkit::{TestKey, jwks, standard_claims};
// Through `ServiceConfig` and a served JWKS (the `remote` feature).
#[cfg(feature = "remote")]
use {
    authgate::{AuthMode, Requirement, ServiceConfig},
    authgate_testkit::MockJwksServer,
    authgate_testkit::providers::{Fixture, Provider},
};

use crate::helpers::{AUD, ISS, kind};

fn static_keys() -> KeySet {
    KeySet::from_jwks_json(&jwks(&[&TestKey::shared_rs256()]).to_string()).unwrap()
}

#[cfg(feature = "remote")]
/// The service configuration of the fixture, keys served by `idp`.
fn config(fixture: &Fixture, idp: &MockJwksServer) -> ServiceConfig {
    let mut env: Vec<(String, String)> = fixture.env().to_vec();
    env.push(("JWKS_URL".into(), idp.jwks_url()));
    ServiceConfig::from_lookup(|name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())).unwrap()
}

#[cfg(feature = "remote")]
#[tokio::test]
async fn every_preset_reads_the_documented_grants_of_its_provider() {
    let key = TestKey::shared_rs256();
    let idp = MockJwksServer::start().await;
    idp.set_keys(&[&key]);
    for provider in Provider::ALL {
        let fixture = provider.fixture();
        let auth = config(&fixture, &idp).authenticator(AuthMode::JwtOnly).unwrap();
        let verifier = auth.verifier().unwrap();
        let user =
            verifier.verify(&fixture.token(&key).sign()).await.unwrap_or_else(|e| panic!("{provider}: {e}"));
        assert_eq!(user.user_id(), fixture.subject(), "{provider}");
        assert_eq!(user.roles(), fixture.roles(), "{provider} roles");
        assert_eq!(user.permissions(), fixture.permissions(), "{provider} permissions");
        assert_eq!(user.scopes(), fixture.scopes(), "{provider} scopes");
        // The principal keeps every claim as it came.
        assert_eq!(
            user.raw_claims().as_object(),
            Some(&refreshed(fixture.claims(), user.raw_claims())),
            "{provider}"
        );

        // Without the claims that carry grants: authenticated, but a role guard says 403.
        let bare = verifier.verify(&fixture.token_without_grants(&key).sign()).await.unwrap();
        assert!(bare.roles().is_empty() && bare.permissions().is_empty(), "{provider}");
        let guard = Requirement::any([Requirement::role("support"), Requirement::permission("admin:delete")]);
        assert!(guard.check(&user).is_ok(), "{provider}");
        assert_eq!(guard.check(&bare).unwrap_err().status(), 403, "{provider}");

        // J13: the provider's ID token is not an access token.
        if let Some(id_token) = fixture.id_token(&key) {
            assert_eq!(kind(verifier.verify(&id_token.sign()).await), ErrorKind::InvalidType, "{provider}");
        }
    }
}

#[cfg(feature = "remote")]
/// The fixture's claims with the times the minted token carries.
fn refreshed(
    documented: &serde_json::Map<String, serde_json::Value>,
    minted: &serde_json::Value,
) -> serde_json::Map<String, serde_json::Value> {
    let mut claims = documented.clone();
    for name in ["iat", "nbf", "auth_time", "exp"] {
        if claims.contains_key(name) {
            claims.insert(name.into(), minted[name].clone());
        }
    }
    claims
}

#[cfg(feature = "remote")]
#[tokio::test]
async fn j13_the_default_typ_rule_of_a_service_is_at_jwt() {
    // Our own tokens pass; a provider's `typ: JWT` token needs its preset's rule.
    let key = TestKey::shared_rs256();
    let idp = MockJwksServer::start().await;
    idp.set_keys(&[&key]);
    let entra = Provider::Entra.fixture();
    let mut env: Vec<(String, String)> =
        entra.env().iter().filter(|(k, _)| k != "JWT_CLAIMS_PRESET").cloned().collect();
    env.push(("JWKS_URL".into(), idp.jwks_url()));
    let lookup = |extra: Option<(&'static str, &'static str)>| {
        let env = env.clone();
        move |name: &str| {
            extra
                .filter(|(k, _)| *k == name)
                .map(|(_, v)| v.to_owned())
                .or_else(|| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
        }
    };
    let strict = ServiceConfig::from_lookup(lookup(None)).unwrap().verifier().unwrap();
    assert_eq!(kind(strict.verify(&entra.token(&key).sign()).await), ErrorKind::InvalidType);
    let relaxed =
        ServiceConfig::from_lookup(lookup(Some(("JWT_REQUIRE_TYP", "JWT")))).unwrap().verifier().unwrap();
    assert!(relaxed.verify(&entra.token(&key).sign()).await.is_ok());
    let ours = Provider::Authgate.fixture();
    assert_eq!(kind(strict.verify(&ours.token(&key).sign()).await), ErrorKind::InvalidIssuer);
}

#[cfg(feature = "remote")]
#[tokio::test]
async fn cognito_without_aud_is_checked_by_its_client_id() {
    let key = TestKey::shared_rs256();
    let idp = MockJwksServer::start().await;
    idp.set_keys(&[&key]);
    let cognito = Provider::Cognito.fixture();
    let verifier = config(&cognito, &idp).verifier().unwrap();
    assert!(verifier.verify(&cognito.token(&key).sign()).await.is_ok());
    let other_client = cognito.token(&key).claim("client_id", "someone-else").sign();
    assert_eq!(kind(verifier.verify(&other_client).await), ErrorKind::InvalidAudience);
    let no_client = cognito.token(&key).remove_claim("client_id").sign();
    assert_eq!(kind(verifier.verify(&no_client).await), ErrorKind::InvalidAudience);
    let typed = cognito.token(&key).header("typ", "JWT").sign();
    assert_eq!(kind(verifier.verify(&typed).await), ErrorKind::InvalidType);
}

#[tokio::test]
async fn audience_is_still_required_unless_skipped_explicitly() {
    let e = Verifier::builder().issuer(ISS, static_keys()).build().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Configuration);
    let e = Verifier::builder()
        .issuer(ISS, static_keys())
        .audience(AUD)
        .skip_audience_check()
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Configuration, "both at once is a mistake");
    let key = TestKey::shared_rs256();
    let skipping = Verifier::builder().issuer(ISS, static_keys()).skip_audience_check().build().unwrap();
    let other_api = key.token().claims(standard_claims(ISS, "another-api", "u", 60)).sign();
    assert!(skipping.verify(&other_api).await.is_ok());
    let no_aud = key.token().claims(standard_claims(ISS, AUD, "u", 60)).remove_claim("aud").sign();
    assert!(skipping.verify(&no_aud).await.is_ok());
    // An issuer with its own audiences keeps checking them.
    let mixed = Verifier::builder()
        .add_issuer(Issuer::new(ISS, static_keys()).audiences([AUD]))
        .skip_audience_check()
        .build()
        .unwrap();
    assert_eq!(kind(mixed.verify(&other_api).await), ErrorKind::InvalidAudience);
}

#[tokio::test]
async fn authorized_party_reads_azp_then_client_id_then_cid() {
    let key = TestKey::shared_rs256();
    let v = Verifier::builder()
        .issuer(ISS, static_keys())
        .audience(AUD)
        .authorized_party("web")
        .authorized_party("cli")
        .build()
        .unwrap();
    let token = |name: &str, value: serde_json::Value| {
        key.token().claims(standard_claims(ISS, AUD, "u", 60)).claim(name, value).sign()
    };
    for name in ["azp", "client_id", "cid"] {
        assert!(v.verify(&token(name, "cli".into())).await.is_ok(), "{name}");
        assert_eq!(kind(v.verify(&token(name, "evil".into())).await), ErrorKind::InvalidAudience, "{name}");
        assert_eq!(kind(v.verify(&token(name, 5.into())).await), ErrorKind::InvalidAudience, "{name}");
    }
    // azp wins over client_id.
    let both =
        key.token().claims(standard_claims(ISS, AUD, "u", 60)).claim("azp", "evil").claim("client_id", "web");
    assert_eq!(kind(v.verify(&both.sign()).await), ErrorKind::InvalidAudience);
    let none = key.token().claims(standard_claims(ISS, AUD, "u", 60)).sign();
    assert_eq!(kind(v.verify(&none).await), ErrorKind::InvalidAudience);
}

#[tokio::test]
async fn a_custom_check_refuses_with_a_403_and_the_operators_message() {
    let key = TestKey::shared_rs256();
    let v =
        Verifier::builder()
            .issuer(ISS, static_keys())
            .audience(AUD)
            .check(|user: &Principal| match user.raw_claims()["email_verified"].as_bool() {
                Some(true) => Ok(()),
                _ => Err("verify your email address first"),
            })
            .check(|user| {
                if user.has_role("banned") { Err(format!("{} is banned", user.user_id())) } else { Ok(()) }
            })
            .build()
            .unwrap();
    let base = key.token().claims(standard_claims(ISS, AUD, "u7", 60));
    let verified = base.clone().claim("email_verified", true).sign();
    // Cached on its second verification.
    assert!(v.verify(&verified).await.is_ok());
    assert!(v.verify(&verified).await.is_ok());
    assert!(v.verify(&verified).await.is_ok(), "cached, and still passing");
    let unverified = base.clone().sign();
    for _ in 0..2 {
        let e = v.verify(&unverified).await.unwrap_err();
        assert_eq!((e.kind(), e.status().as_u16()), (ErrorKind::Forbidden, 403));
        assert_eq!(e.description(), "verify your email address first");
        assert!(e.www_authenticate("api").unwrap().contains(r#"error="insufficient_scope""#));
    }
    let banned = base.claim("email_verified", true).claim("roles", serde_json::json!(["banned"])).sign();
    assert_eq!(v.verify(&banned).await.unwrap_err().description(), "u7 is banned");
    // verify_claims applies the checks too.
    #[derive(serde::Deserialize, Debug)]
    struct Sub {
        #[allow(dead_code)]
        sub: String,
    }
    assert_eq!(kind(v.verify_claims::<Sub>(&unverified).await), ErrorKind::Forbidden);
}

#[tokio::test]
async fn a_mapping_per_issuer_and_wrong_typed_sources_are_401() {
    let key = TestKey::shared_rs256();
    let v = Verifier::builder()
        .issuer(ISS, static_keys())
        .add_issuer(
            Issuer::new("https://kc.example/realms/r", static_keys())
                .claim_mapping(ClaimMapping::keycloak("api")),
        )
        .audience(AUD)
        .build()
        .unwrap();
    let ours = key
        .token()
        .claims(standard_claims(ISS, AUD, "u", 60))
        .claim("roles", serde_json::json!(["support"]))
        .claim("realm_access", serde_json::json!({"roles": ["admin"]}))
        .sign();
    assert_eq!(v.verify(&ours).await.unwrap().roles(), ["support"], "standard mapping for our issuer");
    let kc = |realm: serde_json::Value| {
        key.token()
            .header("typ", "JWT")
            .claims(standard_claims("https://kc.example/realms/r", AUD, "u", 60))
            .claim("typ", "Bearer")
            .claim("realm_access", realm)
            .sign()
    };
    assert_eq!(v.verify(&kc(serde_json::json!({"roles": ["admin"]}))).await.unwrap().roles(), ["admin"]);
    // A string is split (as scopes are); other types are invalid.
    assert_eq!(
        v.verify(&kc(serde_json::json!({"roles": "admin ops"}))).await.unwrap().roles(),
        ["admin", "ops"]
    );
    assert_eq!(kind(v.verify(&kc(serde_json::json!({"roles": 5}))).await), ErrorKind::InvalidClaims);
    assert_eq!(kind(v.verify(&kc(serde_json::json!({"roles": [1]}))).await), ErrorKind::InvalidClaims);
    // A bad path is a start-up error.
    let bad = Verifier::builder()
        .issuer(ISS, static_keys())
        .audience(AUD)
        .claim_mapping(ClaimMapping::empty().roles_from("/a~7"));
    assert_eq!(bad.build().unwrap_err().kind(), ErrorKind::Configuration);
}

#[tokio::test]
async fn an_explicit_typ_rule_wins_over_the_verifiers_preset_and_the_issuers_wins_over_both() {
    let key = TestKey::shared_rs256();
    let untyped = key
        .token()
        .remove_header("typ")
        .claims(standard_claims(ISS, AUD, "u", 60))
        .claim("token_use", "access")
        .sign();
    let v = Verifier::builder()
        .issuer(ISS, static_keys())
        .audience(AUD)
        .claim_mapping(ClaimMapping::cognito())
        .build()
        .unwrap();
    assert!(v.verify(&untyped).await.is_ok(), "the preset's rule: no typ");
    let v = Verifier::builder()
        .issuer(ISS, static_keys())
        .audience(AUD)
        .claim_mapping(ClaimMapping::cognito())
        .token_types(TokenTypes::at_jwt())
        .build()
        .unwrap();
    assert_eq!(kind(v.verify(&untyped).await), ErrorKind::InvalidType);
    let v = Verifier::builder()
        .add_issuer(Issuer::new(ISS, static_keys()).claim_mapping(ClaimMapping::cognito()))
        .audience(AUD)
        .token_types(TokenTypes::at_jwt())
        .build()
        .unwrap();
    assert!(v.verify(&untyped).await.is_ok(), "the issuer's own preset");
}

#[test]
fn api_key_principals_carry_their_key() {
    let p = Principal::builder("u", AuthMethod::ApiKey)
        .api_key(authgate::ApiKeyInfo::new("k1").with_name("bot").with_trading_account("acct"))
        .build();
    let key = p.api_key().unwrap();
    assert_eq!((key.id(), key.name(), key.trading_account_id()), ("k1", Some("bot"), Some("acct")));
    assert!(Principal::builder("u", AuthMethod::Jwt).build().api_key().is_none());
}

#[cfg(feature = "remote")]
#[tokio::test]
async fn a_service_config_fetches_keys_with_the_injected_client() {
    // The IdP listens on 127.0.0.2; only the injected client resolves `localhost` there.
    let key = TestKey::shared_rs256();
    let idp = MockJwksServer::start_on("127.0.0.2").await;
    idp.set_keys(&[&key]);
    let addr: std::net::SocketAddr = idp.base_url().trim_start_matches("http://").parse().unwrap();
    let env = [
        ("JWT_ISSUER", ISS.to_owned()),
        ("JWT_AUDIENCE", AUD.to_owned()),
        ("JWKS_URL", format!("http://localhost:{}/jwks.json", addr.port())),
    ];
    let config =
        ServiceConfig::from_lookup(|n| env.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone())).unwrap();
    let token = key.token().claims(standard_claims(ISS, AUD, "u1", 60)).sign();
    let builtin = config.verifier().unwrap();
    assert_eq!(kind(builtin.verify(&token).await), ErrorKind::KeySourceUnavailable);
    let client = reqwest::Client::builder().resolve("localhost", addr).build().unwrap();
    let injected = config.with_http_client(client).verifier().unwrap();
    assert_eq!(injected.verify(&token).await.unwrap().user_id(), "u1");
}
