//! The developer portal over HTTP, as a browser without scripts would use it: sign-in with the
//! right and a wrong key, the session cookie's attributes and scope, CSRF on forms, sign-out
//! and idle expiry, the operator's portal, and the request log's "why" for refusals made by
//! real failing calls. (`browser.rs` drives the pages in Chromium.)

use crate::common::*;
use serde_json::json;

/// A browser-like client of one portal: keeps its cookies by hand.
struct Visitor {
    http: reqwest::Client,
    cookies: Vec<(String, String)>,
    base: String,
}

impl Visitor {
    fn new(app: &TestApp) -> Visitor {
        Visitor {
            http: app.http.clone(),
            cookies: Vec::new(),
            base: app.base.clone(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, res: &reqwest::Response) {
        for v in res.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let (kv, _) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = kv.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != k);
            if !val.is_empty() {
                self.cookies.push((k.to_owned(), val.to_owned()));
            }
        }
    }

    async fn get(&mut self, path: &str) -> (u16, String, reqwest::header::HeaderMap) {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(&res);
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        (status, res.text().await.unwrap(), headers)
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> (u16, String, reqwest::header::HeaderMap) {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.keep(&res);
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        (status, res.text().await.unwrap(), headers)
    }

    /// Signs in at `portal` (e.g. `/portal`) with `key`; answers the status of the sign-in post.
    async fn sign_in(&mut self, portal: &str, key: &str) -> (u16, String, reqwest::header::HeaderMap) {
        let (status, html, _) = self.get(&format!("{portal}/sign-in")).await;
        assert_eq!(status, 200, "{html}");
        let token = hidden_field(&html, "csrf").expect("csrf on the sign-in form");
        self.post(&format!("{portal}/sign-in"), &[("csrf", &token), ("key", key)])
            .await
    }
}

fn location_of(headers: &reqwest::header::HeaderMap) -> String {
    headers
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// The CSRF token of a signed-in page.
fn csrf_of(html: &str) -> String {
    hidden_field(html, "csrf").expect("a csrf field on the page")
}

#[tokio::test]
async fn portal_sign_in_takes_the_admin_key_and_scopes_its_cookie_to_the_sandbox() {
    let app = TestApp::spawn().await;
    let mut v = Visitor::new(&app);
    // Not signed in: every page sends the browser to the sign-in page.
    let (status, _, h) = v.get("/portal/clients").await;
    assert_eq!(status, 303);
    assert_eq!(location_of(&h), "/portal/sign-in");
    let (status, html, _) = v.sign_in("/portal", "sbadm_not-the-key").await;
    assert_eq!(status, 401);
    assert!(html.contains("That is not the admin key"), "{html}");
    let (status, _, h) = v.sign_in("/portal", &app.admin_key).await;
    assert_eq!(status, 303);
    let cookie = h.get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(cookie.starts_with("sandbank_portal="), "{cookie}");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/portal"] {
        assert!(cookie.contains(attr), "{attr} missing: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "served over http: {cookie}");
    let (status, html, h) = v.get("/portal").await;
    assert_eq!(status, 200);
    assert!(html.contains(&app.base), "the base URL is shown");
    let csp = h.get("content-security-policy").unwrap().to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!html.contains("<script>"), "no inline script");
    assert_eq!(h.get("cache-control").unwrap(), "no-store");
    for page in [
        "/portal/clients",
        "/portal/users",
        "/portal/log",
        "/portal/events",
        "/portal/rehearse",
        "/portal/data",
        "/portal/clients/demo-pfm",
    ] {
        let (status, html, _) = v.get(page).await;
        assert_eq!(status, 200, "{page}: {html}");
    }
    // The stylesheet and script come from the binary.
    let (status, css, _) = v.get("/portal/assets/portal.css").await;
    assert!(status == 200 && css.contains("body"), "{status}");

    // Another sandbox: this session does not open its portal, nor does its key open this one.
    let (status, created) = app.create_sandbox(json!({"scenario": "default"})).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["portal"], format!("{}/s/{id}/portal", app.base));
    let res = app
        .http
        .get(app.url(&format!("/s/{id}/portal")))
        .header("cookie", v.cookie_header())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "the default sandbox's session is not this sandbox's");
    let mut other = Visitor::new(&app);
    let (status, _, _) = other.sign_in("/portal", created["adminKey"].as_str().unwrap()).await;
    assert_eq!(status, 401, "another sandbox's admin key does not open this portal");
    let (status, _, h) = other
        .sign_in(&format!("/s/{id}/portal"), created["adminKey"].as_str().unwrap())
        .await;
    assert_eq!(status, 303);
    assert!(
        h.get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .contains(&format!("Path=/s/{id}/portal"))
    );
    let (status, html, _) = other.get(&format!("/s/{id}/portal")).await;
    assert_eq!(status, 200);
    assert!(html.contains(&format!("{}/s/{id}", app.base)), "its own base URL");
}

