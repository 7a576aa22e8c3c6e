//! TLS to the data stores, against a throwaway PostgreSQL (initdb in a temporary
//! directory, `ssl=on`, only `hostssl` connections allowed) and a `redis-server
//! --tls-port`, both with a server certificate from a CA the test makes with `openssl`.
//! A certificate from another CA is refused. Skipped, with a notice, where the server
//! binaries or `openssl` are missing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use user_service::Application;

use crate::helpers::{TestDb, test_config, unique};

fn notice_skipped(what: &str, why: &str) {
    let _ = writeln!(std::io::stderr(), "\nNOTICE: {what} was SKIPPED: {why}.\n");
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A CA, a second CA nobody trusts, and a server certificate for 127.0.0.1 from the first.
struct Certificates {
    dir: PathBuf,
}

impl Certificates {
    fn make() -> Option<Certificates> {
        if Command::new("openssl").arg("version").output().is_err() {
            return None;
        }
        let dir = std::env::temp_dir().join(format!("user-service-tls-{}", unique()));
        std::fs::create_dir_all(&dir).unwrap();
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
        for ca in ["ca", "other-ca"] {
            run(Command::new("openssl").current_dir(&dir).args(["req", "-x509"]).args(ec).args([
                "-days",
                "1",
                "-subj",
                &format!("/CN=test {ca}"),
                "-keyout",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.pem"),
            ]));
        }
        run(Command::new("openssl").current_dir(&dir).arg("req").args(ec).args([
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ]));
        std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").unwrap();
        run(Command::new("openssl").current_dir(&dir).args([
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "san.ext",
            "-out",
            "server.crt",
        ]));
        Some(Certificates { dir })
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

impl Drop for Certificates {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn postgres_bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir("/usr/lib/postgresql").ok()?.flatten().map(|e| e.path().join("bin")).collect();
    dirs.sort();
    dirs.into_iter().rev().find(|d| d.join("initdb").exists() && d.join("pg_ctl").exists())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// A PostgreSQL cluster of its own that accepts only TLS connections (`hostssl`).
struct TlsPostgres {
    bin: PathBuf,
    data: PathBuf,
    as_root: bool,
    port: u16,
}

impl TlsPostgres {
    fn pg(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_root {
            // PostgreSQL refuses to run as root.
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn start(certs: &Certificates) -> Option<TlsPostgres> {
        let bin = postgres_bin_dir()?;
        let as_root = is_root();
        let base = std::env::temp_dir().join(format!("user-service-pg-{}", unique()));
        std::fs::create_dir_all(&base).unwrap();
        let data = base.join("data");
        let pg = TlsPostgres { bin, data, as_root, port: free_port() };
        if as_root {
            run(Command::new("chown").args(["-R", "postgres:"]).arg(&base));
        }
        run(pg
            .pg("initdb")
            .args(["-A", "trust", "-U", "postgres", "-D"])
            .arg(&pg.data)
            .stdout(Stdio::null()));
        for (from, to) in [("server.crt", "server.crt"), ("server.key", "server.key")] {
            std::fs::copy(certs.dir.join(from), pg.data.join(to)).unwrap();
        }
        std::fs::write(
            pg.data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
        )
        .unwrap();
        if as_root {
            run(Command::new("chown").args(["-R", "postgres:"]).arg(&pg.data));
        }
        run(Command::new("chmod").arg("600").arg(pg.data.join("server.key")));
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c ssl=on",
            pg.port,
            base.display()
        );
        run(pg
            .pg("pg_ctl")
            .args(["-w", "-D"])
            .arg(&pg.data)
            .args(["-o", &options, "-l"])
            .arg(base.join("log"))
            .arg("start"));
        Some(pg)
    }

    fn url(&self, query: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres?{query}", self.port)
    }
}

impl Drop for TlsPostgres {
    fn drop(&mut self) {
        let _ = self.pg("pg_ctl").args(["-D"]).arg(&self.data).args(["-m", "immediate", "stop"]).output();
        if let Some(base) = self.data.parent() {
            let _ = std::fs::remove_dir_all(base);
        }
    }
}

async fn build(db_url: &str, tweak: impl FnOnce(&mut user_service::Config)) -> Result<Application, String> {
    let mut config = test_config(&TestDb { url: db_url.to_owned() });
    tweak(&mut config);
    Application::build(config).await.map_err(|e| e.to_string())
}

async fn register_through(app: Application) -> StatusCode {
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    reqwest::Client::new()
        .post(format!("{base}/v1/auth/register"))
        .json(&json!({"email": format!("tls-{}@example.com", unique()), "password": "correct horse battery"}))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn postgres_over_tls_verifies_the_server_and_refuses_another_ca() {
    let Some(certs) = Certificates::make() else {
        return notice_skipped("the PostgreSQL TLS test", "openssl is not installed");
    };
    let Some(pg) = TlsPostgres::start(&certs) else {
        return notice_skipped(
            "the PostgreSQL TLS test",
            "no PostgreSQL server binaries under /usr/lib/postgresql",
        );
    };

    // verify-full against our CA: connects, migrates and serves.
    let verified = pg.url(&format!("sslmode=verify-full&sslrootcert={}", certs.path("ca.pem")));
    let app = build(&verified, |_| {}).await.expect("verify-full with the right CA connects");
    assert_eq!(register_through(app).await, StatusCode::CREATED);

    // The server accepts only TLS (hostssl), so that connection was encrypted: without TLS it is refused.
    let plain = build(&pg.url("sslmode=disable"), |_| {}).await.err().expect("plain connection refused");
    assert!(plain.contains("no pg_hba.conf entry") || plain.contains("SSL off"), "{plain}");

    // A server certificate from a CA we do not trust is refused.
    let wrong = pg.url(&format!("sslmode=verify-full&sslrootcert={}", certs.path("other-ca.pem")));
    let refused = build(&wrong, |_| {}).await.err().expect("another CA's certificate is refused");
    assert!(refused.to_lowercase().contains("certificate") || refused.contains("UnknownIssuer"), "{refused}");
}

/// `redis-server` with only a TLS port.
struct TlsRedis {
    child: Child,
    port: u16,
}

impl TlsRedis {
    fn start(certs: &Certificates) -> Option<TlsRedis> {
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", "0", "--tls-port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--tls-cert-file", &certs.path("server.crt"), "--tls-key-file", &certs.path("server.key")])
            .args(["--tls-ca-cert-file", &certs.path("ca.pem"), "--tls-auth-clients", "no"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let redis = TlsRedis { child, port };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(redis);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sqlite_url() -> String {
    let dir = std::env::temp_dir().join("user-service-tests");
    std::fs::create_dir_all(&dir).unwrap();
    format!("sqlite://{}?mode=rwc", dir.join(format!("{}.db", unique())).display())
}

fn remove_sqlite(url: &str) {
    let path = url.trim_start_matches("sqlite://").trim_end_matches("?mode=rwc");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{path}{suffix}"));
    }
}

#[tokio::test]
async fn redis_over_tls_checks_the_server_against_redis_tls_ca_file() {
    let Some(certs) = Certificates::make() else {
        return notice_skipped("the Redis TLS test", "openssl is not installed");
    };
    let Some(redis) = TlsRedis::start(&certs) else {
        return notice_skipped("the Redis TLS test", "redis-server (built with TLS) is not installed");
    };
    let url = format!("rediss://127.0.0.1:{}", redis.port);
    let db = sqlite_url();

    let ca = Path::new(&certs.path("ca.pem")).to_owned();
    let app = build(&db, |c| {
        c.redis_url = Some(user_service::config::Secret::new(url.clone()));
        c.redis_tls_ca_file = Some(ca);
    })
    .await
    .expect("rediss:// with the right CA connects");
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    // A failed login is counted in Redis (over TLS): 401, not a 503 for a broken store.
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/auth/login"))
        .json(&json!({"email": "nobody@example.com", "password": "wrong password here"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let other = Path::new(&certs.path("other-ca.pem")).to_owned();
    let refused = build(&db, |c| {
        c.redis_url = Some(user_service::config::Secret::new(url.clone()));
        c.redis_tls_ca_file = Some(other);
    })
    .await
    .err()
    .expect("another CA's certificate is refused");
    assert!(refused.contains("redis"), "{refused}");
    remove_sqlite(&db);
}
