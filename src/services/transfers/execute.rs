//! Execution on the ledger: the items of a request debited, credited, cleared, held in
//! suspense or returned, inside one atomic write, with their events.

use super::*;

/// How an item ends on the receiving side.
pub(super) enum Receiving {
    /// Credit this account of ours.
    Credit(String),
    /// Other bank: to its clearing account now.
    Clearing,
    /// Other bank: the money waits in suspense with this status (12 or 13) until `end`.
    Hold(TransferStatus, PendingEnd),
    /// Other bank: completed now, returned at `end.at` (an outcome rule).
    ClearThenReturn(PendingEnd),
    /// Rejected by the receiving side: money comes back, fee stays.
    Reject(String),
    /// Refused before anything moves (40, an outcome rule): no money, no fee.
    Fail(String),
}

/// When an outcome rule's end falls, from `now`.
pub(super) fn due_at(due: Due, now: Timestamp) -> Option<Timestamp> {
    match due {
        Due::Now => None,
        Due::After(d) => Some(now.saturating_add(d).unwrap_or(now)),
        Due::NextBusinessDay => {
            let today = now.to_zoned(jst()).date();
            Some(morning(next_business_day(today.tomorrow().unwrap_or(today))))
        }
        Due::At(t) => (t > now).then_some(t),
    }
}

/// What a transfer outcome rule says about an item to another bank, if one matches.
pub(super) fn by_outcome_rule(
    sandbox: &Sandbox,
    req: &TransferRequest,
    item: &TransferItem,
    now: Timestamp,
) -> Option<Receiving> {
    let rule = sandbox.faults.outcome_for(&ItemFacts {
        bank_code: item.bank_code.as_str(),
        branch_code: item.branch_code.as_str(),
        account_number: item.account_number.as_str(),
        beneficiary_name: &item.beneficiary_name,
        amount: item.amount,
        remitter_account_id: &req.account_id,
    })?;
    let end = |at: Timestamp, in_suspense: bool| PendingEnd {
        at,
        result: rule.result,
        reason: rule.reason.clone(),
        in_suspense,
    };
    Some(match (rule.result, due_at(rule.due, now)) {
        (OutcomeResult::Completed, None) => Receiving::Clearing,
        (OutcomeResult::Returned, None) => Receiving::Reject(rule.reason.clone()),
        (OutcomeResult::Failed, None) => Receiving::Fail(rule.reason.clone()),
        (OutcomeResult::Returned, Some(at)) if rule.meanwhile == TransferStatus::Completed => {
            Receiving::ClearThenReturn(end(at, false))
        }
        (_, Some(at)) => Receiving::Hold(rule.meanwhile, end(at, true)),
    })
}

pub(super) fn receiving(
    sandbox: &Sandbox,
    tx: &LedgerTx<'_>,
    req: &TransferRequest,
    item: &TransferItem,
    now: Timestamp,
) -> TxResult<Receiving> {
    if item.destination != Destination::OtherBank {
        let id = Account::make_id(&item.branch_code, item.account_type, &item.account_number);
        return Ok(match tx.account(&id)? {
            None => Receiving::Reject("受取口座なし / no such account at the receiving bank".into()),
            Some(a) if a.closed_at.is_some() => {
                Receiving::Reject("口座解約済 / the beneficiary account is closed".into())
            }
            Some(a) if !same_name(a.holder_kana.as_str(), &item.beneficiary_name) => {
                Receiving::Reject("受取人名相違 / the beneficiary name does not match the account".into())
            }
            Some(_) => Receiving::Credit(id),
        });
    }
    if let Some(decided) = by_outcome_rule(sandbox, req, item, now) {
        return Ok(decided);
    }
    let bank = sandbox
        .scenario
        .scenario
        .other_banks
        .iter()
        .find(|b| b.code.value == item.bank_code);
    if let Some(b) = bank
        && !b.accounts.is_empty()
    {
        match b.accounts.iter().find(|a| {
            a.branch == item.branch_code && a.account_type == item.account_type && a.number == item.account_number
        }) {
            None => {
                return Ok(Receiving::Reject(
                    "受取口座なし / no such account at the receiving bank".into(),
                ));
            }
            Some(a) if !same_name(a.name.as_str(), &item.beneficiary_name) => {
                return Ok(Receiving::Reject(
                    "受取人名相違 / the beneficiary name does not match the account".into(),
                ));
            }
            Some(_) => {}
        }
    }
    let local = now.to_zoned(jst());
    let (open, close) = transfer_hours(sandbox);
    let time = local.time();
    if is_business_day(local.date()) && time >= open && time < close {
        Ok(Receiving::Clearing)
    } else {
        let mut day = next_business_day(local.date());
        if day == local.date() && time >= open {
            day = next_business_day(day.tomorrow().unwrap_or(day));
        }
        Ok(Receiving::Hold(
            TransferStatus::Processing,
            PendingEnd {
                at: morning(day),
                result: OutcomeResult::Completed,
                reason: String::new(),
                in_suspense: true,
            },
        ))
    }
}

