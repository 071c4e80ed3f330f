//! Test harness: a real sandbank server on an ephemeral port with its own temporary data dir,
//! and small helpers for driving it over HTTP like a client would.
#![allow(dead_code)]

use reqwest::redirect::Policy;
use serde_json::Value;
use std::path::PathBuf;
use tokio::sync::oneshot;

pub struct TestApp {
    pub base: String,
    pub admin_key: String,
    /// The operator key (`/operator/v1`).
    pub operator_key: String,
    /// The server, for what tests drive from inside (its real-time clock for idle expiry);
    /// let go on `stop` so the data dir can be opened again.
    bank: Option<sandbank::Server>,
    /// demo-pfm's client secret in this sandbox.
    pub demo_secret: String,
    /// A plain HTTP client that does not follow redirects (so tests see them).
    pub http: reqwest::Client,
    pub data_dir: PathBuf,
    _dir: Option<tempfile::TempDir>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// Polls `check` until it answers `Some` (every 20 ms), for at most `within`; else fails,
/// naming what never happened. Tests wait on a condition, never for a guessed time.
pub async fn eventually<T, F, Fut>(what: &str, within: std::time::Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("{what} did not happen within {within:?}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("reqwest client")
}

impl TestApp {
    /// A server on the embedded default scenario.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(sandbank::scenario::DEFAULT_SCENARIO).await
    }

    pub async fn spawn_with(yaml: &str) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = dir.path().join("data");
        let mut app = Self::spawn_on(yaml, data_dir).await;
        app._dir = Some(dir);
        app
    }

