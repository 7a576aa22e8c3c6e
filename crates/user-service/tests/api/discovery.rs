//! Discovery tells the truth: every field of both metadata documents is checked against
//! what the service really serves, and the core's discovery finds the keys through them.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::db_tests;
use crate::helpers::{TestApp, TestDb, claims_of, header_of};

db_tests!(
    rfc8414_metadata_names_only_what_the_service_serves,
    openid_configuration_lists_only_true_fields,
    core_discovery_finds_the_keys_of_user_service,
);

/// Registers a service client through the admin API: `(client_id, client_secret)`.
async fn new_client(app: &TestApp) -> (String, String) {
    let (_, admin) = app.new_admin().await;
    let r = app
        .post_auth(
            "/v1/admin/clients",
            &admin.access,
            json!({"name": "discovery", "scopes": ["positions:read"]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    (body["client_id"].as_str().unwrap().to_owned(), body["client_secret"].as_str().unwrap().to_owned())
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect()
}

fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

async fn metadata(app: &TestApp, path: &str) -> Value {
    let r = app.get(path).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.headers()["cache-control"], "public, max-age=300");
    r.json().await.unwrap()
}

async fn rfc8414_metadata_names_only_what_the_service_serves(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let doc = metadata(&app, "/.well-known/oauth-authorization-server").await;
    let mut fields: Vec<&str> = doc.as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "grant_types_supported",
            "id_token_signing_alg_values_supported",
            "issuer",
            "jwks_uri",
            "response_types_supported",
            "token_endpoint",
            "token_endpoint_auth_methods_supported",
        ],
        "no authorization_endpoint, userinfo or anything else unserved"
    );
    assert_eq!(doc["issuer"], app.issuer);
    assert_eq!(doc["response_types_supported"], json!([]), "there is no authorization endpoint");
    assert_eq!(doc["grant_types_supported"], json!(["client_credentials"]));

    // jwks_uri serves the key set; the algorithms are exactly those of its keys.
    let jwks: Value =
        app.client.get(doc["jwks_uri"].as_str().unwrap()).send().await.unwrap().json().await.unwrap();
    let key_algs: Vec<String> =
        jwks["keys"].as_array().unwrap().iter().map(|k| k["alg"].as_str().unwrap().to_owned()).collect();
    assert_eq!(strings(&doc["id_token_signing_alg_values_supported"]), key_algs);
    assert_eq!(key_algs, ["RS256"]);

    // The token endpoint grants client credentials with every advertised method, and its
    // tokens carry this issuer and a key and algorithm the metadata names.
    let token_endpoint = doc["token_endpoint"].as_str().unwrap();
    assert_eq!(token_endpoint, format!("{}/v1/auth/token", app.issuer));
    let (id, secret) = new_client(&app).await;
    let methods = strings(&doc["token_endpoint_auth_methods_supported"]);
    assert_eq!(methods, ["client_secret_basic", "client_secret_post"]);
    for method in &methods {
        let grant = doc["grant_types_supported"][0].as_str().unwrap();
        let request =
            app.client.post(token_endpoint).header("content-type", "application/x-www-form-urlencoded");
        let request = match method.as_str() {
            "client_secret_basic" => {
                request.basic_auth(&id, Some(&secret)).body(form(&[("grant_type", grant)]))
            }
            _ => request.body(form(&[("grant_type", grant), ("client_id", &id), ("client_secret", &secret)])),
        };
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{method}");
        let token = r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
        assert_eq!(claims_of(&token)["iss"], doc["issuer"]);
        let header = header_of(&token);
        assert!(key_algs.contains(&header["alg"].as_str().unwrap().to_owned()));
        assert!(jwks["keys"].as_array().unwrap().iter().any(|k| k["kid"] == header["kid"]));
    }
    // A grant it does not list is refused.
    let r = app
        .client
        .post(token_endpoint)
        .basic_auth(&id, Some(&secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("grant_type", "password"), ("username", "a@example.com"), ("password", "x")]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "unsupported_grant_type");
}

async fn openid_configuration_lists_only_true_fields(db: TestDb) {
    let app = TestApp::spawn_with(&db, |c| c.signing_alg = user_service::config::SigningAlg::ES256).await;
    let doc = metadata(&app, "/.well-known/openid-configuration").await;
    let jwks: Value = app.get("/v1/auth/.well-known/jwks.json").await.json().await.unwrap();
    // Only issuer, keys and their algorithms: no password endpoint posing as
    // token_endpoint, no implicit-flow response type, no userinfo.
    assert_eq!(
        doc,
        json!({
            "issuer": app.issuer,
            "jwks_uri": format!("{}/v1/auth/.well-known/jwks.json", app.issuer),
            "id_token_signing_alg_values_supported": ["ES256"],
        })
    );
    assert_eq!(jwks["keys"][0]["alg"], "ES256");
    let (_, tokens) = app.new_user().await;
    assert_eq!(claims_of(&tokens.access)["iss"], doc["issuer"]);
    assert_eq!(header_of(&tokens.access)["alg"], "ES256");
}

async fn core_discovery_finds_the_keys_of_user_service(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (_, tokens) = app.new_user().await;
    let keys = authgate::KeySet::discover(&app.issuer, authgate::KeySetConfig::default()).unwrap();
    let verifier = authgate::Verifier::builder()
        .issuer(app.issuer.clone(), keys)
        .audience("trading-platform")
        .build()
        .unwrap();
    let principal = verifier.verify(&tokens.access).await.unwrap();
    assert_eq!(claims_of(&tokens.access)["sub"], principal.user_id());
}
