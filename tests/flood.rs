//! A flood of maximal authorization requests from one source, measured: the data dir, the
//! process's RSS and a polite client's p99. Its own test binary: RSS is the process's, so no
//! other test may allocate beside it.

mod common;

use common::*;

/// Resident memory of this process (the server runs in it), from /proc.
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// The 99th percentile of some latencies.
fn p99(mut samples: Vec<std::time::Duration>) -> std::time::Duration {
    samples.sort();
    samples
        .get((samples.len() * 99 / 100).min(samples.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

/// A flood of authorization requests with every parameter at its longest, from one source
/// over 8 connections: 20 wait for a login, the rest answer 429, the data dir grows only by
/// their access-log entries and memory stays flat — while a polite client reading balances
/// is answered every time. Prints the figures (data dir, RSS, the polite client's p99 before
/// and during the flood). `SANDBANK_FLOOD_REQUESTS` sets the count (default 2,000).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_maximal_authorization_requests_stays_bounded() {
    let n: usize = std::env::var("SANDBANK_FLOOD_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let app = TestApp::spawn().await;
    let (_, challenge) = pkce_pair();
    let (state, nonce) = ("s".repeat(512), "n".repeat(512));
    let url = authorize_url_with(
        &app,
        &[
            ("response_type", "code"),
            ("client_id", "demo-pfm"),
            ("redirect_uri", "http://127.0.0.1:3000/callback"),
            ("scope", "openid profile accounts:read transactions:read"),
            ("state", &state),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("nonce", &nonce),
        ],
    );
    // The polite client: tanaka's balance through demo-pay, one call at a time.
    let token = app.access_token("tanaka", &["accounts:read"]).await;
    let balance = app.url("/personal/v1/accounts/balances?accountId=00111234567");
    let polite_http = http_client();
    let polite = move |calls: usize| {
        let (http, balance, token) = (polite_http.clone(), balance.clone(), token.clone());
        async move {
            let mut took = Vec::with_capacity(calls);
            for _ in 0..calls {
                let t = std::time::Instant::now();
                let res = http.get(&balance).bearer_auth(&token).send().await.unwrap();
                assert_eq!(res.status(), 200, "the polite client was refused");
                res.bytes().await.unwrap();
                took.push(t.elapsed());
            }
            took
        }
    };
    let quiet = p99(polite(300).await);
    let storage = &app.bank().storage;
    storage.flush_blocking().unwrap();
    let before = storage.size_on_disk();
    let rss_before = rss_bytes();
    let started = std::time::Instant::now();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flooders: Vec<_> = (0..8)
        .map(|i| {
            let (http, url) = (http_client(), url.clone());
            let share = n / 8 + usize::from(i < n % 8);
            tokio::spawn(async move {
                let mut statuses = std::collections::BTreeMap::new();
                for _ in 0..share {
                    let res = http.get(&url).send().await.unwrap();
                    *statuses.entry(res.status().as_u16()).or_insert(0usize) += 1;
                }
                statuses
            })
        })
        .collect();
    let during = {
        let done = done.clone();
        let polite = polite.clone();
        tokio::spawn(async move {
            let mut took = Vec::new();
            while !done.load(std::sync::atomic::Ordering::Acquire) {
                took.extend(polite(10).await);
            }
            took
        })
    };
    let mut statuses = std::collections::BTreeMap::new();
    for f in flooders {
        for (status, count) in f.await.unwrap() {
            *statuses.entry(status).or_insert(0usize) += count;
        }
    }
    let elapsed = started.elapsed();
    done.store(true, std::sync::atomic::Ordering::Release);
    let during = during.await.unwrap();
    let polite_calls = during.len();
    let loaded = p99(during);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    storage.flush_blocking().unwrap();
    let grown = storage.size_on_disk().saturating_sub(before);
    let rss_grown = rss_bytes().saturating_sub(rss_before);
    println!(
        "flood: {n} maximal authorization requests over 8 connections in {:.1} s, answers {statuses:?}; data dir grew {:.2} MiB ({} bytes a request), RSS grew {:.2} MiB; polite client p99 {:.2} ms quiet, {:.2} ms during the flood ({polite_calls} calls)",
        elapsed.as_secs_f64(),
        grown as f64 / (1 << 20) as f64,
        grown / n as u64,
        rss_grown as f64 / (1 << 20) as f64,
        quiet.as_secs_f64() * 1e3,
        loaded.as_secs_f64() * 1e3,
    );
    assert_eq!(statuses.get(&200), Some(&20), "{statuses:?}");
    assert_eq!(statuses.get(&429), Some(&(n - 20)), "{statuses:?}");
    assert!(
        grown < (n as u64) * 1024,
        "at most 1 KiB a request on disk: {grown} bytes"
    );
    // Generous bounds (this is not a benchmark): what they catch is growth per request and a
    // starved polite client, not a slow machine.
    assert!(rss_grown < 64 << 20, "RSS grew {rss_grown} bytes");
    assert!(polite_calls > 0, "the polite client got no call in during the flood");
    assert!(
        loaded < std::time::Duration::from_secs(1),
        "the polite client's p99 was {loaded:?}"
    );
}
