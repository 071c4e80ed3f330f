//! The consent flow in a real browser: headless Chromium, driven over the W3C WebDriver
//! protocol (chromedriver), opens the authorization URL, logs in, enters the one-time code for
//! the transfer scope, presses 許可する / Allow and lands on the client's redirect URI with a
//! code, which the test exchanges for tokens. Pressing 許可しない / Deny lands there with
//! `error=access_denied`. This is what the page's Content-Security-Policy must allow.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian's `chromium` and
//! `chromium-driver`). Without them the test prints why and passes, unless
//! `SANDBANK_REQUIRE_BROWSER=1` (set by `.ci/run`), where it fails.

use crate::common::*;
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

    /// Runs a script in the page and hands back what it returns.
    async fn script(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
        .await
    }

    /// What a person reads on the page.
    async fn text(&self) -> String {
        self.script("return document.body.innerText")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits until the page's text contains `what` (10 s), else fails showing the page.
    async fn wait_for_text(&self, what: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let text = self.text().await;
            if text.contains(what) {
                return text;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!("the page never showed {what:?}; it shows:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn clear(&self, css: &str) {
        let id = self.element(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{id}/clear"), json!({}))
            .await;
    }

    /// Sets the window's size (a phone is 390 px wide).
    async fn resize(&self, width: u32, height: u32) {
        self.call(
            reqwest::Method::POST,
            "/window/rect",
            json!({"width": width, "height": height}),
        )
        .await;
    }

    /// Whether the page fits the window's width (nothing to scroll sideways).
    async fn fits_the_width(&self) -> bool {
        self.script("return document.documentElement.scrollWidth <= window.innerWidth")
            .await
            .as_bool()
            .unwrap_or(false)
    }

    async fn end(self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.base, self.session))
            .send()
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

/// The instant-debit consent as a person completes it: the biller, its limits and the
/// account choice are on the page, Allow without the one-time code is stopped by the browser,
/// a wrong code shows the page again with the error, and the account clicked is the one the
/// mandate debits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debit_consent_in_chromium_debits_the_account_chosen() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let (port, mut callbacks) = callback_server().await;
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let yaml = sandbank::scenario::DEFAULT_SCENARIO.replace("http://127.0.0.1:3003/callback", &redirect);
    let app = TestApp::spawn_with(&yaml).await;
    let (verifier, challenge) = pkce_pair();
    let url = authorize_url_with(
        &app,
        &[
            ("response_type", "code"),
            ("client_id", "demo-biller"),
            ("redirect_uri", &redirect),
            ("scope", "debits"),
            ("state", "debit"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("debit_max_amount", "10000"),
            ("debit_monthly_max_amount", "15000"),
        ],
    );
    browser.goto(&url).await;
    let login = browser.wait_for_text("ログイン").await;
    assert!(login.contains("Log in") && login.contains("デモ電力"), "{login}");
    browser.type_into("input[name=username]", "tanaka").await;
    browser.type_into("input[name=password]", "tanaka-pass").await;
    browser.click("button[type=submit]").await;
    let consent = browser.wait_for_text("口座振替の内容").await;
    for shown in [
        "株式会社デモ電力",
        "10,000円",
        "15,000円",
        "Account to debit",
        "001 普通 1234567",
        "002 貯蓄 7654321",
    ] {
        assert!(consent.contains(shown), "the consent page shows {shown:?}:\n{consent}");
    }
    // Allow without the code: the browser asks for it and sends nothing.
    browser.click("input[name=debit_account][value='00247654321']").await;
    browser.click("button[value=approve]").await;
    let missing = browser
        .script("return document.querySelector('input[name=otp]').validity.valueMissing")
        .await;
    assert_eq!(missing, json!(true), "the one-time code is required");
    assert!(
        browser.text().await.contains("口座振替の内容"),
        "still on the consent page"
    );
    // A wrong code: the page again, saying so in both languages.
    browser.type_into("input[name=otp]", "000000").await;
    browser.click("button[value=approve]").await;
    let again = browser.wait_for_text("Wrong one-time code").await;
    assert!(again.contains("ワンタイムパスワードが違います"), "{again}");
    // Choose the savings account, give the code, Allow.
    browser.click("input[name=debit_account][value='00247654321']").await;
    browser.clear("input[name=otp]").await;
    browser.type_into("input[name=otp]", "111111").await;
    browser.click("button[value=approve]").await;
    let query = next_callback(&mut callbacks, &browser).await;
    let code = query_param(&format!("?{query}"), "code").expect("a code on the redirect");
    let (status, tokens) = app
        .token_request(
            "demo-biller",
            "biller-secret",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &redirect),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(status, 200, "{tokens}");
    let (status, mandates) = app
        .get_json("/personal/v1/debit/mandates", tokens["access_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 200, "{mandates}");
    let mandate = &mandates["mandates"][0];
    assert_eq!(mandate["accountId"], "00247654321", "the account clicked: {mandates}");
    browser.end().await;
}

/// The consent page for transfer authority shows the daily transfer limits that apply, and
/// the login and error pages say what went wrong in both languages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_consent_and_error_pages_in_chromium() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn().await;
    // An unknown client: an error page, not a redirect.
    let (_, challenge) = pkce_pair();
    browser
        .goto(&authorize_url_with(
            &app,
            &[
                ("response_type", "code"),
                ("client_id", "nobody"),
                ("code_challenge", &challenge),
            ],
        ))
        .await;
    let text = browser.wait_for_text("エラー").await;
    assert!(
        text.contains("Unknown client_id") && text.contains("やり直して"),
        "{text}"
    );
    // A wrong password: the login page again with the error.
    browser
        .goto(&authorize_url_with(
            &app,
            &[
                ("response_type", "code"),
                ("client_id", "demo-pay"),
                ("redirect_uri", "http://127.0.0.1:3002/callback"),
                ("scope", "openid accounts:read transfers:own"),
                ("state", "s"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        ))
        .await;
    browser.type_into("input[name=username]", "tanaka").await;
    browser.type_into("input[name=password]", "nope").await;
    browser.click("button[type=submit]").await;
    let text = browser.wait_for_text("Wrong username or password").await;
    assert!(text.contains("ユーザー名またはパスワードが違います"), "{text}");
    // The right one: the consent page, with the transfer limits for transfer authority.
    browser.type_into("input[name=username]", "tanaka").await;
    browser.type_into("input[name=password]", "tanaka-pass").await;
    browser.click("button[type=submit]").await;
    let text = browser.wait_for_text("アクセスの許可").await;
    for shown in ["振込の上限", "Transfer limits", "yen a day", "One-time code"] {
        assert!(text.contains(shown), "the consent page shows {shown:?}:\n{text}");
    }
    // On a phone the consent page fits the screen.
    browser.resize(390, 844).await;
    assert!(browser.fits_the_width().await, "the consent page is wider than a phone");
    // An expired request: the error page says so in both languages.
    app.advance("PT11M").await;
    browser.type_into("input[name=otp]", "111111").await;
    browser.click("button[value=approve]").await;
    let text = browser.wait_for_text("エラー").await;
    assert!(text.contains("有効期限") && text.contains("has expired"), "{text}");
    browser.end().await;
}

/// The bank-side approval page as an approver on a phone uses it: the test approvers are
/// named, the one-time code is asked (and required), each waiting transfer can be approved or
/// returned with a comment, and the result line says what happened in both languages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_page_in_chromium_on_a_phone() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let operator = app
        .grant(
            "yamada-operator",
            "demo-accounting",
            &["accounts:read", "transfers:any"],
        )
        .await["tokens"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, accounts) = app.get_json("/corporation/v1/accounts", &operator).await;
    let from = accounts["accounts"][0]["accountId"].as_str().unwrap().to_owned();
    let mut apply_nos = Vec::new();
    for (comment, amount) in [("家賃", "12345"), ("備品", "6789")] {
        let res = app
            .http
            .post(app.url("/corporation/v1/transfer/request"))
            .bearer_auth(&operator)
            .json(
                &json!({"accountId": from, "applyComment": comment, "transfers": [{"transferAmount": amount,
                "beneficiaryBankCode": "0999", "beneficiaryBranchCode": "002", "accountTypeCode": "1",
                "accountNumber": "2345678", "beneficiaryName": "ｽｽﾞｷ ﾊﾅｺ"}]}),
            )
            .send()
            .await
            .unwrap();
        let body: Value = res.json().await.unwrap();
        apply_nos.push(body["applyNo"].as_str().expect("an applyNo").to_owned());
    }
    browser.resize(390, 844).await;
    browser.goto(&app.url("/bank/approvals")).await;
    let text = browser.wait_for_text("承認者ログイン").await;
    assert!(
        text.contains("Approver log in") && text.contains("yamada-approver"),
        "{text}"
    );
    assert!(browser.fits_the_width().await, "the login page is wider than a phone");
    let viewport = browser
        .script("return document.querySelector('meta[name=viewport]') !== null")
        .await;
    assert_eq!(viewport, json!(true));
    // Without the one-time code the browser asks for it.
    browser.type_into("input[name=username]", "yamada-approver").await;
    browser.type_into("input[name=password]", "approver-pass").await;
    browser.click("button[type=submit]").await;
    let missing = browser
        .script("return document.querySelector('input[name=otp]').validity.valueMissing")
        .await;
    assert_eq!(missing, json!(true), "the one-time code is required");
    // A wrong code is refused in both languages.
    browser.type_into("input[name=otp]", "000000").await;
    browser.click("button[type=submit]").await;
    let text = browser.wait_for_text("Wrong one-time code").await;
    assert!(text.contains("ワンタイムパスワードが違います"), "{text}");
    browser.type_into("input[name=username]", "yamada-approver").await;
    browser.type_into("input[name=password]", "approver-pass").await;
    browser.type_into("input[name=otp]", "444444").await;
    browser.click("button[type=submit]").await;
    // The login page's own description says 承認待ちの振込 too: wait for the list itself.
    let text = browser.wait_for_text(&apply_nos[0]).await;
    assert!(text.contains("承認待ちの振込"), "{text}");
    for no in &apply_nos {
        assert!(text.contains(no.as_str()), "{no} is listed:\n{text}");
    }
    assert!(text.contains("12,345円") && text.contains("家賃"), "{text}");
    assert!(
        browser.fits_the_width().await,
        "the list is wider than a phone (the table scrolls inside)"
    );
    // Approve the first with a comment.
    let row = |no: &str, what: &str| format!("form:has(input[name=apply_no][value='{no}']) {what}");
    browser
        .type_into(&row(&apply_nos[0], "input[name=comment]"), "確認しました")
        .await;
    browser.click(&row(&apply_nos[0], "button[value=approve]")).await;
    let text = browser.wait_for_text(&format!("{}: ", apply_nos[0])).await;
    assert!(!text.contains("申請中（2）"), "no longer waiting: {text}");
    // Return the second.
    browser.click(&row(&apply_nos[1], "button[value=return]")).await;
    let text = browser.wait_for_text("returned to the applicant").await;
    assert!(text.contains("差戻（3）"), "{text}");
    assert!(text.contains("Nothing waits for approval"), "{text}");
    for (no, status) in [(&apply_nos[0], None), (&apply_nos[1], Some("3"))] {
        let (code, t) = app
            .get_json(
                &format!("/corporation/v1/transfer/status?accountId={from}&applyNo={no}"),
                &operator,
            )
            .await;
        assert_eq!(code, 200, "{t}");
        let shown = t.to_string();
        match status {
            Some(s) => assert!(shown.contains(&format!("\"transferStatus\":\"{s}\"")), "{shown}"),
            None => assert!(!shown.contains("\"transferStatus\":\"2\""), "approved: {shown}"),
        }
    }
    browser.end().await;
}

/// The pages that stop a person: five wrong passwords lock the user (the page says until
/// when, in both languages), and a suspended connecting company gets the stop page with the
/// bank's reason instead of a login.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockout_and_stop_pages_in_chromium() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let (_, challenge) = pkce_pair();
    browser
        .goto(&authorize_url(&app, "openid accounts:read", &challenge, "s"))
        .await;
    for _ in 0..5 {
        browser.type_into("input[name=username]", "suzuki").await;
        browser.type_into("input[name=password]", "wrong").await;
        browser.click("button[type=submit]").await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let text = browser.wait_for_text("locked until").await;
    assert!(text.contains("ロックされています"), "{text}");
    // Unlocked by the control plane, the right password goes through.
    let (status, _) = app.admin_post("/sandbox/v1/users/suzuki/unlock", json!({})).await;
    assert_eq!(status, 200);
    browser
        .goto(&authorize_url(&app, "openid accounts:read", &challenge, "s"))
        .await;
    browser.type_into("input[name=username]", "suzuki").await;
    browser.type_into("input[name=password]", "suzuki-pass").await;
    browser.click("button[type=submit]").await;
    browser.wait_for_text("アクセスの許可").await;
    // A suspended client: the stop page, with the reason, and no way on.
    let (status, body) = app
        .admin_post("/sandbox/v1/clients/demo-pfm/suspension", json!({"reason": "調査中"}))
        .await;
    assert_eq!(status, 200, "{body}");
    browser
        .goto(&authorize_url(&app, "openid accounts:read", &challenge, "s"))
        .await;
    let text = browser.wait_for_text("エラー").await;
    assert!(
        text.contains("suspended the connecting company")
            && text.contains("調査中")
            && text.contains("認可はできません"),
        "{text}"
    );
    let forms = browser.script("return document.forms.length").await;
    assert_eq!(forms, json!(0), "the stop page offers no form");
    browser.end().await;
}

impl Browser {
    /// Saves a screenshot of the window as `target/portal-screenshots/{name}.png`.
    async fn screenshot(&self, name: &str) {
        use base64::Engine;
        let png = self.call(reqwest::Method::GET, "/screenshot", Value::Null).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .expect("a base64 screenshot");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/portal-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), bytes).unwrap();
    }

    /// The form fields on the page that have no label (a screen reader could not name them).
    async fn unlabelled_fields(&self) -> Value {
        self.script(
            "return [...document.querySelectorAll('input:not([type=hidden]),select,textarea')]
               .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
               .map(e => e.name || e.id)",
        )
        .await
    }
}

/// The portal as a person uses it: sign in by typing the key (a wrong one first), reveal a
/// client's secret, run Try it through login, consent and the one-time code to the tokens,
/// call the balance API from the page, watch a refused call arrive in the live log and read
/// why, reset through the confirmation page, look at every page on a phone, sign out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_in_chromium_from_sign_in_through_try_it_to_the_balance_and_the_why() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn().await;
    browser.goto(&app.url("/portal")).await;
    browser.wait_for_text("Sign in to the portal").await;
    browser.type_into("#key", "sbadm_wrong").await;
    browser.click("button[type=submit]").await;
    browser.wait_for_text("That is not the admin key").await;
    browser.type_into("#key", &app.admin_key).await;
    browser.click("button[type=submit]").await;
    let text = browser.wait_for_text("Sandbox clock").await;
    assert!(text.contains(&app.base), "the base URL is on the overview:\n{text}");
    assert_eq!(browser.script("return document.documentElement.lang").await, "ja");
    assert_eq!(
        browser
            .script("return document.querySelectorAll('script:not([src])').length")
            .await,
        0,
        "no inline script"
    );
    browser.screenshot("overview-desktop").await;

    // A client's secret, revealed on click.
    browser.click("nav a[href='/portal/clients']").await;
    browser.wait_for_text("Create a client").await;
    browser.click("a[href='/portal/clients/demo-pay']").await;
    browser.wait_for_text("Credentials").await;
    assert_eq!(
        browser
            .script("return document.getElementById('client-secret').hidden")
            .await,
        true
    );
    browser.click("button[data-reveal=client-secret]").await;
    assert_eq!(
        browser
            .script("return document.getElementById('client-secret').hidden")
            .await,
        false
    );
    assert!(browser.text().await.contains("pay-secret"));

    // Try it, with a scope that moves money (so the one-time code is asked).
    browser.click("input[name=scope][value='transfers:any']").await;
    browser.click("#start-try").await;
    browser.type_into("input[name=username]", "tanaka").await;
    browser.type_into("input[name=password]", "tanaka-pass").await;
    browser.click("button[type=submit]").await;
    let consent = browser.wait_for_text("株式会社デモペイ").await;
    assert!(
        consent.contains("transfers:any") || consent.contains("振込"),
        "{consent}"
    );
    browser.type_into("input[name=otp]", "111111").await;
    browser.click("button[value=approve]").await;
    let text = browser.wait_for_text("Tokens received").await;
    assert!(text.contains("transfers:any"), "{text}");
    let claims = browser
        .script("return document.getElementById('id-claims').innerText")
        .await;
    assert!(claims.as_str().unwrap().contains("\"sub\""), "{claims}");
    assert!(
        claims.as_str().unwrap().contains(&app.base),
        "iss is the sandbox: {claims}"
    );
    browser.click("#call-balance").await;
    let answer = browser.wait_for_text("HTTP 200").await;
    assert!(answer.contains("00111234567"), "tanaka's balances:\n{answer}");
    assert!(answer.contains("curl -H 'Authorization: Bearer"), "copy as curl");
    browser.screenshot("try-it-desktop").await;

    // A refused call appears in the open log page, and its why is one click away.
    browser.goto(&app.url("/portal/log")).await;
    browser.wait_for_text("Request log").await;
    let res = app.get("/personal/v1/accounts/balances", "not-a-token").await;
    assert_eq!(res.status(), 401);
    browser.wait_for_text("invalid_token").await;
    browser.click("#log-rows tr[data-id] a").await;
    let why = browser.wait_for_text("Why it was refused").await;
    assert!(why.contains("What to do") && why.contains("invalid_token"), "{why}");
    browser.screenshot("why-desktop").await;

    // Reset asks first.
    browser.goto(&app.url("/portal")).await;
    browser.click("a[href='/portal/confirm?action=reset']").await;
    browser.wait_for_text("Reset the sandbox?").await;
    browser.click("#confirm").await;
    browser.wait_for_text("The sandbox was reset").await;

    // The session cookie is never readable by script.
    assert_eq!(browser.script("return document.cookie").await, "");

    // Every page at desktop width and on a phone: nothing to scroll sideways on the phone,
    // every field labelled.
    let pages = [
        ("/portal", "Sandbox clock"),
        ("/portal/clients", "Create a client"),
        ("/portal/clients/demo-pfm", "Credentials"),
        ("/portal/users", "yamada-approver"),
        ("/portal/log", "Request log"),
        ("/portal/events", "Events"),
        ("/portal/webhooks", "Add an endpoint"),
        ("/portal/rehearse", "Kill switch"),
        ("/portal/data", "Ledger check"),
        ("/portal/data/accounts/00111234567", "History"),
        ("/portal/tried", "Tokens received"),
    ];
    for (page, unique) in pages {
        browser.goto(&app.url(page)).await;
        browser.wait_for_text(unique).await;
        browser.screenshot(&format!("desktop{}", page.replace('/', "-"))).await;
    }
    browser.resize(390, 844).await;
    for (page, unique) in pages {
        browser.goto(&app.url(page)).await;
        browser.wait_for_text(unique).await;
        let wide = browser
            .script(
                "return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 5).map(e => e.tagName + '#' + e.id + '.' + e.className)",
            )
            .await;
        assert!(browser.fits_the_width().await, "{page} is wider than a phone: {wide}");
        assert_eq!(
            browser.unlabelled_fields().await,
            json!([]),
            "{page} has unlabelled fields"
        );
        browser.screenshot(&format!("phone{}", page.replace('/', "-"))).await;
    }
    browser.resize(1280, 2400).await;
    browser.goto(&app.url("/portal")).await;
    browser.click(".signout button").await;
    browser.wait_for_text("Sign in to the portal").await;
    browser.goto(&app.url("/portal/clients")).await;
    browser.wait_for_text("Sign in to the portal").await;
    browser.end().await;
}

/// The operator's portal in the browser: sign in, create a sandbox, follow its portal link
/// and sign in there with the key shown once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_portal_in_chromium_creates_a_sandbox_and_its_owner_signs_in() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn().await;
    browser.goto(&app.url("/operator/portal")).await;
    browser.wait_for_text("Operator sign-in").await;
    browser.type_into("#key", &app.operator_key).await;
    browser.click("button[type=submit]").await;
    browser.wait_for_text("Create a sandbox").await;
    browser.click("#create button[type=submit]").await;
    browser.wait_for_text("shown this once").await;
    let key = browser
        .script("return document.getElementById('new-admin-key').innerText")
        .await;
    let key = key.as_str().unwrap().to_owned();
    browser.screenshot("operator-created").await;
    browser.click("#new-portal").await;
    browser.wait_for_text("Sign in to the portal").await;
    browser.type_into("#key", &key).await;
    browser.click("button[type=submit]").await;
    let text = browser.wait_for_text("Sandbox clock").await;
    assert!(text.contains("/s/"), "the new sandbox's own base URL:\n{text}");
    browser.end().await;
}

/// The portal's forms as a person fills them in: each one's happy path and a bad input that
/// gets a clear message on the page with nothing changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_forms_in_chromium_say_what_is_wrong_and_change_nothing_until_right() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn().await;
    browser.goto(&app.url("/portal/sign-in")).await;
    browser.type_into("#key", &app.admin_key).await;
    browser.click("button[type=submit]").await;
    browser.wait_for_text("Sandbox clock").await;
    let (_, before) = app.admin_get("/sandbox/v1/clock").await;

    // The clock: a duration it cannot read, then a quick button.
    browser.type_into("#by", "yesterday").await;
    browser.click("#clock button.primary").await;
    browser.wait_for_text("The clock was not moved").await;
    let (_, after) = app.admin_get("/sandbox/v1/clock").await;
    assert_eq!(before["offsetSeconds"], after["offsetSeconds"]);
    browser.goto(&app.url("/portal")).await;
    let plus_day = browser
        .element_by_script(
            "return [...document.querySelectorAll('#clock button.small')].find(b => b.innerText.includes('+1 day'))",
        )
        .await;
    browser.click_element(&plus_day).await;
    browser.wait_for_text("The clock moved forward by 1d").await;

    // A snapshot: a name the field refuses (the browser holds the form), then a good one.
    browser.type_into("#snapshot-name", "two words").await;
    browser.click("#snapshots button.primary").await;
    assert!(browser.text().await.contains("Take a snapshot"));
    let (_, list) = app.admin_get("/sandbox/v1/snapshots").await;
    assert_eq!(list, json!([]), "nothing taken");
    browser.clear("#snapshot-name").await;
    browser.type_into("#snapshot-name", "before-drill").await;
    browser.click("#snapshots button.primary").await;
    browser.wait_for_text("Snapshot \"before-drill\" was taken").await;

    // A client: a redirect URI that is not http(s), then a good one.
    browser.goto(&app.url("/portal/clients")).await;
    browser.type_into("#client_id", "browser-app").await;
    browser.type_into("#company", "株式会社ブラウザ").await;
    browser.type_into("#service", "ブラウザ家計簿").await;
    browser.clear("#redirect_uris").await;
    browser.type_into("#redirect_uris", "ftp://example/cb").await;
    browser.click("#create button.primary").await;
    browser.wait_for_text("must be an absolute http(s) URL").await;
    let (status, _) = app.admin_get("/sandbox/v1/clients/browser-app").await;
    assert_eq!(status, 404, "nothing was created");
    browser.goto(&app.url("/portal/clients")).await;
    browser.type_into("#client_id", "browser-app").await;
    browser.type_into("#company", "株式会社ブラウザ").await;
    browser.type_into("#service", "ブラウザ家計簿").await;
    browser.click("#create button.primary").await;
    browser.wait_for_text("Client \"browser-app\" was created").await;

    // A fault rule from a template, shown with its counters; JSON it cannot read; removal.
    browser.goto(&app.url("/portal/rehearse")).await;
    let template = browser
        .element_by_script(
            "return [...document.querySelectorAll('#faults form.inline button')].find(b => b.innerText.includes('Every 3rd'))",
        )
        .await;
    browser.click_element(&template).await;
    browser.wait_for_text("was added").await;
    assert!(browser.text().await.contains("every 3rd balance call fails"));
    browser.clear("#rule").await;
    browser.type_into("#rule", "{not json").await;
    let add = browser
        .element_by_script("return document.querySelector('#faults form:not(.inline) button.primary')")
        .await;
    browser.click_element(&add).await;
    browser.wait_for_text("not valid JSON").await;
    browser.goto(&app.url("/portal/rehearse")).await;
    let remove = browser
        .element_by_script("return document.querySelector('#fault-list button.danger')")
        .await;
    browser.click_element(&remove).await;
    browser.wait_for_text("was removed").await;
    let (_, rules) = app.admin_get("/sandbox/v1/faults").await;
    assert_eq!(rules["rules"], json!([]));

    // The kill switch: a user who does not exist, then a real one, then resume.
    for (who, reason) in [("nobody", "drill"), ("tanaka", "account under review")] {
        browser.goto(&app.url("/portal/rehearse")).await;
        let user = browser
            .element_by_script("return document.querySelector('#stop-target option[value=user]')")
            .await;
        browser.click_element(&user).await;
        browser.type_into("#stop-id", who).await;
        browser.type_into("#stop-reason", reason).await;
        let stop = browser
            .element_by_script("return document.querySelector('#stops form:not(.inline) button.primary, #stops > form button.primary')")
            .await;
        browser.click_element(&stop).await;
        if who == "nobody" {
            browser.wait_for_text("There is no user \"nobody\"").await;
        } else {
            browser.wait_for_text("The stop is in force").await;
        }
    }
    assert!(browser.text().await.contains("account under review"));
    let resume = browser
        .element_by_script("return document.querySelector('#stop-list button')")
        .await;
    browser.click_element(&resume).await;
    browser.wait_for_text("Resumed").await;

    // A webhook endpoint: an event type there is none of, then one it takes; a test event.
    browser.goto(&app.url("/portal/webhooks")).await;
    browser.type_into("#wh-url", "http://127.0.0.1:9/hook").await;
    browser.type_into("#wh-types", "no.such.event").await;
    let add = browser
        .element_by_script("return document.querySelector('#endpoints form[action$=endpoints] button')")
        .await;
    browser.click_element(&add).await;
    browser.wait_for_text("unknown event type").await;
    browser.goto(&app.url("/portal/webhooks")).await;
    browser.type_into("#wh-url", "http://127.0.0.1:9/hook").await;
    let add = browser
        .element_by_script("return document.querySelector('#endpoints form[action$=endpoints] button')")
        .await;
    browser.click_element(&add).await;
    browser.wait_for_text("was added for").await;
    let test = browser
        .element_by_script("return document.querySelector('form[action$=\"/webhooks/test\"] button')")
        .await;
    browser.click_element(&test).await;
    browser.wait_for_text("Test event sent as message").await;

    // Bank data: a search that finds nothing says so.
    browser
        .goto(&app.url("/portal/data?q=%E5%BE%B3%E5%B7%9D%E5%AE%B6%E5%BA%B7"))
        .await;
    browser.wait_for_text("No account matches").await;
    browser.end().await;
}
