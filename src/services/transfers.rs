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
use crate::error::{ApiError, FieldError};
use crate::sandbox::Sandbox;
use crate::storage::{Counter, LedgerTx, TxError, TxResult, abort};
use axum::http::StatusCode;
use jiff::Timestamp;
use jiff::civil::{Date, Time};

/// Most items in one request.
pub const MAX_ITEMS: usize = 99;
/// How far ahead a transfer may be designated.
const MAX_DAYS_AHEAD: i64 = 365;

/// A transfer request as the API receives it (strings, validated here).
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransferInput {
    /// The remitting account (one of the token's accounts).
    #[schema(example = "00111234567", pattern = "^[0-9]{11}$")]
    pub account_id: String,
    /// Remitter name in kana; the account holder's name when absent.
    pub remitter_name: Option<String>,
    /// Date to transfer on (YYYY-MM-DD); today when absent.
    #[schema(format = Date)]
    pub transfer_designated_date: Option<String>,
    /// When the date is not a business day (other banks): "1" next business day (default), "2" previous business day, "3" reject.
    #[schema(pattern = "^[123]$")]
    pub transfer_date_holiday_code: Option<String>,
    /// Number of items, checked when given.
    #[schema(pattern = "^[1-9][0-9]?$")]
    pub total_count: Option<String>,
    /// Sum of the items' amounts, checked when given.
    #[schema(pattern = "^[1-9][0-9]{0,12}$")]
    pub total_amount: Option<String>,
    /// Comment for the approver (corporate).
    pub apply_comment: Option<String>,
    /// 1 to 99 beneficiaries.
    #[schema(min_items = 1, max_items = 99)]
    pub transfers: Vec<TransferItemInput>,
}

/// One beneficiary of a transfer request.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransferItemInput {
    /// Position in the request (1-based); assigned when absent.
    pub item_id: Option<u32>,
    /// Amount in whole yen, as a string.
    #[schema(example = "15000", pattern = "^[1-9][0-9]{0,11}$")]
    pub transfer_amount: String,
    /// EDI information (up to 20 characters).
    pub edi_info: Option<String>,
    /// 4-digit bank code of the beneficiary.
    #[schema(example = "0999", pattern = "^[0-9]{4}$")]
    pub beneficiary_bank_code: String,
    /// 3-digit branch code.
    #[schema(example = "002", pattern = "^[0-9]{3}$")]
    pub beneficiary_branch_code: String,
    /// Deposit type: 1 普通, 2 当座, 4 貯蓄, 9 その他.
    #[schema(example = "1", pattern = "^[1249]$")]
    pub account_type_code: String,
    /// 7-digit account number.
    #[schema(example = "2345678", pattern = "^[0-9]{7}$")]
    pub account_number: String,
    /// Beneficiary name; converted to half-width kana as banks do.
    #[schema(example = "ｽｽﾞｷ ﾊﾅｺ", min_length = 1, max_length = 48)]
    pub beneficiary_name: String,
}

/// A checked request, ready to run or schedule.
pub struct Plan {
    pub account: std::sync::Arc<Account>,
    pub remitter_name: String,
    pub designated: Date,
    pub execution: Date,
    pub holiday_rule: HolidayRule,
    pub items: Vec<TransferItem>,
    /// Run now (false: schedule for `execution`).
    pub immediate: bool,
}

impl Plan {
    pub fn total_debit(&self) -> Yen {
        Yen(self.items.iter().map(|i| i.amount.0 + i.fee.0).sum())
    }
}

fn fee_table(app: &Sandbox) -> FeeTable {
    let f = &app.scenario.scenario.fees;
    let y = |v: [u32; 2]| [Yen(v[0] as i64), Yen(v[1] as i64)];
    FeeTable {
        same_branch: y(f.same_branch),
        same_bank: y(f.same_bank),
        other_bank: y(f.other_bank),
    }
}

fn bank_code(app: &Sandbox) -> &BankCode {
    &app.scenario.scenario.bank.code
}

