//! Rehearse: the fault rules with their counters (add from a template or as JSON, remove),
//! transfer outcome rules, capacity limits and peak days, maintenance windows (announce, list,
//! cancel) and the kill switch (suspend a client or a user, stop the bank, each with its
//! reason; resume).

use super::PageForm;
use super::session::Signed;
use super::view::{PageInfo, after, bi, csrf, page, problem_page, see_other};
use crate::domain::capacity::CapacityPolicy;
use crate::domain::fault::FaultRule;
use crate::domain::maintenance::MaintenanceWindow;
use crate::domain::outcome::OutcomeRule;
use crate::sandbox::controls::{StopScope, Target};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;

/// Ready-made rules: (name, JSON).
const TEMPLATES: &[(&str, &str)] = &[
    (
        "Every 3rd balance read answers 503",
        r#"{"description":"every 3rd balance call fails","match":{"operation":"GET /personal/v1/accounts/balances"},"when":{"every":3},"effect":{"status":503,"code":"service_unavailable","detail":"the bank's system is busy; retry later"}}"#,
    ),
    (
        "The token endpoint is slow (2 s) half the time",
        r#"{"description":"slow token endpoint","match":{"operation":"POST /oauth/token"},"when":{"probability":0.5},"effect":{"latency":"2s"}}"#,
    ),
    (
        "A transfer times out but executes (the next update call)",
        r#"{"description":"transfer times out but executes","match":{"kind":"update"},"when":{"times":1},"effect":{"ambiguous":{"status":504}}}"#,
    ),
    (
        "The token expires now (the next balance read)",
        r#"{"description":"token expires now","match":{"operation":"GET /personal/v1/accounts/balances"},"when":{"times":1},"effect":{"tokenExpired":true}}"#,
    ),
];

