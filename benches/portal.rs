//! Portal benchmark (a program that prints figures, not a timed test):
//!
//!     cargo bench --bench portal
//!     BENCH_LOG_ENTRIES=200000 cargo bench --bench portal   # a quicker run
//!
//! Starts the release binary on a 10,000-customer world (`scenarios/large.yaml` with its
//! population cut to 9,999 plus the named customer), fills the default sandbox's access log
//! with a million refused calls (`BENCH_LOG_ENTRIES`), signs in to the portal and times each
//! page: p50 and max of 20 loads, over one keep-alive loopback connection (so the figure is the
//! server's time plus a loopback round trip). The target is 50 ms per page.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ADMIN_KEY: &str = "bench-admin-key";
const LOADS: usize = 20;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    html.split(&marker)
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::main]
async fn main() {
    let entries: usize = std::env::var("BENCH_LOG_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let scenario = std::fs::read_to_string("scenarios/large.yaml")
        .unwrap()
        .replace("count: 99999", "count: 9999");
    let scenario_path = dir.path().join("ten-thousand.yaml");
    std::fs::write(&scenario_path, scenario).unwrap();
    let port = free_port();
    let started = Instant::now();
    let _server = Child(
        Command::new(env!("CARGO_BIN_EXE_sandbank"))
            .arg("--scenario")
            .arg(&scenario_path)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--port", &port.to_string(), "--admin-key", ADMIN_KEY])
            .args(["--access-log-max-entries", &(entries + 10_000).to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sandbank"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(300), "server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "world of 10,000 customers up in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // A million refused calls (no token), 32 at a time.
    let filling = Instant::now();
    let per_task = entries / 32;
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (http, url) = (http.clone(), format!("{base}/personal/v1/accounts/balances"));
        tasks.push(tokio::spawn(async move {
            for _ in 0..per_task {
                let _ = http.get(&url).send().await.map(|r| r.status());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let one_success = {
        // One call that a filter must dig for: the newest 200.
        let res = http
            .get(format!("{base}/sandbox/v1/clock"))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .unwrap();
        res.status().as_u16()
    };
    assert_eq!(one_success, 200);
    println!(
        "access log filled with {} calls in {:.1} s",
        per_task * 32,
        filling.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Sign in as a browser would.
    let res = http.get(format!("{base}/portal/sign-in")).send().await.unwrap();
    let form_cookie = res.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let token = hidden(&res.text().await.unwrap(), "csrf");
    let res = http
        .post(format!("{base}/portal/sign-in"))
        .header("cookie", &form_cookie)
        .form(&[("csrf", token.as_str()), ("key", ADMIN_KEY)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let session = res.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();

    let deep = entries / 2;
    let pages: Vec<(String, String)> = vec![
        ("overview".into(), "/portal".into()),
        ("clients".into(), "/portal/clients".into()),
        ("test users".into(), "/portal/users".into()),
        ("request log, newest page".into(), "/portal/log".into()),
        (
            format!("request log, page at entry {deep}"),
            format!("/portal/log?before={deep}"),
        ),
        ("request log, status=401".into(), "/portal/log?status=401".into()),
        ("request log, status=200 (rare)".into(), "/portal/log?status=200".into()),
        (
            "request log, client filter (none match)".into(),
            "/portal/log?client=nobody".into(),
        ),
        (
            "live rows (poll)".into(),
            format!("/portal/log/rows?client=&after={}", entries),
        ),
        ("log entry".into(), format!("/portal/log/{deep}")),
        ("rehearse".into(), "/portal/rehearse".into()),
        ("webhooks".into(), "/portal/webhooks".into()),
        ("events".into(), "/portal/events".into()),
        ("bank data, all".into(), "/portal/data".into()),
        ("bank data, account number".into(), "/portal/data?q=0000500".into()),
        (
            "bank data, kanji name (none match)".into(),
            "/portal/data?q=%E5%BE%B3%E5%B7%9D".into(),
        ),
        ("account page".into(), "/portal/data/accounts/00110000001".into()),
    ];
    println!("{:<44} {:>9} {:>9} {:>8}", "page", "p50 ms", "max ms", "KiB");
    let mut missed = Vec::new();
    for (name, path) in &pages {
        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..LOADS {
            let t = Instant::now();
            let res = http
                .get(format!("{base}{path}"))
                .header("cookie", &session)
                .send()
                .await
                .unwrap();
            let status = res.status();
            let body = res.bytes().await.unwrap();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            assert!(status.is_success(), "{path}: {status}");
            size = body.len();
        }
        times.sort_by(|a, b| a.total_cmp(b));
        let (p50, max) = (times[LOADS / 2], times[LOADS - 1]);
        if p50 > 50.0 {
            missed.push(name.clone());
        }
        println!("{name:<44} {p50:>9.1} {max:>9.1} {:>8.1}", size as f64 / 1024.0);
    }
    if missed.is_empty() {
        println!("every page within 50 ms (p50)");
    } else {
        println!("over 50 ms (p50): {}", missed.join(", "));
    }
}