#[tokio::test]
async fn a_portal_form_without_the_sessions_csrf_token_changes_nothing() {
    let app = TestApp::spawn().await;
    let mut v = Visitor::new(&app);
    v.sign_in("/portal", &app.admin_key).await;
    let (_, before) = app.admin_get("/sandbox/v1/clock").await;
    let (status, html, _) = v.post("/portal/clock/advance", &[("by", "1d")]).await;
    assert_eq!(status, 403, "{html}");
    assert!(html.contains("CSRF"), "{html}");
    let (status, _, _) = v
        .post("/portal/clock/advance", &[("by", "1d"), ("csrf", "forged")])
        .await;
    assert_eq!(status, 403);
    let (_, after) = app.admin_get("/sandbox/v1/clock").await;
    assert_eq!(
        before["offsetSeconds"], after["offsetSeconds"],
        "the clock did not move"
    );

    let (_, html, _) = v.get("/portal").await;
    let token = csrf_of(&html);
    // Bad input: a clear message, nothing moved.
    let (status, html, _) = v
        .post("/portal/clock/advance", &[("by", "yesterday"), ("csrf", &token)])
        .await;
    assert_eq!(status, 400);
    assert!(html.contains("yesterday"), "{html}");
    let (status, _, h) = v.post("/portal/clock/advance", &[("by", "1d"), ("csrf", &token)]).await;
    assert_eq!(status, 303);
    assert_eq!(location_of(&h), "/portal#clock");
    let (_, after) = app.admin_get("/sandbox/v1/clock").await;
    assert_eq!(
        after["offsetSeconds"].as_i64().unwrap() - before["offsetSeconds"].as_i64().unwrap(),
        86_400
    );
    let (_, html, _) = v.get("/portal").await;
    assert!(
        html.contains("The clock moved forward by 1d"),
        "the message after the redirect"
    );

    // A snapshot taken and restored through the portal's forms.
    let (status, _, _) = v
        .post("/portal/snapshots", &[("name", "before-test"), ("csrf", &token)])
        .await;
    assert_eq!(status, 303);
    let (_, list) = app.admin_get("/sandbox/v1/snapshots").await;
    assert_eq!(list[0]["name"], "before-test", "{list}");
    let (status, html, _) = v.get("/portal/confirm?action=restore&name=before-test").await;
    assert_eq!(status, 200);
    assert!(html.contains("Restore this snapshot?"));
    let (status, html, _) = v
        .post("/portal/snapshots", &[("name", "bad name!"), ("csrf", &token)])
        .await;
    assert!(status == 422 || status == 400, "{status}: {html}");
}

