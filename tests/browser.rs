//! The consent flow in a real browser: headless Chromium, driven over the W3C WebDriver
//! protocol (chromedriver), opens the authorization URL, logs in, enters the one-time code for
//! the transfer scope, presses 許可する / Allow and lands on the client's redirect URI with a
//! code, which the test exchanges for tokens. Pressing 許可しない / Deny lands there with
//! `error=access_denied`. This is what the page's Content-Security-Policy must allow.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian's `chromium` and
//! `chromium-driver`). Without them the test prints why and passes, unless
//! `SANDBANK_REQUIRE_BROWSER=1` (set by `.ci/run`), where it fails.

mod common;

use common::*;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A minimal W3C WebDriver client over HTTP.
struct Browser {
    http: reqwest::Client,
    session: String,
    driver: Child,
    base: String,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    async fn start() -> Option<Browser> {
        if !std::path::Path::new(CHROMIUM).exists() || !std::path::Path::new(CHROMEDRIVER).exists() {
            let why = format!("{CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver)");
            if std::env::var("SANDBANK_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
                panic!("the browser test is required here but cannot run: {why}");
            }
            eprintln!("SKIPPED the real-browser test: {why}");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if http.get(format!("{base}/status")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-quic", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--window-size=1280,2400",
                     format!("--user-data-dir={}", profile.path().display())]}}}});
        let res: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .unwrap();
        let session = res["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver did not start a session: {res}"))
            .to_owned();
        Some(Browser {
            http,
            session,
            driver,
            base,
            _profile: profile,
        })
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method.clone(), url);
        if method != reqwest::Method::GET {
            req = req.json(&body);
        }
        let res: Value = req.send().await.expect("webdriver").json().await.unwrap();
        if res["value"].get("error").is_some() {
            panic!("webdriver {path}: {res}");
        }
        res["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", json!({ "url": url })).await;
    }

    /// The element matching `css`, waiting up to 10 s for the page to show it.
    async fn element(&self, css: &str) -> String {
        let url = format!("{}/session/{}/element", self.base, self.session);
        for _ in 0..100 {
            let res: Value = self
                .http
                .post(&url)
                .json(&json!({"using": "css selector", "value": css}))
                .send()
                .await
                .expect("webdriver")
                .json()
                .await
                .unwrap();
            if let Some(id) = res["value"]
                .as_object()
                .filter(|o| !o.contains_key("error"))
                .and_then(|o| o.values().next())
                .and_then(|id| id.as_str())
            {
                return id.to_owned();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no element {css} on the page:\n{}", self.page_source().await);
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{id}/click"), json!({}))
            .await;
    }

    /// The element a script returns (`return document…`).
    async fn element_by_script(&self, script: &str) -> String {
        let v = self
            .call(
                reqwest::Method::POST,
                "/execute/sync",
                json!({"script": script, "args": []}),
            )
            .await;
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(|id| id.as_str())
            .unwrap_or_else(|| panic!("the script found no element: {script}"))
            .to_owned()
    }

    /// Scrolls the element to the middle of the window, then clicks it as a user would.
    async fn click_element(&self, id: &str) {
        let element = json!({ "element-6066-11e4-a52e-4f735466cecf": id });
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            json!({"script": "arguments[0].scrollIntoView({block: 'center'});", "args": [element]}),
        )
        .await;
        self.call(reqwest::Method::POST, &format!("/element/{id}/click"), json!({}))
            .await;
    }

    async fn windows(&self) -> Vec<String> {
        let v = self.call(reqwest::Method::GET, "/window/handles", Value::Null).await;
        v.as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap().to_owned())
            .collect()
    }

    async fn switch_to(&self, handle: &str) {
        self.call(reqwest::Method::POST, "/window", json!({ "handle": handle }))
            .await;
    }

    async fn page_source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// The client's redirect URI: a small server that hands over the query it receives.