    /// A server whose scenario is made knowing the server's own base URL (for redirect URIs
    /// that point back at it, such as Swagger UI's).
    pub async fn spawn_for_base(scenario: impl FnOnce(&str) -> String) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let yaml = scenario(&base);
        let mut app = Self::serve(&yaml, dir.path().join("data"), listener).await;
        app._dir = Some(dir);
        app
    }

    /// A server on an existing data dir (to test restarts).
    pub async fn spawn_on(yaml: &str, data_dir: PathBuf) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Self::serve(yaml, data_dir, listener).await
    }

    async fn serve(yaml: &str, data_dir: PathBuf, listener: tokio::net::TcpListener) -> TestApp {
        Self::serve_with(yaml, data_dir, listener, |_| {}).await
    }

    /// A server on the default scenario with adjusted settings (limits, expiry).
    pub async fn spawn_configured(configure: impl FnOnce(&mut sandbank::Config)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let mut app = Self::serve_with(
            sandbank::scenario::DEFAULT_SCENARIO,
            dir.path().join("data"),
            listener,
            configure,
        )
        .await;
        app._dir = Some(dir);
        app
    }

    async fn serve_with(
        yaml: &str,
        data_dir: PathBuf,
        listener: tokio::net::TcpListener,
        configure: impl FnOnce(&mut sandbank::Config),
    ) -> TestApp {
        let mut config = sandbank::Config {
            data_dir: data_dir.clone(),
            cache_mb: 32,
            ..Default::default()
        };
        configure(&mut config);
        let scenario = sandbank::scenario::load_str(yaml, "test scenario").expect("valid scenario");
        let addr = listener.local_addr().expect("addr");
        let base = format!("http://{addr}");
        let mut attempt = 0;
        let (server, _) = loop {
            let boot = sandbank::BootConfig {
                config: config.clone(),
                scenario: scenario.clone(),
                public_url: base.clone(),
            };
            match tokio::task::spawn_blocking(move || sandbank::boot(boot))
                .await
                .expect("boot task")
            {
                Ok(booted) => break booted,
                // Reopening a data dir in the same process: sled's background flush may
                // still hold the previous handle's file lock for a moment.
                Err(e) if attempt < 40 && e.to_string().contains("could not acquire lock") => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Err(e) => panic!("boot: {e}"),
            }
        };
        let admin_key = server.default_sandbox().expect("default sandbox").admin_key.clone();
        let operator_key = server.operator_key.clone();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = server.clone();
        let server = tokio::spawn(sandbank::run(server, listener, async move {
            let _ = rx.await;
        }));
        TestApp {
            base,
            admin_key,
            operator_key,
            bank: Some(handle),
            demo_secret: "demo-secret".into(),
            http: http_client(),
            data_dir,
            _dir: None,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// Creates a sandbox through the operator API.
    pub async fn create_sandbox(&self, body: Value) -> (u16, Value) {
        let res = self
            .http
            .post(self.url("/operator/v1/sandboxes"))
            .bearer_auth(&self.operator_key)
            .json(&body)
            .send()
            .await
            .expect("create sandbox");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Calls the operator API.
    pub async fn operator(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, self.url(path))
            .bearer_auth(&self.operator_key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("operator request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// A view of a created sandbox (its base URL, admin key and demo-pfm secret) with the
    /// same helpers; the server stays owned by `self`.
    pub fn sandbox(&self, created: &Value) -> TestApp {
        let demo_secret = created["clients"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["clientId"] == "demo-pfm"))
            .and_then(|c| c["clientSecret"].as_str())
            .expect("demo-pfm in the created sandbox")
            .to_owned();
        TestApp {
            base: created["baseUrl"].as_str().expect("baseUrl").to_owned(),
            admin_key: created["adminKey"].as_str().expect("adminKey").to_owned(),
            operator_key: self.operator_key.clone(),
            bank: self.bank.clone(),
            demo_secret,
            http: self.http.clone(),
            data_dir: self.data_dir.clone(),
            _dir: None,
            shutdown: None,
            server: None,
        }
    }

    /// Another handle on the same sandbox (same base URL, keys and server), for a task.
    pub fn sandbox_view(&self) -> TestApp {
        TestApp {
            base: self.base.clone(),
            admin_key: self.admin_key.clone(),
            operator_key: self.operator_key.clone(),
            bank: self.bank.clone(),
            demo_secret: self.demo_secret.clone(),
            http: self.http.clone(),
            data_dir: self.data_dir.clone(),
            _dir: None,
            shutdown: None,
            server: None,
        }
    }

    /// The running server.
    pub fn bank(&self) -> &sandbank::Server {
        self.bank.as_ref().expect("the server is stopped")
    }

    /// Stops the server gracefully and waits for it (the data dir stays).
    pub async fn stop(&mut self) {
        self.bank = None;
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            h.await.expect("server task").expect("server");
        }
    }

    /// Keeps the temp dir alive beyond this app (for restarts).
    pub fn take_dir(&mut self) -> Option<tempfile::TempDir> {
        self._dir.take()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    pub async fn get_json(&self, path: &str, token: &str) -> (u16, Value) {
        let res = self.get(path, token).await;
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn admin_post(&self, path: &str, body: Value) -> (u16, Value) {
        let res = self
            .http
            .post(self.url(path))
            .bearer_auth(&self.admin_key)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn admin_get(&self, path: &str) -> (u16, Value) {
        self.get_json(path, &self.admin_key.clone()).await
    }

    /// Moves the sandbox clock forward.
    pub async fn advance(&self, by: &str) {
        let (status, body) = self
            .admin_post("/sandbox/v1/clock/advance", serde_json::json!({ "by": by }))
            .await;
        assert_eq!(status, 200, "advance clock: {body}");
    }

    /// Tokens for a user through the control plane (no browser).
    pub async fn grant(&self, username: &str, client_id: &str, scopes: &[&str]) -> Value {
        let (status, body) = self
            .admin_post(
                "/sandbox/v1/grants",
                serde_json::json!({ "username": username, "clientId": client_id, "scopes": scopes }),
            )
            .await;
        assert_eq!(status, 201, "create grant: {body}");
        body
    }

    pub async fn access_token(&self, username: &str, scopes: &[&str]) -> String {
        let g = self.grant(username, "demo-pfm", scopes).await;
        g["tokens"]["access_token"].as_str().expect("access token").to_owned()
    }

    /// POSTs a form to the token endpoint with HTTP Basic client authentication.
    pub async fn token_request(&self, client_id: &str, secret: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let res = self
            .http
            .post(self.url("/oauth/token"))
            .basic_auth(client_id, Some(secret))
            .form(form)
            .send()
            .await
            .expect("token request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The value of a hidden form field in an HTML page.
pub fn hidden_field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_owned())
}

/// A query parameter of a URL.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A valid PKCE pair (verifier, S256 challenge).
pub fn pkce_pair() -> (String, String) {
    let verifier = sandbank::ids::random_token(32);
    let challenge = sandbank::ids::pkce_s256(&verifier);
    (verifier, challenge)
}

/// Opens an authorization URL and logs in as a browser would. Returns the request id, the
/// consent token and the consent page.
pub async fn login_to_consent(
    app: &TestApp,
    authorize_url: &str,
    username: &str,
    password: &str,
) -> (String, String, String) {
    let page = app.http.get(authorize_url).send().await.expect("authorize");
    assert_eq!(page.status(), 200, "login page");
    let html = page.text().await.expect("html");
    let request_id = hidden_field(&html, "request_id").expect("request_id on the login page");
    let consent = app
        .http
        .post(app.url("/oauth/authorize/login"))
        .form(&[
            ("request_id", request_id.as_str()),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(consent.status(), 200, "consent page");
    let html = consent.text().await.expect("html");
    let consent_token = hidden_field(&html, "consent_token").expect("consent_token on the consent page");
    (request_id, consent_token, html)
}

/// Posts the consent form with a decision and any extra fields (one-time code, account).
pub async fn decide(
    app: &TestApp,
    request_id: &str,
    consent_token: &str,
    decision: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![
        ("request_id", request_id),
        ("consent_token", consent_token),
        ("decision", decision),
    ];
    form.extend_from_slice(extra);
    app.http
        .post(app.url("/oauth/authorize/consent"))
        .form(&form)
        .send()
        .await
        .expect("consent")
}

/// The `Location` of a redirect.
pub fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("Location")
        .to_owned()
}

/// Runs the browser part of the code flow: login and approve. Returns the redirect Location.
pub async fn browser_consent(app: &TestApp, authorize_url: &str, username: &str, password: &str) -> String {
    let (request_id, consent_token, _) = login_to_consent(app, authorize_url, username, password).await;
    let decided = decide(app, &request_id, &consent_token, "approve", &[]).await;
    assert_eq!(decided.status(), 303, "redirect after consent");
    location(&decided)
}

/// An authorization URL carrying exactly `params` (so a test can also leave some out).
pub fn authorize_url_with(app: &TestApp, params: &[(&str, &str)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        q.append_pair(k, v);
    }
    app.url(&format!("/oauth/authorize?{}", q.finish()))
}

/// The authorization URL for demo-pfm with the given scope, PKCE challenge and state.
pub fn authorize_url(app: &TestApp, scope: &str, challenge: &str, state: &str) -> String {
    authorize_url_with(
        app,
        &[
            ("response_type", "code"),
            ("client_id", "demo-pfm"),
            ("redirect_uri", "http://127.0.0.1:3000/callback"),
            ("scope", scope),
            ("state", state),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ],
    )
}

/// Full code flow with PKCE for demo-pfm; returns the token response JSON.
pub async fn code_flow_tokens(app: &TestApp, username: &str, password: &str, scope: &str) -> Value {
    let (verifier, challenge) = pkce_pair();
    let location = browser_consent(app, &authorize_url(app, scope, &challenge, "st"), username, password).await;
    let code = query_param(&location, "code").expect("code");
    let (status, body) = app
        .token_request(
            "demo-pfm",
            &app.demo_secret,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://127.0.0.1:3000/callback"),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(status, 200, "token exchange: {body}");
    body
}

/// The real `sandbank` binary in its own process on a data dir (for crash and restart tests).
/// The operator key `BinaryServer` starts the binary with.
pub const OPERATOR_KEY: &str = "test-operator-key";

pub struct BinaryServer {
    pub child: std::process::Child,
    pub base: String,
}

impl BinaryServer {
    /// Starts the binary with `admin_key` on `data` and waits until it answers `/healthz`.
    pub async fn start(data: &std::path::Path, admin_key: &str) -> BinaryServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sandbank"))
            .args(["--port", &port.to_string(), "--admin-key", admin_key])
            .arg("--data-dir")
            .arg(data)
            .env("SANDBANK_OPERATOR_KEY", OPERATOR_KEY)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start sandbank");
        let base = format!("http://127.0.0.1:{port}");
        let http = http_client();
        let healthy = async {
            loop {
                if let Ok(r) = http.get(format!("{base}/healthz")).send().await
                    && r.status() == 200
                {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        };
        if tokio::time::timeout(std::time::Duration::from_secs(6), healthy)
            .await
            .is_ok()
        {
            return BinaryServer { child, base };
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("sandbank did not start");
    }

    /// SIGKILL: no shutdown, no flush.
    pub fn kill_9(&mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reap");
    }

    /// SIGTERM: graceful shutdown; waits for the process to exit.
    pub fn terminate(&mut self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success(), "kill -TERM");
        self.child.wait().expect("reap");
    }
}

impl Drop for BinaryServer {
    /// A test that fails half-way must not leave the server running (it would also hold the
    /// test's output pipe open).
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Sends a request with a bearer token (and a JSON body when given); answers the JSON body.
pub async fn send_json(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<&Value>,
) -> Value {
    let mut req = http.request(method, url).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(b);
    }
    req.send().await.unwrap().json().await.unwrap()
}

/// The generated individuals' accounts (customers `user00001` …) in a page of
/// `GET /sandbox/v1/accounts`.
pub fn individual_accounts(page: &Value) -> Vec<Value> {
    page["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["customerId"].as_str().unwrap().starts_with("user"))
        .cloned()
        .collect()
}

/// Every apply number `account` lists in transfer status inquiry from `date_from`, following
/// `nextItemKey` through every page.
pub async fn listed_apply_nos(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    account: &str,
    date_from: &str,
) -> Vec<String> {
    let mut listed = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let mut url = format!("{base}/personal/v1/transfer/status?accountId={account}&dateFrom={date_from}&limit=100");
        if let Some(k) = &next {
            url.push_str(&format!("&nextItemKey={k}"));
        }
        let page = send_json(http, reqwest::Method::GET, &url, token, None).await;
        listed.extend(
            page["transfers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["applyNo"].as_str().unwrap().to_owned()),
        );
        match page["nextItemKey"].as_str() {
            Some(k) => next = Some(k.to_owned()),
            None => return listed,
        }
    }
}
