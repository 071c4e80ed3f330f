//! Integrity and security fixes, each proved from outside over HTTP: the event outbox read
//! while many writers commit, idempotency keys that belong to one user and replay only to an
//! authorized caller, mandates bound to the user who granted them and to the consent, no
//! money into a closed account, per-item outcomes of a partly returned transfer, ID tokens on
//! real time, login and one-time-code lockout, security headers, and the control plane's
//! user-facing identifiers.

use crate::common::*;
use base64::Engine;
use serde_json::{Value, json};
use std::collections::BTreeSet;

const TANAKA: &str = "00111234567";
const SUZUKI: &str = "00212345678";

fn to_suzuki(amount: &str) -> Value {
    json!({"transferAmount": amount, "beneficiaryBankCode": "0999", "beneficiaryBranchCode": "002",
           "accountTypeCode": "1", "accountNumber": "2345678", "beneficiaryName": "ｽｽﾞｷ ﾊﾅｺ"})
}

async fn post(app: &TestApp, path: &str, token: &str, key: Option<&str>, body: &Value) -> reqwest::Response {
    let mut req = app.http.post(app.url(path)).bearer_auth(token).json(body);
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    req.send().await.unwrap()
}

async fn token(app: &TestApp, user: &str, client: &str, scopes: &[&str]) -> String {
    app.grant(user, client, scopes).await["tokens"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn all_events(app: &TestApp) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = 0u64;
    loop {
        let (status, page) = app
            .admin_get(&format!("/sandbox/v1/events?after={after}&limit=1000"))
            .await;
        assert_eq!(status, 200, "{page}");
        let events = page["events"].as_array().unwrap().clone();
        if events.is_empty() {
            return out;
        }
        after = events.last().unwrap()["seq"].as_u64().unwrap();
        out.extend(events);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_paged_while_writers_commit_misses_and_repeats_nothing() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    let (_, page) = app.admin_get("/sandbox/v1/accounts?limit=60").await;
    let accounts = individual_accounts(&page);
    let writers = 16;
    let per_writer = 15;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let app = app.clone();
        let from = accounts[w].clone();
        let to = accounts[writers + w].clone();
        tasks.push(tokio::spawn(async move {
            let user = from["customerId"].as_str().unwrap().to_owned();
            let t = token(&app, &user, "demo-pay", &["transfers:any"]).await;
            for n in 0..per_writer {
                if n % 3 == 0 {
                    // Another kind of writer: a credit through the control plane.
                    let (status, _) = app
                        .admin_post(
                            &format!("/sandbox/v1/accounts/{}/credit", from["accountId"].as_str().unwrap()),
                            json!({"amount": "1000", "remitterName": "ｿﾄ"}),
                        )
                        .await;
                    assert_eq!(status, 201);
                }
                let body = json!({"accountId": from["accountId"], "transfers": [{"transferAmount": "1",
                    "beneficiaryBankCode": "0999", "beneficiaryBranchCode": to["branchCode"],
                    "accountTypeCode": to["accountTypeCode"], "accountNumber": to["accountNumber"],
                    "beneficiaryName": to["accountNameKana"]}]});
                let r = post(&app, "/personal/v1/transfer/request", &t, None, &body).await;
                assert_eq!(r.status(), 201);
            }
        }));
    }
    // A reader pages with after=<last seq seen> the whole time, as a webhook dispatcher would.
    let reader = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut after = 0u64;
            let mut idle = 0;
            while idle < 30 {
                let (_, page) = app
                    .admin_get(&format!("/sandbox/v1/events?after={after}&limit=7"))
                    .await;
                let events = page["events"].as_array().unwrap();
                if events.is_empty() {
                    idle += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    continue;
                }
                idle = 0;
                for e in events {
                    let seq = e["seq"].as_u64().unwrap();
                    assert!(seq > after, "events come in sequence order");
                    after = seq;
                    seen.push(seq);
                }
            }
            seen
        })
    };
    for t in tasks {
        t.await.unwrap();
    }
    let seen = reader.await.unwrap();
    let all: Vec<u64> = all_events(&app)
        .await
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    let expected: Vec<u64> = (1..=all.len() as u64).collect();
    assert_eq!(all, expected, "the sequence is dense: 1, 2, 3 … without gaps");
    assert_eq!(seen, all, "the paging reader saw every event exactly once, in order");
    assert!(
        all.len() >= writers * per_writer * 2,
        "transfers and credits wrote events"
    );
}