/// The bank's hours for same-day transfers to other banks (default 08:30–15:00).
fn transfer_hours(app: &Sandbox) -> (Time, Time) {
    let parse = |s: &str| s.parse::<Time>().ok();
    app.scenario
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

/// Checks everything a request would check and works out fees, dates and mode.
pub fn plan(app: &Sandbox, who: &Principal, input: &TransferInput) -> Result<Plan, ApiError> {
    if !who.has(Scope::TransfersAny) && !who.has(Scope::TransfersOwn) {
        return Err(ApiError::insufficient_scope("transfers:own or transfers:any"));
    }
    let account = super::reference::account(app, who, &input.account_id)?;
    if account.closed_at.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "account_closed",
            "the remitting account is closed",
        ));
    }
    let now = app.clock.now_jst();
    let today = now.date();
    let mut errors = Vec::new();

    if input.transfers.is_empty() || input.transfers.len() > MAX_ITEMS {
        errors.push(field(
            None,
            "transfers",
            format!("send 1 to {MAX_ITEMS} items, got {}", input.transfers.len()),
        ));
    }
    let remitter_name = match &input.remitter_name {
        Some(n) => match KanaName::parse(n) {
            Ok(k) if k.as_str().chars().count() <= 40 => k.to_string(),
            Ok(_) => {
                errors.push(field(None, "remitterName", "at most 40 characters"));
                String::new()
            }
            Err(e) => {
                errors.push(field(None, "remitterName", e));
                String::new()
            }
        },
        None => account.holder_kana.to_string(),
    };
    let designated = match &input.transfer_designated_date {
        None => today,
        Some(d) => match super::reference::parse_date("transferDesignatedDate", d) {
            Ok(d) => d,
            Err(e) => {
                errors.push(field(None, "transferDesignatedDate", e.detail));
                today
            }
        },
    };
    if designated < today {
        errors.push(field(
            None,
            "transferDesignatedDate",
            format!("{designated} is in the past (today is {today})"),
        ));
    }
    if designated.since(today).map(|s| s.get_days() as i64).unwrap_or(0) > MAX_DAYS_AHEAD {
        errors.push(field(None, "transferDesignatedDate", "at most 365 days ahead"));
    }
    let holiday_rule = match input.transfer_date_holiday_code.as_deref() {
        None | Some("1") => HolidayRule::NextBusinessDay,
        Some("2") => HolidayRule::PreviousBusinessDay,
        Some("3") => HolidayRule::Reject,
        Some(other) => {
            errors.push(field(
                None,
                "transferDateHolidayCode",
                format!("must be \"1\", \"2\" or \"3\", got {other:?}"),
            ));
            HolidayRule::NextBusinessDay
        }
    };

    let fees = fee_table(app);
    let limit = account.transfer_limit;
    // Only the own-accounts scope needs to know the customer's accounts and payees.
    let own_only = !who.has(Scope::TransfersAny);
    let customer = if own_only {
        app.store.customer(&who.customer_id)?
    } else {
        None
    };
    let own_accounts = if own_only {
        app.store.accounts_of(&who.customer_id)?
    } else {
        Vec::new()
    };
    let mut items = Vec::new();
    for (i, it) in input.transfers.iter().enumerate() {
        let id = it.item_id.unwrap_or(i as u32 + 1);
        let before = errors.len();
        let amount = parse_amount(&it.transfer_amount);
        match amount {
            None => errors.push(field(
                Some(id),
                "transferAmount",
                "whole yen as a string of digits, e.g. \"15000\"",
            )),
            Some(a) if a.0 < 1 => errors.push(field(Some(id), "transferAmount", "must be at least 1 yen")),
            Some(a) if a > limit => errors.push(field(
                Some(id),
                "transferAmount",
                format!("above the per-transfer limit of {limit} yen"),
            )),
            _ => {}
        }
        let bank = BankCode::parse(&it.beneficiary_bank_code);
        let branch = BranchCode::parse(&it.beneficiary_branch_code);
        let number = AccountNumber::parse(&it.account_number);
        let kind = account_type(&it.account_type_code);
        let name = KanaName::parse(&it.beneficiary_name);
        if let Err(e) = &bank {
            errors.push(field(Some(id), "beneficiaryBankCode", e.clone()));
        }
        if let Err(e) = &branch {
            errors.push(field(Some(id), "beneficiaryBranchCode", e.clone()));
        }
        if let Err(e) = &number {
            errors.push(field(Some(id), "accountNumber", e.clone()));
        }
        if kind.is_none() {
            errors.push(field(
                Some(id),
                "accountTypeCode",
                "must be 1 (普通), 2 (当座), 4 (貯蓄) or 9 (その他)",
            ));
        }
        if let Err(e) = &name {
            errors.push(field(Some(id), "beneficiaryName", e.clone()));
        }
        if it.edi_info.as_ref().is_some_and(|e| e.chars().count() > 20) {
            errors.push(field(Some(id), "ediInfo", "at most 20 characters"));
        }
        let (Ok(bank), Ok(branch), Ok(number), Some(kind), Ok(name), Some(amount)) =
            (bank, branch, number, kind, name, amount)
        else {
            continue;
        };
        let destination = if &bank == bank_code(app) {
            if !app
                .scenario
                .scenario
                .bank
                .branches
                .iter()
                .any(|b| b.code.value == branch)
            {
                errors.push(field(
                    Some(id),
                    "beneficiaryBranchCode",
                    format!("this bank has no branch {branch}"),
                ));
            }
            if Account::make_id(&branch, kind, &number) == account.id {
                errors.push(field(
                    Some(id),
                    "accountNumber",
                    "the beneficiary is the remitting account itself",
                ));
            }
            if branch == account.branch {
                Destination::SameBranch
            } else {
                Destination::SameBank
            }
        } else {
            if !app.scenario.scenario.other_banks.iter().any(|b| b.code.value == bank) {
                errors.push(field(
                    Some(id),
                    "beneficiaryBankCode",
                    format!("bank {bank} is not one this bank can transfer to"),
                ));
            }
            Destination::OtherBank
        };
        if !who.has(Scope::TransfersAny) {
            let own = bank == *bank_code(app)
                && own_accounts
                    .iter()
                    .any(|a| a.branch == branch && a.account_type == kind && a.number == number);
            let registered = customer.as_ref().is_some_and(|c| {
                c.payees.iter().any(|p| {
                    p.bank_code == bank.as_str()
                        && p.branch_code == branch.as_str()
                        && p.account_type_code == kind.code()
                        && p.account_number == number.as_str()
                })
            });
            if !own && !registered {
                errors.push(field(
                    Some(id),
                    "accountNumber",
                    "the transfers:own scope only reaches your own accounts and registered payees; this needs transfers:any",
                ));
            }
        }
        if errors.len() > before {
            continue;
        }
        items.push(TransferItem {
            item_id: id,
            amount,
            fee: fees.fee(destination, amount),
            bank_code: bank,
            branch_code: branch,
            account_type: kind,
            account_number: number,
            beneficiary_name: name.to_string(),
            edi_info: it.edi_info.clone(),
            destination,
            status: TransferStatus::Scheduled,
            status_reason: None,
            pending: None,
        });
    }
    let mut ids: Vec<u32> = input
        .transfers
        .iter()
        .enumerate()
        .map(|(i, t)| t.item_id.unwrap_or(i as u32 + 1))
        .collect();
    ids.sort();
    if ids.windows(2).any(|w| w[0] == w[1]) {
        errors.push(field(None, "transfers", "itemId values must be unique"));
    }
    if let Some(c) = &input.total_count
        && c.parse::<usize>().ok() != Some(input.transfers.len())
    {
        errors.push(field(
            None,
            "totalCount",
            format!("{c:?} does not match the {} items sent", input.transfers.len()),
        ));
    }
    if let Some(t) = &input.total_amount {
        let sum: i64 = input
            .transfers
            .iter()
            .filter_map(|i| parse_amount(&i.transfer_amount))
            .map(|y| y.0)
            .sum();
        if parse_amount(t).map(|y| y.0) != Some(sum) {
            errors.push(field(
                None,
                "totalAmount",
                format!("{t:?} does not match the items' sum {sum}"),
            ));
        }
    }

    // Business days matter to other banks; same-bank transfers run any day.
    let to_other_bank = items.iter().any(|i| i.destination == Destination::OtherBank);
    let execution = if to_other_bank && !is_business_day(designated) {
        match holiday_rule {
            HolidayRule::NextBusinessDay => next_business_day(designated),
            HolidayRule::PreviousBusinessDay => {
                let prev = previous_business_day(designated);
                if prev < today {
                    errors.push(field(
                        None,
                        "transferDateHolidayCode",
                        format!("the previous business day {prev} is already past"),
                    ));
                }
                prev.max(today)
            }
            HolidayRule::Reject => {
                errors.push(field(
                    None,
                    "transferDesignatedDate",
                    format!("{designated} is not a business day and transferDateHolidayCode is 3 (reject)"),
                ));
                designated
            }
        }
    } else {
        designated
    };
    if !errors.is_empty() {
        let summary = if errors.len() == 1 {
            format!("{}: {}", errors[0].field, errors[0].message)
        } else {
            format!("{} problems; see errors", errors.len())
        };
        return Err(ApiError::bad_request("invalid_transfer", summary).with_errors(errors));
    }
    let plan = Plan {
        immediate: execution == today,
        account,
        remitter_name,
        designated,
        execution,
        holiday_rule,
        items,
    };
    if plan.immediate && plan.total_debit() > plan.account.withdrawable() {
        return Err(ApiError::bad_request(
            "insufficient_funds",
            format!(
                "the transfer needs {} yen with fees; {} yen can be withdrawn",
                plan.total_debit(),
                plan.account.withdrawable()
            ),
        ));
    }
    let daily = app.scenario.scenario.limits.daily_per_account as i64;
    let sent_today = match plan.account.daily_out {
        Some((d, y)) if d == plan.execution => y.0,
        _ => 0,
    };
    if sent_today + plan.total_debit().0 > daily {
        return Err(ApiError::bad_request(
            "daily_limit_exceeded",
            format!(
                "this would send {} yen from the account on {}; the daily limit is {daily} yen",
                sent_today + plan.total_debit().0,
                plan.execution
            ),
        ));
    }
    Ok(plan)
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

