//! Accepting a request: the idempotency key checked, the plan written through the group
//! writer (durable when it answers), and reading one transfer back.

use super::*;

/// An idempotency key carried into the transfer's own atomic write: (key, request fingerprint).
pub type IdempotencyKey<'a> = Option<(&'a str, &'a str)>;

// Long on purpose: builds the transfer and the write that carries it into the group writer; the write owns what it captures.
/// Accepts a request: corporate operators' requests wait for approval, the rest run now or are
/// scheduled. Durable when it returns. With an idempotency key, a transfer already created by
/// the same key and request is returned instead of making another.
pub async fn request(
    sandbox: &Sandbox,
    who: &Principal,
    input: &TransferInput,
    idem: IdempotencyKey<'_>,
) -> Result<Accepted, TransferError> {
    if let Some((key, fingerprint)) = idem
        && let Some(existing) = existing_for_key(sandbox, who, key, fingerprint)?
    {
        return Ok(Accepted {
            transfer: existing,
            replayed: true,
        });
    }
    let plan = plan(sandbox, who, input)?;
    let now = sandbox.clock.now();
    let today = now.to_zoned(jst()).date();
    let needs_approval = who.customer_kind == CustomerKind::Corporation
        && sandbox
            .store
            .user(&who.user_id)?
            .is_some_and(|u| u.role == Role::Operator);
    let mut req = TransferRequest {
        // Allocated inside the atomic write (see `new_apply_no`).
        apply_no: String::new(),
        account_id: plan.account.id.clone(),
        customer_id: who.customer_id.clone(),
        user_id: who.user_id.clone(),
        client_id: who.client_id.clone(),
        remitter_name: plan.remitter_name.clone(),
        designated_date: plan.designated,
        execution_date: plan.execution,
        execute_at: if plan.immediate { now } else { morning(plan.execution) },
        holiday_rule: plan.holiday_rule,
        apply_comment: input.apply_comment.clone(),
        items: plan.items.clone(),
        created_at: now,
        updated_at: now,
        approval_deadline: None,
        approver_id: None,
        approver_comment: None,
    };
    if needs_approval {
        let ttl = sandbox.scenario.scenario.approval_ttl.0;
        req.approval_deadline = Some(now.saturating_add(ttl).unwrap_or(now));
        req.set_status(TransferStatus::PendingApproval, None);
    }
    let immediate = plan.immediate;
    let client_id = who.client_id.clone();
    let user_id = who.user_id.clone();
    let idem = idem.map(|(k, f)| (k.to_owned(), f.to_owned()));
    let worker = sandbox.clone();
    let work = move |tx: &LedgerTx<'_>| -> TxResult<Result<Written, ExecError>> {
        let sandbox = &worker;
        let mut req = req.clone();
        if let Some((key, fingerprint)) = &idem {
            match tx.idempotent_transfer(&client_id, &user_id, key)? {
                Some((apply_no, fp)) if &fp == fingerprint => {
                    if let Some(existing) = tx.transfer(&apply_no)? {
                        return Ok(Ok(Written::Existing(existing)));
                    }
                }
                Some(_) => return Ok(Err(ExecError::KeyReused)),
                None => {}
            }
        }
        req.apply_no = match new_apply_no(tx, today)? {
            Ok(n) => n,
            Err(e) => return Ok(Err(e)),
        };
        if needs_approval {
            transfer_event(tx, TransferEventKind::Accepted, &req, now)?;
            if let Some(deadline) = req.approval_deadline {
                tx.schedule(deadline, &req.apply_no)?;
            }
        } else if immediate {
            // Nothing is written before this check fails, so a failed job leaves no trace.
            if let Err(e) = execute_items(sandbox, tx, &mut req, now, true)? {
                return Ok(Err(e));
            }
        } else {
            transfer_event(tx, TransferEventKind::Accepted, &req, now)?;
            tx.schedule(req.execute_at, &req.apply_no)?;
        }
        if let Some((key, fingerprint)) = &idem {
            tx.put_idempotent_transfer(&client_id, &user_id, key, &req.apply_no, fingerprint)?;
        }
        tx.insert_transfer(&req)?;
        status_event(tx, &req, now)?;
        Ok(Ok(Written::New(req)))
    };
    let (reply, answer) = tokio::sync::oneshot::channel();
    let job = TransferWrite {
        sandbox_id: sandbox.id.clone(),
        work,
        written: std::sync::Mutex::new(None),
        reply,
    };
    sandbox
        .transfer_writer
        .submit(&sandbox.store, Box::new(job))
        .map_err(|_| TransferError::WriterStopped)?;
    let written = answer.await.map_err(|_| TransferError::WriterStopped)??;
    match written? {
        Written::New(transfer) => Ok(Accepted {
            transfer,
            replayed: false,
        }),
        Written::Existing(transfer) => Ok(Accepted {
            transfer,
            replayed: true,
        }),
    }
}

