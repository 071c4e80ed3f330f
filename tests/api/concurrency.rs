//! Many concurrent transfers among many accounts, with idempotent retries racing their first
//! attempt; afterwards money is conserved, no balance is below its limit, and no retried
//! request made a second transfer. The workload is drawn by proptest from a seed.

use crate::common::*;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};

const USERS: usize = 24;
const TRANSFERS_PER_USER: usize = 12;

async fn run(seed: u64) {
    let app = TestApp::spawn().await;
    let (_, page) = app.admin_get("/sandbox/v1/accounts?limit=1000").await;
    let accounts = individual_accounts(&page);
    assert!(accounts.len() >= 100);
    let mut tasks = Vec::new();
    for u in 0..USERS {
        let remitter = accounts[u].clone();
        let g = app
            .grant(
                remitter["customerId"].as_str().unwrap(),
                "demo-pay",
                &["accounts:read", "transfers:any"],
            )
            .await;
        let token = g["tokens"]["access_token"].as_str().unwrap().to_owned();
        let base = app.base.clone();
        let accounts = accounts.clone();
        tasks.push(tokio::spawn(async move {
            let http = http_client();
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ (u as u64 * 7919));
            let mut created: HashMap<String, String> = HashMap::new(); // key -> applyNo
            for n in 0..TRANSFERS_PER_USER {
                let to = &accounts[rng.random_range(0..accounts.len())];
                if to["accountId"] == remitter["accountId"] {
                    continue;
                }
                // Some amounts exceed the balance on purpose.
                let amount = if rng.random_bool(0.1) {
                    rng.random_range(1_000_000..6_000_000)
                } else {
                    rng.random_range(1..50_000)
                };
                let body = json!({"accountId": remitter["accountId"], "transfers": [{
                    "transferAmount": amount.to_string(), "beneficiaryBankCode": "0999",
                    "beneficiaryBranchCode": to["branchCode"], "accountTypeCode": to["accountTypeCode"],
                    "accountNumber": to["accountNumber"], "beneficiaryName": to["accountNameKana"]}]});
                let key = format!("u{u}-t{n}");
                let attempts = if rng.random_bool(0.4) { 3 } else { 1 };
                let sends: Vec<_> = (0..attempts)
                    .map(|_| {
                        http.post(format!("{base}/personal/v1/transfer/request"))
                            .bearer_auth(&token)
                            .header("Idempotency-Key", &key)
                            .json(&body)
                            .send()
                    })
                    .collect();
                for res in futures_all(sends).await {
                    let res = res.unwrap();
                    let status = res.status().as_u16();
                    let v: Value = res.json().await.unwrap();
                    match status {
                        201 => {
                            let no = v["applyNo"].as_str().unwrap().to_owned();
                            if let Some(prev) = created.insert(key.clone(), no.clone()) {
                                assert_eq!(prev, no, "a retry must return the first transfer");
                            }
                        }
                        400 => assert!(
                            ["insufficient_funds", "daily_limit_exceeded"].contains(&v["code"].as_str().unwrap()),
                            "{v}"
                        ),
                        409 => assert_eq!(v["code"], "idempotency_key_in_use"),
                        other => panic!("unexpected {other}: {v}"),
                    }
                }
            }
            (remitter["accountId"].as_str().unwrap().to_owned(), token, created)
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    let (status, ledger) = app.admin_get("/sandbox/v1/ledger").await;
    assert_eq!(status, 200);
    assert_eq!(ledger["discrepancy"], "0", "money conserved: {ledger}");
    assert_eq!(ledger["accountsBelowLimit"], json!([]));
    for (account, token, created) in results {
        let (_, list) = app
            .get_json(
                &format!("/personal/v1/transfer/status?accountId={account}&dateFrom=2026-11-21"),
                &token,
            )
            .await;
        let listed: HashSet<String> = list["transfers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["applyNo"].as_str().unwrap().to_owned())
            .collect();
        let made: HashSet<String> = created.values().cloned().collect();
        assert_eq!(
            listed, made,
            "every transfer of {account} came from exactly one idempotency key"
        );
    }
}

async fn futures_all<F: std::future::Future>(futs: Vec<F>) -> Vec<F::Output> {
    let mut out = Vec::new();
    let mut pinned: Vec<_> = futs.into_iter().map(Box::pin).collect();
    // Drive them together so duplicates really race.
    let mut outputs: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if outputs[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => outputs[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    for o in outputs {
        out.extend(o);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3))]

    #[test]
    fn concurrent_transfers_conserve_money_and_never_duplicate(seed in any::<u64>()) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(run(seed));
    }
}