/// How an item ends on the receiving side.
enum Receiving {
    /// Credit this account of ours.
    Credit(String),
    /// Other bank: to its clearing account now.
    Clearing,
    /// Other bank: the money waits in suspense with this status (12 or 13) until `end`.
    Hold(TransferStatus, PendingEnd),
    /// Other bank: completed now, returned at `end.at` (an outcome rule).
    ClearThenReturn(PendingEnd),
    /// Rejected by the receiving side: money comes back, fee stays.
    Reject(String),
    /// Refused before anything moves (40, an outcome rule): no money, no fee.
    Fail(String),
}

/// When an outcome rule's end falls, from `now`.
fn due_at(due: Due, now: Timestamp) -> Option<Timestamp> {
    match due {
        Due::Now => None,
        Due::After(d) => Some(now.saturating_add(d).unwrap_or(now)),
        Due::NextBusinessDay => {
            let today = now.to_zoned(jst()).date();
            Some(morning(next_business_day(today.tomorrow().unwrap_or(today))))
        }
        Due::At(t) => (t > now).then_some(t),
    }
}

/// What a transfer outcome rule says about an item to another bank, if one matches.
fn by_outcome_rule(app: &Sandbox, req: &TransferRequest, item: &TransferItem, now: Timestamp) -> Option<Receiving> {
    let rule = app.faults.outcome_for(&ItemFacts {
        bank_code: item.bank_code.as_str(),
        branch_code: item.branch_code.as_str(),
        account_number: item.account_number.as_str(),
        beneficiary_name: &item.beneficiary_name,
        amount: item.amount,
        remitter_account_id: &req.account_id,
    })?;
    let end = |at: Timestamp, in_suspense: bool| PendingEnd {
        at,
        result: rule.result,
        reason: rule.reason.clone(),
        in_suspense,
    };
    Some(match (rule.result, due_at(rule.due, now)) {
        (OutcomeResult::Completed, None) => Receiving::Clearing,
        (OutcomeResult::Returned, None) => Receiving::Reject(rule.reason.clone()),
        (OutcomeResult::Failed, None) => Receiving::Fail(rule.reason.clone()),
        (OutcomeResult::Returned, Some(at)) if rule.meanwhile == TransferStatus::Completed => {
            Receiving::ClearThenReturn(end(at, false))
        }
        (_, Some(at)) => Receiving::Hold(rule.meanwhile, end(at, true)),
    })
}

fn receiving(
    app: &Sandbox,
    tx: &LedgerTx<'_>,
    req: &TransferRequest,
    item: &TransferItem,
    now: Timestamp,
) -> TxResult<Receiving> {
    if item.destination != Destination::OtherBank {
        let id = Account::make_id(&item.branch_code, item.account_type, &item.account_number);
        return Ok(match tx.account(&id)? {
            None => Receiving::Reject("受取口座なし / no such account at the receiving bank".into()),
            Some(a) if a.closed_at.is_some() => {
                Receiving::Reject("口座解約済 / the beneficiary account is closed".into())
            }
            Some(a) if !same_name(a.holder_kana.as_str(), &item.beneficiary_name) => {
                Receiving::Reject("受取人名相違 / the beneficiary name does not match the account".into())
            }
            Some(_) => Receiving::Credit(id),
        });
    }
    if let Some(decided) = by_outcome_rule(app, req, item, now) {
        return Ok(decided);
    }
    let bank = app
        .scenario
        .scenario
        .other_banks
        .iter()
        .find(|b| b.code.value == item.bank_code);
    if let Some(b) = bank
        && !b.accounts.is_empty()
    {
        match b.accounts.iter().find(|a| {
            a.branch == item.branch_code && a.account_type == item.account_type && a.number == item.account_number
        }) {
            None => {
                return Ok(Receiving::Reject(
                    "受取口座なし / no such account at the receiving bank".into(),
                ));
            }
            Some(a) if !same_name(a.name.as_str(), &item.beneficiary_name) => {
                return Ok(Receiving::Reject(
                    "受取人名相違 / the beneficiary name does not match the account".into(),
                ));
            }
            Some(_) => {}
        }
    }
    let local = now.to_zoned(jst());
    let (open, close) = transfer_hours(app);
    let time = local.time();
    if is_business_day(local.date()) && time >= open && time < close {
        Ok(Receiving::Clearing)
    } else {
        let mut day = next_business_day(local.date());
        if day == local.date() && time >= open {
            day = next_business_day(day.tomorrow().unwrap_or(day));
        }
        Ok(Receiving::Hold(
            TransferStatus::Processing,
            PendingEnd {
                at: morning(day),
                result: OutcomeResult::Completed,
                reason: String::new(),
                in_suspense: true,
            },
        ))
    }
}