/// Gives an item's amount back to the remitter (資金返却: the fee stays), with its
/// notification and `transfer.item_returned` event.
pub(super) fn return_item(
    tx: &LedgerTx<'_>,
    (apply_no, account_id): (&str, &str),
    remitter: &mut Account,
    item: &mut TransferItem,
    why: &str,
    now: Timestamp,
) -> TxResult<()> {
    let back = format!("ｼｷﾝﾍﾝｷﾔｸ {}", item.beneficiary_name);
    ledger::post(
        tx,
        remitter,
        Entry {
            direction: Direction::Credit,
            kind: TransactionKind::Transfer,
            amount: item.amount,
            remarks: &back,
            remitter_name: None,
        },
        now,
    )?;
    item.status = TransferStatus::FundsReturned;
    item.status_reason = Some(why.to_owned());
    ledger::notify(
        tx,
        remitter,
        "資金返却のお知らせ / Transfer returned",
        format!(
            "受付番号 {} の明細 {}（{} 宛 {}円）は受取側で受け付けられず、{}円を口座に戻しました（手数料 {}円 は返却されません）。理由: {}",
            apply_no, item.item_id, item.beneficiary_name, item.amount, item.amount, item.fee, why
        ),
        now,
    )?;
    ledger::event(
        tx,
        EventKind::TransferItemReturned(TransferItemData {
            apply_no: apply_no.to_owned(),
            account_id: account_id.to_owned(),
            item_id: item.item_id,
            amount: item.amount.to_api_string(),
            reason: why.to_owned(),
        }),
        now,
    )
    .map(|_| ())
}

/// Runs the items of a transfer: debits the remitter, credits or clears each item. `new`
/// says the request is being accepted in this very write (its `transfer.accepted` event is
/// written first, once the checks pass, so a refused request leaves no event).
pub(super) fn execute_items(
    sandbox: &Sandbox,
    tx: &LedgerTx<'_>,
    req: &mut TransferRequest,
    now: Timestamp,
    new: bool,
) -> TxResult<Result<(), ExecError>> {
    let Some(mut remitter) = tx.account(&req.account_id)?.filter(|a| a.closed_at.is_none()) else {
        return Ok(Err(ExecError::NotFound));
    };
    // Where each item goes, first: an item refused outright (40) takes no money and no fee.
    let mut decided = Vec::with_capacity(req.items.len());
    for item in &req.items {
        decided.push(receiving(sandbox, tx, req, item, now)?);
    }
    let total = match check_debit(sandbox, &mut remitter, req, &decided, now) {
        Ok(total) => total,
        Err(e) => return Ok(Err(e)),
    };
    if new {
        transfer_event(tx, TransferEventKind::Accepted, req, now)?;
    }
    if total.0 > 0 {
        ledger::event(
            tx,
            EventKind::AccountDebited(MovementData {
                account_id: remitter.id.clone(),
                amount: total.to_api_string(),
                apply_no: Some(req.apply_no.clone()),
                debit_id: None,
            }),
            now,
        )?;
    }
    let mut settle_at: Vec<Timestamp> = Vec::new();
    let from = Remitter {
        apply_no: &req.apply_no,
        account_id: &req.account_id,
        name: &req.remitter_name,
    };
    for (item, decision) in req.items.iter_mut().zip(decided) {
        if let Receiving::Fail(why) = decision {
            item.status = TransferStatus::Failed;
            item.status_reason = Some(why);
            continue;
        }
        debit_item(tx, &mut remitter, item, now)?;
        if let Some(at) = receive_item(tx, &from, &mut remitter, item, decision, now)? {
            settle_at.push(at);
        }
    }
    tx.put_account(&remitter)?;
    settle_at.sort();
    settle_at.dedup();
    for at in &settle_at {
        tx.schedule(*at, &req.apply_no)?;
    }
    if let Some(first) = settle_at.first() {
        req.execute_at = *first;
    }
    ledger::notify(
        tx,
        &remitter,
        "お振込受付のお知らせ / Transfer accepted",
        format!(
            "受付番号 {}: {} 件 {}円（手数料 {}円）のお振込みを受け付けました。",
            req.apply_no,
            req.items.len(),
            req.total_amount(),
            req.total_fee()
        ),
        now,
    )?;
    Ok(Ok(()))
}

