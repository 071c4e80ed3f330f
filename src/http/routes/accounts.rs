//! Reference APIs (参照系) for both segments: account list, balances, transactions and
//! incoming transfers. `/personal/v1` serves individual customers, `/corporation/v1`
//! corporate ones; the handlers are shared and the segment is checked against the token.

use crate::domain::account::Account;
use crate::domain::consent::Scope;
use crate::http::error::ApiError;
use crate::http::extract::{ApiQuery, Authenticated};
use crate::http::response::JsonObject;
use crate::sandbox::Sandbox;
use crate::services::reference::{self, HistoryKind};
use axum::Json;
use axum::response::Response;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// One account the token may read.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountItem {
    /// Account identifier used by the other APIs (branch code + type code + number).
    #[schema(example = "00111234567")]
    pub account_id: String,
    /// 3-digit branch code.
    #[schema(example = "001")]
    pub branch_code: String,
    /// Branch name in kanji.
    pub branch_name: String,
    /// Deposit type code: 1 普通, 2 当座, 4 貯蓄, 9 その他.
    #[schema(example = "1")]
    pub account_type_code: String,
    /// Deposit type name.
    #[schema(example = "普通")]
    pub account_type_name: String,
    /// 7-digit account number.
    #[schema(example = "1234567")]
    pub account_number: String,
    /// "1" for the customer's primary (代表) account, "2" otherwise.
    pub primary_account_code: String,
    /// Name of the primary account code.
    pub primary_account_code_name: String,
    /// Holder name in kanji.
    pub account_name: String,
    /// Holder name in half-width kana (Zengin).
    #[schema(example = "ﾀﾅｶ ﾀﾛｳ")]
    pub account_name_kana: String,
    /// ISO 4217 currency code.
    #[schema(example = "JPY")]
    pub currency_code: String,
    /// Currency name.
    pub currency_name: String,
    /// Largest amount one transfer from this account may move, yen as a string.
    #[schema(example = "10000000")]
    pub transfer_limit_amount: String,
}

/// The account list.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountsResponse {
    /// Sandbox date the list was made (YYYY-MM-DD).
    pub base_date: String,
    /// Sandbox time the list was made (HH:MM:SS+09:00).
    pub base_time: String,
    /// The accounts, in account-id order.
    pub accounts: Vec<AccountItem>,
}

/// Balance of one account.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BalanceItem {
    /// Account identifier.
    pub account_id: String,
    /// Deposit type code.
    pub account_type_code: String,
    /// Deposit type name.
    pub account_type_name: String,
    /// Current balance, yen as a string (may be negative under an overdraft).
    #[schema(example = "1200000")]
    pub balance: String,
    /// What can be withdrawn now, yen as a string (balance plus overdraft limit).
    #[schema(example = "1200000")]
    pub withdrawable_amount: String,
    /// Balance at the end of the previous day.
    pub previous_day_balance: String,
    /// Balance at the end of the previous month.
    pub previous_month_balance: String,
    /// Sandbox date of the figures.
    pub base_date: String,
    /// Sandbox time of the figures.
    pub base_time: String,
    /// ISO 4217 currency code.
    pub currency_code: String,
    /// Currency name.
    pub currency_name: String,
}

/// Balances of the requested account(s).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BalancesResponse {
    /// One entry per account.
    pub balances: Vec<BalanceItem>,
}

/// Query of the balances API.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BalancesQuery {
    /// One account; all the token's accounts when absent.
    pub account_id: Option<String>,
}

