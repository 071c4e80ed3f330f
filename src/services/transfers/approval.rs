//! Cancelling a scheduled or waiting transfer, and the corporate approver's decision.

use super::*;

/// Cancels a scheduled transfer or one waiting for approval (status 8).
pub async fn cancel(
    sandbox: &Sandbox,
    who: Option<&Principal>,
    apply_no: &str,
) -> Result<TransferRequest, TransferError> {
    let now = sandbox.clock.now();
    let req = sandbox
        .store
        .atomically::<TransferRequest, ExecError>(|tx| {
            let Some(mut req) = tx
                .transfer(apply_no)?
                .filter(|r| who.is_none_or(|w| w.customer_id == r.customer_id))
            else {
                return abort(ExecError::NotFound);
            };
            match req.status() {
                TransferStatus::Scheduled => tx.unschedule(req.execute_at, apply_no)?,
                TransferStatus::PendingApproval => {
                    if let Some(d) = req.approval_deadline {
                        tx.unschedule(d, apply_no)?;
                    }
                }
                other => return abort(ExecError::WrongState(other)),
            }
            req.set_status(TransferStatus::Cancelled, Some("取消 / cancelled"));
            req.updated_at = now;
            tx.update_transfer(&req)?;
            status_event(tx, &req, now)?;
            Ok(req)
        })
        .map_err(|e| transfer_tx_error(e, apply_no))?;
    sandbox.store.flush().await?;
    Ok(req)
}

/// Approves (the transfer then runs or is scheduled) or returns (差戻, status 3) a request
/// waiting for approval. `approver` must be an approver or admin of the same corporation.
pub async fn decide(
    sandbox: &Sandbox,
    approver_id: &str,
    apply_no: &str,
    decision: Decision,
    comment: Option<&str>,
) -> Result<TransferRequest, TransferError> {
    let approver = sandbox
        .store
        .user(approver_id)?
        .filter(|u| matches!(u.role, Role::Approver | Role::Admin))
        .ok_or_else(|| TransferError::NotAnApprover(approver_id.to_owned()))?;
    let now = sandbox.clock.now();
    let today = now.to_zoned(jst()).date();
    let req = sandbox
        .store
        .atomically::<TransferRequest, ExecError>(|tx| {
            let Some(mut req) = tx.transfer(apply_no)?.filter(|r| r.customer_id == approver.customer_id) else {
                return abort(ExecError::NotFound);
            };
            if req.status() != TransferStatus::PendingApproval {
                return abort(ExecError::WrongState(req.status()));
            }
            if let Some(d) = req.approval_deadline {
                tx.unschedule(d, apply_no)?;
            }
            req.approver_id = Some(approver.id.clone());
            req.approver_comment = comment.map(str::to_owned);
            req.updated_at = now;
            match decision {
                Decision::Return => req.set_status(TransferStatus::Returned, Some("差戻 / returned by the approver")),
                Decision::Approve => {
                    req.set_status(TransferStatus::Scheduled, None);
                    transfer_event(tx, TransferEventKind::Approved, &req, now)?;
                    let execution = req.execution_date.max(today);
                    if execution == today {
                        if let Err(e) = execute_items(sandbox, tx, &mut req, now, false)? {
                            return abort(e);
                        }
                    } else {
                        req.execute_at = morning(execution);
                        tx.schedule(req.execute_at, apply_no)?;
                    }
                }
            }
            tx.update_transfer(&req)?;
            status_event(tx, &req, now)?;
            Ok(req)
        })
        .map_err(|e| transfer_tx_error(e, apply_no))?;
    sandbox.store.flush().await?;
    Ok(req)
}
