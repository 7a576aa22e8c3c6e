//! Starting the platform in one process and talking to it as a client would.
//!
//! [`Platform::start`] runs, each on `127.0.0.1:0`:
//! - the real user-service (`user_service::Application::build`) on its own thread and
//!   Tokio runtime, so a test can stop it for good (every connection task dies with the
//!   runtime) and start it again on the same port and database;
//! - the backend, ticker and alert examples, built from their own `Config::from_lookup`
//!   with the variables an operator would set (`JWKS_URL`, `JWT_ISSUER`,
//!   `USER_SERVICE_URL`, `WS_ALLOWED_ORIGINS`, and for the ticker
//!   `SERVICE_CLIENT_ID`/`SERVICE_CLIENT_SECRET` of a client the bootstrap admin
//!   registers with `trading_accounts:credentials:read`), so their production wiring is
//!   what runs;
//!
//! Each flow runs on a fresh SQLite file and, when `TEST_DATABASE_URL` is set, on a fresh
//! PostgreSQL database created for the run and dropped afterwards.

use std::collections::HashMap;
use std::future::Future;
use std::io::Write;
use std::sync::Once;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use sqlx::AnyPool;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use user_service::config::Argon2Params;
use user_service::{Application, Config};

/// A fixed master key for the run (base64 of 32 bytes, not a development default).
pub const MASTER_KEY: &str = "ZTJlLW1hc3Rlci1rZXktZm9yLWFsbC1zZXJ2aWNlcyE=";

/// A password that satisfies the dev policy (12 characters or more).
pub const PASSWORD: &str = "correct horse battery staple";

/// The admin created on first start through `BOOTSTRAP_ADMIN_EMAIL`/`_PASSWORD`.
pub const ADMIN_EMAIL: &str = "admin@trading.test";

/// The bootstrap admin's password.
pub const ADMIN_PASSWORD: &str = "bootstrap admin passphrase";

/// The only origin allowed to open the ticker's WebSocket (`WS_ALLOWED_ORIGINS`).
pub const APP_ORIGIN: &str = "http://app.trading.test";

/// Runs each named `async fn(Platform)` on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! e2e_tests {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::harness::on_sqlite(super::$name).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::harness::on_postgres(super::$name).await
            }
        }
    )*};
}

/// Runs `flow` against a platform on a new SQLite file.
pub async fn on_sqlite<F, Fut>(flow: F)
where
    F: FnOnce(Platform) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = std::env::temp_dir().join("authgate-e2e");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}.db", unique()));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    flow(Platform::start(&url).await).await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// Runs `flow` against a platform on a new PostgreSQL database created from
/// `TEST_DATABASE_URL`; skipped, with a notice on stderr, when it is unset.
pub async fn on_postgres<F, Fut>(flow: F)
where
    F: FnOnce(Platform) -> Fut,
    Fut: Future<Output = ()>,
{
    let Ok(base) = std::env::var("TEST_DATABASE_URL") else {
        static NOTICE: Once = Once::new();
        NOTICE.call_once(|| {
            // The real stderr, so the notice shows without --nocapture.
            let _ = writeln!(
                std::io::stderr(),
                "\nNOTICE: TEST_DATABASE_URL is not set: the PostgreSQL variants of the end-to-end \
                 flows were SKIPPED (they pass without running).\n"
            );
        });
        return;
    };
    sqlx::any::install_default_drivers();
    let admin = AnyPool::connect(&base).await.expect("connect to TEST_DATABASE_URL");
    let name = format!("e2e_{}", unique().replace('-', "_"));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))).execute(&admin).await.unwrap();
    let mut url = url::Url::parse(&base).unwrap();
    url.set_path(&name);
    let platform = Platform::start(url.as_str()).await;
    flow(platform).await;
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")))
        .execute(&admin)
        .await;
}

