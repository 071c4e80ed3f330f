//! The request log: the sandbox's access log with filters (client, user, operation, status,
//! time range), live while the page is open (the script polls for newer rows), each entry's
//! details, and for every refused call why and what to do — from the reason code the refusing
//! code recorded (`explain`).

use super::explain::explain;
use super::session::Signed;
use super::view::{PageInfo, answer, bi, page, problem_page};
use crate::services::access_log::{access_logs, access_logs_within};
use crate::storage::{AccessLogEntry, AccessLogFilter, ScanEnd};
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

/// Rows per page.
const PAGE: usize = 50;
/// Entries one page looks at, at most: a filter matching few calls searches the log this far
/// and offers to search on, so a page stays quick however long the log is.
const SEARCH: usize = 50_000;

/// The filters, as the form sends them (empty fields mean "any").
#[derive(Deserialize, Default, Clone)]
pub struct LogQuery {
    #[serde(default)]
    client: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    operation: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    before: Option<u64>,
    #[serde(default)]
    after: Option<u64>,
}

impl LogQuery {
    /// The query string of these filters (without paging).
    fn filters(&self) -> String {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("client", &self.client)
            .append_pair("user", &self.user)
            .append_pair("operation", &self.operation)
            .append_pair("status", &self.status)
            .append_pair("since", &self.since)
            .append_pair("until", &self.until)
            .finish()
    }
}

/// An optional time filter from the form, in the log's own form.
fn log_time(name: &str, value: &str) -> Result<Option<String>, String> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    super::form_time(name, value).map(Some)
}

fn filter_of(signed: &Signed, q: &LogQuery, limit: usize) -> Result<AccessLogFilter, String> {
    let status = match q.status.trim() {
        "" => None,
        s => Some(
            s.parse::<u16>()
                .ok()
                .filter(|n| *n <= 599)
                .ok_or_else(|| format!("status: {s:?} is not an HTTP status (e.g. 401)"))?,
        ),
    };
    let nonempty = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    // The log records the user's `sub`; the login name works too.
    let user = nonempty(&q.user).map(|u| {
        crate::services::consent::user_by_name(&signed.sandbox, &u)
            .ok()
            .flatten()
            .map(|user| user.id)
            .unwrap_or(u)
    });
    Ok(AccessLogFilter {
        client_id: nonempty(&q.client),
        user_id: user,
        account_id: None,
        status,
        operation: nonempty(&q.operation),
        since: log_time("since", &q.since)?,
        until: log_time("until", &q.until)?,
        before: q.before,
        limit,
    })
}

fn row(home: &str, e: &AccessLogEntry) -> Markup {
    let class = format!("status-{}", e.status / 100);
    html! {
        tr data-id=(e.id) {
            td { a href={ (home) "/log/" (e.id) } { (e.time) } }
            td class=(class) { (if e.status == 0 { "cut".to_owned() } else { e.status.to_string() }) }
            td { code { (e.operation) } }
            td { (e.client_id.as_deref().unwrap_or("")) }
            td { (e.user_id.as_deref().unwrap_or("")) }
            td {
                @if let Some(rule) = &e.fault_rule { "fault rule " a href={ (home) "/rehearse#fault-" (rule) } { (rule) } " " }
                @if let Some(r) = &e.reason { code { (r) } }
            }
            td.num { (e.latency_micros) " µs" }
        }
    }
}

/// The log page.
pub async fn log(signed: Signed, Query(q): Query<LogQuery>) -> Response {
    let home = signed.home();
    let filter = match filter_of(&signed, &q, PAGE) {
        Ok(f) => f,
        Err(e) => {
            return problem_page(
                &signed,
                StatusCode::BAD_REQUEST,
                "Bad filter",
                &e,
                &format!("{home}/log"),
            );
        }
    };
    let (entries, end) = match access_logs_within(&signed.sandbox, &filter, SEARCH) {
        Ok(found) => found,
        Err(e) => {
            return problem_page(
                &signed,
                StatusCode::SERVICE_UNAVAILABLE,
                "Request log",
                &e.to_string(),
                &home,
            );
        }
    };
    // Where the next page starts: after the last row shown, or where the search stopped.
    let older = match end {
        ScanEnd::Start => None,
        ScanEnd::Full => entries.last().map(|e| e.id),
        ScanEnd::Looked(id) => Some(id),
    };
    let filters = q.filters();
    let live_url = format!("{home}/log/rows?{filters}");
    let body = html! {
        h1 { (bi("リクエストログ", "Request log")) }
        section {
            form.filters method="get" action={ (home) "/log" } {
                label { "Client" br; input type="text" name="client" value=(q.client); }
                label { "User" br; input type="text" name="user" value=(q.user) placeholder="tanaka"; }
                label { "Operation" br; input type="text" name="operation" value=(q.operation) placeholder="balances"; }
                label { "Status" br; input type="text" name="status" value=(q.status) inputmode="numeric" placeholder="401"; }
                label { (bi("から", "From")) br; input type="datetime-local" name="since" value=(q.since); }
                label { (bi("まで", "Until")) br; input type="datetime-local" name="until" value=(q.until); }
                button.primary type="submit" { (bi("絞り込む", "Filter")) }
                a.button href={ (home) "/log" } { (bi("解除", "Clear")) }
            }
            @if q.before.is_none() {
                label.choice { input #live type="checkbox" checked; " " (bi("ライブ更新", "Live: show new calls as they come")) }
            }
        }
        section {
            div.wide {
                table.stack {
                    thead { tr { th { (bi("時刻", "Time")) } th { "Status" } th { "Operation" } th { "Client" } th { "User" } th { (bi("理由", "Reason")) } th { (bi("処理時間", "Latency")) } } }
                    tbody #log-rows data-live=(live_url) {
                        @for e in &entries { (row(&home, e)) }
                    }
                }
            }
            @if entries.is_empty() {
                p #log-empty { (bi("該当する呼び出しはありません。", "No calls match.")) }
            }
            @if let ScanEnd::Looked(id) = end {
                p #searched { (bi("ここまで検索しました。", "Searched back to call")) " #" (id) " (" (SEARCH) " calls at a time). " }
            }
            @if let Some(before) = older {
                p { a.button #older href={ (home) "/log?" (filters) "&before=" (before) } {
                    @if matches!(end, ScanEnd::Looked(_)) { (bi("さらに古い呼び出しを検索", "Search older calls")) }
                    @else { (bi("さらに古い呼び出し", "Older calls")) }
                } }
            }
        }
    };
    page(
        &signed,
        PageInfo {
            title: "Request log",
            active: "/log",
        },
        body,
    )
}

