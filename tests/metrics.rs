//! `/metrics` in the Prometheus text format, parsed, with the counters of what the test did.
//! Its own test binary: the metrics are the process's, so no other test adds to its counts.

mod common;

use common::*;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Samples by metric name plus sorted labels, e.g. `sandbank_requests_total{client="x",…}`.
fn parse(text: &str) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let (series, value) = line.rsplit_once(' ').expect("a sample is `series value`");
        out.insert(series.to_owned(), value.parse::<f64>().expect("a number"));
    }
    out
}

fn sample(samples: &HashMap<String, f64>, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|(series, _)| {
            (series.as_str() == name || series.starts_with(&format!("{name}{{")))
                && labels.iter().all(|(k, v)| series.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|(_, v)| *v)
        .sum()
}

async fn scrape(app: &TestApp) -> HashMap<String, f64> {
    let res = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth(&app.operator_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    parse(&res.text().await.unwrap())
}

#[tokio::test]
async fn metrics_count_what_the_test_did() {
    let app = TestApp::spawn().await;
    // Without the operator key: refused (the server was not started with --public-metrics).
    let res = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let res = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "the sandbox admin key is not the operator key");

    let read = app.grant("tanaka", "demo-pfm", &["accounts:read"]).await["tokens"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let pay = app
        .grant("suzuki", "demo-pay", &["accounts:read", "transfers:any"])
        .await["tokens"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..3 {
        assert_eq!(app.get("/personal/v1/accounts", &read).await.status(), 200);
    }
    // One 429.
    let (status, _) = app
        .http
        .put(app.url("/sandbox/v1/clients/demo-pfm/capacity"))
        .bearer_auth(&app.admin_key)
        .json(&json!({"limits": [{"name": "tiny", "rate": 1, "per": "1m"}]}))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(app.get("/personal/v1/accounts", &read).await.status(), 200);
    assert_eq!(app.get("/personal/v1/accounts", &read).await.status(), 429);
    // One suspended call.
    let (status, _) = app
        .admin_post(
            "/sandbox/v1/clients/demo-pay/suspension",
            json!({"reason": "metrics test"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(app.get("/personal/v1/accounts", &pay).await.status(), 403);
    let res = app
        .http
        .delete(app.url("/sandbox/v1/clients/demo-pay/suspension"))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    // One transfer, completed at once (same bank).
    let res = app
        .http
        .post(app.url("/personal/v1/transfer/request"))
        .bearer_auth(&pay)
        .json(&json!({"accountId": "00212345678", "transfers": [{"transferAmount": "1000", "beneficiaryBankCode": "0999",
            "beneficiaryBranchCode": "001", "accountTypeCode": "1", "accountNumber": "1234567", "beneficiaryName": "ﾀﾅｶ ﾀﾛｳ"}]}))
        .send()
        .await
        .unwrap();
    let transfer: Value = res.json().await.unwrap();
    assert!(transfer["applyNo"].is_string(), "{transfer}");

    // Request counts come from the access log's background writer: wait for it.
    let started = Instant::now();
    let samples = loop {
        let s = scrape(&app).await;
        let ok = sample(
            &s,
            "sandbank_requests_total",
            &[("client", "demo-pfm"), ("kind", "reference"), ("status", "200")],
        );
        if ok >= 4.0 || started.elapsed() > Duration::from_secs(5) {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let count = |name: &str, labels: &[(&str, &str)]| sample(&samples, name, labels);
    assert_eq!(
        count(
            "sandbank_requests_total",
            &[
                ("sandbox", "default"),
                ("client", "demo-pfm"),
                ("kind", "reference"),
                ("status", "200")
            ]
        ),
        4.0
    );
    assert_eq!(
        count("sandbank_requests_total", &[("client", "demo-pfm"), ("status", "429")]),
        1.0
    );
    assert_eq!(
        count("sandbank_requests_total", &[("client", "demo-pay"), ("status", "403")]),
        1.0
    );
    assert_eq!(
        count(
            "sandbank_rate_limited_total",
            &[("client", "demo-pfm"), ("limit", "tiny")]
        ),
        1.0
    );
    assert_eq!(count("sandbank_suspended_calls_total", &[("target", "client")]), 1.0);
    assert_eq!(count("sandbank_transfers_total", &[("status", "20")]), 1.0);
    assert!(count("sandbank_transfer_write_batch_size_count", &[]) >= 1.0);
    assert!(count("sandbank_transfer_sync_seconds_count", &[]) >= 1.0);
    assert!(count("sandbank_request_duration_seconds_count", &[("kind", "reference")]) >= 6.0);
}
