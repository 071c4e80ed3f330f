//! Durability: drive transfers against the real binary, `kill -9` it at a random moment,
//! restart it on the same data dir, and check that every transfer that got a 2xx is there
//! exactly once (a retry with the same Idempotency-Key finds it instead of repeating it) and
//! that the ledger's invariants hold. Repeated several times on the same data dir, with three
//! sandboxes (the default and two created from the same scenario, so account numbers and apply
//! numbers collide) taking transfers at once: each transfer is found in its own sandbox only.

use crate::common::{BinaryServer, OPERATOR_KEY, http_client, individual_accounts, listed_apply_nos, send_json};
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

const ADMIN: &str = "crash-test-admin";
const CLIENTS: usize = 12;

/// One transfer a client asked for: its key, body, remitter token, and the applyNo if a 2xx came back.
#[derive(Clone)]
struct Sent {
    /// Which sandbox (index into the worlds).
    world: usize,
    key: String,
    body: Value,
    token: String,
    account: String,
    apply_no: Option<String>,
}

/// A sandbox: its path prefix and admin key.
#[derive(Clone)]
struct World {
    prefix: String,
    admin_key: String,
}

async fn admin(
    http: &reqwest::Client,
    base: &str,
    world: &World,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    send_json(
        http,
        method,
        &format!("{base}{}{path}", world.prefix),
        &world.admin_key,
        body.as_ref(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_transfers_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let http = http_client();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(20261121);
    let mut all: Vec<Sent> = Vec::new();
    let mut worlds = vec![World {
        prefix: String::new(),
        admin_key: ADMIN.into(),
    }];

    for round in 0..3 {
        let mut server = BinaryServer::start(&data, ADMIN).await;
        let base = server.base.clone();
        if round == 0 {
            for _ in 0..2 {
                let created = send_json(
                    &http,
                    reqwest::Method::POST,
                    &format!("{base}/operator/v1/sandboxes"),
                    OPERATOR_KEY,
                    Some(&json!({"scenario": "default"})),
                )
                .await;
                worlds.push(World {
                    prefix: format!("/s/{}", created["id"].as_str().expect("created")),
                    admin_key: created["adminKey"].as_str().unwrap().to_owned(),
                });
            }
        }
        let page = admin(
            &http,
            &base,
            &worlds[0],
            reqwest::Method::GET,
            "/sandbox/v1/accounts?limit=1000",
            None,
        )
        .await;
        let accounts = individual_accounts(&page);

        // Before anything new: what earlier rounds acknowledged is there, exactly once.
        verify(&http, &base, &worlds, &mut all).await;

        let mut tasks = Vec::new();
        for c in 0..CLIENTS {
            let remitter = accounts[c].clone();
            let w = c % worlds.len();
            let world = worlds[w].clone();
            let g = admin(
                &http,
                &base,
                &world,
                reqwest::Method::POST,
                "/sandbox/v1/grants",
                Some(json!({"username": remitter["customerId"], "clientId": "demo-pay", "scopes": ["transfers:any"]})),
            )
            .await;
            let token = g["tokens"]["access_token"].as_str().unwrap().to_owned();
            if round == 0 {
                // Enough for every round: a remitter that ran dry would answer 400
                // insufficient_funds, which is not what this test is about (a faster server
                // sends more transfers in each round's window).
                let credited = admin(
                    &http,
                    &base,
                    &world,
                    reqwest::Method::POST,
                    &format!(
                        "/sandbox/v1/accounts/{}/credit",
                        remitter["accountId"].as_str().unwrap()
                    ),
                    Some(json!({"amount": "100000000", "remitterName": "ﾃｽﾄ"})),
                )
                .await;
                assert_eq!(credited["accountId"], remitter["accountId"], "{credited}");
            }
            let accounts = accounts.clone();
            let base = format!("{base}{}", world.prefix);
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
                        world: w,
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
    verify(&http, &server.base, &worlds, &mut all).await;
    server.kill_9();
}

/// Every acknowledged transfer exists; retrying any request (acknowledged or cut off) with its
/// key yields exactly one transfer; each account lists exactly the transfers its keys made;
/// money is conserved.
async fn verify(http: &reqwest::Client, root: &str, worlds: &[World], all: &mut [Sent]) {
    if all.is_empty() {
        return;
    }
    let retry = |s: &Sent| {
        http.post(format!("{root}{}/personal/v1/transfer/request", worlds[s.world].prefix))
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
        // The transfer in its own sandbox is the one this request asked for (apply numbers
        // collide across sandboxes, amounts and beneficiaries tell them apart).
        let found = send_json(
            http,
            reqwest::Method::GET,
            &format!(
                "{root}{}/personal/v1/transfer/request-result?applyNo={no}",
                worlds[s.world].prefix
            ),
            &s.token,
            None,
        )
        .await;
        assert_eq!(
            found["totalAmount"], s.body["transfers"][0]["transferAmount"],
            "{} is in its own sandbox with its own amount: {found}",
            s.key
        );
        s.apply_no = Some(no);
    }
    for (w, world) in worlds.iter().enumerate() {
        let base = format!("{root}{}", world.prefix);
        let mut by_account: HashMap<String, (String, Vec<String>)> = HashMap::new();
        for s in all.iter().filter(|s| s.world == w) {
            let e = by_account
                .entry(s.account.clone())
                .or_insert_with(|| (s.token.clone(), Vec::new()));
            e.1.push(s.apply_no.clone().unwrap());
        }
        for (account, (token, mut expected)) in by_account {
            expected.sort();
            expected.dedup();
            let mut listed = listed_apply_nos(http, &base, &token, &account, "2026-11-21").await;
            listed.sort();
            assert_eq!(
                listed, expected,
                "sandbox {w} account {account}: each request made exactly one transfer, in this sandbox only"
            );
        }
        let ledger = admin(http, root, world, reqwest::Method::GET, "/sandbox/v1/ledger", None).await;
        assert_eq!(
            ledger["discrepancy"], "0",
            "sandbox {w}: money is conserved after the crash: {ledger}"
        );
        assert_eq!(ledger["accountsBelowLimit"], json!([]));
    }
}

/// Fault rules and transfers waiting for their outcome are sandbox state like any other: a rule
/// acknowledged with 201 and a transfer held in 13 by a magic beneficiary survive `kill -9`,
/// and the held transfer still completes when its time comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_rules_and_pending_outcomes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let http = http_client();
    let world = World {
        prefix: String::new(),
        admin_key: ADMIN.into(),
    };
    let mut server = BinaryServer::start(&data, ADMIN).await;
    let base = server.base.clone();
    let rule = json!({"id": "kept", "match": {"operation": "GET /personal/v1/accounts"}, "when": {"nth": [1]},
                      "effect": {"status": 503}});
    let added = admin(
        &http,
        &base,
        &world,
        reqwest::Method::POST,
        "/sandbox/v1/faults",
        Some(rule),
    )
    .await;
    assert_eq!(added["id"], "kept", "{added}");
    // Tuesday 09:00: transfers to other banks execute at once.
    admin(
        &http,
        &base,
        &world,
        reqwest::Method::POST,
        "/sandbox/v1/clock/advance",
        Some(json!({"by": "P3D"})),
    )
    .await;
    let g = admin(
        &http,
        &base,
        &world,
        reqwest::Method::POST,
        "/sandbox/v1/grants",
        Some(json!({"username": "tanaka", "clientId": "demo-pay", "scopes": ["accounts:read", "transfers:any"]})),
    )
    .await;
    let token = g["tokens"]["access_token"].as_str().unwrap().to_owned();
    let body = json!({"accountId": "00111234567", "transfers": [{"transferAmount": "5000", "beneficiaryBankCode": "0009",
        "beneficiaryBranchCode": "001", "accountTypeCode": "1", "accountNumber": "0000013", "beneficiaryName": "ﾃｽﾄ"}]});
    let r = send_json(
        &http,
        reqwest::Method::POST,
        &format!("{base}/personal/v1/transfer/request"),
        &token,
        Some(&body),
    )
    .await;
    assert_eq!(r["transferStatus"], "13", "{r}");
    let apply_no = r["applyNo"].as_str().unwrap().to_owned();
    server.kill_9();

    let mut server = BinaryServer::start(&data, ADMIN).await;
    let base = server.base.clone();
    let rules = admin(&http, &base, &world, reqwest::Method::GET, "/sandbox/v1/faults", None).await;
    assert_eq!(rules["rules"][0]["id"], "kept", "{rules}");
    let res = http
        .get(format!("{base}/personal/v1/accounts"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503, "the rule still fires on its first match");
    // The status seen with a fresh token (demo-pay's tokens live 15 minutes of sandbox time).
    let status = |by: Option<&'static str>| {
        let (http, base, world, apply_no) = (http.clone(), base.clone(), world.clone(), apply_no.clone());
        async move {
            if let Some(by) = by {
                let clock = admin(
                    &http,
                    &base,
                    &world,
                    reqwest::Method::POST,
                    "/sandbox/v1/clock/advance",
                    Some(json!({"by": by})),
                )
                .await;
                assert!(clock["now"].is_string(), "{clock}");
            }
            let g = admin(
                &http,
                &base,
                &world,
                reqwest::Method::POST,
                "/sandbox/v1/grants",
                Some(json!({"username": "tanaka", "clientId": "demo-pay", "scopes": ["transfers:any"]})),
            )
            .await;
            let token = g["tokens"]["access_token"].as_str().unwrap().to_owned();
            send_json(
                &http,
                reqwest::Method::GET,
                &format!("{base}/personal/v1/transfer/status?applyNo={apply_no}"),
                &token,
                None,
            )
            .await["transfers"][0]["transferStatus"]
                .clone()
        }
    };
    assert_eq!(status(None).await, "13");
    assert_eq!(status(Some("PT30M")).await, "13", "not yet");
    assert_eq!(status(Some("PT31M")).await, "20", "completed an hour after it ran");
    let ledger = admin(&http, &base, &world, reqwest::Method::GET, "/sandbox/v1/ledger", None).await;
    assert_eq!(ledger["discrepancy"], "0", "{ledger}");
    server.kill_9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_stops_windows_and_run_time_clients_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let http = http_client();
    let world = World {
        prefix: String::new(),
        admin_key: ADMIN.into(),
    };
    let mut server = BinaryServer::start(&data, ADMIN).await;
    let base = server.base.clone();
    let call = |method: reqwest::Method, path: &'static str, body: Option<Value>| {
        let (http, base, world) = (&http, base.clone(), &world);
        async move { admin(http, &base, world, method, path, body).await }
    };
    call(
        reqwest::Method::PUT,
        "/sandbox/v1/clients/demo-pay/capacity",
        Some(json!({"limits": [{"name": "daily", "kind": "update", "quota": 3, "per": "1d"}]})),
    )
    .await;
    let g = call(
        reqwest::Method::POST,
        "/sandbox/v1/grants",
        Some(json!({"username": "tanaka", "clientId": "demo-pay", "scopes": ["accounts:read", "transfers:any"]})),
    )
    .await;
    let token = g["tokens"]["access_token"].as_str().unwrap().to_owned();
    let body = json!({"accountId": "00111234567", "transfers": [{"transferAmount": "1000", "beneficiaryBankCode": "0999",
        "beneficiaryBranchCode": "002", "accountTypeCode": "1", "accountNumber": "2345678", "beneficiaryName": "ｽｽﾞｷ ﾊﾅｺ"}]});
    for _ in 0..2 {
        let r = send_json(
            &http,
            reqwest::Method::POST,
            &format!("{base}/personal/v1/transfer/request"),
            &token,
            Some(&body),
        )
        .await;
        assert!(r["applyNo"].is_string(), "{r}");
    }
    // Quota counts are stored by the access-log writer's tick (every 50 ms), like fault
    // counters; the next durable write makes them durable.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let stop = call(
        reqwest::Method::POST,
        "/sandbox/v1/clients/demo-pfm/suspension",
        Some(json!({"reason": "kept across a crash"})),
    )
    .await;
    assert_eq!(stop["reason"], "kept across a crash", "{stop}");
    let w = call(
        reqwest::Method::POST,
        "/sandbox/v1/maintenance",
        Some(json!({"id": "kept", "covers": "update", "start": "2026-12-01T00:00:00+09:00", "end": "2026-12-01T01:00:00+09:00"})),
    )
    .await;
    assert_eq!(w["id"], "kept", "{w}");
    let c = call(
        reqwest::Method::POST,
        "/sandbox/v1/clients",
        Some(
            json!({"clientId": "crash-fintech", "clientSecret": "crash-secret-1", "company": "x", "service": "y",
                    "redirectUris": ["http://127.0.0.1:4000/cb"], "scopes": ["accounts:read"]}),
        ),
    )
    .await;
    assert_eq!(c["clientId"], "crash-fintech", "{c}");
    server.kill_9();

    let _server = BinaryServer::start(&data, ADMIN).await;
    let base = _server.base.clone();
    let call = |method: reqwest::Method, path: &'static str| {
        let (http, base, world) = (&http, base.clone(), &world);
        async move { admin(http, &base, world, method, path, None).await }
    };
    let policy = call(reqwest::Method::GET, "/sandbox/v1/clients/demo-pay/capacity").await;
    assert_eq!(policy["limits"][0]["quota"], 3, "{policy}");
    let clients = call(reqwest::Method::GET, "/sandbox/v1/clients").await;
    let status_of = |id: &str| {
        clients["clients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["clientId"] == id)
            .map(|c| c["status"].clone())
    };
    assert_eq!(status_of("demo-pfm"), Some(json!("suspended")));
    assert_eq!(status_of("crash-fintech"), Some(json!("active")));
    let windows = call(reqwest::Method::GET, "/sandbox/v1/maintenance").await;
    assert_eq!(windows["windows"][0]["id"], "kept", "{windows}");
    // One transfer left today, then 429: the two before the crash still count.
    let send = || {
        http.post(format!("{base}/personal/v1/transfer/request"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    assert_eq!(send().await.unwrap().status(), 201);
    assert_eq!(send().await.unwrap().status(), 429);
    let (status, _) = {
        let r = http
            .post(format!("{base}/oauth/introspect"))
            .basic_auth("crash-fintech", Some("crash-secret-1"))
            .form(&[("token", "nothing")])
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), ())
    };
    assert_eq!(status, 200, "the run-time client's secret works after the restart");
}

/// A receiver that records every `webhook-id` it is sent and answers 503 until told to be
/// healthy (then 200).
async fn flaky_receiver() -> (
    String,
    std::sync::Arc<std::sync::Mutex<HashMap<String, Value>>>,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let got: Arc<Mutex<HashMap<String, Value>>> = Arc::default();
    let healthy = Arc::new(AtomicBool::new(false));
    let (g, h) = (got.clone(), healthy.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let (g, h) = (g.clone(), h.clone());
            async move {
                if !h.load(Ordering::SeqCst) {
                    return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                }
                let id = headers["webhook-id"].to_str().unwrap().to_owned();
                g.lock().unwrap().insert(id, serde_json::from_slice(&body).unwrap());
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got, healthy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_pending_and_in_flight_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let http = http_client();
    let world = World {
        prefix: String::new(),
        admin_key: ADMIN.into(),
    };
    let (url, got, healthy) = flaky_receiver().await;
    let mut server = BinaryServer::start(&data, ADMIN).await;
    let base = server.base.clone();
    let ep = admin(
        &http,
        &base,
        &world,
        reqwest::Method::POST,
        "/sandbox/v1/webhooks/endpoints",
        Some(json!({"clientId": "demo-pay", "url": url})),
    )
    .await;
    let endpoint = ep["id"].as_str().unwrap().to_owned();
    let g = admin(
        &http,
        &base,
        &world,
        reqwest::Method::POST,
        "/sandbox/v1/grants",
        Some(json!({"username": "tanaka", "clientId": "demo-pay", "scopes": ["accounts:read", "transfers:any"]})),
    )
    .await;
    let token = g["tokens"]["access_token"].as_str().unwrap().to_owned();
    let body = json!({"accountId": "00111234567", "transfers": [{"transferAmount": "100", "beneficiaryBankCode": "0999",
        "beneficiaryBranchCode": "002", "accountTypeCode": "1", "accountNumber": "2345678", "beneficiaryName": "ｽｽﾞｷ ﾊﾅｺ"}]});
    let mut acknowledged = Vec::new();
    for round in 0..3 {
        let base = server.base.clone();
        // Transfers from four tasks at once; the server is killed while they run, with
        // deliveries pending (the receiver answers 503) and in flight.
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let (http, base, token, body) = (http.clone(), base.clone(), token.clone(), body.clone());
            tasks.push(tokio::spawn(async move {
                let mut done = Vec::new();
                for _ in 0..40 {
                    let res = http
                        .post(format!("{base}/personal/v1/transfer/request"))
                        .bearer_auth(&token)
                        .json(&body)
                        .send()
                        .await;
                    match res {
                        Ok(r) if r.status() == 201 => {
                            let v: Value = r.json().await.unwrap_or(Value::Null);
                            if let Some(a) = v["applyNo"].as_str() {
                                done.push(a.to_owned());
                            }
                        }
                        _ => break,
                    }
                }
                done
            }));
        }
        tokio::time::sleep(Duration::from_millis(150 + 100 * round)).await;
        server.kill_9();
        for t in tasks {
            acknowledged.extend(t.await.unwrap());
        }
        server = BinaryServer::start(&data, ADMIN).await;
    }
    assert!(
        acknowledged.len() > 20,
        "some transfers were acknowledged: {}",
        acknowledged.len()
    );

    // The receiver comes back; retries due later in the schedule are brought forward by the
    // sandbox clock.
    healthy.store(true, std::sync::atomic::Ordering::SeqCst);
    let base = server.base.clone();
    let mut remaining = usize::MAX;
    for _ in 0..60 {
        admin(
            &http,
            &base,
            &world,
            reqwest::Method::POST,
            "/sandbox/v1/clock/advance",
            Some(json!({"by": "10m"})),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(250)).await;
        let u = admin(
            &http,
            &base,
            &world,
            reqwest::Method::GET,
            &format!("/sandbox/v1/webhooks/undelivered?endpointId={endpoint}&limit=500"),
            None,
        )
        .await;
        remaining = u["messages"].as_array().unwrap().len();
        if remaining == 0 {
            break;
        }
    }
    assert_eq!(remaining, 0, "every message delivered once the receiver is healthy");

    // Nothing skipped: every event about tanaka's account in the outbox reached the receiver,
    // and every acknowledged transfer's completion among them.
    let got = got.lock().unwrap().clone();
    let received_events: std::collections::HashSet<String> =
        got.values().map(|p| p["id"].as_str().unwrap().to_owned()).collect();
    let mut after = 0;
    let mut expected = 0;
    loop {
        let page = admin(
            &http,
            &base,
            &world,
            reqwest::Method::GET,
            &format!("/sandbox/v1/events?after={after}&limit=1000"),
            None,
        )
        .await;
        let events = page["events"].as_array().unwrap().clone();
        if events.is_empty() {
            break;
        }
        for e in &events {
            after = e["seq"].as_u64().unwrap();
            if e["data"]["accountId"] == "00111234567" {
                expected += 1;
                assert!(
                    received_events.contains(e["id"].as_str().unwrap()),
                    "{e} was never delivered"
                );
            }
        }
    }
    eprintln!(
        "{expected} events about the account, {} transfers acknowledged, {} messages received",
        acknowledged.len(),
        got.len()
    );
    assert!(
        expected >= acknowledged.len() * 3,
        "{expected} events for {} transfers",
        acknowledged.len()
    );
    for apply_no in &acknowledged {
        assert!(
            got.values()
                .any(|p| p["type"] == "transfer.completed" && p["data"]["applyNo"] == apply_no.as_str()),
            "{apply_no} acknowledged, its completion never delivered"
        );
    }
    server.terminate();
}
