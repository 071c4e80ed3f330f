//! Webhooks end to end with a real receiver (a small axum server in the test): endpoints
//! managed with client credentials, events from real operations, signatures checked by the
//! Standard Webhooks reference verifier, the retry schedule walked with the sandbox clock,
//! 410, Retry-After, redelivery and recovery, the undelivered list, secret rotation, every
//! delivery fault, and authorization (no client receives another's or an ungranted user's
//! events).

mod common;

use axum::http::HeaderMap;
use common::*;
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
    let (status, a) = app.admin_get(&format!("/webhooks/v1/messages/{msg}/attempts")).await;
    assert_eq!(status, 200, "{a}");
    a["attempts"].as_array().unwrap().clone()
}

/// Waits until the message has `n` attempts logged (an attempt is logged after the receiver
/// answered).
async fn wait_attempts(app: &TestApp, msg: &str, n: usize) -> Vec<Value> {
    for _ in 0..300 {
        let a = attempts(app, msg).await;
        if a.len() >= n {
            return a;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{msg} never reached {n} attempts: {:?}", attempts(app, msg).await);
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
