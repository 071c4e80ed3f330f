//! The kill switch as a use case: a stop or its lifting is stored with its record, announced
//! by an event (`client.stopped`, …) and made durable (the state is `sandbox::controls`).

use crate::domain::event::{EventKind, StopData};
use crate::sandbox::Sandbox;
use crate::sandbox::controls::{Stop, StopScope, Target};
use crate::storage::StorageError;

/// Stops `target` (replacing a stop already there) or lifts its stop (`None`), stores the
/// change with its record and event, and makes it durable. Answers the stop now in force and
/// whether anything changed.
pub async fn set(
    sandbox: &Sandbox,
    target: Target<'_>,
    stop: Option<(StopScope, String)>,
    by: &str,
) -> Result<(Option<Stop>, bool), StorageError> {
    let now = sandbox.clock.now();
    let (now_in_force, record) = sandbox.controls.set(&sandbox.store, now, target, stop, by)?;
    let Some(record) = record else {
        return Ok((None, false));
    };
    let data = StopData {
        target: record.target.clone(),
        id: record.id.clone(),
        scope: record.scope.as_str().to_owned(),
        reason: record.reason.clone(),
        by: record.by.clone(),
    };
    let kind = if record.action == "suspended" {
        EventKind::Stopped(data)
    } else {
        EventKind::Resumed(data)
    };
    super::ledger::write_event(&sandbox.store, kind, now)?;
    sandbox.store.flush().await?;
    Ok((now_in_force, true))
}
