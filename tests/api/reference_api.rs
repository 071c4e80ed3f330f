//! The reference APIs' boundaries: whose accounts a token reaches, which scope each endpoint
//! needs, bad query parameters, segments, public information, headers, the access log and
//! state surviving a restart.

use crate::common::*;
use serde_json::Value;

const READ_ALL: &[&str] = &["openid", "profile", "accounts:read", "transactions:read"];

#[tokio::test]
async fn a_token_only_reaches_its_own_users_accounts() {
    let app = TestApp::spawn().await;
    let tanaka = app.access_token("tanaka", READ_ALL).await;
    let suzuki = app.access_token("suzuki", READ_ALL).await;
    let (_, list) = app.get_json("/personal/v1/accounts", &suzuki).await;
    let suzuki_account = list["accounts"][0]["accountId"].as_str().unwrap().to_owned();
    for path in [
        format!("/personal/v1/accounts/balances?accountId={suzuki_account}"),
        format!("/personal/v1/accounts/transactions?accountId={suzuki_account}&dateFrom=2026-09-01"),
        format!("/personal/v1/accounts/deposit-transactions?accountId={suzuki_account}"),
    ] {
        let (status, body) = app.get_json(&path, &tanaka).await;
        assert_eq!(status, 404, "{path}: another user's account is not found");
        assert_eq!(body["code"], "account_not_found");
        assert!(
            !body.to_string().contains("ｽｽﾞｷ"),
            "nothing about the other account leaks"
        );
    }
    let (status, _) = app
        .get_json("/personal/v1/accounts/balances?accountId=99999999999", &tanaka)
        .await;
    assert_eq!(status, 404, "an account that does not exist answers the same");
    let (_, mine) = app.get_json("/personal/v1/accounts/balances", &tanaka).await;
    assert_eq!(mine["balances"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn each_endpoint_needs_its_scope() {
    let app = TestApp::spawn().await;
    let accounts_only = app.access_token("tanaka", &["accounts:read"]).await;
    let res = app
        .get(
            "/personal/v1/accounts/transactions?accountId=00111234567",
            &accounts_only,
        )
        .await;
    assert_eq!(res.status(), 403);
    assert!(
        res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "insufficient_scope");
    assert!(body["detail"].as_str().unwrap().contains("transactions:read"));

    let tx_only = app.access_token("tanaka", &["transactions:read"]).await;
    let (status, _) = app.get_json("/personal/v1/accounts", &tx_only).await;
    assert_eq!(status, 403);
    let (status, _) = app
        .get_json("/personal/v1/accounts/transactions?accountId=00111234567", &tx_only)
        .await;
    assert_eq!(status, 200);
    let (status, _) = app.get_json("/oauth/userinfo", &tx_only).await;
    assert_eq!(status, 403, "userinfo needs openid");
}

#[tokio::test]
async fn missing_and_bad_tokens_are_401() {
    let app = TestApp::spawn().await;
    let res = app.http.get(app.url("/personal/v1/accounts")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "missing_token");
    let (status, body) = app.get_json("/personal/v1/accounts", "sbat_forged").await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], "invalid_token");
    // The x-access-token alias works.
    let token = app.access_token("tanaka", READ_ALL).await;
    let res = app
        .http
        .get(app.url("/personal/v1/accounts"))
        .header("x-access-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn malformed_query_parameters_are_400_with_a_reason() {
    let app = TestApp::spawn().await;
    let token = app.access_token("tanaka", READ_ALL).await;
    let base = "/personal/v1/accounts/transactions?accountId=00111234567";
    for (query, code, hint) in [
        ("&dateFrom=2026-02-30", "invalid_date", "dateFrom"),
        ("&dateFrom=21-11-2026", "invalid_date", "YYYY-MM-DD"),
        ("&dateFrom=2026-11-10&dateTo=2026-11-01", "invalid_date_range", "after"),
        ("&dateTo=2026-11-01", "invalid_date", "dateFrom"),
        ("&limit=abc", "invalid_query", "limit"),
        ("&limit=0", "invalid_limit", "1..=500"),
        ("&limit=501", "invalid_limit", "1..=500"),
        ("&nextItemKey=garbage", "invalid_item_key", "nextItemKey"),
        ("&colour=blue", "invalid_query", "colour"),
    ] {
        let (status, body) = app.get_json(&format!("{base}{query}"), &token).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["code"], code, "{query}: {body}");
        assert!(body["detail"].as_str().unwrap().contains(hint), "{query}: {body}");
        assert!(body["requestId"].is_string());
    }
    let (status, body) = app.get_json("/personal/v1/accounts/transactions", &token).await;
    assert_eq!(status, 400, "accountId is required: {body}");
    // No dates = today only (history ends the day before the clock start).
    let (status, body) = app.get_json(base, &token).await;
    assert_eq!(status, 200);
    assert_eq!(body["dateFrom"], "2026-11-21");
    assert_eq!(body["dateTo"], "2026-11-21");
    assert_eq!(body["count"], 0);
}

#[tokio::test]
async fn segments_match_the_customer_kind() {
    let app = TestApp::spawn().await;
    let person = app.access_token("tanaka", READ_ALL).await;
    let (status, body) = app.get_json("/corporation/v1/accounts", &person).await;
    assert_eq!(status, 403);
    assert_eq!(body["code"], "wrong_segment");
    let g = app
        .grant(
            "yamada-operator",
            "demo-accounting",
            &["accounts:read", "transactions:read"],
        )
        .await;
    let corp = g["tokens"]["access_token"].as_str().unwrap();
    let (status, body) = app.get_json("/corporation/v1/accounts", corp).await;
    assert_eq!(status, 200);
    assert_eq!(body["accounts"][0]["accountNameKana"], "ｶ)ﾔﾏﾀﾞｼﾖｳｼﾞ");
    assert_eq!(body["accounts"].as_array().unwrap().len(), 2);
    let (status, _) = app.get_json("/personal/v1/accounts", corp).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn public_information_needs_no_token() {
    let app = TestApp::spawn().await;
    let (status, bank) = app.get_json("/public/v1/bank", "").await;
    assert_eq!(status, 200);
    assert_eq!(bank["bankCode"], "0999");
    let (_, branches) = app.get_json("/public/v1/branches", "").await;
    assert_eq!(branches["branches"][1]["branchCode"], "002");
    assert_eq!(branches["branches"][1]["branchNameKana"], "ｼﾌﾞﾔ");
    let (_, atms) = app.get_json("/public/v1/atms", "").await;
    assert_eq!(atms["atms"][0]["weekdayHours"], "07:00-23:00");
}

#[tokio::test]
async fn request_ids_fapi_ids_and_problem_shape() {
    let app = TestApp::spawn().await;
    let res = app
        .http
        .get(app.url("/healthz"))
        .header("x-fapi-interaction-id", "c770aef3-6784-41f7-8e0e-ff5f97bddb3a")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["x-fapi-interaction-id"],
        "c770aef3-6784-41f7-8e0e-ff5f97bddb3a"
    );
    assert!(res.headers().contains_key("x-request-id"));
    let res = app.http.get(app.url("/no/such/thing")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["requestId"], id);
    assert_eq!(body["type"], "urn:sandbank:problem:not_found");
    let res = app.http.delete(app.url("/personal/v1/accounts")).send().await.unwrap();
    assert_eq!(res.status(), 405);
    // Malformed JSON on the control plane.
    let res = app
        .http
        .post(app.url("/sandbox/v1/clock/advance"))
        .bearer_auth(&app.admin_key)
        .header("content-type", "application/json")
        .body("{\"by\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "invalid_json");
    let (status, body) = app
        .admin_post("/sandbox/v1/clock/advance", serde_json::json!({"by": 5}))
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = app
        .admin_post("/sandbox/v1/clock/advance", serde_json::json!({"by": "-P1D"}))
        .await;
    assert_eq!(status, 400, "{body}");
    let res = app
        .http
        .get(app.url("/sandbox/v1/clock"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn the_access_log_records_calls_without_secrets() {
    let app = TestApp::spawn().await;
    let g = app.grant("tanaka", "demo-pfm", READ_ALL).await;
    let token = g["tokens"]["access_token"].as_str().unwrap();
    let res = app
        .http
        .get(app.url("/personal/v1/accounts/balances?accountId=00111234567"))
        .bearer_auth(token)
        .header("x-end-user-ip", "203.0.113.7")
        .send()
        .await
        .unwrap();
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(
        app.get("/personal/v1/accounts/balances?accountId=nope", token)
            .await
            .status(),
        404
    );

    let (status, log) = app.admin_get("/sandbox/v1/access-logs?clientId=demo-pfm").await;
    assert_eq!(status, 200);
    let entries = log["entries"].as_array().unwrap();
    assert_eq!(entries[0]["status"], 404, "newest first");
    let e = &entries[1];
    assert_eq!(e["requestId"], request_id);
    assert_eq!(e["userId"], "u-tanaka");
    assert_eq!(e["operation"], "GET /personal/v1/accounts/balances");
    assert_eq!(e["accountId"], "00111234567");
    assert_eq!(e["status"], 200);
    assert_eq!(e["endUserIp"], "203.0.113.7");
    assert!(e["latencyMicros"].as_u64().is_some());
    let text = log.to_string();
    assert!(!text.contains(token), "tokens never appear in the log");
    assert!(!text.contains(&app.admin_key));

    let (_, only_404) = app.admin_get("/sandbox/v1/access-logs?status=404").await;
    assert!(
        only_404["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["status"] == 404)
    );
    let (_, page) = app.admin_get("/sandbox/v1/access-logs?limit=1").await;
    assert_eq!(page["hasNext"], true);
    let before = page["nextBefore"].as_u64().unwrap();
    let (_, next) = app
        .admin_get(&format!("/sandbox/v1/access-logs?limit=1&before={before}"))
        .await;
    assert!(next["entries"][0]["id"].as_u64().unwrap() < before);
}

#[tokio::test]
async fn state_survives_a_restart_and_another_scenario_is_refused() {
    let mut app = TestApp::spawn().await;
    let token = app.access_token("tanaka", READ_ALL).await;
    app.advance("PT30M").await;
    let (_, clock) = app.admin_get("/sandbox/v1/clock").await;
    app.stop().await;
    let dir = app.take_dir();
    let data_dir = app.data_dir.clone();

    let again = TestApp::spawn_on(sandbank::scenario::DEFAULT_SCENARIO, data_dir.clone()).await;
    let (status, _) = again.get_json("/personal/v1/accounts", &token).await;
    assert_eq!(status, 200, "tokens survive a restart");
    let (_, clock2) = again.admin_get("/sandbox/v1/clock").await;
    assert_eq!(
        clock2["offsetSeconds"], clock["offsetSeconds"],
        "the advanced clock survives a restart"
    );
    assert!(
        clock2["offsetSeconds"].as_i64().unwrap() < -1_000,
        "the clock started in the scenario's past"
    );
    assert_eq!(again.admin_key, app.admin_key, "the admin key is kept");
    let mut again = again;
    again.stop().await;

    let other = sandbank::scenario::DEFAULT_SCENARIO.replace("seed: 20261121", "seed: 7");
    let scenario = sandbank::scenario::load_str(&other, "other").unwrap();
    let mut err = String::new();
    for _ in 0..40 {
        let refused = sandbank::boot(sandbank::BootConfig {
            config: sandbank::Config {
                data_dir: data_dir.clone(),
                cache_mb: 16,
                ..Default::default()
            },
            scenario: scenario.clone(),
            public_url: "http://x".into(),
        });
        err = refused.err().expect("a different scenario is refused").to_string();
        if !err.contains("could not acquire lock") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(err.contains("--fresh"), "{err}");
    drop(dir);
}
