//! Accounts: identity (branch, type, number), holder names and the materialised balance that
//! the ledger keeps current.

use super::codes::{AccountNumber, AccountType, BranchCode};
use super::kana::KanaName;
use super::money::Yen;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

/// A deposit account held by one customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Stable identifier: branch code + type code + account number (11 digits).
    pub id: String,
    pub customer_id: String,
    pub branch: BranchCode,
    pub account_type: AccountType,
    pub number: AccountNumber,
    /// Holder name in kanji (or the company's registered name).
    pub holder_name: String,
    pub holder_kana: KanaName,
    /// Whether this is the customer's primary (代表) account.
    pub primary: bool,
    /// Current balance, kept equal to the last transaction's balance-after.
    pub balance: Yen,
    /// Overdraft allowed below zero (0 for most accounts).
    pub overdraft_limit: Yen,
    /// Per-transfer limit the bank applies to this account.
    pub transfer_limit: Yen,
    /// Sequence number the next transaction of this account will get.
    pub next_seq: u32,
    /// Balance at the start of the day of the latest entry, and that day. With entries
    /// only ever added at the present, this answers "previous day balance" without reading
    /// history.
    pub day_open: Option<(Date, Yen)>,
    /// Balance at the start of the month of the latest entry (first day of that month).
    pub month_open: Option<(Date, Yen)>,
    /// Total sent by transfer (with fees) on a day, for the daily limit.
    pub daily_out: Option<(Date, Yen)>,
    /// Set when the account was closed (解約): it then neither sends nor receives money.
    pub closed_at: Option<jiff::Timestamp>,
}

impl Account {
    /// The account id for a branch, type and number.
    pub fn make_id(branch: &BranchCode, account_type: AccountType, number: &AccountNumber) -> String {
        format!("{}{}{}", branch, account_type.code(), number)
    }

    /// Recomputes `day_open` and `month_open` from the account's history (ascending).
    pub fn set_opening_balances(&mut self, history: &[super::transaction::Transaction]) {
        let before = |t: &super::transaction::Transaction| Yen(t.balance_after.0 - t.signed_amount());
        let Some(last) = history.last() else {
            self.day_open = None;
            self.month_open = None;
            return;
        };
        let first_of_day = history.iter().find(|t| t.date == last.date).unwrap_or(last);
        let month = last.date.first_of_month();
        let first_of_month = history.iter().find(|t| t.date >= month).unwrap_or(last);
        self.day_open = Some((last.date, before(first_of_day)));
        self.month_open = Some((month, before(first_of_month)));
    }

    /// Balance at the end of the day before `today`.
    pub fn previous_day_balance(&self, today: Date) -> Yen {
        match self.day_open {
            Some((day, open)) if day >= today => open,
            _ => self.balance,
        }
    }

    /// Balance at the end of the month before `today`'s month.
    pub fn previous_month_balance(&self, today: Date) -> Yen {
        match self.month_open {
            Some((month, open)) if month >= today.first_of_month() => open,
            _ => self.balance,
        }
    }

    /// Balance minus nothing pending plus the overdraft: what can be withdrawn now.
    pub fn withdrawable(&self) -> Yen {
        Yen(self.balance.0.saturating_add(self.overdraft_limit.0))
    }
}
