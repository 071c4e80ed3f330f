//! Reference use cases (参照系): the accounts a grant covers, balances with previous-day and
//! previous-month figures, and history pages following the Japanese bank API date rules.

use crate::domain::account::Account;
use crate::domain::consent::Principal;
use crate::domain::money::Yen;
use crate::domain::transaction::{Direction, TransactionKind};
use crate::sandbox::Sandbox;
use crate::storage::StorageError;
use jiff::civil::Date;
use std::sync::Arc;

/// Most items a history page holds.
pub const MAX_PAGE: usize = 500;

/// Why a reference request was refused; `http` answers each as a problem document.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    /// Not one of the token's accounts (never "forbidden": no hint that it exists).
    #[error("no account {0:?} among the accounts this token may read")]
    AccountNotFound(String),
    #[error("{name} must be a real date written YYYY-MM-DD, got {value:?}")]
    InvalidDate { name: &'static str, value: String },
    #[error("dateTo needs dateFrom; send both, or only dateFrom")]
    DateToWithoutFrom,
    #[error("dateFrom {from} is after dateTo {to}")]
    RangeReversed { from: Date, to: Date },
    #[error("a history request may span at most two years")]
    RangeTooLong,
    #[error("nextItemKey {0:?} is not one this API returned")]
    InvalidItemKey(String),
    #[error("nextItemKey lies outside dateFrom..dateTo; send the same dates as the first page")]
    ItemKeyOutsideRange,
    #[error("limit must be 1..={MAX_PAGE}, got {0}")]
    InvalidLimit(u32),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The principal's customer's accounts.
pub fn accounts(sandbox: &Sandbox, who: &Principal) -> Result<Vec<Arc<Account>>, ReferenceError> {
    Ok(sandbox.store.accounts_of_shared(&who.customer_id)?)
}

/// One of the principal's accounts; any other id is 404 (never 403: no hint that it exists).
pub fn account(sandbox: &Sandbox, who: &Principal, account_id: &str) -> Result<Arc<Account>, ReferenceError> {
    match sandbox.store.account_shared(account_id)? {
        Some(a) if a.customer_id == who.customer_id => Ok(a),
        _ => Err(ReferenceError::AccountNotFound(account_id.to_owned())),
    }
}

/// Balance figures for one account as of the sandbox clock.
pub struct BalanceFigures {
    pub balance: Yen,
    pub withdrawable: Yen,
    pub previous_day: Yen,
    pub previous_month: Yen,
}

/// Balance, withdrawable amount, and the balances at the end of yesterday and of last month.
pub fn balance(account: &Account, today: Date) -> BalanceFigures {
    BalanceFigures {
        balance: account.balance,
        withdrawable: account.withdrawable(),
        previous_day: account.previous_day_balance(today),
        previous_month: account.previous_month_balance(today),
    }
}

/// A parsed `YYYY-MM-DD` query date.
pub fn parse_date(name: &'static str, value: &str) -> Result<Date, ReferenceError> {
    let ok_shape = value.len() == 10
        && value.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    let parsed = ok_shape.then(|| value.parse::<Date>().ok()).flatten();
    parsed.ok_or_else(|| ReferenceError::InvalidDate {
        name,
        value: value.to_owned(),
    })
}

/// The date range of a history request: none = today; only `dateFrom` = from..today;
/// `dateFrom` after `dateTo` = 400.
pub fn date_range(from: Option<&str>, to: Option<&str>, today: Date) -> Result<(Date, Date), ReferenceError> {
    let from = from.map(|v| parse_date("dateFrom", v)).transpose()?;
    let to = to.map(|v| parse_date("dateTo", v)).transpose()?;
    let (from, to) = match (from, to) {
        (None, None) => (today, today),
        (Some(f), None) => (f, today.max(f)),
        (None, Some(_)) => {
            return Err(ReferenceError::DateToWithoutFrom);
        }
        (Some(f), Some(t)) => (f, t),
    };
    if from > to {
        return Err(ReferenceError::RangeReversed { from, to });
    }
    if to.since(from).map(|s| s.get_days()).unwrap_or(i32::MAX) > 366 * 2 {
        return Err(ReferenceError::RangeTooLong);
    }
    Ok((from, to))
}

/// `itemKey` / `nextItemKey`: the date and sequence of an entry, as 18 digits.
pub fn item_key(date: Date, seq: u32) -> String {
    let mut key = String::with_capacity(18);
    push_item_key(&mut key, date, seq);
    key
}

/// Appends an `itemKey` (see `item_key`) without formatting machinery (50 per history page).
pub fn push_item_key(out: &mut String, date: Date, seq: u32) {
    let ymd = date.year().clamp(0, 9999) as u64 * 10_000 + date.month() as u64 * 100 + date.day() as u64;
    crate::clock::push_digits(out, ymd, 8);
    crate::clock::push_digits(out, seq as u64, 10);
}

pub fn parse_item_key(key: &str) -> Result<(Date, u32), ReferenceError> {
    let bad = || ReferenceError::InvalidItemKey(key.to_owned());
    if key.len() != 18 || !key.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let date = format!("{}-{}-{}", &key[0..4], &key[4..6], &key[6..8])
        .parse::<Date>()
        .map_err(|_| bad())?;
    let seq = key[8..].parse::<u32>().map_err(|_| bad())?;
    Ok((date, seq))
}

/// Which entries a history request wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryKind {
    All,
    /// Incoming transfers only (入金明細).
    Deposits,
}

/// One page of history.
pub struct HistoryPage {
    pub from: Date,
    pub to: Date,
    pub entries: crate::storage::HistoryPage,
    pub next_item_key: Option<String>,
}

/// A page of the account's history in ascending order.
pub fn history(
    sandbox: &Sandbox,
    account: &Account,
    range: (Date, Date),
    next_item_key: Option<&str>,
    limit: Option<u32>,
    kind: HistoryKind,
) -> Result<HistoryPage, ReferenceError> {
    let limit = match limit {
        None => MAX_PAGE,
        Some(n) if (1..=MAX_PAGE as u32).contains(&n) => n as usize,
        Some(n) => {
            return Err(ReferenceError::InvalidLimit(n));
        }
    };
    let start = next_item_key.map(parse_item_key).transpose()?;
    if let Some((d, _)) = start
        && (d < range.0 || d > range.1)
    {
        return Err(ReferenceError::ItemKeyOutsideRange);
    }
    let page = sandbox
        .store
        .history(&account.id, range.0, range.1, start, limit, |t| match kind {
            HistoryKind::All => true,
            HistoryKind::Deposits => t.direction == Direction::Credit && t.kind == TransactionKind::Transfer,
        })?;
    Ok(HistoryPage {
        from: range.0,
        to: range.1,
        next_item_key: page.next.map(|(d, s)| item_key(d, s)),
        entries: page,
    })
}