async fn callback_server() -> (u16, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let app = axum::Router::new().route(
        "/callback",
        axum::routing::get(move |uri: axum::http::Uri| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(uri.query().unwrap_or_default().to_owned());
                "signed in; you can close this page"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, rx)
}

async fn next_callback(rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>, browser: &Browser) -> String {
    match tokio::time::timeout(Duration::from_secs(20), rx.recv()).await {
        Ok(Some(q)) => q,
        _ => panic!(
            "the browser never reached the redirect URI; it shows:\n{}",
            browser.page_source().await
        ),
    }
}

/// Opens demo-pay's authorization URL (PKCE S256) in the browser and logs in as `user`;
/// returns the PKCE verifier. The browser is left on the consent page.
async fn log_in_for_demo_pay(
    browser: &Browser,
    app: &TestApp,
    redirect: &str,
    scope: &str,
    state: &str,
    (username, password): (&str, &str),
) -> String {
    let (verifier, challenge) = pkce_pair();
    let url = authorize_url_with(
        app,
        &[
            ("response_type", "code"),
            ("client_id", "demo-pay"),
            ("redirect_uri", redirect),
            ("scope", scope),
            ("state", state),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    browser.goto(&url).await;
    browser.type_into("input[name=username]", username).await;
    browser.type_into("input[name=password]", password).await;
    browser.click("button[type=submit]").await;
    verifier
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_in_chromium_reaches_the_client_with_a_code() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let (port, mut callbacks) = callback_server().await;
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let yaml = sandbank::scenario::DEFAULT_SCENARIO.replace("http://127.0.0.1:3002/callback", &redirect);
    let app = TestApp::spawn_with(&yaml).await;

    // Allow, with the one-time code the transfer scope asks for.
    let verifier = log_in_for_demo_pay(
        &browser,
        &app,
        &redirect,
        "openid accounts:read transfers:any",
        "browser-state",
        ("tanaka", "tanaka-pass"),
    )
    .await;
    let consent = browser.page_source().await;
    assert!(
        consent.contains("株式会社デモペイ"),
        "the consent page names the company"
    );
    browser.type_into("input[name=otp]", "111111").await;
    browser.click("button[value=approve]").await;
    let query = next_callback(&mut callbacks, &browser).await;
    let code = query_param(&format!("?{query}"), "code").expect("a code on the redirect");
    assert_eq!(
        query_param(&format!("?{query}"), "state").as_deref(),
        Some("browser-state")
    );
    assert_eq!(
        query_param(&format!("?{query}"), "iss").as_deref(),
        Some(app.base.as_str())
    );
    let (status, tokens) = app
        .token_request(
            "demo-pay",
            "pay-secret",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &redirect),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(status, 200, "{tokens}");
    let token = tokens["access_token"].as_str().unwrap();
    let (status, accounts) = app.get_json("/personal/v1/accounts", token).await;
    assert_eq!(status, 200);
    assert_eq!(accounts["accounts"][0]["accountId"], "00111234567");

    // Deny lands on the client too, with access_denied.
    let _ = log_in_for_demo_pay(
        &browser,
        &app,
        &redirect,
        "accounts:read",
        "denied",
        ("suzuki", "suzuki-pass"),
    )
    .await;
    browser.click("button[value=deny]").await;
    let query = next_callback(&mut callbacks, &browser).await;
    assert_eq!(
        query_param(&format!("?{query}"), "error").as_deref(),
        Some("access_denied")
    );
    let _ = browser
        .http
        .delete(format!("{}/session/{}", browser.base, browser.session))
        .send()
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_in_chromium_under_a_created_sandboxs_prefix() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let (port, mut callbacks) = callback_server().await;
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let app = TestApp::spawn().await;
    let yaml = sandbank::scenario::DEFAULT_SCENARIO.replace("http://127.0.0.1:3002/callback", &redirect);
    let (status, created) = app.create_sandbox(serde_json::json!({ "scenarioYaml": yaml })).await;
    assert_eq!(status, 201, "{created}");
    let sb = app.sandbox(&created);
    let secret = created["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["clientId"] == "demo-pay")
        .unwrap()["clientSecret"]
        .as_str()
        .unwrap()
        .to_owned();
    let verifier = log_in_for_demo_pay(
        &browser,
        &sb,
        &redirect,
        "openid accounts:read",
        "prefixed",
        ("tanaka", "tanaka-pass"),
    )
    .await;
    assert!(
        browser.page_source().await.contains("株式会社デモペイ"),
        "the consent page, reached under the prefix"
    );
    browser.click("button[value=approve]").await;
    let query = next_callback(&mut callbacks, &browser).await;
    let code = query_param(&format!("?{query}"), "code").expect("a code on the redirect");
    assert_eq!(
        query_param(&format!("?{query}"), "iss").as_deref(),
        Some(sb.base.as_str())
    );
    let (status, tokens) = sb
        .token_request(
            "demo-pay",
            &secret,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &redirect),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(status, 200, "{tokens}");
    let (status, _) = sb
        .get_json("/personal/v1/accounts", tokens["access_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 200);
    let _ = browser
        .http
        .delete(format!("{}/session/{}", browser.base, browser.session))
        .send()
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_ui_authorize_runs_the_code_flow_with_pkce() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn_for_base(|base| {
        sandbank::scenario::DEFAULT_SCENARIO
            .replace("http://127.0.0.1:8080/swagger-ui/", &format!("{base}/swagger-ui/"))
    })
    .await;
    browser.goto(&app.url("/swagger-ui/")).await;
    browser.click("button.btn.authorize").await;
    browser
        .type_into("#client_secret_authorizationCode", "demo-secret")
        .await;
    let form = "document.getElementById('client_secret_authorizationCode').closest('.auth-container')";
    // The scopes the initializer pre-selects (openid accounts:read transactions:read) stay.
    let authorize = browser
        .element_by_script(&format!("return {form}.querySelector('button.authorize')"))
        .await;
    let main = browser.windows().await[0].clone();
    browser.click_element(&authorize).await;
    // Swagger UI opens the authorization in a new window.
    let mut popup = None;
    for _ in 0..100 {
        if let Some(w) = browser.windows().await.into_iter().find(|w| *w != main) {
            popup = Some(w);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let Some(popup) = popup else {
        let shown = browser
            .call(
                reqwest::Method::POST,
                "/execute/sync",
                json!({"script": format!("return {form}.innerText"), "args": []}),
            )
            .await;
        panic!("Swagger UI opened no authorization window; its dialog shows: {shown}");
    };
    browser.switch_to(&popup).await;
    browser.type_into("input[name=username]", "tanaka").await;
    browser.type_into("input[name=password]", "tanaka-pass").await;
    browser.click("button[type=submit]").await;
    browser.click("button[value=approve]").await;
    // oauth2-redirect.html hands the code to Swagger UI and closes; Swagger UI redeems it.
    browser.switch_to(&main).await;
    for _ in 0..100 {
        let html = browser.page_source().await;
        if html.contains("Remove authorization") {
            let (_, log) = app.admin_get("/sandbox/v1/access-logs?operation=/oauth/token").await;
            let ok = log["entries"].as_array().unwrap().iter().any(|e| e["status"] == 200);
            assert!(ok, "the token endpoint issued tokens to Swagger UI: {log}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "Swagger UI never showed the authorization: {}",
        browser.page_source().await
    );
}