/// Gives an item's amount back to the remitter (資金返却: the fee stays), with its
/// notification and `transfer.item_returned` event.
fn return_item(
    tx: &LedgerTx<'_>,
    (apply_no, account_id): (&str, &str),
    remitter: &mut Account,
    item: &mut TransferItem,
    why: &str,
    now: Timestamp,
) -> TxResult<()> {
    let back = format!("ｼｷﾝﾍﾝｷﾔｸ {}", item.beneficiary_name);
    ledger::post(
        tx,
        remitter,
        Entry {
            direction: Direction::Credit,
            kind: TransactionKind::Transfer,
            amount: item.amount,
            remarks: &back,
            remitter_name: None,
        },
        now,
    )?;
    item.status = TransferStatus::FundsReturned;
    item.status_reason = Some(why.to_owned());
    ledger::notify(
        tx,
        remitter,
        "資金返却のお知らせ / Transfer returned",
        format!(
            "受付番号 {} の明細 {}（{} 宛 {}円）は受取側で受け付けられず、{}円を口座に戻しました（手数料 {}円 は返却されません）。理由: {}",
            apply_no, item.item_id, item.beneficiary_name, item.amount, item.amount, item.fee, why
        ),
        now,
    )?;
    ledger::event(
        tx,
        EventKind::TransferItemReturned(TransferItemData {
            apply_no: apply_no.to_owned(),
            account_id: account_id.to_owned(),
            item_id: item.item_id,
            amount: item.amount.to_api_string(),
            reason: why.to_owned(),
        }),
        now,
    )
    .map(|_| ())
}

/// Runs the items of a transfer: debits the remitter, credits or clears each item. `new`
/// says the request is being accepted in this very write (its `transfer.accepted` event is
/// written first, once the checks pass, so a refused request leaves no event).
fn execute_items(
    app: &Sandbox,
    tx: &LedgerTx<'_>,
    req: &mut TransferRequest,
    now: Timestamp,
    new: bool,
) -> TxResult<Result<(), ExecError>> {
    let Some(mut remitter) = tx.account(&req.account_id)?.filter(|a| a.closed_at.is_none()) else {
        return Ok(Err(ExecError::NotFound));
    };
    // Where each item goes, first: an item refused outright (40) takes no money and no fee.
    let mut decided = Vec::with_capacity(req.items.len());
    for item in &req.items {
        decided.push(receiving(app, tx, req, item, now)?);
    }
    let total = Yen(req
        .items
        .iter()
        .zip(&decided)
        .filter(|(_, d)| !matches!(d, Receiving::Fail(_)))
        .map(|(i, _)| i.amount.0 + i.fee.0)
        .sum());
    if total > remitter.withdrawable() {
        return Ok(Err(ExecError::InsufficientFunds {
            needed: total,
            available: remitter.withdrawable(),
        }));
    }
    let today = now.to_zoned(jst()).date();
    let sent = match remitter.daily_out {
        Some((d, y)) if d == today => y.0,
        _ => 0,
    };
    if sent + total.0 > app.scenario.scenario.limits.daily_per_account as i64 {
        return Ok(Err(ExecError::DailyLimit));
    }
    remitter.daily_out = Some((today, Yen(sent + total.0)));
    if new {
        transfer_event(tx, TransferEventKind::Accepted, req, now)?;
    }
    if total.0 > 0 {
        ledger::event(
            tx,
            EventKind::AccountDebited(MovementData {
                account_id: remitter.id.clone(),
                amount: total.to_api_string(),
                apply_no: Some(req.apply_no.clone()),
                debit_id: None,
            }),
            now,
        )?;
    }
    let mut settle_at: Vec<Timestamp> = Vec::new();
    for (item, decision) in req.items.iter_mut().zip(decided) {
        if let Receiving::Fail(why) = decision {
            item.status = TransferStatus::Failed;
            item.status_reason = Some(why);
            continue;
        }
        let to = format!("ﾌﾘｺﾐ {}", item.beneficiary_name);
        ledger::post(
            tx,
            &mut remitter,
            Entry {
                direction: Direction::Debit,
                kind: TransactionKind::Transfer,
                amount: item.amount,
                remarks: &to,
                remitter_name: None,
            },
            now,
        )?;
        if item.fee.0 > 0 {
            ledger::post(
                tx,
                &mut remitter,
                Entry {
                    direction: Direction::Debit,
                    kind: TransactionKind::Other,
                    amount: item.fee,
                    remarks: "ﾌﾘｺﾐﾃｽｳﾘﾖｳ",
                    remitter_name: None,
                },
                now,
            )?;
            ledger::post_system(tx, ledger::FEE_INCOME, item.fee.0)?;
        }
        match decision {
            Receiving::Credit(id) if id == remitter.id => {}
            Receiving::Credit(id) => {
                let Some(mut beneficiary) = tx.account(&id)? else {
                    continue;
                };
                let from = format!("ﾌﾘｺﾐ {}", req.remitter_name);
                ledger::post(
                    tx,
                    &mut beneficiary,
                    Entry {
                        direction: Direction::Credit,
                        kind: TransactionKind::Transfer,
                        amount: item.amount,
                        remarks: &from,
                        remitter_name: Some(&req.remitter_name),
                    },
                    now,
                )?;
                tx.put_account(&beneficiary)?;
                ledger::notify(
                    tx,
                    &beneficiary,
                    "入金のお知らせ / Incoming transfer",
                    format!("{} 様から {}円のお振込みがありました。", req.remitter_name, item.amount),
                    now,
                )?;
                ledger::event(
                    tx,
                    EventKind::AccountCredited(CreditData {
                        account_id: id.clone(),
                        amount: item.amount.to_api_string(),
                        remitter_name: req.remitter_name.clone(),
                        apply_no: Some(req.apply_no.clone()),
                    }),
                    now,
                )?;
                item.status = TransferStatus::Completed;
            }
            Receiving::Clearing => {
                ledger::post_system(tx, &ledger::clearing(item.bank_code.as_str()), item.amount.0)?;
                item.status = TransferStatus::Completed;
            }
            Receiving::ClearThenReturn(end) => {
                ledger::post_system(tx, &ledger::clearing(item.bank_code.as_str()), item.amount.0)?;
                item.status = TransferStatus::Completed;
                settle_at.push(end.at);
                item.pending = Some(end);
            }
            Receiving::Hold(status, end) => {
                ledger::post_system(tx, ledger::SUSPENSE, item.amount.0)?;
                item.status = status;
                settle_at.push(end.at);
                item.pending = Some(end);
            }
            Receiving::Reject(why) => {
                return_item(tx, (&req.apply_no, &req.account_id), &mut remitter, item, &why, now)?
            }
            Receiving::Fail(_) => {}
        }
    }
    tx.put_account(&remitter)?;
    settle_at.sort();
    settle_at.dedup();
    for at in &settle_at {
        tx.schedule(*at, &req.apply_no)?;
    }
    if let Some(first) = settle_at.first() {
        req.execute_at = *first;
    }
    ledger::notify(
        tx,
        &remitter,
        "お振込受付のお知らせ / Transfer accepted",
        format!(
            "受付番号 {}: {} 件 {}円（手数料 {}円）のお振込みを受け付けました。",
            req.apply_no,
            req.items.len(),
            req.total_amount(),
            req.total_fee()
        ),
        now,
    )?;
    Ok(Ok(()))
}

