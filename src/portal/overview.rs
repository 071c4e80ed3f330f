//! The overview: where the sandbox is (base URL, discovery, Swagger UI), its clock (show,
//! advance), reset and snapshots (take, restore, delete — each asked for on a confirmation
//! page first).

use super::PageForm;
use super::session::Signed;
use super::view::{PageInfo, bi, copyable, csrf, page, problem_page, see_other};
use crate::services::lifecycle;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

fn clock_section(signed: &Signed) -> Markup {
    let clock = &signed.sandbox.clock;
    let offset = clock.offset_nanos() / 1_000_000_000;
    let home = signed.home();
    html! {
        section #clock {
            h2 { (bi("サンドボックス時計", "Sandbox clock")) }
            dl.facts {
                dt { (bi("現在", "Now")) } dd #clock-now { (crate::clock::format_jst(clock.now())) }
                dt { (bi("日付", "Date (Japan)")) } dd { (clock.now_jst().date().to_string()) }
                dt { (bi("実時間との差", "Ahead of real time")) } dd { (offset) " s" }
            }
            p.en { "Moving the clock forward makes tokens, codes and grants expire and runs the scheduled transfers due on the way. It never moves back (a snapshot restore sets it to the snapshot's time)." }
            form method="post" action={ (home) "/clock/advance" } {
                (csrf(signed))
                label for="by" { (bi("進める時間", "Advance by")) " " span.en { "(P1D, PT2H, 90s, 1h, 30d)" } }
                input #by type="text" name="by" required placeholder="P1D";
                button.primary type="submit" { (bi("時計を進める", "Advance the clock")) }
            }
            div {
                @for (by, label) in [("1h", "+1h"), ("1d", "+1 day"), ("30d", "+30 days")] {
                    form.inline method="post" action={ (home) "/clock/advance" } {
                        (csrf(signed))
                        input type="hidden" name="by" value=(by);
                        button.small type="submit" { (label) }
                    }
                }
            }
        }
    }
}