/// A name no other test of this run uses.
pub fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{}-{nanos}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// The user-service configuration of the run: what `.env.dev` plus the listed variables
/// would give, with the Argon2 cost lowered (only code can do that, never a variable).
fn user_service_config(database_url: &str) -> Config {
    let vars: HashMap<String, String> = [
        ("APP_ENV", "dev"),
        ("USER_SERVICE_PORT", "0"),
        ("DATABASE_URL", database_url),
        ("MASTER_ENCRYPTION_KEY", MASTER_KEY),
        // A rotated-in key signs at once, so the rotation flow needs no waiting; the
        // default publishes it JWKS_MAX_AGE_SECS before it signs.
        ("KEY_PUBLISH_DELAY_SECS", "0"),
        ("BOOTSTRAP_ADMIN_EMAIL", ADMIN_EMAIL),
        ("BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("LOG_LEVEL", "warn"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let mut config = Config::from_vars(&vars).unwrap();
    config.argon2 = Argon2Params { memory_kib: 256, iterations: 1, parallelism: 1 };
    config
}

/// The user-service, on its own thread and runtime.
pub struct UserService {
    config: Config,
    /// The bound port (kept across restarts).
    pub port: u16,
    /// The issuer of its tokens (`http://127.0.0.1:{port}`).
    pub issuer: String,
    /// The port of its metrics listener (kept across restarts).
    pub metrics_port: u16,
    running: Option<Running>,
}

struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl UserService {
    /// Moves every spent refresh token's `used_at` `secs` into the past, so a test can
    /// reuse one "later" without waiting (within 10 s a reuse is a lost race, not theft).
    pub async fn age_spent_refresh_tokens(&self, secs: i64) {
        sqlx::any::install_default_drivers();
        let pool = AnyPool::connect(self.config.database_url.expose()).await.unwrap();
        sqlx::query("UPDATE refresh_tokens SET used_at = used_at - $1 WHERE used_at IS NOT NULL")
            .bind(secs)
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }

    async fn launch(config: Config) -> Result<(u16, String, u16, Running), String> {
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("user-service".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("user-service-rt")
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let app = match Application::build(config).await {
                        Ok(app) => app,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.to_string()));
                            return;
                        }
                    };
                    let metrics_port = app.metrics_port().unwrap_or_default();
                    let _ = ready_tx.send(Ok((app.port(), app.issuer().to_owned(), metrics_port)));
                    tokio::select! {
                        served = app.run_until_stopped() => served.unwrap(),
                        _ = stop_rx => {}
                    }
                });
                // Every task of the service (listener, open connections, key reloads)
                // ends here: a stop is as abrupt as a crash.
                rt.shutdown_timeout(Duration::from_secs(2));
            })
            .unwrap();
        let (port, issuer, metrics_port) =
            ready_rx.await.map_err(|_| "user-service thread died".to_owned())??;
        Ok((port, issuer, metrics_port, Running { stop, thread }))
    }

    async fn start(config: Config) -> UserService {
        let (port, issuer, metrics_port, running) =
            UserService::launch(config.clone()).await.expect("user-service starts");
        let mut config = config;
        config.port = port;
        config.metrics_addr = Some(std::net::SocketAddr::from(([127, 0, 0, 1], metrics_port)));
        UserService { config, port, issuer, metrics_port, running: Some(running) }
    }

    /// `http://127.0.0.1:{port}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// `GET /metrics` is on the metrics listener, never the public one.
    pub fn metrics_url(&self) -> String {
        format!("http://127.0.0.1:{}/metrics", self.metrics_port)
    }

    /// Stops the service: listener closed, open connections dropped, tasks ended.
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.stop.send(());
            tokio::task::spawn_blocking(move || running.thread.join()).await.unwrap().unwrap();
        }
    }

    /// Starts it again on the same port and database (same issuer, same keys).
    pub async fn restart(&mut self) {
        self.stop().await;
        let mut last = String::new();
        for _ in 0..50 {
            match UserService::launch(self.config.clone()).await {
                Ok((port, issuer, _, running)) => {
                    assert_eq!((port, issuer.as_str()), (self.port, self.issuer.as_str()));
                    self.running = Some(running);
                    return;
                }
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("user-service did not restart on port {}: {last}", self.port);
    }
}

impl Drop for UserService {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.stop.send(());
        }
    }
}

/// A registered, logged-in user.
#[derive(Debug, Clone)]
pub struct User {
    pub email: String,
    pub id: String,
    pub tokens: Tokens,
}

/// An access/refresh token pair.
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

/// The scope the ticker's service client needs to read broker credentials.
pub const CREDENTIALS_SCOPE: &str = "trading_accounts:credentials:read";

/// The running platform.
pub struct Platform {
    pub users: UserService,
    /// `http://127.0.0.1:{port}` of the backend.
    pub backend: String,
    /// `127.0.0.1:{port}` of the ticker.
    pub ticker: String,
    /// The `client_id` of the ticker's service client.
    pub ticker_client_id: String,
    /// `http://127.0.0.1:{port}` of the alert service.
    pub alert: String,
    pub http: reqwest::Client,
}

