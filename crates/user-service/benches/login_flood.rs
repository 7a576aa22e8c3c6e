//! Login flood vs. liveness: saturates Argon2id (production parameters) with concurrent
//! wrong-password logins and measures how fast `/health` and the JWKS still answer.
//!
//! `cargo bench -p user-service --bench login_flood` (SQLite in a temp dir; throttling
//! is raised so every login really hashes). Prints a Markdown table.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use user_service::{Application, Config};

const FLOODERS: usize = 64;
const PHASE: Duration = Duration::from_secs(8);

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn probe(client: &reqwest::Client, url: &str, until: Instant) -> Vec<Duration> {
    let mut out = Vec::new();
    while Instant::now() < until {
        let t = Instant::now();
        let ok = client.get(url).send().await.map(|r| r.status().is_success()).unwrap_or(false);
        assert!(ok, "{url} failed during the flood");
        out.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    out.sort();
    out
}

fn row(name: &str, samples: &[Duration]) -> String {
    format!(
        "| {name} | {} | {:.1} | {:.1} | {:.1} |",
        samples.len(),
        percentile(samples, 0.5).as_secs_f64() * 1000.0,
        percentile(samples, 0.99).as_secs_f64() * 1000.0,
        samples.last().copied().unwrap_or_default().as_secs_f64() * 1000.0
    )
}

#[tokio::main]
async fn main() {
    let dir = std::env::temp_dir().join(format!("user-service-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let vars: HashMap<String, String> = [
        ("USER_SERVICE_PORT", "0".to_owned()),
        ("DATABASE_URL", format!("sqlite://{}/bench.db?mode=rwc", dir.display())),
        ("MASTER_ENCRYPTION_KEY", "YmVuY2gtbWFzdGVyLWtleS0wMTIzNDU2Nzg5MDEyMzQ=".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let mut config = Config::from_vars(&vars).expect("config");
    config.login_max_failures = 1_000_000_000;
    let concurrency = config.hash_concurrency;
    let app = Application::build(config).await.expect("build");
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let email = "bench@example.com";
    let r = client
        .post(format!("{base}/v1/auth/register"))
        .json(&serde_json::json!({"email": email, "password": "bench password 123", "name": "b"}))
        .send()
        .await
        .expect("register");
    assert!(r.status().is_success());

    let health = format!("{base}/health");
    let jwks = format!("{base}/v1/auth/.well-known/jwks.json");
    let idle_until = Instant::now() + Duration::from_secs(3);
    let (idle_health, idle_jwks) =
        tokio::join!(probe(&client, &health, idle_until), probe(&client, &jwks, idle_until));

    let flood_until = Instant::now() + PHASE;
    let mut flooders = Vec::new();
    for _ in 0..FLOODERS {
        let client = client.clone();
        let url = format!("{base}/v1/auth/login");
        flooders.push(tokio::spawn(async move {
            let mut n = 0u64;
            let mut latencies = Vec::new();
            while Instant::now() < flood_until {
                let t = Instant::now();
                let _ = client
                    .post(&url)
                    .json(
                        &serde_json::json!({"email": "bench@example.com", "password": "wrong password 123"}),
                    )
                    .send()
                    .await;
                latencies.push(t.elapsed());
                n += 1;
            }
            (n, latencies)
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (flood_health, flood_jwks) =
        tokio::join!(probe(&client, &health, flood_until), probe(&client, &jwks, flood_until));
    let mut logins = 0;
    let mut login_lat = Vec::new();
    for f in flooders {
        let (n, l) = f.await.expect("flooder");
        logins += n;
        login_lat.extend(l);
    }
    login_lat.sort();

    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "\nLogin flood: {FLOODERS} concurrent wrong-password logins for {}s, Argon2id m=19456 t=2 p=1, hashing bound {concurrency}",
        PHASE.as_secs()
    );
    let _ = writeln!(out, "logins answered: {logins} ({:.1}/s)\n", logins as f64 / PHASE.as_secs_f64());
    let _ = writeln!(out, "| probe | samples | p50 ms | p99 ms | max ms |\n| --- | --- | --- | --- | --- |");
    for (name, s) in [
        ("/health idle", &idle_health),
        ("JWKS idle", &idle_jwks),
        ("/health during flood", &flood_health),
        ("JWKS during flood", &flood_jwks),
        ("login during flood", &login_lat),
    ] {
        let _ = writeln!(out, "{}", row(name, s));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
