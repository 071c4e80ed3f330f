//! Accounts: identity (branch, type, number), holder names and the materialised balance that
//! the ledger keeps current.

use super::codes::{AccountNumber, AccountType, BranchCode};
use super::kana::KanaName;
use super::money::Yen;
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
}

impl Account {
    /// The account id for a branch, type and number.
    pub fn make_id(branch: &BranchCode, account_type: AccountType, number: &AccountNumber) -> String {
        format!("{}{}{}", branch, account_type.code(), number)
    }

    /// Balance minus nothing pending plus the overdraft: what can be withdrawn now.
    pub fn withdrawable(&self) -> Yen {
        Yen(self.balance.0.saturating_add(self.overdraft_limit.0))
    }
}
