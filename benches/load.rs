//! Load benchmark (a program that prints figures, not a timed test):
//!
//!     cargo bench --bench load            # full run, 10 s per phase
//!     BENCH_SECONDS=3 cargo bench --bench load
//!
//! Builds a sandbox from `scenarios/large.yaml` in an empty data dir (timing the start), then
//! drives it over loopback with 64 keep-alive connections and prints req/s, p50, p99 and the
//! server's RSS for: a bare static-JSON route of the same size as the balance answer (the
//! physical-limit baseline), an authenticated balance read, an authenticated transactions
//! page of 50 items, and acknowledged-durable same-bank transfers (64 remitters, beneficiaries
//! drawn from 10,000 accounts), followed by the ledger's invariant check.

use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CONNECTIONS: usize = 64;
const ADMIN_KEY: &str = "bench-admin-key";

struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn rss_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

async fn get(port: u16, path: &str, token: Option<&str>) -> (u16, Bytes) {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = Request::get(path).header("host", "127.0.0.1");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let res = send
        .send_request(req.body(Empty::<Bytes>::new()).unwrap())
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.into_body().collect().await.unwrap().to_bytes())
}

/// The server under test: this build's binary, or `SANDBANK_BIN` (an older build, to measure
/// before and after a change in one sitting with the same load generator).
fn sandbank_binary() -> std::path::PathBuf {
    std::env::var_os("SANDBANK_BIN")
        .map(Into::into)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_sandbank").into())
}

