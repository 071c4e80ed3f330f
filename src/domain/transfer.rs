//! Transfers (振込): statuses with the codes Japanese bank APIs use, the request and its
//! items as the bank keeps them, and the fee table.

use super::codes::{AccountNumber, AccountType, BankCode, BranchCode};
use super::money::Yen;
use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

/// Transfer status (振込ステータス).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferStatus {
    /// 2 申請中 — waiting for an approver.
    PendingApproval,
    /// 3 差戻 — returned by the approver.
    Returned,
    /// 4 取下げ — withdrawn by the applicant.
    Withdrawn,
    /// 5 期限切れ — not approved in time.
    Expired,
    /// 8 承認取消/予約取消 — cancelled.
    Cancelled,
    /// 11 予約中 — scheduled for a later date.
    Scheduled,
    /// 12 手続中 — debited, on its way to the other bank.
    Processing,
    /// 13 リトライ中
    Retrying,
    /// 20 手続済 — completed.
    Completed,
    /// 22 資金返却 — rejected by the receiving side, money returned (the fee is kept).
    FundsReturned,
    /// 24 組戻手続中
    ReversalInProgress,
    /// 25 組戻済
    Reversed,
    /// 26 組戻不成立
    ReversalFailed,
    /// 40 不能 — failed (e.g. insufficient funds on the execution date).
    Failed,
}

impl TransferStatus {
    pub fn code(self) -> &'static str {
        match self {
            TransferStatus::PendingApproval => "2",
            TransferStatus::Returned => "3",
            TransferStatus::Withdrawn => "4",
            TransferStatus::Expired => "5",
            TransferStatus::Cancelled => "8",
            TransferStatus::Scheduled => "11",
            TransferStatus::Processing => "12",
            TransferStatus::Retrying => "13",
            TransferStatus::Completed => "20",
            TransferStatus::FundsReturned => "22",
            TransferStatus::ReversalInProgress => "24",
            TransferStatus::Reversed => "25",
            TransferStatus::ReversalFailed => "26",
            TransferStatus::Failed => "40",
        }
    }

    pub fn name_ja(self) -> &'static str {
        match self {
            TransferStatus::PendingApproval => "申請中",
            TransferStatus::Returned => "差戻",
            TransferStatus::Withdrawn => "取下げ",
            TransferStatus::Expired => "期限切れ",
            TransferStatus::Cancelled => "取消",
            TransferStatus::Scheduled => "予約中",
            TransferStatus::Processing => "手続中",
            TransferStatus::Retrying => "リトライ中",
            TransferStatus::Completed => "手続済",
            TransferStatus::FundsReturned => "資金返却",
            TransferStatus::ReversalInProgress => "組戻手続中",
            TransferStatus::Reversed => "組戻済",
            TransferStatus::ReversalFailed => "組戻不成立",
            TransferStatus::Failed => "不能",
        }
    }

    /// The status in English, for pages that show both languages.
    pub fn name_en(self) -> &'static str {
        match self {
            TransferStatus::PendingApproval => "waiting for approval",
            TransferStatus::Returned => "returned to the applicant",
            TransferStatus::Withdrawn => "withdrawn",
            TransferStatus::Expired => "expired",
            TransferStatus::Cancelled => "cancelled",
            TransferStatus::Scheduled => "scheduled",
            TransferStatus::Processing => "processing",
            TransferStatus::Retrying => "retrying",
            TransferStatus::Completed => "completed",
            TransferStatus::FundsReturned => "funds returned",
            TransferStatus::ReversalInProgress => "reversal in progress",
            TransferStatus::Reversed => "reversed",
            TransferStatus::ReversalFailed => "reversal failed",
            TransferStatus::Failed => "failed",
        }
    }

    /// Whether nothing more will happen to the item.
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            TransferStatus::PendingApproval
                | TransferStatus::Scheduled
                | TransferStatus::Processing
                | TransferStatus::Retrying
                | TransferStatus::ReversalInProgress
        )
    }
}

/// What to do when the designated date is not a business day (振込指定日休日コード).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HolidayRule {
    /// 1: the next business day (default).
    NextBusinessDay,
    /// 2: the previous business day.
    PreviousBusinessDay,
    /// 3: reject the request.
    Reject,
}

