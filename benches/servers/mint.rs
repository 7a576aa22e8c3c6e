//! Mints the tokens and the key set the HTTP benches share (`benches/wrk/compare.sh`):
//! `DIR/jwks.json` (one RS256 key) and `DIR/tokens.txt` (COUNT access tokens for
//! distinct users, one per line, valid for two hours).
//!
//! `cargo run --release -p authgate --example bench_mint -- DIR COUNT`

use std::io::Write;

use authgate_testkit::{TestKey, jwks, standard_claims};

/// The issuer and audience every bench server trusts.
const ISSUER: &str = "https://id.bench.example";
const AUDIENCE: &str = "bench-api";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: bench_mint DIR COUNT";
    let dir = std::path::PathBuf::from(args.next().ok_or(usage)?);
    let count: usize = args.next().ok_or(usage)?.parse()?;
    std::fs::create_dir_all(&dir)?;

    let key = TestKey::shared_rs256();
    std::fs::write(dir.join("jwks.json"), jwks(&[&key]).to_string())?;
    // RSA signing is the slow part: one thread per core.
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let chunks: Vec<Vec<String>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let key = key.clone();
                scope.spawn(move || {
                    (t..count)
                        .step_by(threads)
                        .map(|i| {
                            key.token()
                                .claims(standard_claims(ISSUER, AUDIENCE, &format!("bench-{i}"), 7200))
                                .claim("email", format!("bench-{i}@example.com"))
                                .claim("permissions", serde_json::json!(["positions:read"]))
                                .sign()
                        })
                        .collect()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or_default()).collect()
    });
    let mut file = std::io::BufWriter::new(std::fs::File::create(dir.join("tokens.txt"))?);
    let mut written = 0;
    for token in chunks.iter().flatten() {
        writeln!(file, "{token}")?;
        written += 1;
    }
    file.flush()?;
    if written != count {
        return Err(format!("minted {written} of {count} tokens").into());
    }
    Ok(())
}
