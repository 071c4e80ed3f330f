//! Instant account debit (即時口座振替): a biller debits a user's account under the mandate
//! the user granted on the consent screen; the answer is immediate, with the Zengin result
//! codes. The user (through the control plane) can stop a mandate, the biller can cancel it;
//! per-debit and monthly maximums apply.

use super::consent::Principal;
use super::ledger::{self, Entry};
use crate::domain::consent::Scope;
use crate::domain::debit::{DebitResult, Mandate, MandateStatus};
use crate::domain::money::Yen;
use crate::domain::transaction::{Direction, TransactionKind};
use crate::error::ApiError;
use crate::state::AppState;
use crate::storage::{TxError, abort};
use serde_json::json;

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

fn require_scope(who: &Principal) -> Result<(), ApiError> {
    if who.has(Scope::Debits) {
        Ok(())
    } else {
        Err(ApiError::insufficient_scope("debits"))
    }
}

/// Debits `amount` under `mandate_id`. Any answer other than an error is a bank result code:
/// 0 debited, 1 insufficient funds, 2 no account, 3 stopped by depositor, 4 no mandate,
/// 8 stopped by biller, 9 other (over a maximum).
pub async fn debit(
    app: &AppState,
    who: &Principal,
    mandate_id: &str,
    amount: Yen,
    remarks: Option<&str>,
) -> Result<DebitOutcome, ApiError> {
    require_scope(who)?;
    if amount.0 < 1 {
        return Err(ApiError::bad_request("invalid_amount", "amount must be at least 1 yen"));
    }
    let now = app.clock.now();
    let today = now.to_zoned(crate::clock::jst()).date();
    let debit_id = format!("dbt_{:012}", app.store.next_id()?);
    let result = app
        .store
        .atomically::<DebitResult, ()>(|tx| {
            let Some(mut mandate) = tx.mandate(mandate_id)?.filter(|m| m.client_id == who.client_id) else {
                return Ok(DebitResult::NoMandate);
            };
            match mandate.status {
                MandateStatus::StoppedByDepositor => return Ok(DebitResult::StoppedByDepositor),
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
            ledger::post(tx, &mut account, Entry { direction: Direction::Debit, kind: TransactionKind::BookTransfer, amount, remarks: text.trim_end(), remitter_name: None }, now)?;
            ledger::post_system(tx, &biller_account(&mandate.client_id), amount.0)?;
            tx.put_account(&account)?;
            mandate.month_total = Some((month, Yen(used + amount.0)));
            tx.put_mandate(&mandate)?;
            ledger::notify(
                tx,
                &account,
                "口座振替のお知らせ / Account debit",
                format!("{} による口座振替で {} 円が引き落とされました。", mandate.biller_name, amount),
                now,
            )?;
            ledger::event(tx, "debit.completed", json!({"debitId": debit_id, "mandateId": mandate.id, "accountId": account.id, "amount": amount.to_api_string()}), now)?;
            Ok(DebitResult::Debited)
        })
        .map_err(|e: TxError<()>| match e {
            TxError::Abort(()) => ApiError::internal("debit aborted"),
            TxError::Storage(e) => e.into(),
        })?;
    if result == DebitResult::Debited {
        app.store.flush().await?;
    }
    Ok(DebitOutcome {
        debit_id,
        mandate_id: mandate_id.to_owned(),
        amount,
        result,
        processed_at: now,
    })
}

/// The biller's mandates granted through this token's grant's user.
pub fn mandates_of_biller(app: &AppState, who: &Principal) -> Result<Vec<Mandate>, ApiError> {
    require_scope(who)?;
    Ok(app
        .store
        .mandates(|m| m.client_id == who.client_id && m.customer_id == who.customer_id)?)
}

/// Changes a mandate's status: the biller cancels (`by_biller`), or the depositor stops it.
pub async fn end_mandate(app: &AppState, mandate_id: &str, by_biller: Option<&Principal>) -> Result<Mandate, ApiError> {
    if let Some(who) = by_biller {
        require_scope(who)?;
    }
    let status = if by_biller.is_some() {
        MandateStatus::CancelledByBiller
    } else {
        MandateStatus::StoppedByDepositor
    };
    let now = app.clock.now();
    let mandate = app
        .store
        .atomically::<Mandate, ()>(|tx| {
            let Some(mut m) = tx
                .mandate(mandate_id)?
                .filter(|m| by_biller.is_none_or(|w| w.client_id == m.client_id && w.customer_id == m.customer_id))
            else {
                return abort(());
            };
            if m.status == MandateStatus::Active {
                m.status = status;
                tx.put_mandate(&m)?;
                ledger::event(
                    tx,
                    "mandate.ended",
                    json!({"mandateId": m.id, "status": m.status.name()}),
                    now,
                )?;
            }
            Ok(m)
        })
        .map_err(|e| match e {
            TxError::Abort(()) => ApiError::not_found("mandate_not_found", format!("no mandate {mandate_id:?}")),
            TxError::Storage(e) => e.into(),
        })?;
    app.store.flush().await?;
    Ok(mandate)
}
