//! Bank data: the sandbox's accounts, searched by customer name (kanji or kana), account
//! number or customer id, with balances; one account's balances, history, transfers and debit
//! mandates; and the ledger check (every yen accounted for).

use super::session::Signed;
use super::view::{PageInfo, bi, page, problem_page};
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;

/// Most accounts shown for one search.
const SHOWN: usize = 100;
/// Accounts read per storage page while searching.
const BATCH: usize = 500;
/// Accounts one search page looks at, at most (then it offers to search on), so a page stays
/// quick in a large world.
const SEARCH: usize = 3000;

#[derive(Deserialize, Default)]
pub struct DataQuery {
    #[serde(default)]
    q: String,
    /// Search on after this account id.
    #[serde(default)]
    after: Option<String>,
}

pub async fn data(signed: Signed, Query(query): Query<DataQuery>) -> Response {
    let home = signed.home();
    let needle = query.q.trim().to_owned();
    // Kana is compared as the bank writes names (half-width); anything else (kanji) is looked
    // for in the customer's name.
    let kana = crate::domain::kana::to_zengin(&needle).ok();
    let mut found = Vec::new();
    let mut after: Option<String> = query.after.clone().filter(|a| !a.is_empty());
    let mut looked = 0;
    // Where to search on, when the search stopped before the last account.
    let mut resume: Option<String> = None;
    loop {
        let (page_of, more) = match signed.sandbox.store.list_accounts(None, after.as_deref(), BATCH) {
            Ok(p) => p,
            Err(e) => {
                return problem_page(
                    &signed,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Bank data",
                    &e.to_string(),
                    &home,
                );
            }
        };
        after = page_of.last().map(|a| a.id.clone());
        looked += page_of.len();
        for a in page_of {
            let holder = a.holder_kana.to_string();
            let hit = needle.is_empty()
                || a.id.contains(&needle)
                || a.number.to_string().contains(&needle)
                || a.customer_id.contains(&needle)
                || holder.contains(&needle)
                || kana
                    .as_ref()
                    .is_some_and(|k| !k.is_empty() && holder.contains(k.as_str()))
                || (kana.is_none()
                    && signed
                        .sandbox
                        .store
                        .customer(&a.customer_id)
                        .ok()
                        .flatten()
                        .is_some_and(|c| c.name.contains(&needle)));
            if hit {
                found.push(a);
            }
        }
        if !more {
            break;
        }
        if found.len() >= SHOWN || looked >= SEARCH {
            resume = after.clone();
            break;
        }
    }
    if found.len() > SHOWN {
        // Search on after the last account shown.
        found.truncate(SHOWN);
        resume = found.last().map(|a| a.id.clone());
    }
    let ledger = crate::services::ledger::ledger_summary(&signed.sandbox);
    let body = html! {
        h1 { (bi("銀行データ", "Bank data")) }
        section {
            form.filters method="get" action={ (home) "/data" } {
                label { (bi("氏名（漢字・カナ）・口座番号・顧客ID", "Name (kanji or kana), account number or customer id")) br; input type="text" name="q" value=(query.q); }
                button.primary type="submit" { (bi("検索", "Search")) }
            }
            div.wide {
                table.stack #account-list {
                    thead { tr { th { "Account" } th { (bi("顧客", "Customer")) } th { (bi("店番・科目・番号", "Branch · type · number")) } th { (bi("名義", "Holder")) } th { (bi("残高", "Balance")) } } }
                    tbody {
                        @for a in &found {
                            tr {
                                td { a href={ (home) "/data/accounts/" (a.id) } { code { (a.id) } } }
                                td { code { (a.customer_id) } }
                                td { (a.branch.to_string()) " · " (a.account_type.code()) " · " (a.number.to_string()) }
                                td { (a.holder_kana.to_string()) }
                                td.num { "¥" (a.balance.to_api_string()) }
                            }
                        }
                    }
                }
            }
            @if found.is_empty() { p { (bi("該当する口座はありません。", "No account matches.")) } }
            @if let Some(after) = &resume {
                p #search-on {
                    span.en { "Searched up to account " code { (after) } ". " }
                    a.button href={ (home) "/data?q=" (form_urlencoded::byte_serialize(query.q.as_bytes()).collect::<String>()) "&after=" (after) } { (bi("続きを検索", "Search further")) }
                }
            }
        }
        section #ledger {
            h2 { (bi("元帳チェック", "Ledger check")) }
            @match &ledger {
                Ok(l) => {
                    @let system: i64 = l.system.iter().map(|(_, v)| v).sum();
                    @let discrepancy = l.customer_total + system - l.opening_total;
                    dl.facts {
                        dt { (bi("開始時の総額", "Opening total")) } dd { "¥" (l.opening_total) }
                        dt { (bi("顧客口座の合計", "Customer accounts")) } dd { "¥" (l.customer_total) " in " (l.account_count) " accounts" }
                        @for (name, v) in &l.system { dt { code { (name) } } dd { "¥" (v) } }
                        dt { (bi("差額", "Discrepancy")) } dd #discrepancy class=(if discrepancy == 0 { "ok" } else { "error" }) { (discrepancy) }
                        dt { (bi("限度超過の口座", "Below their limit")) } dd { (l.below_limit.len()) }
                    }
                }
                Err(e) => p.error { (e.to_string()) },
            }
        }
    };
    page(
        &signed,
        PageInfo {
            title: "Bank data",
            active: "/data",
        },
        body,
    )
}

