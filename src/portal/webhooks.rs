//! Webhooks: every client's endpoints (secret revealed on click, delivery faults, a test event,
//! recovery of what was not delivered since a time), the messages with their status (all, or
//! only the undelivered), and each message's attempts with a button to deliver it again.

use super::PageForm;
use super::session::Signed;
use super::view::{PageInfo, bi, csrf, page, problem_page, revealable, see_other};
use crate::domain::webhook::DeliveryFault;
use crate::webhooks::{self, NewEndpoint, WebhookError};
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;

/// Messages per page.
const PAGE: usize = 100;

#[derive(Deserialize, Default)]
pub struct MessagesQuery {
    #[serde(default)]
    undelivered: Option<String>,
    #[serde(default)]
    after: u64,
}

fn webhook_problem(signed: &Signed, what: &str, e: WebhookError, back: &str) -> Response {
    let status = match e {
        WebhookError::NoEndpoint(_) => StatusCode::NOT_FOUND,
        WebhookError::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
        WebhookError::TooMany(_) => StatusCode::CONFLICT,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    problem_page(signed, status, what, &e.to_string(), back)
}

pub async fn webhooks_page(signed: Signed, Query(q): Query<MessagesQuery>) -> Response {
    let home = signed.home();
    let sandbox = &signed.sandbox;
    let endpoints = sandbox.webhooks.endpoints();
    let undelivered = q.undelivered.is_some();
    let (messages, more) = match sandbox
        .store
        .deliveries(q.after, PAGE, |d| !undelivered || d.status.undelivered())
    {
        Ok(found) => found,
        Err(e) => {
            return problem_page(
                &signed,
                StatusCode::SERVICE_UNAVAILABLE,
                "Webhooks",
                &e.to_string(),
                &home,
            );
        }
    };
    let clients = sandbox.store.clients().unwrap_or_default();
    let body = html! {
        h1 { (bi("Webhook", "Webhooks")) }
        section #endpoints {
            h2 { (bi("エンドポイント", "Endpoints")) }
            @if endpoints.is_empty() { p #no-endpoints { (bi("まだありません。", "None yet.")) } }
            @for e in &endpoints {
                div.card id={ "endpoint-" (e.id) } {
                    h3 { code { (e.id) } " · " (e.client_id) " · " (if e.enabled { "enabled" } else { "disabled" }) }
                    dl.facts {
                        dt { "URL" } dd { code { (e.url) } }
                        dt { (bi("イベント種別", "Event types")) } dd { @if e.event_types.is_empty() { "all" } @else { (e.event_types.join(", ")) } }
                        @if let Some(why) = &e.disabled_reason { dt { (bi("停止理由", "Disabled because")) } dd.error { (why) } }
                        dt { (bi("署名シークレット", "Signing secret")) } dd { (revealable(&format!("whsec-{}", e.id), &e.secret)) }
                    }
                    form.inline method="post" action={ (home) "/webhooks/test" } {
                        (csrf(&signed))
                        input type="hidden" name="endpoint_id" value=(e.id);
                        button.small type="submit" { (bi("テストイベントを送る", "Send a test event")) }
                    }
                    form.inline method="post" action={ (home) "/webhooks/recover" } {
                        (csrf(&signed))
                        input type="hidden" name="endpoint_id" value=(e.id);
                        label.choice { (bi("この時刻以降の未配信を再送", "Resend what failed since")) " "
                            input type="datetime-local" name="since" required; }
                        button.small type="submit" { (bi("復旧", "Recover")) }
                    }
                    form method="post" action={ (home) "/webhooks/faults" } {
                        (csrf(&signed))
                        input type="hidden" name="endpoint_id" value=(e.id);
                        label for={ "faults-" (e.id) } { (bi("配信障害", "Delivery faults")) " " span.en { "(JSON list, as PUT …/webhooks/endpoints/{id}/faults takes it; [] for none)" } }
                        textarea id={ "faults-" (e.id) } name="faults" { (serde_json::to_string(&e.faults).unwrap_or_default()) }
                        button.small type="submit" { (bi("保存", "Save")) }
                    }
                }
            }
            h3 { (bi("エンドポイントを作る", "Add an endpoint")) }
            form method="post" action={ (home) "/webhooks/endpoints" } {
                (csrf(&signed))
                label for="wh-client" { "Client" }
                select #wh-client name="client_id" { @for c in &clients { option value=(c.client_id) { (c.client_id) } } }
                label for="wh-url" { "URL" }
                input #wh-url type="url" name="url" required placeholder="http://127.0.0.1:4242/webhook";
                label for="wh-types" { (bi("イベント種別（カンマ区切り、空ならすべて）", "Event types (comma-separated; empty for all)")) }
                input #wh-types type="text" name="event_types" placeholder="transfer.completed, account.credited";
                button.primary type="submit" { (bi("作成", "Add")) }
            }
        }
        section #messages {
            h2 { (bi("メッセージ", "Messages")) }
            p {
                a.button.small href={ (home) "/webhooks#messages" } aria-current=[(!undelivered).then_some("page")] { (bi("すべて", "All")) }
                a.button.small href={ (home) "/webhooks?undelivered=1#messages" } aria-current=[undelivered.then_some("page")] { (bi("未配信", "Undelivered")) }
            }
            div.wide {
                table.stack #message-list {
                    thead { tr { th { "Message" } th { "Type" } th { "Endpoint" } th { "Status" } th { (bi("試行", "Attempts")) } } }
                    tbody {
                        @for d in &messages {
                            @let id = sandbox.webhooks.message_id(d.seq);
                            tr {
                                td { a href={ (home) "/webhooks/messages/" (id) } { code { (id) } } }
                                td { code { (d.event_type) } }
                                td { code { (d.endpoint_id) } }
                                td class=(if d.status.undelivered() { "error" } else { "ok" }) { (d.status.as_str()) }
                                td.num { (d.attempts) }
                            }
                        }
                    }
                }
            }
            @if messages.is_empty() { p { (bi("メッセージはありません。", "No messages.")) } }
            @if more {
                @if let Some(last) = messages.last() {
                    p { a.button href={ (home) "/webhooks?after=" (last.seq) @if undelivered { "&undelivered=1" } "#messages" } { (bi("次へ", "Next")) } }
                }
            }
        }
    };
    page(
        &signed,
        PageInfo {
            title: "Webhooks",
            active: "/webhooks",
        },
        body,
    )
}

