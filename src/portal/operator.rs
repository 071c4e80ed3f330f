//! The operator's portal: every sandbox of the server with its scenario, size, use and expiry;
//! create one from the catalogue or from YAML (its admin key shown once, with its portal's
//! link), set its storage quota, reset and delete it (deletion asks to be sure); the
//! server's totals on top.

use super::PageForm;
use super::session::OperatorSigned;
use super::view::{PageInfo, after, bi, copyable, csrf, page, problem_page};
use crate::services::lifecycle::{self, NewSandbox};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;

pub async fn home(OperatorSigned(signed): OperatorSigned) -> Response {
    let home = signed.home();
    let list = lifecycle::list(&signed.server, false).unwrap_or_default();
    let requests: u64 = list.iter().map(|s| s.requests).sum();
    let stored: u64 = list.iter().map(|s| s.storage.live + s.storage.snapshots).sum();
    let quarantined = list.iter().filter(|s| s.quarantined.is_some()).count();
    let body = html! {
        h1 { (bi("サンドボックス", "Sandboxes")) }
        section #summary {
            dl.facts {
                dt { (bi("サンドボックス数", "Sandboxes")) } dd { (list.len()) " of at most " (signed.server.config.limits.max_sandboxes) }
                dt { (bi("リクエスト合計", "Requests served")) } dd { (requests) }
                dt { (bi("保存容量", "Stored")) } dd { (stored / 1024) " KiB" }
                dt { (bi("隔離中", "Quarantined")) } dd { (quarantined) }
            }
            p.en { "Per-process metrics (Prometheus) are at /metrics with the operator key." }
        }
        section {
            div.wide {
                table.stack #sandbox-list {
                    thead { tr { th { "Id" } th { (bi("シナリオ", "Scenario")) } th { (bi("顧客・口座", "Customers · accounts")) } th { (bi("リクエスト", "Requests")) } th { (bi("最終利用", "Last used")) } th { (bi("期限", "Expires")) } th { (bi("容量", "Storage")) } th {} } }
                    tbody {
                        @for s in &list {
                            tr {
                                td { a href={ (s.base_url) "/portal" } { code { (s.record.id) } } }
                                td { (s.record.scenario_name) }
                                td.num { (s.record.customers) " · " (s.record.accounts) }
                                td.num { (s.requests) }
                                td { (lifecycle::jst_of_secs(s.last_used)) }
                                td { (s.expires_at.map(lifecycle::jst_of_secs).unwrap_or_else(|| "—".into())) }
                                td.num { ((s.storage.live + s.storage.snapshots) / 1024) " KiB" @if let Some(q) = s.storage.quota { " / " (q / (1024 * 1024)) " MiB" } }
                                td {
                                    @if s.quarantined.is_some() { span.error { "quarantined" } br; }
                                    form.inline method="post" action={ (home) "/sandboxes/reset" } {
                                        (csrf(&signed))
                                        input type="hidden" name="id" value=(s.record.id);
                                        button.small type="submit" { (bi("リセット", "Reset")) }
                                    }
                                    form.inline method="post" action={ (home) "/sandboxes/quota" } {
                                        (csrf(&signed))
                                        input type="hidden" name="id" value=(s.record.id);
                                        label.choice { (bi("容量上限MiB", "Quota MiB")) " " input type="number" name="quota" min="0" value=[s.storage.quota.map(|q| q / (1024 * 1024))] class="narrow"; }
                                        button.small type="submit" { (bi("設定", "Set")) }
                                    }
                                    @if s.record.id != crate::sandbox::DEFAULT_SANDBOX {
                                        form.inline method="post" action={ (home) "/sandboxes/delete" } {
                                            (csrf(&signed))
                                            input type="hidden" name="id" value=(s.record.id);
                                            label.choice { input type="checkbox" name="sure" value="yes" required; " " (bi("確認", "sure")) }
                                            button.small.danger type="submit" { (bi("削除", "Delete")) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section #create {
            h2 { (bi("サンドボックスを作る", "Create a sandbox")) }
            form method="post" action={ (home) "/sandboxes" } {
                (csrf(&signed))
                label for="scenario" { (bi("シナリオ", "Scenario")) }
                select #scenario name="scenario" {
                    @for (name, _) in crate::scenario::CATALOGUE { option value=(name) { (name) } }
                }
                label for="yaml" { (bi("またはシナリオYAML", "…or scenario YAML (used when given)")) }
                textarea #yaml name="yaml" {}
                button.primary type="submit" { (bi("作成", "Create")) }
            }
        }
    };
    page(
        &signed,
        PageInfo {
            title: "Sandboxes",
            active: "-",
        },
        body,
    )
}

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    scenario: String,
    #[serde(default)]
    yaml: String,
}

/// What a new sandbox is made from, as a form gives it.
pub fn new_sandbox(scenario: &str, yaml: &str) -> NewSandbox {
    if yaml.trim().is_empty() {
        NewSandbox::Catalogue(scenario.trim().to_owned())
    } else {
        NewSandbox::Yaml(yaml.to_owned())
    }
}

/// A new sandbox's id, base URL and admin key (shown once).
pub fn credentials(created: &lifecycle::Credentials) -> maud::Markup {
    html! {
        dl.facts {
            dt { "Id" } dd { code #new-id { (created.id) } }
            dt { (bi("ベースURL", "Base URL")) } dd { (copyable("new-base", &created.base_url)) }
            dt { (bi("管理キー", "Admin key")) } dd { (copyable("new-admin-key", &created.admin_key)) }
        }
    }
}

/// The page that shows a new sandbox's admin key, once.
pub fn created_page(signed: &super::session::Signed, created: &lifecycle::Credentials) -> Response {
    page(
        signed,
        PageInfo {
            title: "Sandbox created",
            active: "-",
        },
        html! {
            section #created {
                h1 { (bi("サンドボックスを作りました", "Sandbox created")) }
                p.note { (bi("管理キーはこの一度だけ表示されます。控えてください。", "The admin key is shown this once: keep it now.")) }
                (credentials(created))
                dl.facts {
                    dt { (bi("ポータル", "Portal")) } dd { a #new-portal href={ (created.base_url) "/portal/sign-in" } { (created.base_url) "/portal" } }
                }
            }
        },
    )
}

pub async fn create(OperatorSigned(signed): OperatorSigned, PageForm(f): PageForm<CreateForm>) -> Response {
    if let Err(res) = signed.check_csrf(&f.csrf) {
        return res;
    }
    let back = format!("{}#create", signed.home());
    match lifecycle::create(
        &signed.server,
        new_sandbox(&f.scenario, &f.yaml),
        &crate::http::faults::faultable_operation,
    )
    .await
    {
        Ok((created, _)) => created_page(&signed, &created),
        Err(e) => problem_page(
            &signed,
            StatusCode::UNPROCESSABLE_ENTITY,
            "No sandbox was created",
            &e.to_string(),
            &back,
        ),
    }
}

#[derive(Deserialize)]
pub struct IdForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    sure: String,
    #[serde(default)]
    quota: String,
}

/// Sets a sandbox's storage quota (MiB; 0 for none, empty for the server's default).
pub async fn set_quota(OperatorSigned(signed): OperatorSigned, PageForm(f): PageForm<IdForm>) -> Response {
    if let Err(res) = signed.check_csrf(&f.csrf) {
        return res;
    }
    let home = signed.home();
    let mb = match f.quota.trim() {
        "" => None,
        q => match q.parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => {
                return problem_page(
                    &signed,
                    StatusCode::BAD_REQUEST,
                    "The quota was not set",
                    &format!("{q:?} is not a number of MiB (0 for none)."),
                    &home,
                );
            }
        },
    };
    let done = lifecycle::set_storage_quota(&signed.server, &f.id, mb)
        .await
        .map(|()| format!("The storage quota of {} was set.", f.id));
    after(
        &signed,
        done,
        StatusCode::UNPROCESSABLE_ENTITY,
        "The quota was not set",
        &home,
    )
}

pub async fn delete(OperatorSigned(signed): OperatorSigned, PageForm(f): PageForm<IdForm>) -> Response {
    if let Err(res) = signed.check_csrf(&f.csrf) {
        return res;
    }
    let home = signed.home();
    if f.sure != "yes" {
        return problem_page(
            &signed,
            StatusCode::BAD_REQUEST,
            "Nothing was deleted",
            "Tick \"sure\" to delete a sandbox.",
            &home,
        );
    }
    let done = lifecycle::delete(&signed.server, &f.id)
        .await
        .map(|()| format!("Sandbox {} was deleted.", f.id));
    after(&signed, done, StatusCode::CONFLICT, "Nothing was deleted", &home)
}

pub async fn reset(OperatorSigned(signed): OperatorSigned, PageForm(f): PageForm<IdForm>) -> Response {
    if let Err(res) = signed.check_csrf(&f.csrf) {
        return res;
    }
    let home = signed.home();
    let done = lifecycle::reset(&signed.server, &f.id)
        .await
        .map(|_| format!("Sandbox {} was reset.", f.id));
    after(&signed, done, StatusCode::CONFLICT, "Nothing was reset", &home)
}