/// Query of the history APIs.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TransactionsQuery {
    /// The account to read.
    pub account_id: String,
    /// First date (YYYY-MM-DD). With no dates: today only. With only dateFrom: up to today.
    #[param(format = Date)]
    pub date_from: Option<String>,
    /// Last date (YYYY-MM-DD); needs dateFrom; must not be before it.
    #[param(format = Date)]
    pub date_to: Option<String>,
    /// From a previous page's `nextItemKey`, to read the next page (same dates).
    pub next_item_key: Option<String>,
    /// Items per page, 1..=500 (default 500).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// One history entry.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransactionItem {
    /// Date of the entry (YYYY-MM-DD).
    pub transaction_date: String,
    /// Value date (起算日).
    pub value_date: String,
    /// "1" credit (入金), "2" debit (出金).
    #[schema(example = "1")]
    pub transaction_type: String,
    /// 取引区分: 10 cash, 11 transfer, 12 other-bank cheque, 13 clearing, 14 book transfer, 18 other, 19 correction.
    #[schema(example = "11")]
    pub transaction_kind: String,
    /// Amount, yen as a string (always positive; transactionType gives the direction).
    pub amount: String,
    /// 摘要 as the passbook shows it.
    pub remarks: String,
    /// Remitter name in half-width kana, for incoming transfers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remitter_name: Option<String>,
    /// Balance after this entry.
    pub balance: String,
    /// Stable key of this entry (date + sequence).
    pub item_key: String,
}

/// A page of history, ascending.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransactionsResponse {
    /// The account read.
    pub account_id: String,
    /// ISO 4217 currency code.
    pub currency_code: String,
    /// Currency name.
    pub currency_name: String,
    /// First date covered.
    pub date_from: String,
    /// Last date covered.
    pub date_to: String,
    /// Sandbox date of the answer.
    pub base_date: String,
    /// Sandbox time of the answer.
    pub base_time: String,
    /// Whether another page follows.
    pub has_next: bool,
    /// Pass as `nextItemKey` to read the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_item_key: Option<String>,
    /// Entries on this page.
    pub count: usize,
    /// The entries.
    pub transactions: Vec<TransactionItem>,
}

pub use crate::http::route::Segment;

fn base_date_time(sandbox: &Sandbox) -> (Date, String, String) {
    let now = crate::clock::jst_datetime(sandbox.clock.now());
    let mut date = String::with_capacity(10);
    crate::clock::push_date(&mut date, now.date());
    let mut time = String::with_capacity(14);
    crate::clock::push_time_jst(&mut time, now.time());
    (now.date(), date, time)
}

fn branch_name(sandbox: &Sandbox, code: &str) -> String {
    sandbox
        .scenario
        .scenario
        .bank
        .branches
        .iter()
        .find(|b| b.code.value.as_str() == code)
        .map(|b| b.name.clone())
        .unwrap_or_default()
}

fn account_item(sandbox: &Sandbox, a: &Account) -> AccountItem {
    AccountItem {
        account_id: a.id.clone(),
        branch_code: a.branch.to_string(),
        branch_name: branch_name(sandbox, a.branch.as_str()),
        account_type_code: a.account_type.code().to_owned(),
        account_type_name: a.account_type.name_ja().to_owned(),
        account_number: a.number.to_string(),
        primary_account_code: if a.primary { "1" } else { "2" }.to_owned(),
        primary_account_code_name: if a.primary { "代表口座" } else { "その他" }.to_owned(),
        account_name: a.holder_name.clone(),
        account_name_kana: a.holder_kana.to_string(),
        currency_code: "JPY".into(),
        currency_name: "日本円".into(),
        transfer_limit_amount: a.transfer_limit.to_api_string(),
    }
}

pub async fn list_accounts(
    segment: Segment,
    sandbox: Sandbox,
    who: Authenticated,
) -> Result<Json<AccountsResponse>, ApiError> {
    segment.check(&who)?;
    who.require(Scope::AccountsRead)?;
    let accounts = reference::accounts(&sandbox, &who.0)?;
    let (_, base_date, base_time) = base_date_time(&sandbox);
    Ok(Json(AccountsResponse {
        base_date,
        base_time,
        accounts: accounts.iter().map(|a| account_item(&sandbox, a)).collect(),
    }))
}