#[tokio::test]
async fn idempotency_keys_belong_to_one_user_and_replay_only_what_the_caller_may_see() {
    let app = TestApp::spawn().await;
    let tanaka = token(&app, "tanaka", "demo-pay", &["accounts:read", "transfers:any"]).await;
    let suzuki = token(&app, "suzuki", "demo-pay", &["accounts:read", "transfers:any"]).await;
    let tanaka_read_only = token(&app, "tanaka", "demo-pay", &["accounts:read"]).await;
    let body = json!({"accountId": TANAKA, "transfers": [to_suzuki("1000")]});

    let first = post(&app, "/personal/v1/transfer/request", &tanaka, Some("K"), &body).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();

    // Same client, same key, same body, another user: her own (failing) request, no replay.
    let other = post(&app, "/personal/v1/transfer/request", &suzuki, Some("K"), &body).await;
    assert_eq!(other.status(), 404, "tanaka's account is not suzuki's");
    assert!(other.headers().get("idempotent-replayed").is_none());
    let other: Value = other.json().await.unwrap();
    assert!(
        other.get("applyNo").is_none(),
        "nothing of tanaka's transfer leaks: {other}"
    );

    // The same on the fee quote.
    let quote = post(&app, "/personal/v1/transfer/transferfee", &tanaka, Some("Q"), &body).await;
    assert_eq!(quote.status(), 200);
    let other = post(&app, "/personal/v1/transfer/transferfee", &suzuki, Some("Q"), &body).await;
    assert_eq!(other.status(), 404);
    assert!(other.headers().get("idempotent-replayed").is_none());

    // tanaka's own token without a transfer scope: 403, as without the key.
    for (path, key) in [
        ("/personal/v1/transfer/request", "K"),
        ("/personal/v1/transfer/transferfee", "Q"),
    ] {
        let r = post(&app, path, &tanaka_read_only, Some(key), &body).await;
        assert_eq!(r.status(), 403, "{path}");
        assert!(r.headers().get("idempotent-replayed").is_none());
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["code"], "insufficient_scope");
    }

    // tanaka's retry replays his own transfer.
    let again = post(&app, "/personal/v1/transfer/request", &tanaka, Some("K"), &body).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["applyNo"], first["applyNo"]);
    let quote_again = post(&app, "/personal/v1/transfer/transferfee", &tanaka, Some("Q"), &body).await;
    assert_eq!(quote_again.headers()["idempotent-replayed"], "true");

    // An answer made in front of the operation (403) is not stored: the retry with the right
    // token runs the operation.
    let denied = post(
        &app,
        "/personal/v1/transfer/request",
        &tanaka_read_only,
        Some("K2"),
        &body,
    )
    .await;
    assert_eq!(denied.status(), 403);
    let ran = post(&app, "/personal/v1/transfer/request", &tanaka, Some("K2"), &body).await;
    assert_eq!(ran.status(), 201);
    assert!(
        ran.headers().get("idempotent-replayed").is_none(),
        "it ran, it was not replayed"
    );
    // A revoked grant: 401, never a replay.
    let (_, grants) = app.admin_get("/sandbox/v1/grants?username=tanaka").await;
    for g in grants["grants"].as_array().unwrap() {
        let res = app
            .http
            .delete(app.url(&format!("/sandbox/v1/grants/{}", g["grantId"].as_str().unwrap())))
            .bearer_auth(&app.admin_key)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
    }
    let revoked = post(&app, "/personal/v1/transfer/request", &tanaka, Some("K"), &body).await;
    assert_eq!(revoked.status(), 401);
    assert!(revoked.headers().get("idempotent-replayed").is_none());
}