async fn start_server() -> (Server, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let started = Instant::now();
    let child = Command::new(sandbank_binary())
        .args([
            "--scenario",
            "scenarios/large.yaml",
            "--port",
            &port.to_string(),
            "--admin-key",
            ADMIN_KEY,
            "--operator-key",
            OPERATOR_KEY,
        ])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env(
            "RUST_LOG",
            std::env::var("BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::null())
        .stderr(
            std::fs::File::create("/tmp/sandbank-bench-server.log")
                .map(Stdio::from)
                .unwrap_or(Stdio::null()),
        )
        .spawn()
        .expect("start sandbank");
    let server = Server { child, port, _dir: dir };
    loop {
        if let Ok(s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            drop(s);
            if get(port, "/healthz", None).await.0 == 200 {
                break;
            }
        }
        assert!(started.elapsed() < Duration::from_secs(300), "server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (server, started.elapsed())
}

/// Merges the connections' latencies into req/s, p50 and p99 (req/s of successes only when
/// `successes_only`).
async fn summarize(
    tasks: Vec<tokio::task::JoinHandle<(Vec<u32>, usize)>>,
    seconds: f64,
    successes_only: bool,
) -> Figures {
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.unwrap();
        all.extend(l);
        errors += e;
    }
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    let counted = if successes_only { all.len() - errors } else { all.len() };
    Figures {
        requests: all.len(),
        errors,
        rps: counted as f64 / seconds,
        p50: pct(0.50),
        p99: pct(0.99),
    }
}

struct Figures {
    requests: usize,
    errors: usize,
    rps: f64,
    p50: f64,
    p99: f64,
}

/// `CONNECTIONS` keep-alive connections sending `path` for `seconds`.
async fn drive(port: u16, path: &str, token: Option<&str>, seconds: f64) -> Figures {
    let targets = vec![(path.to_owned(), token.map(|t| format!("Bearer {t}")))];
    drive_targets(port, std::sync::Arc::new(targets), seconds).await
}

/// `CONNECTIONS` keep-alive connections for `seconds`, each cycling through `targets`
/// (path, authorization) from its own starting point.
async fn drive_targets(port: u16, targets: std::sync::Arc<Vec<(String, Option<String>)>>, seconds: f64) -> Figures {
    drive_connections(port, targets, CONNECTIONS, None, seconds).await
}

/// `conns` keep-alive connections for `seconds`, each cycling through `targets` and, with a
/// `gap`, sending at most one request per gap (a client that paces itself). Errors are the
/// answers that were not 2xx.
async fn drive_connections(
    port: u16,
    targets: std::sync::Arc<Vec<(String, Option<String>)>>,
    conns: usize,
    gap: Option<Duration>,
    seconds: f64,
) -> Figures {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    for c in 0..conns {
        let targets = targets.clone();
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .unwrap();
            tokio::spawn(conn);
            let mut latencies = Vec::with_capacity(100_000);
            let mut errors = 0;
            let mut n = c;
            let mut next = Instant::now();
            while Instant::now() < deadline {
                if let Some(gap) = gap {
                    tokio::time::sleep_until(next.into()).await;
                    next += gap;
                }
                let (path, auth) = &targets[n % targets.len()];
                n += 1;
                let mut req = Request::get(path.as_str()).header("host", "127.0.0.1");
                if let Some(a) = auth {
                    req = req.header("authorization", a.as_str());
                }
                let t0 = Instant::now();
                let res = send
                    .send_request(req.body(Empty::<Bytes>::new()).unwrap())
                    .await
                    .unwrap();
                let ok = res.status().is_success();
                let _ = res.into_body().collect().await.unwrap();
                latencies.push(t0.elapsed().as_micros() as u32);
                if !ok {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    summarize(tasks, seconds, false).await
}

async fn request_json(
    port: u16,
    method: &str,
    path: &str,
    auth: &str,
    body: Option<String>,
) -> (u16, serde_json::Value) {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1")
        .header("authorization", format!("Bearer {auth}"))
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(Bytes::from(body.unwrap_or_default())))
        .unwrap();
    let res = send.send_request(req).await.unwrap();
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

/// Same-bank transfers: each connection is one remitter sending to random beneficiaries.
async fn drive_transfers(
    port: u16,
    remitters: Vec<(String, String)>,
    beneficiaries: std::sync::Arc<Vec<serde_json::Value>>,
    seconds: f64,
) -> Figures {
    drive_transfers_timed(port, remitters, beneficiaries, seconds, None, None, false).await
}

/// When each transfer was sent, by applyNo (for event-to-delivery latency).
type SentAt = std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Instant>>>;

/// Same-bank transfers as `drive_transfers`; each connection sends at most one every `pace`
/// when given, records when each acknowledged transfer was sent in `sent`, and with `keyed`
/// sends every request with its own `Idempotency-Key`.
async fn drive_transfers_timed(
    port: u16,
    remitters: Vec<(String, String)>,
    beneficiaries: std::sync::Arc<Vec<serde_json::Value>>,
    seconds: f64,
    pace: Option<Duration>,
    sent: Option<SentAt>,
    keyed: bool,
) -> Figures {
    // Keys must be new in every phase (a key used before would replay its first answer).
    let phase = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    for (i, (account, token)) in remitters.into_iter().enumerate() {
        let beneficiaries = beneficiaries.clone();
        let sent = sent.clone();
        tasks.push(tokio::spawn(async move {
            let mut ticks = pace.map(|p| {
                let mut t = tokio::time::interval(p);
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                t
            });
            let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
            tokio::spawn(conn);
            let auth = format!("Bearer {token}");
            let mut latencies = Vec::new();
            let mut errors = 0;
            let mut n = i * 7919;
            while Instant::now() < deadline {
                n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let to = &beneficiaries[(n >> 33) % beneficiaries.len()];
                if to["accountId"] == account.as_str() {
                    continue;
                }
                let body = format!(
                    r#"{{"accountId":"{account}","transfers":[{{"transferAmount":"{}","beneficiaryBankCode":"0999","beneficiaryBranchCode":"{}","accountTypeCode":"{}","accountNumber":"{}","beneficiaryName":"{}"}}]}}"#,
                    (n >> 40) % 1000 + 1,
                    to["branchCode"].as_str().unwrap(),
                    to["accountTypeCode"].as_str().unwrap(),
                    to["accountNumber"].as_str().unwrap(),
                    to["accountNameKana"].as_str().unwrap()
                );
                let mut req = Request::post("/personal/v1/transfer/request")
                    .header("host", "127.0.0.1")
                    .header("authorization", auth.as_str())
                    .header("content-type", "application/json");
                if keyed {
                    req = req.header("idempotency-key", format!("bench-{phase}-{i}-{n}"));
                }
                let req = req.body(http_body_util::Full::new(Bytes::from(body))).unwrap();
                if let Some(t) = ticks.as_mut() {
                    t.tick().await;
                }
                let t0 = Instant::now();
                let res = send.send_request(req).await.unwrap();
                let ok = res.status().as_u16() == 201;
                let body = res.into_body().collect().await.unwrap().to_bytes();
                latencies.push(t0.elapsed().as_micros() as u32);
                if let (true, Some(sent)) = (ok, &sent) {
                    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                    if let Some(a) = v["applyNo"].as_str() {
                        sent.lock().unwrap().insert(a.to_owned(), t0);
                    }
                }
                if !ok {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    summarize(tasks, seconds, true).await
}

/// The bare baseline: a minimal axum server in its own process (this program started again
/// with `SANDBANK_BARE_AXUM` set; same axum and hyper as sandbank). It looks the bearer token
/// up in a hash map and answers the balance and transactions routes with JSON bodies of the
/// sizes sandbank's answers have: what the machine can do with no bank behind it.
struct Bare {
    child: Child,
    port: u16,
}

impl Drop for Bare {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_bare(balance_bytes: usize, tx_bytes: usize, token: &str) -> Bare {
    let port = free_port();
    let child = Command::new(std::env::current_exe().unwrap())
        .env(
            "SANDBANK_BARE_AXUM",
            format!("{port},{balance_bytes},{tx_bytes},{token}"),
        )
        .stdout(Stdio::null())
        .spawn()
        .expect("start the bare server");
    let bare = Bare { child, port };
    for _ in 0..500 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return bare;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the bare server did not start");
}

/// The bare server's own main (see `Bare`).
fn bare_axum_main(spec: &str) {
    use axum::http::{HeaderMap, StatusCode};
    let parts: Vec<&str> = spec.split(',').collect();
    let port: u16 = parts[0].parse().unwrap();
    let body_of = |n: usize| format!("{{\"pad\":\"{}\"}}", "x".repeat(n.saturating_sub(10)));
    let (balance, transactions) = (body_of(parts[1].parse().unwrap()), body_of(parts[2].parse().unwrap()));
    let tokens: std::sync::Arc<std::collections::HashMap<String, u64>> =
        std::sync::Arc::new([(format!("Bearer {}", parts[3]), 1)].into_iter().collect());
    let answer = move |tokens: std::sync::Arc<std::collections::HashMap<String, u64>>, body: String| {
        move |headers: HeaderMap| {
            let (tokens, body) = (tokens.clone(), body.clone());
            async move {
                let known = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|t| tokens.contains_key(t));
                if known {
                    (StatusCode::OK, [("content-type", "application/json")], body)
                } else {
                    (
                        StatusCode::UNAUTHORIZED,
                        [("content-type", "application/json")],
                        String::new(),
                    )
                }
            }
        }
    };
    let app = axum::Router::new()
        .route(
            "/personal/v1/accounts/balances",
            axum::routing::get(answer(tokens.clone(), balance)),
        )
        .route(
            "/personal/v1/accounts/transactions",
            axum::routing::get(answer(tokens, transactions)),
        );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        axum::serve(listener, app).await.unwrap();
    });
}

/// The median of each figure over runs of one phase.
fn median(runs: &[Figures]) -> Figures {
    let mid = |f: fn(&Figures) -> f64| {
        let mut v: Vec<f64> = runs.iter().map(f).collect();
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    Figures {
        requests: runs.iter().map(|r| r.requests).sum::<usize>() / runs.len().max(1),
        errors: runs.iter().map(|r| r.errors).sum(),
        rps: mid(|f| f.rps),
        p50: mid(|f| f.p50),
        p99: mid(|f| f.p99),
    }
}

/// Phases run this many times each, interleaved; figures are medians.
const RUNS: usize = 3;

/// Balance reads and transactions pages, against the bare server and sandbank, each
/// `RUNS` times interleaved; answers the medians (bare balance, sandbank balance).
async fn read_phases(
    port: u16,
    bare: &Bare,
    balance_path: &str,
    tx_path: &str,
    token: &str,
    seconds: f64,
    pid: u32,
) -> (Figures, Figures) {
    let bare_tx_path = "/personal/v1/accounts/transactions";
    drive(bare.port, balance_path, Some(token), 1.0).await;
    drive(port, balance_path, Some(token), 1.0).await;
    drive(port, tx_path, Some(token), 1.0).await;
    let (mut bare_bal, mut bal, mut bare_tx, mut txs) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // Server CPU per answered request (µs), per phase: steadier than req/s on a noisy machine.
    let (mut cpu_bare_bal, mut cpu_bal, mut cpu_bare_tx, mut cpu_tx) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let bare_pid = bare.child.id();
    for run in 1..=RUNS {
        let (f, cpu) = with_cpu(bare_pid, drive(bare.port, balance_path, Some(token), seconds)).await;
        print_row(&format!("bare axum, balance-size body #{run}"), &f, 0.0);
        bare_bal.push(f);
        cpu_bare_bal.push(cpu);
        let (f, cpu) = with_cpu(pid, drive(port, balance_path, Some(token), seconds)).await;
        print_row(&format!("authenticated balance read #{run}"), &f, rss_mib(pid, "VmRSS"));
        bal.push(f);
        cpu_bal.push(cpu);
        let (f, cpu) = with_cpu(bare_pid, drive(bare.port, bare_tx_path, Some(token), seconds)).await;
        print_row(&format!("bare axum, 50-item-size body #{run}"), &f, 0.0);
        bare_tx.push(f);
        cpu_bare_tx.push(cpu);
        let (f, cpu) = with_cpu(pid, drive(port, tx_path, Some(token), seconds)).await;
        print_row(
            &format!("authenticated transactions (50) #{run}"),
            &f,
            rss_mib(pid, "VmRSS"),
        );
        txs.push(f);
        cpu_tx.push(cpu);
    }
    let (bare_bal, bal, bare_tx, txs) = (median(&bare_bal), median(&bal), median(&bare_tx), median(&txs));
    let mid = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!();
    println!(
        "balance read / bare axum: {:.0}%   (medians of {RUNS}: sandbank {:.0} req/s p50 {:.2} ms p99 {:.2} ms; bare {:.0} req/s p50 {:.2} ms p99 {:.2} ms; target >= 80%, p99 <= 5 ms)",
        100.0 * bal.rps / bare_bal.rps,
        bal.rps,
        bal.p50,
        bal.p99,
        bare_bal.rps,
        bare_bal.p50,
        bare_bal.p99
    );
    println!(
        "transactions page / bare axum: {:.0}%   (medians of {RUNS}: sandbank {:.0} req/s p50 {:.2} ms p99 {:.2} ms; bare {:.0} req/s p50 {:.2} ms p99 {:.2} ms; target >= 50%)",
        100.0 * txs.rps / bare_tx.rps,
        txs.rps,
        txs.p50,
        txs.p99,
        bare_tx.rps,
        bare_tx.p50,
        bare_tx.p99
    );
    println!(
        "server CPU per request (medians): balance read {:.1} µs vs bare {:.1} µs; transactions page {:.1} µs vs bare {:.1} µs",
        mid(&mut cpu_bal),
        mid(&mut cpu_bare_bal),
        mid(&mut cpu_tx),
        mid(&mut cpu_bare_tx)
    );
    println!();
    (bare_bal, bal)
}

/// CPU seconds (user + system) a process has used, from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at state, field 3.
    let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 (11 and 12 counted from state); 100 ticks a second.
    (ticks(11) + ticks(12)) / 100.0
}

/// Runs a phase and answers its figures and the server's CPU per answered request, in µs.
async fn with_cpu(pid: u32, phase: impl std::future::Future<Output = Figures>) -> (Figures, f64) {
    let before = cpu_seconds(pid);
    let f = phase.await;
    let used = cpu_seconds(pid) - before;
    let per_request = 1e6 * used / f.requests.max(1) as f64;
    (f, per_request)
}

/// The transfer writer's mean batch and sync time so far, from `/metrics`: what a transfer
/// waits for besides its own share of the batch's write.
async fn writer_summary(port: u16) {
    let (status, body) = get(port, "/metrics", Some(OPERATOR_KEY)).await;
    assert_eq!(status, 200);
    let text = String::from_utf8_lossy(&body);
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0.0)
    };
    let (batches, transfers) = (
        value("sandbank_transfer_write_batch_size_count"),
        value("sandbank_transfer_write_batch_size_sum"),
    );
    let sync = value("sandbank_transfer_sync_seconds_sum");
    println!(
        "transfer writer: {batches:.0} batches, {:.1} transfers per batch on average, mean sync {:.2} ms",
        transfers / batches.max(1.0),
        1000.0 * sync / batches.max(1.0)
    );
}

/// A capacity policy set high enough never to trigger: a rate and a daily quota.
const NEVER_TRIGGERING: &str = r#"{"limits":[{"name":"reads","kind":"reference","rate":10000000,"per":"1s"},{"name":"daily","kind":"any","quota":1000000000,"per":"1d"}]}"#;

/// Sets the bench client's and the bank-wide capacity policy (`{}`: none).
async fn set_capacity(port: u16, policy: &str) {
    for path in ["/sandbox/v1/clients/bench/capacity", "/sandbox/v1/capacity"] {
        let (s, body) = request_json(port, "PUT", path, ADMIN_KEY, Some(policy.to_owned())).await;
        assert_eq!(s, 200, "{body}");
    }
}

/// Puts every policy layer to work without letting it answer (the issue's "every layer
/// present"): a never-triggering capacity policy for the client and bank-wide, and ten fault
/// rules on the measured operations that never match (they name another user). `false`
/// removes them again.
async fn every_layer_present(port: u16, on: bool) {
    let policy = if on { NEVER_TRIGGERING } else { "{}" };
    set_capacity(port, policy).await;
    if !on {
        let (s, _) = request_json(port, "DELETE", "/sandbox/v1/faults", ADMIN_KEY, None).await;
        assert_eq!(s, 204);
        return;
    }
    for i in 0..10 {
        let operation = if i % 2 == 0 {
            "GET /personal/v1/accounts/balances"
        } else {
            "GET /personal/v1/accounts/transactions"
        };
        let rule = format!(
            r#"{{"id":"never-{i}","match":{{"operation":"{operation}","username":"nobody-{i}"}},"effect":{{"status":503}}}}"#
        );
        let (s, body) = request_json(port, "POST", "/sandbox/v1/faults", ADMIN_KEY, Some(rule)).await;
        assert_eq!(s, 201, "{body}");
    }
}

/// Balance reads with fault rules present: 50 rules that do not match (each names the balance
/// operation, so the cheap checks pass and the user differs), then one rule that adds 0 ms of
/// latency to every request. Compared with balance reads without rules measured around them.
async fn fault_phases(port: u16, balance_path: &str, token: &str, seconds: f64, pid: u32) {
    drive(port, balance_path, Some(token), 1.0).await;
    let before = drive(port, balance_path, Some(token), seconds).await;
    print_row("balance, no rules", &before, rss_mib(pid, "VmRSS"));
    for i in 0..50 {
        let rule = format!(
            r#"{{"id":"miss-{i}","match":{{"operation":"GET /personal/v1/accounts/balances","username":"nobody-{i}"}},"effect":{{"status":503}}}}"#
        );
        let (s, body) = request_json(port, "POST", "/sandbox/v1/faults", ADMIN_KEY, Some(rule)).await;
        assert_eq!(s, 201, "{body}");
    }
    drive(port, balance_path, Some(token), 1.0).await;
    let missing = drive(port, balance_path, Some(token), seconds).await;
    print_row("balance, 50 fault rules, no match", &missing, rss_mib(pid, "VmRSS"));
    let (s, _) = request_json(port, "DELETE", "/sandbox/v1/faults", ADMIN_KEY, None).await;
    assert_eq!(s, 204);
    let rule = r#"{"id":"zero-latency","match":{"kind":"reference"},"effect":{"latency":"0ms"}}"#.to_owned();
    let (s, body) = request_json(port, "POST", "/sandbox/v1/faults", ADMIN_KEY, Some(rule)).await;
    assert_eq!(s, 201, "{body}");
    drive(port, balance_path, Some(token), 1.0).await;
    let zero = drive(port, balance_path, Some(token), seconds).await;
    print_row("balance, one 0 ms latency rule", &zero, rss_mib(pid, "VmRSS"));
    let (s, _) = request_json(port, "DELETE", "/sandbox/v1/faults", ADMIN_KEY, None).await;
    assert_eq!(s, 204);
    drive(port, balance_path, Some(token), 1.0).await;
    let after = drive(port, balance_path, Some(token), seconds).await;
    print_row("balance, no rules (again)", &after, rss_mib(pid, "VmRSS"));
    let without = (before.rps + after.rps) / 2.0;
    let without_p99 = (before.p99 + after.p99) / 2.0;
    println!(
        "faults: 50 rules not matching / no rules: {:.0}% (target >= 95%), p99 {:.2} ms vs {:.2} ms",
        100.0 * missing.rps / without,
        missing.p99,
        without_p99
    );
    println!(
        "faults: one 0 ms latency rule / no rules: {:.0}% (target >= 95%), p99 {:.2} ms vs {:.2} ms",
        100.0 * zero.rps / without,
        zero.p99,
        without_p99
    );
}

/// `conns` keep-alive connections for `seconds`, each sending `path` at most `per_conn` times a
/// second (a client that paces itself).
async fn drive_paced(port: u16, path: &str, auth: &str, conns: usize, per_conn: f64, seconds: f64) -> Figures {
    let targets = vec![(path.to_owned(), Some(format!("Bearer {auth}")))];
    let gap = Duration::from_secs_f64(1.0 / per_conn);
    drive_connections(port, std::sync::Arc::new(targets), conns, Some(gap), seconds).await
}

/// Capacity: balance reads under a policy set high enough never to trigger (client and
/// bank-wide, rate and quota), compared with the unlimited reads around them; then one client
/// flooding at many times its limit while a second, polite client reads within its own.
async fn capacity_phases(port: u16, balance_path: &str, token: &str, seconds: f64, pid: u32) {
    drive(port, balance_path, Some(token), 1.0).await;
    let unlimited = drive(port, balance_path, Some(token), seconds).await;
    print_row("balance, no capacity policy", &unlimited, rss_mib(pid, "VmRSS"));
    set_capacity(port, NEVER_TRIGGERING).await;
    drive(port, balance_path, Some(token), 1.0).await;
    let limited = drive(port, balance_path, Some(token), seconds).await;
    print_row("balance, policy never triggering", &limited, rss_mib(pid, "VmRSS"));
    assert_eq!(limited.errors, 0, "a policy set that high never answers 429");
    set_capacity(port, "{}").await;
    drive(port, balance_path, Some(token), 1.0).await;
    let again = drive(port, balance_path, Some(token), seconds).await;
    print_row("balance, no capacity policy (again)", &again, rss_mib(pid, "VmRSS"));
    let without = (unlimited.rps + again.rps) / 2.0;
    println!(
        "capacity: never-triggering policy / no policy: {:.0}% (target >= 95%), p99 {:.2} ms vs {:.2} ms",
        100.0 * limited.rps / without,
        limited.p99,
        (unlimited.p99 + again.p99) / 2.0
    );

    // Flooding: `bench` may read 2,000/s; a second client `polite` 2,000/s and reads 800/s.
    let polite = r#"{"clientId":"polite","company":"Polite","service":"Polite app","redirectUris":["http://127.0.0.1:4000/cb"],"scopes":["accounts:read"],"capacity":{"limits":[{"name":"reads","kind":"reference","rate":2000,"per":"1s"}]}}"#;
    let (s, body) = request_json(port, "POST", "/sandbox/v1/clients", ADMIN_KEY, Some(polite.to_owned())).await;
    assert_eq!(s, 201, "{body}");
    let grant = r#"{"username":"bench","clientId":"polite","scopes":["accounts:read"]}"#;
    let (s, g) = request_json(port, "POST", "/sandbox/v1/grants", ADMIN_KEY, Some(grant.to_owned())).await;
    assert_eq!(s, 201, "{g}");
    let polite_token = g["tokens"]["access_token"].as_str().unwrap().to_owned();
    let flood_limit = r#"{"limits":[{"name":"reads","kind":"reference","rate":2000,"per":"1s"}]}"#;
    let (s, _) = request_json(
        port,
        "PUT",
        "/sandbox/v1/clients/bench/capacity",
        ADMIN_KEY,
        Some(flood_limit.to_owned()),
    )
    .await;
    assert_eq!(s, 200);
    let alone = drive_paced(port, balance_path, &polite_token, 8, 100.0, seconds).await;
    print_row("polite client alone (800/s)", &alone, rss_mib(pid, "VmRSS"));
    // The flood: 60 connections at 10x the flooder's limit (20,000/s), then unpaced.
    let (flood, crowded) = tokio::join!(
        drive_paced(port, balance_path, token, 60, 20_000.0 / 60.0, seconds),
        drive_paced(port, balance_path, &polite_token, 8, 100.0, seconds)
    );
    print_row("flooding client at 10x (20,000/s)", &flood, rss_mib(pid, "VmRSS"));
    print_row("polite client beside the flood", &crowded, rss_mib(pid, "VmRSS"));
    println!(
        "capacity: flooding client offered {:.0} req/s = {:.0}x its limit, {} answered 429; polite client {:.0} req/s, {} x 429 (target 0), p99 {:.2} ms vs {:.2} ms alone (target <= 2x)",
        flood.rps,
        flood.rps / 2000.0,
        flood.errors,
        crowded.rps,
        crowded.errors,
        crowded.p99,
        alone.p99
    );
    let (flood, crowded) = tokio::join!(
        drive(port, balance_path, Some(token), seconds),
        drive_paced(port, balance_path, &polite_token, 8, 100.0, seconds)
    );
    print_row("flooding client, unpaced (all CPU)", &flood, rss_mib(pid, "VmRSS"));
    print_row("polite client beside it", &crowded, rss_mib(pid, "VmRSS"));
    println!(
        "capacity: unpaced flood {:.0} req/s = {:.0}x its limit; polite client {} x 429, p99 {:.2} ms (the server's cores are saturated)",
        flood.rps,
        flood.rps / 2000.0,
        crowded.errors,
        crowded.p99
    );
    let (s, _) = request_json(
        port,
        "PUT",
        "/sandbox/v1/clients/bench/capacity",
        ADMIN_KEY,
        Some("{}".into()),
    )
    .await;
    assert_eq!(s, 200);
}

/// A webhook receiver in this program: answers 204 at once (503 while `down`), and notes when
/// each `transfer.completed` arrived, by applyNo.
struct Receiver {
    url: String,
    arrivals: SentAt,
    down: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

async fn webhook_receiver() -> Receiver {
    use std::sync::atomic::{AtomicBool, Ordering};
    let arrivals: SentAt = Default::default();
    let down = std::sync::Arc::new(AtomicBool::new(false));
    let (a, d) = (arrivals.clone(), down.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let (a, d) = (a.clone(), d.clone());
            async move {
                let at = Instant::now();
                if d.load(Ordering::Relaxed) {
                    return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                }
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                if let Some(apply_no) = v["data"]["applyNo"].as_str() {
                    a.lock().unwrap().entry(apply_no.to_owned()).or_insert(at);
                }
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver { url, arrivals, down }
}

/// Waits until every transfer in `sent` has arrived at the receiver (or `patience` passes);
/// answers how long it took and how many are still missing.
async fn wait_delivered(rx: &Receiver, sent: &SentAt, patience: Duration) -> (Duration, usize) {
    let started = Instant::now();
    loop {
        let missing = {
            let s = sent.lock().unwrap();
            let a = rx.arrivals.lock().unwrap();
            s.keys().filter(|k| !a.contains_key(*k)).count()
        };
        if missing == 0 || started.elapsed() > patience {
            return (started.elapsed(), missing);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Event-to-delivery latencies (ms) of the transfers in `sent`: from the moment the request
/// was sent (before its commit, so an upper bound) to the receiver's arrival.
fn delivery_latencies(rx: &Receiver, sent: &SentAt) -> Vec<f64> {
    let s = sent.lock().unwrap();
    let a = rx.arrivals.lock().unwrap();
    let mut out: Vec<f64> = s
        .iter()
        .filter_map(|(k, t0)| {
            a.get(k)
                .map(|at| at.saturating_duration_since(*t0).as_secs_f64() * 1000.0)
        })
        .collect();
    out.sort_by(|x, y| x.total_cmp(y));
    out
}

/// Webhook delivery while transfers run: a receiver that answers at once subscribes to
/// `transfer.completed` for the remitters' accounts; 64 remitters send transfers (paced, then
/// flat out); then the receiver is down for an outage and comes back.
async fn webhook_phases(
    port: u16,
    remitters: &[(String, String)],
    beneficiaries: std::sync::Arc<Vec<serde_json::Value>>,
    seconds: f64,
    pid: u32,
) {
    let rx = webhook_receiver().await;
    let body = format!(
        r#"{{"clientId":"bench","url":"{}","eventTypes":["transfer.completed"]}}"#,
        rx.url
    );
    let (s, ep) = request_json(port, "POST", "/sandbox/v1/webhooks/endpoints", ADMIN_KEY, Some(body)).await;
    assert_eq!(s, 201, "{ep}");
    // The endpoint's client must be allowed to see the remitters' accounts: a read grant.
    let mut readers = Vec::new();
    for (account, _) in remitters {
        let customer = beneficiaries
            .iter()
            .find(|a| a["accountId"] == account.as_str())
            .and_then(|a| a["customerId"].as_str())
            .unwrap()
            .to_owned();
        let body =
            format!(r#"{{"username":"{customer}","clientId":"bench","scopes":["accounts:read","transfers:any"]}}"#);
        let (s, g) = request_json(port, "POST", "/sandbox/v1/grants", ADMIN_KEY, Some(body)).await;
        assert_eq!(s, 201, "{g}");
        readers.push((
            account.clone(),
            g["tokens"]["access_token"].as_str().unwrap().to_owned(),
        ));
    }
    let report = |name: &str, transfers: &Figures, sent: &SentAt, lat: &[f64], caught_up: Duration, missing: usize| {
        let delivered = lat.len();
        println!(
            "{name:<34} transfers {:>6.0}/s   deliveries {:>6.0}/s   latency p50 {:>6.1} ms  p99 {:>7.1} ms   {} sent, {} delivered, {} missing after {:.1} s   RSS {:.1} MiB",
            transfers.rps,
            delivered as f64 / seconds,
            if lat.is_empty() { 0.0 } else { percentile(lat, 0.5) },
            if lat.is_empty() { 0.0 } else { percentile(lat, 0.99) },
            sent.lock().unwrap().len(),
            delivered,
            missing,
            caught_up.as_secs_f64(),
            rss_mib(pid, "VmRSS")
        );
    };
    // Paced: 64 remitters at 40 transfers/s each (2,560/s offered).
    let sent: SentAt = Default::default();
    let t = drive_transfers_timed(
        port,
        readers.clone(),
        beneficiaries.clone(),
        seconds,
        Some(Duration::from_millis(25)),
        Some(sent.clone()),
        false,
    )
    .await;
    let (waited, missing) = wait_delivered(&rx, &sent, Duration::from_secs(30)).await;
    let lat = delivery_latencies(&rx, &sent);
    report("webhooks, paced transfers", &t, &sent, &lat, waited, missing);
    let paced = (
        lat.len() as f64 / seconds,
        if lat.is_empty() { 0.0 } else { percentile(&lat, 0.99) },
    );
    // Flat out: as many transfers as the server takes.
    let sent: SentAt = Default::default();
    let t = drive_transfers_timed(
        port,
        readers.clone(),
        beneficiaries.clone(),
        seconds,
        None,
        Some(sent.clone()),
        false,
    )
    .await;
    let (waited, missing) = wait_delivered(&rx, &sent, Duration::from_secs(60)).await;
    let lat = delivery_latencies(&rx, &sent);
    report("webhooks, unpaced transfers", &t, &sent, &lat, waited, missing);
    // Outage: the receiver answers 503 while paced transfers run, then comes back.
    let outage: f64 = std::env::var("BENCH_OUTAGE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30.0);
    rx.down.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent: SentAt = Default::default();
    let t = drive_transfers_timed(
        port,
        readers,
        beneficiaries,
        outage,
        Some(Duration::from_millis(25)),
        Some(sent.clone()),
        false,
    )
    .await;
    rx.down.store(false, std::sync::atomic::Ordering::Relaxed);
    let (recovered_in, missing) = wait_delivered(&rx, &sent, Duration::from_secs(120)).await;
    println!(
        "{:<34} {} transfers during a {outage:.0} s outage ({:.0}/s); all delivered {:.1} s after the receiver came back, {} missing",
        "webhooks, receiver outage",
        sent.lock().unwrap().len(),
        t.rps,
        recovered_in.as_secs_f64(),
        missing
    );
    println!(
        "webhooks: {:.0} deliveries/s while paced transfers run (target >= 2000), p99 {:.1} ms (target <= 100 ms); backlog after a {outage:.0} s outage delivered in {:.1} s (target <= 60 s)",
        paced.0,
        paced.1,
        recovered_in.as_secs_f64()
    );
}

fn print_row(name: &str, f: &Figures, rss: f64) {
    println!(
        "{name:<34} {:>10.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms   {:>8} reqs  {:>3} errors   RSS {:>6.1} MiB",
        f.rps, f.p50, f.p99, f.requests, f.errors, rss
    );
}

fn main() {
    if let Ok(spec) = std::env::var("SANDBANK_BARE_AXUM") {
        return bare_axum_main(&spec);
    }
    let seconds: f64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10.0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        println!(
            "sandbank load benchmark: scenarios/large.yaml, {CONNECTIONS} connections, {seconds} s per phase, {} cores",
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
        );
        let (server, startup) = start_server().await;
        let pid = server.child.id();
        println!(
            "start from an empty data dir: {:.1} s (build + open + first answer); RSS {:.1} MiB",
            startup.as_secs_f64(),
            rss_mib(pid, "VmRSS")
        );

        // A token for the benchmark user, through the control plane.
        let body = r#"{"username":"bench","clientId":"bench","scopes":["accounts:read","transactions:read"]}"#;
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
            .await
            .unwrap();
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        let req = Request::post("/sandbox/v1/grants")
            .header("host", "127.0.0.1")
            .header("authorization", format!("Bearer {ADMIN_KEY}"))
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(Bytes::from(body)))
            .unwrap();
        let res = send.send_request(req).await.unwrap();
        let grant: serde_json::Value =
            serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
        let token = grant["tokens"]["access_token"].as_str().expect("token").to_owned();

        let balance_path = "/personal/v1/accounts/balances?accountId=00110000001";
        let tx_path =
            "/personal/v1/accounts/transactions?accountId=00110000001&dateFrom=2026-08-23&dateTo=2026-11-21&limit=50";
        let (status, balance_body) = get(server.port, balance_path, Some(&token)).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&balance_body));
        let (status, tx_body) = get(server.port, tx_path, Some(&token)).await;
        assert_eq!(status, 200);
        let tx: serde_json::Value = serde_json::from_slice(&tx_body).unwrap();
        assert_eq!(tx["count"], 50, "the benchmark account has at least 50 entries");
        let bare = start_bare(balance_body.len(), tx_body.len(), &token).await;
        println!(
            "balance answer {} bytes; transactions page {} bytes (50 items)\n",
            balance_body.len(),
            tx_body.len()
        );

        // Warm up, then measure each phase. BENCH_ONLY_TRANSFERS=1 skips the read phases.
        let reads = std::env::var_os("BENCH_ONLY_TRANSFERS").is_none();
        let empty = || Figures {
            requests: 0,
            errors: 0,
            rps: 1.0,
            p50: 0.0,
            p99: 0.0,
        };
        let (base, bal) = if reads {
            every_layer_present(server.port, true).await;
            let figures = read_phases(server.port, &bare, balance_path, tx_path, &token, seconds, pid).await;
            every_layer_present(server.port, false).await;
            if std::env::var_os("BENCH_ONLY_READS").is_some() {
                return;
            }
            figures
        } else {
            (empty(), empty())
        };
        if reads {
            fault_phases(server.port, balance_path, &token, seconds, pid).await;
            capacity_phases(server.port, balance_path, &token, seconds, pid).await;
        }

        // Durable transfers: 64 remitters, beneficiaries among the first 10,000 accounts.
        let mut beneficiaries = Vec::new();
        let mut after = String::new();
        while beneficiaries.len() < 10_000 {
            let path = format!(
                "/sandbox/v1/accounts?limit=1000{}",
                if after.is_empty() {
                    String::new()
                } else {
                    format!("&after={after}")
                }
            );
            let (_, page) = request_json(server.port, "GET", &path, ADMIN_KEY, None).await;
            let list = page["accounts"].as_array().unwrap().clone();
            after = list.last().unwrap()["accountId"].as_str().unwrap().to_owned();
            beneficiaries.extend(list);
        }
        beneficiaries.truncate(10_000);
        let mut remitters = Vec::new();
        for a in beneficiaries
            .iter()
            .filter(|a| a["customerId"].as_str().unwrap().starts_with("user"))
            .take(CONNECTIONS)
        {
            let id = a["accountId"].as_str().unwrap().to_owned();
            let credit = r#"{"amount":"10000000","remitterName":"ﾍﾞﾝﾁ"}"#.to_owned();
            let (s, _) = request_json(
                server.port,
                "POST",
                &format!("/sandbox/v1/accounts/{id}/credit"),
                ADMIN_KEY,
                Some(credit),
            )
            .await;
            assert_eq!(s, 201);
            let body = format!(
                r#"{{"username":"{}","clientId":"bench","scopes":["transfers:any"]}}"#,
                a["customerId"].as_str().unwrap()
            );
            let (s, g) = request_json(server.port, "POST", "/sandbox/v1/grants", ADMIN_KEY, Some(body)).await;
            assert_eq!(s, 201, "{g}");
            remitters.push((id, g["tokens"]["access_token"].as_str().unwrap().to_owned()));
        }
        let beneficiaries = std::sync::Arc::new(beneficiaries);
        let warm = drive_transfers(server.port, remitters.clone(), beneficiaries.clone(), 1.0).await;
        assert_eq!(warm.errors, 0, "warm-up transfers failed");
        let (mut plain, mut keyed) = (Vec::new(), Vec::new());
        for run in 1..=RUNS {
            let f = drive_transfers(server.port, remitters.clone(), beneficiaries.clone(), seconds).await;
            print_row(&format!("durable same-bank transfers #{run}"), &f, rss_mib(pid, "VmRSS"));
            plain.push(f);
            let f = drive_transfers_timed(
                server.port,
                remitters.clone(),
                beneficiaries.clone(),
                seconds,
                None,
                None,
                true,
            )
            .await;
            print_row(&format!("keyed transfers (Idempotency-Key) #{run}"), &f, rss_mib(pid, "VmRSS"));
            keyed.push(f);
        }
        let (transfers, keyed) = (median(&plain), median(&keyed));
        writer_summary(server.port).await;
        let (_, ledger) = request_json(server.port, "GET", "/sandbox/v1/ledger", ADMIN_KEY, None).await;
        let fee_income = ledger["systemAccounts"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["name"] == "fee_income"))
            .map(|x| x["balance"].clone())
            // No fee income posting at all when every transfer was free (same branch).
            .unwrap_or_else(|| serde_json::json!("0"));
        println!(
            "ledger after the run: discrepancy {} (must be \"0\"), accounts below their limit: {}, fee income {}",
            ledger["discrepancy"],
            ledger["accountsBelowLimit"].as_array().map(|a| a.len()).unwrap_or(0),
            fee_income
        );

        println!();
        println!(
            "transfers: {:.0}/s acknowledged-durable   (median of {RUNS}; p50 {:.2} ms, p99 {:.2} ms; {} errors; target >= 10000/s, p99 <= 20 ms)",
            transfers.rps, transfers.p50, transfers.p99, transfers.errors
        );
        println!(
            "keyed transfers: {:.0}/s acknowledged-durable   (median of {RUNS}; p50 {:.2} ms, p99 {:.2} ms; {} errors; target >= 8000/s)",
            keyed.rps, keyed.p50, keyed.p99, keyed.errors
        );
        if reads {
            println!(
                "balance read / bare axum: {:.0}%   (repeated from above; balance p99 {:.2} ms)",
                100.0 * bal.rps / base.rps,
                bal.p99
            );
        }
        println!(
            "server peak RSS (VmHWM): {:.1} MiB (target <= 1024 MiB); startup {:.1} s (target <= 60 s)",
            rss_mib(pid, "VmHWM"),
            startup.as_secs_f64()
        );
        if std::env::var_os("BENCH_SKIP_WEBHOOKS").is_none() {
            println!();
            webhook_phases(server.port, &remitters, beneficiaries, seconds, pid).await;
        }
        drop(server);

        if std::env::var_os("BENCH_SKIP_SANDBOXES").is_none() {
            println!();
            // The ratio needs the bare baseline, measured only with the read phases.
            many_sandboxes(seconds, reads.then_some(base.rps)).await;
        }
    });
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => total += dir_bytes(&e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

const OPERATOR_KEY: &str = "bench-operator-key";
const SANDBOXES: usize = 1_000;

fn start_many(data: &std::path::Path, port: u16) -> Child {
    Command::new(sandbank_binary())
        .args([
            "--port",
            &port.to_string(),
            "--admin-key",
            ADMIN_KEY,
            "--operator-key",
            OPERATOR_KEY,
            "--max-sandboxes",
            "2000",
        ])
        .arg("--data-dir")
        .arg(data)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sandbank")
}

async fn wait_healthy(port: u16, started: Instant) {
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
            && get(port, "/healthz", None).await.0 == 200
        {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(300), "server did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Many sandboxes in one server (default scenario): the time from `POST /operator/v1/sandboxes`
/// to the new sandbox's first answered request (p50/p99 over the first 100), a server holding
/// `SANDBOXES` of them (RSS, data-dir bytes, restart time), and balance reads spread over 100
/// sandboxes against the same static baseline.
async fn many_sandboxes(seconds: f64, baseline_rps: Option<f64>) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let started = Instant::now();
    let mut child = start_many(&data, port);
    wait_healthy(port, started).await;
    println!("many sandboxes: default scenario, {SANDBOXES} sandboxes in one server");

    let mut create_ms = Vec::new();
    let mut sandboxes: Vec<(String, String)> = Vec::new();
    let all_started = Instant::now();
    for i in 0..SANDBOXES {
        let t0 = Instant::now();
        let (status, created) = request_json(
            port,
            "POST",
            "/operator/v1/sandboxes",
            OPERATOR_KEY,
            Some(r#"{"scenario":"default"}"#.into()),
        )
        .await;
        assert_eq!(status, 201, "{created}");
        let id = created["id"].as_str().unwrap().to_owned();
        let admin = created["adminKey"].as_str().unwrap().to_owned();
        let (status, _) = request_json(port, "GET", &format!("/s/{id}/sandbox/v1/clock"), &admin, None).await;
        assert_eq!(status, 200);
        if i < 100 {
            create_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
        sandboxes.push((id, admin));
    }
    let all_secs = all_started.elapsed().as_secs_f64();
    create_ms.sort_by(|a, b| a.total_cmp(b));
    let (p50, p99) = (percentile(&create_ms, 0.50), percentile(&create_ms, 0.99));
    println!(
        "create a sandbox (to its first answer): p50 {p50:.1} ms, p99 {p99:.1} ms over 100 (target p99 <= 300 ms); {SANDBOXES} created in {all_secs:.1} s"
    );
    let rss = rss_mib(child.id(), "VmRSS");
    let bytes = dir_bytes(&data);
    println!(
        "server with {} sandboxes: RSS {rss:.1} MiB (target <= 1024 MiB), data dir {:.1} MiB",
        SANDBOXES + 1,
        bytes as f64 / (1024.0 * 1024.0)
    );

    // Restart: SIGTERM, then time to the first answer of the last sandbox.
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
    let restarted = Instant::now();
    let mut child = start_many(&data, port);
    wait_healthy(port, restarted).await;
    let (last_id, last_admin) = sandboxes.last().unwrap().clone();
    let (status, _) = request_json(
        port,
        "GET",
        &format!("/s/{last_id}/sandbox/v1/clock"),
        &last_admin,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let restart_secs = restarted.elapsed().as_secs_f64();
    println!(
        "restart with {} sandboxes: {restart_secs:.1} s to serving (target <= 10 s); RSS after restart {:.1} MiB",
        SANDBOXES + 1,
        rss_mib(child.id(), "VmRSS")
    );

    // Balance reads spread over 100 sandboxes.
    let mut targets = Vec::new();
    for (id, admin) in sandboxes.iter().take(100) {
        let body = r#"{"username":"tanaka","clientId":"demo-pfm","scopes":["accounts:read"]}"#.to_owned();
        let (s, g) = request_json(port, "POST", &format!("/s/{id}/sandbox/v1/grants"), admin, Some(body)).await;
        assert_eq!(s, 201, "{g}");
        let token = g["tokens"]["access_token"].as_str().unwrap().to_owned();
        targets.push((
            format!("/s/{id}/personal/v1/accounts/balances?accountId=00111234567"),
            Some(format!("Bearer {token}")),
        ));
    }
    let targets = std::sync::Arc::new(targets);
    drive_targets(port, targets.clone(), 1.0).await;
    let spread = drive_targets(port, targets, seconds).await;
    print_row("balance read over 100 sandboxes", &spread, rss_mib(child.id(), "VmRSS"));
    match baseline_rps {
        Some(baseline) => println!(
            "balance over 100 sandboxes / baseline: {:.0}% (target >= 60%), p99 {:.2} ms (target <= 10 ms)",
            100.0 * spread.rps / baseline,
            spread.p99
        ),
        None => println!(
            "balance over 100 sandboxes: p99 {:.2} ms (target <= 10 ms); no ratio: the bare baseline runs with the read phases (BENCH_ONLY_TRANSFERS skipped them)",
            spread.p99
        ),
    }
    let _ = child.kill();
    let _ = child.wait();
}
