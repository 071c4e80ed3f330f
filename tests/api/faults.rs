//! Rehearsing failure end to end over HTTP: fault rules and their `when` semantics, every
//! effect (status, latency, timeout, reset, ambiguous answers and drops, token expiry and
//! revocation, bank errors), the one-shot `Sandbank-Simulate` header, determinism under the
//! seed (two sandboxes, restarts, reset, snapshot restore), transfer outcome rules and the
//! scenario's magic beneficiaries, and a property test of random faults over concurrent
//! transfers that keeps the ledger whole.

use crate::common::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PAY: &[&str] = &["accounts:read", "transactions:read", "transfers:any"];
const TANAKA: &str = "00111234567";
const BALANCE: &str = "/personal/v1/accounts/balances?accountId=00111234567";

async fn pay_token(app: &TestApp, user: &str) -> String {
    let g = app.grant(user, "demo-pay", PAY).await;
    g["tokens"]["access_token"].as_str().unwrap().to_owned()
}

async fn add_rule(app: &TestApp, rule: Value) -> Value {
    let (status, body) = app.admin_post("/sandbox/v1/faults", rule).await;
    assert_eq!(status, 201, "add rule: {body}");
    body
}

async fn clear_rules(app: &TestApp) {
    let res = app
        .http
        .delete(app.url("/sandbox/v1/faults"))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
}

async fn balance_status(app: &TestApp, token: &str) -> (u16, Option<String>) {
    let res = app.get(BALANCE, token).await;
    let fault = res
        .headers()
        .get("sandbank-fault")
        .map(|v| v.to_str().unwrap().to_owned());
    (res.status().as_u16(), fault)
}

/// A balance read carrying a `Sandbank-Simulate` header.
async fn simulated_balance(app: &TestApp, token: &str, simulate: &str) -> reqwest::Response {
    app.http
        .get(app.url(BALANCE))
        .bearer_auth(token)
        .header("Sandbank-Simulate", simulate)
        .send()
        .await
        .unwrap()
}

async fn balance(app: &TestApp, token: &str) -> i64 {
    let (status, b) = app.get_json(BALANCE, token).await;
    assert_eq!(status, 200, "{b}");
    b["balances"][0]["balance"].as_str().unwrap().parse().unwrap()
}

async fn ledger_balanced(app: &TestApp) -> Value {
    let (status, l) = app.admin_get("/sandbox/v1/ledger").await;
    assert_eq!(status, 200);
    assert_eq!(l["discrepancy"], "0", "money is conserved: {l}");
    l
}

fn transfer(number: &str, amount: &str) -> Value {
    json!({"accountId": TANAKA, "transfers": [{"transferAmount": amount, "beneficiaryBankCode": "0009",
        "beneficiaryBranchCode": "001", "accountTypeCode": "1", "accountNumber": number, "beneficiaryName": "ﾃｽﾄ ﾀﾛｳ"}]})
}

async fn post_transfer(
    app: &TestApp,
    token: &str,
    body: &Value,
    key: Option<&str>,
) -> reqwest::Result<reqwest::Response> {
    let mut req = app
        .http
        .post(app.url("/personal/v1/transfer/request"))
        .bearer_auth(token)
        .json(body);
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    req.send().await
}

async fn status_of(app: &TestApp, token: &str, apply_no: &str) -> Value {
    let (status, st) = app
        .get_json(&format!("/personal/v1/transfer/status?applyNo={apply_no}"), token)
        .await;
    assert_eq!(status, 200, "{st}");
    st["transfers"][0].clone()
}

/// Every transfer of tanaka's account since the scenario's start.
async fn transfers_listed(app: &TestApp, token: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let mut path = format!("/personal/v1/transfer/status?accountId={TANAKA}&dateFrom=2026-11-21&limit=100");
        if let Some(k) = &next {
            path.push_str(&format!("&nextItemKey={k}"));
        }
        let (status, page) = app.get_json(&path, token).await;
        assert_eq!(status, 200, "{page}");
        all.extend(page["transfers"].as_array().unwrap().iter().cloned());
        match page["nextItemKey"].as_str() {
            Some(k) => next = Some(k.to_owned()),
            None => return all,
        }
    }
}

/// Sends a raw HTTP/1.1 request on its own TCP connection and reads until the server closes
/// it: the bytes answered (empty when the connection was cut), and whether it was reset.
async fn raw_request(app: &TestApp, method: &str, path: &str, token: &str, body: &str) -> (Vec<u8>, bool) {
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(20), stream.read(&mut buf)).await {
            Ok(Ok(0)) => return (answer, false),
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => return (answer, true),
            Ok(Err(e)) => panic!("read: {e}"),
            Err(_) => panic!("the server neither answered nor closed the connection"),
        }
    }
}

