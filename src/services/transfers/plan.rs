//! Planning a transfer request: every check a request makes (the remitter, dates, holiday
//! rule, each beneficiary, totals, scope reach, funds and the daily limit), with per-item
//! problems, and the fees, execution date and mode that follow.

use super::*;
use crate::domain::consent::ScopeRule;
use std::sync::Arc;

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

/// Checks everything a request would check and works out fees, dates and mode. Every
/// problem is reported at once, in the order of the request's fields and items.
pub fn plan(sandbox: &Sandbox, who: &Principal, input: &TransferInput) -> Result<Plan, TransferError> {
    let account = remitting_account(sandbox, who, input)?;
    let today = sandbox.clock.now_jst().date();
    let mut errors = Vec::new();
    let header = check_header(input, &account, today, &mut errors);
    let reach = Reach::of(sandbox, who)?;
    let mut items = Vec::new();
    for (i, it) in input.transfers.iter().enumerate() {
        let id = it.item_id.unwrap_or(i as u32 + 1);
        if let Some(item) = plan_item(sandbox, &account, &reach, id, it, &mut errors) {
            items.push(item);
        }
    }
    check_ids_and_totals(input, &mut errors);
    let execution = execution_date(&items, &header, today, &mut errors);
    if !errors.is_empty() {
        let summary = if errors.len() == 1 {
            format!("{}: {}", errors[0].field, errors[0].message)
        } else {
            format!("{} problems; see errors", errors.len())
        };
        return Err(TransferError::Invalid {
            code: "invalid_transfer",
            summary,
            errors,
        });
    }
    let plan = Plan {
        immediate: execution == today,
        account,
        remitter_name: header.remitter_name,
        designated: header.designated,
        execution,
        holiday_rule: header.holiday_rule,
        items,
    };
    check_funds(sandbox, &plan)?;
    Ok(plan)
}

/// The remitting account: the token's, open, and the token able to transfer at all.
fn remitting_account(sandbox: &Sandbox, who: &Principal, input: &TransferInput) -> Result<Arc<Account>, TransferError> {
    if !ScopeRule::Transfers.allows(who) {
        return Err(TransferError::MissingScope);
    }
    let account = crate::services::reference::account(sandbox, who, &input.account_id)?;
    if account.closed_at.is_some() {
        return Err(TransferError::RemitterClosed);
    }
    Ok(account)
}

/// The request's own fields, checked.
struct Header {
    remitter_name: String,
    designated: Date,
    holiday_rule: HolidayRule,
}

