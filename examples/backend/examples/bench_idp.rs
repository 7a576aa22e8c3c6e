//! Bench helper for `benches/wrk/backend.sh`: serves a JWKS for example-backend and
//! writes access tokens for wrk, one per line.
//!
//! `cargo run --release -p example-backend --example bench_idp -- TOKENS_FILE COUNT`
//! prints `JWKS_URL=...` once the tokens are written, then serves until killed.

use std::io::Write;

use authgate_testkit::{MockJwksServer, TestKey, standard_claims};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: bench_idp TOKENS_FILE COUNT")?;
    let count: usize = args.next().ok_or("usage: bench_idp TOKENS_FILE COUNT")?.parse()?;

    let key = TestKey::shared_rs256();
    let idp = MockJwksServer::start().await;
    idp.set_keys(&[&key]);

    let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
    for i in 0..count {
        let token = key
            .token()
            .claims(standard_claims("http://127.0.0.1:8011", "trading-platform", &format!("bench-{i}"), 3600))
            .claim("email", format!("bench-{i}@example.com"))
            .claim("permissions", serde_json::json!(["positions:read"]))
            .sign();
        writeln!(file, "{token}")?;
    }
    file.flush()?;

    let mut out = std::io::stdout().lock();
    writeln!(out, "JWKS_URL={}", idp.jwks_url())?;
    out.flush()?;
    drop(out);
    std::future::pending::<()>().await;
    Ok(())
}
