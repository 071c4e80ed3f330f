//! Many sandboxes in one server, proved over HTTP: two sandboxes built from the same scenario
//! (so their ids, account numbers and apply numbers collide on purpose) share nothing — no
//! token, code, client secret, admin key, idempotency key, account, transfer, event, access-log
//! entry or clock. Then the lifecycle: create, list, reset, snapshot and restore, delete,
//! limits, restart with several sandboxes, and idle expiry on the server's clock.

use crate::common::*;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge, RedirectUrl, Scope,
    TokenResponse, TokenUrl,
};
use reqwest::Method;
use serde_json::{Value, json};

const TANAKA: &str = "00111234567";

fn to_suzuki(amount: &str) -> Value {
    json!({"transferAmount": amount, "beneficiaryBankCode": "0999", "beneficiaryBranchCode": "002",
           "accountTypeCode": "1", "accountNumber": "2345678", "beneficiaryName": "ｽｽﾞｷ ﾊﾅｺ"})
}

async fn created(app: &TestApp) -> (TestApp, Value) {
    let (status, body) = app.create_sandbox(json!({"scenario": "default"})).await;
    assert_eq!(status, 201, "create: {body}");
    (app.sandbox(&body), body)
}

async fn balance(sb: &TestApp, token: &str) -> String {
    let (status, body) = sb
        .get_json(&format!("/personal/v1/accounts/balances?accountId={TANAKA}"), token)
        .await;
    assert_eq!(status, 200, "{body}");
    body["balances"][0]["balance"].as_str().unwrap().to_owned()
}

