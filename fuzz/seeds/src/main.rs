//! Writes the seed corpora in `fuzz/corpus/<target>/` (run from anywhere):
//!
//! ```sh
//! cargo run --manifest-path fuzz/Cargo.toml -p authgate-fuzz-seeds
//! ```
//!
//! Seeds come from the testkit (good tokens and each of its malformed variants, JWKS
//! documents of every key type) and from Wycheproof's JWS vectors in
//! `crates/authgate/tests/data/` (the JWS groups' tokens and keys). They are small on purpose: libFuzzer finds the rest,
//! and the corpora are committed.

use std::fs;
use std::path::{Path, PathBuf};

use authgate::api_key::format;
use authgate_testkit::{TestKey, jwks, malformed};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

#[path = "../../common.rs"]
mod common;
#[path = "../../user_service.rs"]
mod user_service_ops;

struct Corpus {
    dir: PathBuf,
    count: usize,
}

impl Corpus {
    fn new(root: &Path, target: &str) -> Corpus {
        let dir = root.join(target);
        // Start clean, so removed seeds do not linger.
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create corpus dir");
        Corpus { dir, count: 0 }
    }

    fn add(&mut self, bytes: impl AsRef<[u8]>) {
        self.count += 1;
        fs::write(self.dir.join(format!("seed-{:03}", self.count)), bytes).expect("write seed");
    }
}

fn main() {
    let fuzz_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let root = fuzz_dir.join("corpus");
    let mut groups = Vec::new();
    for file in ["wycheproof_jws.json", "wycheproof_jws_rsa.json"] {
        let vectors: Value = serde_json::from_str(
            &fs::read_to_string(fuzz_dir.join("../crates/authgate/tests/data").join(file))
                .expect("read the Wycheproof JWS vectors"),
        )
        .expect("vectors are JSON");
        groups.extend(vectors["groups"].as_array().expect("groups").iter().cloned());
    }

    jws(&mut Corpus::new(&root, "jws"), &groups);
    jwks_docs(&mut Corpus::new(&root, "jwks"), &groups);
    credentials(&mut Corpus::new(&root, "credentials"));
    api_keys(&mut Corpus::new(&root, "api_key"));
    user_service_bodies(&mut Corpus::new(&root, "user_service_bodies"));
}

fn claims() -> Value {
    json!({
        "iss": common::HS_ISSUER,
        "aud": common::AUDIENCE,
        "sub": "user-7",
        "iat": common::NOW - 10,
        "nbf": common::NOW - 10,
        "exp": common::NOW + 600,
        "jti": "j-1",
        "sid": "s-1",
        "email": "trader@example.com",
        "roles": ["trader"],
        "permissions": ["orders:*", "admin:read"],
        "scope": "read write",
    })
}

fn raw(token: &str) -> Vec<u8> {
    let mut seed = vec![0u8];
    seed.extend_from_slice(token.as_bytes());
    seed
}

fn signed(header: &str, payload: &str) -> Vec<u8> {
    let mut seed = vec![1u8];
    seed.extend_from_slice(header.as_bytes());
    seed.push(common::SIGNED_MODE_SEPARATOR);
    seed.extend_from_slice(payload.as_bytes());
    seed
}

