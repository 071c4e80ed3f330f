//! Maintenance windows as use cases: announcing a window to connecting companies (the windows
//! themselves live with the sandbox, `sandbox::maintenance`).

use crate::domain::maintenance::MaintenanceWindow;
use crate::sandbox::Sandbox;
use crate::storage::StorageError;

/// Writes `maintenance.announced` for a window just declared, with its next occurrence
/// (connecting companies learn of it by webhook as well as from the public listing).
pub async fn announce(sandbox: &Sandbox, w: &MaintenanceWindow) -> Result<(), StorageError> {
    use crate::domain::event::{EventKind, MaintenanceData};
    let now = sandbox.clock.now();
    let id = w.id.clone().unwrap_or_default();
    let next = sandbox.maintenance.next_occurrence(&id, now);
    let covers = serde_json::to_value(w.covers)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "operations".to_owned());
    let data = MaintenanceData {
        window_id: id,
        covers,
        start: next.as_ref().map(|o| crate::clock::format_jst(o.start)),
        end: next.as_ref().map(|o| crate::clock::format_jst(o.end)),
        description: w.description.clone(),
    };
    crate::services::ledger::write_event(&sandbox.store, EventKind::MaintenanceAnnounced(data), now)?;
    sandbox.store.flush().await
}
