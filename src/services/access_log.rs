//! The access log: calls recorded off the request's path, written in batches, listed.

use crate::sandbox::Sandbox;
use crate::server::Server;
use crate::storage::{AccessLogEntry, AccessLogFilter, PendingAccess, StorageError};
use std::time::Duration;

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

/// Matching entries, newest first, looking at no more than about `budget` entries; and where
/// the search stopped (for a page that offers to search on).
pub fn access_logs_within(
    sandbox: &Sandbox,
    filter: &AccessLogFilter,
    budget: usize,
) -> Result<(Vec<AccessLogEntry>, crate::storage::ScanEnd), StorageError> {
    write_access_log(sandbox)?;
    sandbox.store.access_logs_within(filter, budget)
}
