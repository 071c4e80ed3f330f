//! Prometheus metrics for the whole process (`GET /metrics`, text format): API calls by
//! sandbox, client, operation kind and status with latency histograms; calls refused by a
//! capacity limit, a stop or a maintenance window; injected faults; transfers by the status
//! they were accepted in; the transfer writer's batch sizes and sync latency; webhook attempts
//! by outcome and the time from an event's fan-out to its delivery.
//!
//! Request counts are taken from the access log as its background writer stores it, so the
//! request path pays nothing for them; the rare refusals are counted where they happen.

use crate::domain::fault::RequestKind;
use crate::storage::AccessLogEntry;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::OnceLock;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    sandbox: String,
    client: String,
    kind: &'static str,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    sandbox: String,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    sandbox: String,
    client: String,
    limit: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StopLabels {
    sandbox: String,
    target: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WindowLabels {
    sandbox: String,
    window: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FaultLabels {
    sandbox: String,
    rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransferLabels {
    sandbox: String,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptLabels {
    sandbox: String,
    outcome: &'static str,
}

fn latency_histogram() -> Histogram {
    // 100 µs … ~3.3 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// The process's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<KindLabels, Histogram>,
    rate_limited: Family<LimitLabels, Counter>,
    stopped: Family<StopLabels, Counter>,
    maintenance: Family<WindowLabels, Counter>,
    faults: Family<FaultLabels, Counter>,
    transfers: Family<TransferLabels, Counter>,
    batch_size: Histogram,
    sync_seconds: Histogram,
    webhook_attempts: Family<AttemptLabels, Counter>,
    webhook_delivery: Histogram,
    connections_closed: Family<ReasonLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

fn kind_name(kind: Option<RequestKind>) -> &'static str {
    match kind {
        Some(RequestKind::Reference) => "reference",
        Some(RequestKind::Update) => "update",
        Some(RequestKind::Auth) => "auth",
        Some(RequestKind::Token) => "token",
        Some(RequestKind::Any) | None => "control",
    }
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("sandbank");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<KindLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> Histogram);
        let rate_limited = Family::<LimitLabels, Counter>::default();
        let stopped = Family::<StopLabels, Counter>::default();
        let maintenance = Family::<WindowLabels, Counter>::default();
        let faults = Family::<FaultLabels, Counter>::default();
        let transfers = Family::<TransferLabels, Counter>::default();
        let batch_size = Histogram::new(exponential_buckets(1.0, 2.0, 10));
        let sync_seconds = latency_histogram();
        let webhook_attempts = Family::<AttemptLabels, Counter>::default();
        let webhook_delivery = latency_histogram();
        let connections_closed = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "connections_closed_by_server",
            "Connections the server closed itself: idle too long, too slow to send a request head, or over the per-source cap",
            connections_closed.clone(),
        );
        registry.register(
            "webhook_attempts",
            "Webhook delivery attempts by outcome (delivered, failed, gone, forced by a fault)",
            webhook_attempts.clone(),
        );
        registry.register(
            "webhook_delivery_seconds",
            "Time from a message's fan-out to its successful delivery (retries included)",
            webhook_delivery.clone(),
        );
        registry.register(
            "requests",
            "API calls by sandbox, client, operation kind and status (0: the connection was cut)",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time to answer an API call, by sandbox and operation kind",
            latency.clone(),
        );
        registry.register(
            "rate_limited",
            "Calls refused with 429 by a capacity limit (bank-wide limits are named bank.{name})",
            rate_limited.clone(),
        );
        registry.register(
            "suspended_calls",
            "Calls refused by the kill switch, by what was stopped (client, user, bank)",
            stopped.clone(),
        );
        registry.register(
            "maintenance_refusals",
            "Calls refused with 503 during a maintenance window",
            maintenance.clone(),
        );
        registry.register(
            "injected_faults",
            "Answers a fault rule made or changed",
            faults.clone(),
        );
        registry.register(
            "transfers",
            "Transfer requests written, by the status they were accepted in",
            transfers.clone(),
        );
        registry.register(
            "transfer_write_batch_size",
            "Transfers per durable write batch of the transfer writer",
            batch_size.clone(),
        );
        registry.register(
            "transfer_sync_seconds",
            "Time to make one batch of transfers durable (the storage flush)",
            sync_seconds.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            rate_limited,
            stopped,
            maintenance,
            faults,
            transfers,
            batch_size,
            sync_seconds,
            webhook_attempts,
            webhook_delivery,
            connections_closed,
        }
    }

    /// Counts a connection the server closed: `idle`, `slow_head` or `over_source_cap`.
    pub fn connection_closed(&self, reason: &'static str) {
        self.connections_closed.get_or_create(&ReasonLabels { reason }).inc();
    }

    /// Counts a webhook attempt and, when it delivered, how long the message took.
    pub fn webhook_attempt(&self, sandbox: &str, outcome: &'static str, delivered_after: Option<std::time::Duration>) {
        self.webhook_attempts
            .get_or_create(&AttemptLabels {
                sandbox: sandbox.to_owned(),
                outcome,
            })
            .inc();
        if let Some(d) = delivered_after {
            self.webhook_delivery.observe(d.as_secs_f64());
        }
    }

    /// Counts API calls from access-log entries of one sandbox. A batch holds a few distinct
    /// label sets, so it is counted per set first: the writer's time per entry stays small.
    pub fn observe_requests(&self, sandbox: &str, entries: &[AccessLogEntry]) {
        let mut counts: std::collections::HashMap<(Option<&str>, &'static str, u16), u64> =
            std::collections::HashMap::new();
        let mut latencies: std::collections::HashMap<&'static str, Vec<f64>> = std::collections::HashMap::new();
        for e in entries {
            let kind = kind_name(e.kind);
            *counts.entry((e.client_id.as_deref(), kind, e.status)).or_default() += 1;
            latencies.entry(kind).or_default().push(e.latency_micros as f64 / 1e6);
            if let Some(rule) = &e.fault_rule {
                self.faults
                    .get_or_create(&FaultLabels {
                        sandbox: sandbox.to_owned(),
                        rule: rule.clone(),
                    })
                    .inc();
            }
        }
        for ((client, kind, status), n) in counts {
            self.requests
                .get_or_create(&RequestLabels {
                    sandbox: sandbox.to_owned(),
                    client: client.unwrap_or("none").to_owned(),
                    kind,
                    status: status.to_string(),
                })
                .inc_by(n);
        }
        for (kind, values) in latencies {
            let histogram = self.latency.get_or_create(&KindLabels {
                sandbox: sandbox.to_owned(),
                kind,
            });
            for v in values {
                histogram.observe(v);
            }
        }
    }

    /// Counts a call refused by a capacity limit.
    pub fn rate_limited(&self, sandbox: &str, client: Option<&str>, limit: &str) {
        self.rate_limited
            .get_or_create(&LimitLabels {
                sandbox: sandbox.to_owned(),
                client: client.unwrap_or("none").to_owned(),
                limit: limit.to_owned(),
            })
            .inc();
    }

    /// Counts a call refused by the kill switch.
    pub fn stopped(&self, sandbox: &str, target: &'static str) {
        self.stopped
            .get_or_create(&StopLabels {
                sandbox: sandbox.to_owned(),
                target,
            })
            .inc();
    }

    /// Counts a call refused during a maintenance window.
    pub fn in_maintenance(&self, sandbox: &str, window: &str) {
        self.maintenance
            .get_or_create(&WindowLabels {
                sandbox: sandbox.to_owned(),
                window: window.to_owned(),
            })
            .inc();
    }

    /// Counts a transfer written in `status`.
    pub fn transfer(&self, sandbox: &str, status: &'static str) {
        self.transfers
            .get_or_create(&TransferLabels {
                sandbox: sandbox.to_owned(),
                status,
            })
            .inc();
    }

    /// Records one durable write batch: its size and how long its sync took.
    pub fn write_batch(&self, transfers: usize, sync: std::time::Duration) {
        self.batch_size.observe(transfers as f64);
        self.sync_seconds.observe(sync.as_secs_f64());
    }

    /// Everything in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}
