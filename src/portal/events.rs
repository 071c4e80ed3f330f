//! Events: the sandbox's outbox — every event its webhooks deliver — newest last, with its data.

use super::session::Signed;
use super::view::{PageInfo, bi, page, problem_page};
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct EventsQuery {
    #[serde(default)]
    after: u64,
}

pub async fn events(signed: Signed, Query(q): Query<EventsQuery>) -> Response {
    let home = signed.home();
    let list = match signed.sandbox.store.events_after(q.after, 100) {
        Ok(l) => l,
        Err(e) => {
            return problem_page(
                &signed,
                StatusCode::SERVICE_UNAVAILABLE,
                "Events",
                &e.to_string(),
                &home,
            );
        }
    };
    let body = html! {
        h1 { (bi("イベント", "Events")) }
        p { (bi("Webhookで配信されるイベント（発生順）。", "The events webhooks deliver, in the order they happened.")) " " span.en { "Endpoints, attempts and redelivery: the client webhook API (see Swagger UI)." } }
        section {
            div.wide {
                table.stack #event-list {
                    thead { tr { th { "Id" } th { "Type" } th { (bi("発生", "Occurred")) } th { "Data" } } }
                    tbody {
                        @for e in &list {
                            tr {
                                td { code { (e.id()) } }
                                td { code { (e.kind.name()) } }
                                td { (e.occurred_at) }
                                td { code { (e.kind.data().to_string()) } }
                            }
                        }
                    }
                }
            }
            @if list.is_empty() { p { (bi("イベントはありません。", "No events.")) } }
            @if let Some(last) = list.last() {
                @if list.len() == 100 {
                    p { a.button href={ (home) "/events?after=" (last.seq) } { (bi("次へ", "Next")) } }
                }
            }
        }
    };
    page(
        &signed,
        PageInfo {
            title: "Events",
            active: "/events",
        },
        body,
    )
}