fn check_header(input: &TransferInput, account: &Account, today: Date, errors: &mut Vec<FieldError>) -> Header {
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
        Some(d) => match crate::services::reference::parse_date("transferDesignatedDate", d) {
            Ok(d) => d,
            Err(e) => {
                errors.push(field(None, "transferDesignatedDate", e.to_string()));
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
    Header {
        remitter_name,
        designated,
        holiday_rule,
    }
}

/// Whom the token may pay: anyone (`transfers:any`), or only the customer's own accounts and
/// registered payees (`transfers:own`), which are read only then.
struct Reach {
    any: bool,
    customer: Option<crate::domain::customer::Customer>,
    own_accounts: Vec<Account>,
}

impl Reach {
    fn of(sandbox: &Sandbox, who: &Principal) -> Result<Reach, TransferError> {
        let any = who.has(Scope::TransfersAny);
        Ok(Reach {
            any,
            customer: if any {
                None
            } else {
                sandbox.store.customer(&who.customer_id)?
            },
            own_accounts: if any {
                Vec::new()
            } else {
                sandbox.store.accounts_of(&who.customer_id)?
            },
        })
    }

    /// Whether a beneficiary is within reach.
    fn allows(
        &self,
        ours: bool,
        bank: &BankCode,
        branch: &BranchCode,
        kind: AccountType,
        number: &AccountNumber,
    ) -> bool {
        if self.any {
            return true;
        }
        let own = ours
            && self
                .own_accounts
                .iter()
                .any(|a| a.branch == *branch && a.account_type == kind && a.number == *number);
        let registered = self.customer.as_ref().is_some_and(|c| {
            c.payees.iter().any(|p| {
                p.bank_code == bank.as_str()
                    && p.branch_code == branch.as_str()
                    && p.account_type_code == kind.code()
                    && p.account_number == number.as_str()
            })
        });
        own || registered
    }
}

/// One beneficiary's fields, parsed.
struct Beneficiary {
    amount: Yen,
    bank: BankCode,
    branch: BranchCode,
    number: AccountNumber,
    kind: AccountType,
    name: KanaName,
}

/// Parses one item's fields, recording what is wrong with them; `None` when any is.
fn parse_item(id: u32, it: &TransferItemInput, limit: Yen, errors: &mut Vec<FieldError>) -> Option<Beneficiary> {
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
    Some(Beneficiary {
        amount: amount?,
        bank: bank.ok()?,
        branch: branch.ok()?,
        number: number.ok()?,
        kind: kind?,
        name: name.ok()?,
    })
}

/// Where a beneficiary is, recording a branch or bank this bank cannot reach.
fn destination_of(
    sandbox: &Sandbox,
    account: &Account,
    id: u32,
    b: &Beneficiary,
    errors: &mut Vec<FieldError>,
) -> Destination {
    if &b.bank != bank_code(sandbox) {
        if !sandbox
            .scenario
            .scenario
            .other_banks
            .iter()
            .any(|o| o.code.value == b.bank)
        {
            errors.push(field(
                Some(id),
                "beneficiaryBankCode",
                format!("bank {} is not one this bank can transfer to", b.bank),
            ));
        }
        return Destination::OtherBank;
    }
    if !sandbox
        .scenario
        .scenario
        .bank
        .branches
        .iter()
        .any(|br| br.code.value == b.branch)
    {
        errors.push(field(
            Some(id),
            "beneficiaryBranchCode",
            format!("this bank has no branch {}", b.branch),
        ));
    }
    if Account::make_id(&b.branch, b.kind, &b.number) == account.id {
        errors.push(field(
            Some(id),
            "accountNumber",
            "the beneficiary is the remitting account itself",
        ));
    }
    if b.branch == account.branch {
        Destination::SameBranch
    } else {
        Destination::SameBank
    }
}

/// One item checked and priced; `None` when it has a problem (recorded in `errors`).
fn plan_item(
    sandbox: &Sandbox,
    account: &Account,
    reach: &Reach,
    id: u32,
    it: &TransferItemInput,
    errors: &mut Vec<FieldError>,
) -> Option<TransferItem> {
    let before = errors.len();
    let b = parse_item(id, it, account.transfer_limit, errors)?;
    let destination = destination_of(sandbox, account, id, &b, errors);
    if !reach.allows(&b.bank == bank_code(sandbox), &b.bank, &b.branch, b.kind, &b.number) {
        errors.push(field(
            Some(id),
            "accountNumber",
            "the transfers:own scope only reaches your own accounts and registered payees; this needs transfers:any",
        ));
    }
    if errors.len() > before {
        return None;
    }
    Some(TransferItem {
        item_id: id,
        amount: b.amount,
        fee: fee_table(sandbox).fee(destination, b.amount),
        bank_code: b.bank,
        branch_code: b.branch,
        account_type: b.kind,
        account_number: b.number,
        beneficiary_name: b.name.to_string(),
        edi_info: it.edi_info.clone(),
        destination,
        status: TransferStatus::Scheduled,
        status_reason: None,
        pending: None,
    })
}

/// Item ids unique; `totalCount` and `totalAmount`, when given, match the items.
fn check_ids_and_totals(input: &TransferInput, errors: &mut Vec<FieldError>) {
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
}

/// The day it runs: business days matter to other banks; same-bank transfers run any day.
fn execution_date(items: &[TransferItem], header: &Header, today: Date, errors: &mut Vec<FieldError>) -> Date {
    let designated = header.designated;
    let to_other_bank = items.iter().any(|i| i.destination == Destination::OtherBank);
    if !to_other_bank || is_business_day(designated) {
        return designated;
    }
    match header.holiday_rule {
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
}

/// Enough money for a transfer that runs now, and the account's daily limit on its day.
fn check_funds(sandbox: &Sandbox, plan: &Plan) -> Result<(), TransferError> {
    if plan.immediate && plan.total_debit() > plan.account.withdrawable() {
        return Err(TransferError::InsufficientFunds {
            needed: plan.total_debit(),
            available: plan.account.withdrawable(),
        });
    }
    let daily = sandbox.scenario.scenario.limits.daily_per_account as i64;
    let sent_today = match plan.account.daily_out {
        Some((d, y)) if d == plan.execution => y.0,
        _ => 0,
    };
    if sent_today + plan.total_debit().0 > daily {
        return Err(TransferError::DailyLimitOnDate {
            total: sent_today + plan.total_debit().0,
            date: plan.execution,
            limit: daily,
        });
    }
    Ok(())
}