#[tokio::test]
async fn a_mandate_serves_only_the_user_who_granted_it_and_ends_with_the_consent() {
    let app = TestApp::spawn().await;
    let granted = app
        .admin_post(
            "/sandbox/v1/grants",
            json!({"username": "tanaka", "clientId": "demo-biller", "scopes": ["debits"],
                   "mandate": {"accountId": TANAKA, "maxAmount": "10000", "monthlyMaxAmount": "30000"}}),
        )
        .await;
    assert_eq!(granted.0, 201, "{}", granted.1);
    let tanaka_biller = granted.1["tokens"]["access_token"].as_str().unwrap().to_owned();
    let mandate = granted.1["mandate"]["mandateId"].as_str().unwrap().to_owned();
    let grant_id = granted.1["grantId"].as_str().unwrap().to_owned();
    let suzuki_biller = token(&app, "suzuki", "demo-biller", &["debits"]).await;
    let reader = token(&app, "tanaka", "demo-pfm", &["accounts:read"]).await;
    let balance = || async {
        let (_, b) = app
            .get_json(&format!("/personal/v1/accounts/balances?accountId={TANAKA}"), &reader)
            .await;
        b["balances"][0]["balance"].as_str().unwrap().to_owned()
    };
    let debit = |t: String| {
        let app = &app;
        let mandate = mandate.clone();
        async move {
            let r = post(
                app,
                "/personal/v1/debit/request",
                &t,
                None,
                &json!({"mandateId": mandate, "amount": "3000"}),
            )
            .await;
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };

    let before = balance().await;
    let r = debit(suzuki_biller.clone()).await;
    assert_eq!(r["resultCode"], "4", "suzuki's token cannot use tanaka's mandate: {r}");
    assert_eq!(balance().await, before, "nothing was debited");
    let (_, list) = app.get_json("/personal/v1/debit/mandates", &suzuki_biller).await;
    assert_eq!(
        list["mandates"],
        json!([]),
        "suzuki's token lists none of tanaka's mandates"
    );

    let r = debit(tanaka_biller.clone()).await;
    assert_eq!(r["resultCode"], "0", "{r}");

    // tanaka revokes the consent: the mandate ends with it.
    let res = app
        .http
        .delete(app.url(&format!("/sandbox/v1/grants/{grant_id}")))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let (_, mandates) = app.admin_get("/sandbox/v1/mandates?username=tanaka").await;
    assert_eq!(mandates["mandates"][0]["status"], "consentEnded", "{mandates}");
    // A later consent without a mandate does not revive it: 3, stopped on the depositor's side.
    let tanaka_again = token(&app, "tanaka", "demo-biller", &["debits"]).await;
    let after = balance().await;
    let r = debit(tanaka_again).await;
    assert_eq!(r["resultCode"], "3", "{r}");
    assert_eq!(balance().await, after);

    let types: Vec<String> = all_events(&app)
        .await
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    for t in ["mandate.created", "debit.completed", "grant.revoked", "mandate.stopped"] {
        assert!(types.iter().any(|x| x == t), "{t} in {types:?}");
    }
}

#[tokio::test]
async fn closed_accounts_take_no_money_and_partly_returned_transfers_say_so() {
    let app = TestApp::spawn().await;
    let (status, _) = app
        .admin_post(&format!("/sandbox/v1/accounts/{SUZUKI}/close"), json!({}))
        .await;
    assert_eq!(status, 200);
    let (status, problem) = app
        .admin_post(
            &format!("/sandbox/v1/accounts/{SUZUKI}/credit"),
            json!({"amount": "5000", "remitterName": "ｿﾄ"}),
        )
        .await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["code"], "account_closed");
    let (_, ledger) = app.admin_get("/sandbox/v1/ledger").await;
    assert_eq!(ledger["discrepancy"], "0");

    // Two items to suzuki: one right (20), one with a name her account does not have (22).
    let app = TestApp::spawn().await;
    let pay = token(&app, "tanaka", "demo-pay", &["accounts:read", "transfers:any"]).await;
    let body = json!({"accountId": TANAKA, "transfers": [
        to_suzuki("12000"),
        {"transferAmount": "3000", "beneficiaryBankCode": "0999", "beneficiaryBranchCode": "002",
         "accountTypeCode": "1", "accountNumber": "2345678", "beneficiaryName": "ﾀﾆﾝ ﾉ ﾅﾏｴ"}]});
    let r = post(&app, "/personal/v1/transfer/request", &pay, None, &body).await;
    assert_eq!(r.status(), 201);
    let t: Value = r.json().await.unwrap();
    assert_eq!(
        t["transferStatus"], "22",
        "a returned item is not hidden behind 20: {t}"
    );
    assert_eq!(t["resultCode"], "2");
    assert_eq!(t["completedCount"], 1);
    assert_eq!(t["returnedCount"], 1);
    assert_eq!(t["returnedAmount"], "3000");
    assert_eq!(t["transfers"][0]["transferStatus"], "20");
    assert_eq!(t["transfers"][1]["transferStatus"], "22");
    let events = all_events(&app).await;
    let of = |ty: &str| events.iter().filter(|e| e["type"] == ty).cloned().collect::<Vec<_>>();
    assert_eq!(of("transfer.item_returned").len(), 1);
    assert_eq!(of("transfer.item_returned")[0]["data"]["itemId"], 2);
    assert_eq!(of("transfer.partially_completed").len(), 1);
    assert!(of("transfer.completed").is_empty(), "not reported as completed");
    let (_, n) = app.admin_get("/sandbox/v1/notifications?username=tanaka").await;
    let bodies: Vec<&str> = n["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["body"].as_str().unwrap())
        .collect();
    assert!(
        bodies.iter().any(|b| b.contains("3,000円を口座に戻しました")),
        "the customer is told of the returned money: {bodies:?}"
    );
}

fn jwt_claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn id_tokens_carry_real_time_so_oidc_libraries_accept_them_on_any_date() {
    let app = TestApp::spawn().await;
    // The default world starts on 2026-11-21 whatever today is, and time travel moves it on.
    app.advance("P40D").await;
    let tokens = code_flow_tokens(&app, "tanaka", "tanaka-pass", "openid profile accounts:read").await;
    let claims = jwt_claims(tokens["id_token"].as_str().unwrap());
    let real_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let iat = claims["iat"].as_i64().unwrap();
    let exp = claims["exp"].as_i64().unwrap();
    assert!((iat - real_now).abs() < 60, "iat is real time: {claims}");
    assert!(exp > real_now + 600, "exp is in the real future: {claims}");
    assert!(claims["auth_time"].as_i64().unwrap() <= iat);
    let (_, clock) = app.admin_get("/sandbox/v1/clock").await;
    let sandbox_now = clock["now"]
        .as_str()
        .unwrap()
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_second();
    assert!(
        (claims["sandbox_iat"].as_i64().unwrap() - sandbox_now).abs() < 60,
        "the sandbox instant rides along: {claims}"
    );
}

/// Posts the login form of a pending authorization.
async fn login(app: &TestApp, request_id: &str, user: &str, password: &str) -> reqwest::Response {
    app.http
        .post(app.url("/oauth/authorize/login"))
        .form(&[("request_id", request_id), ("username", user), ("password", password)])
        .send()
        .await
        .unwrap()
}

async fn try_login(app: &TestApp, request_id: &str, user: &str, password: &str) -> (u16, String) {
    let res = login(app, request_id, user, password).await;
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn five_wrong_passwords_or_codes_lock_the_user_for_fifteen_minutes() {
    let app = TestApp::spawn().await;
    let (_, challenge) = pkce_pair();
    let url = authorize_url(&app, "accounts:read", &challenge, "s");
    let html = app.http.get(&url).send().await.unwrap().text().await.unwrap();
    let request_id = hidden_field(&html, "request_id").unwrap();
    for _ in 0..4 {
        assert_eq!(try_login(&app, &request_id, "tanaka", "wrong").await.0, 401);
    }
    let (status, page) = try_login(&app, &request_id, "tanaka", "wrong").await;
    assert_eq!(status, 429, "the fifth failure locks");
    assert!(page.contains("locked until"), "the page says until when");
    let (status, _) = try_login(&app, &request_id, "tanaka", "tanaka-pass").await;
    assert_eq!(status, 429, "even the right password waits for the lock");
    // Another user is not affected.
    assert_eq!(try_login(&app, &request_id, "suzuki", "suzuki-pass").await.0, 200);
    // The bank-side approval page honours the same lock.
    let approvals = app
        .http
        .post(app.url("/bank/approvals/login"))
        .form(&[("username", "tanaka"), ("password", "tanaka-pass")])
        .send()
        .await
        .unwrap();
    assert_eq!(approvals.status(), 429);
    app.advance("PT16M").await;
    let html = app.http.get(&url).send().await.unwrap().text().await.unwrap();
    let request_id = hidden_field(&html, "request_id").unwrap();
    assert_eq!(
        try_login(&app, &request_id, "tanaka", "tanaka-pass").await.0,
        200,
        "unlocked after 15 minutes of sandbox time"
    );

    // One-time codes count too; the control plane unlocks.
    let (_, challenge) = pkce_pair();
    let url = authorize_url_with(
        &app,
        &[
            ("response_type", "code"),
            ("client_id", "demo-pay"),
            ("redirect_uri", "http://127.0.0.1:3002/callback"),
            ("scope", "transfers:any"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let (request_id, consent_token, _) = login_to_consent(&app, &url, "suzuki", "suzuki-pass").await;
    for _ in 0..4 {
        let r = decide(&app, &request_id, &consent_token, "approve", &[("otp", "000000")]).await;
        assert_eq!(r.status(), 401);
    }
    let r = decide(&app, &request_id, &consent_token, "approve", &[("otp", "000000")]).await;
    assert_eq!(r.status(), 429);
    let r = decide(&app, &request_id, &consent_token, "approve", &[("otp", "222222")]).await;
    assert_eq!(r.status(), 429, "the right code waits for the lock");
    let (status, v) = app.admin_post("/sandbox/v1/users/suzuki/unlock", json!({})).await;
    assert_eq!(status, 200, "{v}");
    let r = decide(&app, &request_id, &consent_token, "approve", &[("otp", "222222")]).await;
    assert_eq!(r.status(), 303, "unlocked by the control plane");
}

#[tokio::test]
async fn answers_carry_security_headers_and_the_bench_route_is_gone() {
    let app = TestApp::spawn().await;
    let t = token(&app, "tanaka", "demo-pfm", &["accounts:read"]).await;
    let res = app.get("/personal/v1/accounts", &t).await;
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    let res = app
        .http
        .post(app.url("/sandbox/v1/grants"))
        .bearer_auth(&app.admin_key)
        .json(&json!({"username": "tanaka", "clientId": "demo-pfm", "scopes": ["accounts:read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["cache-control"], "no-store", "tokens are not cached");
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["cache-control"], "no-store");
    let page = app.http.get(app.url("/bank/approvals")).send().await.unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(
        csp.contains("form-action 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    // The consent page lets its form lead to the client's redirect URI, and nowhere else.
    let (_, challenge) = pkce_pair();
    let url = authorize_url(&app, "accounts:read", &challenge, "s");
    let html = app.http.get(&url).send().await.unwrap().text().await.unwrap();
    let request_id = hidden_field(&html, "request_id").unwrap();
    let consent = login(&app, &request_id, "tanaka", "tanaka-pass").await;
    let csp = consent.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("form-action 'self' http://127.0.0.1:3000;"), "{csp}");
    let res = app.http.get(app.url("/_bench/static?bytes=100")).send().await.unwrap();
    assert_eq!(res.status(), 404, "no unauthenticated echo on a server");
}

#[tokio::test]
async fn the_control_plane_lists_grants_and_takes_the_usernames_the_readme_shows() {
    let app = TestApp::spawn().await;
    let g1 = app.grant("tanaka", "demo-pfm", &["accounts:read"]).await;
    let g2 = app.grant("tanaka", "demo-pay", &["transfers:own"]).await;
    app.grant("suzuki", "demo-pfm", &["accounts:read"]).await;
    let (status, list) = app.admin_get("/sandbox/v1/grants?username=tanaka").await;
    assert_eq!(status, 200, "{list}");
    let ids: BTreeSet<&str> = list["grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["grantId"].as_str().unwrap())
        .collect();
    let want: BTreeSet<&str> = [g1["grantId"].as_str().unwrap(), g2["grantId"].as_str().unwrap()].into();
    assert_eq!(ids, want, "exactly tanaka's grants");
    assert_eq!(list["grants"][0]["status"], "active");
    assert_eq!(list["grants"][0]["company"], "株式会社デモ家計簿");
    let (status, _) = app.admin_get("/sandbox/v1/grants?username=nobody").await;
    assert_eq!(status, 404);
    // The access log filter takes the login name as well as the token's sub.
    let t = g1["tokens"]["access_token"].as_str().unwrap();
    app.get("/personal/v1/accounts", t).await;
    for who in ["tanaka", "u-tanaka"] {
        let (_, log) = app.admin_get(&format!("/sandbox/v1/access-logs?userId={who}")).await;
        assert!(!log["entries"].as_array().unwrap().is_empty(), "userId={who}: {log}");
    }
    let (status, _) = app.admin_get("/sandbox/v1/mandates?username=u-tanaka").await;
    assert_eq!(status, 200);
}

async fn login_from(app: &TestApp, request_id: &str, user: &str, password: &str, from: &str) -> (u16, String) {
    let res = app
        .http
        .post(app.url("/oauth/authorize/login"))
        .header("x-forwarded-for", from)
        .form(&[("request_id", request_id), ("username", user), ("password", password)])
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// Made-up usernames lock no one: 20 failures from one address hold back logins from that
/// address only (the page says so), never the client's; the user's unlock lifts every lock
/// that affects the user.
#[tokio::test]
async fn a_stranger_cannot_lock_a_clients_logins_and_unlock_lifts_every_lock() {
    let app = TestApp::spawn_configured(|c| c.client_ip_header = Some("x-forwarded-for".into())).await;
    let (_, challenge) = pkce_pair();
    let url = authorize_url(&app, "accounts:read", &challenge, "s");
    let html = app.http.get(&url).send().await.unwrap().text().await.unwrap();
    let request_id = hidden_field(&html, "request_id").unwrap();
    for i in 0..19 {
        let (status, _) = login_from(&app, &request_id, &format!("nobody{i}"), "x", "203.0.113.7").await;
        assert_eq!(status, 401);
    }
    let (status, page) = login_from(&app, &request_id, "nobody19", "x", "203.0.113.7").await;
    assert_eq!(status, 429, "the 20th failure from one address holds it back");
    assert!(page.contains("from your address"), "the page says which lock: {page}");
    // Tanaka, from elsewhere, logs in through the same client.
    let (status, _) = login_from(&app, &request_id, "tanaka", "tanaka-pass", "198.51.100.2").await;
    assert_eq!(status, 200, "the client's logins are not locked");

    // Tanaka locked (5 wrong passwords) behind the held-back address: one unlock lifts both.
    let html = app.http.get(&url).send().await.unwrap().text().await.unwrap();
    let request_id = hidden_field(&html, "request_id").unwrap();
    for _ in 0..5 {
        login_from(&app, &request_id, "tanaka", "wrong", "198.51.100.2").await;
    }
    let (status, page) = login_from(&app, &request_id, "tanaka", "tanaka-pass", "198.51.100.2").await;
    assert_eq!(status, 429);
    assert!(page.contains("this user is locked"), "{page}");
    let (status, v) = app.admin_post("/sandbox/v1/users/tanaka/unlock", json!({})).await;
    assert_eq!(status, 200, "{v}");
    let (status, _) = login_from(&app, &request_id, "tanaka", "tanaka-pass", "203.0.113.7").await;
    assert_eq!(
        status, 200,
        "after the unlock tanaka logs in, even from the held-back address"
    );
}
