//! Operating one sandbox: its clock (time travel), its access log and its ledger totals.
//! (Building, resetting and snapshotting sandboxes is `services::sandboxes`.)

use crate::sandbox::Sandbox;
use crate::server::Server;
use crate::storage::{AccessLogEntry, AccessLogFilter, PendingAccess, StorageError};
use jiff::{SignedDuration, Timestamp};
use std::time::Duration;

use crate::storage::registry::meta::{CLOCK_OFFSET as META_CLOCK_OFFSET, OPENING_TOTAL as META_OPENING_TOTAL};

/// Moves the sandbox clock forward and makes the new time durable. Scheduled work due on
/// the way (scheduled transfers, settlements, approval deadlines) runs at its own instant:
/// the clock stops at each due time, runs what is due, and moves on.
pub async fn advance_clock(
    sandbox: &Sandbox,
    by: SignedDuration,
) -> Result<Timestamp, super::transfers::TransferError> {
    let target = sandbox.clock.now().saturating_add(by).unwrap_or(Timestamp::MAX);
    loop {
        let next = sandbox.store.due(target)?.into_iter().map(|(at, _)| at).min();
        match next {
            Some(at) => {
                sandbox.clock.advance_to(at);
                super::transfers::run_due(sandbox).await?;
            }
            None => break,
        }
    }
    let offset = sandbox.clock.advance_to(target);
    sandbox.store.meta_put(META_CLOCK_OFFSET, &offset.to_be_bytes())?;
    sandbox.store.flush().await?;
    sandbox.webhooks.clock_moved();
    Ok(sandbox.clock.now())
}

/// Appends to the access log. Entries are written in batches by `write_access_log_every`
/// (and before the log is read), which keeps logging off the request's critical path; the
/// log is durable within a fraction of a second, not per request.
pub fn record_access(sandbox: &Sandbox, call: PendingAccess) {
    sandbox.store.append_access_log(call);
}

/// Writes a sandbox's queued access-log entries and counts them in the metrics; answers how
/// many were written.
pub fn write_access_log(sandbox: &Sandbox) -> Result<usize, StorageError> {
    let metrics = crate::metrics::metrics();
    sandbox
        .store
        .write_access_log(|written| metrics.observe_requests(&sandbox.id, written))
}

/// Background worker: writes every sandbox's buffered access-log entries every `period`
/// until `stop`.
pub async fn write_access_log_every(server: Server, period: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
    let write_all = |server: &Server| {
        for sandbox in server.sandboxes() {
            // A sandbox in a lifecycle change writes its log itself (snapshot) or drops it
            // with its world (reset, restore, delete).
            let Some(_pass) = sandbox.gate.try_enter() else {
                continue;
            };
            match write_access_log(&sandbox) {
                Ok(0) => {}
                // The log keeps its newest entries only.
                Ok(_) => {
                    if let Err(e) = sandbox.store.prune_access_log(server.config.limits.access_log_entries) {
                        tracing::warn!(sandbox = %sandbox.id, error = %e, "could not delete old access-log entries");
                    }
                    if let Some(age) = server.config.limits.access_log_max_age
                        && let Ok(cutoff) = sandbox.clock.now().checked_sub(age)
                        && let Err(e) = sandbox.store.prune_access_log_before(cutoff)
                    {
                        tracing::warn!(sandbox = %sandbox.id, error = %e, "could not delete old access-log entries");
                    }
                }
                Err(e) => tracing::warn!(sandbox = %sandbox.id, error = %e, "could not write the access log"),
            }
            // Fault counters and the seeded stream's position ride along.
            if let Err(e) = sandbox.faults.persist(&sandbox.store) {
                tracing::warn!(sandbox = %sandbox.id, error = %e, "could not store the fault counters");
            }
            if let Err(e) = sandbox.capacity.persist(&sandbox.store) {
                tracing::warn!(sandbox = %sandbox.id, error = %e, "could not store the quota counts");
            }
        }
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = stop.changed() => break,
        }
        // A batch of a few thousand entries takes a moment; keep it off the async workers.
        let s = server.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || write_all(&s)).await {
            tracing::warn!(error = %e, "access log writer failed");
        }
    }
    write_all(&server);
}

pub fn access_logs(sandbox: &Sandbox, filter: &AccessLogFilter) -> Result<(Vec<AccessLogEntry>, bool), StorageError> {
    write_access_log(sandbox)?;
    sandbox.store.access_logs(filter)
}

/// The ledger's totals: every customer account and system account; their sum must equal
/// the total of opening balances (money is neither created nor destroyed).
pub struct LedgerSummary {
    pub opening_total: i64,
    pub customer_total: i64,
    pub account_count: u64,
    pub system: Vec<(String, i64)>,
    pub below_limit: Vec<String>,
}

pub fn ledger_summary(sandbox: &Sandbox) -> Result<LedgerSummary, StorageError> {
    let opening_total = sandbox
        .store
        .meta_get(META_OPENING_TOTAL)?
        .and_then(|b| b.try_into().ok().map(i64::from_be_bytes))
        .unwrap_or(0);
    let (customer_total, account_count, below_limit) = sandbox.store.customer_balance_summary()?;
    Ok(LedgerSummary {
        opening_total,
        customer_total,
        account_count,
        system: sandbox.store.system_balances()?,
        below_limit,
    })
}