#[tokio::test]
async fn status_faults_answer_problems_without_running_and_count_nth_every_times_and_windows() {
    let app = TestApp::spawn().await;
    let token = app.access_token("tanaka", &["accounts:read"]).await;
    let rule = add_rule(
        &app,
        json!({"id": "balance-503", "match": {"operation": "GET /personal/v1/accounts/balances", "kind": "reference",
               "clientId": "demo-pfm", "username": "tanaka", "accountId": TANAKA},
               "when": {"nth": [1, 2]},
               "effect": {"status": 503, "retryAfter": "30s", "detail": "メンテナンス中 / down for a moment"}}),
    )
    .await;
    assert_eq!(rule["id"], "balance-503");
    assert_eq!(rule["hits"], 0);

    let res = app.get(BALANCE, &token).await;
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "30");
    assert_eq!(res.headers()["sandbank-fault"], "balance-503");
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/problem+json")
    );
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["code"], "service_unavailable");
    assert_eq!(problem["detail"], "メンテナンス中 / down for a moment");
    assert!(problem["requestId"].is_string(), "{problem}");
    assert_eq!(balance_status(&app, &token).await, (503, Some("balance-503".into())));
    assert_eq!(balance_status(&app, &token).await, (200, None), "only the 1st and 2nd");

    // Another user, another account, another client: not matched.
    let suzuki = app.access_token("suzuki", &["accounts:read"]).await;
    let (_, accounts) = app.get_json("/personal/v1/accounts", &suzuki).await;
    let suzuki_account = accounts["accounts"][0]["accountId"].as_str().unwrap().to_owned();
    let (status, _) = app
        .get_json(
            &format!("/personal/v1/accounts/balances?accountId={suzuki_account}"),
            &suzuki,
        )
        .await;
    assert_eq!(status, 200);

    let (_, listed) = app.admin_get("/sandbox/v1/faults/balance-503").await;
    assert_eq!(
        (listed["hits"].as_u64(), listed["matched"].as_u64()),
        (Some(2), Some(3)),
        "{listed}"
    );

    // The access log names the rule.
    let (_, log) = app.admin_get("/sandbox/v1/access-logs?limit=10").await;
    let faulted: Vec<&Value> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["faultRule"] == "balance-503")
        .collect();
    assert_eq!(faulted.len(), 2, "{log}");
    assert!(faulted.iter().all(|e| e["status"] == 503));

    // every + times: every 2nd matching request, at most twice.
    clear_rules(&app).await;
    add_rule(
        &app,
        json!({"id": "every-2nd", "match": {"kind": "reference"}, "when": {"every": 2, "times": 2},
               "effect": {"status": 500}}),
    )
    .await;
    let mut seen = Vec::new();
    for _ in 0..8 {
        seen.push(balance_status(&app, &token).await.0);
    }
    assert_eq!(seen, [200, 500, 200, 500, 200, 200, 200, 200]);
    let (_, rules) = app.admin_get("/sandbox/v1/faults").await;
    assert_eq!(rules["rules"][0]["remaining"], 0, "{rules}");

    // A window of sandbox time: from Sunday 00:00 to Monday 00:00 (the clock starts Saturday 09:00).
    clear_rules(&app).await;
    add_rule(
        &app,
        json!({"id": "sunday", "match": {"operation": "GET /personal/v1/accounts/balances"},
               "when": {"from": "2026-11-22T00:00:00+09:00", "until": "2026-11-23T00:00:00+09:00"},
               "effect": {"status": 502, "code": "upstream_down"}}),
    )
    .await;
    assert_eq!(balance_status(&app, &token).await.0, 200, "before the window");
    app.advance("PT16H").await; // Sunday 01:00
    let token = app.access_token("tanaka", &["accounts:read"]).await;
    let (status, problem) = app.get_json(BALANCE, &token).await;
    assert_eq!((status, problem["code"].as_str()), (502, Some("upstream_down")));
    app.advance("P1D").await; // Monday 01:00
    let token = app.access_token("tanaka", &["accounts:read"]).await;
    assert_eq!(balance_status(&app, &token).await.0, 200, "after the window");

    // The control plane is never faulted, so a rule can always be removed.
    add_rule(&app, json!({"id": "all", "effect": {"status": 503}})).await;
    assert_eq!(balance_status(&app, &token).await.0, 503);
    let (status, _) = app.admin_get("/sandbox/v1/faults").await;
    assert_eq!(status, 200);
    let res = app
        .http
        .delete(app.url("/sandbox/v1/faults/all"))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(balance_status(&app, &token).await.0, 200);
    let (status, _) = app.admin_get("/sandbox/v1/faults/all").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn bad_rules_get_422_saying_what_to_fix_and_nothing_is_added() {
    let app = TestApp::spawn().await;
    let cases = [
        (
            json!({"match": {"operation": "GET /personal/v1/nowhere"}, "effect": {"status": 503}}),
            "match.operation",
        ),
        (
            json!({"when": {"probability": 1.5}, "effect": {"status": 503}}),
            "when.probability",
        ),
        (
            json!({"when": {"from": "2026-11-24T00:00:00+09:00", "until": "2026-11-23T00:00:00+09:00"}, "effect": {"status": 503}}),
            "when.until",
        ),
        (json!({"match": {"kind": "reference"}, "effect": {}}), "effect"),
        (json!({"effect": {"status": 200}}), "effect.status"),
        (json!({"effect": {"status": 503, "latency": "1s"}}), "exactly one"),
        (json!({"effect": {"bankError": "no_such_error"}}), "effect.bankError"),
        (
            json!({"match": {"operation": "POST /sandbox/v1/faults"}, "effect": {"reset": true}}),
            "match.operation",
        ),
        (
            json!({"effect": {"latency": {"min": "2s", "max": "1s"}}}),
            "effect.latency",
        ),
    ];
    for (rule, field) in cases {
        let (status, problem) = app.admin_post("/sandbox/v1/faults", rule.clone()).await;
        assert_eq!(status, 422, "{rule} → {problem}");
        assert_eq!(problem["code"], "invalid_fault_rule");
        assert!(
            problem["detail"].as_str().unwrap().contains(field),
            "{rule} → {problem}"
        );
    }
    for shape in [
        json!({"effect": {"status": 503}, "surprise": 1}),
        json!({"match": [null, null], "effect": {"status": 503}}),
        json!({"effect": {"latency": ["1s", "2s"]}}),
        json!({"effect": {"ambiguous": [504]}}),
    ] {
        let (status, problem) = app.admin_post("/sandbox/v1/faults", shape.clone()).await;
        assert_eq!(status, 422, "{shape}: {problem}");
    }
    let (status, problem) = app
        .admin_post(
            "/sandbox/v1/transfer-outcomes",
            json!({"match": [null], "outcome": {"result": "failed"}}),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    let (_, rules) = app.admin_get("/sandbox/v1/faults").await;
    assert_eq!(rules["rules"], json!([]), "nothing was added");
    add_rule(&app, json!({"id": "twice", "effect": {"status": 503}})).await;
    let (status, problem) = app
        .admin_post("/sandbox/v1/faults", json!({"id": "twice", "effect": {"status": 500}}))
        .await;
    assert_eq!((status, problem["code"].as_str()), (409, Some("rule_exists")));
    // Without the admin key, nothing.
    let token = app.access_token("tanaka", &["accounts:read"]).await;
    let res = app.get("/sandbox/v1/faults", &token).await;
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn an_ambiguous_transfer_is_committed_once_the_status_tells_the_truth_and_a_keyed_retry_replays_it() {
    let app = TestApp::spawn().await;
    app.advance("P3D").await; // Tuesday 09:00, within transfer hours
    let token = pay_token(&app, "tanaka").await;
    let before = balance(&app, &token).await;
    add_rule(
        &app,
        json!({"id": "lost-answer", "match": {"operation": "POST /personal/v1/transfer/request"},
               "when": {"times": 1}, "effect": {"ambiguous": {"status": 504}}}),
    )
    .await;
    let body = transfer("7654321", "12345");
    let res = post_transfer(&app, &token, &body, Some("key-1")).await.unwrap();
    assert_eq!(res.status(), 504);
    assert_eq!(res.headers()["sandbank-fault"], "lost-answer");
    let problem: Value = res.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("may have been executed"),
        "{problem}"
    );

    // The status inquiry shows it done.
    let listed = transfers_listed(&app, &token).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["transferStatus"], "20");
    let apply_no = listed[0]["applyNo"].as_str().unwrap().to_owned();
    assert_eq!(balance(&app, &token).await, before - 12345 - 330);

    // A retry with the same key replays the real answer; nothing moves twice.
    let res = post_transfer(&app, &token, &body, Some("key-1")).await.unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    let replay: Value = res.json().await.unwrap();
    assert_eq!(replay["applyNo"], apply_no.as_str());
    assert_eq!(transfers_listed(&app, &token).await.len(), 1);
    assert_eq!(balance(&app, &token).await, before - 12345 - 330);

    // A retry without a key is a new transfer, as at a real bank.
    let res = post_transfer(&app, &token, &body, None).await.unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(transfers_listed(&app, &token).await.len(), 2);
    assert_eq!(balance(&app, &token).await, before - 2 * (12345 + 330));
    ledger_balanced(&app).await;

    // The connection is dropped instead of answered: the transfer still ran, once.
    add_rule(
        &app,
        json!({"id": "dropped", "match": {"operation": "POST /personal/v1/transfer/request"},
               "when": {"times": 1}, "effect": {"ambiguous": {"drop": true}}}),
    )
    .await;
    let (answer, _) = raw_request(
        &app,
        "POST",
        "/personal/v1/transfer/request",
        &token,
        &transfer("7654321", "777").to_string(),
    )
    .await;
    assert!(
        answer.is_empty(),
        "no answer at all: {}",
        String::from_utf8_lossy(&answer)
    );
    let listed = transfers_listed(&app, &token).await;
    assert_eq!(listed.len(), 3, "the dropped request was executed");
    assert!(listed.iter().any(|t| t["totalAmount"] == "777"));
    ledger_balanced(&app).await;
    let (_, log) = app.admin_get("/sandbox/v1/access-logs?limit=5").await;
    let dropped = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["faultRule"] == "dropped")
        .cloned()
        .unwrap();
    assert_eq!(dropped["status"], 0, "no answer: {dropped}");
    assert_eq!(status_of(&app, &token, &apply_no).await["transferStatus"], "20");
}