async fn transfer(sb: &TestApp, token: &str, key: Option<&str>, amount: &str) -> (u16, Value) {
    let mut req = sb
        .http
        .post(sb.url("/personal/v1/transfer/request"))
        .bearer_auth(token)
        .json(&json!({"accountId": TANAKA, "transfers": [to_suzuki(amount)]}));
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// The `action` of the first form on a page (as a browser would post it).
fn form_action(html: &str) -> String {
    let start = html.find("action=\"").expect("a form") + "action=\"".len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

async fn events(sb: &TestApp) -> Vec<Value> {
    let (status, page) = sb.admin_get("/sandbox/v1/events?limit=1000").await;
    assert_eq!(status, 200, "{page}");
    page["events"].as_array().unwrap().clone()
}

/// tanaka's token through demo-pay (which may make transfers to anyone).
async fn pay_token(sb: &TestApp) -> String {
    sb.grant("tanaka", "demo-pay", &["accounts:read", "transfers:any"])
        .await["tokens"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn logged(sb: &TestApp, request_id: &str) -> bool {
    let (status, page) = sb.admin_get("/sandbox/v1/access-logs?limit=200").await;
    assert_eq!(status, 200, "{page}");
    page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["requestId"] == request_id)
}

#[tokio::test]
async fn two_sandboxes_from_the_same_scenario_share_nothing() {
    let app = TestApp::spawn().await;
    let (a, a_created) = created(&app).await;
    let (b, b_created) = created(&app).await;
    assert_ne!(a_created["id"], b_created["id"]);
    assert!(a.base.starts_with(&format!("{}/s/sb-", app.base)), "{}", a.base);
    assert_ne!(a.admin_key, b.admin_key);
    assert_ne!(a.demo_secret, b.demo_secret, "each sandbox has its own client secrets");
    assert_ne!(a.demo_secret, "demo-secret");

    // Tokens: A's token works in A only; the same account id exists in both.
    let ta = pay_token(&a).await;
    let tb = pay_token(&b).await;
    let opening = balance(&a, &ta).await;
    assert_eq!(balance(&b, &tb).await, opening);
    for (sb, foreign) in [(&b, &ta), (&a, &tb), (&app, &ta)] {
        let (status, body) = sb
            .get_json(&format!("/personal/v1/accounts/balances?accountId={TANAKA}"), foreign)
            .await;
        assert_eq!(status, 401, "a token of another sandbox is unknown: {body}");
        assert!(body.get("balances").is_none());
    }

    // Admin keys: each sandbox's control plane takes its own key only; the default's key
    // opens no created sandbox.
    for (sb, key) in [
        (&a, &b.admin_key),
        (&b, &a.admin_key),
        (&a, &app.admin_key),
        (&app, &a.admin_key),
    ] {
        let (status, body) = sb.get_json("/sandbox/v1/clock", key).await;
        assert_eq!(status, 401, "{body}");
    }

    // Client secrets: A's secret is refused by B's token endpoint.
    let (status, body) = b
        .token_request("demo-pfm", &a.demo_secret, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(status, 401, "{body}");

    // A transfer in A moves A's money only; its applyNo is unknown in B and, made there later,
    // names B's own transfer.
    let (status, ta_transfer) = transfer(&a, &ta, Some("same-key"), "1000").await;
    assert_eq!(status, 201, "{ta_transfer}");
    let apply_no = ta_transfer["applyNo"].as_str().unwrap().to_owned();
    assert_ne!(balance(&a, &ta).await, opening);
    assert_eq!(balance(&b, &tb).await, opening, "B's account did not move");
    let (status, _) = b
        .get_json(&format!("/personal/v1/transfer/request-result?applyNo={apply_no}"), &tb)
        .await;
    assert_eq!(status, 404, "A's applyNo is unknown in B");
    // Idempotency keys: the same key with another body in B is a new request there, not a
    // conflict with A's.
    let (status, tb_transfer) = transfer(&b, &tb, Some("same-key"), "2000").await;
    assert_eq!(status, 201, "{tb_transfer}");
    assert!(tb_transfer.get("applyNo").is_some());
    let (_, result) = b
        .get_json(
            &format!(
                "/personal/v1/transfer/request-result?applyNo={}",
                tb_transfer["applyNo"].as_str().unwrap()
            ),
            &tb,
        )
        .await;
    assert_eq!(result["totalAmount"], "2000", "B's transfer is B's own: {result}");

    // Events: each sandbox's outbox holds its own transfer only.
    let amounts = |evs: &[Value]| -> Vec<String> {
        evs.iter()
            .filter(|e| e["type"] == "transfer.completed")
            .map(|e| e["data"]["totalAmount"].to_string())
            .collect()
    };
    assert_eq!(amounts(&events(&a).await), vec!["\"1000\"".to_owned()]);
    assert_eq!(amounts(&events(&b).await), vec!["\"2000\"".to_owned()]);
    assert!(
        amounts(&events(&app).await).is_empty(),
        "the default sandbox saw nothing"
    );

    // Access logs: a request id sent to A appears in A's log only.
    let marked = a
        .http
        .get(a.url(&format!("/personal/v1/accounts/balances?accountId={TANAKA}")))
        .bearer_auth(&ta)
        .header("x-request-id", "isolation-probe-1")
        .send()
        .await
        .unwrap();
    assert_eq!(marked.status(), 200);
    assert!(logged(&a, "isolation-probe-1").await, "A logs its own call");
    assert!(
        !logged(&b, "isolation-probe-1").await && !logged(&app, "isolation-probe-1").await,
        "no other sandbox logs it"
    );

    // Clocks: advancing A moves neither B nor the default sandbox; B's scheduled transfer
    // does not run on A's clock.
    let (_, clock_b) = b.admin_get("/sandbox/v1/clock").await;
    let tomorrow = {
        let d: jiff::civil::Date = clock_b["date"].as_str().unwrap().parse().unwrap();
        d.checked_add(jiff::Span::new().days(3)).unwrap().to_string()
    };
    let res = b
        .http
        .post(b.url("/personal/v1/transfer/request"))
        .bearer_auth(&tb)
        .json(&json!({"accountId": TANAKA, "transferDesignatedDate": tomorrow, "transfers": [to_suzuki("3000")]}))
        .send()
        .await
        .unwrap();
    let scheduled: Value = res.json().await.unwrap();
    let scheduled_no = scheduled["applyNo"].as_str().expect("scheduled applyNo").to_owned();
    a.advance("P10D").await;
    let (_, clock_a2) = a.admin_get("/sandbox/v1/clock").await;
    let (_, clock_b2) = b.admin_get("/sandbox/v1/clock").await;
    let (_, clock_d2) = app.admin_get("/sandbox/v1/clock").await;
    assert!(
        clock_a2["offsetSeconds"].as_i64().unwrap() - clock_b2["offsetSeconds"].as_i64().unwrap() >= 10 * 86_400 - 5
    );
    assert!((clock_b2["offsetSeconds"].as_i64().unwrap() - clock_b["offsetSeconds"].as_i64().unwrap()).abs() <= 1);
    assert!((clock_d2["offsetSeconds"].as_i64().unwrap() - clock_b["offsetSeconds"].as_i64().unwrap()).abs() <= 1);
    let (_, still) = b
        .get_json(
            &format!("/personal/v1/transfer/request-result?applyNo={scheduled_no}"),
            &tb,
        )
        .await;
    assert_eq!(
        still["transferStatus"], "11",
        "B's scheduled transfer waits for B's clock: {still}"
    );

    // A reset of A leaves B as it was.
    let (status, _) = a.admin_post("/sandbox/v1/reset", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(amounts(&events(&b).await), vec!["\"2000\"".to_owned()]);
    assert_ne!(balance(&b, &tb).await, opening);
}

#[tokio::test]
async fn an_oidc_client_works_against_a_prefixed_sandbox_from_its_discovery_document() {
    let app = TestApp::spawn().await;
    let (sb, _) = created(&app).await;
    let http = http_client();
    let discovery: Value = http
        .get(sb.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["issuer"],
        sb.base.as_str(),
        "the issuer is the sandbox's base URL"
    );
    let endpoint = |name: &str| discovery[name].as_str().unwrap().to_owned();
    for name in [
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "userinfo_endpoint",
    ] {
        assert!(endpoint(name).starts_with(&sb.base), "{name} is under the sandbox");
    }
    let client = BasicClient::new(ClientId::new("demo-pfm".into()))
        .set_client_secret(ClientSecret::new(sb.demo_secret.clone()))
        .set_auth_uri(AuthUrl::new(endpoint("authorization_endpoint")).unwrap())
        .set_token_uri(TokenUrl::new(endpoint("token_endpoint")).unwrap())
        .set_redirect_uri(RedirectUrl::new("http://127.0.0.1:3000/callback".into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, _) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("openid".into()))
        .add_scope(Scope::new("accounts:read".into()))
        .set_pkce_challenge(challenge)
        .url();

    // The pages post back under the prefix, as a browser following the forms would.
    let html = http.get(auth_url.as_str()).send().await.unwrap().text().await.unwrap();
    let action = form_action(&html);
    assert!(
        action.starts_with(&format!("/s/{}", sb.base.rsplit('/').next().unwrap())),
        "{action}"
    );
    let request_id = hidden_field(&html, "request_id").unwrap();
    let consent = http
        .post(format!("{}{action}", app.base))
        .form(&[
            ("request_id", request_id.as_str()),
            ("username", "tanaka"),
            ("password", "tanaka-pass"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let action = form_action(&consent);
    let res = http
        .post(format!("{}{action}", app.base))
        .form(&[
            ("request_id", request_id.as_str()),
            (
                "consent_token",
                hidden_field(&consent, "consent_token").unwrap().as_str(),
            ),
            ("decision", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let location = location(&res);
    assert_eq!(query_param(&location, "iss").as_deref(), Some(sb.base.as_str()));
    let code = query_param(&location, "code").unwrap();

    // The code is unknown to the default sandbox and to another sandbox.
    let (other, _) = created(&app).await;
    for elsewhere in [&app, &other] {
        let (status, body) = elsewhere
            .token_request(
                "demo-pfm",
                &elsewhere.demo_secret,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", "http://127.0.0.1:3000/callback"),
                    ("code_verifier", "0123456789abcdef0123456789abcdef0123456789abcdef"),
                ],
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"], "invalid_grant");
    }

    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("token exchange against the prefixed token endpoint");
    let access = tokens.access_token().secret().to_owned();
    assert_eq!(balance(&sb, &access).await, "1200000");
    // The ID token's issuer is the sandbox and its key is in the sandbox's JWKS only.
    let (_, raw) = sb.get_json("/oauth/userinfo", &access).await;
    assert_eq!(raw["sub"], "u-tanaka");
    let jwks_a: Value = http
        .get(endpoint("jwks_uri"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwks_default: Value = http
        .get(app.url("/oauth/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(
        jwks_a["keys"][0]["kid"], jwks_default["keys"][0]["kid"],
        "own signing key"
    );
    // Its Swagger UI and description point at the sandbox.
    let spec: Value = http
        .get(sb.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(spec["servers"][0]["url"], sb.base.as_str());
    assert!(spec["paths"].get("/operator/v1/sandboxes").is_none());
    let ui = http.get(sb.url("/swagger-ui/")).send().await.unwrap();
    assert_eq!(ui.status(), 200);
}

#[tokio::test]
async fn lifecycle_create_list_reset_snapshot_restore_delete() {
    let app = TestApp::spawn().await;
    // Bad input: a scenario with an error names its position, and nothing is created.
    let bad = sandbank::scenario::DEFAULT_SCENARIO.replace("seed: 20261121", "seed: twenty");
    let (status, body) = app.create_sandbox(json!({"scenarioYaml": bad})).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("<request body>:"), "{body}");
    let (status, body) = app.create_sandbox(json!({"scenario": "nope"})).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = app.create_sandbox(json!({"scenario": "large"})).await;
    assert_eq!(status, 422, "too many customers: {body}");
    assert_eq!(body["code"], "scenario_too_large");
    let res = app
        .http
        .post(app.url("/operator/v1/sandboxes"))
        .json(&json!({"scenario": "default"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "no operator key");
    let res = app
        .http
        .post(app.url("/operator/v1/sandboxes"))
        .bearer_auth(&app.admin_key)
        .json(&json!({"scenario": "default"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "an admin key is not the operator key");
    let (_, list) = app.operator(Method::GET, "/operator/v1/sandboxes", None).await;
    assert_eq!(
        list["sandboxes"].as_array().unwrap().len(),
        1,
        "only the default: {list}"
    );

    // Create from YAML (as the body itself).
    let res = app
        .http
        .post(app.url("/operator/v1/sandboxes"))
        .bearer_auth(&app.operator_key)
        .header("content-type", "application/yaml")
        .body(sandbank::scenario::DEFAULT_SCENARIO)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    let sb = app.sandbox(&body);
    let id = body["id"].as_str().unwrap().to_owned();
    assert!(
        body["users"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["username"] == "tanaka")
    );
    let (_, list) = app
        .operator(Method::GET, "/operator/v1/sandboxes?size=true", None)
        .await;
    let listed = list["sandboxes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(listed["scenario"], "default");
    assert_eq!(listed["scenarioSource"], "inline");
    assert_eq!(listed["customers"], 203);
    assert!(listed["storedBytes"].as_u64().unwrap() > 10_000, "{listed}");
    assert!(listed["expiresAt"].is_string());

    // Reset: the state goes back to the scenario; old tokens die; keys and ids stay.
    let token = pay_token(&sb).await;
    let (status, _) = transfer(&sb, &token, None, "5000").await;
    assert_eq!(status, 201);
    assert_ne!(balance(&sb, &token).await, "1200000");
    sb.advance("P3D").await;
    let (status, reset) = app
        .operator(Method::POST, &format!("/operator/v1/sandboxes/{id}/reset"), None)
        .await;
    assert_eq!(status, 200, "{reset}");
    let (status, _) = sb
        .get_json(&format!("/personal/v1/accounts/balances?accountId={TANAKA}"), &token)
        .await;
    assert_eq!(status, 401, "tokens from before the reset are dead");
    let token = pay_token(&sb).await;
    assert_eq!(balance(&sb, &token).await, "1200000");
    assert!(events(&sb).await.iter().all(|e| e["type"] != "transfer.completed"));
    let (_, clock) = sb.admin_get("/sandbox/v1/clock").await;
    assert!(
        clock["now"].as_str().unwrap().starts_with("2026-11-21T09:0"),
        "clock back at the start: {clock}"
    );

    // Snapshot, a transfer after it, restore: the transfer is gone and the ledger balances.
    let (status, snap) = sb
        .admin_post("/sandbox/v1/snapshots", json!({"name": "before-pay"}))
        .await;
    assert_eq!(status, 201, "{snap}");
    let (status, bad) = sb
        .admin_post("/sandbox/v1/snapshots", json!({"name": "no spaces"}))
        .await;
    assert_eq!(status, 400, "{bad}");
    let (status, after) = transfer(&sb, &token, None, "7000").await;
    assert_eq!(status, 201);
    sb.advance("P1D").await;
    let (status, restored) = sb
        .admin_post("/sandbox/v1/snapshots/before-pay/restore", json!({}))
        .await;
    assert_eq!(status, 200, "{restored}");
    assert_eq!(
        balance(&sb, &token).await,
        "1200000",
        "the token from before the snapshot works again"
    );
    let (status, _) = sb
        .get_json(
            &format!(
                "/personal/v1/transfer/request-result?applyNo={}",
                after["applyNo"].as_str().unwrap()
            ),
            &token,
        )
        .await;
    assert_eq!(status, 404, "the transfer made after the snapshot is gone");
    let (_, ledger) = sb.admin_get("/sandbox/v1/ledger").await;
    assert_eq!(ledger["discrepancy"], "0", "{ledger}");
    let (_, clock) = sb.admin_get("/sandbox/v1/clock").await;
    assert!(
        clock["now"].as_str().unwrap().starts_with("2026-11-21T09:0"),
        "clock restored: {clock}"
    );
    let (status, _) = sb.admin_post("/sandbox/v1/snapshots/nope/restore", json!({})).await;
    assert_eq!(status, 404);

    // A sandbox's admin cannot reach another sandbox's lifecycle, nor the operator API.
    let (other, _) = created(&app).await;
    let (status, _) = other.get_json("/sandbox/v1/snapshots", &sb.admin_key).await;
    assert_eq!(status, 401);
    let res = app
        .http
        .get(app.url("/operator/v1/sandboxes"))
        .bearer_auth(&sb.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = app
        .http
        .get(format!("{}/operator/v1/sandboxes", sb.base))
        .bearer_auth(&app.operator_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "the operator API is not served under a sandbox");

    // Delete: its URLs answer 404, the default sandbox cannot be deleted.
    let (status, _) = app
        .operator(Method::DELETE, &format!("/operator/v1/sandboxes/{id}"), None)
        .await;
    assert_eq!(status, 204);
    let (status, body) = sb
        .get_json(&format!("/personal/v1/accounts/balances?accountId={TANAKA}"), &token)
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "sandbox_not_found");
    let (status, _) = app
        .operator(Method::DELETE, "/operator/v1/sandboxes/default", None)
        .await;
    assert_eq!(status, 409);
    let (status, _) = app
        .operator(Method::DELETE, &format!("/operator/v1/sandboxes/{id}"), None)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn limits_and_idle_expiry_on_the_servers_clock() {
    let app = TestApp::spawn_configured(|c| {
        c.limits.max_sandboxes = 3;
        c.limits.idle_expiry = Some(jiff::SignedDuration::from_hours(7 * 24));
    })
    .await;
    let (first, _) = created(&app).await;
    let (second, second_body) = created(&app).await;
    let (status, body) = app.create_sandbox(json!({"scenario": "default"})).await;
    assert_eq!(status, 409, "the fourth is over the limit: {body}");
    assert_eq!(body["code"], "sandbox_limit_reached");

    // Six days later the first is used; two more days later only the second is idle long
    // enough to go.
    app.bank().wall.advance(jiff::SignedDuration::from_hours(6 * 24));
    let t = first.access_token("tanaka", &["accounts:read"]).await;
    app.bank().wall.advance(jiff::SignedDuration::from_hours(2 * 24));
    let expired = sandbank::services::lifecycle::expire_idle(app.bank()).await.unwrap();
    assert_eq!(expired, vec![second_body["id"].as_str().unwrap().to_owned()]);
    let (status, _) = second.admin_get("/sandbox/v1/clock").await;
    assert_eq!(status, 404);
    assert_eq!(balance(&first, &t).await, "1200000");
    let (_, list) = app.operator(Method::GET, "/operator/v1/sandboxes", None).await;
    assert_eq!(list["sandboxes"].as_array().unwrap().len(), 2);
    let (status, _) = app.create_sandbox(json!({"scenario": "default"})).await;
    assert_eq!(status, 201, "room again after the expiry");
}

#[tokio::test]
async fn a_restarted_server_serves_every_sandbox_as_it_was() {
    let mut app = TestApp::spawn().await;
    let mut views = Vec::new();
    for i in 0..3 {
        let (sb, body) = created(&app).await;
        let token = pay_token(&sb).await;
        let (status, _) = transfer(&sb, &token, None, &format!("{}", 1000 * (i + 1))).await;
        assert_eq!(status, 201);
        if i == 1 {
            let (status, _) = sb.admin_post("/sandbox/v1/snapshots", json!({"name": "s1"})).await;
            assert_eq!(status, 201);
        }
        let now = balance(&sb, &token).await;
        views.push((body, token, now));
    }
    let dir = app.take_dir();
    let data_dir = app.data_dir.clone();
    app.stop().await;
    let again = TestApp::spawn_on(sandbank::scenario::DEFAULT_SCENARIO, data_dir).await;
    let (_, list) = again.operator(Method::GET, "/operator/v1/sandboxes", None).await;
    assert_eq!(list["sandboxes"].as_array().unwrap().len(), 4, "{list}");
    for (i, (body, token, before)) in views.iter().enumerate() {
        let mut body = body.clone();
        body["baseUrl"] = format!("{}/s/{}", again.base, body["id"].as_str().unwrap()).into();
        let sb = again.sandbox(&body);
        assert_eq!(
            &balance(&sb, token).await,
            before,
            "sandbox {i} kept its ledger and tokens"
        );
        let (status, _) = sb.admin_get("/sandbox/v1/clock").await;
        assert_eq!(status, 200, "sandbox {i} kept its admin key");
    }
    let listed = &list["sandboxes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == views[1].0["id"])
        .unwrap()
        .clone();
    assert_eq!(listed["snapshots"][0]["name"], "s1");
    assert!(
        listed["requests"].as_u64().unwrap() >= 3,
        "request counts survive: {listed}"
    );
    drop(dir);
}

// --- lifecycle integrity: each finding of the outside test as its own test ---

/// Generated individuals' accounts of a sandbox, with a transfer token for each of the first
/// `n` remitters (credited so they never run dry).
async fn remitters(sb: &TestApp, n: usize) -> (Vec<Value>, Vec<(Value, String)>) {
    let (status, page) = sb.admin_get("/sandbox/v1/accounts?limit=1000").await;
    assert_eq!(status, 200, "{page}");
    let accounts = individual_accounts(&page);
    let mut out = Vec::new();
    for a in accounts.iter().take(n) {
        out.push((a.clone(), remitter_token(sb, a).await));
    }
    (accounts, out)
}

async fn remitter_token(sb: &TestApp, account: &Value) -> String {
    let g = sb
        .grant(account["customerId"].as_str().unwrap(), "demo-pay", &["transfers:any"])
        .await;
    let (status, credited) = sb
        .admin_post(
            &format!("/sandbox/v1/accounts/{}/credit", account["accountId"].as_str().unwrap()),
            json!({"amount": "100000000", "remitterName": "ﾃｽﾄ"}),
        )
        .await;
    assert_eq!(status, 201, "credit: {credited}");
    g["tokens"]["access_token"].as_str().unwrap().to_owned()
}

fn transfer_body(from: &Value, to: &Value, amount: u64) -> Value {
    json!({"accountId": from["accountId"], "transfers": [{
        "transferAmount": amount.to_string(), "beneficiaryBankCode": "0999",
        "beneficiaryBranchCode": to["branchCode"], "accountTypeCode": to["accountTypeCode"],
        "accountNumber": to["accountNumber"], "beneficiaryName": to["accountNameKana"]}]})
}

/// Sends transfers from `from` until `stop`, answering every status seen with its code. A
/// token that died with a reset or restore is replaced through the control plane.
fn transfer_loop(
    sb: &TestApp,
    from: Value,
    mut token: String,
    to: Vec<Value>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<Vec<(u16, String)>> {
    let sb = sb.sandbox_view();
    tokio::spawn(async move {
        let mut seen = Vec::new();
        let mut n = 0u64;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            n += 1;
            let body = transfer_body(&from, &to[(n as usize) % to.len()], 1 + n % 300);
            let res = sb
                .http
                .post(sb.url("/personal/v1/transfer/request"))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let v: Value = res.json().await.unwrap_or(Value::Null);
            let code = v["code"].as_str().unwrap_or_default().to_owned();
            if status == 401 {
                // The world was replaced: the grant is gone with it.
                let (s, g) = sb
                    .admin_post(
                        "/sandbox/v1/grants",
                        json!({"username": from["customerId"], "clientId": "demo-pay", "scopes": ["transfers:any"]}),
                    )
                    .await;
                if s == 201 {
                    token = g["tokens"]["access_token"].as_str().unwrap().to_owned();
                }
            }
            seen.push((status, code));
        }
        seen
    })
}

fn statuses_are_sane(seen: &[(u16, String)], what: &str) {
    for (status, code) in seen {
        assert!(
            *status == 201
                || (*status == 401 && code == "invalid_token")
                || (*status == 400 && code == "insufficient_funds")
                || (*status == 503 && code == "sandbox_busy"),
            "{what}: a transfer answered {status} {code}"
        );
    }
    assert!(
        seen.iter().any(|(s, _)| *s == 201),
        "{what}: some transfers went through"
    );
}

/// Finding 1: a snapshot deleted while a restore of it starts never breaks the sandbox: the
/// restore either restores (it was first) or answers 404; the sandbox keeps answering, and
/// the server starts again with every sandbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_snapshot_while_it_is_restored_breaks_nothing() {
    let mut app = TestApp::spawn().await;
    let (sb, _) = created(&app).await;
    for round in 0..16u64 {
        let (status, body) = sb.admin_post("/sandbox/v1/snapshots", json!({"name": "x"})).await;
        assert_eq!(status, 201, "{body}");
        // Another sandbox's reset keeps the server busy, so the deletion and the restore
        // both wait and then run one right after the other (as a busy public server does).
        let other = app.admin_post("/sandbox/v1/reset", json!({}));
        let delete = async {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            sb.http
                .delete(sb.url("/sandbox/v1/snapshots/x"))
                .bearer_auth(&sb.admin_key)
                .send()
                .await
        };
        let restore = async {
            tokio::time::sleep(std::time::Duration::from_micros(10_000 + round * 700)).await;
            sb.admin_post("/sandbox/v1/snapshots/x/restore", json!({})).await
        };
        let ((reset, _), deleted, (restored, body)) = tokio::join!(other, delete, restore);
        assert_eq!(reset, 200);
        assert_eq!(deleted.unwrap().status(), 204);
        assert!(
            restored == 200 || (restored == 404 && body["code"] == "snapshot_not_found"),
            "round {round}: restore answered {restored} {body}"
        );
        let (status, clock) = sb.admin_get("/sandbox/v1/clock").await;
        assert_eq!(status, 200, "round {round}: the sandbox still serves: {clock}");
    }
    let data = app.data_dir.clone();
    let dir = app.take_dir();
    let (path, admin_key) = (sb.base.trim_start_matches(&app.base).to_owned(), sb.admin_key.clone());
    // Every handle on the server goes, so the data dir can be opened again.
    drop(sb);
    app.stop().await;
    let again = TestApp::spawn_on(sandbank::scenario::DEFAULT_SCENARIO, data).await;
    let mut sb = again.sandbox_view();
    sb.base = format!("{}{path}", again.base);
    sb.admin_key = admin_key;
    let (status, clock) = sb.admin_get("/sandbox/v1/clock").await;
    assert_eq!(
        status, 200,
        "after a restart the sandbox serves with its admin key: {clock}"
    );
    drop(dir);
}

/// Finding 3: snapshots taken while four clients send transfers are states that existed at
/// one commit: each restores to a balanced ledger whose transfers are whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_taken_under_transfers_restore_to_a_balanced_ledger() {
    let app = TestApp::spawn().await;
    let (accounts, senders) = remitters(&app, 4).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let to: Vec<Value> = accounts[10..40].to_vec();
    let tasks: Vec<_> = senders
        .into_iter()
        .map(|(from, token)| transfer_loop(&app, from, token, to.clone(), stop.clone()))
        .collect();
    let mut names = Vec::new();
    for i in 0..6 {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        let name = format!("s{i}");
        let (status, body) = app.admin_post("/sandbox/v1/snapshots", json!({"name": name})).await;
        assert_eq!(status, 201, "{body}");
        names.push(name);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in tasks {
        statuses_are_sane(&t.await.unwrap(), "transfers during snapshots");
    }
    for name in names {
        let (status, body) = app
            .admin_post(&format!("/sandbox/v1/snapshots/{name}/restore"), json!({}))
            .await;
        assert_eq!(status, 200, "{body}");
        let (status, ledger) = app.admin_get("/sandbox/v1/ledger").await;
        assert_eq!(status, 200);
        assert_eq!(
            ledger["discrepancy"], "0",
            "snapshot {name} restores balanced: {ledger}"
        );
        let (_, events) = app.admin_get("/sandbox/v1/events?limit=1000").await;
        assert!(events["events"].is_array(), "{events}");
    }
}

/// Finding 4: transfers racing resets and restores of their sandbox (the default and a
/// created one) never answer 500 and never see a half-built world (404 account_not_found):
/// they go through, wait, or are told the sandbox is busy or their token died with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_racing_reset_and_restore_never_fail_inside() {
    let app = TestApp::spawn().await;
    let (sb, _) = created(&app).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for world in [&app, &sb] {
        let (accounts, senders) = remitters(world, 2).await;
        let (status, body) = world.admin_post("/sandbox/v1/snapshots", json!({"name": "base"})).await;
        assert_eq!(status, 201, "{body}");
        for (from, token) in senders {
            tasks.push(transfer_loop(
                world,
                from,
                token,
                accounts[10..20].to_vec(),
                stop.clone(),
            ));
        }
    }
    for i in 0..8 {
        for world in [&app, &sb] {
            let (status, body) = if i % 2 == 0 {
                world.admin_post("/sandbox/v1/reset", json!({})).await
            } else {
                world.admin_post("/sandbox/v1/snapshots/base/restore", json!({})).await
            };
            assert_eq!(status, 200, "lifecycle {i}: {body}");
            tokio::time::sleep(std::time::Duration::from_millis(120)).await;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in tasks {
        statuses_are_sane(&t.await.unwrap(), "transfers during resets and restores");
    }
    for world in [&app, &sb] {
        let (_, ledger) = world.admin_get("/sandbox/v1/ledger").await;
        assert_eq!(ledger["discrepancy"], "0", "{ledger}");
    }
}

/// Two lifecycle changes of one sandbox at once run one after the other: both succeed, and
/// the sandbox ends in a whole state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_lifecycle_changes_of_one_sandbox_take_turns() {
    let app = TestApp::spawn().await;
    let (sb, _) = created(&app).await;
    let (status, _) = sb.admin_post("/sandbox/v1/snapshots", json!({"name": "a"})).await;
    assert_eq!(status, 201);
    let (r1, r2, r3, r4) = tokio::join!(
        sb.admin_post("/sandbox/v1/reset", json!({})),
        sb.admin_post("/sandbox/v1/snapshots/a/restore", json!({})),
        sb.admin_post("/sandbox/v1/snapshots", json!({"name": "b"})),
        sb.admin_post("/sandbox/v1/reset", json!({})),
    );
    assert_eq!(
        (r1.0, r2.0, r3.0, r4.0),
        (200, 200, 201, 200),
        "{r1:?} {r2:?} {r3:?} {r4:?}"
    );
    let (status, snaps) = sb.admin_get("/sandbox/v1/snapshots").await;
    assert_eq!(status, 200);
    assert_eq!(snaps.as_array().unwrap().len(), 2, "{snaps}");
    let (_, ledger) = sb.admin_get("/sandbox/v1/ledger").await;
    assert_eq!(ledger["discrepancy"], "0", "{ledger}");
}

/// A sandbox whose world cannot be loaded at start is quarantined: the server starts, every
/// other sandbox serves, the operator lists it with the reason, its requests answer 503
/// `sandbox_quarantined`, a whole snapshot brings it back, and it can be deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_that_cannot_be_loaded_is_quarantined_and_the_rest_serve() {
    let mut app = TestApp::spawn().await;
    let (broken, broken_body) = created(&app).await;
    let (healthy, _) = created(&app).await;
    let (status, _) = broken
        .admin_post("/sandbox/v1/snapshots", json!({"name": "good"}))
        .await;
    assert_eq!(status, 201);
    let broken_id = broken_body["id"].as_str().unwrap().to_owned();
    let data = app.data_dir.clone();
    let dir = app.take_dir();
    let root = app.base.clone();
    let keep = |sb: &TestApp| (sb.base.trim_start_matches(&root).to_owned(), sb.admin_key.clone());
    let kept = (keep(&broken), keep(&healthy));
    drop((broken, healthy));
    // Every handle on the server goes, so the data dir can be opened again.
    app.stop().await;
    // Damage the broken sandbox's world: its ID-token signing key is no longer a key.
    {
        let mut attempts = 0;
        let storage = loop {
            match sandbank::storage::Storage::open(&data, 1 << 20) {
                Ok(s) => break s,
                Err(e) if attempts < 100 => {
                    attempts += 1;
                    let _ = e;
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await
                }
                Err(e) => panic!("open the data dir: {e}"),
            }
        };
        let space = format!("{broken_id}~1");
        storage
            .space(&broken_id, &space)
            .meta_put("id_token_signing_key", b"not a key")
            .unwrap();
        storage.flush_blocking().unwrap();
    }
    let again = TestApp::spawn_on(sandbank::scenario::DEFAULT_SCENARIO, data).await;
    let moved = |(path, admin_key): &(String, String)| {
        let mut v = again.sandbox_view();
        v.base = format!("{}{path}", again.base);
        v.admin_key = admin_key.clone();
        v
    };
    let (broken, healthy) = (moved(&kept.0), moved(&kept.1));

    let (status, body) = healthy.admin_get("/sandbox/v1/clock").await;
    assert_eq!(status, 200, "the other sandbox serves: {body}");
    let (status, body) = again.admin_get("/sandbox/v1/clock").await;
    assert_eq!(status, 200, "the default sandbox serves: {body}");
    let (status, body) = broken.admin_get("/sandbox/v1/clock").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "sandbox_quarantined", "{body}");
    let (status, list) = again.operator(Method::GET, "/operator/v1/sandboxes", None).await;
    assert_eq!(status, 200);
    let listed = list["sandboxes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == broken_id.as_str())
        .cloned()
        .expect("the quarantined sandbox is listed");
    assert_eq!(listed["state"], "quarantined", "{listed}");
    assert!(listed["error"].as_str().unwrap().contains("signing key"), "{listed}");
    let (status, body) = again
        .operator(
            Method::POST,
            &format!("/operator/v1/sandboxes/{broken_id}/snapshots/good/restore"),
            None,
        )
        .await;
    assert_eq!(status, 200, "a whole snapshot brings it back: {body}");
    let (status, body) = broken.admin_get("/sandbox/v1/clock").await;
    assert_eq!(status, 200, "restored, it serves with its admin key: {body}");
    let (status, _) = again
        .operator(Method::DELETE, &format!("/operator/v1/sandboxes/{broken_id}"), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = broken.admin_get("/sandbox/v1/clock").await;
    assert_eq!(status, 404);
    drop(dir);
}

/// A sandbox keeps at most `--max-snapshots` snapshots (409 with the cap; replacing one by
/// name still works), and its access log keeps about its newest `--access-log-max-entries`.
#[tokio::test]
async fn snapshots_and_the_access_log_are_bounded_per_sandbox() {
    let app = TestApp::spawn_configured(|c| {
        c.limits.max_snapshots = 3;
        c.limits.access_log_entries = 600;
    })
    .await;
    for name in ["a", "b", "c"] {
        let (status, body) = app.admin_post("/sandbox/v1/snapshots", json!({"name": name})).await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = app.admin_post("/sandbox/v1/snapshots", json!({"name": "d"})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "snapshot_limit_reached");
    assert!(body["detail"].as_str().unwrap().contains("max-snapshots 3"), "{body}");
    let (status, _) = app.admin_post("/sandbox/v1/snapshots", json!({"name": "b"})).await;
    assert_eq!(status, 201, "replacing a snapshot by name is not a new one");

    for _ in 0..3 {
        for _ in 0..500 {
            let (status, _) = app.admin_get("/sandbox/v1/clock").await;
            assert_eq!(status, 200);
        }
        // Let the access-log writer (every 50 ms) store and prune.
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    }
    let mut kept = 0;
    let mut before: Option<u64> = None;
    loop {
        let path = match before {
            Some(b) => format!("/sandbox/v1/access-logs?limit=200&before={b}"),
            None => "/sandbox/v1/access-logs?limit=200".to_owned(),
        };
        let (status, page) = app.admin_get(&path).await;
        assert_eq!(status, 200, "{page}");
        kept += page["entries"].as_array().unwrap().len();
        match page["nextBefore"].as_u64() {
            Some(b) if page["hasNext"] == true => before = Some(b),
            _ => break,
        }
    }
    assert!(
        (600..=600 + 512 + 10).contains(&kept),
        "1,500 calls, about 600 kept: {kept}"
    );
}

/// A sandbox's storage quota counts its live world and its snapshots: the operator listing
/// shows the use against it, a snapshot that would not fit is refused with the figures, and
/// while the sandbox is over it its writes answer 409 — another sandbox is not affected, and
/// deleting snapshots brings it back under.
#[tokio::test]
async fn a_storage_quota_bounds_a_sandbox_and_the_listing_shows_its_use() {
    let app = TestApp::spawn().await;
    let (sb, created_body) = created(&app).await;
    let (other, _) = created(&app).await;
    let id = created_body["id"].as_str().unwrap().to_owned();
    async fn view(app: &TestApp, id: String) -> Value {
        let (status, v) = app
            .operator(Method::GET, &format!("/operator/v1/sandboxes/{id}"), None)
            .await;
        assert_eq!(status, 200, "{v}");
        v
    }
    // Created sandboxes get the server's default quota; it is measured after creation's first
    // lifecycle change at the latest.
    let (status, v) = app
        .operator(
            Method::PUT,
            &format!("/operator/v1/sandboxes/{id}/storage-quota"),
            Some(json!({"maxMb": null})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["storage"]["quotaBytes"], 512 * 1024 * 1024);
    let live = v["storage"]["liveBytes"].as_u64().unwrap();
    assert!(live > 100_000, "a default world is not empty: {v}");
    assert_eq!(v["storage"]["overQuota"], false);
    // Room for one snapshot but not two.
    let quota_mb = (live * 5 / 2).div_ceil(1024 * 1024);
    let (status, v) = app
        .operator(
            Method::PUT,
            &format!("/operator/v1/sandboxes/{id}/storage-quota"),
            Some(json!({"maxMb": quota_mb})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let quota = v["storage"]["quotaBytes"].as_u64().unwrap();
    assert_eq!(quota, quota_mb * 1024 * 1024);
    if quota < live * 2 {
        // The quota rounded to whole MiB leaves no room for even one copy; the rest is moot.
        panic!("the world is too small for this test's arithmetic: {v}");
    }
    let (status, body) = sb.admin_post("/sandbox/v1/snapshots", json!({"name": "one"})).await;
    assert_eq!(status, 201, "{body}");
    let used = view(&app, id.clone()).await["storage"].clone();
    assert!(used["snapshotBytes"].as_u64().unwrap() > 0, "{used}");
    if used["usedBytes"].as_u64().unwrap() + live <= quota {
        // Still room (the world is small next to a MiB); fill with more snapshots until not.
        let mut n = 0;
        loop {
            let (status, body) = sb
                .admin_post("/sandbox/v1/snapshots", json!({"name": format!("more-{n}")}))
                .await;
            if status == 409 {
                assert_eq!(body["code"], "storage_quota_exceeded", "{body}");
                break;
            }
            assert_eq!(status, 201, "{body}");
            n += 1;
            assert!(n < 19, "the quota never refused a snapshot");
        }
    } else {
        let (status, body) = sb.admin_post("/sandbox/v1/snapshots", json!({"name": "two"})).await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["code"], "storage_quota_exceeded");
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.contains("storage quota") && detail.contains("delete snapshots"),
            "{detail}"
        );
    }
    // Writes still go through while under the quota.
    let token = pay_token(&sb).await;
    assert_eq!(transfer(&sb, &token, None, "1000").await.0, 201);
    // A quota below its use: writes answer 409, reads go on, another sandbox is unaffected.
    let (status, v) = app
        .operator(
            Method::PUT,
            &format!("/operator/v1/sandboxes/{id}/storage-quota"),
            Some(json!({"maxMb": 1})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["storage"]["overQuota"], true, "{v}");
    let (status, body) = transfer(&sb, &token, None, "1000").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "storage_quota_exceeded");
    assert!(balance(&sb, &token).await.parse::<u64>().is_ok());
    let other_token = pay_token(&other).await;
    assert_eq!(transfer(&other, &other_token, None, "1000").await.0, 201);
    // The listing shows the use against the quota for every sandbox.
    let (status, list) = app.operator(Method::GET, "/operator/v1/sandboxes", None).await;
    assert_eq!(status, 200);
    let line = list["sandboxes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(line["storage"]["overQuota"], true, "{line}");
    assert_eq!(line["storage"]["quotaBytes"], 1024 * 1024);
    // No quota at all: writes work again.
    let (status, v) = app
        .operator(
            Method::PUT,
            &format!("/operator/v1/sandboxes/{id}/storage-quota"),
            Some(json!({"maxMb": 0})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["storage"]["quotaBytes"], Value::Null);
    assert_eq!(transfer(&sb, &token, None, "1000").await.0, 201);
    let (status, body) = app
        .operator(
            Method::PUT,
            &format!("/operator/v1/sandboxes/{id}/storage-quota"),
            Some(json!({"maxMb": -1})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = app
        .operator(
            Method::PUT,
            "/operator/v1/sandboxes/nope/storage-quota",
            Some(json!({"maxMb": 5})),
        )
        .await;
    assert_eq!(status, 404);
}

/// With `--access-log-max-age`, entries older than that (sandbox time) are deleted (by whole
/// stored chunks, each holding the calls of about 50 ms).
#[tokio::test]
async fn the_access_log_keeps_entries_up_to_its_maximum_age() {
    let app =
        TestApp::spawn_configured(|c| c.limits.access_log_max_age = Some(jiff::SignedDuration::from_hours(24))).await;
    for _ in 0..20 {
        assert_eq!(app.admin_get("/sandbox/v1/clock").await.0, 200);
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (_, page) = app.admin_get("/sandbox/v1/access-logs?limit=200").await;
    let old = page["entries"].as_array().unwrap().len();
    assert!(old >= 20, "{page}");
    let (_, clock) = app.admin_get("/sandbox/v1/clock").await;
    let before: jiff::Timestamp = clock["now"].as_str().unwrap().parse().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    app.advance("P2D").await;
    // The log is stored in chunks every 50 ms and deleted by whole chunks: let the old calls
    // go into chunks of their own.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for _ in 0..5 {
        assert_eq!(app.admin_get("/sandbox/v1/clock").await.0, 200);
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (_, page) = app.admin_get("/sandbox/v1/access-logs?limit=200").await;
    let entries = page["entries"].as_array().unwrap();
    assert!(
        !entries.is_empty() && entries.len() < old,
        "{} entries kept of {old} + 6",
        entries.len()
    );
    let cutoff = before + jiff::SignedDuration::from_hours(24);
    for e in entries {
        let t: jiff::Timestamp = e["time"].as_str().unwrap().parse().unwrap();
        assert!(
            t > cutoff,
            "an entry from before the clock moved two days on was kept: {e}"
        );
    }
}
