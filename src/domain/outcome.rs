//! Transfer outcome rules: how an accepted transfer to another bank ends — completed, held in
//! 12 (processing) or 13 (retrying) until a time, returned as 22 (funds returned, fee kept) or
//! failed as 40 — chosen by beneficiary, amount or remitter. The scenario's magic
//! beneficiaries are such rules.

use super::codes::BankCode;
use super::money::Yen;
pub use super::transfer::OutcomeResult;
use super::transfer::TransferStatus;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A transfer outcome rule: items of accepted transfers that match end as `outcome` says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutcomeRule {
    /// The rule's id (letters, digits, `-`, `_`, `.`; up to 64). Assigned when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Free text, for people reading the rule list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Which transfer items the rule decides; every field given must hold.
    #[serde(default, rename = "match", deserialize_with = "super::fault::map_only")]
    pub matches: OutcomeMatch,
    /// How they end.
    #[serde(deserialize_with = "super::fault::map_only")]
    pub outcome: OutcomeSpec,
}

/// The transfer items a rule decides (items to other banks only: a transfer inside this bank
/// is credited at once).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutcomeMatch {
    /// Beneficiary bank code (4 digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_code: Option<String>,
    /// Beneficiary branch code (3 digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch_code: Option<String>,
    /// Beneficiary account number (7 digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_number: Option<String>,
    /// Beneficiary name as sent (half-width kana; compared after Zengin conversion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beneficiary_name: Option<String>,
    /// Exactly this amount (yen, as a string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    /// At least this amount (yen, as a string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_amount: Option<String>,
    /// At most this amount (yen, as a string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_amount: Option<String>,
    /// The remitter's `accountId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remitter_account_id: Option<String>,
}

/// How a matching item ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutcomeSpec {
    /// `completed` (20), `returned` (22: the money comes back, the fee is kept) or `failed`
    /// (40: nothing is sent; amount and fee come back).
    pub result: OutcomeResult,
    /// When it ends, after the transfer executes: a duration (`"1h"`) or `"nextBusinessDay"`
    /// (08:30 of the next business day). Absent: at once (`at` may give a time instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// When it ends, as a sandbox time (RFC 3339); the item ends at once if that has passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// The status shown until then: `"12"` (processing, the default), `"13"` (retrying) or,
    /// for `returned`, `"20"` (completed, then returned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meanwhile: Option<String>,
    /// Why it was returned or failed, as the status and the notification say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// When an item ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    Now,
    After(SignedDuration),
    NextBusinessDay,
    At(Timestamp),
}

/// A rule ready to apply.
#[derive(Debug, Clone)]
pub struct CompiledOutcome {
    pub id: std::sync::Arc<str>,
    pub spec: OutcomeRule,
    pub bank_code: Option<String>,
    pub branch_code: Option<String>,
    pub account_number: Option<String>,
    pub beneficiary_name: Option<String>,
    pub min: Option<Yen>,
    pub max: Option<Yen>,
    pub remitter_account_id: Option<String>,
    pub result: OutcomeResult,
    pub due: Due,
    pub meanwhile: TransferStatus,
    pub reason: String,
}

/// What a transfer item is, for outcome matching.
pub struct ItemFacts<'a> {
    pub bank_code: &'a str,
    pub branch_code: &'a str,
    pub account_number: &'a str,
    pub beneficiary_name: &'a str,
    pub amount: Yen,
    pub remitter_account_id: &'a str,
}

impl CompiledOutcome {
    pub fn matches(&self, i: &ItemFacts<'_>) -> bool {
        fn eq(want: &Option<String>, have: &str) -> bool {
            want.as_deref().is_none_or(|w| w == have)
        }
        eq(&self.bank_code, i.bank_code)
            && eq(&self.branch_code, i.branch_code)
            && eq(&self.account_number, i.account_number)
            && eq(&self.beneficiary_name, i.beneficiary_name)
            && eq(&self.remitter_account_id, i.remitter_account_id)
            && self.min.is_none_or(|m| i.amount >= m)
            && self.max.is_none_or(|m| i.amount <= m)
    }
}

fn amount(field: &str, s: &Option<String>, p: &mut Vec<String>) -> Option<Yen> {
    let s = s.as_ref()?;
    match s.parse::<i64>() {
        Ok(n) if n > 0 && s.bytes().all(|b| b.is_ascii_digit()) => Some(Yen(n)),
        _ => {
            p.push(format!(
                "match.{field}: {s:?} must be whole yen as a string of digits, e.g. \"10000\""
            ));
            None
        }
    }
}