#[tokio::test]
async fn an_ambiguous_debit_is_taken_once_and_a_keyed_retry_replays_the_stored_answer() {
    let app = TestApp::spawn().await;
    let (status, g) = app
        .admin_post(
            "/sandbox/v1/grants",
            json!({"username": "tanaka", "clientId": "demo-biller", "scopes": ["debits"],
                   "mandate": {"accountId": TANAKA, "maxAmount": "50000", "monthlyMaxAmount": "100000"}}),
        )
        .await;
    assert_eq!(status, 201, "{g}");
    let biller = g["tokens"]["access_token"].as_str().unwrap().to_owned();
    let mandate = g["mandate"]["mandateId"].as_str().unwrap().to_owned();
    let reader = app.access_token("tanaka", &["accounts:read"]).await;
    let before = balance(&app, &reader).await;
    add_rule(
        &app,
        json!({"id": "lost-debit", "match": {"operation": "POST /personal/v1/debit/request"}, "when": {"times": 1},
               "effect": {"ambiguous": {"status": 502}}}),
    )
    .await;
    let body = json!({"mandateId": mandate, "amount": "3000", "remarks": "ﾃﾞﾝｷﾘﾖｳｷﾝ"});
    let send = || {
        app.http
            .post(app.url("/personal/v1/debit/request"))
            .bearer_auth(&biller)
            .header("Idempotency-Key", "debit-1")
            .json(&body)
            .send()
    };
    let res = send().await.unwrap();
    assert_eq!(res.status(), 502);
    assert_eq!(
        balance(&app, &reader).await,
        before - 3000,
        "taken although the answer was lost"
    );
    // The idempotency layer stored the real answer before the fault hid it.
    let res = send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["resultCode"], "0", "{answer}");
    assert_eq!(balance(&app, &reader).await, before - 3000, "and only once");
    ledger_balanced(&app).await;
}