/// Carries out the item ends that are due (see `PendingEnd`); true if any was.
fn settle_due_items(tx: &LedgerTx<'_>, req: &mut TransferRequest, now: Timestamp) -> TxResult<bool> {
    if !req
        .items
        .iter()
        .any(|i| i.pending.as_ref().is_some_and(|p| p.at <= now))
    {
        return Ok(false);
    }
    let Some(mut remitter) = tx.account(&req.account_id)? else {
        return Ok(false);
    };
    for item in req.items.iter_mut() {
        let Some(end) = item.pending.take_if(|p| p.at <= now) else {
            continue;
        };
        let held = if end.in_suspense {
            ledger::SUSPENSE.to_owned()
        } else {
            ledger::clearing(item.bank_code.as_str())
        };
        match end.result {
            OutcomeResult::Completed => {
                ledger::post_system(tx, &held, -item.amount.0)?;
                ledger::post_system(tx, &ledger::clearing(item.bank_code.as_str()), item.amount.0)?;
                item.status = TransferStatus::Completed;
            }
            OutcomeResult::Returned => {
                ledger::post_system(tx, &held, -item.amount.0)?;
                return_item(
                    tx,
                    (&req.apply_no, &req.account_id),
                    &mut remitter,
                    item,
                    &end.reason,
                    now,
                )?;
            }
            OutcomeResult::Failed => {
                // Never sent: the amount and the fee come back.
                ledger::post_system(tx, &held, -item.amount.0)?;
                let back = format!("ﾌﾘｺﾐﾌﾉｳ {}", item.beneficiary_name);
                ledger::post(
                    tx,
                    &mut remitter,
                    Entry {
                        direction: Direction::Credit,
                        kind: TransactionKind::Transfer,
                        amount: item.amount,
                        remarks: &back,
                        remitter_name: None,
                    },
                    now,
                )?;
                if item.fee.0 > 0 {
                    ledger::post_system(tx, ledger::FEE_INCOME, -item.fee.0)?;
                    ledger::post(
                        tx,
                        &mut remitter,
                        Entry {
                            direction: Direction::Credit,
                            kind: TransactionKind::Other,
                            amount: item.fee,
                            remarks: "ﾌﾘｺﾐﾃｽｳﾘﾖｳ ﾍﾝｷﾔｸ",
                            remitter_name: None,
                        },
                        now,
                    )?;
                }
                item.status = TransferStatus::Failed;
                item.status_reason = Some(end.reason.clone());
                ledger::notify(
                    tx,
                    &remitter,
                    "振込不能のお知らせ / Transfer failed",
                    format!(
                        "受付番号 {} の明細 {}（{} 宛 {}円）はお振込みできませんでした。{}円と手数料 {}円を口座に戻しました。理由: {}",
                        req.apply_no,
                        item.item_id,
                        item.beneficiary_name,
                        item.amount,
                        item.amount,
                        item.fee,
                        end.reason
                    ),
                    now,
                )?;
            }
        }
    }
    tx.put_account(&remitter)?;
    Ok(true)
}

fn status_event(tx: &LedgerTx<'_>, req: &TransferRequest, now: Timestamp) -> TxResult<()> {
    let kind = match req.status() {
        TransferStatus::Completed => TransferEventKind::Completed,
        TransferStatus::FundsReturned if req.items.iter().any(|i| i.status == TransferStatus::Completed) => {
            TransferEventKind::PartiallyCompleted
        }
        TransferStatus::FundsReturned => TransferEventKind::Returned,
        TransferStatus::Scheduled => TransferEventKind::Scheduled,
        TransferStatus::Processing | TransferStatus::Retrying => TransferEventKind::Processing,
        TransferStatus::PendingApproval => TransferEventKind::ApprovalRequested,
        TransferStatus::Cancelled | TransferStatus::Withdrawn => TransferEventKind::Cancelled,
        TransferStatus::Returned => TransferEventKind::ApprovalReturned,
        TransferStatus::Expired => TransferEventKind::Expired,
        _ => TransferEventKind::Failed,
    };
    transfer_event(tx, kind, req, now)
}

/// Writes a transfer event of `kind` reporting the request as it stands.
fn transfer_event(tx: &LedgerTx<'_>, kind: TransferEventKind, req: &TransferRequest, now: Timestamp) -> TxResult<()> {
    let status = req.status();
    let completed_count = req
        .items
        .iter()
        .filter(|i| i.status == TransferStatus::Completed)
        .count();
    let returned_count = req
        .items
        .iter()
        .filter(|i| i.status == TransferStatus::FundsReturned)
        .count();
    let data = TransferData {
        apply_no: req.apply_no.clone(),
        account_id: req.account_id.clone(),
        status: status.code().to_owned(),
        total_amount: req.total_amount().to_api_string(),
        completed_count,
        returned_count,
    };
    ledger::event(tx, EventKind::Transfer(kind, data), now).map(|_| ())
}

fn exec_error(e: ExecError) -> ApiError {
    match e {
        ExecError::InsufficientFunds { needed, available } => ApiError::bad_request(
            "insufficient_funds",
            format!("the transfer needs {needed} yen with fees; {available} yen can be withdrawn"),
        ),
        ExecError::DailyLimit => ApiError::bad_request(
            "daily_limit_exceeded",
            "this transfer would pass the account's daily limit",
        ),
        ExecError::NotFound => ApiError::not_found("account_not_found", "the remitting account no longer exists"),
        ExecError::KeyReused => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was already used with a different request; use a new key for a new request",
        ),
        ExecError::ApplyNoExhausted => ApiError::new(
            StatusCode::CONFLICT,
            "apply_numbers_exhausted",
            format!(
                "this sandbox has accepted {MAX_APPLY_SEQ} transfers, all its apply numbers; reset it or start a new one"
            ),
        ),
        ExecError::WrongState(s) => ApiError::new(
            StatusCode::CONFLICT,
            "invalid_transfer_state",
            format!(
                "the transfer is {} ({}); that is not possible now",
                s.code(),
                s.name_ja()
            ),
        ),
    }
}

fn tx_error(e: TxError<ExecError>) -> ApiError {
    match e {
        TxError::Abort(e) => exec_error(e),
        TxError::Storage(e) => e.into(),
    }
}

