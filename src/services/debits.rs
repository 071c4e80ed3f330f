//! Instant account debit (即時口座振替): a biller debits a user's account under the mandate
//! the user granted on the consent screen; the answer is immediate, with the Zengin result
//! codes. The user (through the control plane) can stop a mandate, the biller can cancel it;
//! per-debit and monthly maximums apply.

use super::ledger::{self, Entry};
use crate::domain::consent::Principal;
use crate::domain::debit::{DebitResult, Mandate, MandateStatus};
use crate::domain::event::{DebitData, DebitFailedData, EventKind, MandateData, MovementData};
use crate::domain::money::Yen;
use crate::domain::transaction::{Direction, TransactionKind};
use crate::sandbox::Sandbox;
use crate::storage::StorageError;
use crate::storage::{Counter, LedgerTx, TxError, TxResult, abort};

/// A debit's outcome.
pub struct DebitOutcome {
    pub debit_id: String,
    pub mandate_id: String,
    pub amount: Yen,
    pub result: DebitResult,
    pub processed_at: jiff::Timestamp,
}

/// The system account collecting what a biller debited.
fn biller_account(client_id: &str) -> String {
    format!("biller:{client_id}")
}

/// 403 unless the token has the `debits` scope.
pub fn require_scope(who: &Principal) -> Result<(), DebitError> {
    if crate::domain::consent::ScopeRule::Debits.allows(who) {
        Ok(())
    } else {
        Err(DebitError::MissingScope)
    }
}