/// One message: its deliveries and every attempt, with redelivery.
pub async fn message(signed: Signed, Path(id): Path<String>) -> Response {
    let home = signed.home();
    let back = format!("{home}/webhooks#messages");
    let sandbox = &signed.sandbox;
    let Some(seq) = sandbox.webhooks.message_seq(&id) else {
        return problem_page(
            &signed,
            StatusCode::NOT_FOUND,
            "No such message",
            &format!("There is no webhook message {id:?} here."),
            &back,
        );
    };
    let deliveries = sandbox.store.deliveries_of(seq).unwrap_or_default();
    let body = html! {
        h1 { (bi("メッセージ", "Message")) " " code { (id) } }
        @for d in &deliveries {
            section {
                h2 { "→ " code { (d.endpoint_id) } " · " (d.status.as_str()) }
                div.wide {
                    table.stack {
                        thead { tr { th { "#" } th { (bi("時刻", "At")) } th { "HTTP" } th { (bi("所要", "Latency")) } th { (bi("応答・エラー", "Answer / error")) } th { (bi("次回", "Next")) } } }
                        tbody {
                            @for a in sandbox.store.attempts(seq, &d.endpoint_id).unwrap_or_default() {
                                tr {
                                    td { (a.n) }
                                    td { (crate::clock::format_jst(a.at)) }
                                    td class=(if a.succeeded { "ok" } else { "error" }) { (a.status.map(|s| s.to_string()).unwrap_or_else(|| "—".into())) }
                                    td.num { (a.latency_ms) " ms" }
                                    td { code { (a.error.clone().unwrap_or(a.response.clone())) } @if let Some(f) = &a.fault { br; "fault: " (f) } }
                                    td { (a.next_attempt_at.map(crate::clock::format_jst).unwrap_or_default()) }
                                }
                            }
                        }
                    }
                }
                form method="post" action={ (home) "/webhooks/messages/" (id) "/redeliver" } {
                    (csrf(&signed))
                    input type="hidden" name="endpoint_id" value=(d.endpoint_id);
                    button.primary type="submit" { (bi("再配信", "Deliver again")) }
                }
            }
        }
        p { a href=(back) { (bi("メッセージ一覧へ", "Back to the messages")) } }
    };
    page(
        &signed,
        PageInfo {
            title: "Webhook message",
            active: "/webhooks",
        },
        body,
    )
}

#[derive(Deserialize)]
pub struct EndpointForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    event_types: String,
    #[serde(default)]
    endpoint_id: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    faults: String,
}