/// Like `tx_error`, but a missing record is the transfer, not the account.
fn transfer_tx_error(e: TxError<ExecError>, apply_no: &str) -> ApiError {
    match e {
        TxError::Abort(ExecError::NotFound) => ApiError::not_found(
            "transfer_not_found",
            format!("no transfer {apply_no:?} among this customer's transfers"),
        ),
        e => tx_error(e),
    }
}

/// Transfers a sandbox can accept: the sequence part of `applyNo` has 8 digits.
const MAX_APPLY_SEQ: u64 = 99_999_999;

/// `applyNo`, 16 digits: the acceptance date (YYYYMMDD, sandbox time) and the sandbox's
/// transfer sequence number (8 digits). The sequence lives in the sandbox's data, moves in
/// the same atomic write as the transfer and never repeats, so an apply number is unique for
/// the life of the sandbox whatever the restarts or the clock do.
fn new_apply_no(tx: &LedgerTx<'_>, today: Date) -> TxResult<Result<String, ExecError>> {
    let n = tx.next(Counter::ApplyNo)?;
    if n > MAX_APPLY_SEQ {
        return Ok(Err(ExecError::ApplyNoExhausted));
    }
    Ok(Ok(format!(
        "{:04}{:02}{:02}{n:08}",
        today.year(),
        today.month(),
        today.day()
    )))
}

/// An idempotency key carried into the transfer's own atomic write: (key, request fingerprint).
pub type IdempotencyKey<'a> = Option<(&'a str, &'a str)>;

/// Accepts a request: corporate operators' requests wait for approval, the rest run now or are
/// scheduled. Durable when it returns. With an idempotency key, a transfer already created by
/// the same key and request is returned instead of making another.
pub async fn request(
    app: &Sandbox,
    who: &Principal,
    input: &TransferInput,
    idem: IdempotencyKey<'_>,
) -> Result<Accepted, ApiError> {
    if let Some((key, fingerprint)) = idem
        && let Some(existing) = existing_for_key(app, who, key, fingerprint)?
    {
        return Ok(Accepted {
            transfer: existing,
            replayed: true,
        });
    }
    let plan = plan(app, who, input)?;
    let now = app.clock.now();
    let today = now.to_zoned(jst()).date();
    let needs_approval = who.customer_kind == CustomerKind::Corporation
        && app.store.user(&who.user_id)?.is_some_and(|u| u.role == Role::Operator);
    let mut req = TransferRequest {
        // Allocated inside the atomic write (see `new_apply_no`).
        apply_no: String::new(),
        account_id: plan.account.id.clone(),
        customer_id: who.customer_id.clone(),
        user_id: who.user_id.clone(),
        client_id: who.client_id.clone(),
        remitter_name: plan.remitter_name.clone(),
        designated_date: plan.designated,
        execution_date: plan.execution,
        execute_at: if plan.immediate { now } else { morning(plan.execution) },
        holiday_rule: plan.holiday_rule,
        apply_comment: input.apply_comment.clone(),
        items: plan.items.clone(),
        created_at: now,
        updated_at: now,
        approval_deadline: None,
        approver_id: None,
        approver_comment: None,
    };
    if needs_approval {
        let ttl = app.scenario.scenario.approval_ttl.0;
        req.approval_deadline = Some(now.saturating_add(ttl).unwrap_or(now));
        req.set_status(TransferStatus::PendingApproval, None);
    }
    let immediate = plan.immediate;
    let client_id = who.client_id.clone();
    let user_id = who.user_id.clone();
    let idem = idem.map(|(k, f)| (k.to_owned(), f.to_owned()));
    let worker = app.clone();
    let work = move |tx: &LedgerTx<'_>| -> TxResult<Result<Written, ExecError>> {
        let app = &worker;
        let mut req = req.clone();
        if let Some((key, fingerprint)) = &idem {
            match tx.idempotent_transfer(&client_id, &user_id, key)? {
                Some((apply_no, fp)) if &fp == fingerprint => {
                    if let Some(existing) = tx.transfer(&apply_no)? {
                        return Ok(Ok(Written::Existing(existing)));
                    }
                }
                Some(_) => return Ok(Err(ExecError::KeyReused)),
                None => {}
            }
        }
        req.apply_no = match new_apply_no(tx, today)? {
            Ok(n) => n,
            Err(e) => return Ok(Err(e)),
        };
        if needs_approval {
            transfer_event(tx, TransferEventKind::Accepted, &req, now)?;
            if let Some(deadline) = req.approval_deadline {
                tx.schedule(deadline, &req.apply_no)?;
            }
        } else if immediate {
            // Nothing is written before this check fails, so a failed job leaves no trace.
            if let Err(e) = execute_items(app, tx, &mut req, now, true)? {
                return Ok(Err(e));
            }
        } else {
            transfer_event(tx, TransferEventKind::Accepted, &req, now)?;
            tx.schedule(req.execute_at, &req.apply_no)?;
        }
        if let Some((key, fingerprint)) = &idem {
            tx.put_idempotent_transfer(&client_id, &user_id, key, &req.apply_no, fingerprint)?;
        }
        tx.insert_transfer(&req)?;
        status_event(tx, &req, now)?;
        Ok(Ok(Written::New(req)))
    };
    let (reply, answer) = tokio::sync::oneshot::channel();
    let job = TransferWrite {
        sandbox_id: app.id.clone(),
        work,
        written: std::sync::Mutex::new(None),
        reply,
    };
    let stopped = || ApiError::internal("the transfer writer has stopped");
    app.transfer_writer
        .submit(&app.store, Box::new(job))
        .map_err(|_| stopped())?;
    let written = answer.await.map_err(|_| stopped())?.map_err(ApiError::from)?;
    match written.map_err(exec_error)? {
        Written::New(transfer) => Ok(Accepted {
            transfer,
            replayed: false,
        }),
        Written::Existing(transfer) => Ok(Accepted {
            transfer,
            replayed: true,
        }),
    }
}

/// What a transfer request answers: the transfer, and whether it was made by an earlier
/// request with the same idempotency key (the answer is then a replay).
pub struct Accepted {
    pub transfer: TransferRequest,
    pub replayed: bool,
}

/// What the writer did with a transfer job.
/// A transfer's write in the group writer's batch: `work` runs inside the shared atomic write
/// (perhaps more than once); its answer goes back once the batch is durable.
struct TransferWrite<F> {
    sandbox_id: std::sync::Arc<str>,
    work: F,
    written: std::sync::Mutex<Option<Result<Written, ExecError>>>,
    reply: tokio::sync::oneshot::Sender<Result<Result<Written, ExecError>, crate::storage::StorageError>>,
}

