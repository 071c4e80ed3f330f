//! Account history entries (入出金明細) with the Zengin deposit/withdrawal and transaction
//! kind codes.

use super::money::Yen;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

/// 入払区分: credit (入金) or debit (出金).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    Credit,
    Debit,
}

impl Direction {
    /// "1" for credit, "2" for debit.
    pub fn code(self) -> &'static str {
        match self {
            Direction::Credit => "1",
            Direction::Debit => "2",
        }
    }
}

/// 取引区分 (transaction kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransactionKind {
    /// 10 現金
    Cash,
    /// 11 振込
    Transfer,
    /// 12 他店券入金
    OtherBankCheque,
    /// 13 交換
    Clearing,
    /// 14 振替 (book transfer, account debit)
    BookTransfer,
    /// 18 その他
    Other,
    /// 19 訂正
    Correction,
}

impl TransactionKind {
    pub fn code(self) -> &'static str {
        match self {
            TransactionKind::Cash => "10",
            TransactionKind::Transfer => "11",
            TransactionKind::OtherBankCheque => "12",
            TransactionKind::Clearing => "13",
            TransactionKind::BookTransfer => "14",
            TransactionKind::Other => "18",
            TransactionKind::Correction => "19",
        }
    }
}

/// One line of an account's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// Position in the account's history; unique and increasing per account.
    pub seq: u32,
    #[serde(with = "compact_date")]
    pub date: Date,
    #[serde(with = "compact_date")]
    pub value_date: Date,
    pub direction: Direction,
    pub kind: TransactionKind,
    /// Always positive; the direction gives the sign.
    pub amount: Yen,
    /// Balance after this entry.
    pub balance_after: Yen,
    /// 摘要 as a passbook shows it.
    pub remarks: String,
    /// For incoming transfers: the remitter's name in half-width kana.
    pub remitter_name: Option<String>,
}

impl Transaction {
    /// The signed effect of this entry on the balance.
    pub fn signed_amount(&self) -> i64 {
        match self.direction {
            Direction::Credit => self.amount.0,
            Direction::Debit => -self.amount.0,
        }
    }
}

/// Stores a date as the number yyyymmdd (4 bytes instead of a 10-character string): history
/// is the bulk of the data.
mod compact_date {
    use jiff::civil::Date;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(d.year() as u32 * 10_000 + d.month() as u32 * 100 + d.day() as u32)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let n = u32::deserialize(d)?;
        Date::new((n / 10_000) as i16, ((n / 100) % 100) as i8, (n % 100) as i8).map_err(serde::de::Error::custom)
    }
}
