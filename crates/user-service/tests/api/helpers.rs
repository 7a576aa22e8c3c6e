//! Spawning the service on 127.0.0.1:0 against a fresh database, and small HTTP helpers.
//!
//! Every test in [`db_tests!`] runs twice: on a new SQLite file, and on a new schema in
//! the PostgreSQL database of `TEST_DATABASE_URL` (skipped, with a notice, when it is unset).

use std::collections::HashMap;
use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Mutex, Once, OnceLock};

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use sqlx::{AnyPool, Row};
use user_service::config::Argon2Params;
use user_service::{Application, Config};

/// A fixed, non-default master key for tests (base64 of 32 bytes).
pub const TEST_MASTER_KEY: &str = "dGVzdC1tYXN0ZXIta2V5LWZvci1pbnRlZ3JhdGlvbnM=";

/// A password that satisfies the policy.
pub const PASSWORD: &str = "correct horse battery";

/// Runs each named `async fn(TestApp)` on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! db_tests {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::helpers::run_sqlite(super::$name).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::helpers::run_postgres(super::$name).await
            }
        }
    )*};
}

/// Which database a test runs on.
#[derive(Clone, Debug)]
pub struct TestDb {
    pub url: String,
}

/// Captured log output of every app in this test binary (for I27).
pub fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer_buf = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter("user_service=trace,tower_http=debug,authgate_tower=debug")
            .with_writer(move || LogWriter(writer_buf.clone()))
            .with_ansi(false)
            .try_init();
        buf
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let mut b = self.0.lock().unwrap();
        if b.len() < 64 * 1024 * 1024 {
            b.extend_from_slice(data);
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs the test body as a task so cleanup happens even when it panics, then re-raises.
async fn run_and_cleanup<Fut: Future<Output = ()> + Send + 'static>(
    body: Fut,
    cleanup: impl Future<Output = ()>,
) {
    let outcome = tokio::spawn(body).await;
    cleanup.await;
    if let Err(e) = outcome {
        if e.is_panic() {
            std::panic::resume_unwind(e.into_panic());
        }
        panic!("test task failed: {e}");
    }
}

pub async fn run_sqlite<F, Fut>(test: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = std::env::temp_dir().join("user-service-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}.db", unique()));
    let body = test(TestDb { url: format!("sqlite://{}?mode=rwc", path.display()) });
    run_and_cleanup(body, async {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    })
    .await;
}

pub async fn run_postgres<F, Fut>(test: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Ok(base) = std::env::var("TEST_DATABASE_URL") else {
        static NOTICE: Once = Once::new();
        NOTICE.call_once(|| {
            // Written to the real stderr so it shows without --nocapture.
            let _ = writeln!(
                std::io::stderr(),
                "\nNOTICE: TEST_DATABASE_URL is not set: the PostgreSQL variants of the user-service \
                 tests were SKIPPED (they pass vacuously).\n"
            );
        });
        return;
    };
    sqlx::any::install_default_drivers();
    let admin = AnyPool::connect(&base).await.expect("connect to TEST_DATABASE_URL");
    // A fresh schema per test (much faster than a database per test), selected through
    // the connection's search_path.
    let name = format!("us_test_{}", unique().replace('-', "_"));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{name}\""))).execute(&admin).await.unwrap();
    let mut url = url::Url::parse(&base).unwrap();
    url.query_pairs_mut().append_pair("options", &format!("-c search_path={name}"));
    let body = test(TestDb { url: url.to_string() });
    run_and_cleanup(body, async {
        let drop = format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE");
        let _ = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&admin).await;
    })
    .await;
}

pub fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{}-{nanos}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// The configuration tests use: dev, port 0, cheap Argon2 (only tests lower it).
pub fn test_config(db: &TestDb) -> Config {
    test_config_with(db, &[])
}

/// [`test_config`] plus (or overriding) these variables.
pub fn test_config_with(db: &TestDb, extra: &[(&str, &str)]) -> Config {
    let base = [
        ("APP_ENV", "dev"),
        ("USER_SERVICE_PORT", "0"),
        ("DATABASE_URL", db.url.as_str()),
        ("MASTER_ENCRYPTION_KEY", TEST_MASTER_KEY),
        ("KEY_PUBLISH_DELAY_SECS", "0"),
    ];
    let vars: HashMap<String, String> =
        base.iter().chain(extra).copied().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    let mut config = Config::from_vars(&vars).unwrap();
    config.argon2 = Argon2Params { memory_kib: 256, iterations: 1, parallelism: 1 };
    config
}

/// A running instance.
pub struct TestApp {
    pub base: String,
    /// `http://127.0.0.1:{port}` of the metrics listener.
    pub metrics: String,
    pub issuer: String,
    pub client: reqwest::Client,
    pub pool: AnyPool,
}

/// Tokens of a logged-in user.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
}

impl Tokens {
    pub fn from_body(body: &Value) -> Tokens {
        Tokens {
            access: body["access_token"].as_str().expect("access_token").to_owned(),
            refresh: body["refresh_token"].as_str().expect("refresh_token").to_owned(),
        }
    }
}