#[tokio::test]
async fn timeouts_and_resets_cut_the_connection_and_the_operation_does_not_run() {
    let app = TestApp::spawn().await;
    app.advance("P3D").await;
    let token = pay_token(&app, "tanaka").await;
    let before = balance(&app, &token).await;
    add_rule(
        &app,
        json!({"id": "slow-bank", "match": {"operation": "POST /personal/v1/transfer/request"},
               "when": {"nth": [1]}, "effect": {"timeout": "1s"}}),
    )
    .await;
    let started = Instant::now();
    let (answer, _) = raw_request(
        &app,
        "POST",
        "/personal/v1/transfer/request",
        &token,
        &transfer("7654321", "1000").to_string(),
    )
    .await;
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    assert!(started.elapsed() >= Duration::from_secs(1), "held for the timeout");
    assert_eq!(
        transfers_listed(&app, &token).await.len(),
        0,
        "the operation did not run"
    );
    assert_eq!(balance(&app, &token).await, before);

    clear_rules(&app).await;
    add_rule(
        &app,
        json!({"id": "rst", "match": {"operation": "GET /personal/v1/accounts/balances"}, "when": {"times": 1}, "effect": {"reset": true}}),
    )
    .await;
    let (answer, reset) = raw_request(&app, "GET", BALANCE, &token, "").await;
    assert!(answer.is_empty());
    assert!(reset, "the connection was reset, not closed");
    // reqwest sees a failed request, and the next one works.
    let res = app.http.get(app.url(BALANCE)).bearer_auth(&token).send().await;
    assert_eq!(res.unwrap().status(), 200, "times: 1 is spent");

    // Latency: delay, then run.
    add_rule(
        &app,
        json!({"id": "slow", "match": {"operation": "GET /personal/v1/accounts/balances"}, "effect": {"latency": "400ms"}}),
    )
    .await;
    let started = Instant::now();
    let res = app.get(BALANCE, &token).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["sandbank-fault"], "slow");
    assert!(started.elapsed() >= Duration::from_millis(400));
}