pub async fn balances(
    segment: Segment,
    sandbox: Sandbox,
    who: Authenticated,
    q: BalancesQuery,
) -> Result<Response, ApiError> {
    segment.check(&who)?;
    who.require(Scope::AccountsRead)?;
    let accounts = match &q.account_id {
        Some(id) => vec![reference::account(&sandbox, &who.0, id)?],
        None => reference::accounts(&sandbox, &who.0)?,
    };
    let (today, base_date, base_time) = base_date_time(&sandbox);
    Ok(write_balances(&accounts, today, &base_date, &base_time).into_response())
}

/// Balances as `BalancesResponse` serializes them, written by hand (the API's most frequent
/// answer; see `JsonObject`).
fn write_balances(accounts: &[std::sync::Arc<Account>], today: Date, base_date: &str, base_time: &str) -> JsonObject {
    let mut out = JsonObject::with_capacity(64 + 320 * accounts.len());
    out.array("balances", accounts.iter(), |item, a| {
        let f = reference::balance(a, today);
        item.text("accountId", &a.id);
        item.plain("accountTypeCode", a.account_type.code());
        item.plain("accountTypeName", a.account_type.name_ja());
        item.int_string("balance", f.balance.0);
        item.int_string("withdrawableAmount", f.withdrawable.0);
        item.int_string("previousDayBalance", f.previous_day.0);
        item.int_string("previousMonthBalance", f.previous_month.0);
        item.plain("baseDate", base_date);
        item.plain("baseTime", base_time);
        item.plain("currencyCode", "JPY");
        item.plain("currencyName", "日本円");
    });
    out
}

pub async fn transactions(
    segment: Segment,
    sandbox: Sandbox,
    who: Authenticated,
    q: TransactionsQuery,
    kind: HistoryKind,
) -> Result<Response, ApiError> {
    segment.check(&who)?;
    who.require(Scope::TransactionsRead)?;
    let account = reference::account(&sandbox, &who.0, &q.account_id)?;
    let (today, base_date, base_time) = base_date_time(&sandbox);
    let range = reference::date_range(q.date_from.as_deref(), q.date_to.as_deref(), today)?;
    let page = reference::history(&sandbox, &account, range, q.next_item_key.as_deref(), q.limit, kind)?;
    Ok(write_transactions(&account.id, &page, &base_date, &base_time).into_response())
}

/// A history page as `TransactionsResponse` serializes it, written by hand (see `JsonObject`:
/// a 50-item page spent most of its time in serde).
fn write_transactions(account_id: &str, page: &reference::HistoryPage, base_date: &str, base_time: &str) -> JsonObject {
    // About 220 bytes an item in practice, plus the page's own fields.
    let mut out = JsonObject::with_capacity(512 + 256 * page.entries.len());
    let mut day = String::with_capacity(10);
    out.text("accountId", account_id);
    out.plain("currencyCode", "JPY");
    out.plain("currencyName", "日本円");
    crate::clock::push_date(&mut day, page.from);
    out.plain("dateFrom", &day);
    day.clear();
    crate::clock::push_date(&mut day, page.to);
    out.plain("dateTo", &day);
    out.plain("baseDate", base_date);
    out.plain("baseTime", base_time);
    out.bool("hasNext", page.next_item_key.is_some());
    if let Some(next) = &page.next_item_key {
        out.plain("nextItemKey", next);
    }
    out.number("count", page.entries.len() as u64);
    let mut key = String::with_capacity(18);
    let mut number = itoa::Buffer::new();
    // Each item as one template: its keys are fixed, only dates, codes, digits and two free
    // texts vary (a 50-item page spent a fifth of its time here field by field).
    out.array("transactions", page.entries.items(), |item, t| {
        let buf = item.raw();
        buf.extend_from_slice(b"\"transactionDate\":\"");
        day.clear();
        crate::clock::push_date(&mut day, t.date);
        buf.extend_from_slice(day.as_bytes());
        buf.extend_from_slice(b"\",\"valueDate\":\"");
        day.clear();
        crate::clock::push_date(&mut day, t.value_date);
        buf.extend_from_slice(day.as_bytes());
        buf.extend_from_slice(b"\",\"transactionType\":\"");
        buf.extend_from_slice(t.direction.code().as_bytes());
        buf.extend_from_slice(b"\",\"transactionKind\":\"");
        buf.extend_from_slice(t.kind.code().as_bytes());
        buf.extend_from_slice(b"\",\"amount\":\"");
        buf.extend_from_slice(number.format(t.amount.0).as_bytes());
        buf.extend_from_slice(b"\",\"remarks\":");
        // Writing a &str into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *buf, &t.remarks);
        if let Some(name) = &t.remitter_name {
            buf.extend_from_slice(b",\"remitterName\":");
            let _ = serde_json::to_writer(&mut *buf, name);
        }
        buf.extend_from_slice(b",\"balance\":\"");
        buf.extend_from_slice(number.format(t.balance_after.0).as_bytes());
        buf.extend_from_slice(b"\",\"itemKey\":\"");
        key.clear();
        reference::push_item_key(&mut key, t.date, t.seq);
        buf.extend_from_slice(key.as_bytes());
        buf.push(b'"');
    });
    out
}