impl TestApp {
    pub async fn spawn(db: &TestDb) -> TestApp {
        TestApp::spawn_with(db, |_| {}).await
    }

    pub async fn spawn_with(db: &TestDb, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = test_config(db);
        tweak(&mut config);
        TestApp::spawn_config(db, config).await
    }

    /// With the test configuration plus these variables (as the environment would set them).
    pub async fn spawn_with_vars(db: &TestDb, extra: &[(&str, &str)]) -> TestApp {
        TestApp::spawn_config(db, test_config_with(db, extra)).await
    }

    pub async fn spawn_config(db: &TestDb, config: Config) -> TestApp {
        captured_logs();
        let app = Application::build(config).await.expect("application builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        let metrics = format!("http://127.0.0.1:{}", app.metrics_port().expect("the metrics listener is on"));
        let issuer = app.issuer().to_owned();
        tokio::spawn(app.run_until_stopped());
        sqlx::any::install_default_drivers();
        let pool = AnyPool::connect(&db.url).await.unwrap();
        TestApp { base, metrics, issuer, client: reqwest::Client::new(), pool }
    }

    /// `GET /metrics` on the metrics listener, parsed.
    pub async fn scrape(&self) -> authgate_testkit::prometheus::Scrape {
        let r = self.client.get(format!("{}/metrics", self.metrics)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "text/plain; version=0.0.4; charset=utf-8");
        authgate_testkit::prometheus::Scrape::parse(&r.text().await.unwrap()).unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_auth(&self, path: &str, token: &str) -> Response {
        self.client.get(self.url(path)).bearer_auth(token).send().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.client.post(self.url(path)).json(&body).send().await.unwrap()
    }

    pub async fn post_auth(&self, path: &str, token: &str, body: Value) -> Response {
        self.client.post(self.url(path)).bearer_auth(token).json(&body).send().await.unwrap()
    }

    pub async fn register(&self, email: &str, password: &str) -> Response {
        self.post("/v1/auth/register", json!({"email": email, "password": password, "name": "Test User"}))
            .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post("/v1/auth/login", json!({"email": email, "password": password})).await
    }

    /// Registers a fresh user and logs in: `(email, tokens)`.
    pub async fn new_user(&self) -> (String, Tokens) {
        let email = format!("u{}@example.com", unique());
        assert_eq!(self.register(&email, PASSWORD).await.status(), StatusCode::CREATED);
        let r = self.login(&email, PASSWORD).await;
        assert_eq!(r.status(), StatusCode::OK);
        (email, Tokens::from_body(&r.json().await.unwrap()))
    }

    /// A fresh user with the admin role, logged in after the promotion.
    pub async fn new_admin(&self) -> (String, Tokens) {
        let (email, _) = self.new_user().await;
        sqlx::query("UPDATE users SET roles = 'user,admin' WHERE email = $1")
            .bind(&email)
            .execute(&self.pool)
            .await
            .unwrap();
        let r = self.login(&email, PASSWORD).await;
        (email, Tokens::from_body(&r.json().await.unwrap()))
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post("/v1/auth/refresh", json!({"refresh_token": refresh_token})).await
    }

    pub async fn user_id(&self, email: &str) -> String {
        sqlx::query("SELECT id FROM users WHERE email = $1")
            .bind(email)
            .fetch_one(&self.pool)
            .await
            .unwrap()
            .get("id")
    }

    /// `PATCH /v1/admin/users/{id}` `{"unlock": true}` for `email`, as the admin `admin_token`.
    pub async fn admin_unlock(&self, admin_token: &str, email: &str) -> StatusCode {
        let id = self.user_id(email).await;
        let r = self.client.patch(self.url(&format!("/v1/admin/users/{id}"))).bearer_auth(admin_token);
        r.json(&json!({"unlock": true})).send().await.unwrap().status()
    }

    /// Audit event names recorded for a user, newest first.
    pub async fn audit_events(&self, email: &str) -> Vec<String> {
        let id = self.user_id(email).await;
        sqlx::query("SELECT event FROM audit_events WHERE user_id = $1 ORDER BY created_at DESC")
            .bind(id)
            .fetch_all(&self.pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>("event"))
            .collect()
    }
}

/// The subject of the verification mail every registration sends.
pub const VERIFICATION_SUBJECT: &str = "Verify your email address";

/// Waits for an outbox message to `email` other than `previous` (mailing happens after
/// the 202), ignoring the verification mail of the registration.
pub async fn wait_for_mail(app: &TestApp, email: &str, previous: Option<&str>) -> String {
    wait_for_mail_where(app, email, previous.as_slice(), "subject <> $2").await
}

/// Waits for a verification mail to `email` other than `previous`.
pub async fn wait_for_verification_mail(app: &TestApp, email: &str, previous: Option<&str>) -> String {
    wait_for_mail_where(app, email, previous.as_slice(), "subject = $2").await
}

/// Waits for a verification mail to `email` that is none of `seen`.
pub async fn wait_for_new_verification_mail(app: &TestApp, email: &str, seen: &[&str]) -> String {
    wait_for_mail_where(app, email, seen, "subject = $2").await
}

async fn wait_for_mail_where(app: &TestApp, email: &str, seen: &[&str], subject: &str) -> String {
    let sql = format!("SELECT body FROM outbox WHERE recipient = $1 AND {subject} ORDER BY created_at, id");
    for _ in 0..200 {
        let bodies: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .bind(email)
            .bind(VERIFICATION_SUBJECT)
            .fetch_all(&app.pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get("body"))
            .collect();
        if let Some(body) = bodies.into_iter().find(|b| !seen.contains(&b.as_str())) {
            return body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no mail for {email}");
}

/// Verifies `email` through the link of its latest verification mail.
pub async fn verify_email(app: &TestApp, email: &str) {
    let token = token_in(&wait_for_verification_mail(app, email, None).await);
    let r = app.post("/v1/auth/email/verify", json!({"token": token})).await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// The reset token in a mail body.
pub fn token_in(mail: &str) -> String {
    let start = mail.find("token=").expect("token in mail") + "token=".len();
    mail[start..].split_whitespace().next().unwrap().to_owned()
}

/// Asserts the JSON error shape and returns the body.
pub async fn assert_error(r: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(r.status(), status);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], code, "{body}");
    assert!(body["message"].is_string(), "{body}");
    body
}

/// The unverified claims of a JWT (for assertions only).
pub fn claims_of(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap())
        .unwrap()
}

/// The unverified header of a JWT.
pub fn header_of(token: &str) -> Value {
    use base64::Engine;
    let h = token.split('.').next().unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(h).unwrap()).unwrap()
}

/// Current TOTP code (and step) for a base32 secret at `now + offset_steps * 30`.
pub fn totp_code(secret_b32: &str, offset_steps: i64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    totp_code_at_step(secret_b32, now / 30 + offset_steps)
}

/// The service's current signing key, decrypted with the test master key, to forge
/// tokens that differ from real ones in exactly one way.
pub async fn real_signing_key(app: &TestApp) -> (String, jsonwebtoken::EncodingKey) {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    let row = sqlx::query("SELECT kid, private_key_enc FROM signing_keys ORDER BY activate_at DESC LIMIT 1")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let kid: String = row.get("kid");
    let enc: String = row.get("private_key_enc");
    let raw = STANDARD.decode(enc.strip_prefix("v1:").unwrap()).unwrap();
    let key = STANDARD.decode(TEST_MASTER_KEY).unwrap();
    let pkcs8 = aes_256_gcm_open(&key, &raw, &kid).unwrap();
    let pem = format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", STANDARD.encode(pkcs8));
    (kid, jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap())
}

/// AES-256-GCM over the documented layout, nonce (12 bytes) || ciphertext || tag.
pub fn aes_256_gcm_open(key: &[u8], raw: &[u8], aad: &str) -> Option<Vec<u8>> {
    use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).ok()?);
    let nonce = Nonce::try_assume_unique_for_key(raw.get(..12)?).ok()?;
    let mut in_out = raw.get(12..)?.to_vec();
    key.open_in_place(nonce, Aad::from(aad.as_bytes()), &mut in_out).ok().map(|plain| plain.to_vec())
}