/// Where the beneficiary is, relative to the remitter (it decides the fee).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Destination {
    SameBranch,
    SameBank,
    OtherBank,
}

/// Fees per destination: below 30,000 yen and from 30,000 yen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeTable {
    pub same_branch: [Yen; 2],
    pub same_bank: [Yen; 2],
    pub other_bank: [Yen; 2],
}

impl FeeTable {
    pub fn fee(&self, destination: Destination, amount: Yen) -> Yen {
        let band = usize::from(amount.0 >= 30_000);
        match destination {
            Destination::SameBranch => self.same_branch[band],
            Destination::SameBank => self.same_bank[band],
            Destination::OtherBank => self.other_bank[band],
        }
    }
}

/// One beneficiary of a transfer request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferItem {
    /// 1-based position in the request.
    pub item_id: u32,
    pub amount: Yen,
    pub fee: Yen,
    pub bank_code: BankCode,
    pub branch_code: BranchCode,
    pub account_type: AccountType,
    pub account_number: AccountNumber,
    /// Beneficiary name after Zengin conversion.
    pub beneficiary_name: String,
    pub edi_info: Option<String>,
    pub destination: Destination,
    pub status: TransferStatus,
    /// Why the item failed or was returned, in words.
    pub status_reason: Option<String>,
    /// How the item ends later (held at the other bank, or returned after completing).
    pub pending: Option<PendingEnd>,
}

/// An item's end that waits for its time: set when it executes (out of the other bank's
/// hours, or by a transfer outcome rule) and carried out by the scheduler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingEnd {
    pub at: Timestamp,
    pub result: OutcomeResult,
    /// Why (for returned or failed items).
    pub reason: String,
    /// Where the money waits: suspense (status 12/13) or the other bank's clearing account
    /// (completed, to be returned).
    pub in_suspense: bool,
}

/// A transfer request as the bank keeps it (one `applyNo`, 1–99 items).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferRequest {
    pub apply_no: String,
    pub account_id: String,
    pub customer_id: String,
    /// The user who asked for it.
    pub user_id: String,
    pub client_id: String,
    pub remitter_name: String,
    /// The date asked for.
    pub designated_date: Date,
    /// The date it runs (after the holiday rule).
    pub execution_date: Date,
    /// When it runs (scheduled items) or ran.
    pub execute_at: Timestamp,
    pub holiday_rule: HolidayRule,
    pub apply_comment: Option<String>,
    pub items: Vec<TransferItem>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Approval deadline (corporate requests waiting for approval).
    pub approval_deadline: Option<Timestamp>,
    pub approver_id: Option<String>,
    pub approver_comment: Option<String>,
}

impl TransferRequest {
    pub fn total_amount(&self) -> Yen {
        Yen(self.items.iter().map(|i| i.amount.0).sum())
    }

    pub fn total_fee(&self) -> Yen {
        Yen(self.items.iter().map(|i| i.fee.0).sum())
    }

    /// The request's status: that of its items when they agree; otherwise the least advanced
    /// item that is still moving, else completed if any item completed, else the first item's.
    pub fn status(&self) -> TransferStatus {
        let first = self.items.first().map(|i| i.status).unwrap_or(TransferStatus::Failed);
        if self.items.iter().all(|i| i.status == first) {
            return first;
        }
        if let Some(moving) = self.items.iter().find(|i| !i.status.is_final()) {
            return moving.status;
        }
        // A request is completed only when every item is; when items ended differently it
        // takes the status of its first item that did not complete (22 funds returned, 40
        // failed), so a returned item is never hidden behind a 20.
        if let Some(short) = self.items.iter().find(|i| i.status != TransferStatus::Completed) {
            return short.status;
        }
        first
    }

    pub fn set_status(&mut self, status: TransferStatus, reason: Option<&str>) {
        for item in &mut self.items {
            item.status = status;
            item.status_reason = reason.map(str::to_owned);
        }
    }
}

/// The end of an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeResult {
    Completed,
    Returned,
    Failed,
}