/// Why a debit use case refused or failed; `http` answers each as a problem document.
#[derive(Debug, thiserror::Error)]
pub enum DebitError {
    /// The token's grant has no `debits` scope.
    #[error("this endpoint needs the `debits` scope")]
    MissingScope,
    #[error("amount must be at least 1 yen")]
    InvalidAmount,
    #[error("no mandate {0:?}")]
    MandateNotFound(String),
    #[error("the debit's write was aborted")]
    Aborted,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Debits `amount` under `mandate_id`. Any answer other than an error is a bank result code:
/// 0 debited, 1 insufficient funds, 2 no account, 3 stopped by depositor, 4 no mandate,
/// 8 stopped by biller, 9 other (over a maximum).
pub async fn debit(
    sandbox: &Sandbox,
    who: &Principal,
    mandate_id: &str,
    amount: Yen,
    remarks: Option<&str>,
) -> Result<DebitOutcome, DebitError> {
    require_scope(who)?;
    if amount.0 < 1 {
        return Err(DebitError::InvalidAmount);
    }
    let now = sandbox.clock.now();
    let (result, debit_id) = sandbox
        .store
        .atomically::<(DebitResult, String), ()>(|tx| {
            let debit_id = format!("dbt_{:012}", tx.next(Counter::Debit)?);
            let result = debit_in(tx, who, &debit_id, mandate_id, amount, remarks, now)?;
            // A refusal under a mandate of the caller's is news for the biller's backend
            // (debit.failed); a caller with no such mandate learns nothing, and nothing is written.
            if !matches!(result, DebitResult::Debited | DebitResult::NoMandate) {
                ledger::event(
                    tx,
                    EventKind::DebitFailed(DebitFailedData {
                        debit_id: debit_id.clone(),
                        mandate_id: mandate_id.to_owned(),
                        client_id: who.client_id.clone(),
                        amount: amount.to_api_string(),
                        result_code: result.code().to_owned(),
                    }),
                    now,
                )?;
            }
            Ok((result, debit_id))
        })
        .map_err(|e: TxError<()>| match e {
            TxError::Abort(()) => DebitError::Aborted,
            TxError::Storage(e) => e.into(),
        })?;
    if result != DebitResult::NoMandate {
        sandbox.store.flush().await?;
    }
    Ok(DebitOutcome {
        debit_id,
        mandate_id: mandate_id.to_owned(),
        amount,
        result,
        processed_at: now,
    })
}

/// The debit inside its atomic write. Only the biller's own token, of the very user who
/// granted the mandate, can use it: any other caller is told there is no mandate (4).
fn debit_in(
    tx: &LedgerTx<'_>,
    who: &Principal,
    debit_id: &str,
    mandate_id: &str,
    amount: Yen,
    remarks: Option<&str>,
    now: jiff::Timestamp,
) -> TxResult<DebitResult> {
    let today = now.to_zoned(crate::clock::jst()).date();
    let Some(mut mandate) = tx
        .mandate(mandate_id)?
        .filter(|m| m.client_id == who.client_id && m.user_id == who.user_id)
    else {
        return Ok(DebitResult::NoMandate);
    };
    match mandate.status {
        MandateStatus::StoppedByDepositor | MandateStatus::ConsentEnded => return Ok(DebitResult::StoppedByDepositor),
        MandateStatus::CancelledByBiller => return Ok(DebitResult::StoppedByBiller),
        MandateStatus::Active => {}
    }
    let Some(mut account) = tx.account(&mandate.account_id)?.filter(|a| a.closed_at.is_none()) else {
        return Ok(DebitResult::NoAccount);
    };
    let month = today.first_of_month();
    let used = match mandate.month_total {
        Some((m, y)) if m == month => y.0,
        _ => 0,
    };
    if amount > mandate.max_per_debit || used + amount.0 > mandate.max_per_month.0 {
        return Ok(DebitResult::Other);
    }
    if amount > account.withdrawable() {
        return Ok(DebitResult::InsufficientFunds);
    }
    let text = format!("ｺｳﾌﾘ {}", remarks.unwrap_or(""));
    ledger::post(
        tx,
        &mut account,
        Entry {
            direction: Direction::Debit,
            kind: TransactionKind::BookTransfer,
            amount,
            remarks: text.trim_end(),
            remitter_name: None,
        },
        now,
    )?;
    ledger::post_system(tx, &biller_account(&mandate.client_id), amount.0)?;
    tx.put_account(&account)?;
    mandate.month_total = Some((month, Yen(used + amount.0)));
    tx.update_mandate(&mandate)?;
    ledger::notify(
        tx,
        &account,
        "口座振替のお知らせ / Account debit",
        format!(
            "{} による口座振替で {}円が引き落とされました。",
            mandate.biller_name, amount
        ),
        now,
    )?;
    ledger::event(
        tx,
        EventKind::AccountDebited(MovementData {
            account_id: account.id.clone(),
            amount: amount.to_api_string(),
            apply_no: None,
            debit_id: Some(debit_id.to_owned()),
        }),
        now,
    )?;
    ledger::event(
        tx,
        EventKind::DebitCompleted(DebitData {
            debit_id: debit_id.to_owned(),
            mandate_id: mandate.id.clone(),
            client_id: mandate.client_id.clone(),
            account_id: account.id.clone(),
            amount: amount.to_api_string(),
        }),
        now,
    )?;
    Ok(DebitResult::Debited)
}

/// The payload of a mandate event.
pub fn mandate_data(m: &Mandate, reason: Option<&str>) -> MandateData {
    MandateData {
        mandate_id: m.id.clone(),
        client_id: m.client_id.clone(),
        account_id: m.account_id.clone(),
        status: m.status.name().to_owned(),
        reason: reason.map(str::to_owned),
    }
}

/// Ends every active mandate given with `grant_id` (its consent was revoked or expired),
/// inside the caller's atomic write.
pub fn end_mandates_of_grant(
    tx: &LedgerTx<'_>,
    mandates: &[Mandate],
    reason: &str,
    now: jiff::Timestamp,
) -> TxResult<()> {
    for m in mandates {
        let Some(mut m) = tx.mandate(&m.id)? else { continue };
        if m.status != MandateStatus::Active {
            continue;
        }
        m.status = MandateStatus::ConsentEnded;
        tx.update_mandate(&m)?;
        ledger::event(tx, EventKind::MandateStopped(mandate_data(&m, Some(reason))), now)?;
    }
    Ok(())
}

/// The biller's mandates granted through this token's grant's user.
pub fn mandates_of_biller(sandbox: &Sandbox, who: &Principal) -> Result<Vec<Mandate>, DebitError> {
    require_scope(who)?;
    Ok(sandbox
        .store
        .mandates(|m| m.client_id == who.client_id && m.user_id == who.user_id)?)
}

/// Changes a mandate's status: the biller cancels (`by_biller`), or the depositor stops it.
pub async fn end_mandate(
    sandbox: &Sandbox,
    mandate_id: &str,
    by_biller: Option<&Principal>,
) -> Result<Mandate, DebitError> {
    if let Some(who) = by_biller {
        require_scope(who)?;
    }
    let status = if by_biller.is_some() {
        MandateStatus::CancelledByBiller
    } else {
        MandateStatus::StoppedByDepositor
    };
    let now = sandbox.clock.now();
    let mandate = sandbox
        .store
        .atomically::<Mandate, ()>(|tx| {
            let Some(mut m) = tx
                .mandate(mandate_id)?
                .filter(|m| by_biller.is_none_or(|w| w.client_id == m.client_id && w.user_id == m.user_id))
            else {
                return abort(());
            };
            if m.status == MandateStatus::Active {
                m.status = status;
                tx.update_mandate(&m)?;
                let data = mandate_data(&m, None);
                let kind = if by_biller.is_some() {
                    EventKind::MandateCancelled(data)
                } else {
                    EventKind::MandateStopped(data)
                };
                ledger::event(tx, kind, now)?;
            }
            Ok(m)
        })
        .map_err(|e| match e {
            TxError::Abort(()) => DebitError::MandateNotFound(mandate_id.to_owned()),
            TxError::Storage(e) => e.into(),
        })?;
    sandbox.store.flush().await?;
    Ok(mandate)
}