impl Platform {
    /// Starts user-service on `database_url`, then the three services wired to it, and
    /// waits until the backend and the ticker report their keys loaded (`/ready`).
    pub async fn start(database_url: &str) -> Platform {
        let users = UserService::start(user_service_config(database_url)).await;

        let vars: HashMap<&str, String> = HashMap::from([
            ("PORT", "0".to_owned()),
            ("USER_SERVICE_URL", users.url("")),
            // Short, so a revoked key's rejection is observable within a test.
            ("API_KEY_CACHE_TTL_SECS", "1".to_owned()),
            ("JWKS_URL", users.url("/v1/auth/.well-known/jwks.json")),
            ("JWT_ISSUER", users.issuer.clone()),
            ("WS_ALLOWED_ORIGINS", APP_ORIGIN.to_owned()),
        ]);
        let lookup = |name: &str| vars.get(name).cloned();

        let backend_config = example_backend::Config::from_lookup(lookup, 0).unwrap();
        let backend = example_backend::Application::build(&backend_config).await.unwrap();
        let backend_addr = backend.local_addr().unwrap();
        tokio::spawn(backend.run_until_stopped());

        let http = reqwest::Client::new();
        let (ticker_client_id, ticker_secret) = register_client(&http, &users, &[CREDENTIALS_SCOPE]).await;
        let ticker_addr = start_ticker(&users, &ticker_client_id, &ticker_secret).await;

        let alert_config = example_alert::Config::from_lookup(lookup).unwrap();
        let alert_auth = example_alert::authenticator(&alert_config).unwrap();
        let alert_proxies = alert_config.trusted_proxies.clone();
        let alert =
            example_alert::Application::build_with(alert_auth, alert_proxies, ("127.0.0.1", 0)).unwrap();
        let alert_port = alert.port();
        tokio::spawn(alert.run_until_stopped());

        let platform = Platform {
            users,
            backend: format!("http://{backend_addr}"),
            ticker: ticker_addr,
            ticker_client_id,
            alert: format!("http://127.0.0.1:{alert_port}"),
            http,
        };
        for ready in [format!("{}/ready", platform.backend), format!("http://{}/ready", platform.ticker)] {
            platform.wait_for_200(&ready).await;
        }
        platform
    }

    /// Another ticker wired like the platform's, but with a service client holding
    /// `scopes`; returns its `127.0.0.1:{port}` once its keys are loaded.
    pub async fn start_ticker_with_scopes(&self, scopes: &[&str]) -> (String, String) {
        let (client_id, secret) = register_client(&self.http, &self.users, scopes).await;
        let addr = start_ticker(&self.users, &client_id, &secret).await;
        self.wait_for_200(&format!("http://{addr}/ready")).await;
        (addr, client_id)
    }

