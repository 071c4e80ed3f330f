//! Instant account debit (即時口座振替): mandates a user grants a biller, and the result codes
//! of a debit (振替結果コード).

use super::money::Yen;
use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

/// Where a mandate stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MandateStatus {
    Active,
    /// Stopped by the depositor (the user).
    StoppedByDepositor,
    /// Cancelled by the biller.
    CancelledByBiller,
    /// The consent (grant) the mandate was given with was revoked or expired.
    ConsentEnded,
}

impl MandateStatus {
    pub fn name(self) -> &'static str {
        match self {
            MandateStatus::Active => "active",
            MandateStatus::StoppedByDepositor => "stoppedByDepositor",
            MandateStatus::CancelledByBiller => "cancelledByBiller",
            MandateStatus::ConsentEnded => "consentEnded",
        }
    }
}

/// A user's permission for a biller to debit one account, within limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mandate {
    pub id: String,
    /// The biller (a client with the `debits` scope).
    pub client_id: String,
    pub biller_name: String,
    pub customer_id: String,
    pub user_id: String,
    /// The grant the user gave on the consent screen together with this mandate; revoking
    /// (or the expiry of) that grant ends the mandate.
    pub grant_id: String,
    pub account_id: String,
    pub max_per_debit: Yen,
    pub max_per_month: Yen,
    pub status: MandateStatus,
    pub created_at: Timestamp,
    /// Debited so far in a month (first day of that month).
    pub month_total: Option<(Date, Yen)>,
}

/// 振替結果コード.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DebitResult {
    /// 0 振替済
    Debited,
    /// 1 資金不足
    InsufficientFunds,
    /// 2 取引なし (no such account)
    NoAccount,
    /// 3 預金者都合による振替停止
    StoppedByDepositor,
    /// 4 口座振替依頼書なし (no mandate)
    NoMandate,
    /// 8 委託者都合による振替停止
    StoppedByBiller,
    /// 9 その他 (e.g. over the mandate's limits)
    Other,
}

impl DebitResult {
    pub fn code(self) -> &'static str {
        match self {
            DebitResult::Debited => "0",
            DebitResult::InsufficientFunds => "1",
            DebitResult::NoAccount => "2",
            DebitResult::StoppedByDepositor => "3",
            DebitResult::NoMandate => "4",
            DebitResult::StoppedByBiller => "8",
            DebitResult::Other => "9",
        }
    }

    pub fn name_ja(self) -> &'static str {
        match self {
            DebitResult::Debited => "振替済",
            DebitResult::InsufficientFunds => "資金不足",
            DebitResult::NoAccount => "取引なし",
            DebitResult::StoppedByDepositor => "預金者都合による振替停止",
            DebitResult::NoMandate => "口座振替依頼書なし",
            DebitResult::StoppedByBiller => "委託者都合による振替停止",
            DebitResult::Other => "その他",
        }
    }
}
