//! The control plane's account operations: a credit from outside the bank, and closing an
//! account.

use super::*;

/// Credits an account from outside the bank (sandbox control): salary from another bank etc.
pub async fn credit_from_outside(
    sandbox: &Sandbox,
    account_id: &str,
    amount: Yen,
    remitter: &str,
    edi: Option<&str>,
) -> Result<Account, TransferError> {
    let now = sandbox.clock.now();
    let remarks = match edi {
        Some(e) => format!("ﾌﾘｺﾐ {remitter} {e}"),
        None => format!("ﾌﾘｺﾐ {remitter}"),
    };
    let account = sandbox
        .store
        .atomically::<Account, ExecError>(|tx| {
            let Some(mut account) = tx.account(account_id)? else {
                return abort(ExecError::NotFound);
            };
            if account.closed_at.is_some() {
                return abort(ExecError::WrongState(TransferStatus::Completed));
            }
            ledger::post(
                tx,
                &mut account,
                Entry {
                    direction: Direction::Credit,
                    kind: TransactionKind::Transfer,
                    amount,
                    remarks: &remarks,
                    remitter_name: Some(remitter),
                },
                now,
            )?;
            ledger::post_system(tx, ledger::EXTERNAL, -amount.0)?;
            tx.put_account(&account)?;
            ledger::notify(
                tx,
                &account,
                "入金のお知らせ / Incoming transfer",
                format!("{remitter} 様から {amount}円のお振込みがありました。"),
                now,
            )?;
            ledger::event(
                tx,
                EventKind::AccountCredited(CreditData {
                    account_id: account_id.to_owned(),
                    amount: amount.to_api_string(),
                    remitter_name: remitter.to_owned(),
                    apply_no: None,
                }),
                now,
            )?;
            Ok(account)
        })
        .map_err(|e| match e {
            TxError::Abort(ExecError::NotFound) => TransferError::NoSuchAccount(account_id.to_owned()),
            TxError::Abort(_) => TransferError::CreditToClosed(account_id.to_owned()),
            TxError::Storage(e) => e.into(),
        })?;
    sandbox.store.flush().await?;
    Ok(account)
}

/// Closes an account (sandbox control): what is left is paid out in cash, then the account
/// neither sends nor receives (transfers to it are returned, debits answer 2).
pub async fn close_account(sandbox: &Sandbox, account_id: &str) -> Result<Account, TransferError> {
    let now = sandbox.clock.now();
    let account = sandbox
        .store
        .atomically::<Account, ExecError>(|tx| {
            let Some(mut account) = tx.account(account_id)? else {
                return abort(ExecError::NotFound);
            };
            if account.closed_at.is_some() {
                return abort(ExecError::WrongState(TransferStatus::Completed));
            }
            let left = account.balance;
            if left.0 > 0 {
                ledger::post(
                    tx,
                    &mut account,
                    Entry {
                        direction: Direction::Debit,
                        kind: TransactionKind::Cash,
                        amount: left,
                        remarks: "ｶｲﾔｸ",
                        remitter_name: None,
                    },
                    now,
                )?;
                ledger::post_system(tx, ledger::EXTERNAL, left.0)?;
            }
            account.closed_at = Some(now);
            tx.put_account(&account)?;
            ledger::notify(
                tx,
                &account,
                "口座解約のお知らせ / Account closed",
                format!("口座 {account_id} を解約しました。払戻金額 {left}円。"),
                now,
            )?;
            ledger::event(
                tx,
                EventKind::AccountClosed(AccountData {
                    account_id: account_id.to_owned(),
                    paid_out: left.to_api_string(),
                }),
                now,
            )?;
            Ok(account)
        })
        .map_err(|e| match e {
            TxError::Abort(ExecError::NotFound) => TransferError::NoSuchAccount(account_id.to_owned()),
            TxError::Abort(_) => TransferError::AlreadyClosed,
            TxError::Storage(e) => e.into(),
        })?;
    sandbox.store.flush().await?;
    Ok(account)
}