fn jws(corpus: &mut Corpus, groups: &[Value]) {
    // Wycheproof's JWS vectors, as raw tokens.
    for group in groups {
        for case in group["tests"].as_array().expect("tests") {
            corpus.add(raw(case["jws"].as_str().expect("jws")));
        }
    }
    // A valid HS256 token for the fixed verifier, and every malformed variant of it.
    let key = TestKey::hmac("HS256", common::HS_SECRET);
    let good = key.token().claims(claims()).sign();
    for token in [
        good.clone(),
        malformed::strip_signature(&good),
        malformed::drop_signature_segment(&good),
        malformed::with_segments(&good, 5),
        malformed::tamper_payload(&good),
        malformed::padded(&good),
        malformed::std_base64_chars(&good),
        malformed::with_space(&good),
        key.token().claims(claims()).header("typ", "at+jwt").header("kid", "k1").sign(),
        key.token().claims(claims()).claim("aud", json!(["other", common::AUDIENCE])).sign(),
        key.token().claims(claims()).claim("exp", common::NOW - 3600).sign(),
        key.token().claims(claims()).header("crit", json!(["exp"])).sign(),
        key.token().claims(claims()).header("alg", "none").unsigned(),
    ] {
        corpus.add(raw(&token));
    }
    // Signed mode: the harness signs these, so they reach claim validation.
    let header = r#"{"alg":"HS256","typ":"at+jwt"}"#;
    let payload = claims().to_string();
    corpus.add(signed(header, &payload));
    corpus.add(signed(r#"{"alg":"HS256","kid":"a","typ":"JWT"}"#, &payload));
    corpus.add(signed(r#"{"alg":"HS256","alg":"HS256"}"#, &payload));
    corpus.add(signed(header, &payload.replacen("\"sub\"", "\"sub\":\"x\",\"sub\"", 1)));
    corpus.add(signed(header, &format!("{{\"a\":{}1{}}}", "[".repeat(20), "]".repeat(20))));
    corpus.add(signed(header, r#"{"iss":"https://hs.fuzz.example","aud":"fuzz-api","sub":"u","exp":1.7e9,"scp":["read"],"amr":["pwd","otp"]}"#));
    corpus.add(signed(
        header,
        r#"{"iss":"https://hs.fuzz.example","aud":[],"sub":"","exp":18446744073709551615}"#,
    ));
    let mut bare = vec![1u8];
    bare.extend_from_slice(payload.as_bytes());
    corpus.add(bare);
    // A base64url header alone, for the segment splitter.
    corpus.add(raw(&URL_SAFE_NO_PAD.encode(header)));
}

fn jwks_docs(corpus: &mut Corpus, groups: &[Value]) {
    let keys = [
        TestKey::shared_rs256(),
        TestKey::rsa(2048, "PS256"),
        TestKey::es256(),
        TestKey::es384(),
        TestKey::ed25519(),
    ];
    corpus.add(jwks(&keys.iter().collect::<Vec<_>>()).to_string());
    for key in &keys {
        corpus.add(jwks(&[key]).to_string());
    }
    for group in groups {
        if group["key"]["kty"] != "oct" {
            corpus.add(json!({ "keys": [group["key"]] }).to_string());
        }
    }
    corpus.add(r#"{"keys":[]}"#);
    corpus.add(r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#);
    corpus.add(r#"{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB","kid":"tiny"}]}"#);
    corpus.add(r#"{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA","kid":"off-curve"}]}"#);
    corpus.add(keys[0].public_key_pem());
}

fn credentials(corpus: &mut Corpus) {
    let token = TestKey::hmac("HS256", common::HS_SECRET).token().claims(claims()).sign();
    let key = format::generate("live").expect("generate a key");
    let ws = "upgrade: websocket\nconnection: Upgrade\nsec-websocket-version: 13";
    for seed in [
        format!("\nauthorization: Bearer {token}"),
        format!("\nAuthorization: bearer   {token}"),
        format!("\nauthorization: Bearer {token}\nauthorization: Bearer {token}"),
        format!("\nauthorization: Basic dXNlcjpwYXNz\nx-api-key: {key}"),
        format!("api_key={key}\nx-api-key: {key}"),
        format!("\ncookie: theme=dark; session={token}; other=1"),
        format!("token={token}&x=1\n{ws}"),
        format!("token={}\n{ws}", token.replace('.', "%2E")),
        format!("\n{ws}\nsec-websocket-protocol: bearer, {token}"),
        format!("token={token}\n{ws}\nauthorization: Bearer {token}"),
        format!("access_token={token}&code=abc&state=xyz\n"),
    ] {
        corpus.add(seed);
    }
}

fn api_keys(corpus: &mut Corpus) {
    let good = format::generate("live").expect("generate a key");
    let mut typo = good.clone().into_bytes();
    typo[12] = if typo[12] == b'a' { b'b' } else { b'a' };
    for seed in [
        good.clone(),
        format::generate("test").expect("generate a key"),
        String::from_utf8(typo).expect("ascii"),
        good[..good.len() - 1].to_owned(),
        good.replacen("ak_", "AK_", 1),
        "ak_".to_owned(),
        "ak__".to_owned(),
        "ak_live_ääääääääääääääääääääääääääääääääääääää".to_owned(),
        format::hash_hex(&good),
    ] {
        corpus.add(seed);
    }
}

/// Per body operation of user-service's OpenAPI document, a body built from its schema,
/// sent by each kind of caller, and an empty object.
fn user_service_bodies(corpus: &mut Corpus) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let dir = std::env::temp_dir().join(format!("authgate-fuzz-seeds-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("temp dir");
    let app = rt
        .block_on(user_service::Application::build(user_service_ops::config(&dir.join("users.db"))))
        .expect("user-service builds");
    let router = app.into_router();
    let spec = rt.block_on(user_service_ops::spec(&router));
    for (index, operation) in user_service_ops::body_operations(&spec).iter().enumerate() {
        let index = u8::try_from(index).expect("fewer than 256 operations");
        let schema =
            spec["paths"][&operation.path][operation.method.to_lowercase()]["requestBody"]["content"]
                [operation.content_type]["schema"]
                .clone();
        let sample = sample(&spec, &schema, 0);
        let body = if operation.content_type == "application/json" {
            sample.to_string()
        } else {
            let fields = sample.as_object().cloned().unwrap_or_default();
            fields
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                .collect::<Vec<_>>()
                .join("&")
        };
        for who in [0u8, 1, 2] {
            corpus.add([&[index, who][..], body.as_bytes()].concat());
        }
        corpus.add([&[index, 2][..], b"{}"].concat());
    }
    let _ = fs::remove_dir_all(&dir);
}

/// A value that fits `schema` (enough of JSON Schema for the service's request types).
fn sample(spec: &Value, schema: &Value, depth: usize) -> Value {
    if depth > 8 {
        return Value::Null;
    }
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap_or_default();
        return sample(spec, &spec["components"]["schemas"][name], depth + 1);
    }
    for combinator in ["oneOf", "anyOf", "allOf"] {
        if let Some(first) =
            schema[combinator].as_array().and_then(|all| all.iter().find(|s| s["type"] != "null"))
        {
            return sample(spec, first, depth + 1);
        }
    }
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    if let Some(example) = schema.get("example") {
        return example.clone();
    }
    let kind = match &schema["type"] {
        Value::Array(kinds) => kinds.iter().find(|k| *k != "null").cloned().unwrap_or(Value::Null),
        other => other.clone(),
    };
    match kind.as_str() {
        Some("object") => Value::Object(
            schema["properties"]
                .as_object()
                .map(|props| props.iter().map(|(k, v)| (k.clone(), sample(spec, v, depth + 1))).collect())
                .unwrap_or_default(),
        ),
        Some("array") => json!([sample(spec, &schema["items"], depth + 1)]),
        Some("integer") => schema["minimum"].as_i64().map_or(json!(1), |min| json!(min.max(1))),
        Some("number") => json!(1.5),
        Some("boolean") => json!(true),
        Some("string") => match schema["format"].as_str() {
            Some("email") => json!(user_service_ops::USER_EMAIL),
            _ => json!(user_service_ops::PASSWORD),
        },
        _ => Value::Null,
    }
}