/// The rehearse page.
pub async fn rehearse(signed: Signed) -> Response {
    let home = signed.home();
    let rules = signed.sandbox.faults.list();
    let (clients, users, bank) = signed.sandbox.controls.stops();
    let body = html! {
        h1 { (bi("リハーサル", "Rehearse")) }
        section #faults {
            h2 { (bi("障害ルール", "Fault rules")) }
            @if rules.is_empty() {
                p #no-faults { (bi("ルールはありません。", "No rules.")) }
            } @else {
                div.wide {
                    table.stack #fault-list {
                        thead { tr { th { "Id" } th { (bi("内容", "Rule")) } th { (bi("一致", "Matched")) } th { (bi("発動", "Fired")) } th {} } }
                        tbody {
                            @for r in &rules {
                                @let id = r.rule.id.clone().unwrap_or_default();
                                tr #{ "fault-" (id) } {
                                    td { code { (id) } }
                                    td { (r.rule.description.as_deref().unwrap_or("")) br; code { (serde_json::to_string(&r.rule).unwrap_or_default()) } }
                                    td.num { (r.seen) }
                                    td.num { (r.hits) }
                                    td {
                                        form method="post" action={ (home) "/rehearse/faults/delete" } {
                                            (csrf(&signed))
                                            input type="hidden" name="id" value=(id);
                                            button.small.danger type="submit" { (bi("削除", "Remove")) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h3 { (bi("テンプレートから追加", "Add from a template")) }
            @for (name, json) in TEMPLATES {
                form.inline method="post" action={ (home) "/rehearse/faults" } {
                    (csrf(&signed))
                    input type="hidden" name="rule" value=(json);
                    button.small type="submit" { (name) }
                }
            }
            h3 { (bi("JSONで追加", "Add as JSON")) }
            form method="post" action={ (home) "/rehearse/faults" } {
                (csrf(&signed))
                label for="rule" { "Rule (the body of POST /sandbox/v1/faults)" }
                textarea #rule name="rule" required { (TEMPLATES[0].1) }
                button.primary type="submit" { (bi("追加", "Add")) }
            }
        }
        section #outcomes {
            h2 { (bi("振込結果ルール", "Transfer outcome rules")) }
            @let outcomes = signed.sandbox.faults.outcomes();
            @if outcomes.is_empty() { p { (bi("ルールはありません。", "No rules.")) } }
            ul #outcome-list {
                @for o in &outcomes {
                    @let id = o.id.clone().unwrap_or_default();
                    li #{ "outcome-" (id) } {
                        code { (serde_json::to_string(o).unwrap_or_default()) }
                        form.inline method="post" action={ (home) "/rehearse/outcomes/delete" } {
                            (csrf(&signed))
                            input type="hidden" name="id" value=(id);
                            button.small.danger type="submit" { (bi("削除", "Remove")) }
                        }
                    }
                }
            }
            form method="post" action={ (home) "/rehearse/outcomes" } {
                (csrf(&signed))
                label for="outcome" { "Rule (the body of POST /sandbox/v1/transfer-outcomes)" }
                textarea #outcome name="rule" required { r#"{"match":{"minAmount":"900000"},"outcome":{"result":"failed"}}"# }
                button.primary type="submit" { (bi("追加", "Add")) }
            }
        }
        section #capacity {
            h2 { (bi("流量制限とピーク日", "Capacity limits and peak days")) }
            p.en { "The bank-wide policy (PUT /sandbox/v1/capacity); name a client to set its own instead. Peak days in the next 31 days (scenario peakDays, where peak limits apply): "
                @for d in next_peak_days(&signed) { code.peak-day { (d) } " " } }
            form method="post" action={ (home) "/rehearse/capacity" } {
                (csrf(&signed))
                label for="capacity-client" { (bi("クライアントID（空なら銀行全体）", "Client id (empty for bank-wide)")) }
                input #capacity-client type="text" name="client";
                label for="capacity-policy" { "Policy" }
                textarea #capacity-policy name="policy" required { (serde_json::to_string_pretty(&signed.sandbox.capacity.bank_policy()).unwrap_or_default()) }
                button.primary type="submit" { (bi("保存", "Save")) }
            }
        }
        section #maintenance {
            h2 { (bi("メンテナンス", "Maintenance windows")) }
            @let windows = signed.sandbox.maintenance.list();
            @if windows.is_empty() { p #no-windows { (bi("予定はありません。", "None announced.")) } }
            ul #window-list {
                @for w in &windows {
                    @let id = w.id.clone().unwrap_or_default();
                    li {
                        code { (id) } " " (w.description.as_deref().unwrap_or("")) " "
                        (w.start.as_deref().unwrap_or("")) " – " (w.end.as_deref().unwrap_or(""))
                        form.inline method="post" action={ (home) "/rehearse/maintenance/cancel" } {
                            (csrf(&signed))
                            input type="hidden" name="id" value=(id);
                            button.small.danger type="submit" { (bi("取消", "Cancel")) }
                        }
                    }
                }
            }
            form method="post" action={ (home) "/rehearse/maintenance" } {
                (csrf(&signed))
                label for="window-start" { (bi("開始（日本時間）", "Start (Japan time)")) }
                input #window-start type="datetime-local" name="start" required;
                label for="window-end" { (bi("終了（日本時間）", "End (Japan time)")) }
                input #window-end type="datetime-local" name="end" required;
                label for="window-description" { (bi("お知らせ文", "Notice")) }
                input #window-description type="text" name="description" required;
                button.primary type="submit" { (bi("告知する", "Announce")) }
            }
        }
        section #stops {
            h2 { (bi("キルスイッチ", "Kill switch")) }
            div.wide {
                table.stack #stop-list {
                    thead { tr { th { (bi("対象", "Target")) } th { (bi("範囲", "Scope")) } th { (bi("理由", "Reason")) } th { (bi("時刻", "Since")) } th {} } }
                    tbody {
                        @for (target, id, stop) in bank.iter().map(|s| ("bank", String::new(), s)).chain(clients.iter().map(|(id, s)| ("client", id.clone(), s))).chain(users.iter().map(|(id, s)| ("user", id.clone(), s))) {
                            tr {
                                td { (target) " " code { (id) } }
                                td { (stop.scope.as_str()) }
                                td { (stop.reason) }
                                td { (stop.at) }
                                td {
                                    form method="post" action={ (home) "/rehearse/stops" } {
                                        (csrf(&signed))
                                        input type="hidden" name="target" value=(target);
                                        input type="hidden" name="id" value=(id);
                                        input type="hidden" name="action" value="resume";
                                        button.small type="submit" { (bi("再開", "Resume")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            form method="post" action={ (home) "/rehearse/stops" } {
                (csrf(&signed))
                input type="hidden" name="action" value="stop";
                label for="stop-target" { (bi("対象", "Target")) }
                select #stop-target name="target" {
                    option value="client" { "client — a connecting company" }
                    option value="user" { "user — one customer's access" }
                    option value="bank" { "bank — every connecting company" }
                }
                label for="stop-id" { (bi("クライアントIDまたはユーザー名", "Client id or username")) " " span.en { "(empty for the bank)" } }
                input #stop-id type="text" name="id";
                label for="stop-scope" { (bi("範囲", "Scope")) }
                select #stop-scope name="scope" {
                    option value="all" { "all calls" }
                    option value="update" { "update calls only" }
                }
                label for="stop-reason" { (bi("理由（接続先に伝えられます）", "Reason (told to the connecting company)")) }
                input #stop-reason type="text" name="reason" required maxlength="500";
                button.primary.danger type="submit" { (bi("停止する", "Stop")) }
            }
        }
    };
    page(
        &signed,
        PageInfo {
            title: "Rehearse",
            active: "/rehearse",
        },
        body,
    )
}

#[derive(Deserialize)]
pub struct RuleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    rule: String,
    #[serde(default)]
    id: String,
}

pub async fn add_fault(signed: Signed, PageForm(f): PageForm<RuleForm>) -> Response {
    if let Err(res) = signed.check_csrf(&f.csrf) {
        return res;
    }
    let back = format!("{}/rehearse#faults", signed.home());
    let rule: FaultRule = match serde_json::from_str(&f.rule) {
        Ok(r) => r,
        Err(e) => {
            return problem_page(
                &signed,
                StatusCode::UNPROCESSABLE_ENTITY,
                "The rule was not added",
                &format!("The rule is not valid JSON for a fault rule: {e}"),
                &back,
            );
        }
    };
    let done = signed
        .sandbox
        .faults
        .add(&signed.sandbox.store, &rule, &crate::http::faults::faultable_operation)
        .await
        .map(|added| format!("Fault rule {} was added.", added.rule.id.unwrap_or_default()));
    after(
        &signed,
        done,
        StatusCode::UNPROCESSABLE_ENTITY,
        "The rule was not added",
        &back,
    )
}

pub async fn delete_fault(signed: Signed, PageForm(f): PageForm<RuleForm>) -> Response {
    if let Err(res) = signed.check_csrf(&f.csrf) {
        return res;
    }
    let back = format!("{}/rehearse#faults", signed.home());
    removal(
        &signed,
        signed.sandbox.faults.remove(&signed.sandbox.store, Some(&f.id)).await,
        "fault rule",
        &f.id,
        &back,
    )
}

#[derive(Deserialize)]
pub struct StopForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    reason: String,
}

pub async fn stop(signed: Signed, PageForm(f): PageForm<StopForm>) -> Response {
    if let Err(res) = signed.check_csrf(&f.csrf) {
        return res;
    }
    let back = format!("{}/rehearse#stops", signed.home());
    let sandbox = &signed.sandbox;
    let id = f.id.trim();
    // A user is named by login; the kill switch keys users by their subject.
    let user_id = match f.target.as_str() {
        "user" => match crate::services::consent::user_by_name(sandbox, id) {
            Ok(Some(u)) => u.id,
            _ => {
                return problem_page(
                    &signed,
                    StatusCode::NOT_FOUND,
                    "Nothing was stopped",
                    &format!("There is no user {id:?}."),
                    &back,
                );
            }
        },
        _ => String::new(),
    };
    let target = match f.target.as_str() {
        "bank" => Target::Bank,
        "client" => {
            if !matches!(sandbox.store.client(id), Ok(Some(_))) {
                return problem_page(
                    &signed,
                    StatusCode::NOT_FOUND,
                    "Nothing was changed",
                    &format!("There is no client {id:?}."),
                    &back,
                );
            }
            Target::Client(id)
        }
        "user" => Target::User(&user_id),
        other => {
            return problem_page(
                &signed,
                StatusCode::BAD_REQUEST,
                "Nothing was changed",
                &format!("Unknown target {other:?}: choose client, user or bank."),
                &back,
            );
        }
    };
    let stop = match f.action.as_str() {
        "resume" => None,
        _ => {
            let reason = f.reason.trim();
            if reason.is_empty() || reason.chars().count() > 500 {
                return problem_page(
                    &signed,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Nothing was stopped",
                    "Say why in 1–500 characters: the stopped calls' answers quote it.",
                    &back,
                );
            }
            let scope = if f.scope == "update" {
                StopScope::Update
            } else {
                StopScope::All
            };
            Some((scope, reason.to_owned()))
        }
    };
    let stopping = stop.is_some();
    match crate::services::controls::set(sandbox, target, stop, "portal").await {
        Ok(_) => {
            signed.flash(true, if stopping { "The stop is in force." } else { "Resumed." });
            see_other(&back)
        }
        Err(e) => problem_page(
            &signed,
            StatusCode::SERVICE_UNAVAILABLE,
            "Nothing was changed",
            &e.to_string(),
            &back,
        ),
    }
}

pub async fn add_outcome(signed: Signed, PageForm(f): PageForm<RuleForm>) -> Response {
    if let Err(res) = signed.check_csrf(&f.csrf) {
        return res;
    }
    let back = format!("{}/rehearse#outcomes", signed.home());
    let rule: OutcomeRule = match serde_json::from_str(&f.rule) {
        Ok(r) => r,
        Err(e) => {
            return problem_page(
                &signed,
                StatusCode::UNPROCESSABLE_ENTITY,
                "The rule was not added",
                &format!("The rule is not valid JSON for an outcome rule: {e}"),
                &back,
            );
        }
    };
    let done = signed
        .sandbox
        .faults
        .add_outcome(&signed.sandbox.store, &rule)
        .await
        .map(|added| format!("Outcome rule {} was added.", added.id.unwrap_or_default()));
    after(
        &signed,
        done,
        StatusCode::UNPROCESSABLE_ENTITY,
        "The rule was not added",
        &back,
    )
}

pub async fn delete_outcome(signed: Signed, PageForm(f): PageForm<RuleForm>) -> Response {
    if let Err(res) = signed.check_csrf(&f.csrf) {
        return res;
    }
    let back = format!("{}/rehearse#outcomes", signed.home());
    let removed = signed
        .sandbox
        .faults
        .remove_outcome(&signed.sandbox.store, Some(&f.id))
        .await;
    removal(&signed, removed, "outcome rule", &f.id, &back)
}

#[derive(Deserialize)]
pub struct CapacityForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    client: String,
    #[serde(default)]
    policy: String,
}

pub async fn set_capacity(signed: Signed, PageForm(f): PageForm<CapacityForm>) -> Response {
    if let Err(res) = signed.check_csrf(&f.csrf) {
        return res;
    }
    let back = format!("{}/rehearse#capacity", signed.home());
    let policy: CapacityPolicy = match serde_json::from_str(&f.policy) {
        Ok(p) => p,
        Err(e) => {
            return problem_page(
                &signed,
                StatusCode::UNPROCESSABLE_ENTITY,
                "The policy was not saved",
                &format!("The policy is not valid JSON for a capacity policy: {e}"),
                &back,
            );
        }
    };
    let client = Some(f.client.trim()).filter(|c| !c.is_empty());
    if let Some(c) = client
        && !matches!(signed.sandbox.store.client(c), Ok(Some(_)))
    {
        return problem_page(
            &signed,
            StatusCode::NOT_FOUND,
            "The policy was not saved",
            &format!("There is no client {c:?}."),
            &back,
        );
    }
    let done = signed
        .sandbox
        .capacity
        .set(&signed.sandbox.store, client, policy)
        .await
        .map(|_| match client {
            Some(c) => format!("The capacity policy of {c} is in force."),
            None => "The bank-wide capacity policy is in force.".to_owned(),
        });
    after(
        &signed,
        done,
        StatusCode::UNPROCESSABLE_ENTITY,
        "The policy was not saved",
        &back,
    )
}

#[derive(Deserialize)]
pub struct WindowForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    start: String,
    #[serde(default)]
    end: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    id: String,
}

pub async fn announce(signed: Signed, PageForm(f): PageForm<WindowForm>) -> Response {
    if let Err(res) = signed.check_csrf(&f.csrf) {
        return res;
    }
    let back = format!("{}/rehearse#maintenance", signed.home());
    let (start, end) = match (super::form_time("start", &f.start), super::form_time("end", &f.end)) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(why), _) | (_, Err(why)) => {
            return problem_page(
                &signed,
                StatusCode::UNPROCESSABLE_ENTITY,
                "Nothing was announced",
                &why,
                &back,
            );
        }
    };
    let mut window: MaintenanceWindow = match serde_json::from_value(serde_json::json!({"start": start, "end": end})) {
        Ok(w) => w,
        Err(e) => {
            return problem_page(
                &signed,
                StatusCode::UNPROCESSABLE_ENTITY,
                "Nothing was announced",
                &e.to_string(),
                &back,
            );
        }
    };
    window.description = Some(f.description.trim().to_owned()).filter(|d| !d.is_empty());
    let sandbox = &signed.sandbox;
    match sandbox
        .maintenance
        .add(&sandbox.store, &window, &crate::http::faults::faultable_operation)
    {
        Ok(added) => {
            if let Err(e) = crate::services::maintenance::announce(sandbox, &added).await {
                return problem_page(
                    &signed,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The notice was not sent",
                    &e.to_string(),
                    &back,
                );
            }
            signed.flash(
                true,
                format!("Maintenance window {} was announced.", added.id.unwrap_or_default()),
            );
            see_other(&back)
        }
        Err(e) => problem_page(
            &signed,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Nothing was announced",
            &e.to_string(),
            &back,
        ),
    }
}