/// Declares the four reference routes of one segment (utoipa needs literal paths).
macro_rules! segment_routes {
    ($module:ident, $segment:expr, $tag:literal, $op:literal, $accounts:literal, $balances:literal, $transactions:literal, $deposits:literal) => {
        pub mod $module {
            use super::*;

            /// List the accounts the token may read.
            #[utoipa::path(get, path = $accounts, tag = $tag, operation_id = concat!($op, "Accounts"),
                security(("bearer" = ["accounts:read"])),
                responses(
                    (status = 200, description = "The accounts", body = AccountsResponse),
                    (status = 401, description = "Missing, unknown or expired token", body = crate::http::error::Problem, content_type = "application/problem+json"),
                    (status = 403, description = "Scope accounts:read missing, or wrong segment", body = crate::http::error::Problem, content_type = "application/problem+json"),
                ))]
            pub async fn accounts(sandbox: Sandbox, who: Authenticated) -> Result<Json<AccountsResponse>, ApiError> {
                list_accounts($segment, sandbox, who).await
            }

            /// Balances of one account, or of all the token's accounts.
            #[utoipa::path(get, path = $balances, tag = $tag, operation_id = concat!($op, "Balances"), params(BalancesQuery),
                security(("bearer" = ["accounts:read"])),
                responses(
                    (status = 200, description = "The balances", body = BalancesResponse),
                    (status = 400, description = "Bad query", body = crate::http::error::Problem, content_type = "application/problem+json"),
                    (status = 401, description = "Missing, unknown or expired token", body = crate::http::error::Problem, content_type = "application/problem+json"),
                    (status = 403, description = "Scope accounts:read missing, or wrong segment", body = crate::http::error::Problem, content_type = "application/problem+json"),
                    (status = 404, description = "Not one of the token's accounts", body = crate::http::error::Problem, content_type = "application/problem+json"),
                ))]
            pub async fn balances(sandbox: Sandbox, who: Authenticated, ApiQuery(q): ApiQuery<BalancesQuery>) -> Result<Response, ApiError> {
                super::balances($segment, sandbox, who, q).await
            }

            /// Account history (入出金明細), ascending, paged by `nextItemKey`.
            #[utoipa::path(get, path = $transactions, tag = $tag, operation_id = concat!($op, "Transactions"), params(TransactionsQuery),
                security(("bearer" = ["transactions:read"])),
                responses(
                    (status = 200, description = "A page of history", body = TransactionsResponse),
                    (status = 400, description = "Bad dates, key or limit", body = crate::http::error::Problem, content_type = "application/problem+json"),
                    (status = 401, description = "Missing, unknown or expired token", body = crate::http::error::Problem, content_type = "application/problem+json"),
                    (status = 403, description = "Scope transactions:read missing, or wrong segment", body = crate::http::error::Problem, content_type = "application/problem+json"),
                    (status = 404, description = "Not one of the token's accounts", body = crate::http::error::Problem, content_type = "application/problem+json"),
                ))]
            pub async fn transactions(sandbox: Sandbox, who: Authenticated, ApiQuery(q): ApiQuery<TransactionsQuery>) -> Result<Response, ApiError> {
                super::transactions($segment, sandbox, who, q, HistoryKind::All).await
            }

            /// Incoming transfers only (入金明細), same rules as the history API.
            #[utoipa::path(get, path = $deposits, tag = $tag, operation_id = concat!($op, "DepositTransactions"), params(TransactionsQuery),
                security(("bearer" = ["transactions:read"])),
                responses(
                    (status = 200, description = "A page of incoming transfers", body = TransactionsResponse),
                    (status = 400, description = "Bad dates, key or limit", body = crate::http::error::Problem, content_type = "application/problem+json"),
                    (status = 401, description = "Missing, unknown or expired token", body = crate::http::error::Problem, content_type = "application/problem+json"),
                    (status = 403, description = "Scope transactions:read missing, or wrong segment", body = crate::http::error::Problem, content_type = "application/problem+json"),
                    (status = 404, description = "Not one of the token's accounts", body = crate::http::error::Problem, content_type = "application/problem+json"),
                ))]
            pub async fn deposit_transactions(sandbox: Sandbox, who: Authenticated, ApiQuery(q): ApiQuery<TransactionsQuery>) -> Result<Response, ApiError> {
                super::transactions($segment, sandbox, who, q, HistoryKind::Deposits).await
            }

            pub fn router() -> crate::http::route::Routes {
                use crate::http::route::RouteSpec;
                let read = RouteSpec::reference($segment);
                crate::http::route::Routes::new()
                    .add(read, utoipa_axum::routes!(accounts))
                    .add(read, utoipa_axum::routes!(balances))
                    .add(read, utoipa_axum::routes!(transactions))
                    .add(read, utoipa_axum::routes!(deposit_transactions))
            }
        }
    };
}

