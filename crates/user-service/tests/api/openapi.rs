//! `/openapi.json` and `/docs`.
//!
//! # How the document is compared with the router
//!
//! axum cannot list its routes, so the comparison runs both ways by other means:
//!
//! - **Document -> router.** Every documented operation is requested (path parameters set
//!   to a dummy id, no body, no credentials). A route that exists answers from its
//!   handler or its auth layer (401, 415, 422, 404 *from the handler*, ...). A path the
//!   router does not know reaches the app's fallback, which marks its 404 with
//!   `x-route-fallback`; a known path with an unregistered method answers 405. Either
//!   fails the test.
//! - **Router -> document.** The route files are read at compile time (`include_str!`
//!   of every `src/routes/*.rs`) and every registration is parsed. A
//!   `.routes(routes!(h1, h2))` call (utoipa-axum) serves each handler at the method and
//!   path of its `#[utoipa::path(<method>, path = "<path>", ..)]` in the same file; the
//!   handlers of one `routes!` must share a path, since utoipa-axum serves all of their
//!   methods at each of their paths. A plain axum `.route("<path>", <method router>)`
//!   call is read as the path literal, and the methods as the `get(`/`post(`/`put(`/
//!   `patch(`/`delete(` calls inside that call's parentheses (`get(h).post(h)`,
//!   `get(h).layer(..).merge(post(h))`, `axum::routing::post(h)` all count). Each must be
//!   documented, and the document must hold nothing else. A registration the scanner
//!   cannot read (a `.route(` whose path is not a string literal, one with no
//!   recognizable method, a `routes!` handler with no `#[utoipa::path]` in the file)
//!   fails the test loudly rather than being skipped: write routes in those forms.
//!   Comments and `#[cfg(test)]` modules are ignored. A new route file must be added to
//!   [`ROUTE_SOURCES`].

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{TestApp, run_sqlite};

/// Every file that registers routes.
const ROUTE_SOURCES: &[(&str, &str)] = &[
    ("admin.rs", include_str!("../../src/routes/admin.rs")),
    ("api_keys.rs", include_str!("../../src/routes/api_keys.rs")),
    ("auth.rs", include_str!("../../src/routes/auth.rs")),
    ("health.rs", include_str!("../../src/routes/health.rs")),
    ("mfa.rs", include_str!("../../src/routes/mfa.rs")),
    ("mod.rs", include_str!("../../src/routes/mod.rs")),
    ("oauth_token.rs", include_str!("../../src/routes/oauth_token.rs")),
    ("openapi.rs", include_str!("../../src/routes/openapi.rs")),
    ("password_policy.rs", include_str!("../../src/routes/password_policy.rs")),
    ("roles.rs", include_str!("../../src/routes/roles.rs")),
    ("service_clients.rs", include_str!("../../src/routes/service_clients.rs")),
    ("trading_accounts.rs", include_str!("../../src/routes/trading_accounts.rs")),
    ("users.rs", include_str!("../../src/routes/users.rs")),
    ("wellknown.rs", include_str!("../../src/routes/wellknown.rs")),
];

const METHODS: &[&str] = &["get", "post", "put", "patch", "delete", "head", "options", "trace"];

type Operation = (String, String);

async fn fetch_document(app: &TestApp) -> Value {
    let r = app.get("/openapi.json").await;
    assert_eq!(r.status(), StatusCode::OK);
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/json"), "{ct}");
    r.json().await.unwrap()
}

fn documented_operations(doc: &Value) -> BTreeSet<Operation> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().unwrap().keys().filter(|k| METHODS.contains(&k.as_str())) {
            out.insert((method.clone(), path.clone()));
        }
    }
    out
}

/// Resolves a local JSON pointer (`#/components/schemas/X`).
fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    doc.pointer(&pointer.replace("~1", "/").replace("~0", "~"))
}