pub async fn cancel_window(signed: Signed, PageForm(f): PageForm<WindowForm>) -> Response {
    if let Err(res) = signed.check_csrf(&f.csrf) {
        return res;
    }
    let back = format!("{}/rehearse#maintenance", signed.home());
    let removed = signed
        .sandbox
        .maintenance
        .remove(&signed.sandbox.store, Some(&f.id))
        .await;
    removal(&signed, removed, "maintenance window", &f.id, &back)
}

/// The peak days from today (sandbox clock) over the next 31 days.
fn next_peak_days(signed: &Signed) -> Vec<String> {
    let today = signed.sandbox.clock.now_jst().date();
    (0..31)
        .filter_map(|n| today.checked_add(jiff::Span::new().days(n)).ok())
        .filter(|d| !signed.sandbox.capacity.peak_days.reasons(*d).is_empty())
        .map(|d| d.to_string())
        .collect()
}

/// The answer to removing `what` `id`: back to the page with a message, 404 when there was
/// none, 503 when it could not be stored.
fn removal<E: std::fmt::Display>(
    signed: &Signed,
    removed: Result<bool, E>,
    what: &str,
    id: &str,
    back: &str,
) -> Response {
    match removed {
        Ok(true) => {
            signed.flash(true, format!("The {what} {id} was removed."));
            see_other(back)
        }
        Ok(false) => problem_page(
            signed,
            StatusCode::NOT_FOUND,
            "Nothing was removed",
            &format!("There is no {what} {id:?}."),
            back,
        ),
        Err(e) => problem_page(
            signed,
            StatusCode::SERVICE_UNAVAILABLE,
            "Nothing was removed",
            &e.to_string(),
            back,
        ),
    }
}
