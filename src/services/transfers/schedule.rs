//! Scheduled work: transfers due on their date, settlements of other-bank transfers held
//! in suspense, approval deadlines and grants at their maximum lifetime.

use super::*;

/// Runs scheduled work that is due: scheduled transfers, settlement of other-bank transfers
/// held in suspense, and approval deadlines. Called when the clock moves and periodically.
pub async fn run_due(sandbox: &Sandbox) -> Result<usize, TransferError> {
    let now = sandbox.clock.now();
    let due = sandbox.store.due(now)?;
    let mut done = 0;
    for (at, apply_no) in due {
        // Grants are on the schedule too: at their maximum lifetime they end (grant.expired).
        if apply_no.starts_with("grt_") {
            crate::services::grants::end_grant(sandbox, &apply_no, "max_lifetime", Some(at))?;
            done += 1;
            continue;
        }
        let result = sandbox.store.atomically::<(), ExecError>(|tx| {
            tx.unschedule(at, &apply_no)?;
            let Some(mut req) = tx.transfer(&apply_no)? else {
                return Ok(());
            };
            // The clock is stepped to each due instant (see `sandbox::advance_clock`), so `now`
            // is when this was due, and history stays in date order.
            let when = now;
            let settled = settle_due_items(tx, &mut req, when)?;
            match req.status() {
                TransferStatus::Scheduled => match execute_items(sandbox, tx, &mut req, when, false)? {
                    Ok(()) => {}
                    Err(ExecError::InsufficientFunds { .. }) => req.set_status(
                        TransferStatus::Failed,
                        Some("残高不足 / insufficient funds on the execution date"),
                    ),
                    Err(ExecError::DailyLimit) => {
                        req.set_status(TransferStatus::Failed, Some("限度額超過 / daily limit exceeded"))
                    }
                    Err(_) => req.set_status(TransferStatus::Failed, Some("the remitting account no longer exists")),
                },
                TransferStatus::PendingApproval if req.approval_deadline.is_some_and(|d| d <= now) => {
                    req.set_status(
                        TransferStatus::Expired,
                        Some("承認期限切れ / not approved by the deadline"),
                    );
                }
                _ if settled => {}
                _ => return Ok(()),
            }
            req.updated_at = when;
            tx.update_transfer(&req)?;
            status_event(tx, &req, when)
        });
        result.map_err(tx_error)?;
        done += 1;
    }
    if done > 0 {
        sandbox.store.flush().await?;
    }
    Ok(done)
}

/// Keeps `run_due` going as real time passes (the clock also runs without being advanced).
pub async fn run_due_every(
    server: crate::server::Server,
    period: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = stop.changed() => break,
        }
        // Each sandbox on its own clock.
        for sandbox in server.sandboxes() {
            // Not while a lifecycle change holds the sandbox still; the next tick runs it.
            let Some(_pass) = sandbox.gate.try_enter() else {
                continue;
            };
            if let Err(e) = run_due(&sandbox).await {
                tracing::warn!(sandbox = %sandbox.id, error = %e, "running scheduled transfers failed");
            }
        }
    }
}