impl<F> crate::storage::group_commit::GroupJob for TransferWrite<F>
where
    F: Fn(&LedgerTx<'_>) -> TxResult<Result<Written, ExecError>> + Send,
{
    fn write(&self, tx: &LedgerTx<'_>) -> TxResult<()> {
        let written = (self.work)(tx)?;
        *self.written.lock().unwrap_or_else(|e| e.into_inner()) = Some(written);
        Ok(())
    }

    fn finish(self: Box<Self>, outcome: Result<(), crate::storage::StorageError>) {
        let TransferWrite {
            sandbox_id,
            written,
            reply,
            ..
        } = *self;
        let answer = outcome.and_then(|()| {
            written
                .into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .ok_or_else(|| crate::storage::StorageError::Codec("a transfer's write left no answer".into()))
        });
        if let Ok(Ok(Written::New(t))) = &answer {
            crate::metrics::metrics().transfer(&sandbox_id, t.status().code());
        }
        let _ = reply.send(answer);
    }
}

pub enum Written {
    /// Wrote this new transfer.
    New(TransferRequest),
    /// Found the transfer an earlier request with the same idempotency key made.
    Existing(TransferRequest),
}

/// The transfer an earlier request with this key made, if the caller may see it: the key
/// belongs to this client and user, and the token may request transfers for this customer,
/// exactly as a fresh request would need. Otherwise the request runs (and fails) as new.
fn existing_for_key(
    app: &Sandbox,
    who: &Principal,
    key: &str,
    fingerprint: &str,
) -> Result<Option<TransferRequest>, ApiError> {
    if !(who.has(Scope::TransfersAny) || who.has(Scope::TransfersOwn)) {
        return Err(ApiError::insufficient_scope("transfers:own or transfers:any"));
    }
    // Most keys are new: one plain read says so, without the storage engine's transaction
    // lock (which every transfer write holds). The writer checks the key again inside the
    // transfer's own write, so this read only decides whether to answer a replay early.
    match app.store.idempotent_transfer(&who.client_id, &who.user_id, key)? {
        None => return Ok(None),
        Some((_, fp)) if fp != fingerprint => return Err(exec_error(ExecError::KeyReused)),
        Some(_) => {}
    }
    let found = app
        .store
        .atomically::<Option<TransferRequest>, ExecError>(|tx| {
            match tx.idempotent_transfer(&who.client_id, &who.user_id, key)? {
                Some((apply_no, fp)) if fp == fingerprint => tx.transfer(&apply_no),
                Some(_) => abort(ExecError::KeyReused),
                None => Ok(None),
            }
        })
        .map_err(tx_error)?;
    Ok(found.filter(|t| t.customer_id == who.customer_id))
}

/// Runs scheduled work that is due: scheduled transfers, settlement of other-bank transfers
/// held in suspense, and approval deadlines. Called when the clock moves and periodically.
pub async fn run_due(app: &Sandbox) -> Result<usize, ApiError> {
    let now = app.clock.now();
    let due = app.store.due(now)?;
    let mut done = 0;
    for (at, apply_no) in due {
        // Grants are on the schedule too: at their maximum lifetime they end (grant.expired).
        if apply_no.starts_with("grt_") {
            crate::services::grants::end_grant(app, &apply_no, "max_lifetime", Some(at))?;
            done += 1;
            continue;
        }
        let result = app.store.atomically::<(), ExecError>(|tx| {
            tx.unschedule(at, &apply_no)?;
            let Some(mut req) = tx.transfer(&apply_no)? else {
                return Ok(());
            };
            // The clock is stepped to each due instant (see `sandbox::advance_clock`), so `now`
            // is when this was due, and history stays in date order.
            let when = now;
            let settled = settle_due_items(tx, &mut req, when)?;
            match req.status() {
                TransferStatus::Scheduled => match execute_items(app, tx, &mut req, when, false)? {
                    Ok(()) => {}
                    Err(ExecError::InsufficientFunds { .. }) => req.set_status(
                        TransferStatus::Failed,
                        Some("残高不足 / insufficient funds on the execution date"),
                    ),
                    Err(ExecError::DailyLimit) => {
                        req.set_status(TransferStatus::Failed, Some("限度額超過 / daily limit exceeded"))
                    }
                    Err(_) => req.set_status(TransferStatus::Failed, Some("the remitting account no longer exists")),
                },
                TransferStatus::PendingApproval if req.approval_deadline.is_some_and(|d| d <= now) => {
                    req.set_status(
                        TransferStatus::Expired,
                        Some("承認期限切れ / not approved by the deadline"),
                    );
                }
                _ if settled => {}
                _ => return Ok(()),
            }
            req.updated_at = when;
            tx.update_transfer(&req)?;
            status_event(tx, &req, when)
        });
        result.map_err(tx_error)?;
        done += 1;
    }
    if done > 0 {
        app.store.flush().await?;
    }
    Ok(done)
}

/// Cancels a scheduled transfer or one waiting for approval (status 8).
pub async fn cancel(app: &Sandbox, who: Option<&Principal>, apply_no: &str) -> Result<TransferRequest, ApiError> {
    let now = app.clock.now();
    let req = app
        .store
        .atomically::<TransferRequest, ExecError>(|tx| {
            let Some(mut req) = tx
                .transfer(apply_no)?
                .filter(|r| who.is_none_or(|w| w.customer_id == r.customer_id))
            else {
                return abort(ExecError::NotFound);
            };
            match req.status() {
                TransferStatus::Scheduled => tx.unschedule(req.execute_at, apply_no)?,
                TransferStatus::PendingApproval => {
                    if let Some(d) = req.approval_deadline {
                        tx.unschedule(d, apply_no)?;
                    }
                }
                other => return abort(ExecError::WrongState(other)),
            }
            req.set_status(TransferStatus::Cancelled, Some("取消 / cancelled"));
            req.updated_at = now;
            tx.update_transfer(&req)?;
            status_event(tx, &req, now)?;
            Ok(req)
        })
        .map_err(|e| transfer_tx_error(e, apply_no))?;
    app.store.flush().await?;
    Ok(req)
}

/// The approver's decision on a corporate request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Return,
}