/// A fresh RSA key that the service does not know.
pub fn foreign_rsa_key() -> jsonwebtoken::EncodingKey {
    use aws_lc_rs::encoding::AsDer;
    use base64::Engine;
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let der = pair.as_der().unwrap();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(der.as_ref())
    );
    jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap()
}

/// Signs `claims` with `key`, header `typ`/`kid` as given.
pub fn sign(claims: &Value, key: &jsonwebtoken::EncodingKey, kid: &str, typ: &str) -> String {
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    h.kid = Some(kid.to_owned());
    h.typ = Some(typ.to_owned());
    jsonwebtoken::encode(&h, claims, key).unwrap()
}

/// The TOTP code of a given 30-second step.
pub fn totp_code_at_step(secret_b32: &str, step: i64) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret_b32).unwrap();
    let totp = totp_rs::Builder::new().with_secret(secret).with_skew(0).build().unwrap(); // SHA-1, 6 digits, 30 s
    totp.generate((step * 30) as u64).to_string()
}

/// A logged-in user with TOTP enabled (confirmed with the current step's code):
/// `(email, tokens, base32 secret, recovery codes)`.
pub async fn mfa_user(app: &TestApp) -> (String, Tokens, String, Vec<String>) {
    let (email, tokens) = app.new_user().await;
    let r = app.post_auth("/v1/users/me/mfa/totp/setup", &tokens.access, json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let setup: Value = r.json().await.unwrap();
    let secret = setup["secret"].as_str().unwrap().to_owned();
    let r = app
        .post_auth("/v1/users/me/mfa/totp/enable", &tokens.access, json!({"code": totp_code(&secret, 0)}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    let codes =
        body["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    (email, tokens, secret, codes)
}