    async fn wait_for_200(&self, url: &str) {
        for _ in 0..200 {
            if let Ok(r) = self.http.get(url).send().await
                && r.status() == StatusCode::OK
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{url} never answered 200");
    }

    /// `POST` JSON to user-service, with a bearer token when given.
    pub async fn post_us(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        let mut req = self.http.post(self.users.url(path)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    /// `DELETE` on user-service with a bearer token.
    pub async fn delete_us(&self, path: &str, token: &str) -> Response {
        self.http.delete(self.users.url(path)).bearer_auth(token).send().await.unwrap()
    }

    /// `GET` with a bearer token.
    pub async fn get_with(&self, url: &str, token: &str) -> Response {
        self.http.get(url).bearer_auth(token).send().await.unwrap()
    }

    /// Registers `email` (201) and returns the user's JSON.
    pub async fn register(&self, email: &str) -> Value {
        let r = self
            .post_us(
                "/v1/auth/register",
                None,
                json!({"email": email, "password": PASSWORD, "name": "E2E User"}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json().await.unwrap()
    }

    /// Logs in (200, no MFA) and returns the pair.
    pub async fn login(&self, email: &str, password: &str) -> Tokens {
        let r = self.post_us("/v1/auth/login", None, json!({"email": email, "password": password})).await;
        assert_eq!(r.status(), StatusCode::OK);
        Tokens::from_body(&r.json().await.unwrap())
    }

    /// A new registered and logged-in user.
    pub async fn new_user(&self) -> User {
        let email = format!("u{}@trading.test", unique());
        let id = self.register(&email).await["id"].as_str().unwrap().to_owned();
        let tokens = self.login(&email, PASSWORD).await;
        User { email, id, tokens }
    }

    /// The bootstrap admin, logged in.
    pub async fn admin(&self) -> Tokens {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// Refreshes with `refresh_token` in the body.
    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post_us("/v1/auth/refresh", None, json!({"refresh_token": refresh_token})).await
    }

    /// A new API key of `user`, issued by user-service (`POST /v1/api-keys`).
    pub async fn api_key_for(&self, user: &User) -> String {
        let r = self.post_us("/v1/api-keys", Some(&user.tokens.access), json!({"name": "e2e"})).await;
        assert_eq!(r.status(), StatusCode::CREATED, "issuing an API key");
        let body: Value = r.json().await.unwrap();
        body["key"].as_str().expect("the new key is shown once, in `key`").to_owned()
    }

    /// `GET /api/positions` on the backend with an `X-API-Key`.
    pub async fn positions_with_key(&self, key: &str) -> Response {
        self.http
            .get(format!("{}/api/positions", self.backend))
            .header("x-api-key", key)
            .send()
            .await
            .unwrap()
    }

    /// `POST /alerts` on the alert service; returns status and body.
    pub async fn create_alert(&self, token: &str, symbol: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}/alerts", self.alert))
            .bearer_auth(token)
            .json(&json!({"symbol": symbol, "condition": "above", "price": 101.5}))
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Asserts the token is accepted by the backend (JWT and dual routes), the ticker
    /// (REST, and the WebSocket upgrade: what it streams is [`Self::subscribe`]'s
    /// business) and the alert service, for `user_id`.
    pub async fn assert_accepted_everywhere(&self, token: &str, user_id: &str) {
        let r = self.get_with(&format!("{}/api/me", self.backend), token).await;
        assert_eq!(r.status(), StatusCode::OK, "backend /api/me");
        assert_eq!(r.json::<Value>().await.unwrap()["user_id"], user_id);
        let r = self.get_with(&format!("{}/api/positions", self.backend), token).await;
        assert_eq!(r.status(), StatusCode::OK, "backend /api/positions");
        let r = self.get_with(&format!("http://{}/subscription-status", self.ticker), token).await;
        assert_eq!(r.status(), StatusCode::OK, "ticker /subscription-status");
        assert_eq!(r.json::<Value>().await.unwrap()["user_id"], user_id);
        let mut ws = self.open_quotes(token, Some(APP_ORIGIN)).await.expect("ticker: upgrade accepted");
        let _ = ws.close(None).await;
        let r = self.get_with(&format!("{}/alerts", self.alert), token).await;
        assert_eq!(r.status(), StatusCode::OK, "alert /alerts");
    }

    /// Asserts the token is refused with 401 `invalid_token` by every service.
    pub async fn assert_refused_everywhere(&self, token: &str) {
        for url in [
            format!("{}/api/me", self.backend),
            format!("http://{}/subscription-status", self.ticker),
            format!("{}/alerts", self.alert),
        ] {
            let r = self.get_with(&url, token).await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{url}");
            let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
            assert!(challenge.contains(r#"error="invalid_token""#), "{url}: {challenge}");
        }
        assert_eq!(self.open_quotes(token, Some(APP_ORIGIN)).await.err(), Some(401));
    }

    /// Opens `ws://ticker/ws/quotes?token=...` with `origin`; the HTTP status on refusal.
    pub async fn open_quotes(&self, token: &str, origin: Option<&str>) -> Result<Ws, u16> {
        let mut req = format!("ws://{}/ws/quotes?token={token}", self.ticker).into_client_request().unwrap();
        if let Some(origin) = origin {
            req.headers_mut().insert("origin", origin.parse().unwrap());
        }
        match tokio_tungstenite::connect_async(req).await {
            Ok((ws, _)) => Ok(ws),
            Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
            Err(e) => panic!("WebSocket client error: {e}"),
        }
    }

    /// Links a Kite account for `user` (201) with `credentials`; returns its id.
    pub async fn link_account(&self, user: &User, label: &str, credentials: Value) -> String {
        let body =
            json!({"broker": "kite", "label": label, "broker_user_id": "ZX0042", "credentials": credentials});
        let r = self.post_us("/v1/trading-accounts", Some(&user.tokens.access), body).await;
        assert_eq!(r.status(), StatusCode::CREATED, "linking a trading account");
        r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
    }

    /// Subscribes at the ticker `ticker` (`127.0.0.1:{port}`) from the allowed origin:
    /// the socket and its first frame (`subscribed`, or an `error` before the close).
    pub async fn subscribe_at(&self, ticker: &str, token: &str) -> (Ws, Value) {
        let mut req = format!("ws://{ticker}/ws/quotes?token={token}").into_client_request().unwrap();
        req.headers_mut().insert("origin", APP_ORIGIN.parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.expect("upgrade accepted");
        let first = tokio::time::timeout(Duration::from_secs(5), next_frame(&mut ws))
            .await
            .expect("a first frame within 5 s");
        (ws, first)
    }

    /// Subscribes at the platform's ticker.
    pub async fn subscribe(&self, token: &str) -> (Ws, Value) {
        self.subscribe_at(&self.ticker, token).await
    }

    /// Subscribes at `ticker` expecting a refusal: the error frame, the close code and
    /// the close reason.
    pub async fn refusal_at(&self, ticker: &str, token: &str) -> (Value, u16, String) {
        let (mut ws, frame) = self.subscribe_at(ticker, token).await;
        assert_eq!(frame["type"], "error", "{frame}");
        let close = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match ws.next().await.expect("a close frame").expect("frame") {
                    tungstenite::Message::Close(Some(c)) => return (u16::from(c.code), c.reason.to_string()),
                    tungstenite::Message::Close(None) => panic!("closed without a code"),
                    tungstenite::Message::Text(t) => panic!("a second text frame: {t}"),
                    _ => {}
                }
            }
        })
        .await
        .expect("closed within 5 s");
        (frame, close.0, close.1)
    }

    /// The `credentials_read` audit events user-service wrote, newest first (bootstrap admin).
    pub async fn credential_reads(&self) -> Vec<Value> {
        let admin = self.admin().await;
        let r = self.get_with(&self.users.url("/v1/admin/audit-events?limit=200"), &admin.access).await;
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        body["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["event"] == "credentials_read")
            .cloned()
            .collect()
    }
}

/// Registers a service client as the bootstrap admin (`POST /v1/admin/clients`), as an
/// operator does with `user-service clients create`; returns its id and secret.
async fn register_client(http: &reqwest::Client, users: &UserService, scopes: &[&str]) -> (String, String) {
    let login = json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD});
    let r = http.post(users.url("/v1/auth/login")).json(&login).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "bootstrap admin login");
    let admin = Tokens::from_body(&r.json().await.unwrap());
    let r = http
        .post(users.url("/v1/admin/clients"))
        .bearer_auth(&admin.access)
        .json(&json!({"name": "ticker", "scopes": scopes}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "registering the ticker's service client");
    let client: Value = r.json().await.unwrap();
    (client["client_id"].as_str().unwrap().to_owned(), client["client_secret"].as_str().unwrap().to_owned())
}

/// A ticker wired to `users` with the given service client; its `127.0.0.1:{port}`.
async fn start_ticker(users: &UserService, client_id: &str, secret: &str) -> String {
    let vars: HashMap<&str, String> = HashMap::from([
        ("PORT", "0".to_owned()),
        ("USER_SERVICE_URL", users.url("")),
        ("JWKS_URL", users.url("/v1/auth/.well-known/jwks.json")),
        ("JWT_ISSUER", users.issuer.clone()),
        ("WS_ALLOWED_ORIGINS", APP_ORIGIN.to_owned()),
        ("SERVICE_CLIENT_ID", client_id.to_owned()),
        ("SERVICE_CLIENT_SECRET", secret.to_owned()),
    ]);
    let config = example_ticker::Config::from_lookup(|name| vars.get(name).cloned(), 0).unwrap();
    let ticker = example_ticker::Application::build(&config).await.unwrap();
    let addr = ticker.local_addr().unwrap();
    tokio::spawn(ticker.run_until_stopped());
    addr.to_string()
}

/// A WebSocket client connection.
pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next text message, parsed as JSON, whatever it is.
async fn next_frame(ws: &mut Ws) -> Value {
    loop {
        match ws.next().await.expect("socket open").expect("frame") {
            tungstenite::Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            tungstenite::Message::Close(frame) => panic!("closed before any text frame: {frame:?}"),
            _ => {}
        }
    }
}

/// The next text message, parsed as JSON.
pub async fn next_text(ws: &mut Ws) -> Value {
    loop {
        match ws.next().await.expect("socket open").expect("frame") {
            tungstenite::Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            tungstenite::Message::Close(frame) => panic!("closed: {frame:?}"),
            _ => {}
        }
    }
}

/// A segment of a JWT (0 = header, 1 = claims), decoded without verification.
pub fn jwt_part(token: &str, index: usize) -> Value {
    use base64::Engine;
    let segment = token.split('.').nth(index).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(segment).unwrap())
        .unwrap()
}

/// The current TOTP code for a base32 secret, `offset_steps` steps of 30 s away.
pub fn totp_code(secret_b32: &str, offset_steps: i64) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret_b32).unwrap();
    let totp = totp_rs::Builder::new().with_secret(secret).with_skew(0).build().unwrap(); // SHA-1, 6 digits, 30 s
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    totp.generate((now + offset_steps * 30) as u64).to_string()
}