/// The request an item belongs to, as its receiving side sees it.
struct Remitter<'a> {
    apply_no: &'a str,
    account_id: &'a str,
    name: &'a str,
}

/// What the items that move money take from the remitter, within what it can withdraw and
/// its daily limit (recorded on the account for today).
fn check_debit(
    sandbox: &Sandbox,
    remitter: &mut Account,
    req: &TransferRequest,
    decided: &[Receiving],
    now: Timestamp,
) -> Result<Yen, ExecError> {
    let total = Yen(req
        .items
        .iter()
        .zip(decided)
        .filter(|(_, d)| !matches!(d, Receiving::Fail(_)))
        .map(|(i, _)| i.amount.0 + i.fee.0)
        .sum());
    if total > remitter.withdrawable() {
        return Err(ExecError::InsufficientFunds {
            needed: total,
            available: remitter.withdrawable(),
        });
    }
    let today = now.to_zoned(jst()).date();
    let sent = match remitter.daily_out {
        Some((d, y)) if d == today => y.0,
        _ => 0,
    };
    if sent + total.0 > sandbox.scenario.scenario.limits.daily_per_account as i64 {
        return Err(ExecError::DailyLimit);
    }
    remitter.daily_out = Some((today, Yen(sent + total.0)));
    Ok(total)
}

/// The item's amount and fee off the remitter's account.
fn debit_item(tx: &LedgerTx<'_>, remitter: &mut Account, item: &TransferItem, now: Timestamp) -> TxResult<()> {
    let to = format!("ﾌﾘｺﾐ {}", item.beneficiary_name);
    ledger::post(
        tx,
        remitter,
        Entry {
            direction: Direction::Debit,
            kind: TransactionKind::Transfer,
            amount: item.amount,
            remarks: &to,
            remitter_name: None,
        },
        now,
    )?;
    if item.fee.0 > 0 {
        ledger::post(
            tx,
            remitter,
            Entry {
                direction: Direction::Debit,
                kind: TransactionKind::Other,
                amount: item.fee,
                remarks: "ﾌﾘｺﾐﾃｽｳﾘﾖｳ",
                remitter_name: None,
            },
            now,
        )?;
        ledger::post_system(tx, ledger::FEE_INCOME, item.fee.0)?;
    }
    Ok(())
}