/// Approves (the transfer then runs or is scheduled) or returns (差戻, status 3) a request
/// waiting for approval. `approver` must be an approver or admin of the same corporation.
pub async fn decide(
    app: &Sandbox,
    approver_id: &str,
    apply_no: &str,
    decision: Decision,
    comment: Option<&str>,
) -> Result<TransferRequest, ApiError> {
    let approver = app
        .store
        .user(approver_id)?
        .filter(|u| matches!(u.role, Role::Approver | Role::Admin))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "not_an_approver",
                format!("{approver_id:?} is not an approver of a corporation"),
            )
        })?;
    let now = app.clock.now();
    let today = now.to_zoned(jst()).date();
    let req = app
        .store
        .atomically::<TransferRequest, ExecError>(|tx| {
            let Some(mut req) = tx.transfer(apply_no)?.filter(|r| r.customer_id == approver.customer_id) else {
                return abort(ExecError::NotFound);
            };
            if req.status() != TransferStatus::PendingApproval {
                return abort(ExecError::WrongState(req.status()));
            }
            if let Some(d) = req.approval_deadline {
                tx.unschedule(d, apply_no)?;
            }
            req.approver_id = Some(approver.id.clone());
            req.approver_comment = comment.map(str::to_owned);
            req.updated_at = now;
            match decision {
                Decision::Return => req.set_status(TransferStatus::Returned, Some("差戻 / returned by the approver")),
                Decision::Approve => {
                    req.set_status(TransferStatus::Scheduled, None);
                    transfer_event(tx, TransferEventKind::Approved, &req, now)?;
                    let execution = req.execution_date.max(today);
                    if execution == today {
                        if let Err(e) = execute_items(app, tx, &mut req, now, false)? {
                            return abort(e);
                        }
                    } else {
                        req.execute_at = morning(execution);
                        tx.schedule(req.execute_at, apply_no)?;
                    }
                }
            }
            tx.update_transfer(&req)?;
            status_event(tx, &req, now)?;
            Ok(req)
        })
        .map_err(|e| transfer_tx_error(e, apply_no))?;
    app.store.flush().await?;
    Ok(req)
}

/// One of the principal's transfers.
pub fn get(app: &Sandbox, who: &Principal, apply_no: &str) -> Result<TransferRequest, ApiError> {
    app.store
        .transfer(apply_no)?
        .filter(|r| r.customer_id == who.customer_id)
        .ok_or_else(|| {
            ApiError::not_found(
                "transfer_not_found",
                format!("no transfer {apply_no:?} among this customer's transfers"),
            )
        })
}

/// Answer codes of account-name verification (照会回答コード).
pub fn verify_account(
    app: &Sandbox,
    bank: &str,
    branch: &str,
    kind: &str,
    number: &str,
    name: &str,
) -> Result<(&'static str, Option<String>), ApiError> {
    let mut errors = Vec::new();
    let bank = BankCode::parse(bank)
        .map_err(|e| errors.push(field(None, "bankCode", e)))
        .ok();
    let branch = BranchCode::parse(branch)
        .map_err(|e| errors.push(field(None, "branchCode", e)))
        .ok();
    let number = AccountNumber::parse(number)
        .map_err(|e| errors.push(field(None, "accountNumber", e)))
        .ok();
    let kind = account_type(kind).or_else(|| {
        errors.push(field(None, "accountTypeCode", "must be 1, 2, 4 or 9"));
        None
    });
    if let Err(e) = KanaName::parse(name) {
        errors.push(field(None, "accountName", e));
    }
    let (Some(bank), Some(branch), Some(number), Some(kind)) = (bank, branch, number, kind) else {
        return Err(
            ApiError::bad_request("invalid_verification", format!("{} problems; see errors", errors.len()))
                .with_errors(errors),
        );
    };
    if !errors.is_empty() {
        return Err(ApiError::bad_request("invalid_verification", "see errors").with_errors(errors));
    }
    if &bank == bank_code(app) {
        return Ok(
            match app
                .store
                .account(&Account::make_id(&branch, kind, &number))?
                .filter(|a| a.closed_at.is_none())
            {
                None => ("1", None),
                Some(a) if same_name(a.holder_kana.as_str(), name) => ("0", Some(a.holder_kana.to_string())),
                Some(_) => ("2", None),
            },
        );
    }
    let Some(other) = app.scenario.scenario.other_banks.iter().find(|b| b.code.value == bank) else {
        return Ok(("9", None));
    };
    if other.accounts.is_empty() {
        return Ok(("9", None));
    }
    Ok(
        match other
            .accounts
            .iter()
            .find(|a| a.branch == branch && a.account_type == kind && a.number == number)
        {
            None => ("1", None),
            Some(a) if same_name(a.name.as_str(), name) => ("0", Some(a.name.to_string())),
            Some(_) => ("2", None),
        },
    )
}

/// Credits an account from outside the bank (sandbox control): salary from another bank etc.
pub async fn credit_from_outside(
    app: &Sandbox,
    account_id: &str,
    amount: Yen,
    remitter: &str,
    edi: Option<&str>,
) -> Result<Account, ApiError> {
    let now = app.clock.now();
    let remarks = match edi {
        Some(e) => format!("ﾌﾘｺﾐ {remitter} {e}"),
        None => format!("ﾌﾘｺﾐ {remitter}"),
    };
    let account = app
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
            TxError::Abort(ExecError::NotFound) => {
                ApiError::not_found("account_not_found", format!("no account {account_id:?}"))
            }
            TxError::Abort(_) => ApiError::new(
                StatusCode::CONFLICT,
                "account_closed",
                format!("account {account_id} is closed and cannot receive money; credit an open account"),
            ),
            TxError::Storage(e) => e.into(),
        })?;
    app.store.flush().await?;
    Ok(account)
}

/// Keeps `run_due` going as real time passes (the clock also runs without being advanced).
pub async fn run_due_every(
    server: crate::server::Server,
    period: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = stop.changed() => break,
        }
        // Each sandbox on its own clock.
        for app in server.sandboxes() {
            // Not while a lifecycle change holds the sandbox still; the next tick runs it.
            let Some(_pass) = app.gate.try_enter() else {
                continue;
            };
            if let Err(e) = run_due(&app).await {
                tracing::warn!(sandbox = %app.id, error = %e, "running scheduled transfers failed");
            }
        }
    }
}

/// Closes an account (sandbox control): what is left is paid out in cash, then the account
/// neither sends nor receives (transfers to it are returned, debits answer 2).
pub async fn close_account(app: &Sandbox, account_id: &str) -> Result<Account, ApiError> {
    let now = app.clock.now();
    let account = app
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
            TxError::Abort(ExecError::NotFound) => {
                ApiError::not_found("account_not_found", format!("no account {account_id:?}"))
            }
            TxError::Abort(_) => ApiError::new(StatusCode::CONFLICT, "account_closed", "the account is already closed"),
            TxError::Storage(e) => e.into(),
        })?;
    app.store.flush().await?;
    Ok(account)
}
