//! Identifiers survive restarts: hundreds of restarts of the real binary on one data dir,
//! alternating graceful shutdown and SIGKILL, with a few transfers between them. Every
//! acknowledged `applyNo` must still be there exactly once, with its own amount and remitter:
//! an identifier that repeats after a restart would overwrite an earlier transfer.

use crate::common::{BinaryServer, http_client, listed_apply_nos, send_json};
use serde_json::{Value, json};
use std::collections::HashMap;

const ADMIN: &str = "restart-test-admin";
const RESTARTS: usize = 200;

/// One acknowledged transfer.
struct Acked {
    apply_no: String,
    account: String,
    amount: String,
    token: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_numbers_never_repeat_across_hundreds_of_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let http = http_client();
    let mut acked: Vec<Acked> = Vec::new();
    // Two remitters through two clients; the beneficiary is suzuki.
    let remitters = [
        ("tanaka", "00111234567", "demo-pay"),
        ("user00001", "", "demo-accounting"),
    ];
    let mut tokens: Vec<(String, String)> = Vec::new();

    for round in 0..RESTARTS {
        let mut server = BinaryServer::start(&data, ADMIN).await;
        let base = server.base.clone();
        if tokens.is_empty() {
            for (user, account, client) in remitters {
                let body = json!({"username": user, "clientId": client, "scopes": ["accounts:read", "transfers:any"]});
                let grants = format!("{base}/sandbox/v1/grants");
                let g = send_json(&http, reqwest::Method::POST, &grants, ADMIN, Some(&body)).await;
                let token = g["tokens"]["access_token"].as_str().expect("token").to_owned();
                let account = if account.is_empty() {
                    let url = format!("{base}/personal/v1/accounts");
                    let list = send_json(&http, reqwest::Method::GET, &url, &token, None).await;
                    list["accounts"][0]["accountId"].as_str().unwrap().to_owned()
                } else {
                    account.to_owned()
                };
                tokens.push((token, account));
            }
        }
        // A transfer from each remitter, amounts unique per round so records can't be confused.
        for (i, (token, account)) in tokens.iter().enumerate() {
            let amount = (1 + round * 2 + i).to_string();
            let r = http
                .post(format!("{base}/personal/v1/transfer/request"))
                .bearer_auth(token)
                .json(&json!({"accountId": account, "transfers": [{"transferAmount": amount,
                    "beneficiaryBankCode": "0999", "beneficiaryBranchCode": "002", "accountTypeCode": "1",
                    "accountNumber": "2345678", "beneficiaryName": "ｽｽﾞｷ ﾊﾅｺ"}]}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201, "round {round}: {}", r.text().await.unwrap());
            let v: Value = r.json().await.unwrap();
            acked.push(Acked {
                apply_no: v["applyNo"].as_str().unwrap().to_owned(),
                account: account.clone(),
                amount,
                token: token.clone(),
            });
        }
        if round % 2 == 0 {
            server.kill_9();
        } else {
            server.terminate();
        }
    }

    let mut server = BinaryServer::start(&data, ADMIN).await;
    let base = server.base.clone();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for a in &acked {
        *seen.entry(a.apply_no.as_str()).or_default() += 1;
        assert_eq!(a.apply_no.len(), 16, "applyNo has 16 digits");
    }
    let repeated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "apply numbers handed out twice: {repeated:?}");
    for a in &acked {
        let url = format!("{base}/personal/v1/transfer/request-result?applyNo={}", a.apply_no);
        let v = send_json(&http, reqwest::Method::GET, &url, &a.token, None).await;
        assert_eq!(v["applyNo"], a.apply_no.as_str());
        assert_eq!(v["accountId"], a.account.as_str(), "{} keeps its remitter", a.apply_no);
        assert_eq!(v["totalAmount"], a.amount.as_str(), "{} keeps its amount", a.apply_no);
    }
    // Each account lists exactly its own acknowledged transfers, once each.
    for (token, account) in &tokens {
        let mut listed = listed_apply_nos(&http, &base, token, account, "2026-11-01").await;
        let mut expected: Vec<String> = acked
            .iter()
            .filter(|a| &a.account == account)
            .map(|a| a.apply_no.clone())
            .collect();
        expected.sort();
        listed.sort();
        assert_eq!(
            listed, expected,
            "account {account} lists each acknowledged transfer once"
        );
    }
    let ledger = send_json(
        &http,
        reqwest::Method::GET,
        &format!("{base}/sandbox/v1/ledger"),
        ADMIN,
        None,
    )
    .await;
    assert_eq!(ledger["discrepancy"], "0", "{ledger}");
    server.kill_9();
}

/// `sandbank healthcheck` (the container's HEALTHCHECK) answers 0 against a running server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_succeeds_against_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = BinaryServer::start(dir.path(), "sbadm_health").await;
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_sandbank"))
            .args(["healthcheck", "--port", &port])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    server.terminate();
}