#[tokio::test]
async fn a_portal_session_ends_on_sign_out_and_after_the_idle_timeout() {
    let app = TestApp::spawn_configured(|c| c.portal.idle_timeout = std::time::Duration::from_secs(1)).await;
    let mut v = Visitor::new(&app);
    v.sign_in("/portal", &app.admin_key).await;
    let (status, _, _) = v.get("/portal").await;
    assert_eq!(status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let (status, _, h) = v.get("/portal").await;
    assert_eq!(status, 303, "idle for longer than the timeout");
    assert_eq!(location_of(&h), "/portal/sign-in?ended=1");
    let (_, html, _) = v.get("/portal/sign-in?ended=1").await;
    assert!(html.contains("Your session ended"));

    let app = TestApp::spawn().await;
    let mut v = Visitor::new(&app);
    v.sign_in("/portal", &app.admin_key).await;
    let (_, html, _) = v.get("/portal").await;
    let kept = v.cookies.clone();
    let (status, _, h) = v.post("/portal/sign-out", &[("csrf", &csrf_of(&html))]).await;
    assert_eq!(status, 303);
    assert!(h.get("set-cookie").unwrap().to_str().unwrap().contains("Max-Age=0"));
    // The old cookie, sent again, opens nothing.
    v.cookies = kept;
    let (status, _, _) = v.get("/portal").await;
    assert_eq!(status, 303);
}

#[tokio::test]
async fn wrong_keys_from_one_address_are_held_back() {
    let app = TestApp::spawn().await;
    let mut v = Visitor::new(&app);
    for _ in 0..10 {
        let (status, _, _) = v.sign_in("/portal", "sbadm_guess").await;
        assert_eq!(status, 401);
    }
    let (status, html, _) = v.sign_in("/portal", &app.admin_key).await;
    assert_eq!(status, 429, "even the right key waits: {html}");
    assert!(html.contains("held back"));
}

#[tokio::test]
async fn the_operator_portal_creates_a_sandbox_whose_key_opens_its_portal() {
    let app = TestApp::spawn().await;
    let mut op = Visitor::new(&app);
    let (status, _, _) = op.sign_in("/operator/portal", &app.admin_key).await;
    assert_eq!(status, 401, "the admin key is not the operator key");
    let (status, _, h) = op.sign_in("/operator/portal", &app.operator_key).await;
    assert_eq!(status, 303);
    assert!(
        h.get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("Path=/operator/portal")
    );
    let (status, html, _) = op.get("/operator/portal").await;
    assert_eq!(status, 200);
    assert!(html.contains("sandbox-list") && html.contains("default"));
    let token = csrf_of(&html);
    let (status, html, _) = op
        .post(
            "/operator/portal/sandboxes",
            &[("scenario", "no-such"), ("yaml", ""), ("csrf", &token)],
        )
        .await;
    assert_eq!(status, 422);
    assert!(html.contains("no scenario"), "{html}");
    let (status, html, _) = op
        .post(
            "/operator/portal/sandboxes",
            &[("scenario", "default"), ("yaml", ""), ("csrf", &token)],
        )
        .await;
    assert_eq!(status, 200, "{html}");
    let id = html
        .split("id=\"new-id\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    let key = html
        .split("id=\"new-admin-key\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    let mut owner = Visitor::new(&app);
    let (status, _, _) = owner.sign_in(&format!("/s/{id}/portal"), &key).await;
    assert_eq!(status, 303, "the key shown once opens the new sandbox's portal");
    let (status, _, _) = op
        .post("/operator/portal/sandboxes/delete", &[("id", &id), ("csrf", &token)])
        .await;
    assert_eq!(status, 400, "deleting asks to be sure");
    let (status, _, _) = op
        .post(
            "/operator/portal/sandboxes/delete",
            &[("id", &id), ("sure", "yes"), ("csrf", &token)],
        )
        .await;
    assert_eq!(status, 303);
    let res = app.http.get(app.url(&format!("/s/{id}/portal"))).send().await.unwrap();
    assert_eq!(res.status(), 404, "gone");
}

/// The log entry page of the newest call matching `query`, once the log has it.
async fn explained(app: &TestApp, v: &mut Visitor, query: &str) -> String {
    let query = query.to_owned();
    let id = eventually("the call in the access log", std::time::Duration::from_secs(5), || {
        let (app, query) = (app, query.clone());
        async move {
            let (_, page) = app.admin_get(&format!("/sandbox/v1/access-logs?{query}&limit=1")).await;
            page["entries"][0]["id"].as_u64()
        }
    })
    .await;
    let (status, html, _) = v.get(&format!("/portal/log/{id}")).await;
    assert_eq!(status, 200, "{html}");
    html
}

#[tokio::test]
async fn the_request_log_explains_real_refusals_from_their_recorded_reason() {
    let app = TestApp::spawn().await;
    let mut v = Visitor::new(&app);
    v.sign_in("/portal", &app.admin_key).await;

    // 1. Missing scope: a token without transactions:read asks for transactions.
    let tokens = app.grant("tanaka", "demo-pfm", &["openid", "accounts:read"]).await;
    let access = tokens["tokens"]["access_token"].as_str().unwrap().to_owned();
    let res = app
        .get("/personal/v1/accounts/transactions?accountId=00111234567", &access)
        .await;
    assert_eq!(res.status(), 403);
    let html = explained(&app, &mut v, "status=403&operation=transactions").await;
    assert!(
        html.contains("insufficient_scope") && html.contains("transactions:read"),
        "{html}"
    );
    assert!(html.contains("Ask for that scope"), "what to do: {html}");

    // 2. Expired token: the sandbox clock moved past its lifetime.
    app.advance("2h").await;
    let res = app.get("/personal/v1/accounts/balances", &access).await;
    assert_eq!(res.status(), 401);
    let html = explained(&app, &mut v, "status=401&operation=balances").await;
    assert!(html.contains("token_expired"), "{html}");
    assert!(
        html.contains("expired at 20"),
        "when it expired, on the sandbox clock: {html}"
    );
    assert!(html.contains("Use the refresh token"), "{html}");

    // 3. Redirect URI not registered: the page lists the registered ones.
    let (_, challenge) = pkce_pair();
    let url = authorize_url_with(
        &app,
        &[
            ("response_type", "code"),
            ("client_id", "demo-pfm"),
            ("redirect_uri", "http://evil.example/cb"),
            ("scope", "openid"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    assert_eq!(app.http.get(&url).send().await.unwrap().status(), 400);
    let html = explained(&app, &mut v, "status=400&operation=authorize").await;
    assert!(html.contains("redirect_uri_not_registered"), "{html}");
    assert!(
        html.contains("http://127.0.0.1:3000/callback"),
        "the registered URIs: {html}"
    );

    // 4. PKCE mismatch at the token endpoint.
    let (_, challenge) = pkce_pair();
    let url = authorize_url(&app, "openid accounts:read", &challenge, "st");
    let back = browser_consent(&app, &url, "tanaka", "tanaka-pass").await;
    let code = back
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    let (wrong, _) = pkce_pair();
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth("demo-pfm", Some(&app.demo_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:3000/callback"),
            ("code_verifier", &wrong),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let html = explained(&app, &mut v, "status=400&operation=token").await;
    assert!(
        html.contains("pkce_mismatch") && html.contains("code_verifier"),
        "{html}"
    );

    // 5. Suspension, with its reason: a token issued before it is refused.
    let pfm = app.grant("tanaka", "demo-pfm", &["openid", "accounts:read"]).await;
    let pfm = pfm["tokens"]["access_token"].as_str().unwrap().to_owned();
    let (status, body) = app
        .admin_post(
            "/sandbox/v1/clients/demo-pfm/suspension",
            json!({"reason": "audit finding 42"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let res = app.get("/personal/v1/accounts", &pfm).await;
    assert_eq!(res.status(), 403);
    let html = explained(&app, &mut v, "status=403&operation=GET%20/personal/v1/accounts").await;
    assert!(
        html.contains("client_suspended") && html.contains("audit finding 42"),
        "{html}"
    );

    // 6. A fault rule fired: the entry links to the rule.
    let (status, rule) = app
        .admin_post(
            "/sandbox/v1/faults",
            json!({"id": "r1", "match": {"operation": "GET /personal/v1/accounts/balances"}, "when": {"times": 1}, "effect": {"status": 503, "code": "service_unavailable", "detail": "rehearsed outage"}}),
        )
        .await;
    assert_eq!(status, 201, "{rule}");
    let demo_pay = app.grant("suzuki", "demo-pay", &["openid", "accounts:read"]).await;
    let res = app
        .get(
            "/personal/v1/accounts/balances",
            demo_pay["tokens"]["access_token"].as_str().unwrap(),
        )
        .await;
    assert_eq!(res.status(), 503);
    let html = explained(&app, &mut v, "status=503").await;
    assert!(
        html.contains("/portal/rehearse#fault-r1") && html.contains("rehearsed outage"),
        "{html}"
    );

    // The list shows the reasons, and filters by status.
    let (status, html, _) = v.get("/portal/log?status=403").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("client_suspended") && html.contains("insufficient_scope"),
        "{html}"
    );
    assert!(!html.contains("token_expired"), "filtered by status");
    let (status, html, _) = v.get("/portal/log?status=abc").await;
    assert_eq!(status, 400, "{html}");
    // The API shows the same reason.
    let (_, page) = app.admin_get("/sandbox/v1/access-logs?status=401&limit=1").await;
    assert_eq!(page["entries"][0]["reason"], "token_expired", "{page}");
}

#[tokio::test]
async fn rehearse_adds_every_template_removes_rules_and_stops_and_resumes_a_client() {
    let app = TestApp::spawn().await;
    let mut v = Visitor::new(&app);
    v.sign_in("/portal", &app.admin_key).await;
    let (_, html, _) = v.get("/portal/rehearse").await;
    let token = csrf_of(&html);
    let templates: Vec<String> = html
        .split("name=\"rule\" value=\"")
        .skip(1)
        .map(|rest| {
            rest.split('"')
                .next()
                .unwrap()
                .replace("&quot;", "\"")
                .replace("&amp;", "&")
        })
        .collect();
    assert_eq!(templates.len(), 4, "{html}");
    for t in &templates {
        let (status, html, _) = v
            .post("/portal/rehearse/faults", &[("rule", t), ("csrf", &token)])
            .await;
        assert_eq!(status, 303, "template {t} refused: {html}");
    }
    let (_, list) = app.admin_get("/sandbox/v1/faults").await;
    assert_eq!(list["rules"].as_array().unwrap().len(), 4, "{list}");
    let (status, html, _) = v
        .post(
            "/portal/rehearse/faults",
            &[("rule", "{\"when\": 3}"), ("csrf", &token)],
        )
        .await;
    assert_eq!(status, 422, "{html}");
    let first = list["rules"][0]["id"].as_str().unwrap().to_owned();
    let (status, _, _) = v
        .post("/portal/rehearse/faults/delete", &[("id", &first), ("csrf", &token)])
        .await;
    assert_eq!(status, 303);
    let (_, list) = app.admin_get("/sandbox/v1/faults").await;
    assert_eq!(list["rules"].as_array().unwrap().len(), 3);

    let access = app.grant("tanaka", "demo-pfm", &["openid", "accounts:read"]).await;
    let access = access["tokens"]["access_token"].as_str().unwrap().to_owned();
    let stop = [
        ("action", "stop"),
        ("target", "client"),
        ("id", "demo-pfm"),
        ("scope", "all"),
        ("reason", ""),
        ("csrf", &token),
    ];
    let (status, _, _) = v.post("/portal/rehearse/stops", &stop).await;
    assert_eq!(status, 422, "a stop needs a reason");
    let stop = [
        ("action", "stop"),
        ("target", "client"),
        ("id", "demo-pfm"),
        ("scope", "all"),
        ("reason", "portal drill"),
        ("csrf", &token),
    ];
    let (status, _, _) = v.post("/portal/rehearse/stops", &stop).await;
    assert_eq!(status, 303);
    assert_eq!(app.get("/personal/v1/accounts", &access).await.status(), 403);
    let (_, html, _) = v.get("/portal/rehearse").await;
    assert!(html.contains("portal drill"));
    let resume = [
        ("action", "resume"),
        ("target", "client"),
        ("id", "demo-pfm"),
        ("csrf", &token),
    ];
    let (status, _, _) = v.post("/portal/rehearse/stops", &resume).await;
    assert_eq!(status, 303);
    assert_eq!(app.get("/personal/v1/accounts", &access).await.status(), 200);
}

#[tokio::test]
async fn sign_up_is_off_by_default_and_when_on_needs_the_invite_code_and_counts_per_source() {
    let app = TestApp::spawn().await;
    let mut v = Visitor::new(&app);
    let (status, _, _) = v.get("/portal/sign-up").await;
    assert_eq!(status, 404, "off unless --portal-signup");

    let app = TestApp::spawn_configured(|c| {
        c.portal.signup = true;
        c.portal.invite_code = Some("hackathon-2026".into());
        c.portal.signups_per_source = 1;
    })
    .await;
    let mut v = Visitor::new(&app);
    let (status, html, _) = v.get("/portal/sign-up").await;
    assert_eq!(status, 200, "{html}");
    let token = hidden_field(&html, "csrf").unwrap();
    let (status, html, _) = v
        .post(
            "/portal/sign-up",
            &[
                ("scenario", "default"),
                ("yaml", ""),
                ("invite", "wrong"),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(status, 403);
    assert!(html.contains("invite code"), "{html}");
    let token = hidden_field(&html, "csrf").unwrap();
    let (status, html, _) = v
        .post(
            "/portal/sign-up",
            &[
                ("scenario", "default"),
                ("yaml", "name: [broken"),
                ("invite", "hackathon-2026"),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(status, 422, "bad YAML says what is wrong: {html}");
    let token = hidden_field(&html, "csrf").unwrap();
    let (status, html, h) = v
        .post(
            "/portal/sign-up",
            &[
                ("scenario", "default"),
                ("yaml", ""),
                ("invite", "hackathon-2026"),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(status, 201, "{html}");
    let id = html
        .split("id=\"new-id\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    let key = html
        .split("id=\"new-admin-key\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    assert!(
        h.get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .contains(&format!("Path=/s/{id}/portal"))
    );
    // Landed signed in to its portal; the key works for the API too.
    let (status, html, _) = v.get(&format!("/s/{id}/portal")).await;
    assert_eq!(status, 200, "{html}");
    let res = app
        .http
        .get(app.url(&format!("/s/{id}/sandbox/v1/clock")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // One per source today.
    let (_, html, _) = v.get("/portal/sign-up").await;
    let token = hidden_field(&html, "csrf").unwrap();
    let (status, html, _) = v
        .post(
            "/portal/sign-up",
            &[
                ("scenario", "default"),
                ("yaml", ""),
                ("invite", "hackathon-2026"),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(status, 429, "{html}");
    let list: serde_json::Value = app
        .http
        .get(app.url("/operator/v1/sandboxes"))
        .bearer_auth(&app.operator_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["sandboxes"].as_array().map(|a| a.len()), Some(2), "{list}");
}

#[tokio::test]
async fn webhooks_and_bank_data_pages_drive_the_real_outbox_and_ledger() {
    let app = TestApp::spawn().await;
    let mut v = Visitor::new(&app);
    v.sign_in("/portal", &app.admin_key).await;
    let (_, html, _) = v.get("/portal/webhooks").await;
    let token = csrf_of(&html);
    let (status, html, _) = v
        .post(
            "/portal/webhooks/endpoints",
            &[
                ("client_id", "demo-pfm"),
                ("url", "not a url"),
                ("event_types", ""),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(status, 422, "{html}");
    let (status, _, _) = v
        .post(
            "/portal/webhooks/endpoints",
            &[
                ("client_id", "demo-pfm"),
                ("url", "http://127.0.0.1:9/hook"),
                ("event_types", ""),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let (_, eps) = app.admin_get("/sandbox/v1/webhooks/endpoints").await;
    let ep = eps["endpoints"][0]["id"].as_str().unwrap().to_owned();
    let (status, _, h) = v
        .post("/portal/webhooks/test", &[("endpoint_id", &ep), ("csrf", &token)])
        .await;
    assert_eq!(status, 303);
    let message = location_of(&h);
    assert!(message.starts_with("/portal/webhooks/messages/msg_"), "{message}");
    let (status, html, _) = v.get(&message).await;
    assert_eq!(status, 200);
    assert!(html.contains(&ep), "{html}");
    let (status, _, _) = v
        .post(
            &format!("{message}/redeliver"),
            &[("endpoint_id", &ep), ("csrf", &token)],
        )
        .await;
    assert_eq!(status, 303);
    let (status, html, _) = v
        .post(
            "/portal/webhooks/faults",
            &[("endpoint_id", &ep), ("faults", "{not json"), ("csrf", &token)],
        )
        .await;
    assert_eq!(status, 422, "{html}");
    let (status, _, _) = v.get("/portal/webhooks?undelivered=1").await;
    assert_eq!(status, 200);

    // Bank data: search by kanji name, by kana, by number; one account's page.
    let (_, html, _) = v.get("/portal/data?q=%E7%94%B0%E4%B8%AD").await;
    assert!(html.contains("00111234567"), "田中 finds tanaka's account: {html}");
    let (_, html, _) = v.get("/portal/data?q=%E3%82%BF%E3%83%8A%E3%82%AB").await;
    assert!(html.contains("00111234567"), "タナカ finds it too");
    let (status, html, _) = v.get("/portal/data/accounts/00111234567").await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"balance\""), "{html}");
    let (status, _, _) = v.get("/portal/data/accounts/nope").await;
    assert_eq!(status, 404);
    let (_, html, _) = v.get("/portal/data").await;
    assert!(
        html.contains("id=\"discrepancy\" class=\"ok\">0<"),
        "the ledger balances: {html}"
    );
}

#[tokio::test]
async fn clients_are_created_edited_and_rotated_in_the_portal_and_the_sandboxs_own_pages_are_redirect_uris() {
    let app = TestApp::spawn().await;
    let mut v = Visitor::new(&app);
    v.sign_in("/portal", &app.admin_key).await;
    let (_, html, _) = v.get("/portal/clients").await;
    let token = csrf_of(&html);
    let (status, html, _) = v
        .post(
            "/portal/clients",
            &[
                ("client_id", "bad id!"),
                ("company", "X"),
                ("service", "Y"),
                ("redirect_uris", "ftp://x"),
                ("scope", "openid"),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(status, 422, "{html}");
    assert!(
        html.contains("clientId") && html.contains("redirectUris"),
        "says what to fix: {html}"
    );
    let (status, _, h) = v
        .post(
            "/portal/clients",
            &[
                ("client_id", "hack-app"),
                ("company", "株式会社ハック"),
                ("service", "Hack家計簿"),
                ("redirect_uris", "http://127.0.0.1:5000/cb\nhttp://localhost:5000/cb"),
                ("scope", "openid"),
                ("scope", "accounts:read"),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(status, 303);
    assert_eq!(location_of(&h), "/portal/clients/hack-app");
    let (_, html, _) = v.get("/portal/clients/hack-app").await;
    let secret = html
        .split("id=\"client-secret\" hidden>")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    // The secret shown works at the token endpoint (introspection authenticates the client).
    let res = app
        .http
        .post(app.url("/oauth/introspect"))
        .basic_auth("hack-app", Some(&secret))
        .form(&[("token", "nothing")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the revealed secret authenticates");
    // Edit: the scopes change as the form says.
    let (status, _, _) = v
        .post(
            "/portal/clients/hack-app",
            &[
                ("company", "株式会社ハック"),
                ("service", "Hack家計簿"),
                ("redirect_uris", "http://127.0.0.1:5000/cb"),
                ("scope", "openid"),
                ("scope", "transactions:read"),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let (_, client) = app.admin_get("/sandbox/v1/clients/hack-app").await;
    assert_eq!(client["scopes"], json!(["openid", "transactions:read"]), "{client}");
    // Rotate: a new secret is revealed, the old one still works for the grace period.
    let (status, _, _) = v.post("/portal/clients/hack-app/rotate", &[("csrf", &token)]).await;
    assert_eq!(status, 303);
    let (_, html, _) = v.get("/portal/clients/hack-app").await;
    assert!(html.contains("still works until"), "{html}");
    let rotated = html
        .split("id=\"client-secret\" hidden>")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    assert_ne!(rotated, secret);

    // In a created sandbox, its Swagger UI and portal callback are redirect URIs of every client.
    let (_, created) = app.create_sandbox(json!({"scenario": "default"})).await;
    let id = created["id"].as_str().unwrap();
    let (_, challenge) = pkce_pair();
    for uri in [
        format!("{}/s/{id}/swagger-ui/oauth2-redirect.html", app.base),
        format!("{}/s/{id}/portal/callback", app.base),
    ] {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("response_type", "code")
            .append_pair("client_id", "demo-pfm")
            .append_pair("redirect_uri", &uri)
            .append_pair("scope", "openid accounts:read")
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        let res = app
            .http
            .get(app.url(&format!("/s/{id}/oauth/authorize?{}", q.finish())))
            .send()
            .await
            .unwrap();
        let status = res.status();
        let html = res.text().await.unwrap();
        assert_eq!(status, 200, "{uri} is accepted: {html}");
        assert!(html.contains("username"), "the login page: {html}");
    }
    // …but not another sandbox's.
    let res = app
        .http
        .get(authorize_url_with(
            &app,
            &[
                ("response_type", "code"),
                ("client_id", "demo-pfm"),
                ("redirect_uri", &format!("{}/s/{id}/portal/callback", app.base)),
                ("scope", "openid"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        400,
        "the default sandbox does not accept another sandbox's callback"
    );

    // The operator sets that sandbox's quota in its portal.
    let mut op = Visitor::new(&app);
    op.sign_in("/operator/portal", &app.operator_key).await;
    let (_, html, _) = op.get("/operator/portal").await;
    assert!(html.contains("Requests served"), "{html}");
    let token = csrf_of(&html);
    let (status, _, _) = op
        .post(
            "/operator/portal/sandboxes/quota",
            &[("id", id), ("quota", "lots"), ("csrf", &token)],
        )
        .await;
    assert_eq!(status, 400);
    let (status, _, _) = op
        .post(
            "/operator/portal/sandboxes/quota",
            &[("id", id), ("quota", "64"), ("csrf", &token)],
        )
        .await;
    assert_eq!(status, 303);
    let res: serde_json::Value = app
        .http
        .get(app.url(&format!("/operator/v1/sandboxes/{id}")))
        .bearer_auth(&app.operator_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(res["storage"]["quotaBytes"], 64 * 1024 * 1024, "{res}");
}
