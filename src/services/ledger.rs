//! The ledger's building blocks, used inside one atomic write: posting to a customer account
//! (which also writes its history entry and keeps the previous-day and previous-month
//! figures), posting to a system account, and writing the event and the customer's
//! notification. Every movement built from these is balanced: what leaves one ledger account
//! enters another.

use crate::domain::account::Account;
use crate::domain::event::{Event, EventKind, Notification};
use crate::domain::money::Yen;
use crate::domain::transaction::{Direction, Transaction, TransactionKind};
use crate::sandbox::Sandbox;
use crate::storage::{Counter, LedgerTx, StorageError, TxResult};
use jiff::Timestamp;

/// System ledger accounts.
pub const FEE_INCOME: &str = "fee_income";
pub const SUSPENSE: &str = "suspense";
/// The world outside the bank (credits from outside the sandbox).
pub const EXTERNAL: &str = "external";

/// The clearing account of another bank.
pub fn clearing(bank_code: &str) -> String {
    format!("clearing:{bank_code}")
}

/// One entry to post to a customer account.
pub struct Entry<'a> {
    pub direction: Direction,
    pub kind: TransactionKind,
    pub amount: Yen,
    pub remarks: &'a str,
    pub remitter_name: Option<&'a str>,
}

/// Posts `entry` to `account` at `now`: balance, history, day/month opening figures.
pub fn post(tx: &LedgerTx<'_>, account: &mut Account, entry: Entry<'_>, now: Timestamp) -> TxResult<()> {
    let date = now.to_zoned(crate::clock::jst()).date();
    if account.day_open.is_none_or(|(d, _)| d != date) {
        account.day_open = Some((date, account.balance));
    }
    let month = date.first_of_month();
    if account.month_open.is_none_or(|(m, _)| m != month) {
        account.month_open = Some((month, account.balance));
    }
    let signed = match entry.direction {
        Direction::Credit => entry.amount.0,
        Direction::Debit => -entry.amount.0,
    };
    account.balance = Yen(account.balance.0 + signed);
    let t = Transaction {
        seq: account.next_seq,
        date,
        value_date: date,
        direction: entry.direction,
        kind: entry.kind,
        amount: entry.amount,
        balance_after: account.balance,
        remarks: entry.remarks.to_owned(),
        remitter_name: entry.remitter_name.map(str::to_owned),
    };
    account.next_seq += 1;
    tx.append_history(&account.id, &t)
}

/// Posts `amount` (signed) to a system account.
pub fn post_system(tx: &LedgerTx<'_>, account: &str, amount: i64) -> TxResult<()> {
    let id = tx.next(Counter::Record)?;
    tx.post_system(account, amount, id)
}

/// Writes an event to the outbox; answers its sequence number.
pub fn event(tx: &LedgerTx<'_>, kind: EventKind, now: Timestamp) -> TxResult<u64> {
    let e = Event {
        seq: tx.next(Counter::Event)?,
        occurred_at: crate::clock::format_jst(now),
        kind,
    };
    let seq = e.seq;
    tx.insert_event(e);
    Ok(seq)
}

/// Writes an event that comes with no movement of money (a stop, a window, a webhook
/// notice) in an atomic write of its own; answers its sequence number. Flush before answering.
pub fn write_event(
    store: &crate::storage::SandboxStore,
    kind: EventKind,
    now: Timestamp,
) -> Result<u64, crate::storage::StorageError> {
    store
        .atomically::<u64, ()>(|tx| event(tx, kind.clone(), now))
        .map_err(|e| match e {
            crate::storage::TxError::Storage(e) => e,
            crate::storage::TxError::Abort(()) => crate::storage::StorageError::Codec("event write aborted".into()),
        })
}

/// Writes the customer's notification (the e-mail the bank would send).
pub fn notify(tx: &LedgerTx<'_>, account: &Account, subject: &str, body: String, now: Timestamp) -> TxResult<()> {
    let n = Notification {
        id: tx.next(Counter::Record)?,
        customer_id: account.customer_id.clone(),
        account_id: account.id.clone(),
        sent_at: crate::clock::format_jst(now),
        subject: subject.to_owned(),
        body,
    };
    tx.insert_notification(&n)
}

/// The ledger's totals: every customer account and system account; their sum must equal
/// the total of opening balances (money is neither created nor destroyed).
pub struct LedgerSummary {
    pub opening_total: i64,
    pub customer_total: i64,
    pub account_count: u64,
    pub system: Vec<(String, i64)>,
    pub below_limit: Vec<String>,
}

pub fn ledger_summary(sandbox: &Sandbox) -> Result<LedgerSummary, StorageError> {
    let opening_total = sandbox
        .store
        .meta_get(crate::storage::registry::meta::OPENING_TOTAL)?
        .and_then(|b| b.try_into().ok().map(i64::from_be_bytes))
        .unwrap_or(0);
    let (customer_total, account_count, below_limit) = sandbox.store.customer_balance_summary()?;
    Ok(LedgerSummary {
        opening_total,
        customer_total,
        account_count,
        system: sandbox.store.system_balances()?,
        below_limit,
    })
}