/// Rows newer than `after` (the live page's polling), as HTML table rows.
pub async fn rows(signed: Signed, Query(q): Query<LogQuery>) -> Response {
    let home = signed.home();
    let after = q.after.unwrap_or(0);
    let Ok(filter) = filter_of(&signed, &LogQuery { before: None, ..q }, PAGE) else {
        return answer(StatusCode::BAD_REQUEST, String::new());
    };
    // The new rows are at the head of the log: a bounded search finds them.
    let entries = access_logs_within(&signed.sandbox, &filter, SEARCH)
        .map(|(e, _)| e)
        .unwrap_or_default();
    let html = html! {
        @for e in entries.iter().filter(|e| e.id > after) { (row(&home, e)) }
    };
    answer(StatusCode::OK, html.into_string())
}

/// One entry: every fact recorded, and for a refusal why and what to do.
pub async fn entry(signed: Signed, Path(id): Path<String>) -> Response {
    let home = signed.home();
    let Ok(id) = id.parse::<u64>() else {
        return problem_page(
            &signed,
            StatusCode::NOT_FOUND,
            "No such entry",
            &format!("{id:?} is not an entry number."),
            &format!("{home}/log"),
        );
    };
    let filter = AccessLogFilter {
        before: id.checked_add(1),
        limit: 1,
        ..Default::default()
    };
    let found = access_logs(&signed.sandbox, &filter)
        .ok()
        .and_then(|(e, _)| e.into_iter().next())
        .filter(|e| e.id == id);
    let Some(e) = found else {
        return problem_page(
            &signed,
            StatusCode::NOT_FOUND,
            "No such entry",
            &format!("The log has no entry {id} (it may have been pruned)."),
            &format!("{home}/log"),
        );
    };
    let explained = e.reason.as_deref().and_then(explain);
    let body = html! {
        h1 { (bi("呼び出しの詳細", "Call details")) " #" (e.id) }
        section {
            dl.facts {
                dt { (bi("時刻", "Time")) } dd { (e.time) " (sandbox time)" }
                dt { "Request id" } dd { code { (e.request_id) } }
                dt { "Operation" } dd { code { (e.operation) } }
                dt { "Status" } dd class={ "status-" (e.status / 100) } { (e.status) }
                dt { "Client" } dd { (e.client_id.as_deref().unwrap_or("—")) }
                dt { "User" } dd { (e.user_id.as_deref().unwrap_or("—")) }
                dt { "Account" } dd { (e.account_id.as_deref().unwrap_or("—")) }
                dt { "End user IP" } dd { (e.end_user_ip.as_deref().unwrap_or("—")) }
                dt { (bi("処理時間", "Latency")) } dd { (e.latency_micros) " µs" }
            }
        }
        @if e.status >= 400 || e.status == 0 || e.fault_rule.is_some() {
            section.why #why {
                h2 { (bi("なぜ拒否されたか", "Why it was refused")) }
                @if let Some(rule) = &e.fault_rule {
                    p { (bi("障害ルールが発動しました。", "A fault rule fired:")) " " a href={ (home) "/rehearse#fault-" (rule) } { "fault rule " (rule) } }
                }
                @if let Some(r) = &e.reason { p { (bi("理由コード", "Reason code")) ": " code #reason-code { (r) } } }
                @if let Some(x) = &explained {
                    h3 { (x.why_ja) } p #why-text { (x.why) }
                }
                @if let Some(d) = &e.detail { p { (bi("応答の説明", "What the caller was told")) ": " q #detail { (d) } } }
                @if let Some(x) = &explained {
                    h3 { (bi("対処", "What to do")) } p #what-to-do { (x.todo) }
                }
            }
        }
        p { a href={ (home) "/log" } { (bi("ログへ戻る", "Back to the log")) } }
    };
    page(
        &signed,
        PageInfo {
            title: "Call details",
            active: "/log",
        },
        body,
    )
}
