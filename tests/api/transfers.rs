//! Transfers end to end over HTTP: consent with the transfer scope (one-time code), fee
//! quotes, same-bank and other-bank transfers, the receiving bank's rejection, scheduled
//! transfers across a real Japanese holiday, cancel, per-item validation, limits, scopes,
//! account-name verification, the corporate approval flow, notifications, idempotency and
//! the ledger's invariants.

use crate::common::*;
use serde_json::{Value, json};

const PAY: &[&str] = &["accounts:read", "transactions:read", "transfers:any"];
const TANAKA: &str = "00111234567";
const SUZUKI: &str = "00212345678";

async fn pay_token(app: &TestApp, user: &str, scopes: &[&str]) -> String {
    let g = app.grant(user, "demo-pay", scopes).await;
    g["tokens"]["access_token"].as_str().unwrap().to_owned()
}

async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> (u16, Value) {
    let res = app
        .http
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn balance(app: &TestApp, token: &str, account: &str) -> i64 {
    let (status, b) = app
        .get_json(&format!("/personal/v1/accounts/balances?accountId={account}"), token)
        .await;
    assert_eq!(status, 200, "{b}");
    b["balances"][0]["balance"].as_str().unwrap().parse().unwrap()
}

async fn assert_ledger_balanced(app: &TestApp) -> Value {
    let (status, l) = app.admin_get("/sandbox/v1/ledger").await;
    assert_eq!(status, 200);
    assert_eq!(l["discrepancy"], "0", "money is conserved: {l}");
    assert_eq!(l["accountsBelowLimit"], json!([]), "{l}");
    l
}

fn item(bank: &str, branch: &str, kind: &str, number: &str, name: &str, amount: &str) -> Value {
    json!({"transferAmount": amount, "beneficiaryBankCode": bank, "beneficiaryBranchCode": branch,
           "accountTypeCode": kind, "accountNumber": number, "beneficiaryName": name})
}

fn to_suzuki(amount: &str) -> Value {
    item("0999", "002", "1", "2345678", "ｽｽﾞｷ ﾊﾅｺ", amount)
}

#[tokio::test]
async fn the_transfer_scope_needs_a_one_time_code_on_the_consent_screen() {
    let app = TestApp::spawn().await;
    let (verifier, challenge) = pkce_pair();
    let url = authorize_url_with(
        &app,
        &[
            ("response_type", "code"),
            ("client_id", "demo-pay"),
            ("redirect_uri", "http://127.0.0.1:3002/callback"),
            ("scope", "accounts:read transfers:any"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let (request_id, token, consent) = login_to_consent(&app, &url, "tanaka", "tanaka-pass").await;
    assert!(
        consent.contains("任意の振込先への振込"),
        "the transfer scope is described"
    );
    assert!(consent.contains("name=\"otp\""), "a one-time code is asked for");
    let wrong = decide(&app, &request_id, &token, "approve", &[("otp", "999999")]).await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.text().await.unwrap().contains("Wrong one-time code"));
    let ok = decide(&app, &request_id, &token, "approve", &[("otp", "111111")]).await;
    assert_eq!(ok.status(), 303);
    let code = query_param(&location(&ok), "code").unwrap();
    let (status, tokens) = app
        .token_request(
            "demo-pay",
            "pay-secret",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://127.0.0.1:3002/callback"),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(tokens["scope"], "accounts:read transfers:any");
    // A read-only client's consent asks no code.
    let (_, challenge) = pkce_pair();
    let url = authorize_url(&app, "accounts:read", &challenge, "s");
    let (_, _, consent) = login_to_consent(&app, &url, "tanaka", "tanaka-pass").await;
    assert!(!consent.contains("name=\"otp\""));
}

#[tokio::test]
async fn same_bank_transfer_moves_money_at_once_and_keeps_the_ledger_balanced() {
    let app = TestApp::spawn().await;
    let tanaka = pay_token(&app, "tanaka", PAY).await;
    let suzuki = pay_token(&app, "suzuki", PAY).await;
    let (t0, s0) = (
        balance(&app, &tanaka, TANAKA).await,
        balance(&app, &suzuki, SUZUKI).await,
    );

    // Quote: 110 below 30,000 yen, 220 from 30,000 (other branch of the same bank).
    let body = json!({"accountId": TANAKA, "transfers": [to_suzuki("12000"), to_suzuki("30000")]});
    let (status, quote) = post(&app, "/personal/v1/transfer/transferfee", &tanaka, body.clone()).await;
    assert_eq!(status, 200, "{quote}");
    assert_eq!(quote["totalFee"], "330");
    assert_eq!(quote["totalDebitAmount"], "42330");
    assert_eq!(quote["transferFeeDetails"][1]["transferFee"], "220");
    assert_eq!(quote["transferFeeDetails"][0]["destination"], "sameBank");
    assert_eq!(balance(&app, &tanaka, TANAKA).await, t0, "a quote moves nothing");

    let (status, done) = post(&app, "/personal/v1/transfer/request", &tanaka, body).await;
    assert_eq!(status, 201, "{done}");
    assert_eq!(done["resultCode"], "1");
    assert_eq!(done["transferStatus"], "20");
    assert_eq!(done["transferStatusName"], "手続済");
    let apply_no = done["applyNo"].as_str().unwrap();
    assert_eq!(apply_no.len(), 16);
    assert_eq!(balance(&app, &tanaka, TANAKA).await, t0 - 42_330);
    assert_eq!(balance(&app, &suzuki, SUZUKI).await, s0 + 42_000);

    // Both histories show it; the beneficiary sees the remitter's name.
    let (_, h) = app
        .get_json(
            &format!("/personal/v1/accounts/transactions?accountId={SUZUKI}"),
            &suzuki,
        )
        .await;
    let credits: Vec<&Value> = h["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["transactionType"] == "1")
        .collect();
    assert_eq!(credits.len(), 2);
    assert_eq!(credits[0]["remarks"], "ﾌﾘｺﾐ ﾀﾅｶ ﾀﾛｳ");
    assert_eq!(credits[1]["balance"], (s0 + 42_000).to_string());
    let (_, deposits) = app
        .get_json(
            &format!("/personal/v1/accounts/deposit-transactions?accountId={SUZUKI}"),
            &suzuki,
        )
        .await;
    assert_eq!(deposits["count"], 2);
    let (_, th) = app
        .get_json(
            &format!("/personal/v1/accounts/transactions?accountId={TANAKA}"),
            &tanaka,
        )
        .await;
    let remarks: Vec<&str> = th["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["remarks"].as_str().unwrap())
        .collect();
    assert_eq!(remarks, ["ﾌﾘｺﾐ ｽｽﾞｷ ﾊﾅｺ", "ﾌﾘｺﾐﾃｽｳﾘﾖｳ", "ﾌﾘｺﾐ ｽｽﾞｷ ﾊﾅｺ", "ﾌﾘｺﾐﾃｽｳﾘﾖｳ"]);
    let (_, b) = app
        .get_json(&format!("/personal/v1/accounts/balances?accountId={TANAKA}"), &tanaka)
        .await;
    assert_eq!(
        b["balances"][0]["previousDayBalance"],
        t0.to_string(),
        "yesterday's balance is unchanged"
    );

    // Status by applyNo and by date range; notifications for both customers; events.
    let (_, st) = app
        .get_json(&format!("/personal/v1/transfer/status?applyNo={apply_no}"), &tanaka)
        .await;
    assert_eq!(st["transfers"][0]["transferStatus"], "20");
    let (_, list) = app
        .get_json(&format!("/personal/v1/transfer/status?accountId={TANAKA}"), &tanaka)
        .await;
    assert_eq!(list["count"], 1);
    let (_, res) = app
        .get_json(
            &format!("/personal/v1/transfer/request-result?applyNo={apply_no}"),
            &tanaka,
        )
        .await;
    assert_eq!(res["applyNo"], apply_no);
    let (status, _) = app
        .get_json(
            &format!("/personal/v1/transfer/request-result?applyNo={apply_no}"),
            &suzuki,
        )
        .await;
    assert_eq!(status, 404, "another customer's transfer is not found");
    let (_, n) = app.admin_get("/sandbox/v1/notifications?username=suzuki").await;
    assert!(n["notifications"][0]["subject"].as_str().unwrap().contains("入金"));
    let (_, n) = app.admin_get("/sandbox/v1/notifications?username=tanaka").await;
    assert!(n["notifications"][0]["body"].as_str().unwrap().contains(apply_no));
    let (_, ev) = app.admin_get("/sandbox/v1/events").await;
    assert!(
        ev["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "transfer.completed" && e["data"]["applyNo"] == apply_no)
    );

    let l = assert_ledger_balanced(&app).await;
    let fee = l["systemAccounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "fee_income")
        .unwrap();
    assert_eq!(fee["balance"], "330");
}

#[tokio::test]
async fn a_wrong_beneficiary_name_returns_the_money_but_keeps_the_fee() {
    let app = TestApp::spawn().await;
    let tanaka = pay_token(&app, "tanaka", PAY).await;
    let t0 = balance(&app, &tanaka, TANAKA).await;
    let body = json!({"accountId": TANAKA, "transfers": [item("0999", "002", "1", "2345678", "ﾔﾏﾀﾞ ﾀﾛｳ", "5000")]});
    let (status, r) = post(&app, "/personal/v1/transfer/request", &tanaka, body).await;
    assert_eq!(status, 201, "{r}");
    assert_eq!(r["transferStatus"], "22");
    assert_eq!(r["resultCode"], "2");
    assert!(r["transfers"][0]["statusReason"].as_str().unwrap().contains("name"));
    assert_eq!(balance(&app, &tanaka, TANAKA).await, t0 - 110, "the fee is kept");
    // No such account at all: the same.
    let body = json!({"accountId": TANAKA, "transfers": [item("0999", "002", "1", "9999999", "ﾀﾞﾚｶ", "5000")]});
    let (_, r) = post(&app, "/personal/v1/transfer/request", &tanaka, body).await;
    assert_eq!(r["transferStatus"], "22");
    assert_eq!(balance(&app, &tanaka, TANAKA).await, t0 - 110 - 110);
    // Another bank that lists its accounts rejects unknown ones too, when it processes the
    // transfer: on the next business day (the clock starts on a Saturday).
    let body = json!({"accountId": TANAKA, "transfers": [item("0005", "100", "1", "1111111", "ﾍﾞﾂｼﾞﾝ", "5000")]});
    let (_, r) = post(&app, "/personal/v1/transfer/request", &tanaka, body).await;
    assert_eq!(r["transferStatus"], "11");
    app.advance("P3D").await;
    let tanaka = pay_token(&app, "tanaka", PAY).await;
    let (_, st) = app
        .get_json(
            &format!(
                "/personal/v1/transfer/status?applyNo={}",
                r["applyNo"].as_str().unwrap()
            ),
            &tanaka,
        )
        .await;
    assert_eq!(st["transfers"][0]["transferStatus"], "22");
    assert_eq!(balance(&app, &tanaka, TANAKA).await, t0 - 110 - 110 - 330);
    assert_ledger_balanced(&app).await;
}

#[tokio::test]
async fn other_bank_transfers_on_a_holiday_weekend_settle_on_the_next_business_day() {
    // The clock starts on Saturday 2026-11-21; Monday the 23rd is 勤労感謝の日.
    let app = TestApp::spawn().await;
    let tanaka = pay_token(&app, "tanaka", PAY).await;
    let t0 = balance(&app, &tanaka, TANAKA).await;
    let body = json!({"accountId": TANAKA, "transfers": [item("0005", "100", "1", "1111111", "ｻﾄｳ ｼﾞﾛｳ", "40000")]});
    let (_, quote) = post(&app, "/personal/v1/transfer/transferfee", &tanaka, body.clone()).await;
    assert_eq!(
        quote["transferExecutionDate"], "2026-11-24",
        "next business day after the holiday"
    );
    // Designated today (a Saturday) with the default holiday rule: runs on the 24th.
    let (status, r) = post(&app, "/personal/v1/transfer/request", &tanaka, body).await;
    assert_eq!(status, 201, "{r}");
    assert_eq!(r["transferStatus"], "11", "scheduled for the next business day: {r}");
    assert_eq!(r["transferExecutionDate"], "2026-11-24");
    let apply_no = r["applyNo"].as_str().unwrap().to_owned();
    assert_eq!(
        balance(&app, &tanaka, TANAKA).await,
        t0,
        "nothing moves before the execution date"
    );

    app.advance("P2D").await; // Monday the 23rd, a holiday: still scheduled.
    let tanaka = pay_token(&app, "tanaka", PAY).await;
    let (_, st) = app
        .get_json(&format!("/personal/v1/transfer/status?applyNo={apply_no}"), &tanaka)
        .await;
    assert_eq!(st["transfers"][0]["transferStatus"], "11");
    app.advance("P1D").await; // Tuesday 09:00, after the 08:30 run.
    let tanaka = pay_token(&app, "tanaka", PAY).await;
    let (_, st) = app
        .get_json(&format!("/personal/v1/transfer/status?applyNo={apply_no}"), &tanaka)
        .await;
    assert_eq!(st["transfers"][0]["transferStatus"], "20", "{st}");
    assert_eq!(balance(&app, &tanaka, TANAKA).await, t0 - 40_550);
    let (_, h) = app
        .get_json(
            &format!("/personal/v1/accounts/transactions?accountId={TANAKA}&dateFrom=2026-11-24"),
            &tanaka,
        )
        .await;
    assert_eq!(
        h["transactions"][0]["transactionDate"], "2026-11-24",
        "posted on the execution date"
    );
    let l = assert_ledger_balanced(&app).await;
    let clearing = l["systemAccounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "clearing:0005")
        .unwrap();
    assert_eq!(clearing["balance"], "40000");

    // Holiday rules: 2 (previous business day) would be in the past here, 3 rejects.
    let on_holiday = |code: &str| {
        json!({"accountId": TANAKA, "transferDesignatedDate": "2026-11-29", "transferDateHolidayCode": code,
               "transfers": [item("0005", "100", "1", "1111111", "ｻﾄｳ ｼﾞﾛｳ", "1000")]})
    };
    let (_, q1) = post(&app, "/personal/v1/transfer/transferfee", &tanaka, on_holiday("1")).await;
    assert_eq!(q1["transferExecutionDate"], "2026-11-30");
    let (_, q2) = post(&app, "/personal/v1/transfer/transferfee", &tanaka, on_holiday("2")).await;
    assert_eq!(q2["transferExecutionDate"], "2026-11-27");
    let (status, q3) = post(&app, "/personal/v1/transfer/transferfee", &tanaka, on_holiday("3")).await;
    assert_eq!(status, 400);
    assert!(q3["detail"].as_str().unwrap().contains("not a business day"), "{q3}");
}

#[tokio::test]
async fn other_bank_transfer_within_hours_completes_at_once_and_outside_hours_goes_through_suspense() {
    let app = TestApp::spawn().await;
    app.advance("P3D").await; // Tuesday 2026-11-24 09:00
    let tanaka = pay_token(&app, "tanaka", PAY).await;
    let body = json!({"accountId": TANAKA, "transfers": [item("0009", "123", "1", "7777777", "ﾅｶﾑﾗ ｹﾝ", "2000")]});
    let (_, r) = post(&app, "/personal/v1/transfer/request", &tanaka, body.clone()).await;
    assert_eq!(r["transferStatus"], "20", "within the bank's hours: {r}");
    app.advance("PT7H").await; // 16:00, after the 15:00 cut-off
    let tanaka = pay_token(&app, "tanaka", PAY).await;
    let (_, r) = post(&app, "/personal/v1/transfer/request", &tanaka, body).await;
    assert_eq!(
        r["transferStatus"], "12",
        "debited, waiting for the next business day: {r}"
    );
    let l = assert_ledger_balanced(&app).await;
    let suspense = l["systemAccounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "suspense")
        .unwrap();
    assert_eq!(suspense["balance"], "2000");
    let apply_no = r["applyNo"].as_str().unwrap().to_owned();
    app.advance("PT17H").await; // Wednesday 09:00
    let tanaka = pay_token(&app, "tanaka", PAY).await;
    let (_, st) = app
        .get_json(&format!("/personal/v1/transfer/status?applyNo={apply_no}"), &tanaka)
        .await;
    assert_eq!(st["transfers"][0]["transferStatus"], "20");
    let l = assert_ledger_balanced(&app).await;
    let suspense = l["systemAccounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "suspense")
        .unwrap();
    assert_eq!(suspense["balance"], "0");
}

#[tokio::test]
async fn scheduled_transfers_run_on_their_date_and_can_be_cancelled_before() {
    let app = TestApp::spawn().await;
    let tanaka = pay_token(&app, "tanaka", PAY).await;
    let suzuki = pay_token(&app, "suzuki", PAY).await;
    let (t0, s0) = (
        balance(&app, &tanaka, TANAKA).await,
        balance(&app, &suzuki, SUZUKI).await,
    );
    let later =
        |date: &str| json!({"accountId": TANAKA, "transferDesignatedDate": date, "transfers": [to_suzuki("7000")]});
    let (_, a) = post(&app, "/personal/v1/transfer/request", &tanaka, later("2026-11-26")).await;
    assert_eq!(a["transferStatus"], "11");
    assert_eq!(a["transferStatusName"], "予約中");
    let (_, b) = post(&app, "/personal/v1/transfer/request", &tanaka, later("2026-11-26")).await;
    let (status, c) = post(
        &app,
        "/personal/v1/transfer/cancel",
        &tanaka,
        json!({"applyNo": b["applyNo"]}),
    )
    .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["transferStatus"], "8");
    let (status, again) = post(
        &app,
        "/personal/v1/transfer/cancel",
        &tanaka,
        json!({"applyNo": b["applyNo"]}),
    )
    .await;
    assert_eq!(status, 409, "a cancelled transfer cannot be cancelled again: {again}");

    app.advance("P5D").await;
    let tanaka = pay_token(&app, "tanaka", PAY).await;
    let suzuki = pay_token(&app, "suzuki", PAY).await;
    let (_, st) = app
        .get_json(
            &format!(
                "/personal/v1/transfer/status?applyNo={}",
                a["applyNo"].as_str().unwrap()
            ),
            &tanaka,
        )
        .await;
    assert_eq!(st["transfers"][0]["transferStatus"], "20");
    assert_eq!(balance(&app, &tanaka, TANAKA).await, t0 - 7_110);
    assert_eq!(balance(&app, &suzuki, SUZUKI).await, s0 + 7_000);
    let (_, h) = app
        .get_json(
            &format!("/personal/v1/accounts/transactions?accountId={SUZUKI}&dateFrom=2026-11-21"),
            &suzuki,
        )
        .await;
    assert_eq!(
        h["transactions"][0]["transactionDate"], "2026-11-26",
        "ran on its designated date"
    );
    let (status, _) = post(
        &app,
        "/personal/v1/transfer/cancel",
        &tanaka,
        json!({"applyNo": a["applyNo"]}),
    )
    .await;
    assert_eq!(status, 409, "a completed transfer cannot be cancelled");
    // Insufficient funds on the execution date: failed (40), nothing moves.
    let big = json!({"accountId": TANAKA, "transferDesignatedDate": "2026-12-01", "transfers": [to_suzuki("5000000")]});
    let (status, big) = post(&app, "/personal/v1/transfer/request", &tanaka, big).await;
    assert_eq!(status, 201, "{big}");
    app.advance("P5D").await;
    let tanaka = pay_token(&app, "tanaka", PAY).await;
    let (_, st) = app
        .get_json(
            &format!(
                "/personal/v1/transfer/status?applyNo={}",
                big["applyNo"].as_str().unwrap()
            ),
            &tanaka,
        )
        .await;
    assert_eq!(st["transfers"][0]["transferStatus"], "40");
    assert_ledger_balanced(&app).await;
}

#[tokio::test]
async fn bad_requests_get_per_item_errors_and_nothing_moves() {
    let app = TestApp::spawn().await;
    let tanaka = pay_token(&app, "tanaka", PAY).await;
    let t0 = balance(&app, &tanaka, TANAKA).await;
    let body = json!({"accountId": TANAKA, "totalCount": "4", "transfers": [
        item("999", "002", "1", "2345678", "ｽｽﾞｷ", "1000"),
        item("0999", "777", "1", "2345678", "ｽｽﾞｷ", "1000"),
        item("0999", "002", "3", "23456", "ｽｽﾞｷ・ﾊﾅｺ", "0"),
        to_suzuki("abc"),
    ]});
    let (status, e) = post(&app, "/personal/v1/transfer/request", &tanaka, body).await;
    assert_eq!(status, 400, "{e}");
    assert_eq!(e["code"], "invalid_transfer");
    let errors = e["errors"].as_array().unwrap();
    let has = |item: u64, field: &str| errors.iter().any(|x| x["itemId"] == item && x["field"] == field);
    assert!(has(1, "beneficiaryBankCode"));
    assert!(has(2, "beneficiaryBranchCode"));
    assert!(
        has(3, "accountTypeCode") && has(3, "accountNumber") && has(3, "beneficiaryName") && has(3, "transferAmount")
    );
    assert!(has(4, "transferAmount"));
    // Kana is converted as banks do: full-width, small kana and lower case are fine.
    let body =
        json!({"accountId": TANAKA, "transfers": [item("0999", "002", "1", "2345678", "スズキ　ハナコ", "1000")]});
    let (_, ok) = post(&app, "/personal/v1/transfer/transferfee", &tanaka, body).await;
    assert_eq!(ok["totalFee"], "110");
    // Past dates, too many items, over the limit, more than the balance, malformed JSON.
    let (status, e) = post(
        &app,
        "/personal/v1/transfer/request",
        &tanaka,
        json!({"accountId": TANAKA, "transferDesignatedDate": "2026-11-20", "transfers": [to_suzuki("1")]}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(e["detail"].as_str().unwrap().contains("past"));
    let many: Vec<Value> = (0..100).map(|_| to_suzuki("1")).collect();
    let (status, _) = post(
        &app,
        "/personal/v1/transfer/request",
        &tanaka,
        json!({"accountId": TANAKA, "transfers": many}),
    )
    .await;
    assert_eq!(status, 400);
    let (status, e) = post(
        &app,
        "/personal/v1/transfer/request",
        &tanaka,
        json!({"accountId": TANAKA, "transfers": [to_suzuki("10000001")]}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(e["errors"][0]["message"].as_str().unwrap().contains("limit"));
    let (status, e) = post(
        &app,
        "/personal/v1/transfer/request",
        &tanaka,
        json!({"accountId": TANAKA, "transfers": [to_suzuki("9000000")]}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(e["code"], "insufficient_funds");
    let res = app
        .http
        .post(app.url("/personal/v1/transfer/request"))
        .bearer_auth(&tanaka)
        .header("content-type", "application/json")
        .body("{\"accountId\":")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let (status, _) = post(
        &app,
        "/personal/v1/transfer/request",
        &tanaka,
        json!({"accountId": SUZUKI, "transfers": [to_suzuki("1")]}),
    )
    .await;
    assert_eq!(status, 404, "another customer's account");
    let reader = app.access_token("tanaka", &["accounts:read"]).await;
    let (status, e) = post(
        &app,
        "/personal/v1/transfer/request",
        &reader,
        json!({"accountId": TANAKA, "transfers": [to_suzuki("1")]}),
    )
    .await;
    assert_eq!(status, 403, "{e}");
    assert_eq!(balance(&app, &tanaka, TANAKA).await, t0);
    assert_ledger_balanced(&app).await;
}

#[tokio::test]
async fn the_daily_limit_counts_every_transfer_of_the_day() {
    let app = TestApp::spawn().await;
    app.admin_post(
        "/sandbox/v1/accounts/00111234567/credit",
        json!({"amount": "30000000", "remitterName": "ﾀﾅｶ ｼﾖｳｼﾞ"}),
    )
    .await;
    let tanaka = pay_token(&app, "tanaka", PAY).await;
    for _ in 0..2 {
        let (status, r) = post(
            &app,
            "/personal/v1/transfer/request",
            &tanaka,
            json!({"accountId": TANAKA, "transfers": [to_suzuki("9000000")]}),
        )
        .await;
        assert_eq!(status, 201, "{r}");
    }
    let (status, e) = post(
        &app,
        "/personal/v1/transfer/request",
        &tanaka,
        json!({"accountId": TANAKA, "transfers": [to_suzuki("3000000")]}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(e["code"], "daily_limit_exceeded");
    app.advance("P1D").await;
    let tanaka = pay_token(&app, "tanaka", PAY).await;
    let (status, _) = post(
        &app,
        "/personal/v1/transfer/request",
        &tanaka,
        json!({"accountId": TANAKA, "transfers": [to_suzuki("3000000")]}),
    )
    .await;
    assert_eq!(status, 201, "a new day, a new limit");
}

#[tokio::test]
async fn the_own_accounts_scope_reaches_only_own_accounts_and_registered_payees() {
    let app = TestApp::spawn().await;
    let own = pay_token(&app, "tanaka", &["accounts:read", "transfers:own"]).await;
    let to_own = json!({"accountId": TANAKA, "transfers": [item("0999", "002", "4", "7654321", "ﾀﾅｶ ﾀﾛｳ", "1000")]});
    let (status, r) = post(&app, "/personal/v1/transfer/request", &own, to_own).await;
    assert_eq!(status, 201, "{r}");
    assert_eq!(r["transferStatus"], "20");
    let to_payee = json!({"accountId": TANAKA, "transfers": [item("0005", "100", "1", "1111111", "ｻﾄｳ ｼﾞﾛｳ", "1000")]});
    let (status, _) = post(&app, "/personal/v1/transfer/transferfee", &own, to_payee).await;
    assert_eq!(status, 200);
    let (status, e) = post(
        &app,
        "/personal/v1/transfer/request",
        &own,
        json!({"accountId": TANAKA, "transfers": [to_suzuki("1000")]}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(e["errors"][0]["message"].as_str().unwrap().contains("transfers:any"));
}

#[tokio::test]
async fn account_name_verification_answers_0_1_2_9() {
    let app = TestApp::spawn().await;
    let t = pay_token(&app, "tanaka", PAY).await;
    let check = |bank: &str, branch: &str, number: &str, name: &str| json!({"bankCode": bank, "branchCode": branch, "accountTypeCode": "1", "accountNumber": number, "accountName": name});
    // (bank, branch, number, name) → answer code
    for (bank, branch, number, name, code, why) in [
        ("0999", "002", "2345678", "すずき はなこ", "0", "converted name matches"),
        ("0999", "002", "2345679", "ｽｽﾞｷ ﾊﾅｺ", "1", "no such account"),
        ("0999", "002", "2345678", "ｽｽﾞｷ ｲﾁﾛｳ", "2", "name mismatch"),
        (
            "0005",
            "100",
            "1111111",
            "ｻﾄｳ ｼﾞﾛｳ",
            "0",
            "an account another bank lists",
        ),
        (
            "0009",
            "100",
            "1111111",
            "ｻﾄｳ ｼﾞﾛｳ",
            "9",
            "a bank whose accounts the sandbox does not know",
        ),
    ] {
        let (_, r) = post(
            &app,
            "/personal/v1/transfer/verify-account",
            &t,
            check(bank, branch, number, name),
        )
        .await;
        assert_eq!(r["resultCode"], code, "{why}: {r}");
        if code == "0" && bank == "0999" {
            assert_eq!(r["accountName"], "ｽｽﾞｷ ﾊﾅｺ");
        }
    }
    let (status, _) = post(
        &app,
        "/personal/v1/transfer/verify-account",
        &t,
        check("09", "002", "2345678", "ｽｽﾞｷ"),
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn corporate_transfers_wait_for_approval_and_can_be_approved_returned_or_expire() {
    let app = TestApp::spawn().await;
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
    let b0 = corp_balance(&app, &op, &from).await;
    let body = json!({"accountId": from, "applyComment": "11月分 外注費", "transfers": [to_suzuki("50000")]});
    let request = || post(&app, "/corporation/v1/transfer/request", &op, body.clone());

    let (status, r) = request().await;
    assert_eq!(status, 201, "{r}");
    assert_eq!(r["transferStatus"], "2");
    assert_eq!(r["resultCode"], "2");
    assert!(r["approvalDeadline"].is_string());
    assert_eq!(
        corp_balance(&app, &op, &from).await,
        b0,
        "nothing moves before approval"
    );
    let (status, e) = approve(&app, &r["applyNo"], "yamada-operator", "approve").await;
    assert_eq!(status, 403, "an operator cannot approve: {e}");
    let (status, done) = approve(&app, &r["applyNo"], "yamada-approver", "approve").await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["transferStatus"], "20");
    assert_eq!(corp_balance(&app, &op, &from).await, b0 - 50_220);
    let (status, _) = approve(&app, &r["applyNo"], "yamada-approver", "approve").await;
    assert_eq!(status, 409, "only once");

    let (_, r2) = request().await;
    let (_, returned) = approve(&app, &r2["applyNo"], "yamada-approver", "return").await;
    assert_eq!(returned["transferStatus"], "3");
    assert_eq!(returned["transferStatusName"], "差戻");

    let (_, r3) = request().await;
    let (status, c) = post(
        &app,
        "/corporation/v1/transfer/cancel",
        &op,
        json!({"applyNo": r3["applyNo"]}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(c["transferStatus"], "8");

    let (_, r4) = request().await;
    app.advance("P1DT1H").await;
    let (_, st) = app.admin_get("/sandbox/v1/events?limit=1000").await;
    assert!(
        st["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "transfer.expired" && e["data"]["applyNo"] == r4["applyNo"])
    );
    let (status, _) = approve(&app, &r4["applyNo"], "yamada-approver", "approve").await;
    assert_eq!(status, 409, "expired");
    assert_ledger_balanced(&app).await;
}

#[tokio::test]
async fn idempotency_keys_replay_refuse_other_bodies_and_never_duplicate() {
    let app = TestApp::spawn().await;
    let tanaka = pay_token(&app, "tanaka", PAY).await;
    let t0 = balance(&app, &tanaka, TANAKA).await;
    let send = |key: &str, amount: &str| {
        app.http
            .post(app.url("/personal/v1/transfer/request"))
            .bearer_auth(&tanaka)
            .header("Idempotency-Key", key)
            .json(&json!({"accountId": TANAKA, "transfers": [to_suzuki(amount)]}))
            .send()
    };
    let first = send("k-1", "1000").await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = send("k-1", "1000").await.unwrap();
    assert_eq!(again.status(), 201, "replayed with the same status");
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again, first, "the same answer, the same applyNo");
    let other = send("k-1", "2000").await.unwrap();
    assert_eq!(other.status(), 422);
    assert_eq!(balance(&app, &tanaka, TANAKA).await, t0 - 1_110, "one transfer only");

    // Concurrent duplicates: one runs, the rest are 409 or replays; never two transfers.
    let tries: Vec<_> = (0..12).map(|_| send("k-2", "3000")).collect();
    let results = futures_join(tries).await;
    let mut apply_nos = std::collections::HashSet::new();
    for r in results {
        let r = r.unwrap();
        let status = r.status().as_u16();
        assert!(status == 201 || status == 409, "got {status}");
        if status == 201 {
            let v: Value = r.json().await.unwrap();
            apply_nos.insert(v["applyNo"].as_str().unwrap().to_owned());
        } else {
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["code"], "idempotency_key_in_use");
        }
    }
    assert_eq!(apply_nos.len(), 1);
    assert_eq!(balance(&app, &tanaka, TANAKA).await, t0 - 1_110 - 3_110);
    // Keys are per client: another client may use the same key.
    let other_client = app
        .grant("tanaka", "demo-accounting", &["accounts:read", "transfers:any"])
        .await;
    let res = app
        .http
        .post(app.url("/personal/v1/transfer/request"))
        .bearer_auth(other_client["tokens"]["access_token"].as_str().unwrap())
        .header("Idempotency-Key", "k-1")
        .json(&json!({"accountId": TANAKA, "transfers": [to_suzuki("2000")]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
}

async fn futures_join<F: std::future::Future + Send + 'static>(futs: Vec<F>) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn credits_from_outside_notify_and_keep_the_ledger_balanced() {
    let app = TestApp::spawn().await;
    let (status, r) = app
        .admin_post(
            "/sandbox/v1/accounts/00111234567/credit",
            json!({"amount": "250000", "remitterName": "ｶ)ﾔﾏﾀﾞｼﾖｳｼﾞ", "ediInfo": "ｷﾕｳﾖ"}),
        )
        .await;
    assert_eq!(status, 201, "{r}");
    assert_eq!(r["balance"], "1450000");
    let (_, n) = app.admin_get("/sandbox/v1/notifications?username=tanaka").await;
    assert!(n["notifications"][0]["body"].as_str().unwrap().contains("250,000"));
    let (status, _) = app
        .admin_post(
            "/sandbox/v1/accounts/nope/credit",
            json!({"amount": "1", "remitterName": "ｱ"}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .admin_post(
            "/sandbox/v1/accounts/00111234567/credit",
            json!({"amount": "-5", "remitterName": "ｱ"}),
        )
        .await;
    assert_eq!(status, 400);
    assert_ledger_balanced(&app).await;
}

async fn corp_balance(app: &TestApp, token: &str, account: &str) -> i64 {
    let (_, b) = app
        .get_json(&format!("/corporation/v1/accounts/balances?accountId={account}"), token)
        .await;
    b["balances"][0]["balance"].as_str().unwrap().parse::<i64>().unwrap()
}

async fn approve(app: &TestApp, apply_no: &Value, who: &str, decision: &str) -> (u16, Value) {
    let path = format!("/sandbox/v1/transfers/{}/approval", apply_no.as_str().unwrap());
    app.admin_post(&path, json!({"approver": who, "decision": decision}))
        .await
}

#[tokio::test]
async fn approvers_can_decide_on_the_bank_side_page() {
    let app = TestApp::spawn().await;
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
    let (_, r) = post(
        &app,
        "/corporation/v1/transfer/request",
        &op,
        json!({"accountId": from, "applyComment": "家賃", "transfers": [to_suzuki("12345")]}),
    )
    .await;
    let apply_no = r["applyNo"].as_str().unwrap().to_owned();

    let page = app.http.get(app.url("/bank/approvals")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let refused = app
        .http
        .post(app.url("/bank/approvals/login"))
        .form(&[("username", "yamada-operator"), ("password", "operator-pass")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403, "operators cannot approve");
    // Approving payments asks the approver's one-time code too.
    for otp in [None, Some("999999")] {
        let mut form = vec![("username", "yamada-approver"), ("password", "approver-pass")];
        form.extend(otp.map(|o| ("otp", o)));
        let res = app
            .http
            .post(app.url("/bank/approvals/login"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "one-time code {otp:?}");
        assert!(res.text().await.unwrap().contains("Wrong one-time code"));
    }
    let list = app
        .http
        .post(app.url("/bank/approvals/login"))
        .form(&[
            ("username", "yamada-approver"),
            ("password", "approver-pass"),
            ("otp", "444444"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200);
    let html = list.text().await.unwrap();
    assert!(
        html.contains(&apply_no) && html.contains("家賃") && html.contains("12,345円"),
        "the pending transfer is listed"
    );
    let session = hidden_field(&html, "session").unwrap();
    let done = app
        .http
        .post(app.url("/bank/approvals/decide"))
        .form(&[
            ("session", session.as_str()),
            ("apply_no", apply_no.as_str()),
            ("decision", "approve"),
            ("comment", "OK"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(done.contains("手続済"), "approved and completed");
    assert!(!done.contains(&format!("value=\"{apply_no}\"")), "no longer waiting");
    let (_, st) = app
        .get_json(&format!("/corporation/v1/transfer/status?applyNo={apply_no}"), &op)
        .await;
    assert_eq!(st["transfers"][0]["transferStatus"], "20");
    let forged = app
        .http
        .post(app.url("/bank/approvals/decide"))
        .form(&[
            ("session", "apv_forged"),
            ("apply_no", apply_no.as_str()),
            ("decision", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
}
