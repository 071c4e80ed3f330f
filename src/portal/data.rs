//! Bank data: the sandbox's accounts, searched by holder name (kana), account number or
//! customer id, with balances; and the ledger check (every yen accounted for).

use super::session::Signed;
use super::view::{PageInfo, bi, page, problem_page};
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;

/// Most accounts shown for one search.
const SHOWN: usize = 100;
/// Accounts read per storage page while searching.
const BATCH: usize = 1000;

#[derive(Deserialize, Default)]
pub struct DataQuery {
    #[serde(default)]
    q: String,
}

pub async fn data(signed: Signed, Query(query): Query<DataQuery>) -> Response {
    let home = signed.home();
    let needle = query.q.trim().to_owned();
    let kana = crate::domain::kana::to_zengin(&needle).unwrap_or_else(|_| needle.clone());
    let mut found = Vec::new();
    let mut after: Option<String> = None;
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
        for a in page_of {
            let holder = a.holder_kana.to_string();
            let hit = needle.is_empty()
                || a.id.contains(&needle)
                || a.number.to_string().contains(&needle)
                || a.customer_id.contains(&needle)
                || holder.contains(&needle)
                || (!kana.is_empty() && holder.contains(&kana));
            if hit {
                found.push(a);
            }
        }
        if !more || found.len() >= SHOWN {
            break;
        }
    }
    found.truncate(SHOWN);
    let ledger = crate::services::ledger::ledger_summary(&signed.sandbox);
    let body = html! {
        h1 { (bi("銀行データ", "Bank data")) }
        section {
            form.filters method="get" action={ (home) "/data" } {
                label { (bi("口座名義（カナ）・口座番号・顧客ID", "Holder (kana), account number or customer id")) br; input type="text" name="q" value=(query.q); }
                button.primary type="submit" { (bi("検索", "Search")) }
            }
            div.wide {
                table.stack #account-list {
                    thead { tr { th { "Account" } th { (bi("顧客", "Customer")) } th { (bi("店番・科目・番号", "Branch · type · number")) } th { (bi("名義", "Holder")) } th { (bi("残高", "Balance")) } } }
                    tbody {
                        @for a in &found {
                            tr {
                                td { code { (a.id) } }
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
