//! Durability: drive transfers against the real binary, `kill -9` it at a random moment,
//! restart it on the same data dir, and check that every transfer that got a 2xx is there
//! exactly once (a retry with the same Idempotency-Key finds it instead of repeating it) and
//! that the ledger's invariants hold. Repeated several times on the same data dir.

mod common;

use common::{BinaryServer, http_client, individual_accounts, listed_apply_nos, send_json};
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

const ADMIN: &str = "crash-test-admin";
const CLIENTS: usize = 12;

/// One transfer a client asked for: its key, body, remitter token, and the applyNo if a 2xx came back.
#[derive(Clone)]
struct Sent {
    key: String,
    body: Value,
    token: String,
    account: String,
    apply_no: Option<String>,
}

async fn admin(http: &reqwest::Client, base: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    send_json(http, method, &format!("{base}{path}"), ADMIN, body.as_ref()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_transfers_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let http = http_client();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(20261121);
    let mut all: Vec<Sent> = Vec::new();

    for round in 0..3 {
        let mut server = BinaryServer::start(&data, ADMIN).await;
        let base = server.base.clone();
        let page = admin(
            &http,
            &base,
            reqwest::Method::GET,
            "/sandbox/v1/accounts?limit=1000",
            None,
        )
        .await;
        let accounts = individual_accounts(&page);

        // Before anything new: what earlier rounds acknowledged is there, exactly once.
        verify(&http, &base, &mut all).await;

        let mut tasks = Vec::new();
        for c in 0..CLIENTS {
            let remitter = accounts[c].clone();
            let g = admin(
                &http,
                &base,
                reqwest::Method::POST,
                "/sandbox/v1/grants",
                Some(json!({"username": remitter["customerId"], "clientId": "demo-pay", "scopes": ["transfers:any"]})),
            )
            .await;
            let token = g["tokens"]["access_token"].as_str().unwrap().to_owned();
            let accounts = accounts.clone();
            let base = base.clone();
            let seed = rng.random::<u64>();
            tasks.push(tokio::spawn(async move {
                let http = http_client();
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
                let mut sent = Vec::new();
                for n in 0.. {
                    let to = &accounts[rng.random_range(CLIENTS..accounts.len())];
                    let body = json!({"accountId": remitter["accountId"], "transfers": [{
                        "transferAmount": rng.random_range(1..300).to_string(), "beneficiaryBankCode": "0999",
                        "beneficiaryBranchCode": to["branchCode"], "accountTypeCode": to["accountTypeCode"],
                        "accountNumber": to["accountNumber"], "beneficiaryName": to["accountNameKana"]}]});
                    let mut s = Sent {
                        key: format!("r{round}-c{c}-{n}"),
                        body,
                        token: token.clone(),
                        account: remitter["accountId"].as_str().unwrap().to_owned(),
                        apply_no: None,
                    };
                    let res = http
                        .post(format!("{base}/personal/v1/transfer/request"))
                        .bearer_auth(&token)
                        .header("Idempotency-Key", &s.key)
                        .json(&s.body)
                        .send()
                        .await;
                    match res {
                        Ok(r) if r.status() == 201 => {
                            let v: Value = r.json().await.unwrap_or(Value::Null);
                            s.apply_no = v["applyNo"].as_str().map(str::to_owned);
                            sent.push(s);
                        }
                        Ok(r) => panic!("unexpected status {}", r.status()),
                        // The server died under us: this one may or may not have happened.
                        Err(_) => {
                            sent.push(s);
                            return sent;
                        }
                    }
                }
                sent
            }));
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(300..1500))).await;
        server.kill_9();
        let mut acknowledged = 0;
        for t in tasks {
            let sent = t.await.unwrap();
            acknowledged += sent.iter().filter(|s| s.apply_no.is_some()).count();
            all.extend(sent);
        }
        assert!(
            acknowledged > 0,
            "round {round}: some transfers were acknowledged before the kill"
        );
    }
    let mut server = BinaryServer::start(&data, ADMIN).await;
    verify(&http, &server.base, &mut all).await;
    server.kill_9();
}

/// Every acknowledged transfer exists; retrying any request (acknowledged or cut off) with its
/// key yields exactly one transfer; each account lists exactly the transfers its keys made;
/// money is conserved.
async fn verify(http: &reqwest::Client, base: &str, all: &mut [Sent]) {
    if all.is_empty() {
        return;
    }
    let retry = |s: &Sent| {
        http.post(format!("{base}/personal/v1/transfer/request"))
            .bearer_auth(&s.token)
            .header("Idempotency-Key", &s.key)
            .json(&s.body)
            .send()
    };
    for s in all.iter_mut() {
        let r = retry(s).await.unwrap();
        assert_eq!(r.status(), 201, "a retry of {} answers like the first", s.key);
        let replayed = r.headers().get("idempotent-replayed").is_some_and(|v| v == "true");
        let v: Value = r.json().await.unwrap();
        let no = v["applyNo"].as_str().unwrap().to_owned();
        if let Some(acked) = &s.apply_no {
            assert_eq!(&no, acked, "acknowledged transfer {} is there, not made again", s.key);
            assert!(replayed, "a retry of acknowledged {} is marked as a replay", s.key);
        } else if !replayed {
            // Cut off before it was written: this retry made it; the next one replays it.
            let again = retry(s).await.unwrap();
            assert_eq!(again.status(), 201);
            assert_eq!(
                again.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap()),
                Some("true"),
                "a second retry of {} is a replay",
                s.key
            );
            let v: Value = again.json().await.unwrap();
            assert_eq!(v["applyNo"].as_str(), Some(no.as_str()));
        }
        s.apply_no = Some(no);
    }
    let mut by_account: HashMap<String, (String, Vec<String>)> = HashMap::new();
    for s in all.iter() {
        let e = by_account
            .entry(s.account.clone())
            .or_insert_with(|| (s.token.clone(), Vec::new()));
        e.1.push(s.apply_no.clone().unwrap());
    }
    for (account, (token, mut expected)) in by_account {
        expected.sort();
        expected.dedup();
        let mut listed = listed_apply_nos(http, base, &token, &account, "2026-11-21").await;
        listed.sort();
        assert_eq!(
            listed, expected,
            "account {account}: each request made exactly one transfer"
        );
    }
    let ledger = admin(http, base, reqwest::Method::GET, "/sandbox/v1/ledger", None).await;
    assert_eq!(
        ledger["discrepancy"], "0",
        "money is conserved after the crash: {ledger}"
    );
    assert_eq!(ledger["accountsBelowLimit"], json!([]));
}
