//! Instant account debit end to end: the mandate is granted on the consent screen (biller
//! name, limits, account choice, one-time code), then the biller's debits answer with the
//! Zengin result codes; the depositor and the biller can end the mandate.

use crate::common::*;
use serde_json::{Value, json};

async fn mandate_token(
    app: &TestApp,
    user: &str,
    password: &str,
    otp: &str,
    account: &str,
    each: &str,
    month: &str,
) -> String {
    let (verifier, challenge) = pkce_pair();
    let url = authorize_url_with(
        app,
        &[
            ("response_type", "code"),
            ("client_id", "demo-biller"),
            ("redirect_uri", "http://127.0.0.1:3003/callback"),
            ("scope", "debits"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("debit_max_amount", each),
            ("debit_monthly_max_amount", month),
        ],
    );
    let (request_id, token, consent) = login_to_consent(app, &url, user, password).await;
    assert!(consent.contains("株式会社デモ電力"), "the biller is named");
    let grouped = |yen: &str| {
        let n: i64 = yen.parse().unwrap();
        let s = n.to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out + "円"
    };
    assert!(
        consent.contains(&grouped(each)) && consent.contains(&grouped(month)),
        "the limits are shown with thousands separators"
    );
    assert!(
        consent.contains(&format!("value=\"{account}\"")),
        "the account can be chosen"
    );
    let res = decide(
        app,
        &request_id,
        &token,
        "approve",
        &[("otp", otp), ("debit_account", account)],
    )
    .await;
    assert_eq!(res.status(), 303);
    let code = query_param(&location(&res), "code").unwrap();
    let (status, tokens) = app
        .token_request(
            "demo-biller",
            "biller-secret",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://127.0.0.1:3003/callback"),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(status, 200, "{tokens}");
    tokens["access_token"].as_str().unwrap().to_owned()
}

async fn debit(app: &TestApp, token: &str, mandate: &str, amount: &str) -> Value {
    let res = app
        .http
        .post(app.url("/personal/v1/debit/request"))
        .bearer_auth(token)
        .json(&json!({"mandateId": mandate, "amount": amount, "remarks": "ﾃﾞﾝｷﾘﾖｳｷﾝ"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn mandate_id(app: &TestApp, token: &str) -> String {
    let (status, list) = app.get_json("/personal/v1/debit/mandates", token).await;
    assert_eq!(status, 200, "{list}");
    list["mandates"].as_array().unwrap().last().unwrap()["mandateId"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn debits_answer_with_the_zengin_result_codes() {
    let app = TestApp::spawn().await;
    let biller = mandate_token(&app, "tanaka", "tanaka-pass", "111111", "00111234567", "10000", "15000").await;
    let mandate = mandate_id(&app, &biller).await;
    let reader = app
        .access_token("tanaka", &["accounts:read", "transactions:read"])
        .await;

    let r = debit(&app, &biller, &mandate, "3000").await;
    assert_eq!(r["resultCode"], "0", "{r}");
    assert_eq!(r["resultName"], "振替済");
    let (_, b) = app
        .get_json("/personal/v1/accounts/balances?accountId=00111234567", &reader)
        .await;
    assert_eq!(b["balances"][0]["balance"], "1197000");
    let (_, h) = app
        .get_json("/personal/v1/accounts/transactions?accountId=00111234567", &reader)
        .await;
    assert_eq!(h["transactions"][0]["remarks"], "ｺｳﾌﾘ ﾃﾞﾝｷﾘﾖｳｷﾝ");
    assert_eq!(h["transactions"][0]["transactionKind"], "14");
    let (_, n) = app.admin_get("/sandbox/v1/notifications?username=tanaka").await;
    assert!(n["notifications"][0]["subject"].as_str().unwrap().contains("口座振替"));

    assert_eq!(
        debit(&app, &biller, &mandate, "10001").await["resultCode"],
        "9",
        "over the per-debit maximum"
    );
    assert_eq!(debit(&app, &biller, &mandate, "10000").await["resultCode"], "0");
    assert_eq!(
        debit(&app, &biller, &mandate, "5000").await["resultCode"],
        "9",
        "over the monthly maximum"
    );
    assert_eq!(
        debit(&app, &biller, "mdt_nope", "100").await["resultCode"],
        "4",
        "no mandate"
    );

    // The depositor stops it: 3.
    let (status, stopped) = app
        .admin_post(&format!("/sandbox/v1/mandates/{mandate}/stop"), json!({}))
        .await;
    assert_eq!(status, 200, "{stopped}");
    assert_eq!(stopped["status"], "stoppedByDepositor");
    assert_eq!(debit(&app, &biller, &mandate, "100").await["resultCode"], "3");

    // A second mandate, cancelled by the biller: 8.
    let biller2 = mandate_token(&app, "tanaka", "tanaka-pass", "111111", "00247654321", "5000", "5000").await;
    let m2 = mandate_id(&app, &biller2).await;
    assert_ne!(m2, mandate);
    let res = app
        .http
        .post(app.url("/personal/v1/debit/mandates/cancel"))
        .bearer_auth(&biller2)
        .json(&json!({"mandateId": m2}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(debit(&app, &biller2, &m2, "100").await["resultCode"], "8");

    // Insufficient funds: 1 (suzuki holds 85,000 yen).
    let poor = mandate_token(
        &app,
        "suzuki",
        "suzuki-pass",
        "222222",
        "00212345678",
        "1000000",
        "1000000",
    )
    .await;
    let m3 = mandate_id(&app, &poor).await;
    assert_eq!(debit(&app, &poor, &m3, "90000").await["resultCode"], "1");
    assert_eq!(debit(&app, &poor, &m3, "80000").await["resultCode"], "0");
    // The account is closed: 2 (and a transfer to it is returned).
    let (status, closed) = app
        .admin_post("/sandbox/v1/accounts/00212345678/close", json!({}))
        .await;
    assert_eq!(status, 200, "{closed}");
    assert_eq!(closed["balance"], "0");
    assert_eq!(debit(&app, &poor, &m3, "100").await["resultCode"], "2");
    let (status, _) = app
        .admin_post("/sandbox/v1/accounts/00212345678/close", json!({}))
        .await;
    assert_eq!(status, 409);

    let (_, l) = app.admin_get("/sandbox/v1/ledger").await;
    assert_eq!(l["discrepancy"], "0", "{l}");
    let billed = l["systemAccounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "biller:demo-biller")
        .unwrap();
    assert_eq!(billed["balance"], "93000");
    let (_, m) = app.admin_get("/sandbox/v1/mandates?username=tanaka").await;
    assert_eq!(m["mandates"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn the_debits_scope_needs_limits_and_a_debit_needs_the_scope() {
    let app = TestApp::spawn().await;
    let (_, challenge) = pkce_pair();
    let url = authorize_url_with(
        &app,
        &[
            ("response_type", "code"),
            ("client_id", "demo-biller"),
            ("redirect_uri", "http://127.0.0.1:3003/callback"),
            ("scope", "debits"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let res = app.http.get(url).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(query_param(&location, "error").as_deref(), Some("invalid_request"));
    assert!(
        query_param(&location, "error_description")
            .unwrap()
            .contains("debit_max_amount")
    );
    let reader = app.access_token("tanaka", &["accounts:read"]).await;
    let res = app
        .http
        .post(app.url("/personal/v1/debit/request"))
        .bearer_auth(&reader)
        .json(&json!({"mandateId": "x", "amount": "1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}
