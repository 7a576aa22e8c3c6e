//! docs/providers.md shows this crate's code verbatim, and that code guards an axum and
//! an actix-web route for each provider's documented access token.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use actix_web::{App, test as actix_test};
use authgate::{AuthMode, Authenticator, KeySet, ServiceConfig};
use authgate_testkit::providers::{Fixture, Provider};
use authgate_testkit::{MockJwksServer, TestKey, jwks};
use tower::ServiceExt;

const DOC: &str = include_str!("../../../docs/providers.md");
const CODE: &str = include_str!("../src/lib.rs");

/// `NAME -> text` of every `// docs:begin NAME` .. `// docs:end NAME` region.
fn regions() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in CODE.lines() {
        if let Some(name) = line.strip_prefix("// docs:begin ") {
            current = Some((name.to_owned(), String::new()));
        } else if let Some(name) = line.strip_prefix("// docs:end ") {
            let (open, text) = current.take().unwrap();
            assert_eq!(open, name, "regions do not nest");
            out.insert(open, text);
        } else if let Some((_, text)) = &mut current {
            text.push_str(line);
            text.push('\n');
        }
    }
    out
}

/// `(kind, name) -> block` for every `<!-- kind: name -->` followed by a fenced block.
fn doc_blocks() -> BTreeMap<(String, String), String> {
    let mut out = BTreeMap::new();
    let mut lines = DOC.lines();
    while let Some(line) = lines.next() {
        let Some(tag) = line.strip_prefix("<!-- ").and_then(|l| l.strip_suffix(" -->")) else { continue };
        let (kind, name) = tag.split_once(": ").unwrap();
        let fence = lines.next().unwrap();
        assert!(fence.starts_with("```"), "{tag} is not followed by a code block");
        let mut block = String::new();
        for line in lines.by_ref() {
            if line == "```" {
                break;
            }
            block.push_str(line);
            block.push('\n');
        }
        out.insert((kind.to_owned(), name.to_owned()), block);
    }
    out
}

fn provider_named(name: &str) -> Provider {
    match name {
        "user-service" => Provider::Authgate,
        other => *Provider::ALL.iter().find(|p| p.name() == other).unwrap(),
    }
}

const PROVIDERS: [&str; 6] = ["keycloak", "auth0", "entra", "okta", "cognito", "user-service"];

#[test]
fn docs_show_the_tested_code_verbatim() {
    let regions = regions();
    let blocks = doc_blocks();
    for (name, code) in &regions {
        let shown = blocks.get(&("snippet".to_owned(), name.clone()));
        assert_eq!(
            shown,
            Some(code),
            "docs/providers.md must show region {name} of examples/providers/src/lib.rs"
        );
    }
    for ((kind, name), block) in &blocks {
        match kind.as_str() {
            "snippet" => assert!(regions.contains_key(name), "snippet {name} is not in the tested code"),
            "env" => {
                let fixture = provider_named(name).fixture();
                let expected: String = fixture.env().iter().map(|(k, v)| format!("{k}={v}\n")).collect();
                assert_eq!(block, &expected, "the env of {name} is the one its tests use");
            }
            other => panic!("unknown block kind {other}"),
        }
    }
    for name in PROVIDERS {
        assert!(blocks.contains_key(&("snippet".into(), name.into())), "{name} code");
        assert!(blocks.contains_key(&("env".into(), name.into())), "{name} env");
    }
}

fn static_keys() -> KeySet {
    KeySet::from_jwks_json(&jwks(&[&TestKey::shared_rs256()]).to_string()).unwrap()
}

/// 200 with the documented token, 403 without its grants, 401 without a token, through
/// both the axum and the actix-web route.
async fn guards_answer_as_documented(fixture: &Fixture, auth: Authenticator) {
    let key = TestKey::shared_rs256();
    let cases = [
        (Some(fixture.token(&key).sign()), 200),
        (Some(fixture.token_without_grants(&key).sign()), 403),
        (None, 401),
    ];
    let axum_app = example_providers::axum_tickets(auth.clone());
    let actix_app =
        actix_test::init_service(App::new().service(example_providers::actix_tickets(auth))).await;
    for (token, expected) in cases {
        let mut req = http::Request::get("/tickets");
        let mut actix_req = actix_test::TestRequest::get().uri("/tickets");
        if let Some(token) = &token {
            req = req.header("authorization", format!("Bearer {token}"));
            actix_req = actix_req.insert_header(("authorization", format!("Bearer {token}")));
        }
        let res = axum_app.clone().oneshot(req.body(axum::body::Body::empty()).unwrap()).await.unwrap();
        let provider = fixture.provider();
        assert_eq!(res.status().as_u16(), expected, "{provider} through axum");
        if expected == 200 {
            let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
            assert_eq!(body, format!("tickets for {}", fixture.subject()));
        }
        let res = actix_test::call_service(&actix_app, actix_req.to_request()).await;
        assert_eq!(res.status().as_u16(), expected, "{provider} through actix-web");
        if expected == 403 {
            let challenge = res.headers().get("www-authenticate").unwrap().to_str().unwrap();
            assert!(challenge.ends_with(r#"scope="role:support""#), "{challenge}");
        }
    }
}

#[actix_web::test]
async fn each_providers_code_guards_an_axum_and_an_actix_route() {
    type Build = fn(KeySet) -> Result<Authenticator, authgate::Error>;
    let builds: [(&str, Build); 6] = [
        ("keycloak", example_providers::keycloak),
        ("auth0", example_providers::auth0),
        ("entra", example_providers::entra),
        ("okta", example_providers::okta),
        ("cognito", example_providers::cognito),
        ("user-service", example_providers::user_service),
    ];
    for (name, build) in builds {
        let fixture = provider_named(name).fixture();
        guards_answer_as_documented(&fixture, build(static_keys()).unwrap()).await;
    }
    // The production keys: discovery, nothing fetched until the first token.
    assert!(
        !example_providers::production_keys("https://sso.example.com/realms/trading").unwrap().is_ready()
    );
}

#[actix_web::test]
async fn each_providers_environment_guards_an_axum_and_an_actix_route() {
    let idp = MockJwksServer::start().await;
    idp.set_keys(&[&TestKey::shared_rs256()]);
    for name in PROVIDERS {
        let fixture = provider_named(name).fixture();
        // The documented environment, keys served by the mock instead of discovery.
        let mut env = fixture.env().to_vec();
        env.push(("JWKS_URL".into(), idp.jwks_url()));
        let config =
            ServiceConfig::from_lookup(|n| env.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone())).unwrap();
        guards_answer_as_documented(&fixture, config.authenticator(AuthMode::JwtOnly).unwrap()).await;
    }
}