pub async fn create_endpoint(signed: Signed, PageForm(f): PageForm<EndpointForm>) -> Response {
    if let Err(res) = signed.check_csrf(&f.csrf) {
        return res;
    }
    let back = format!("{}/webhooks#endpoints", signed.home());
    if !matches!(signed.sandbox.store.client(&f.client_id), Ok(Some(_))) {
        return problem_page(
            &signed,
            StatusCode::NOT_FOUND,
            "No endpoint was added",
            &format!("There is no client {:?}.", f.client_id),
            &back,
        );
    }
    let new = NewEndpoint {
        client_id: f.client_id.clone(),
        url: f.url.trim().to_owned(),
        event_types: f
            .event_types
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect(),
        description: None,
        secret: None,
        enabled: true,
    };
    match webhooks::create(&signed.sandbox, new).await {
        Ok(e) => {
            signed.flash(true, format!("Endpoint {} was added for {}.", e.id, e.client_id));
            see_other(&back)
        }
        Err(e) => webhook_problem(&signed, "No endpoint was added", e, &back),
    }
}

pub async fn send_test(signed: Signed, PageForm(f): PageForm<EndpointForm>) -> Response {
    if let Err(res) = signed.check_csrf(&f.csrf) {
        return res;
    }
    let back = format!("{}/webhooks", signed.home());
    match webhooks::send_test(&signed.sandbox, &f.endpoint_id, Some("sent from the portal".into())).await {
        Ok((message_id, _)) => {
            signed.flash(true, format!("Test event sent as message {message_id}."));
            see_other(&format!("{back}/messages/{message_id}"))
        }
        Err(e) => webhook_problem(&signed, "No test event was sent", e, &back),
    }
}

pub async fn recover(signed: Signed, PageForm(f): PageForm<EndpointForm>) -> Response {
    if let Err(res) = signed.check_csrf(&f.csrf) {
        return res;
    }
    let back = format!("{}/webhooks#endpoints", signed.home());
    let since = match super::form_time("since", &f.since)
        .and_then(|s| s.parse::<jiff::Timestamp>().map_err(|e| e.to_string()))
    {
        Ok(t) => t,
        Err(why) => {
            return problem_page(
                &signed,
                StatusCode::UNPROCESSABLE_ENTITY,
                "Nothing was recovered",
                &why,
                &back,
            );
        }
    };
    match webhooks::recover(&signed.sandbox, None, &f.endpoint_id, since).await {
        Ok(n) => {
            signed.flash(true, format!("{n} undelivered messages were queued again."));
            see_other(&back)
        }
        Err(e) => webhook_problem(&signed, "Nothing was recovered", e, &back),
    }
}

pub async fn set_faults(signed: Signed, PageForm(f): PageForm<EndpointForm>) -> Response {
    if let Err(res) = signed.check_csrf(&f.csrf) {
        return res;
    }
    let back = format!("{}/webhooks#endpoint-{}", signed.home(), f.endpoint_id);
    let faults: Vec<DeliveryFault> =
        match serde_json::from_str(if f.faults.trim().is_empty() { "[]" } else { &f.faults }) {
            Ok(v) => v,
            Err(e) => {
                return problem_page(
                    &signed,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "The faults were not saved",
                    &format!("Not a valid list of delivery faults: {e}"),
                    &back,
                );
            }
        };
    if let Err(e) = webhooks::get(&signed.sandbox, None, &f.endpoint_id) {
        return webhook_problem(&signed, "The faults were not saved", e, &back);
    }
    match webhooks::set_faults(&signed.sandbox, &f.endpoint_id, faults).await {
        Ok(_) => {
            signed.flash(true, "The delivery faults are in force.");
            see_other(&back)
        }
        Err(e) => webhook_problem(&signed, "The faults were not saved", e, &back),
    }
}

pub async fn redeliver(signed: Signed, Path(id): Path<String>, PageForm(f): PageForm<EndpointForm>) -> Response {
    if let Err(res) = signed.check_csrf(&f.csrf) {
        return res;
    }
    let at = format!("{}/webhooks/messages/{id}", signed.home());
    let Some(seq) = signed.sandbox.webhooks.message_seq(&id) else {
        return problem_page(
            &signed,
            StatusCode::NOT_FOUND,
            "Nothing was sent",
            &format!("There is no webhook message {id:?}."),
            &at,
        );
    };
    let endpoint = Some(f.endpoint_id.as_str()).filter(|e| !e.is_empty());
    match webhooks::redeliver(&signed.sandbox, None, seq, endpoint).await {
        Ok(n) => {
            signed.flash(true, format!("Queued again for {n} endpoint(s)."));
            see_other(&at)
        }
        Err(e) => webhook_problem(&signed, "Nothing was sent", e, &at),
    }
}