/// What the writer did with a transfer job.
/// A transfer's write in the group writer's batch: `work` runs inside the shared atomic write
/// (perhaps more than once); its answer goes back once the batch is durable.
pub(super) struct TransferWrite<F> {
    sandbox_id: std::sync::Arc<str>,
    work: F,
    written: std::sync::Mutex<Option<Result<Written, ExecError>>>,
    reply: tokio::sync::oneshot::Sender<Result<Result<Written, ExecError>, crate::storage::StorageError>>,
}

impl<F> crate::storage::group_commit::GroupJob for TransferWrite<F>
where
    F: Fn(&LedgerTx<'_>) -> TxResult<Result<Written, ExecError>> + Send,
{
    fn write(&self, tx: &LedgerTx<'_>) -> TxResult<()> {
        let written = (self.work)(tx)?;
        *self.written.lock().unwrap_or_else(|e| e.into_inner()) = Some(written);
        Ok(())
    }

    fn finish(self: Box<Self>, outcome: Result<(), crate::storage::StorageError>) {
        let TransferWrite {
            sandbox_id,
            written,
            reply,
            ..
        } = *self;
        let answer = outcome.and_then(|()| {
            written
                .into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .ok_or_else(|| crate::storage::StorageError::Codec("a transfer's write left no answer".into()))
        });
        if let Ok(Ok(Written::New(t))) = &answer {
            crate::metrics::metrics().transfer(&sandbox_id, t.status().code());
        }
        let _ = reply.send(answer);
    }
}

/// The transfer an earlier request with this key made, if the caller may see it: the key
/// belongs to this client and user, and the token may request transfers for this customer,
/// exactly as a fresh request would need. Otherwise the request runs (and fails) as new.
pub(super) fn existing_for_key(
    sandbox: &Sandbox,
    who: &Principal,
    key: &str,
    fingerprint: &str,
) -> Result<Option<TransferRequest>, TransferError> {
    if !(who.has(Scope::TransfersAny) || who.has(Scope::TransfersOwn)) {
        return Err(TransferError::MissingScope);
    }
    // Most keys are new: one plain read says so, without the storage engine's transaction
    // lock (which every transfer write holds). The writer checks the key again inside the
    // transfer's own write, so this read only decides whether to answer a replay early.
    match sandbox.store.idempotent_transfer(&who.client_id, &who.user_id, key)? {
        None => return Ok(None),
        Some((_, fp)) if fp != fingerprint => return Err(TransferError::KeyReused),
        Some(_) => {}
    }
    let found = sandbox
        .store
        .atomically::<Option<TransferRequest>, ExecError>(|tx| {
            match tx.idempotent_transfer(&who.client_id, &who.user_id, key)? {
                Some((apply_no, fp)) if fp == fingerprint => tx.transfer(&apply_no),
                Some(_) => abort(ExecError::KeyReused),
                None => Ok(None),
            }
        })
        .map_err(tx_error)?;
    Ok(found.filter(|t| t.customer_id == who.customer_id))
}

/// One of the principal's transfers.
pub fn get(sandbox: &Sandbox, who: &Principal, apply_no: &str) -> Result<TransferRequest, TransferError> {
    sandbox
        .store
        .transfer(apply_no)?
        .filter(|r| r.customer_id == who.customer_id)
        .ok_or_else(|| TransferError::TransferNotFound(apply_no.to_owned()))
}
