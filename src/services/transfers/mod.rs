//! Transfers (振込): validation with per-item errors, fee quotes, requests of 1–99 items,
//! execution on the ledger (same bank at once; other banks to the clearing account within the
//! bank's hours, otherwise via suspense on the next business day at 08:30), scheduled
//! transfers run when the sandbox clock reaches them, the receiving side's rejection (funds
//! returned, fee kept), cancellation, corporate approval, and account-name verification.

use super::ledger::{self, Entry};
use crate::clock::jst;
use crate::domain::account::Account;
use crate::domain::calendar::{is_business_day, next_business_day, previous_business_day};
use crate::domain::codes::{AccountNumber, AccountType, BankCode, BranchCode};
use crate::domain::consent::Principal;
use crate::domain::consent::Scope;
use crate::domain::customer::{CustomerKind, Role};
use crate::domain::event::{
    AccountData, CreditData, EventKind, MovementData, TransferData, TransferEventKind, TransferItemData,
};
use crate::domain::kana::KanaName;
use crate::domain::money::Yen;
use crate::domain::outcome::{Due, ItemFacts, OutcomeResult};
use crate::domain::transaction::{Direction, TransactionKind};
use crate::domain::transfer::{
    Destination, FeeTable, HolidayRule, PendingEnd, TransferItem, TransferRequest, TransferStatus,
};
use crate::domain::validation::FieldError;
use crate::sandbox::Sandbox;
use crate::storage::StorageError;
use crate::storage::{Counter, LedgerTx, TxError, TxResult, abort};
use jiff::Timestamp;
use jiff::civil::{Date, Time};

mod accounts;
mod approval;
mod execute;
mod plan;
mod request;
mod schedule;
mod verification;

pub use accounts::*;
pub use approval::*;
use execute::*;
pub use plan::*;
pub use request::*;
pub use schedule::*;
pub use verification::*;