/// The receiving side of one item: credited here, cleared, held in suspense or rejected.
/// Answers when the item must be settled later, if it must.
fn receive_item(
    tx: &LedgerTx<'_>,
    from: &Remitter<'_>,
    remitter: &mut Account,
    item: &mut TransferItem,
    decision: Receiving,
    now: Timestamp,
) -> TxResult<Option<Timestamp>> {
    match decision {
        Receiving::Credit(id) if id == remitter.id => {}
        Receiving::Credit(id) => {
            let Some(mut beneficiary) = tx.account(&id)? else {
                return Ok(None);
            };
            credit_beneficiary(tx, from, &mut beneficiary, item.amount, now)?;
            item.status = TransferStatus::Completed;
        }
        Receiving::Clearing => {
            ledger::post_system(tx, &ledger::clearing(item.bank_code.as_str()), item.amount.0)?;
            item.status = TransferStatus::Completed;
        }
        Receiving::ClearThenReturn(end) => {
            ledger::post_system(tx, &ledger::clearing(item.bank_code.as_str()), item.amount.0)?;
            item.status = TransferStatus::Completed;
            let at = end.at;
            item.pending = Some(end);
            return Ok(Some(at));
        }
        Receiving::Hold(status, end) => {
            ledger::post_system(tx, ledger::SUSPENSE, item.amount.0)?;
            item.status = status;
            let at = end.at;
            item.pending = Some(end);
            return Ok(Some(at));
        }
        Receiving::Reject(why) => return_item(tx, (from.apply_no, from.account_id), remitter, item, &why, now)?,
        Receiving::Fail(_) => {}
    }
    Ok(None)
}

/// Credits a beneficiary of this bank, with its notice and `account.credited`.
fn credit_beneficiary(
    tx: &LedgerTx<'_>,
    from: &Remitter<'_>,
    beneficiary: &mut Account,
    amount: Yen,
    now: Timestamp,
) -> TxResult<()> {
    let remarks = format!("ﾌﾘｺﾐ {}", from.name);
    ledger::post(
        tx,
        beneficiary,
        Entry {
            direction: Direction::Credit,
            kind: TransactionKind::Transfer,
            amount,
            remarks: &remarks,
            remitter_name: Some(from.name),
        },
        now,
    )?;
    tx.put_account(beneficiary)?;
    ledger::notify(
        tx,
        beneficiary,
        "入金のお知らせ / Incoming transfer",
        format!("{} 様から {}円のお振込みがありました。", from.name, amount),
        now,
    )?;
    ledger::event(
        tx,
        EventKind::AccountCredited(CreditData {
            account_id: beneficiary.id.clone(),
            amount: amount.to_api_string(),
            remitter_name: from.name.to_owned(),
            apply_no: Some(from.apply_no.to_owned()),
        }),
        now,
    )?;
    Ok(())
}

/// Carries out the item ends that are due (see `PendingEnd`); true if any was.
pub(super) fn settle_due_items(tx: &LedgerTx<'_>, req: &mut TransferRequest, now: Timestamp) -> TxResult<bool> {
    if !req
        .items
        .iter()
        .any(|i| i.pending.as_ref().is_some_and(|p| p.at <= now))
    {
        return Ok(false);
    }
    let Some(mut remitter) = tx.account(&req.account_id)? else {
        return Ok(false);
    };
    for item in req.items.iter_mut() {
        let Some(end) = item.pending.take_if(|p| p.at <= now) else {
            continue;
        };
        let held = if end.in_suspense {
            ledger::SUSPENSE.to_owned()
        } else {
            ledger::clearing(item.bank_code.as_str())
        };
        match end.result {
            OutcomeResult::Completed => {
                ledger::post_system(tx, &held, -item.amount.0)?;
                ledger::post_system(tx, &ledger::clearing(item.bank_code.as_str()), item.amount.0)?;
                item.status = TransferStatus::Completed;
            }
            OutcomeResult::Returned => {
                ledger::post_system(tx, &held, -item.amount.0)?;
                return_item(
                    tx,
                    (&req.apply_no, &req.account_id),
                    &mut remitter,
                    item,
                    &end.reason,
                    now,
                )?;
            }
            OutcomeResult::Failed => {
                // Never sent: the amount and the fee come back.
                ledger::post_system(tx, &held, -item.amount.0)?;
                let back = format!("ﾌﾘｺﾐﾌﾉｳ {}", item.beneficiary_name);
                ledger::post(
                    tx,
                    &mut remitter,
                    Entry {
                        direction: Direction::Credit,
                        kind: TransactionKind::Transfer,
                        amount: item.amount,
                        remarks: &back,
                        remitter_name: None,
                    },
                    now,
                )?;
                if item.fee.0 > 0 {
                    ledger::post_system(tx, ledger::FEE_INCOME, -item.fee.0)?;
                    ledger::post(
                        tx,
                        &mut remitter,
                        Entry {
                            direction: Direction::Credit,
                            kind: TransactionKind::Other,
                            amount: item.fee,
                            remarks: "ﾌﾘｺﾐﾃｽｳﾘﾖｳ ﾍﾝｷﾔｸ",
                            remitter_name: None,
                        },
                        now,
                    )?;
                }
                item.status = TransferStatus::Failed;
                item.status_reason = Some(end.reason.clone());
                ledger::notify(
                    tx,
                    &remitter,
                    "振込不能のお知らせ / Transfer failed",
                    format!(
                        "受付番号 {} の明細 {}（{} 宛 {}円）はお振込みできませんでした。{}円と手数料 {}円を口座に戻しました。理由: {}",
                        req.apply_no,
                        item.item_id,
                        item.beneficiary_name,
                        item.amount,
                        item.amount,
                        item.fee,
                        end.reason
                    ),
                    now,
                )?;
            }
        }
    }
    tx.put_account(&remitter)?;
    Ok(true)
}