#[tokio::test]
async fn token_faults_end_the_token_and_the_refresh_behaves_like_a_real_bank() {
    let app = TestApp::spawn().await;
    let grant = app.grant("tanaka", "demo-pfm", &["accounts:read"]).await;
    let access = grant["tokens"]["access_token"].as_str().unwrap().to_owned();
    let refresh = grant["tokens"]["refresh_token"].as_str().unwrap().to_owned();
    add_rule(
        &app,
        json!({"id": "expire", "match": {"operation": "GET /personal/v1/accounts"}, "when": {"times": 1}, "effect": {"tokenExpired": true}}),
    )
    .await;
    let (status, problem) = app.get_json("/personal/v1/accounts", &access).await;
    assert_eq!((status, problem["code"].as_str()), (401, Some("invalid_token")));
    assert!(problem["detail"].as_str().unwrap().contains("expired"), "{problem}");
    // From now on, on every operation, although the rule is spent.
    let (status, _) = app.get_json(BALANCE, &access).await;
    assert_eq!(status, 401);
    // The refresh token still works.
    let (status, fresh) = app
        .token_request(
            "demo-pfm",
            &app.demo_secret,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(status, 200, "{fresh}");
    let access = fresh["access_token"].as_str().unwrap().to_owned();
    let refresh = fresh["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(app.get_json(BALANCE, &access).await.0, 200);

    add_rule(
        &app,
        json!({"id": "revoke", "match": {"username": "tanaka"}, "when": {"times": 1}, "effect": {"tokenRevoked": true}}),
    )
    .await;
    let (status, problem) = app.get_json(BALANCE, &access).await;
    assert_eq!((status, problem["code"].as_str()), (401, Some("invalid_token")));
    assert_eq!(app.get_json(BALANCE, &access).await.0, 401);
    let (status, err) = app
        .token_request(
            "demo-pfm",
            &app.demo_secret,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!((status, err["error"].as_str()), (400, Some("invalid_grant")), "{err}");
    // Another user's token is untouched.
    let suzuki = app.access_token("suzuki", &["accounts:read"]).await;
    assert_eq!(app.get_json("/personal/v1/accounts", &suzuki).await.0, 200);
}

#[tokio::test]
async fn bank_errors_refuse_updates_and_token_endpoint_faults_use_the_oauth_shape() {
    let app = TestApp::spawn().await;
    app.advance("P3D").await;
    let token = pay_token(&app, "tanaka").await;
    let before = balance(&app, &token).await;
    add_rule(
        &app,
        json!({"id": "frozen", "match": {"kind": "update", "accountId": TANAKA}, "effect": {"bankError": "account_frozen"}}),
    )
    .await;
    let res = post_transfer(&app, &token, &transfer("7654321", "1000"), Some("k-frozen"))
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["code"], "account_frozen");
    assert!(problem["detail"].as_str().unwrap().contains("frozen"));
    assert_eq!(
        balance(&app, &token).await,
        before,
        "reads are not refused, nothing moved"
    );
    assert_eq!(transfers_listed(&app, &token).await.len(), 0);
    // The faulted answer was not stored for the key: with the rule gone, the retry runs.
    clear_rules(&app).await;
    let res = post_transfer(&app, &token, &transfer("7654321", "1000"), Some("k-frozen"))
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert!(res.headers().get("idempotent-replayed").is_none());

    add_rule(
        &app,
        json!({"id": "token-down", "match": {"kind": "token", "clientId": "demo-pfm"}, "when": {"nth": [1]},
               "effect": {"status": 503, "retryAfter": "5s", "code": "temporarily_unavailable"}}),
    )
    .await;
    let form = [("grant_type", "refresh_token"), ("refresh_token", "whatever")];
    let (status, err) = app.token_request("demo-pfm", &app.demo_secret, &form).await;
    assert_eq!(status, 503);
    assert_eq!(err["error"], "temporarily_unavailable", "RFC 6749 shape: {err}");
    assert!(err["error_description"].is_string());
    let (status, _) = app.token_request("demo-pfm", &app.demo_secret, &form).await;
    assert_eq!(status, 400, "only the first");
}

#[tokio::test]
async fn the_simulate_header_forces_one_outcome_when_the_scenario_allows_it() {
    let app = TestApp::spawn().await;
    app.advance("P3D").await;
    let token = pay_token(&app, "tanaka").await;
    let res = simulated_balance(&app, &token, "status=503; retryAfter=2s").await;
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "2");
    assert_eq!(res.headers()["sandbank-fault"], "simulate-header");
    let res = app
        .http
        .post(app.url("/personal/v1/transfer/request"))
        .bearer_auth(&token)
        .header("Sandbank-Simulate", "ambiguous=504")
        .json(&transfer("7654321", "4321"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 504);
    assert_eq!(transfers_listed(&app, &token).await.len(), 1, "executed");
    let res = simulated_balance(&app, &token, "explode").await;
    assert_eq!(res.status(), 400);
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["code"], "invalid_simulate_header");

    // A scenario that does not allow it says so.
    let strict = sandbank::scenario::DEFAULT_SCENARIO.replace(
        "faultSettings: { showRule: true, simulateHeader: true }",
        "faultSettings: { showRule: false, simulateHeader: false }\nfaults:\n  - { id: quiet, match: { operation: \"GET /personal/v1/accounts\" }, effect: { status: 503 } }",
    );
    let app = TestApp::spawn_with(&strict).await;
    let token = app.access_token("tanaka", &["accounts:read"]).await;
    let res = simulated_balance(&app, &token, "status=503").await;
    assert_eq!(res.status(), 400);
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["code"], "simulate_header_not_allowed");
    // The scenario's rule applies, without naming itself (showRule: false), but the log does.
    let res = app.get("/personal/v1/accounts", &token).await;
    assert_eq!(res.status(), 503);
    assert!(res.headers().get("sandbank-fault").is_none());
    let (_, log) = app.admin_get("/sandbox/v1/access-logs?limit=3").await;
    assert_eq!(log["entries"][0]["faultRule"], "quiet", "{log}");
}

