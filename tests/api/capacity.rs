//! Capacity, peak days, maintenance windows and the kill switch, end to end over HTTP with
//! independent clients: each limit kind and window, the 429 answer and its fields, isolation
//! between a flooding client and a polite one, peak-day factors, maintenance windows of each
//! coverage, suspensions of clients, users and the whole bank, and clients managed at run time.

use crate::common::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const READ: &[&str] = &["accounts:read", "transactions:read"];
const PAY: &[&str] = &["accounts:read", "transactions:read", "transfers:any"];
const BALANCE: &str = "/personal/v1/accounts/balances?accountId=00111234567";

async fn send(app: &TestApp, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = app.http.request(method, app.url(path)).bearer_auth(&app.admin_key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn put(app: &TestApp, path: &str, body: Value) -> Value {
    let (status, answer) = send(app, reqwest::Method::PUT, path, Some(body)).await;
    assert_eq!(status, 200, "PUT {path}: {answer}");
    answer
}

async fn delete(app: &TestApp, path: &str) -> u16 {
    send(app, reqwest::Method::DELETE, path, None).await.0
}

async fn token(app: &TestApp, user: &str, client: &str, scopes: &[&str]) -> String {
    app.grant(user, client, scopes).await["tokens"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn balance(app: &TestApp, token: &str) -> reqwest::Response {
    app.get(BALANCE, token).await
}

fn transfer_body() -> Value {
    json!({"accountId": "00111234567", "transfers": [{"transferAmount": "1000", "beneficiaryBankCode": "0999",
        "beneficiaryBranchCode": "001", "accountTypeCode": "1", "accountNumber": "7654321", "beneficiaryName": "ｽｽﾞｷ ﾊﾅｺ"}]})
}

async fn transfer(app: &TestApp, token: &str) -> reqwest::Response {
    app.http
        .post(app.url("/personal/v1/transfer/request"))
        .bearer_auth(token)
        .json(&transfer_body())
        .send()
        .await
        .unwrap()
}

fn header<'a>(res: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    res.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn a_rate_limit_answers_429_with_retry_after_and_the_ratelimit_fields() {
    let app = TestApp::spawn().await;
    let policy = json!({"limits": [{"name": "reads", "kind": "reference", "rate": 2, "per": "1s", "burst": 2}]});
    let stored = put(&app, "/sandbox/v1/clients/demo-pfm/capacity", policy.clone()).await;
    assert_eq!(stored, policy);
    assert_eq!(app.admin_get("/sandbox/v1/clients/demo-pfm/capacity").await.1, policy);
    let t = token(&app, "tanaka", "demo-pfm", READ).await;
    for left in ["1", "0"] {
        let res = balance(&app, &t).await;
        assert_eq!(res.status(), 200);
        assert_eq!(header(&res, "ratelimit-policy"), Some("\"reads\";q=2;w=1"));
        let state = header(&res, "ratelimit").unwrap();
        assert!(state.starts_with(&format!("\"reads\";r={left};t=")), "{state}");
    }
    let res = balance(&app, &t).await;
    assert_eq!(res.status(), 429);
    let retry: u64 = header(&res, "retry-after").unwrap().parse().unwrap();
    assert!((1..=1).contains(&retry), "Retry-After {retry}");
    assert!(header(&res, "ratelimit").unwrap().contains("\"reads\";r=0"));
    assert_eq!(
        res.headers()["content-type"],
        "application/problem+json",
        "a problem document"
    );
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["code"], "rate_limited");
    assert_eq!(problem["limit"], "reads");
    assert!(problem["detail"].as_str().unwrap().contains("demo-pfm"), "{problem}");
    // Updates are not counted by a reference limit; another client is not either.
    let other = token(&app, "tanaka", "demo-pay", PAY).await;
    assert_eq!(balance(&app, &other).await.status(), 200);
    assert!(header(&balance(&app, &other).await, "ratelimit").is_none());
    // The window is real time: a second later there is room again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(balance(&app, &t).await.status(), 200);
    // Removing the policy removes the limit.
    put(&app, "/sandbox/v1/clients/demo-pfm/capacity", json!({})).await;
    for _ in 0..5 {
        assert_eq!(balance(&app, &t).await.status(), 200);
    }
}

#[tokio::test]
async fn a_daily_quota_follows_the_sandbox_calendar() {
    let app = TestApp::spawn().await;
    put(
        &app,
        "/sandbox/v1/clients/demo-pay/capacity",
        json!({"limits": [{"name": "transfers-daily", "kind": "update", "quota": 3, "per": "1d"}]}),
    )
    .await;
    let t = token(&app, "tanaka", "demo-pay", PAY).await;
    for left in [2, 1, 0] {
        let res = transfer(&app, &t).await;
        assert_eq!(res.status(), 201);
        let state = header(&res, "ratelimit").unwrap().to_owned();
        assert!(
            state.starts_with(&format!("\"transfers-daily\";r={left};t=")),
            "{state}"
        );
        assert_eq!(
            header(&res, "ratelimit-policy"),
            Some("\"transfers-daily\";q=3;w=86400")
        );
    }
    let res = transfer(&app, &t).await;
    assert_eq!(res.status(), 429);
    // Sandbox time is 2026-11-21 09:00 and a moment: the quota starts again at midnight.
    let retry: u64 = header(&res, "retry-after").unwrap().parse().unwrap();
    assert!((14 * 3600..=15 * 3600).contains(&retry), "Retry-After {retry}");
    // Reads are not counted by an update quota.
    assert_eq!(balance(&app, &t).await.status(), 200);
    app.advance("15h").await;
    let t = token(&app, "tanaka", "demo-pay", PAY).await;
    assert_eq!(transfer(&app, &t).await.status(), 201, "a new sandbox day, a new quota");
}

#[tokio::test]
async fn a_concurrency_limit_counts_requests_in_flight() {
    let app = TestApp::spawn().await;
    put(
        &app,
        "/sandbox/v1/clients/demo-pfm/capacity",
        json!({"limits": [{"name": "one-at-a-time", "kind": "reference", "concurrency": 1}]}),
    )
    .await;
    let (status, body) = app
        .admin_post(
            "/sandbox/v1/faults",
            json!({"id": "slow", "match": {"operation": "GET /personal/v1/accounts/balances"}, "effect": {"latency": "400ms"}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let t = token(&app, "tanaka", "demo-pfm", READ).await;
    let (a, b) = tokio::join!(balance(&app, &t), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        balance(&app, &t).await
    });
    assert_eq!(a.status(), 200);
    assert_eq!(b.status(), 429);
    assert_eq!(header(&b, "ratelimit-policy"), Some("\"one-at-a-time\";q=1"));
    let problem: Value = b.json().await.unwrap();
    assert_eq!(problem["limit"], "one-at-a-time");
    // Once the first is done, the slot is free again.
    assert_eq!(balance(&app, &t).await.status(), 200);
}

#[tokio::test]
async fn a_flooding_client_takes_nothing_from_a_polite_one() {
    let app = TestApp::spawn().await;
    let limit = json!({"limits": [{"name": "reads", "kind": "reference", "rate": 20, "per": "1s"}]});
    put(&app, "/sandbox/v1/clients/demo-pfm/capacity", limit.clone()).await;
    put(&app, "/sandbox/v1/clients/demo-pay/capacity", limit).await;
    put(
        &app,
        "/sandbox/v1/capacity",
        json!({"limits": [{"name": "reads", "kind": "reference", "rate": 60, "per": "1s"}]}),
    )
    .await;
    let flood = token(&app, "tanaka", "demo-pfm", READ).await;
    let polite = token(&app, "suzuki", "demo-pay", PAY).await;
    let flood_app = &app;
    let flooding = async {
        let mut limited = 0;
        for _ in 0..10 {
            let answers = futures_join(flood_app, &flood, 40).await;
            limited += answers.iter().filter(|s| **s == 429).count();
        }
        limited
    };
    let polite_reads = async {
        let mut statuses = Vec::new();
        for _ in 0..10 {
            let res = app.get("/personal/v1/accounts", &polite).await;
            statuses.push(res.status().as_u16());
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
        statuses
    };
    let (limited, statuses) = tokio::join!(flooding, polite_reads);
    assert!(limited > 300, "the flooding client is limited ({limited} of 400)");
    assert!(
        statuses.iter().all(|s| *s == 200),
        "the polite client is never limited: {statuses:?}"
    );
}

async fn futures_join(app: &TestApp, token: &str, n: usize) -> Vec<u16> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let http = app.http.clone();
        let url = app.url(BALANCE);
        let token = token.to_owned();
        set.spawn(async move { http.get(url).bearer_auth(token).send().await.unwrap().status().as_u16() });
    }
    set.join_all().await
}

#[tokio::test]
async fn the_bank_wide_limit_is_shared_by_every_client() {
    let app = TestApp::spawn().await;
    put(
        &app,
        "/sandbox/v1/capacity",
        json!({"limits": [{"name": "reads", "kind": "reference", "rate": 3, "per": "10s"}]}),
    )
    .await;
    let a = token(&app, "tanaka", "demo-pfm", READ).await;
    let b = token(&app, "suzuki", "demo-pay", PAY).await;
    assert_eq!(balance(&app, &a).await.status(), 200);
    assert_eq!(app.get("/personal/v1/accounts", &b).await.status(), 200);
    assert_eq!(balance(&app, &a).await.status(), 200);
    let res = app.get("/personal/v1/accounts", &b).await;
    assert_eq!(res.status(), 429);
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["limit"], "bank.reads");
    assert!(problem["detail"].as_str().unwrap().contains("the bank as a whole"));
}

#[tokio::test]
async fn peak_days_scale_limits_on_a_real_gotobi_and_on_one_moved_off_a_holiday() {
    let app = TestApp::spawn().await;
    put(
        &app,
        "/sandbox/v1/clients/demo-pay/capacity",
        json!({"limits": [{"name": "daily", "kind": "update", "quota": 4, "per": "1d"}],
               "peak": {"factor": 0.5, "latency": "250ms"}}),
    )
    .await;
    // Count how many transfers the day allows, and how long one takes.
    async fn allowed(app: &TestApp, t: &str) -> (usize, Duration) {
        let mut n = 0;
        let mut slowest = Duration::ZERO;
        loop {
            let started = Instant::now();
            let res = transfer(app, t).await;
            slowest = slowest.max(started.elapsed());
            match res.status().as_u16() {
                201 => n += 1,
                429 => return (n, slowest),
                other => panic!("unexpected {other}: {}", res.text().await.unwrap()),
            }
            assert!(n <= 10);
        }
    }
    // 2026-11-24 (Tuesday) is an ordinary business day.
    app.advance("3d").await;
    let (n, _) = allowed(&app, &token(&app, "tanaka", "demo-pay", PAY).await).await;
    assert_eq!(n, 4);
    // 2026-11-25: 五十日 and payday.
    app.advance("1d").await;
    let (n, slowest) = allowed(&app, &token(&app, "tanaka", "demo-pay", PAY).await).await;
    assert_eq!(n, 2, "half the quota on a peak day");
    assert!(slowest >= Duration::from_millis(250), "peak latency added: {slowest:?}");
    // 2027-01-10 is a Sunday, so its 五十日 moves to Friday 2027-01-08.
    app.advance("44d").await;
    let (status, now) = app.admin_get("/sandbox/v1/clock").await;
    assert_eq!(status, 200);
    assert!(now["now"].as_str().unwrap().starts_with("2027-01-08"), "{now}");
    assert_eq!(
        allowed(&app, &token(&app, "tanaka", "demo-pay", PAY).await).await.0,
        2,
        "the moved 五十日 is a peak day"
    );
    // 2027-01-12 (Tuesday after 成人の日) is not.
    app.advance("4d").await;
    assert_eq!(allowed(&app, &token(&app, "tanaka", "demo-pay", PAY).await).await.0, 4);
}

#[tokio::test]
async fn the_public_calendar_shows_business_days_holidays_and_peak_days() {
    let app = TestApp::spawn().await;
    let res = app
        .http
        .get(app.url("/public/v1/calendar?month=2026-11"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cal: Value = res.json().await.unwrap();
    assert_eq!(cal["month"], "2026-11");
    let days = cal["days"].as_array().unwrap();
    assert_eq!(days.len(), 30);
    let day = |n: usize| &days[n - 1];
    assert_eq!(day(3)["nationalHoliday"], true, "文化の日");
    assert_eq!(day(3)["businessDay"], false);
    assert_eq!(day(5)["peakReasons"], json!(["gotobi"]));
    assert_eq!(day(13)["peakReasons"], json!(["gotobi"]), "the 15th is a Sunday");
    assert_eq!(day(15)["peakDay"], false);
    assert_eq!(day(23)["businessDay"], false, "勤労感謝の日");
    assert_eq!(day(25)["peakReasons"], json!(["gotobi", "payday"]));
    assert_eq!(day(30)["peakReasons"], json!(["gotobi", "monthEnd"]));
    assert_eq!(day(24)["peakDay"], false);
    assert_eq!(cal["businessDays"], 19);
    // Default month: the sandbox clock's.
    let (_, now) = app.get_json("/public/v1/calendar", "").await;
    assert_eq!(now["month"], "2026-11");
    let res = app
        .http
        .get(app.url("/public/v1/calendar?month=2026-13"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["code"], "invalid_month");
}

async fn add_window(app: &TestApp, window: Value) -> Value {
    let (status, body) = app.admin_post("/sandbox/v1/maintenance", window).await;
    assert_eq!(status, 201, "add window: {body}");
    body
}

async fn public_windows(app: &TestApp) -> Vec<String> {
    let (status, list) = app.get_json("/public/v1/maintenance", "").await;
    assert_eq!(status, 200);
    list["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_maintenance_window_is_announced_listed_entered_and_left() {
    let app = TestApp::spawn().await;
    // Sandbox time starts 2026-11-21 09:00.
    add_window(
        &app,
        json!({"id": "core-upgrade", "description": "勘定系更改", "covers": "all",
               "start": "2026-11-22T01:00:00+09:00", "end": "2026-11-22T05:00:00+09:00",
               "announceAt": "2026-11-21T12:00:00+09:00"}),
    )
    .await;
    assert!(public_windows(&app).await.is_empty(), "not announced yet");
    app.advance("3h").await;
    assert_eq!(public_windows(&app).await, ["core-upgrade"]);
    assert_eq!(
        balance(&app, &token(&app, "tanaka", "demo-pfm", READ).await)
            .await
            .status(),
        200
    );
    app.advance("14h30m").await; // 02:30 on the 22nd
    let res = balance(&app, &token(&app, "tanaka", "demo-pfm", READ).await).await;
    assert_eq!(res.status(), 503);
    let retry: u64 = header(&res, "retry-after").unwrap().parse().unwrap();
    assert!(
        (2 * 3600 + 1700..=2 * 3600 + 1800).contains(&retry),
        "Retry-After = its end: {retry}"
    );
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["code"], "maintenance");
    assert_eq!(problem["maintenanceWindow"], "core-upgrade");
    // The notices stay up during it.
    let (_, list) = app.get_json("/public/v1/maintenance", "").await;
    assert_eq!(list["windows"][0]["inProgress"], true);
    app.advance("3h").await;
    assert_eq!(
        balance(&app, &token(&app, "tanaka", "demo-pfm", READ).await)
            .await
            .status(),
        200,
        "after its end"
    );
    assert!(
        public_windows(&app).await.is_empty(),
        "a past window is no longer listed"
    );
}

#[tokio::test]
async fn each_coverage_stops_only_what_it_covers() {
    let app = TestApp::spawn().await;
    let refresh = app.grant("suzuki", "demo-pfm", READ).await["tokens"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let window = |id: &str, covers: &str| json!({"id": id, "covers": covers, "start": "2026-11-21T10:00:00+09:00", "end": "2026-11-21T11:00:00+09:00"});
    add_window(&app, window("updates", "update")).await;
    app.advance("1h30m").await;
    let t = token(&app, "tanaka", "demo-pay", PAY).await;
    assert_eq!(balance(&app, &t).await.status(), 200);
    assert_eq!(transfer(&app, &t).await.status(), 503);
    delete(&app, "/sandbox/v1/maintenance/updates").await;

    add_window(&app, window("auth", "auth")).await;
    assert_eq!(balance(&app, &t).await.status(), 200);
    let (status, body) = app
        .token_request(
            "demo-pfm",
            &app.demo_secret,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(status, 503);
    assert_eq!(body["error"], "temporarily_unavailable", "RFC 6749 shape: {body}");
    let (_, challenge) = pkce_pair();
    let page = app
        .http
        .get(authorize_url(&app, "accounts:read", &challenge, "s"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 503);
    assert!(page.headers().get("location").is_none());
    assert!(page.text().await.unwrap().contains("auth"));
    delete(&app, "/sandbox/v1/maintenance/auth").await;

    add_window(
        &app,
        json!({"id": "statements", "covers": "operations", "operations": ["GET /personal/v1/accounts/transactions"],
               "start": "2026-11-21T10:00:00+09:00", "end": "2026-11-21T11:00:00+09:00"}),
    )
    .await;
    assert_eq!(balance(&app, &t).await.status(), 200);
    let res = app
        .get("/personal/v1/accounts/transactions?accountId=00111234567", &t)
        .await;
    assert_eq!(res.status(), 503);
    let (status, body) = app
        .admin_post(
            "/sandbox/v1/maintenance",
            json!({"covers": "operations", "operations": ["GET /nope"], "start": "2026-11-21T10:00:00+09:00", "end": "2026-11-21T09:00:00+09:00"}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"end") && fields.contains(&"operations"), "{body}");
}

#[tokio::test]
async fn a_recurring_window_is_announced_by_its_notice() {
    let app = TestApp::spawn().await;
    // 2026-11-21 09:00 is a Saturday; the window runs Sundays 02:00–06:00, announced 12 h ahead.
    add_window(
        &app,
        json!({"id": "sunday-batch", "recurring": {"every": "sunday", "from": "02:00", "to": "06:00"}, "notice": "12h"}),
    )
    .await;
    assert!(public_windows(&app).await.is_empty(), "announced at 14:00 on Saturday");
    app.advance("6h").await;
    let (_, list) = app.get_json("/public/v1/maintenance", "").await;
    assert_eq!(list["windows"][0]["start"], "2026-11-22T02:00:00+09:00", "{list}");
    assert_eq!(list["windows"][0]["announcedAt"], "2026-11-21T14:00:00+09:00");
    app.advance("12h").await; // Sunday 03:00
    assert_eq!(
        balance(&app, &token(&app, "tanaka", "demo-pfm", READ).await)
            .await
            .status(),
        503
    );
    app.advance("4h").await;
    assert_eq!(
        balance(&app, &token(&app, "tanaka", "demo-pfm", READ).await)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_suspended_client_is_stopped_everywhere_until_it_is_lifted() {
    let app = TestApp::spawn().await;
    let pay = token(&app, "tanaka", "demo-pay", PAY).await;
    let pfm = app.grant("suzuki", "demo-pfm", READ).await;
    let pfm_token = pfm["tokens"]["access_token"].as_str().unwrap().to_owned();
    let pfm_refresh = pfm["tokens"]["refresh_token"].as_str().unwrap().to_owned();

    // Update calls only: reads go on.
    let (status, stop) = app
        .admin_post(
            "/sandbox/v1/clients/demo-pay/suspension",
            json!({"scope": "update", "reason": "duplicate transfers under investigation"}),
        )
        .await;
    assert_eq!(status, 200, "{stop}");
    assert_eq!(stop["scope"], "update");
    assert_eq!(balance(&app, &pay).await.status(), 200);
    let res = transfer(&app, &pay).await;
    assert_eq!(res.status(), 403);
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["code"], "client_suspended");
    assert!(problem["detail"].as_str().unwrap().contains("duplicate transfers"));
    assert_eq!(
        app.get("/personal/v1/accounts", &pfm_token).await.status(),
        200,
        "another client is untouched"
    );

    // Everything, for demo-pfm: API, token endpoint and new authorizations.
    let (status, _) = app
        .admin_post(
            "/sandbox/v1/clients/demo-pfm/suspension",
            json!({"reason": "contract ended"}),
        )
        .await;
    assert_eq!(status, 200);
    let res = app.get("/personal/v1/accounts", &pfm_token).await;
    assert_eq!(res.status(), 403);
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "client_suspended");
    let (status, body) = app
        .token_request(
            "demo-pfm",
            &app.demo_secret,
            &[("grant_type", "refresh_token"), ("refresh_token", &pfm_refresh)],
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "unauthorized_client");
    assert!(body["error_description"].as_str().unwrap().contains("contract ended"));
    let (_, challenge) = pkce_pair();
    let page = app
        .http
        .get(authorize_url(&app, "accounts:read", &challenge, "s"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 403);
    assert!(page.headers().get("location").is_none(), "never a redirect");
    assert!(page.text().await.unwrap().contains("contract ended"));

    // Listed with status and policy; recorded; in the outbox.
    let (_, list) = app.admin_get("/sandbox/v1/clients").await;
    let pfm_view = list["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["clientId"] == "demo-pfm")
        .unwrap()
        .clone();
    assert_eq!(pfm_view["status"], "suspended");
    assert_eq!(pfm_view["suspension"]["reason"], "contract ended");

    // Lifted: the same tokens work again.
    assert_eq!(delete(&app, "/sandbox/v1/clients/demo-pfm/suspension").await, 204);
    assert_eq!(delete(&app, "/sandbox/v1/clients/demo-pay/suspension").await, 204);
    assert_eq!(app.get("/personal/v1/accounts", &pfm_token).await.status(), 200);
    assert_eq!(transfer(&app, &pay).await.status(), 201);
    let (status, refreshed) = app
        .token_request(
            "demo-pfm",
            &app.demo_secret,
            &[("grant_type", "refresh_token"), ("refresh_token", &pfm_refresh)],
        )
        .await;
    assert_eq!(status, 200, "{refreshed}");

    let (_, record) = app.admin_get("/sandbox/v1/suspensions").await;
    let actions: Vec<(String, String)> = record["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_owned(),
                r["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("suspended".to_owned(), "demo-pay".to_owned()),
            ("suspended".into(), "demo-pfm".into()),
            ("resumed".into(), "demo-pfm".into()),
            ("resumed".into(), "demo-pay".into())
        ]
    );
    assert_eq!(record["history"][0]["by"], "sandbox-admin");
    let (_, events) = app.admin_get("/sandbox/v1/events").await;
    let types: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .filter(|t| t.starts_with("client."))
        .collect();
    assert_eq!(
        types,
        [
            "client.suspended",
            "client.suspended",
            "client.resumed",
            "client.resumed"
        ]
    );
}

#[tokio::test]
async fn a_user_stop_and_the_bank_wide_emergency_stop() {
    let app = TestApp::spawn().await;
    let tanaka_grant = app.grant("tanaka", "demo-pay", PAY).await;
    let tanaka = tanaka_grant["tokens"]["access_token"].as_str().unwrap().to_owned();
    let tanaka_refresh = tanaka_grant["tokens"]["refresh_token"].as_str().unwrap().to_owned();
    let suzuki = token(&app, "suzuki", "demo-pay", PAY).await;
    let (status, _) = app
        .admin_post(
            "/sandbox/v1/users/tanaka/suspension",
            json!({"reason": "suspected fraud"}),
        )
        .await;
    assert_eq!(status, 200);
    let res = balance(&app, &tanaka).await;
    assert_eq!(res.status(), 403);
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "user_suspended");
    assert_eq!(app.get("/personal/v1/accounts", &suzuki).await.status(), 200);
    // The user cannot log in to give a new consent.
    let (_, challenge) = pkce_pair();
    let login_page = app
        .http
        .get(authorize_url(&app, "accounts:read", &challenge, "s"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let request_id = hidden_field(&login_page, "request_id").unwrap();
    let res = app
        .http
        .post(app.url("/oauth/authorize/login"))
        .form(&[
            ("request_id", request_id.as_str()),
            ("username", "tanaka"),
            ("password", "tanaka-pass"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("suspected fraud"));
    // No new tokens for the user either; the refresh token is kept for later.
    let refresh = |refresh_token: String| {
        let app = &app;
        async move {
            app.token_request(
                "demo-pay",
                "pay-secret",
                &[("grant_type", "refresh_token"), ("refresh_token", &refresh_token)],
            )
            .await
        }
    };
    let (status, body) = refresh(tanaka_refresh.clone()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    assert!(body["error_description"].as_str().unwrap().contains("suspected fraud"));
    assert_eq!(delete(&app, "/sandbox/v1/users/tanaka/suspension").await, 204);
    assert_eq!(balance(&app, &tanaka).await.status(), 200);
    let (status, body) = refresh(tanaka_refresh).await;
    assert_eq!(status, 200, "the refresh token works again once lifted: {body}");
    let (status, _) = app
        .admin_post("/sandbox/v1/users/nobody/suspension", json!({"reason": "x"}))
        .await;
    assert_eq!(status, 404);

    // The emergency stop of update calls: every client's transfers stop, reads go on.
    let (status, _) = app
        .admin_post(
            "/sandbox/v1/emergency-stop",
            json!({"scope": "update", "reason": "incident 42"}),
        )
        .await;
    assert_eq!(status, 200);
    let res = transfer(&app, &tanaka).await;
    assert_eq!(res.status(), 503);
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["code"], "service_stopped");
    assert!(problem["detail"].as_str().unwrap().contains("incident 42"));
    assert_eq!(balance(&app, &tanaka).await.status(), 200);
    // Public notices stay up.
    assert_eq!(app.get_json("/public/v1/maintenance", "").await.0, 200);
    assert_eq!(delete(&app, "/sandbox/v1/emergency-stop").await, 204);
    assert_eq!(transfer(&app, &tanaka).await.status(), 201);
    let (_, record) = app.admin_get("/sandbox/v1/suspensions").await;
    assert_eq!(record["history"].as_array().unwrap().len(), 4);
    let (status, body) = app
        .admin_post("/sandbox/v1/emergency-stop", json!({"reason": ""}))
        .await;
    assert_eq!(status, 422, "a stop needs a reason: {body}");
}

#[tokio::test]
async fn clients_are_created_changed_rotated_and_deleted_at_run_time() {
    let app = TestApp::spawn().await;
    let (status, created) = app
        .admin_post(
            "/sandbox/v1/clients",
            json!({"clientId": "new-fintech", "company": "株式会社新規", "service": "新規家計簿",
                   "redirectUris": ["http://127.0.0.1:4000/cb"], "scopes": ["accounts:read"],
                   "accessTtl": "10m", "capacity": {"limits": [{"name": "reads", "rate": 100, "per": "1s"}]}}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["clientSecret"].as_str().unwrap().to_owned();
    assert_eq!(created["accessTtl"], 600);
    assert_eq!(created["capacity"]["limits"][0]["name"], "reads");
    let (status, _) = app
        .admin_post(
            "/sandbox/v1/clients",
            json!({"clientId": "new-fintech", "company": "x", "service": "x", "redirectUris": ["http://127.0.0.1:4000/cb"], "scopes": ["accounts:read"]}),
        )
        .await;
    assert_eq!(status, 409);
    let (status, bad) = app
        .admin_post(
            "/sandbox/v1/clients",
            json!({"clientId": "bad id", "company": "x", "service": "x", "redirectUris": ["ftp://x"], "scopes": ["everything"], "accessTtl": "7000000d"}),
        )
        .await;
    assert_eq!(status, 422);
    let fields: Vec<&str> = bad["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"clientId")
            && fields.contains(&"redirectUris")
            && fields.contains(&"scopes")
            && fields.contains(&"accessTtl"),
        "{bad}"
    );

    // It works like a scenario client: a grant, tokens, a read.
    let g = app.grant("tanaka", "new-fintech", &["accounts:read"]).await;
    let t = g["tokens"]["access_token"].as_str().unwrap().to_owned();
    let refresh = g["tokens"]["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/personal/v1/accounts", &t).await.status(), 200);
    let (status, _) = app
        .token_request(
            "new-fintech",
            &secret,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(status, 200);

    // Changes.
    let (status, changed) = send(
        &app,
        reqwest::Method::PATCH,
        "/sandbox/v1/clients/new-fintech",
        Some(json!({"redirectUris": ["http://127.0.0.1:4000/cb", "http://127.0.0.1:4000/cb2"], "scopes": ["accounts:read", "transactions:read"]})),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["redirectUris"].as_array().unwrap().len(), 2);
    assert_eq!(changed["scopes"], json!(["accounts:read", "transactions:read"]));
    assert_eq!(changed["company"], "株式会社新規", "absent fields are kept");

    // Rotation: the old secret works for the grace period, then not.
    let (status, rotated) = app
        .admin_post("/sandbox/v1/clients/new-fintech/secret", json!({"gracePeriod": "1h"}))
        .await;
    assert_eq!(status, 200, "{rotated}");
    let new_secret = rotated["clientSecret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    let introspect = |secret: String| {
        let app = &app;
        let t = t.clone();
        async move {
            app.http
                .post(app.url("/oauth/introspect"))
                .basic_auth("new-fintech", Some(secret))
                .form(&[("token", t.as_str())])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(introspect(secret.clone()).await, 200, "old secret in its grace period");
    assert_eq!(introspect(new_secret.clone()).await, 200);
    app.advance("61m").await;
    assert_eq!(
        introspect(secret.clone()).await,
        401,
        "old secret after its grace period"
    );
    assert_eq!(introspect(new_secret.clone()).await, 200);

    // Deleted: its tokens die, its id is free again.
    let res = app
        .http
        .delete(app.url("/sandbox/v1/clients/new-fintech"))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(app.get("/personal/v1/accounts", &t).await.status(), 401);
    assert_eq!(app.admin_get("/sandbox/v1/clients/new-fintech").await.0, 404);
    assert_eq!(delete(&app, "/sandbox/v1/clients/new-fintech").await, 404);
}

#[tokio::test]
async fn bad_policies_say_what_to_fix_and_change_nothing() {
    let app = TestApp::spawn().await;
    let (status, body) = send(
        &app,
        reqwest::Method::PUT,
        "/sandbox/v1/capacity",
        Some(json!({"limits": [{"name": "x", "rate": 5}, {"name": "y", "quota": 5, "per": "1w"}, {"name": "z", "concurrency": 0}]})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "invalid_capacity_policy");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["limits[0].per", "limits[1].per", "limits[2].concurrency"]);
    assert_eq!(app.admin_get("/sandbox/v1/capacity").await.1, json!({"limits": []}));
    // Objects written as arrays of their fields are refused, at the top and inside.
    for (method, path, body) in [
        (
            reqwest::Method::POST,
            "/sandbox/v1/clients/demo-pfm/secret",
            json!([null, null]),
        ),
        (
            reqwest::Method::PUT,
            "/sandbox/v1/capacity",
            json!({"limits": [["x", null, 5]]}),
        ),
        (
            reqwest::Method::PUT,
            "/sandbox/v1/capacity",
            json!({"peak": [0.5, "1s"]}),
        ),
        (
            reqwest::Method::POST,
            "/sandbox/v1/maintenance",
            json!({"recurring": ["day", "01:00", "02:00"]}),
        ),
    ] {
        let (status, answer) = send(&app, method, path, Some(body.clone())).await;
        assert_eq!(status, 422, "{path} {body}: {answer}");
        assert_eq!(answer["code"], "invalid_json", "{answer}");
    }
    let (status, _) = send(
        &app,
        reqwest::Method::PUT,
        "/sandbox/v1/clients/nobody/capacity",
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_bad_day_scenario_starts_with_its_limits_windows_and_peak_days() {
    let app = TestApp::spawn_with(&std::fs::read_to_string("scenarios/bad-day.yaml").unwrap()).await;
    let (_, bank) = app.admin_get("/sandbox/v1/capacity").await;
    assert_eq!(bank["limits"][0]["name"], "reads");
    assert_eq!(bank["peak"]["factor"], 0.5);
    let (_, pfm) = app.admin_get("/sandbox/v1/clients/demo-pfm/capacity").await;
    assert_eq!(pfm["limits"][0]["rate"], 5);
    // At 2026-11-21 09:00: tomorrow's Sunday batch (announced 7 days ahead) and the upgrade
    // (announced now); the Sunday after is announced only on the 22nd.
    let ids = public_windows(&app).await;
    assert_eq!(ids, ["sunday-batch", "core-upgrade"]);
    let (_, cal) = app.get_json("/public/v1/calendar?month=2026-12", "").await;
    assert_eq!(
        cal["days"][27]["peakReasons"],
        json!(["listed"]),
        "2026-12-28 is listed"
    );
    assert_eq!(
        cal["days"][29]["peakReasons"],
        json!(["gotobi", "monthEnd"]),
        "the 31st is a bank holiday"
    );
    // demo-pfm's reads: a burst of 10, then 429.
    let t = token(&app, "tanaka", "demo-pfm", READ).await;
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(balance(&app, &t).await.status().as_u16());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 10, "{statuses:?}");
    assert_eq!(statuses[11], 429);
}

#[tokio::test]
async fn ratelimit_lists_every_limit_and_states_the_tightest() {
    let app = TestApp::spawn().await;
    put(
        &app,
        "/sandbox/v1/clients/demo-pfm/capacity",
        json!({"limits": [{"name": "reads", "kind": "reference", "rate": 100, "per": "1s"}]}),
    )
    .await;
    put(
        &app,
        "/sandbox/v1/capacity",
        json!({"limits": [{"name": "reads", "kind": "reference", "rate": 3, "per": "10s"}]}),
    )
    .await;
    let t = token(&app, "tanaka", "demo-pfm", READ).await;
    let res = balance(&app, &t).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        header(&res, "ratelimit-policy"),
        Some("\"reads\";q=100;w=1, \"bank.reads\";q=3;w=10")
    );
    let state = header(&res, "ratelimit").unwrap();
    assert!(state.starts_with("\"bank.reads\";r=2;t="), "{state}");
}

#[tokio::test]
async fn a_request_refused_by_the_bank_limit_uses_none_of_the_clients_quota() {
    let app = TestApp::spawn().await;
    put(
        &app,
        "/sandbox/v1/clients/demo-pay/capacity",
        json!({"limits": [{"name": "daily", "kind": "update", "quota": 5, "per": "1d"}]}),
    )
    .await;
    put(
        &app,
        "/sandbox/v1/capacity",
        json!({"limits": [{"name": "updates", "kind": "update", "rate": 1, "per": "1h"}]}),
    )
    .await;
    let t = token(&app, "tanaka", "demo-pay", PAY).await;
    assert_eq!(transfer(&app, &t).await.status(), 201);
    for _ in 0..3 {
        let res = transfer(&app, &t).await;
        assert_eq!(res.status(), 429);
        let problem: Value = res.json().await.unwrap();
        assert_eq!(problem["limit"], "bank.updates");
    }
    put(&app, "/sandbox/v1/capacity", json!({})).await;
    let mut accepted = 0;
    while transfer(&app, &t).await.status() == 201 {
        accepted += 1;
        assert!(accepted <= 10);
    }
    assert_eq!(
        accepted, 4,
        "the three refused requests took nothing from the quota of 5"
    );
}

/// Reads from `socket` until the server closes it (or the read fails); how long that took, or
/// `None` if it was still open after `within`.
async fn closed_within(socket: &mut tokio::net::TcpStream, within: Duration) -> Option<Duration> {
    use tokio::io::AsyncReadExt;
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((started + within).into(), socket.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn slow_heads_and_idle_connections_are_closed_while_polite_clients_are_served() {
    use tokio::io::AsyncWriteExt;
    let app = TestApp::spawn_configured(|c| {
        c.connections.header_read_timeout = Duration::from_secs(1);
        c.connections.idle_timeout = Duration::from_secs(2);
    })
    .await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    // 30 sockets trickling a request head, one byte every 200 ms (slowloris), and 30 sockets
    // that send nothing at all.
    let mut tricklers = Vec::new();
    for _ in 0..30 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /.well-known/openid-configuration HTTP/1.1\r\nhost: x\r\n")
            .await
            .unwrap();
        tricklers.push(tokio::spawn(async move {
            let started = Instant::now();
            for _ in 0..100 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                if s.write_all(b"x").await.is_err() {
                    return Some(started.elapsed());
                }
                if let Ok(Some(_)) = tokio::time::timeout(
                    Duration::from_millis(1),
                    closed_within(&mut s, Duration::from_millis(1)),
                )
                .await
                {
                    return Some(started.elapsed());
                }
            }
            None
        }));
    }
    let mut idle = Vec::new();
    for _ in 0..30 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        idle.push(tokio::spawn(async move {
            closed_within(&mut s, Duration::from_secs(10)).await
        }));
    }
    // A kept-alive connection that asked one question is closed after the idle timeout too.
    let mut kept = tokio::net::TcpStream::connect(&addr).await.unwrap();
    kept.write_all(b"GET /.well-known/openid-configuration HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    // Meanwhile a polite client keeps being answered.
    for _ in 0..10 {
        let res = app
            .http
            .get(app.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    for t in tricklers {
        let closed = t
            .await
            .unwrap()
            .expect("a trickling connection was still open after 20 s");
        assert!(
            closed < Duration::from_secs(4),
            "a slow head was closed only after {closed:?}"
        );
    }
    for t in idle {
        let closed = t.await.unwrap().expect("an idle connection was still open after 10 s");
        assert!(
            closed >= Duration::from_millis(1500) && closed < Duration::from_secs(5),
            "an idle connection was closed after {closed:?} (the idle timeout is 2 s)"
        );
    }
    let answered_and_closed = closed_within(&mut kept, Duration::from_secs(10)).await;
    assert!(answered_and_closed.is_some(), "the kept-alive connection stayed open");
    let res = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn one_source_may_hold_only_so_many_connections() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_configured(|c| c.connections.max_per_source = Some(8)).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for _ in 0..8 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        // Each held connection is answered (so it is counted before the next one opens).
        s.write_all(b"GET /.well-known/openid-configuration HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).await.unwrap();
        assert!(
            buf[..n].starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&buf[..n])
        );
        held.push(s);
    }
    // The ninth is told why it is refused, with when to try again, and closed.
    let mut extra = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), extra.read_to_string(&mut answer))
        .await
        .expect("the refused connection was not closed")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("retry-after: 1"), "{answer}");
    assert!(
        answer.contains("too_many_connections") && answer.contains("8 connections"),
        "{answer}"
    );
    // Closing one gives its place back.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = tokio::net::TcpStream::connect(&addr).await.unwrap();
    again
        .write_all(b"GET /.well-known/openid-configuration HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let n = again.read(&mut buf).await.unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
}

#[tokio::test]
async fn a_trickled_request_body_is_cut_off_at_the_header_read_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_configured(|c| c.connections.header_read_timeout = Duration::from_secs(1)).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(
        b"POST /oauth/token HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 1000\r\n\r\ng",
    )
    .await
    .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        tokio::select! {
            read = s.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            },
            _ = tokio::time::sleep(Duration::from_millis(200)) => {
                assert!(started.elapsed() < Duration::from_secs(5), "the trickled body was still being read after 5 s");
                if s.write_all(b"r").await.is_err() {
                    break;
                }
            }
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "cut off only after {:?}",
        started.elapsed()
    );
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 400"), "{answer}");
}

#[tokio::test]
async fn authorization_requests_and_userinfo_count_against_the_clients_auth_limit() {
    let app = TestApp::spawn().await;
    // Tokens first: getting them also goes through the authorization endpoint.
    let pfm = token(&app, "tanaka", "demo-pfm", &["openid", "accounts:read"]).await;
    let pay = token(&app, "tanaka", "demo-pay", &["openid", "accounts:read"]).await;
    let limit = json!({"limits": [{"name": "logins", "kind": "auth", "rate": 3, "per": "1m", "burst": 3}]});
    put(&app, "/sandbox/v1/clients/demo-pfm/capacity", limit).await;
    let (_, challenge) = pkce_pair();
    let authorize = |client: &str| {
        let url = authorize_url_with(
            &app,
            &[
                ("client_id", client),
                (
                    "redirect_uri",
                    if client == "demo-pfm" {
                        "http://127.0.0.1:3000/callback"
                    } else {
                        "http://127.0.0.1:3002/callback"
                    },
                ),
                ("scope", "openid accounts:read"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
                ("response_type", "code"),
                ("state", "s"),
            ],
        );
        let http = app.http.clone();
        async move { http.get(url).send().await.unwrap() }
    };
    // Two authorization requests and one userinfo call spend the three.
    for _ in 0..2 {
        assert_eq!(authorize("demo-pfm").await.status(), 200);
    }
    let info = app.get("/oauth/userinfo", &pfm).await;
    assert_eq!(info.status(), 200);
    assert!(header(&info, "ratelimit").unwrap().contains("\"logins\";r=0"));
    // The fourth is refused: a page for the browser that says which limit and when to retry.
    let refused = authorize("demo-pfm").await;
    assert_eq!(refused.status(), 429);
    assert!(header(&refused, "retry-after").is_some());
    assert!(header(&refused, "content-type").unwrap().starts_with("text/html"));
    let page = refused.text().await.unwrap();
    assert!(page.contains("logins") && page.contains("demo-pfm"), "{page}");
    let refused = app.get("/oauth/userinfo", &pfm).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.json::<Value>().await.unwrap()["limit"], "logins");
    // Another client is not charged.
    assert_eq!(authorize("demo-pay").await.status(), 200);
    assert_eq!(app.get("/oauth/userinfo", &pay).await.status(), 200);
    // Discovery and keys stay out of every limit.
    assert_eq!(
        app.http
            .get(app.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(app.http.get(app.url("/oauth/jwks")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_shutdown_waits_for_requests_only_as_long_as_its_grace() {
    let mut app = TestApp::spawn_configured(|c| c.connections.shutdown_grace = Duration::from_secs(1)).await;
    let (status, body) = send(
        &app,
        reqwest::Method::POST,
        "/sandbox/v1/faults",
        Some(
            json!({"id": "slow", "match": {"operation": "GET /personal/v1/accounts/balances"},
                    "effect": {"latency": "20s"}}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let token = token(&app, "tanaka", "demo-pfm", READ).await;
    let slow = {
        let (http, url) = (app.http.clone(), app.url(BALANCE));
        tokio::spawn(async move { http.get(url).bearer_auth(token).send().await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    app.stop().await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "the shutdown waited {took:?} for a 20 s request"
    );
    assert!(
        took >= Duration::from_millis(900),
        "the shutdown did not wait for the request at all: {took:?}"
    );
    let answered = tokio::time::timeout(Duration::from_secs(5), slow)
        .await
        .unwrap()
        .unwrap();
    assert!(
        answered.is_err(),
        "the slow request's connection was closed: {answered:?}"
    );
}