// Long on purpose: one check per field of a rule, in the order its problems are reported.
/// Checks a rule and compiles it; `own_bank` is this sandbox's bank code (its transfers
/// are credited at once, so no rule can decide them).
pub fn compile(rule: &OutcomeRule, id: &str, own_bank: &BankCode) -> Result<CompiledOutcome, Vec<String>> {
    let mut p = Vec::new();
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        p.push(format!("id: {id:?} must be 1 to 64 letters, digits, '-', '_' or '.'"));
    }
    let m = &rule.matches;
    let digits = |field: &str, v: &Option<String>, n: usize, p: &mut Vec<String>| {
        if let Some(v) = v
            && (v.len() != n || !v.bytes().all(|b| b.is_ascii_digit()))
        {
            p.push(format!("match.{field}: {v:?} must be {n} digits"));
        }
    };
    digits("bankCode", &m.bank_code, 4, &mut p);
    digits("branchCode", &m.branch_code, 3, &mut p);
    digits("accountNumber", &m.account_number, 7, &mut p);
    if m.bank_code.as_deref() == Some(own_bank.as_str()) {
        p.push(format!(
            "match.bankCode: {} is this bank; outcome rules decide transfers to other banks (ours are credited at once)",
            own_bank.as_str()
        ));
    }
    let exact = amount("amount", &m.amount, &mut p);
    let min = amount("minAmount", &m.min_amount, &mut p).or(exact);
    let max = amount("maxAmount", &m.max_amount, &mut p).or(exact);
    if let (Some(a), Some(b)) = (min, max)
        && b < a
    {
        p.push("match.maxAmount: below minAmount".into());
    }
    let o = &rule.outcome;
    let due = match (&o.after, &o.at) {
        (Some(_), Some(_)) => {
            p.push("outcome: give `after` or `at`, not both".into());
            Due::Now
        }
        (Some(a), None) if a == "nextBusinessDay" => Due::NextBusinessDay,
        (Some(a), None) => match crate::clock::parse_duration(a) {
            Ok(d) if d > SignedDuration::ZERO => Due::After(d),
            Ok(_) => {
                p.push(format!("outcome.after: {a:?} must be positive"));
                Due::Now
            }
            Err(e) => {
                p.push(format!("outcome.after: {e}, or \"nextBusinessDay\""));
                Due::Now
            }
        },
        (None, Some(at)) => match at.parse::<Timestamp>() {
            Ok(t) => Due::At(t),
            Err(_) => {
                p.push(format!(
                    "outcome.at: {at:?} is not an RFC 3339 time with an offset, e.g. \"2026-11-24T10:00:00+09:00\""
                ));
                Due::Now
            }
        },
        (None, None) => Due::Now,
    };
    let meanwhile = match o.meanwhile.as_deref() {
        None | Some("12") => TransferStatus::Processing,
        Some("13") => TransferStatus::Retrying,
        Some("20") if o.result == OutcomeResult::Returned => TransferStatus::Completed,
        Some(other) => {
            p.push(format!(
                "outcome.meanwhile: {other:?} must be \"12\" (processing), \"13\" (retrying) or, for returned, \"20\""
            ));
            TransferStatus::Processing
        }
    };
    if o.meanwhile.is_some() && due == Due::Now {
        p.push("outcome.meanwhile: needs `after` or `at` (until when?)".into());
    }
    if o.result == OutcomeResult::Completed && o.reason.is_some() {
        p.push("outcome.reason: only for returned or failed".into());
    }
    if !p.is_empty() {
        return Err(p);
    }
    let mut spec = rule.clone();
    spec.id = Some(id.to_owned());
    Ok(CompiledOutcome {
        id: std::sync::Arc::from(id),
        spec,
        bank_code: m.bank_code.clone(),
        branch_code: m.branch_code.clone(),
        account_number: m.account_number.clone(),
        beneficiary_name: m.beneficiary_name.clone(),
        min,
        max,
        remitter_account_id: m.remitter_account_id.clone(),
        result: o.result,
        due,
        meanwhile,
        reason: o.reason.clone().unwrap_or_else(|| match o.result {
            OutcomeResult::Returned => "受取側で受付不可 / returned by the receiving bank".into(),
            OutcomeResult::Failed => "振込不能 / the transfer could not be made".into(),
            OutcomeResult::Completed => String::new(),
        }),
    })
}