/// Why a transfer use case refused or failed; `http` answers each as a problem document.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The token's grant has no transfer scope.
    #[error("this endpoint needs the `transfers:own or transfers:any` scope")]
    MissingScope,
    /// The remitting account is not one of the token's (or a date does not parse).
    #[error(transparent)]
    Reference(#[from] super::reference::ReferenceError),
    #[error("the remitting account is closed")]
    RemitterClosed,
    /// The request has problems, each with its field (and item); `code` names the kind of request.
    #[error("{summary}")]
    Invalid {
        code: &'static str,
        summary: String,
        errors: Vec<FieldError>,
    },
    #[error("the transfer needs {needed} yen with fees; {available} yen can be withdrawn")]
    InsufficientFunds { needed: Yen, available: Yen },
    /// Found when planning: what the account would send on the execution date.
    #[error("this would send {total} yen from the account on {date}; the daily limit is {limit} yen")]
    DailyLimitOnDate { total: i64, date: Date, limit: i64 },
    /// Found when executing.
    #[error("this transfer would pass the account's daily limit")]
    DailyLimit,
    #[error("the remitting account no longer exists")]
    RemitterGone,
    #[error("this Idempotency-Key was already used with a different request; use a new key for a new request")]
    KeyReused,
    #[error("this sandbox has accepted {MAX_APPLY_SEQ} transfers, all its apply numbers; reset it or start a new one")]
    ApplyNumbersExhausted,
    #[error("the transfer is {} ({}); that is not possible now", .0.code(), .0.name_ja())]
    WrongState(TransferStatus),
    #[error("no transfer {0:?} among this customer's transfers")]
    TransferNotFound(String),
    #[error("{0:?} is not an approver of a corporation")]
    NotAnApprover(String),
    /// The control plane named an account that does not exist.
    #[error("no account {0:?}")]
    NoSuchAccount(String),
    #[error("account {0} is closed and cannot receive money; credit an open account")]
    CreditToClosed(String),
    #[error("the account is already closed")]
    AlreadyClosed,
    #[error("the transfer writer has stopped")]
    WriterStopped,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<ExecError> for TransferError {
    fn from(e: ExecError) -> Self {
        match e {
            ExecError::InsufficientFunds { needed, available } => {
                TransferError::InsufficientFunds { needed, available }
            }
            ExecError::DailyLimit => TransferError::DailyLimit,
            ExecError::NotFound => TransferError::RemitterGone,
            ExecError::KeyReused => TransferError::KeyReused,
            ExecError::ApplyNoExhausted => TransferError::ApplyNumbersExhausted,
            ExecError::WrongState(s) => TransferError::WrongState(s),
        }
    }
}

/// Most items in one request.
pub const MAX_ITEMS: usize = 99;
/// How far ahead a transfer may be designated.
const MAX_DAYS_AHEAD: i64 = 365;

fn fee_table(sandbox: &Sandbox) -> FeeTable {
    let f = &sandbox.scenario.scenario.fees;
    let y = |v: [u32; 2]| [Yen(v[0] as i64), Yen(v[1] as i64)];
    FeeTable {
        same_branch: y(f.same_branch),
        same_bank: y(f.same_bank),
        other_bank: y(f.other_bank),
    }
}

fn bank_code(sandbox: &Sandbox) -> &BankCode {
    &sandbox.scenario.scenario.bank.code
}

/// The bank's hours for same-day transfers to other banks (default 08:30–15:00).
fn transfer_hours(sandbox: &Sandbox) -> (Time, Time) {
    let parse = |s: &str| s.parse::<Time>().ok();
    sandbox
        .scenario
        .scenario
        .bank
        .hours
        .as_ref()
        .and_then(|h| Some((parse(&h.transfers.start)?, parse(&h.transfers.end).unwrap_or(Time::MAX))))
        .unwrap_or((Time::constant(8, 30, 0, 0), Time::constant(15, 0, 0, 0)))
}

/// 08:30 JST on `date`: when the morning batch runs.
fn morning(date: Date) -> Timestamp {
    date.at(8, 30, 0, 0)
        .to_zoned(jst())
        .map(|z| z.timestamp())
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Names are compared as the Zengin system sees them, ignoring spaces.
fn same_name(a: &str, b: &str) -> bool {
    let norm = |s: &str| crate::domain::kana::to_zengin(s).unwrap_or_default().replace(' ', "");
    norm(a) == norm(b)
}

fn field(item: Option<u32>, field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        item_id: item,
        field: field.to_owned(),
        message: message.into(),
    }
}

fn parse_amount(s: &str) -> Option<Yen> {
    Yen::parse_api(s)
}

fn account_type(code: &str) -> Option<AccountType> {
    match code {
        "1" => Some(AccountType::Ordinary),
        "2" => Some(AccountType::Current),
        "4" => Some(AccountType::Savings),
        "9" => Some(AccountType::Other),
        _ => None,
    }
}

/// Result of applying a request's items to the ledger.
#[derive(Debug, Clone)]
pub enum ExecError {
    InsufficientFunds {
        needed: Yen,
        available: Yen,
    },
    DailyLimit,
    NotFound,
    WrongState(TransferStatus),
    /// The idempotency key already created a transfer from a different request.
    KeyReused,
    /// The sandbox has used every 8-digit apply sequence number.
    ApplyNoExhausted,
}

fn tx_error(e: TxError<ExecError>) -> TransferError {
    match e {
        TxError::Abort(e) => e.into(),
        TxError::Storage(e) => e.into(),
    }
}

/// Like `tx_error`, but a missing record is the transfer, not the account.
fn transfer_tx_error(e: TxError<ExecError>, apply_no: &str) -> TransferError {
    match e {
        TxError::Abort(ExecError::NotFound) => TransferError::TransferNotFound(apply_no.to_owned()),
        e => tx_error(e),
    }
}

/// Transfers a sandbox can accept: the sequence part of `applyNo` has 8 digits.
const MAX_APPLY_SEQ: u64 = 99_999_999;

/// What a transfer request answers: the transfer, and whether it was made by an earlier
/// request with the same idempotency key (the answer is then a replay).
pub struct Accepted {
    pub transfer: TransferRequest,
    pub replayed: bool,
}

pub enum Written {
    /// Wrote this new transfer.
    New(TransferRequest),
    /// Found the transfer an earlier request with the same idempotency key made.
    Existing(TransferRequest),
}

/// The approver's decision on a corporate request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Return,
}