pub(super) fn status_event(tx: &LedgerTx<'_>, req: &TransferRequest, now: Timestamp) -> TxResult<()> {
    let kind = match req.status() {
        TransferStatus::Completed => TransferEventKind::Completed,
        TransferStatus::FundsReturned if req.items.iter().any(|i| i.status == TransferStatus::Completed) => {
            TransferEventKind::PartiallyCompleted
        }
        TransferStatus::FundsReturned => TransferEventKind::Returned,
        TransferStatus::Scheduled => TransferEventKind::Scheduled,
        TransferStatus::Processing | TransferStatus::Retrying => TransferEventKind::Processing,
        TransferStatus::PendingApproval => TransferEventKind::ApprovalRequested,
        TransferStatus::Cancelled | TransferStatus::Withdrawn => TransferEventKind::Cancelled,
        TransferStatus::Returned => TransferEventKind::ApprovalReturned,
        TransferStatus::Expired => TransferEventKind::Expired,
        _ => TransferEventKind::Failed,
    };
    transfer_event(tx, kind, req, now)
}

/// Writes a transfer event of `kind` reporting the request as it stands.
pub(super) fn transfer_event(
    tx: &LedgerTx<'_>,
    kind: TransferEventKind,
    req: &TransferRequest,
    now: Timestamp,
) -> TxResult<()> {
    let status = req.status();
    let completed_count = req
        .items
        .iter()
        .filter(|i| i.status == TransferStatus::Completed)
        .count();
    let returned_count = req
        .items
        .iter()
        .filter(|i| i.status == TransferStatus::FundsReturned)
        .count();
    let data = TransferData {
        apply_no: req.apply_no.clone(),
        account_id: req.account_id.clone(),
        status: status.code().to_owned(),
        total_amount: req.total_amount().to_api_string(),
        completed_count,
        returned_count,
    };
    ledger::event(tx, EventKind::Transfer(kind, data), now).map(|_| ())
}

/// `applyNo`, 16 digits: the acceptance date (YYYYMMDD, sandbox time) and the sandbox's
/// transfer sequence number (8 digits). The sequence lives in the sandbox's data, moves in
/// the same atomic write as the transfer and never repeats, so an apply number is unique for
/// the life of the sandbox whatever the restarts or the clock do.
pub(super) fn new_apply_no(tx: &LedgerTx<'_>, today: Date) -> TxResult<Result<String, ExecError>> {
    let n = tx.next(Counter::ApplyNo)?;
    if n > MAX_APPLY_SEQ {
        return Ok(Err(ExecError::ApplyNoExhausted));
    }
    Ok(Ok(format!(
        "{:04}{:02}{:02}{n:08}",
        today.year(),
        today.month(),
        today.day()
    )))
}
