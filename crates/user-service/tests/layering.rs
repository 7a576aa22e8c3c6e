//! The crate's layering, `routes -> domain -> store`, held as a test: the domain knows
//! nothing of HTTP wiring and the store nothing of the domain (issue 11).

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("readable source folder") {
        let path = entry.expect("readable entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// Every line of `folder`'s files that names one of `forbidden`, as `file:line: text`.
fn offending_lines(folder: &str, forbidden: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(folder);
    let mut found = Vec::new();
    for file in rust_files(&root) {
        let text = std::fs::read_to_string(&file).expect("readable source file");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if forbidden.iter().any(|name| code.contains(name)) {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn the_domain_names_no_http_wiring() {
    let found = offending_lines(
        "domain",
        &["axum", "crate::routes", "crate::startup", "crate::state", "AppState", "StateInner"],
    );
    assert!(
        found.is_empty(),
        "domain files must not name axum, routes, startup or AppState:\n{}",
        found.join("\n")
    );
}

/// The routes take the shared state from `state.rs`; `startup.rs` mounts the routes, so a
/// route naming it would make the two import each other.
#[test]
fn the_routes_never_name_the_startup_code_that_mounts_them() {
    let found = offending_lines("routes", &["crate::startup"]);
    assert!(found.is_empty(), "route files must not name crate::startup:\n{}", found.join("\n"));
}

#[test]
fn the_store_names_neither_the_domain_nor_http() {
    let found = offending_lines("store", &["axum", "crate::routes", "crate::domain", "AppState"]);
    assert!(
        found.is_empty(),
        "store files must not name axum, routes, the domain or AppState:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_sees_a_forbidden_name() {
    // The checks above pass vacuously if they read nothing: this one must find itself.
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/layering.rs");
    let text = std::fs::read_to_string(here).expect("this file");
    assert!(
        text.contains("axum")
            && !rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src/domain")).is_empty()
    );
}

#[test]
fn the_readme_request_flow_names_files_and_functions_that_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("the crate README");
    let section = readme
        .split("## How a request flows")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("a 'How a request flows' section");
    let sources: String =
        rust_files(&root.join("src")).iter().map(|f| std::fs::read_to_string(f).expect("source")).collect();
    let mut missing = Vec::new();
    for quoted in section.split('`').skip(1).step_by(2) {
        if quoted.ends_with(".rs") || quoted.ends_with('/') {
            let path = if quoted.starts_with("src/") || quoted.starts_with("tests/") {
                root.join(quoted)
            } else {
                root.join("src").join(quoted)
            };
            if !path.exists() {
                missing.push(quoted.to_owned());
            }
        } else if let Some((ty, function)) =
            quoted.split_once("::").filter(|(ty, _)| ty.starts_with(char::is_uppercase))
        {
            let function = function.split('(').next().unwrap_or_default();
            let defined =
                sources.contains(&format!("struct {ty}")) || sources.contains(&format!("enum {ty}"));
            if !(defined && sources.contains(&format!("fn {function}"))) {
                missing.push(quoted.to_owned());
            }
        }
    }
    assert!(missing.is_empty(), "the README's request flow names what the code does not have: {missing:?}");
}
