//! Webhooks end to end with a real receiver (a small axum server in the test): endpoints
//! managed with client credentials, events from real operations, signatures checked by the
//! Standard Webhooks reference verifier, the retry schedule walked with the sandbox clock,
//! 410, Retry-After, redelivery and recovery, the undelivered list, secret rotation, every
//! delivery fault, and authorization (no client receives another's or an ungranted user's
//! events).

use crate::common::*;
use axum::http::HeaderMap;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TANAKA: &str = "00111234567";
const SUZUKI: &str = "00212345678";
const PAY: &[&str] = &["accounts:read", "transactions:read", "transfers:any"];

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    id: String,
    headers: HeaderMap,
    body: Vec<u8>,
    json: Value,
}

impl Received {
    fn event_type(&self) -> &str {
        self.json["type"].as_str().unwrap_or_default()
    }
}

#[derive(Default)]
struct ReceiverState {
    got: Vec<Received>,
    /// Answers to give next (status, Retry-After); 200 when empty.
    script: VecDeque<(u16, Option<&'static str>)>,
}

/// A webhook receiver on 127.0.0.1 that records every request and answers as scripted.
struct Receiver {
    url: String,
    state: Arc<Mutex<ReceiverState>>,
    changed: Arc<tokio::sync::Notify>,
}

impl Receiver {
    async fn start() -> Receiver {
        let state: Arc<Mutex<ReceiverState>> = Arc::default();
        let changed = Arc::new(tokio::sync::Notify::new());
        let (s, c) = (state.clone(), changed.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let (s, c) = (s.clone(), c.clone());
                async move {
                    let (status, retry_after) = {
                        let mut st = s.lock().unwrap();
                        st.got.push(Received {
                            id: headers
                                .get("webhook-id")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_owned(),
                            json: serde_json::from_slice(&body).unwrap_or(Value::Null),
                            headers,
                            body: body.to_vec(),
                        });
                        st.script.pop_front().unwrap_or((200, None))
                    };
                    c.notify_waiters();
                    let mut res = axum::response::Response::new(axum::body::Body::from(format!("answered {status}")));
                    *res.status_mut() = axum::http::StatusCode::from_u16(status).unwrap();
                    if let Some(r) = retry_after {
                        res.headers_mut().insert("retry-after", r.parse().unwrap());
                    }
                    res
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, state, changed }
    }

    fn answer(&self, answers: &[(u16, Option<&'static str>)]) {
        self.state.lock().unwrap().script.extend(answers.iter().copied());
    }

    fn got(&self) -> Vec<Received> {
        self.state.lock().unwrap().got.clone()
    }

    /// Waits (up to 15 s of real time) until `done` holds for what arrived.
    async fn wait_until(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let notified = self.changed.notified();
            let got = self.got();
            if done(&got) {
                return got;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let types: Vec<_> = got.iter().map(|r| r.event_type().to_owned()).collect();
                panic!("timed out waiting for {what}; received {types:?}");
            }
        }
    }

    async fn wait_for_types(&self, types: &[&str]) -> Vec<Received> {
        self.wait_until(&format!("{types:?}"), |got| {
            types.iter().all(|t| got.iter().any(|r| r.event_type() == *t))
        })
        .await
    }
}

fn verify(secret: &str, r: &Received) -> Result<(), String> {
    let wh = standardwebhooks::Webhook::new(secret).map_err(|e| e.to_string())?;
    wh.verify(&r.body, &r.headers).map_err(|e| e.to_string())
}

async fn client_call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    client: (&str, &str),
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app
        .http
        .request(method, app.url(path))
        .basic_auth(client.0, Some(client.1));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

const DEMO_PAY: (&str, &str) = ("demo-pay", "pay-secret");
const DEMO_PFM: (&str, &str) = ("demo-pfm", "demo-secret");

async fn subscribe(app: &TestApp, client: (&str, &str), url: &str, types: &[&str]) -> (String, String) {
    let (status, e) = client_call(
        app,
        reqwest::Method::POST,
        "/webhooks/v1/endpoints",
        client,
        Some(json!({"url": url, "eventTypes": types})),
    )
    .await;
    assert_eq!(status, 201, "{e}");
    (
        e["id"].as_str().unwrap().to_owned(),
        e["secret"].as_str().unwrap().to_owned(),
    )
}

async fn pay_token(app: &TestApp, user: &str) -> String {
    let g = app.grant(user, "demo-pay", PAY).await;
    g["tokens"]["access_token"].as_str().unwrap().to_owned()
}

async fn transfer(app: &TestApp, token: &str, from: &str, amount: &str) -> String {
    let body = json!({"accountId": from, "transfers": [{"transferAmount": amount, "beneficiaryBankCode": "0999",
        "beneficiaryBranchCode": "002", "accountTypeCode": "1", "accountNumber": "2345678", "beneficiaryName": "ｽｽﾞｷ ﾊﾅｺ"}]});
    let res = app
        .http
        .post(app.url("/personal/v1/transfer/request"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let v: Value = res.json().await.unwrap();
    v["applyNo"].as_str().unwrap().to_owned()
}

async fn send_test(app: &TestApp, endpoint: &str) -> String {
    let (status, t) = app
        .admin_post("/sandbox/v1/webhooks/test", json!({"endpointId": endpoint}))
        .await;
    assert_eq!(status, 202, "{t}");
    t["messageId"].as_str().unwrap().to_owned()
}

async fn attempts(app: &TestApp, msg: &str) -> Vec<Value> {
    let (status, a) = app
        .admin_get(&format!("/sandbox/v1/webhooks/messages/{msg}/attempts"))
        .await;
    if status == 404 {
        return Vec::new(); // not fanned out yet
    }
    assert_eq!(status, 200, "{a}");
    a["attempts"].as_array().unwrap().clone()
}

/// Waits until the message has `n` attempts logged (an attempt is logged after the receiver
/// answered).
async fn wait_attempts(app: &TestApp, msg: &str, n: usize) -> Vec<Value> {
    let what = format!("{msg} reaching {n} attempts");
    crate::common::eventually(&what, Duration::from_secs(6), || async {
        let a = attempts(app, msg).await;
        (a.len() >= n).then_some(a)
    })
    .await
}

async fn undelivered(app: &TestApp, client: (&str, &str), endpoint: &str) -> Vec<Value> {
    let (status, u) = client_call(
        app,
        reqwest::Method::GET,
        &format!("/webhooks/v1/undelivered?endpointId={endpoint}"),
        client,
        None,
    )
    .await;
    assert_eq!(status, 200, "{u}");
    u["messages"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_client_manages_its_own_endpoints_with_its_credentials() {
    let app = TestApp::spawn().await;
    let r = Receiver::start().await;
    let get = reqwest::Method::GET;

    // No credentials, wrong secret, another client's: refused or not found.
    let res = app.http.get(app.url("/webhooks/v1/endpoints")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers().get("www-authenticate").is_some());
    let (status, body) = client_call(&app, get.clone(), "/webhooks/v1/endpoints", ("demo-pay", "nope"), None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], "invalid_client");
    // An access token or the admin key is not a client's credentials here (the admin has the
    // control plane's own routes).
    let res = app
        .http
        .get(app.url("/webhooks/v1/endpoints"))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    let (id, secret) = subscribe(&app, DEMO_PAY, &r.url, &["transfer.completed"]).await;
    assert!(id.starts_with("ep_"));
    assert!(secret.starts_with("whsec_"));
    let (status, list) = client_call(&app, get.clone(), "/webhooks/v1/endpoints", DEMO_PAY, None).await;
    assert_eq!(status, 200);
    assert_eq!(list["endpoints"].as_array().unwrap().len(), 1);
    assert!(list["endpoints"][0].get("secret").is_none(), "the secret is shown once");
    let (_, theirs) = client_call(&app, get.clone(), "/webhooks/v1/endpoints", DEMO_PFM, None).await;
    assert_eq!(theirs["endpoints"], json!([]), "another client sees none of them");
    let path = format!("/webhooks/v1/endpoints/{id}");
    let (status, _) = client_call(&app, get.clone(), &path, DEMO_PFM, None).await;
    assert_eq!(status, 404);
    let (status, _) = client_call(&app, reqwest::Method::DELETE, &path, DEMO_PFM, None).await;
    assert_eq!(status, 404, "nor delete them");

    // Change it; bad changes say what to fix and change nothing.
    let (status, e) = client_call(
        &app,
        reqwest::Method::PATCH,
        &path,
        DEMO_PAY,
        Some(json!({"eventTypes": ["account.credited"], "description": "入金通知"})),
    )
    .await;
    assert_eq!(status, 200, "{e}");
    assert_eq!(e["eventTypes"], json!(["account.credited"]));
    let (status, e) = client_call(
        &app,
        reqwest::Method::PATCH,
        &path,
        DEMO_PAY,
        Some(json!({"url": "ftp://example.com/x", "eventTypes": ["account.creditted"]})),
    )
    .await;
    assert_eq!(status, 422, "{e}");
    assert_eq!(e["errors"].as_array().unwrap().len(), 2, "{e}");
    let (_, e) = client_call(&app, get.clone(), &path, DEMO_PAY, None).await;
    assert_eq!(e["url"], r.url.as_str());

    // The control plane sees every client's and manages them too.
    let (status, made) = app
        .admin_post(
            "/sandbox/v1/webhooks/endpoints",
            json!({"clientId": "demo-pfm", "url": r.url}),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["eventTypes"], json!([]));
    assert!(made["secret"].as_str().unwrap().starts_with("whsec_"));
    let (status, _) = app
        .admin_post(
            "/sandbox/v1/webhooks/endpoints",
            json!({"clientId": "nobody", "url": r.url}),
        )
        .await;
    assert_eq!(status, 404);
    let (_, all) = app.admin_get("/sandbox/v1/webhooks/endpoints").await;
    assert_eq!(all["endpoints"].as_array().unwrap().len(), 2);
    let (_, pfm) = client_call(&app, get.clone(), "/webhooks/v1/endpoints", DEMO_PFM, None).await;
    assert_eq!(pfm["endpoints"].as_array().unwrap().len(), 1);

    let (status, _) = client_call(&app, reqwest::Method::DELETE, &path, DEMO_PAY, None).await;
    assert_eq!(status, 204);
    let (status, _) = client_call(&app, get, &path, DEMO_PAY, None).await;
    assert_eq!(status, 404);
    // A deleted client's endpoints go with it.
    let res = app
        .http
        .delete(app.url("/sandbox/v1/clients/demo-pfm"))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let (_, all) = app.admin_get("/sandbox/v1/webhooks/endpoints").await;
    assert_eq!(all["endpoints"], json!([]));
}

#[tokio::test]
async fn private_addresses_are_refused_when_the_operator_says_so() {
    let app = TestApp::spawn_configured(|c| c.webhooks.allow_private = false).await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://10.0.0.8/x",
        "http://[::1]/x",
        "http://169.254.169.254/",
    ] {
        let (status, e) = client_call(
            &app,
            reqwest::Method::POST,
            "/webhooks/v1/endpoints",
            DEMO_PAY,
            Some(json!({"url": url})),
        )
        .await;
        assert_eq!(status, 422, "{url}: {e}");
        assert!(e["detail"].as_str().unwrap().contains("private"), "{e}");
    }
}

#[tokio::test]
async fn events_from_real_operations_arrive_signed_in_the_apis_vocabulary() {
    let app = TestApp::spawn().await;
    let r = Receiver::start().await;
    let (endpoint, secret) = subscribe(&app, DEMO_PAY, &r.url, &[]).await;
    let tanaka = pay_token(&app, "tanaka").await;
    let apply_no = transfer(&app, &tanaka, TANAKA, "12000").await;
    let got = r
        .wait_for_types(&["transfer.accepted", "account.debited", "transfer.completed"])
        .await;
    for rec in &got {
        verify(&secret, rec).unwrap_or_else(|e| panic!("{}: {e}", rec.event_type()));
        assert!(rec.id.starts_with("msg_"));
    }
    let completed = got.iter().find(|r| r.event_type() == "transfer.completed").unwrap();
    let p = &completed.json;
    assert!(p["id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(p["sandboxId"], "default");
    assert_eq!(p["data"]["applyNo"], apply_no.as_str());
    assert_eq!(p["data"]["accountId"], TANAKA);
    assert_eq!(p["data"]["totalAmount"], "12000");
    assert!(p["occurredAt"].as_str().unwrap().ends_with("+09:00"));
    let debited = got.iter().find(|r| r.event_type() == "account.debited").unwrap();
    assert_eq!(debited.json["data"]["amount"], "12110", "the items and their fee");
    // Suzuki gave demo-pay no grant: the credit to her account is not demo-pay's to see.
    assert!(!got.iter().any(|r| r.json["data"]["accountId"] == SUZUKI));

    // A deposit through the control plane; after time travel the signature still verifies,
    // since webhook-timestamp is real time while occurredAt is sandbox time.
    app.advance("10d").await;
    let (status, c) = app
        .admin_post(
            &format!("/sandbox/v1/accounts/{TANAKA}/credit"),
            json!({"amount": "5000", "remitterName": "ｻﾝﾌﾟﾙ ｼﾖｳｼﾞ"}),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    let got = r.wait_for_types(&["account.credited"]).await;
    let credited = got.iter().find(|r| r.event_type() == "account.credited").unwrap();
    verify(&secret, credited).unwrap();
    assert_eq!(credited.json["data"]["amount"], "5000");
    let ts: i64 = credited.headers["webhook-timestamp"].to_str().unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - ts).abs() < 60, "webhook-timestamp is real time");

    // Suspension and its lifting go to the client concerned; a grant's revocation too.
    let (status, _) = app
        .admin_post(
            "/sandbox/v1/clients/demo-pay/suspension",
            json!({"scope": "update", "reason": "点検"}),
        )
        .await;
    assert_eq!(status, 200);
    let res = app
        .http
        .delete(app.url("/sandbox/v1/clients/demo-pay/suspension"))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    let (_, grants) = app.admin_get("/sandbox/v1/grants?username=tanaka").await;
    let grant = grants["grants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["clientId"] == "demo-pay")
        .unwrap()["grantId"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .http
        .delete(app.url(&format!("/sandbox/v1/grants/{grant}")))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    // Maintenance is news for every client.
    let (status, w) = app
        .admin_post(
            "/sandbox/v1/maintenance",
            json!({"id": "m1", "start": "2027-01-10T01:00:00+09:00", "end": "2027-01-10T05:00:00+09:00", "covers": "all"}),
        )
        .await;
    assert_eq!(status, 201, "{w}");
    let got = r
        .wait_for_types(&[
            "client.suspended",
            "client.resumed",
            "grant.revoked",
            "maintenance.announced",
        ])
        .await;
    for rec in &got {
        verify(&secret, rec).unwrap();
    }
    let m = got.iter().find(|r| r.event_type() == "maintenance.announced").unwrap();
    assert_eq!(m.json["data"]["windowId"], "m1");
    let (_, list) = client_call(
        &app,
        reqwest::Method::GET,
        &format!("/webhooks/v1/messages?endpointId={endpoint}"),
        DEMO_PAY,
        None,
    )
    .await;
    assert!(
        list["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["status"] == "delivered"),
        "{list}"
    );
}

#[tokio::test]
async fn failed_attempts_are_retried_on_the_schedule_as_the_clock_moves() {
    let app = TestApp::spawn().await;
    let r = Receiver::start().await;
    let (endpoint, secret) = subscribe(&app, DEMO_PAY, &r.url, &[]).await;
    r.answer(&[(500, None), (502, None), (301, None)]);
    let msg = send_test(&app, &endpoint).await;
    let a = wait_attempts(&app, &msg, 1).await;
    assert_eq!(a[0]["status"], 500);
    assert_eq!(a[0]["succeeded"], false);
    assert_eq!(
        a[0]["response"], "answered 500",
        "the first bytes of the answer are kept"
    );
    assert!(a[0]["nextAttemptAt"].is_string(), "{a:?}");
    // Still owed: the pull API lists it.
    let u = undelivered(&app, DEMO_PAY, &endpoint).await;
    assert_eq!(u.len(), 1);
    assert_eq!(u[0]["id"], msg.as_str());
    assert_eq!(u[0]["status"], "pending");

    // The schedule is 5s, 30s, 2m …: a second of sandbox time runs nothing; 5s (±10%) does.
    app.advance("1s").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(attempts(&app, &msg).await.len(), 1, "not due yet");
    app.advance("6s").await;
    let a = wait_attempts(&app, &msg, 2).await;
    assert_eq!(a[1]["status"], 502);
    app.advance("35s").await;
    let a = wait_attempts(&app, &msg, 3).await;
    assert_eq!(a[2]["status"], 301);
    assert!(
        a[2]["error"].as_str().unwrap().contains("redirect"),
        "3xx is a failure: {a:?}"
    );
    app.advance("3m").await;
    let a = wait_attempts(&app, &msg, 4).await;
    assert_eq!(a[3]["status"], 200);
    assert_eq!(a[3]["succeeded"], true);
    let got = r.got();
    assert_eq!(got.len(), 4);
    assert!(got.iter().all(|g| g.id == msg), "the same webhook-id on every attempt");
    for g in &got {
        verify(&secret, g).unwrap();
    }
    assert!(undelivered(&app, DEMO_PAY, &endpoint).await.is_empty());
}

#[tokio::test]
async fn a_410_disables_the_endpoint_and_retry_after_is_honoured() {
    let app = TestApp::spawn().await;
    let gone = Receiver::start().await;
    let other = Receiver::start().await;
    let (gone_ep, _) = subscribe(&app, DEMO_PAY, &gone.url, &[]).await;
    let (_, other_secret) = subscribe(&app, DEMO_PAY, &other.url, &["webhook.endpoint_disabled"]).await;
    gone.answer(&[(410, None)]);
    let msg = send_test(&app, &gone_ep).await;
    let got = other.wait_for_types(&["webhook.endpoint_disabled"]).await;
    verify(&other_secret, &got[0]).unwrap();
    assert_eq!(got[0].json["data"]["endpointId"], gone_ep.as_str());
    let (_, e) = client_call(
        &app,
        reqwest::Method::GET,
        &format!("/webhooks/v1/endpoints/{gone_ep}"),
        DEMO_PAY,
        None,
    )
    .await;
    assert_eq!(e["enabled"], false);
    assert!(e["disabledReason"].as_str().unwrap().contains("410"));
    let (_, m) = app.admin_get(&format!("/sandbox/v1/webhooks/messages/{msg}")).await;
    assert_eq!(m["messages"][0]["status"], "failed");
    // Later messages wait as failed (listed as undelivered) until the endpoint is enabled and
    // they are recovered.
    let later = send_test(&app, &gone_ep).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(gone.got().len(), 1);
    let u = undelivered(&app, DEMO_PAY, &gone_ep).await;
    assert!(u.iter().any(|m| m["id"] == later.as_str()), "{u:?}");
    let (status, _) = client_call(
        &app,
        reqwest::Method::PATCH,
        &format!("/webhooks/v1/endpoints/{gone_ep}"),
        DEMO_PAY,
        Some(json!({"enabled": true})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, q) = client_call(
        &app,
        reqwest::Method::POST,
        &format!("/webhooks/v1/endpoints/{gone_ep}/recover"),
        DEMO_PAY,
        Some(json!({"since": "2000-01-01T00:00:00+09:00"})),
    )
    .await;
    assert_eq!(status, 202, "{q}");
    // The two tests, and the news of its own disabling (it was disabled, so kept as failed).
    assert_eq!(q["queued"], 3);
    gone.wait_until("all three", |g| g.len() == 4).await;
    assert!(undelivered(&app, DEMO_PAY, &gone_ep).await.is_empty());

    // 429 with Retry-After: 120 → not retried at the schedule's 5s, but after 120s.
    let (busy_ep, _) = subscribe(&app, DEMO_PAY, &other.url, &["webhook.test"]).await;
    other.answer(&[(429, Some("120"))]);
    let msg = send_test(&app, &busy_ep).await;
    let a = wait_attempts(&app, &msg, 1).await;
    assert_eq!(a[0]["status"], 429);
    app.advance("10s").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(attempts(&app, &msg).await.len(), 1, "Retry-After holds it back");
    app.advance("2m").await;
    let a = wait_attempts(&app, &msg, 2).await;
    assert_eq!(a[1]["status"], 200);
}

#[tokio::test]
async fn messages_that_failed_every_attempt_can_be_redelivered_and_recovered() {
    let app = TestApp::spawn_configured(|c| c.webhooks.retry_schedule = vec![Duration::from_secs(5)]).await;
    let r = Receiver::start().await;
    let (endpoint, _) = subscribe(&app, DEMO_PAY, &r.url, &[]).await;
    r.answer(&[(500, None), (500, None), (500, None), (500, None)]);
    let first = send_test(&app, &endpoint).await;
    let second = send_test(&app, &endpoint).await;
    wait_attempts(&app, &first, 1).await;
    wait_attempts(&app, &second, 1).await;
    app.advance("10s").await;
    wait_attempts(&app, &first, 2).await;
    wait_attempts(&app, &second, 2).await;
    let (_, failed) = client_call(
        &app,
        reqwest::Method::GET,
        &format!("/webhooks/v1/messages?endpointId={endpoint}&status=failed"),
        DEMO_PAY,
        None,
    )
    .await;
    assert_eq!(failed["messages"].as_array().unwrap().len(), 2, "{failed}");
    let u = undelivered(&app, DEMO_PAY, &endpoint).await;
    assert_eq!(u.len(), 2);

    // Redeliver one by id; recover the rest.
    let (status, q) = client_call(
        &app,
        reqwest::Method::POST,
        &format!("/webhooks/v1/messages/{first}/redeliver"),
        DEMO_PAY,
        None,
    )
    .await;
    assert_eq!(status, 202, "{q}");
    r.wait_until("the redelivery", |g| g.len() == 5).await;
    let (status, _) = client_call(
        &app,
        reqwest::Method::POST,
        &format!("/webhooks/v1/messages/{first}/redeliver"),
        DEMO_PFM,
        None,
    )
    .await;
    assert_eq!(status, 404, "another client cannot touch it");
    let (_, q) = client_call(
        &app,
        reqwest::Method::POST,
        &format!("/webhooks/v1/endpoints/{endpoint}/recover"),
        DEMO_PAY,
        Some(json!({"since": "2000-01-01T00:00:00+09:00"})),
    )
    .await;
    assert_eq!(q["queued"], 1, "only the one still failed");
    let got = r.wait_until("the recovery", |g| g.len() == 6).await;
    assert_eq!(got[4].id, first);
    assert_eq!(got[5].id, second);
    assert!(undelivered(&app, DEMO_PAY, &endpoint).await.is_empty());
    // A delivered message can be sent again on demand (same webhook-id).
    client_call(
        &app,
        reqwest::Method::POST,
        &format!("/webhooks/v1/messages/{second}/redeliver"),
        DEMO_PAY,
        None,
    )
    .await;
    let got = r.wait_until("a second copy", |g| g.len() == 7).await;
    assert_eq!(got[6].id, second);
}

#[tokio::test]
async fn a_rotated_secret_signs_beside_the_old_one_for_the_grace_period() {
    let app = TestApp::spawn().await;
    let r = Receiver::start().await;
    let (endpoint, old) = subscribe(&app, DEMO_PAY, &r.url, &[]).await;
    let (status, rotated) = client_call(
        &app,
        reqwest::Method::POST,
        &format!("/webhooks/v1/endpoints/{endpoint}/secret/rotate"),
        DEMO_PAY,
        Some(json!({"gracePeriod": "1h"})),
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert!(rotated["previousSecretValidUntil"].is_string());
    send_test(&app, &endpoint).await;
    let got = r.wait_until("one delivery", |g| g.len() == 1).await;
    let header = got[0].headers["webhook-signature"].to_str().unwrap();
    assert_eq!(
        header.split(' ').filter(|s| s.starts_with("v1,")).count(),
        2,
        "{header}"
    );
    verify(&new, &got[0]).unwrap();
    verify(&old, &got[0]).unwrap();
    // Without a grace period the old secret stops at once.
    let (_, rotated) = client_call(
        &app,
        reqwest::Method::POST,
        &format!("/webhooks/v1/endpoints/{endpoint}/secret/rotate"),
        DEMO_PAY,
        Some(json!({"gracePeriod": "0s"})),
    )
    .await;
    let newest = rotated["secret"].as_str().unwrap().to_owned();
    send_test(&app, &endpoint).await;
    let got = r.wait_until("two deliveries", |g| g.len() == 2).await;
    verify(&newest, &got[1]).unwrap();
    assert!(verify(&new, &got[1]).is_err());
    let (status, e) = client_call(
        &app,
        reqwest::Method::POST,
        &format!("/webhooks/v1/endpoints/{endpoint}/secret/rotate"),
        DEMO_PAY,
        Some(json!({"secret": "whsec_short", "gracePeriod": "30d"})),
    )
    .await;
    assert_eq!(status, 422, "{e}");
}

#[tokio::test]
async fn no_client_receives_another_clients_or_an_ungranted_users_events() {
    let app = TestApp::spawn().await;
    let pay_rx = Receiver::start().await;
    let pfm_rx = Receiver::start().await;
    subscribe(&app, DEMO_PAY, &pay_rx.url, &[]).await;
    subscribe(&app, DEMO_PFM, &pfm_rx.url, &[]).await;
    // Tanaka lets demo-pfm read his accounts; suzuki gives demo-pfm nothing.
    let pfm_grant = app.grant("tanaka", "demo-pfm", &["accounts:read"]).await;
    let tanaka = pay_token(&app, "tanaka").await;
    let suzuki = pay_token(&app, "suzuki").await;
    transfer(&app, &tanaka, TANAKA, "1000").await;
    let body = json!({"accountId": SUZUKI, "transfers": [{"transferAmount": "700", "beneficiaryBankCode": "0999",
        "beneficiaryBranchCode": "001", "accountTypeCode": "1", "accountNumber": "1234567", "beneficiaryName": "ﾀﾅｶ ﾀﾛｳ"}]});
    let res = app
        .http
        .post(app.url("/personal/v1/transfer/request"))
        .bearer_auth(&suzuki)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    // demo-pay: both users granted it, so it hears of both accounts.
    pay_rx
        .wait_until("both accounts", |g| {
            g.iter().filter(|r| r.event_type() == "transfer.completed").count() == 2
        })
        .await;
    // demo-pfm: tanaka's side only — his debit and the credit from suzuki.
    let got = pfm_rx
        .wait_until("tanaka's debit and credit", |g| {
            g.iter().any(|r| r.event_type() == "account.debited")
                && g.iter().any(|r| r.event_type() == "account.credited")
        })
        .await;
    // Give stray deliveries a moment to arrive before checking none came.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = pfm_rx.got().into_iter().chain(got).collect::<Vec<_>>();
    for r in &got {
        assert_ne!(
            r.json["data"]["accountId"], SUZUKI,
            "suzuki never granted demo-pfm: {}",
            r.json
        );
        assert_ne!(r.json["data"]["clientId"], "demo-pay", "{}", r.json);
    }

    // Once tanaka revokes demo-pfm's grant, his next movements are not sent to it.
    let res = app
        .http
        .delete(app.url(&format!(
            "/sandbox/v1/grants/{}",
            pfm_grant["grantId"].as_str().unwrap()
        )))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    pfm_rx.wait_for_types(&["grant.revoked"]).await;
    let before = pfm_rx.got().len();
    transfer(&app, &tanaka, TANAKA, "2000").await;
    pay_rx
        .wait_until("the third transfer", |g| {
            g.iter().filter(|r| r.event_type() == "transfer.completed").count() == 3
        })
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(pfm_rx.got().len(), before, "nothing after the revocation");
    // And the pull APIs agree: demo-pfm's messages hold nothing of suzuki's.
    let (_, list) = client_call(
        &app,
        reqwest::Method::GET,
        "/webhooks/v1/messages?limit=500",
        DEMO_PFM,
        None,
    )
    .await;
    for m in list["messages"].as_array().unwrap() {
        assert_ne!(m["payload"]["data"]["accountId"], SUZUKI);
    }
    let (_, pay_list) = client_call(
        &app,
        reqwest::Method::GET,
        "/webhooks/v1/messages?limit=500",
        DEMO_PAY,
        None,
    )
    .await;
    let pay_ids: Vec<&Value> = pay_list["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["endpointId"])
        .collect();
    let (_, pfm_eps) = client_call(&app, reqwest::Method::GET, "/webhooks/v1/endpoints", DEMO_PFM, None).await;
    assert!(
        !pay_ids.contains(&&pfm_eps["endpoints"][0]["id"]),
        "each client sees its own messages"
    );
}

#[tokio::test]
async fn delivery_faults_drop_delay_duplicate_reorder_missign_and_fail() {
    let app = TestApp::spawn().await;
    let r = Receiver::start().await;
    let (endpoint, secret) = subscribe(&app, DEMO_PAY, &r.url, &["webhook.test"]).await;
    let set_faults = |faults: Value| {
        let app = &app;
        let endpoint = endpoint.clone();
        async move {
            let res = app
                .http
                .put(app.url(&format!("/sandbox/v1/webhooks/endpoints/{endpoint}/faults")))
                .bearer_auth(&app.admin_key)
                .json(&json!({ "faults": faults }))
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap())
        }
    };
    let (status, e) = set_faults(json!([{"effect": {"drop": true, "duplicate": true}}])).await;
    assert_eq!(status, 422, "{e}");
    let (status, e) = set_faults(json!([{"effect": {"delay": "soon"}}])).await;
    assert_eq!(status, 422, "{e}");

    // Drop: never sent, listed as undelivered, sent by a redelivery.
    set_faults(json!([{"id": "lose-it", "when": {"nth": [1]}, "effect": {"drop": true}}])).await;
    let dropped = send_test(&app, &endpoint).await;
    let kept = send_test(&app, &endpoint).await;
    r.wait_until("the second", |g| g.len() == 1).await;
    assert_eq!(r.got()[0].id, kept);
    let u = undelivered(&app, DEMO_PAY, &endpoint).await;
    assert_eq!(u.len(), 1);
    assert_eq!(u[0]["id"], dropped.as_str());
    assert_eq!(u[0]["status"], "dropped");
    let a = attempts(&app, &dropped).await;
    assert_eq!(a.len(), 1, "the drop shows in the attempts log: {a:?}");
    assert_eq!(a[0]["fault"], "drop (lose-it)");
    assert!(a[0].get("status").is_none(), "nothing was sent");
    client_call(
        &app,
        reqwest::Method::POST,
        &format!("/webhooks/v1/messages/{dropped}/redeliver"),
        DEMO_PAY,
        None,
    )
    .await;
    r.wait_until("the dropped one, redelivered", |g| g.len() == 2).await;

    // Delay: held until the time passes (sandbox time here).
    set_faults(json!([{"effect": {"delay": "1h"}}])).await;
    let late = send_test(&app, &endpoint).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(r.got().len(), 2, "not yet");
    app.advance("61m").await;
    r.wait_until("the late one", |g| g.len() == 3).await;
    assert_eq!(r.got()[2].id, late);

    // Duplicate: the same message twice, same webhook-id.
    set_faults(json!([{"effect": {"duplicate": true}}])).await;
    let twice = send_test(&app, &endpoint).await;
    let got = r.wait_until("two copies", |g| g.len() == 5).await;
    assert_eq!(got[3].id, twice);
    assert_eq!(got[4].id, twice);
    let a = attempts(&app, &twice).await;
    assert!(a[1]["fault"].as_str().unwrap().contains("duplicate"), "{a:?}");

    // Reorder: the first is held back behind the next.
    set_faults(json!([{"when": {"nth": [1]}, "effect": {"reorder": true}}])).await;
    let held = send_test(&app, &endpoint).await;
    let next = send_test(&app, &endpoint).await;
    let got = r.wait_until("both", |g| g.len() == 7).await;
    assert_eq!(got[5].id, next, "the later message first");
    assert_eq!(got[6].id, held);

    // Wrong signature on the first attempt; the retry is signed right.
    set_faults(json!([{"effect": {"wrongSignature": true}}])).await;
    r.answer(&[(401, None)]);
    let missigned = send_test(&app, &endpoint).await;
    let got = r.wait_until("the missigned one", |g| g.len() == 8).await;
    assert!(verify(&secret, &got[7]).is_err(), "signed with another secret");
    app.advance("6s").await;
    let got = r.wait_until("its retry", |g| g.len() == 9).await;
    assert_eq!(got[8].id, missigned);
    verify(&secret, &got[8]).unwrap();

    // Fail the first two attempts without sending them.
    set_faults(json!([{"effect": {"failAttempts": 2}}])).await;
    let stubborn = send_test(&app, &endpoint).await;
    wait_attempts(&app, &stubborn, 1).await;
    app.advance("6s").await;
    wait_attempts(&app, &stubborn, 2).await;
    assert_eq!(r.got().len(), 9, "nothing sent yet");
    app.advance("35s").await;
    let got = r.wait_until("the third attempt", |g| g.len() == 10).await;
    assert_eq!(got[9].id, stubborn);
    let a = attempts(&app, &stubborn).await;
    assert!(a[0]["error"].as_str().unwrap().contains("forced failure"), "{a:?}");
    assert_eq!(a[2]["succeeded"], true);
}

#[tokio::test]
async fn probabilistic_delivery_faults_repeat_under_the_same_seed() {
    async fn pattern() -> Vec<String> {
        let app = TestApp::spawn().await;
        let r = Receiver::start().await;
        let (endpoint, _) = subscribe(&app, DEMO_PAY, &r.url, &["webhook.test"]).await;
        let res = app
            .http
            .put(app.url(&format!("/sandbox/v1/webhooks/endpoints/{endpoint}/faults")))
            .bearer_auth(&app.admin_key)
            .json(&json!({"faults": [{"id": "coin", "when": {"probability": 0.5}, "effect": {"drop": true}}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        for _ in 0..16 {
            send_test(&app, &endpoint).await;
        }
        let mut statuses = Vec::new();
        for _ in 0..200 {
            let (_, list) = app
                .admin_get(&format!("/sandbox/v1/webhooks/messages?endpointId={endpoint}"))
                .await;
            statuses = list["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["status"].as_str().unwrap().to_owned())
                .collect();
            if statuses.iter().all(|s| s == "delivered" || s == "dropped") && statuses.len() == 16 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        statuses
    }
    let a = pattern().await;
    let b = pattern().await;
    assert_eq!(a, b, "same seed, same drops");
    assert!(
        a.iter().any(|s| s == "dropped") && a.iter().any(|s| s == "delivered"),
        "{a:?}"
    );
}

#[tokio::test]
async fn debits_mandates_and_the_approval_flow_send_their_events() {
    let app = TestApp::spawn().await;
    let biller_rx = Receiver::start().await;
    let corp_rx = Receiver::start().await;
    let (_, biller_secret) = subscribe(&app, ("demo-biller", "biller-secret"), &biller_rx.url, &[]).await;
    let (_, corp_secret) = subscribe(&app, ("demo-accounting", "accounting-secret"), &corp_rx.url, &[]).await;

    // A mandate given with the grant, a debit, a refused debit, the depositor's stop.
    let g = app
        .admin_post(
            "/sandbox/v1/grants",
            json!({"username": "tanaka", "clientId": "demo-biller", "scopes": ["debits"],
                   "mandate": {"accountId": TANAKA, "maxAmount": "10000", "monthlyMaxAmount": "15000"}}),
        )
        .await
        .1;
    let biller = g["tokens"]["access_token"].as_str().unwrap().to_owned();
    let mandate = g["mandate"]["mandateId"].as_str().unwrap().to_owned();
    let debit = |amount: &'static str| {
        let app = &app;
        let (biller, mandate) = (biller.clone(), mandate.clone());
        async move {
            let res = app
                .http
                .post(app.url("/personal/v1/debit/request"))
                .bearer_auth(&biller)
                .json(&json!({"mandateId": mandate, "amount": amount}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()
        }
    };
    debit("3000").await;
    let refused = debit("20000").await;
    let res = app
        .http
        .post(app.url(&format!("/sandbox/v1/mandates/{mandate}/stop")))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let got = biller_rx
        .wait_for_types(&["mandate.created", "debit.completed", "debit.failed", "mandate.stopped"])
        .await;
    for r in &got {
        verify(&biller_secret, r).unwrap();
    }
    let failed = got.iter().find(|r| r.event_type() == "debit.failed").unwrap();
    assert_eq!(failed.json["data"]["resultCode"], refused["resultCode"]);
    assert_eq!(failed.json["data"]["amount"], "20000");
    assert!(
        !got.iter().any(|r| r.event_type() == "account.debited"),
        "the biller holds no read grant: the account's own events are not its to see"
    );

    // The corporate approval flow: accepted, awaiting approval, approved, completed; a
    // request returned for revision; one cancelled; one that expires.
    let g = app
        .grant(
            "yamada-operator",
            "demo-accounting",
            &["accounts:read", "transfers:any"],
        )
        .await;
    let op = g["tokens"]["access_token"].as_str().unwrap().to_owned();
    let (_, accounts) = app.get_json("/corporation/v1/accounts", &op).await;
    let from = accounts["accounts"][0]["accountId"].as_str().unwrap().to_owned();
    let request = || {
        let app = &app;
        let (op, from) = (op.clone(), from.clone());
        async move {
            let body = json!({"accountId": from, "transfers": [{"transferAmount": "50000", "beneficiaryBankCode": "0999",
                "beneficiaryBranchCode": "002", "accountTypeCode": "1", "accountNumber": "2345678", "beneficiaryName": "ｽｽﾞｷ ﾊﾅｺ"}]});
            let res = app
                .http
                .post(app.url("/corporation/v1/transfer/request"))
                .bearer_auth(&op)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 201);
            res.json::<Value>().await.unwrap()["applyNo"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let decide = |apply_no: String, decision: &'static str| {
        let app = &app;
        async move {
            let (status, r) = app
                .admin_post(
                    &format!("/sandbox/v1/transfers/{apply_no}/approval"),
                    json!({"approver": "yamada-approver", "decision": decision}),
                )
                .await;
            assert_eq!(status, 200, "{r}");
        }
    };
    let approved = request().await;
    decide(approved.clone(), "approve").await;
    let returned = request().await;
    decide(returned.clone(), "return").await;
    let cancelled = request().await;
    let res = app
        .http
        .post(app.url("/corporation/v1/transfer/cancel"))
        .bearer_auth(&op)
        .json(&json!({"applyNo": cancelled}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    let expiring = request().await;
    app.advance("15d").await;
    let got = corp_rx
        .wait_for_types(&[
            "transfer.accepted",
            "transfer.awaiting_approval",
            "transfer.approved",
            "transfer.completed",
            "transfer.returned_for_revision",
            "transfer.cancelled",
            "transfer.expired",
        ])
        .await;
    let types_of = |apply_no: &str| -> Vec<String> {
        got.iter()
            .filter(|r| r.json["data"]["applyNo"] == apply_no && r.event_type().starts_with("transfer."))
            .map(|r| r.event_type().to_owned())
            .collect()
    };
    assert_eq!(
        types_of(&approved),
        [
            "transfer.accepted",
            "transfer.awaiting_approval",
            "transfer.approved",
            "transfer.completed"
        ]
    );
    assert_eq!(types_of(&returned)[2], "transfer.returned_for_revision");
    assert_eq!(types_of(&cancelled)[2], "transfer.cancelled");
    assert_eq!(types_of(&expiring)[2], "transfer.expired");
    for r in &got {
        verify(&corp_secret, r).unwrap();
    }
}

#[tokio::test]
async fn an_endpoint_failing_too_long_is_disabled_with_an_event() {
    let app = TestApp::spawn_configured(|c| c.webhooks.disable_after = Some(Duration::from_millis(1))).await;
    let down = Receiver::start().await;
    let news = Receiver::start().await;
    let (down_ep, _) = subscribe(&app, DEMO_PAY, &down.url, &["webhook.test"]).await;
    subscribe(&app, DEMO_PAY, &news.url, &["webhook.endpoint_disabled"]).await;
    down.answer(&[(500, None), (500, None)]);
    let msg = send_test(&app, &down_ep).await;
    wait_attempts(&app, &msg, 1).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    app.advance("6s").await;
    let got = news.wait_for_types(&["webhook.endpoint_disabled"]).await;
    assert_eq!(got[0].json["data"]["endpointId"], down_ep.as_str());
    assert!(got[0].json["data"]["reason"].as_str().unwrap().contains("kept failing"));
    let (_, e) = client_call(
        &app,
        reqwest::Method::GET,
        &format!("/webhooks/v1/endpoints/{down_ep}"),
        DEMO_PAY,
        None,
    )
    .await;
    assert_eq!(e["enabled"], false, "{e}");
}

/// A test event addressed to an endpoint is delivered to it even when the endpoint filters
/// event types (it was asked for by name): the answered message id has its attempt.
#[tokio::test]
async fn a_test_event_reaches_an_endpoint_that_filters_event_types() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (endpoint, secret) = subscribe(&app, DEMO_PAY, &receiver.url, &["transfer.completed"]).await;
    let msg = send_test(&app, &endpoint).await;
    let got = receiver.wait_for_types(&["webhook.test"]).await;
    let test = got.iter().find(|r| r.event_type() == "webhook.test").unwrap();
    verify(&secret, test).unwrap();
    let attempts = wait_attempts(&app, &msg, 1).await;
    assert_eq!(attempts[0]["succeeded"], true, "{attempts:?}");
}

/// A connecting company's own webhook API answers signing secrets: no cache may keep them,
/// as with the token endpoint and the control plane.
#[tokio::test]
async fn the_client_webhook_api_is_not_cached() {
    let app = TestApp::spawn().await;
    let res = app
        .http
        .post(app.url("/webhooks/v1/endpoints"))
        .basic_auth(DEMO_PAY.0, Some(DEMO_PAY.1))
        .json(&json!({"url": "https://example.com/hook", "eventTypes": ["transfer.completed"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    assert!(
        body["secret"].as_str().is_some_and(|s| s.starts_with("whsec_")),
        "{body}"
    );
    let res = app
        .http
        .get(app.url("/webhooks/v1/endpoints"))
        .basic_auth(DEMO_PAY.0, Some(DEMO_PAY.1))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
}
