//! A sandbox's storage quota: the bytes it may keep on the server's disk, counted over its live
//! world (accounts, ledger, grants, webhooks, its access log …) and its snapshots. Created
//! sandboxes get the server's default (`--sandbox-quota-mb`); the operator sets another per
//! sandbox, or none. Usage is measured (a scan of the sandbox's records) after every lifecycle
//! change and by housekeeping every half minute for sandboxes in use, so the request path
//! only reads one flag: while a sandbox is over its quota its update APIs answer 409
//! `storage_quota_exceeded`, and a snapshot that would not fit is refused up front. Reads, the
//! control plane, reset and deleting snapshots (which bring it back under) keep working.

use crate::sandbox::Sandbox;
use crate::server::Server;
use crate::storage::StorageError;
use crate::storage::registry::SandboxRecord;

pub use crate::sandbox::storage_use::{StorageUse, UseReport};

/// How often a sandbox in use is measured again (real seconds).
const MEASURE_EVERY: i64 = 30;
const MIB: u64 = 1024 * 1024;

/// The quota in force for a sandbox: the operator's setting (0 for none), else the server's
/// default for created sandboxes; the default sandbox has none unless one is set.
pub fn quota_of(server: &Server, record: &SandboxRecord) -> Option<u64> {
    match record.storage_quota_mb {
        Some(0) => None,
        Some(mb) => Some(mb.saturating_mul(MIB)),
        None if record.id == crate::sandbox::DEFAULT_SANDBOX => None,
        None => server.config.limits.sandbox_quota_mb.map(|mb| mb.saturating_mul(MIB)),
    }
}

/// Measures a sandbox now (a scan of its records; blocking) and remembers it in its handle.
pub fn measure(server: &Server, sandbox: &Sandbox, record: &SandboxRecord) -> Result<UseReport, StorageError> {
    let live = sandbox.store.stored_bytes()?;
    let mut snapshots = 0;
    for s in &record.snapshots {
        snapshots += match s.bytes {
            0 => server.storage.snapshot_store(&record.id, s).stored_bytes()?,
            n => n,
        };
    }
    let report = UseReport {
        live,
        snapshots,
        quota: quota_of(server, record),
        measured_at: server.wall.now_secs(),
    };
    sandbox.storage_use.store(report, sandbox.usage.requests());
    Ok(report)
}

/// Measures a sandbox again after a lifecycle change or a new quota (off the async workers).
pub async fn refresh(server: &Server, id: &str) {
    let Some(sandbox) = server.sandbox(id) else { return };
    let Some(record) = server.record(id) else { return };
    let s = server.clone();
    match tokio::task::spawn_blocking(move || measure(&s, &sandbox, &record)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(sandbox = %id, error = %e, "could not measure the sandbox's storage"),
        Err(e) => tracing::warn!(sandbox = %id, error = %e, "measuring the sandbox's storage failed"),
    }
}

/// Housekeeping: measures every sandbox with a quota that was used since its last
/// measurement, at most every half minute each (blocking).
pub fn measure_due(server: &Server) {
    let now = server.wall.now_secs();
    for sandbox in server.sandboxes() {
        let Some(record) = server.record(&sandbox.id) else {
            continue;
        };
        let u = &sandbox.storage_use;
        let measured_at = u.measured_at();
        let quota = quota_of(server, &record);
        let unchanged = u.measured_requests() == sandbox.usage.requests() && quota == u.report().quota;
        // Each sandbox is measured once for the listing; after that only those with a quota
        // that were used since, at most every half minute.
        if measured_at != 0 && (quota.is_none() || unchanged || now - measured_at < MEASURE_EVERY) {
            continue;
        }
        let Some(_pass) = sandbox.gate.try_enter() else {
            continue;
        };
        if let Err(e) = measure(server, &sandbox, &record) {
            tracing::warn!(sandbox = %sandbox.id, error = %e, "could not measure the sandbox's storage");
        }
    }
}

/// What a refusal says: the use, the quota and what brings the sandbox back under it.
pub fn exceeded_detail(id: &str, r: UseReport, wanted: Option<u64>) -> String {
    let mb = |b: u64| format!("{:.1} MB", b as f64 / MIB as f64);
    let quota = r.quota.map(mb).unwrap_or_else(|| "no".into());
    let wanted = wanted
        .map(|w| format!("; a snapshot would add about {}", mb(w)))
        .unwrap_or_default();
    format!(
        "sandbox {id} keeps {} ({} live, {} in snapshots) of its {quota} storage quota{wanted}: delete snapshots or reset it, or ask the operator for a larger quota",
        mb(r.used()),
        mb(r.live),
        mb(r.snapshots)
    )
}