fn check_refs(doc: &Value, node: &Value, at: &str, broken: &mut Vec<String>) {
    match node {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref")
                && resolve(doc, r).is_none()
            {
                broken.push(format!("{at}: {r}"));
            }
            for (k, v) in map {
                check_refs(doc, v, &format!("{at}/{k}"), broken);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                check_refs(doc, v, &format!("{at}/{i}"), broken);
            }
        }
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_openapi_3_1_with_responses_security_and_resolvable_refs() {
    run_sqlite(|db| async move {
        let app = TestApp::spawn(&db).await;
        let doc = fetch_document(&app).await;
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
        assert!(!doc["info"]["title"].as_str().unwrap().is_empty());
        assert!(!doc["info"]["description"].as_str().unwrap().is_empty());
        assert_eq!(doc["servers"][0]["url"], app.issuer.as_str());

        let schemes = &doc["components"]["securitySchemes"];
        assert_eq!(schemes["bearer"]["type"], "http");
        assert_eq!(schemes["bearer"]["scheme"], "bearer");
        assert_eq!(schemes["bearer"]["bearerFormat"], "JWT");
        assert_eq!(schemes["api_key"]["type"], "apiKey");
        assert_eq!(schemes["api_key"]["in"], "header");
        assert_eq!(schemes["api_key"]["name"], "X-API-Key");
        assert_eq!(schemes["client_basic"]["type"], "http");
        assert_eq!(schemes["client_basic"]["scheme"], "basic");
        assert!(doc["components"]["schemas"]["ErrorBody"]["properties"]["error"].is_object());

        let tags: BTreeSet<&str> =
            doc["tags"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
        let mut problems = Vec::new();
        for (method, path) in documented_operations(&doc) {
            let op = &doc["paths"][&path][&method];
            let name = format!("{} {path}", method.to_uppercase());
            let responses = op["responses"].as_object();
            if responses.is_none_or(|r| r.is_empty()) {
                problems.push(format!("{name}: no responses"));
            }
            for (status, response) in responses.into_iter().flatten() {
                if response.get("$ref").is_none() && !response["description"].is_string() {
                    problems.push(format!("{name} {status}: no description"));
                }
            }
            let op_tags = op["tags"].as_array().map(Vec::as_slice).unwrap_or_default();
            if op_tags.is_empty() {
                problems.push(format!("{name}: no tag"));
            }
            for tag in op_tags.iter().filter_map(Value::as_str).filter(|t| !tags.contains(t)) {
                problems.push(format!("{name}: tag {tag} not declared"));
            }
            for requirement in op["security"].as_array().map(Vec::as_slice).unwrap_or_default() {
                for scheme in requirement.as_object().unwrap().keys() {
                    if schemes.get(scheme).is_none() {
                        problems.push(format!("{name}: unknown security scheme {scheme}"));
                    }
                }
            }
            for param in path.split('{').skip(1).filter_map(|s| s.split_once('}')).map(|(p, _)| p) {
                let declared = op["parameters"].as_array().is_some_and(|ps| {
                    ps.iter().any(|p| p["name"] == param && p["in"] == "path" && p["required"] == true)
                });
                if !declared {
                    problems.push(format!("{name}: path parameter {param} not declared"));
                }
            }
        }
        check_refs(&doc, &doc, "#", &mut problems);
        assert!(problems.is_empty(), "document problems:\n{}", problems.join("\n"));
    })
    .await;
}

/// An independent parser (`oas3`) reads the document as OpenAPI 3.1, and every
/// `operationId` is unique (the specification requires it; clients generate method names
/// from them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_parses_as_openapi_3_1_with_unique_operation_ids() {
    run_sqlite(|db| async move {
        let app = TestApp::spawn(&db).await;
        let text = app.get("/openapi.json").await.text().await.unwrap();
        let spec = oas3::from_json(&text).expect("a typed OpenAPI 3.1 document");
        let version = spec.validate_version().expect("a supported OpenAPI version");
        assert_eq!((version.major, version.minor), (3, 1));
        let mut seen = BTreeSet::new();
        let mut duplicates = Vec::new();
        for (path, method, op) in spec.operations() {
            let id = op.operation_id.clone().unwrap_or_else(|| panic!("{method} {path}: no operationId"));
            if !seen.insert(id.clone()) {
                duplicates.push(format!("{method} {path}: {id}"));
            }
        }
        assert!(duplicates.is_empty(), "duplicate operationIds:\n{}", duplicates.join("\n"));
        assert!(seen.len() > 50, "every operation is there ({})", seen.len());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_is_served() {
    run_sqlite(|db| async move {
        let app = TestApp::spawn(&db).await;
        let doc = fetch_document(&app).await;
        let mut missing = Vec::new();
        for (method, path) in documented_operations(&doc) {
            let concrete: String = {
                let mut out = String::new();
                let mut rest = path.as_str();
                while let Some((before, after)) = rest.split_once('{') {
                    out.push_str(before);
                    out.push_str("00000000-0000-4000-8000-000000000000");
                    rest = after.split_once('}').map_or("", |(_, r)| r);
                }
                out.push_str(rest);
                out
            };
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = app.client.request(m, app.url(&concrete)).send().await.unwrap();
            if r.headers().contains_key("x-route-fallback") || r.status() == StatusCode::METHOD_NOT_ALLOWED {
                missing.push(format!("{} {path} -> {}", method.to_uppercase(), r.status()));
            }
        }
        assert!(missing.is_empty(), "documented but not served:\n{}", missing.join("\n"));
    })
    .await;
}

/// `(method, path)` of every `.route(...)` and `routes!(...)` in a route file; `Err` for
/// a call the scanner cannot read.
fn registered_routes(file: &str, source: &str) -> Result<Vec<Operation>, String> {
    let code: String = source
        .split("#[cfg(test)]")
        .next()
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        let args = rest.trim_start();
        let Some(after_quote) = args.strip_prefix('"') else {
            return Err(format!(
                "{file}: a .route( whose path is not a string literal: {}",
                &args[..40.min(args.len())]
            ));
        };
        let Some((path, after_path)) = after_quote.split_once('"') else {
            return Err(format!("{file}: unterminated path literal"));
        };
        // The method router: up to the parenthesis that closes `.route(`.
        let mut depth = 1;
        let mut end = after_path.len();
        for (i, c) in after_path.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let router = &after_path[..end];
        let mut methods = Vec::new();
        for method in METHODS {
            let call = format!("{method}(");
            let mut from = 0;
            while let Some(i) = router[from..].find(&call) {
                let start = from + i;
                let before = router[..start].chars().next_back();
                if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    methods.push((*method).to_owned());
                    break;
                }
                from = start + call.len();
            }
        }
        if methods.is_empty() {
            return Err(format!("{file}: no method found for route {path}"));
        }
        out.extend(methods.into_iter().map(|m| (m, path.to_owned())));
        rest = &after_path[end..];
    }
    out.extend(utoipa_axum_routes(file, &code)?);
    Ok(out)
}

/// `(method, path)` of every handler named in a `routes!(...)`, read from the handler's
/// `#[utoipa::path(<method>, path = "<path>", ..)] .. fn <handler>` in the same code.
fn utoipa_axum_routes(file: &str, code: &str) -> Result<Vec<Operation>, String> {
    let mut documented = std::collections::BTreeMap::new();
    for attribute in code.split("#[utoipa::path(").skip(1) {
        let method = attribute.split(',').next().unwrap_or_default().trim();
        let path = attribute.split_once("path = \"").and_then(|(_, p)| p.split_once('"')).map(|(p, _)| p);
        let handler = attribute.split_once("fn ").and_then(|(_, f)| f.split(['(', '<']).next());
        match (path, handler) {
            (Some(path), Some(handler)) if METHODS.contains(&method) => {
                documented.insert(handler.trim(), (method.to_owned(), path.to_owned()));
            }
            _ => return Err(format!("{file}: a #[utoipa::path] the scanner cannot read")),
        }
    }
    let mut out = Vec::new();
    for call in code.split("routes!(").skip(1) {
        let handlers = call.split(')').next().unwrap_or_default();
        let mut paths = BTreeSet::new();
        for handler in handlers.split(',').map(str::trim).filter(|h| !h.is_empty()) {
            let Some(operation) = documented.get(handler) else {
                return Err(format!("{file}: routes!({handlers}): {handler} has no #[utoipa::path]"));
            };
            paths.insert(operation.1.clone());
            out.push(operation.clone());
        }
        if paths.len() != 1 {
            return Err(format!("{file}: routes!({handlers}) must name handlers of one path: {paths:?}"));
        }
    }
    Ok(out)
}

#[test]
fn the_route_scanner_reads_the_forms_the_service_uses() {
    let source = r#"
        // .route("/commented", get(x))
        Router::new()
            .route("/a", get(a).patch(b).delete(delete))
            .route(
                "/b/{id}",
                get(get_b).layer(require_permission(P)).merge(axum::routing::post(post_b).layer(L)),
            )
            .route("/c", put(set).layer(require_permission(X)))
            .routes(routes!(list_d, create_d))
            .routes(routes!(get_d))
        #[utoipa::path(
            get,
            path = "/d",
            responses((status = 200, description = "(a, b)")),
        )]
        async fn list_d() {}
        #[utoipa::path(post, path = "/d")]
        async fn create_d(State(s): State<AppState>) {}
        #[utoipa::path(get, path = "/d/{id}")]
        pub(crate) async fn get_d() {}
        #[cfg(test)]
        .route("/test-only", get(t))
    "#;
    let routes = registered_routes("t.rs", source).unwrap();
    let expected = [
        ("get", "/a"),
        ("patch", "/a"),
        ("delete", "/a"),
        ("get", "/b/{id}"),
        ("post", "/b/{id}"),
        ("put", "/c"),
        ("get", "/d"),
        ("post", "/d"),
        ("get", "/d/{id}"),
    ];
    let expected: BTreeSet<Operation> =
        expected.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    assert_eq!(routes.into_iter().collect::<BTreeSet<_>>(), expected);
    assert!(registered_routes("t.rs", ".route(PATH, get(x))").is_err());
    assert!(registered_routes("t.rs", r#".route("/x", on(filter, x))"#).is_err());
    assert!(registered_routes("t.rs", "routes!(undocumented)").is_err());
    let two_paths = r#"routes!(a, b) #[utoipa::path(get, path = "/a")] fn a() {}
        #[utoipa::path(get, path = "/b")] fn b() {}"#;
    assert!(registered_routes("t.rs", two_paths).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_registered_route_is_documented_and_nothing_else() {
    run_sqlite(|db| async move {
        let app = TestApp::spawn(&db).await;
        let documented = documented_operations(&fetch_document(&app).await);
        let mut registered = BTreeSet::new();
        for (file, source) in ROUTE_SOURCES {
            registered.extend(registered_routes(file, source).unwrap());
        }
        let show = |set: Vec<&Operation>| {
            set.iter().map(|(m, p)| format!("{} {p}", m.to_uppercase())).collect::<Vec<_>>().join("\n")
        };
        let undocumented: Vec<&Operation> = registered.difference(&documented).collect();
        assert!(undocumented.is_empty(), "served but not documented:\n{}", show(undocumented));
        let unregistered: Vec<&Operation> = documented.difference(&registered).collect();
        assert!(unregistered.is_empty(), "documented but not registered:\n{}", show(unregistered));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_serve_swagger_ui_from_local_assets_only() {
    run_sqlite(|db| async move {
        let app = TestApp::spawn(&db).await;
        let r = app.get("/docs").await;
        assert_eq!(r.status(), StatusCode::OK);
        let headers = r.headers().clone();
        assert!(headers["content-type"].to_str().unwrap().starts_with("text/html"));
        assert!(headers.contains_key("cache-control"));
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && !csp.contains("http"), "{csp}");
        let html = r.text().await.unwrap();
        assert!(!html.contains("http://") && !html.contains("https://"), "the page links outside:\n{html}");
        assert!(!html.contains("<script>"), "no inline scripts (the CSP forbids them)");

        let mut assets = Vec::new();
        for attr in ["src=\"", "href=\""] {
            for part in html.split(attr).skip(1) {
                assets.push(part.split('"').next().unwrap().to_owned());
            }
        }
        for expected in ["/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/docs/swagger-initializer.js"]
        {
            assert!(assets.iter().any(|a| a == expected), "{expected} not referenced");
        }
        // The contract: every type `/docs/{file}` answers is one its operation documents.
        let spec: serde_json::Value = app.get("/openapi.json").await.json().await.unwrap();
        let documented: Vec<String> = spec
            .pointer("/paths/~1docs~1{file}/get/responses/200/content")
            .and_then(|c| c.as_object())
            .expect("GET /docs/{file} documents its 200 content types")
            .keys()
            .cloned()
            .collect();
        for asset in &assets {
            assert!(asset.starts_with("/docs/"), "{asset} is not a local asset");
            let r = app.get(asset).await;
            assert_eq!(r.status(), StatusCode::OK, "{asset}");
            let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
            let want = match asset.rsplit('.').next().unwrap() {
                "js" => "text/javascript",
                "css" => "text/css",
                "png" => "image/png",
                other => panic!("unexpected asset type {other}"),
            };
            assert!(ct.starts_with(want), "{asset}: {ct}");
            let media_type = ct.split(';').next().unwrap_or_default().trim();
            assert!(
                documented.iter().any(|d| d == media_type),
                "{asset}: {media_type} not in {documented:?}"
            );
            assert!(r.headers().contains_key("cache-control"), "{asset}");
            assert_eq!(r.headers()["x-content-type-options"], "nosniff");
            let body = r.bytes().await.unwrap();
            assert!(!body.is_empty(), "{asset}");
            if asset.ends_with("swagger-initializer.js") {
                let js = String::from_utf8(body.to_vec()).unwrap();
                assert!(js.contains("\"/openapi.json\""), "the initializer loads our document");
                assert!(!js.contains("http://") && !js.contains("https://"));
                assert!(js.contains("validatorUrl: null"), "no calls to the online validator");
            }
        }
        let r = app.get("/docs/nothing-here.js").await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    })
    .await;
}