/// The statuses a sandbox answers to `n` balance reads under a probabilistic rule and a
/// random latency rule.
async fn fault_sequence(app: &TestApp, n: usize) -> Vec<(u16, Option<String>)> {
    let token = app.access_token("tanaka", &["accounts:read"]).await;
    let mut seq = Vec::new();
    for _ in 0..n {
        seq.push(balance_status(app, &token).await);
    }
    seq
}

const RANDOM_RULES: [&str; 2] = [
    r#"{"id": "coin", "match": {"operation": "GET /personal/v1/accounts/balances"}, "when": {"probability": 0.3}, "effect": {"status": 503}}"#,
    r#"{"id": "jitter", "match": {"kind": "reference"}, "when": {"probability": 0.2}, "effect": {"latency": {"min": "0ms", "max": "5ms"}}}"#,
];

#[tokio::test]
async fn the_same_rules_and_requests_give_the_same_faults_across_sandboxes_restarts_resets_and_snapshots() {
    let app = TestApp::spawn().await;
    let mut sequences = Vec::new();
    let mut views = Vec::new();
    for _ in 0..2 {
        let (status, created) = app.create_sandbox(json!({"scenario": "default"})).await;
        assert_eq!(status, 201, "{created}");
        let sandbox = app.sandbox(&created);
        for rule in RANDOM_RULES {
            add_rule(&sandbox, serde_json::from_str(rule).unwrap()).await;
        }
        sequences.push(fault_sequence(&sandbox, 40).await);
        views.push(sandbox);
    }
    assert_eq!(sequences[0], sequences[1], "same rules, same requests, same faults");
    let faulted = sequences[0].iter().filter(|(s, _)| *s == 503).count();
    assert!((4..=24).contains(&faulted), "probability 0.3 over 40: {faulted}");
    assert!(sequences[0].iter().any(|(_, f)| f.as_deref() == Some("jitter")));

    // A snapshot keeps counters and the stream's position; both sandboxes continue alike
    // after one of them goes back to it.
    let (a, b) = (&views[0], &views[1]);
    let (status, _) = a.admin_post("/sandbox/v1/snapshots", json!({"name": "mid"})).await;
    assert_eq!(status, 201);
    let next_a = fault_sequence(a, 20).await;
    let (status, _) = a.admin_post("/sandbox/v1/snapshots/mid/restore", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(
        fault_sequence(a, 20).await,
        next_a,
        "restored counters and stream replay the same faults"
    );
    assert_eq!(
        fault_sequence(b, 20).await,
        next_a,
        "the other sandbox went the same way"
    );

    // A reset goes back to the scenario's rules (none) and a fresh stream.
    let (status, _) = a.admin_post("/sandbox/v1/reset", json!({})).await;
    assert_eq!(status, 200);
    let (_, rules) = a.admin_get("/sandbox/v1/faults").await;
    assert_eq!(rules["rules"], json!([]));
    for rule in RANDOM_RULES {
        add_rule(a, serde_json::from_str(rule).unwrap()).await;
    }
    assert_eq!(fault_sequence(a, 40).await, sequences[0], "from the start again");
}

#[tokio::test]
async fn fault_counters_and_the_stream_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut app = TestApp::spawn_on(sandbank::scenario::DEFAULT_SCENARIO, data.clone()).await;
    for rule in RANDOM_RULES {
        add_rule(&app, serde_json::from_str(rule).unwrap()).await;
    }
    let first = fault_sequence(&app, 30).await;
    let (_, before) = app.admin_get("/sandbox/v1/faults").await;
    app.stop().await;
    let app = TestApp::spawn_on(sandbank::scenario::DEFAULT_SCENARIO, data.clone()).await;
    let (_, after) = app.admin_get("/sandbox/v1/faults").await;
    assert_eq!(before, after, "rules and counters are back");
    let rest = fault_sequence(&app, 30).await;

    // The same 60 requests on a fresh sandbox with the same rules give the same faults.
    let fresh = TestApp::spawn().await;
    for rule in RANDOM_RULES {
        add_rule(&fresh, serde_json::from_str(rule).unwrap()).await;
    }
    let all = fault_sequence(&fresh, 60).await;
    assert_eq!(all[..30], first[..]);
    assert_eq!(all[30..], rest[..], "the restart did not change the sequence");
}