segment_routes!(
    personal,
    Segment::Personal,
    "personal",
    "personal",
    "/personal/v1/accounts",
    "/personal/v1/accounts/balances",
    "/personal/v1/accounts/transactions",
    "/personal/v1/accounts/deposit-transactions"
);
segment_routes!(
    corporation,
    Segment::Corporation,
    "corporation",
    "corporation",
    "/corporation/v1/accounts",
    "/corporation/v1/accounts/balances",
    "/corporation/v1/accounts/transactions",
    "/corporation/v1/accounts/deposit-transactions"
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::Yen;
    use crate::domain::transaction::Transaction;
    use crate::domain::transaction::{Direction, TransactionKind};

    fn transaction_item(t: &Transaction) -> TransactionItem {
        TransactionItem {
            transaction_date: t.date.to_string(),
            value_date: t.value_date.to_string(),
            transaction_type: t.direction.code().to_owned(),
            transaction_kind: t.kind.code().to_owned(),
            amount: t.amount.to_api_string(),
            remarks: t.remarks.clone(),
            remitter_name: t.remitter_name.clone(),
            balance: t.balance_after.to_api_string(),
            item_key: reference::item_key(t.date, t.seq),
        }
    }

    #[test]
    fn item_keys_are_the_date_and_sequence_as_18_digits() {
        let date: Date = "2026-11-20".parse().unwrap();
        assert_eq!(reference::item_key(date, 7), "202611200000000007");
        assert_eq!(reference::item_key(date, 4_000_000_123), "202611204000000123");
        assert_eq!(reference::parse_item_key("202611200000000007").unwrap(), (date, 7));
    }

    /// The hand-written balances are byte for byte what serde writes for the schema type.
    #[test]
    fn written_balances_equal_the_schema_types_serialization() {
        let loaded = crate::scenario::load::load_str(crate::scenario::DEFAULT_SCENARIO, "default").unwrap();
        let start: jiff::Timestamp = "2026-11-22T01:00:00Z".parse().unwrap();
        let mut accounts: Vec<std::sync::Arc<Account>> = Vec::new();
        crate::scenario::generate::customers::<()>(&loaded.scenario, start, |c| {
            accounts.extend(c.accounts.into_iter().map(|(a, _)| std::sync::Arc::new(a)));
            Ok(())
        })
        .unwrap();
        // A day later, so the previous-day and previous-month figures come from history.
        let today: Date = "2026-12-02".parse().unwrap();
        assert!(accounts.len() >= 2);
        let written = write_balances(&accounts, today, "2026-11-22", "10:11:12+09:00").finish_bytes();
        let expected = serde_json::to_vec(&BalancesResponse {
            balances: accounts
                .iter()
                .map(|a| {
                    let f = reference::balance(a, today);
                    BalanceItem {
                        account_id: a.id.clone(),
                        account_type_code: a.account_type.code().to_owned(),
                        account_type_name: a.account_type.name_ja().to_owned(),
                        balance: f.balance.to_api_string(),
                        withdrawable_amount: f.withdrawable.to_api_string(),
                        previous_day_balance: f.previous_day.to_api_string(),
                        previous_month_balance: f.previous_month.to_api_string(),
                        base_date: "2026-11-22".into(),
                        base_time: "10:11:12+09:00".into(),
                        currency_code: "JPY".into(),
                        currency_name: "日本円".into(),
                    }
                })
                .collect(),
        })
        .unwrap();
        assert_eq!(
            String::from_utf8(written).unwrap(),
            String::from_utf8(expected).unwrap()
        );
    }

    /// The hand-written page is byte for byte what serde writes for the schema type.
    #[test]
    fn written_history_page_equals_the_schema_types_serialization() {
        let date = |s: &str| s.parse::<Date>().unwrap();
        let items = vec![
            Transaction {
                seq: 7,
                date: date("2026-11-20"),
                value_date: date("2026-11-20"),
                direction: Direction::Credit,
                kind: TransactionKind::Transfer,
                amount: Yen(120_000),
                balance_after: Yen(1_234_567),
                remarks: "ﾌﾘｺﾐ ﾔﾏﾀﾞ \"quoted\" back\\slash\ttab".into(),
                remitter_name: Some("ﾔﾏﾀﾞ ﾀﾛｳ".into()),
            },
            Transaction {
                seq: 8,
                date: date("2026-11-21"),
                value_date: date("2026-11-22"),
                direction: Direction::Debit,
                kind: TransactionKind::Other,
                amount: Yen(440),
                balance_after: Yen(-5),
                remarks: "ﾌﾘｺﾐﾃｽｳﾘﾖｳ".into(),
                remitter_name: None,
            },
        ];
        for next in [Some("202611220000000009".to_owned()), None] {
            let page = reference::HistoryPage {
                from: date("2026-08-23"),
                to: date("2026-11-21"),
                entries: crate::storage::HistoryPage::of(items.clone(), None),
                next_item_key: next.clone(),
            };
            let written = write_transactions("00110000001", &page, "2026-11-22", "10:11:12+09:00").finish_bytes();
            let expected = serde_json::to_vec(&TransactionsResponse {
                account_id: "00110000001".into(),
                currency_code: "JPY".into(),
                currency_name: "日本円".into(),
                date_from: "2026-08-23".into(),
                date_to: "2026-11-21".into(),
                base_date: "2026-11-22".into(),
                base_time: "10:11:12+09:00".into(),
                has_next: next.is_some(),
                next_item_key: next,
                count: 2,
                transactions: items.iter().map(transaction_item).collect(),
            })
            .unwrap();
            assert_eq!(
                String::from_utf8(written).unwrap(),
                String::from_utf8(expected).unwrap()
            );
        }
    }
}