/// One account: balances, the last 31 days of history, transfers and debit mandates.
pub async fn account(signed: Signed, Path(id): Path<String>) -> Response {
    let home = signed.home();
    let back = format!("{home}/data");
    let sandbox = &signed.sandbox;
    let account = match sandbox.store.account(&id) {
        Ok(Some(a)) => a,
        Ok(None) => {
            return problem_page(
                &signed,
                StatusCode::NOT_FOUND,
                "No such account",
                &format!("There is no account {id:?} in this sandbox."),
                &back,
            );
        }
        Err(e) => {
            return problem_page(
                &signed,
                StatusCode::SERVICE_UNAVAILABLE,
                "Bank data",
                &e.to_string(),
                &back,
            );
        }
    };
    let today = sandbox.clock.now_jst().date();
    let figures = crate::services::reference::balance(&account, today);
    let from = today.checked_sub(jiff::Span::new().days(31)).unwrap_or(today);
    let history = crate::services::reference::history(
        sandbox,
        &account,
        (from, today),
        None,
        None,
        crate::services::reference::HistoryKind::All,
    );
    let customer = sandbox.store.customer(&account.customer_id).ok().flatten();
    let (transfers, _) = sandbox
        .store
        .transfers_of(
            &account.id,
            today.checked_sub(jiff::Span::new().days(90)).unwrap_or(today),
            today.checked_add(jiff::Span::new().days(366)).unwrap_or(today),
            None,
            50,
        )
        .unwrap_or_default();
    let mandates = sandbox
        .store
        .mandates(|m| m.account_id == account.id)
        .unwrap_or_default();
    let body = html! {
        h1 { (bi("口座", "Account")) " " code { (account.id) } }
        section {
            dl.facts {
                dt { (bi("顧客", "Customer")) } dd { (customer.as_ref().map(|c| c.name.clone()).unwrap_or_default()) " " code { (account.customer_id) } }
                dt { (bi("名義", "Holder")) } dd { (account.holder_kana.to_string()) }
                dt { (bi("店番・科目・番号", "Branch · type · number")) } dd { (account.branch.to_string()) " · " (account.account_type.code()) " · " (account.number.to_string()) }
                dt { (bi("残高", "Balance")) } dd #balance { "¥" (figures.balance.to_api_string()) }
                dt { (bi("支払可能残高", "Withdrawable")) } dd { "¥" (figures.withdrawable.to_api_string()) }
                dt { (bi("前日残高", "End of yesterday")) } dd { "¥" (figures.previous_day.to_api_string()) }
                dt { (bi("前月末残高", "End of last month")) } dd { "¥" (figures.previous_month.to_api_string()) }
            }
        }
        section #history {
            h2 { (bi("入出金明細（31日）", "History (31 days)")) }
            @match &history {
                Ok(page) => {
                    div.wide {
                        table.stack {
                            thead { tr { th { (bi("日付", "Date")) } th { (bi("摘要", "Remarks")) } th { (bi("金額", "Amount")) } th { (bi("残高", "Balance after")) } } }
                            tbody {
                                @for t in page.entries.items() {
                                    tr {
                                        td { (t.date.to_string()) }
                                        td { (t.remarks) }
                                        td.num { (if t.direction == crate::domain::transaction::Direction::Credit { "+" } else { "−" }) "¥" (t.amount.to_api_string()) }
                                        td.num { "¥" (t.balance_after.to_api_string()) }
                                    }
                                }
                            }
                        }
                    }
                    @if page.next_item_key.is_some() { p.en { "More entries in this period: the history API pages on with nextItemKey." } }
                }
                Err(e) => p.error { (e.to_string()) },
            }
        }
        section #transfers {
            h2 { (bi("振込", "Transfers")) }
            @if transfers.is_empty() { p { (bi("振込はありません。", "No transfers.")) } }
            ul {
                @for apply_no in &transfers {
                    @if let Ok(Some(t)) = sandbox.store.transfer(apply_no) {
                        li { code { (t.apply_no) } " · " (t.execution_date.to_string()) " · ¥" (t.total_amount().to_api_string()) " · status " (t.status().code()) " · " (t.client_id) }
                    }
                }
            }
        }
        section #mandates {
            h2 { (bi("口座振替の委任", "Debit mandates")) }
            @if mandates.is_empty() { p { (bi("委任はありません。", "No mandates.")) } }
            ul {
                @for m in &mandates {
                    li { code { (m.id) } " · " (m.biller_name) " (" (m.client_id) ") · up to ¥" (m.max_per_debit.to_api_string()) " per debit, ¥" (m.max_per_month.to_api_string()) " per month · " (format!("{:?}", m.status)) }
                }
            }
        }
        p { a href=(back) { (bi("口座一覧へ", "Back to the accounts")) } }
    };
    page(
        &signed,
        PageInfo {
            title: "Account",
            active: "/data",
        },
        body,
    )
}