fn snapshot_section(signed: &Signed) -> Markup {
    let home = signed.home();
    let snapshots = lifecycle::snapshots(&signed.server, &signed.sandbox.id).unwrap_or_default();
    html! {
        section #snapshots {
            h2 { (bi("リセットとスナップショット", "Reset and snapshots")) }
            p { (bi("リセットはシナリオから世界を作り直します（クライアントの変更、取引、ログは消えます）。", "Reset rebuilds the world from the scenario (changed clients, transactions and the log are gone)."))}
            a.button.danger href={ (home) "/confirm?action=reset" } { (bi("リセット…", "Reset…")) }
            h3 { (bi("スナップショット", "Snapshots")) }
            @if snapshots.is_empty() {
                p #no-snapshots { (bi("まだありません。", "None yet.")) }
            } @else {
                div.wide {
                    table.stack #snapshot-list {
                        thead { tr { th { "Name" } th { "Taken (real time)" } th { "Sandbox time" } th {} } }
                        tbody {
                            @for s in &snapshots {
                                tr {
                                    td { code { (s.name) } }
                                    td { (lifecycle::jst_of_secs(s.taken_at)) }
                                    td { (crate::clock::format_jst(s.sandbox_time)) }
                                    td {
                                        a.button.small href={ (home) "/confirm?action=restore&name=" (s.name) } { (bi("復元…", "Restore…")) }
                                        a.button.small href={ (home) "/confirm?action=delete&name=" (s.name) } { (bi("削除…", "Delete…")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            form method="post" action={ (home) "/snapshots" } {
                (csrf(signed))
                label for="snapshot-name" { (bi("名前", "Name")) " " span.en { "(letters, digits, - and _)" } }
                input #snapshot-name type="text" name="name" required pattern="[A-Za-z0-9_\\-]{1,64}";
                button.primary type="submit" { (bi("スナップショットを撮る", "Take a snapshot")) }
            }
        }
    }
}

/// The overview page.
pub async fn overview(signed: Signed) -> Response {
    let sandbox = &signed.sandbox;
    let base = &sandbox.issuer;
    let scenario = &sandbox.scenario.scenario;
    let body = html! {
        h1 { (bi("概要", "Overview")) }
        div.grid {
            section #connect {
                h2 { (bi("接続先", "Connect")) }
                dl.facts {
                    dt { (bi("ベースURL", "Base URL")) } dd { (copyable("base-url", base)) }
                    dt { "Discovery" } dd { a href={ (sandbox.base_path) "/.well-known/openid-configuration" } { (base) "/.well-known/openid-configuration" } }
                    dt { "OpenAPI" } dd { a href={ (sandbox.base_path) "/openapi.json" } { "openapi.json" } }
                    dt { "Swagger UI" } dd {
                        a href={ (sandbox.base_path) "/swagger-ui/" } { (bi("APIを試す", "Try the API")) }
                        br;
                        span.en { "Authorize works with every client here: the sandbox's Swagger UI redirect is registered for all of them." }
                    }
                    dt { (bi("シナリオ", "Scenario")) } dd { (scenario.name) " (seed " (scenario.seed) ")" }
                    dt { (bi("サンドボックス", "Sandbox")) } dd { code { (sandbox.id) } }
                }
            }
            (clock_section(&signed))
        }
        (snapshot_section(&signed))
    };
    page(
        &signed,
        PageInfo {
            title: "Overview",
            active: "",
        },
        body,
    )
}

#[derive(Deserialize)]
pub struct Advance {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    by: String,
}

pub async fn advance_clock(signed: Signed, PageForm(f): PageForm<Advance>) -> Response {
    if let Err(res) = signed.check_csrf(&f.csrf) {
        return res;
    }
    let home = signed.home();
    let by = match crate::services::clock::parse_advance(f.by.trim()) {
        Ok(by) => by,
        Err(e) => {
            return problem_page(
                &signed,
                StatusCode::BAD_REQUEST,
                "The clock was not moved",
                &format!("{:?}: {e}", f.by),
                &home,
            );
        }
    };
    match crate::services::clock::advance_clock(&signed.sandbox, by).await {
        Ok(now) => {
            signed.flash(
                true,
                format!(
                    "The clock moved forward by {}; it is now {}.",
                    f.by.trim(),
                    crate::clock::format_jst(now)
                ),
            );
            see_other(&format!("{home}#clock"))
        }
        Err(e) => problem_page(
            &signed,
            StatusCode::SERVICE_UNAVAILABLE,
            "The clock was not moved",
            &e.to_string(),
            &home,
        ),
    }
}

#[derive(Deserialize)]
pub struct ConfirmQuery {
    action: String,
    #[serde(default)]
    name: Option<String>,
}

/// Asks before a change that cannot be undone.
pub async fn confirm(signed: Signed, Query(q): Query<ConfirmQuery>) -> Response {
    let home = signed.home();
    let name = q.name.clone().unwrap_or_default();
    let (title, what, action): (Markup, String, String) = match q.action.as_str() {
        "reset" => (
            bi("サンドボックスをリセットしますか？", "Reset the sandbox?"),
            "Every change since the scenario was loaded — transactions, clients changed or created, grants, the access log — is replaced by a fresh world from the scenario. Snapshots stay.".into(),
            format!("{home}/reset"),
        ),
        "restore" if !name.is_empty() => (
            bi("スナップショットを復元しますか？", "Restore this snapshot?"),
            format!("The sandbox goes back to snapshot {name:?}: its data and its clock. What happened since is gone."),
            format!("{home}/snapshots/restore"),
        ),
        "delete" if !name.is_empty() => (
            bi("スナップショットを削除しますか？", "Delete this snapshot?"),
            format!("Snapshot {name:?} is deleted for good."),
            format!("{home}/snapshots/delete"),
        ),
        _ => {
            return problem_page(&signed, StatusCode::BAD_REQUEST, "Nothing to confirm", "Unknown action; go back to the overview.", &home);
        }
    };
    page(
        &signed,
        PageInfo {
            title: "Confirm",
            active: "",
        },
        html! {
            section {
                h1 { (title) }
                p { (what) }
                form method="post" action=(action) {
                    (csrf(&signed))
                    input type="hidden" name="name" value=(name);
                    button.primary.danger #confirm type="submit" { (bi("はい、実行します", "Yes, do it")) }
                    a.button href=(home) { (bi("やめる", "Cancel")) }
                }
            }
        },
    )
}

#[derive(Deserialize)]
pub struct Named {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

fn lifecycle_answer(signed: &Signed, done: Result<String, lifecycle::LifecycleError>, what: &str) -> Response {
    let home = signed.home();
    match done {
        Ok(message) => {
            signed.flash(true, message);
            see_other(&format!("{home}#snapshots"))
        }
        Err(e) => {
            let status = match e {
                lifecycle::LifecycleError::NotFound(_) | lifecycle::LifecycleError::SnapshotNotFound(_) => {
                    StatusCode::NOT_FOUND
                }
                lifecycle::LifecycleError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
                lifecycle::LifecycleError::LimitReached(_)
                | lifecycle::LifecycleError::QuotaExceeded(_)
                | lifecycle::LifecycleError::Conflict(_) => StatusCode::CONFLICT,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            problem_page(signed, status, what, &e.to_string(), &home)
        }
    }
}

pub async fn reset(signed: Signed, PageForm(f): PageForm<Named>) -> Response {
    if let Err(res) = signed.check_csrf(&f.csrf) {
        return res;
    }
    let done = lifecycle::reset(&signed.server, &signed.sandbox.id).await.map(|s| {
        format!(
            "The sandbox was reset; the clock is at {}.",
            crate::clock::format_jst(s.clock.now())
        )
    });
    lifecycle_answer(&signed, done, "The sandbox was not reset")
}

pub async fn take_snapshot(signed: Signed, PageForm(f): PageForm<Named>) -> Response {
    if let Err(res) = signed.check_csrf(&f.csrf) {
        return res;
    }
    let done = lifecycle::snapshot(&signed.server, &signed.sandbox.id, f.name.trim())
        .await
        .map(|s| format!("Snapshot {:?} was taken.", s.name));
    lifecycle_answer(&signed, done, "No snapshot was taken")
}

pub async fn restore(signed: Signed, PageForm(f): PageForm<Named>) -> Response {
    if let Err(res) = signed.check_csrf(&f.csrf) {
        return res;
    }
    let done = lifecycle::restore(&signed.server, &signed.sandbox.id, &f.name)
        .await
        .map(|_| format!("Snapshot {:?} was restored.", f.name));
    lifecycle_answer(&signed, done, "The snapshot was not restored")
}

pub async fn delete_snapshot(signed: Signed, PageForm(f): PageForm<Named>) -> Response {
    if let Err(res) = signed.check_csrf(&f.csrf) {
        return res;
    }
    let done = lifecycle::delete_snapshot(&signed.server, &signed.sandbox.id, &f.name)
        .await
        .map(|_| format!("Snapshot {:?} was deleted.", f.name));
    lifecycle_answer(&signed, done, "The snapshot was not deleted")
}