#[tokio::test]
async fn magic_beneficiaries_end_each_way_and_move_money_through_the_ledger() {
    let app = TestApp::spawn().await;
    app.advance("P3D").await; // Tuesday 2026-11-24 09:00
    let token = pay_token(&app, "tanaka").await;
    let start = balance(&app, &token).await;
    let (_, rules) = app.admin_get("/sandbox/v1/transfer-outcomes").await;
    assert_eq!(rules["rules"].as_array().unwrap().len(), 5, "{rules}");

    async fn send_to(app: &TestApp, token: &str, number: &str, amount: &str) -> (String, String) {
        let res = post_transfer(app, token, &transfer(number, amount), None)
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let r: Value = res.json().await.unwrap();
        (
            r["applyNo"].as_str().unwrap().to_owned(),
            r["transferStatus"].as_str().unwrap().to_owned(),
        )
    }
    let send = |number: &'static str, amount: &'static str| send_to(&app, &token, number, amount);
    let (returned, s) = send("0000022", "10000").await;
    assert_eq!(s, "20", "completed first");
    let (retrying, s) = send("0000013", "20000").await;
    assert_eq!(s, "13");
    let (processing, s) = send("0000012", "30000").await;
    assert_eq!(s, "12");
    let (failed, s) = send("0000040", "40000").await;
    assert_eq!(s, "40");
    let (failed_later, s) = send("0000041", "50000").await;
    assert_eq!(s, "12");
    // Debited: all but the one refused at once (330 below 30,000 yen, 550 from it).
    let debited = (10000 + 330) + (20000 + 330) + (30000 + 550) + (50000 + 550);
    assert_eq!(balance(&app, &token).await, start - debited);
    ledger_balanced(&app).await;
    let st = status_of(&app, &token, &failed).await;
    assert!(st["transferStatusName"].is_string());

    app.advance("PT1H").await; // 10:00
    let token = pay_token(&app, "tanaka").await;
    assert_eq!(status_of(&app, &token, &retrying).await["transferStatus"], "20");
    assert_eq!(status_of(&app, &token, &processing).await["transferStatus"], "12");
    assert_eq!(status_of(&app, &token, &failed_later).await["transferStatus"], "40");
    assert_eq!(status_of(&app, &token, &returned).await["transferStatus"], "20");
    // The late failure gave back the amount and the fee.
    assert_eq!(balance(&app, &token).await, start - debited + 50000 + 550);
    ledger_balanced(&app).await;

    app.advance("PT1H").await; // 11:00
    let token = pay_token(&app, "tanaka").await;
    assert_eq!(status_of(&app, &token, &processing).await["transferStatus"], "20");

    app.advance("PT22H").await; // Wednesday 09:00, the next business day
    let token = pay_token(&app, "tanaka").await;
    assert_eq!(status_of(&app, &token, &returned).await["transferStatus"], "22");
    // Returned: the amount comes back, the fee stays.
    assert_eq!(balance(&app, &token).await, start - debited + 50000 + 550 + 10000);
    let l = ledger_balanced(&app).await;
    let suspense = l["systemAccounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "suspense")
        .unwrap()
        .clone();
    assert_eq!(suspense["balance"], "0", "{l}");
    let (_, notes) = app.admin_get("/sandbox/v1/notifications?username=tanaka").await;
    let text = notes.to_string();
    assert!(text.contains("資金返却"), "{notes}");
    assert!(text.contains("振込不能"), "{notes}");
    let (_, events) = app.admin_get("/sandbox/v1/events?limit=1000").await;
    let types_of = |apply_no: &str| -> Vec<String> {
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["data"]["applyNo"] == apply_no)
            .map(|e| e["type"].as_str().unwrap().to_owned())
            .collect()
    };
    // Every new request is reported accepted, then the remitter's account debited (unless
    // nothing could be sent), then its status.
    assert_eq!(
        types_of(&returned),
        [
            "transfer.accepted",
            "account.debited",
            "transfer.completed",
            "transfer.item_returned",
            "transfer.returned"
        ],
        "completed, then returned"
    );
    let held = ["transfer.accepted", "account.debited", "transfer.processing"];
    assert_eq!(types_of(&retrying), [&held[..], &["transfer.completed"]].concat());
    assert_eq!(types_of(&processing), [&held[..], &["transfer.completed"]].concat());
    assert_eq!(types_of(&failed), ["transfer.accepted", "transfer.failed"]);
    assert_eq!(types_of(&failed_later), [&held[..], &["transfer.failed"]].concat());

    // A rule added at run time decides the next transfer.
    let (status, rule) = app
        .admin_post(
            "/sandbox/v1/transfer-outcomes",
            json!({"id": "big-ones-fail", "match": {"minAmount": "900000"}, "outcome": {"result": "failed"}}),
        )
        .await;
    assert_eq!(status, 201, "{rule}");
    let (_, s) = send_to(&app, &token, "1234567", "950000").await;
    assert_eq!(s, "40");
    let (status, problem) = app
        .admin_post(
            "/sandbox/v1/transfer-outcomes",
            json!({"match": {"bankCode": "0999"}, "outcome": {"result": "returned"}}),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    ledger_balanced(&app).await;
}

mod property {
    use super::*;
    use proptest::prelude::*;

    /// One random fault rule on transfer requests.
    fn rule_strategy() -> impl Strategy<Value = Value> {
        let effect = prop_oneof![
            (500u16..=504).prop_map(|s| json!({"status": s})),
            Just(json!({"ambiguous": {"status": 504}})),
            Just(json!({"ambiguous": {"drop": true}})),
            (0u64..20).prop_map(|ms| json!({"latency": {"min": "0ms", "max": format!("{ms}ms")}})),
            Just(json!({"reset": true})),
        ];
        (effect, 0.15f64..0.5).prop_map(|(effect, p)| {
            json!({"match": {"operation": "POST /personal/v1/transfer/request"}, "when": {"probability": p}, "effect": effect})
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3, failure_persistence: None, ..ProptestConfig::default() })]

        /// Concurrent keyed transfers under random faults, each retried with its key until it
        /// is acknowledged: the ledger stays whole and every transfer exists exactly once.
        #[test]
        fn random_faults_over_concurrent_transfers_keep_the_ledger_and_make_each_transfer_once(
            rules in proptest::collection::vec(rule_strategy(), 1..4)
        ) {
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let app = TestApp::spawn().await;
                app.advance("P3D").await;
                let token = pay_token(&app, "tanaka").await;
                for rule in rules {
                    add_rule(&app, rule).await;
                }
                let start = balance_raw(&app, &token).await;
                let workers = 8;
                let per_worker = 6;
                let mut tasks = Vec::new();
                for w in 0..workers {
                    let (http, base, token) = (app.http.clone(), app.base.clone(), token.clone());
                    tasks.push(tokio::spawn(async move {
                        let mut amounts = Vec::new();
                        for i in 0..per_worker {
                            let amount = 1000 + w * 100 + i;
                            let key = format!("prop-{w}-{i}");
                            let body = transfer("7654321", &amount.to_string());
                            // Retry with the same key until the bank acknowledges it.
                            let mut tries = 0;
                            loop {
                                tries += 1;
                                assert!(tries < 200, "never acknowledged");
                                let sent = http
                                    .post(format!("{base}/personal/v1/transfer/request"))
                                    .bearer_auth(&token)
                                    .header("Idempotency-Key", &key)
                                    .json(&body)
                                    .send()
                                    .await;
                                match sent {
                                    Ok(res) if res.status() == 201 => break,
                                    Ok(res) => assert!(res.status().is_server_error() || res.status() == 409, "{}", res.status()),
                                    Err(_) => {} // cut: reset or dropped
                                }
                            }
                            amounts.push(amount.to_string());
                        }
                        amounts
                    }));
                }
                let mut amounts = Vec::new();
                for t in tasks {
                    amounts.extend(t.await.unwrap());
                }
                let (_, rules) = app.admin_get("/sandbox/v1/faults").await;
                let hits: u64 = rules["rules"].as_array().unwrap().iter().map(|r| r["hits"].as_u64().unwrap()).sum();
                assert!(hits > 0, "the rules fired: {rules}");
                clear_rules(&app).await;
                let listed = transfers_listed(&app, &token).await;
                let mut listed_amounts: Vec<String> =
                    listed.iter().map(|t| t["totalAmount"].as_str().unwrap().to_owned()).collect();
                listed_amounts.sort();
                amounts.sort();
                assert_eq!(listed_amounts, amounts, "each acknowledged transfer exists exactly once");
                let fees: i64 = amounts.len() as i64 * 330;
                let sent: i64 = amounts.iter().map(|a| a.parse::<i64>().unwrap()).sum();
                assert_eq!(balance_raw(&app, &token).await, start - sent - fees);
                ledger_balanced(&app).await;
            });
        }
    }

    async fn balance_raw(app: &TestApp, token: &str) -> i64 {
        balance(app, token).await
    }
}
