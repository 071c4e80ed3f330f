//! The developer portal: server-rendered pages (maud) inside the binary, for every lever of a
//! sandbox without curl — under each sandbox's base URL (`/portal`, `/s/{id}/portal`) and
//! the operator's at `/operator/portal`. A face like `http` and `oauth`: it calls the same
//! services as the API and reads the same stores; its routes are declared like the API's, so
//! the layers (gate, no-store, framing) treat them by their declaration.

// A refusal here is the page answered instead, made once per refused request: not worth a box.
#![allow(clippy::result_large_err)]

pub mod assets;
mod clients;
mod data;
mod events;
pub mod explain;
mod log;
mod operator;
mod overview;
mod rehearse;
pub mod session;
mod signin;
mod signup;
pub mod view;
mod webhooks;

use crate::http::route::{RouteSpec, Routes};
use axum::http::Method;
use axum::routing::{get, post};

/// Every portal route with its declaration.
pub fn router() -> Routes {
    let page = RouteSpec::portal();
    // Reset and restore change the whole sandbox: they close its gate themselves.
    let lifecycle = RouteSpec::portal().lifecycle();
    let operator = RouteSpec::operator_portal();
    let asset = RouteSpec::docs();
    Routes::new()
        .page(asset, "/portal/assets/portal.css", Method::GET, get(assets::stylesheet))
        .page(asset, "/portal/assets/portal.js", Method::GET, get(assets::script))
        .page(page, "/portal", Method::GET, get(overview::overview))
        .page(
            page,
            "/portal/sign-in",
            Method::GET,
            get(signin::form).post(signin::sign_in),
        )
        .declare(page, "/portal/sign-in", Method::POST)
        .page(page, "/portal/sign-out", Method::POST, post(signin::sign_out))
        .page(
            page,
            "/portal/sign-up",
            Method::GET,
            get(signup::signup_form).post(signup::sign_up),
        )
        .declare(page, "/portal/sign-up", Method::POST)
        .page(
            page,
            "/portal/clock/advance",
            Method::POST,
            post(overview::advance_clock),
        )
        .page(page, "/portal/confirm", Method::GET, get(overview::confirm))
        .page(lifecycle, "/portal/reset", Method::POST, post(overview::reset))
        .page(
            lifecycle,
            "/portal/snapshots",
            Method::POST,
            post(overview::take_snapshot),
        )
        .page(
            lifecycle,
            "/portal/snapshots/restore",
            Method::POST,
            post(overview::restore),
        )
        .page(
            lifecycle,
            "/portal/snapshots/delete",
            Method::POST,
            post(overview::delete_snapshot),
        )
        .page(
            page,
            "/portal/clients",
            Method::GET,
            get(clients::list).post(clients::create),
        )
        .declare(page, "/portal/clients", Method::POST)
        .page(
            page,
            "/portal/clients/{client_id}",
            Method::GET,
            get(clients::one).post(clients::edit),
        )
        .declare(page, "/portal/clients/{client_id}", Method::POST)
        .page(
            page,
            "/portal/clients/{client_id}/rotate",
            Method::POST,
            post(clients::rotate),
        )
        .page(
            page,
            "/portal/clients/{client_id}/try",
            Method::POST,
            post(clients::try_it),
        )
        .page(page, "/portal/callback", Method::GET, get(clients::callback))
        .page(page, "/portal/tried", Method::GET, get(clients::tried))
        .page(page, "/portal/users", Method::GET, get(clients::users))
        .page(page, "/portal/log", Method::GET, get(log::log))
        .page(page, "/portal/log/rows", Method::GET, get(log::rows))
        .page(page, "/portal/log/{id}", Method::GET, get(log::entry))
        .page(page, "/portal/events", Method::GET, get(events::events))
        .page(page, "/portal/webhooks", Method::GET, get(webhooks::webhooks_page))
        .page(
            page,
            "/portal/webhooks/endpoints",
            Method::POST,
            post(webhooks::create_endpoint),
        )
        .page(page, "/portal/webhooks/test", Method::POST, post(webhooks::send_test))
        .page(page, "/portal/webhooks/recover", Method::POST, post(webhooks::recover))
        .page(
            page,
            "/portal/webhooks/faults",
            Method::POST,
            post(webhooks::set_faults),
        )
        .page(
            page,
            "/portal/webhooks/messages/{message_id}",
            Method::GET,
            get(webhooks::message),
        )
        .page(
            page,
            "/portal/webhooks/messages/{message_id}/redeliver",
            Method::POST,
            post(webhooks::redeliver),
        )
        .page(page, "/portal/rehearse", Method::GET, get(rehearse::rehearse))
        .page(page, "/portal/rehearse/faults", Method::POST, post(rehearse::add_fault))
        .page(
            page,
            "/portal/rehearse/faults/delete",
            Method::POST,
            post(rehearse::delete_fault),
        )
        .page(page, "/portal/rehearse/stops", Method::POST, post(rehearse::stop))
        .page(
            page,
            "/portal/rehearse/outcomes",
            Method::POST,
            post(rehearse::add_outcome),
        )
        .page(
            page,
            "/portal/rehearse/outcomes/delete",
            Method::POST,
            post(rehearse::delete_outcome),
        )
        .page(
            page,
            "/portal/rehearse/capacity",
            Method::POST,
            post(rehearse::set_capacity),
        )
        .page(
            page,
            "/portal/rehearse/maintenance",
            Method::POST,
            post(rehearse::announce),
        )
        .page(
            page,
            "/portal/rehearse/maintenance/cancel",
            Method::POST,
            post(rehearse::cancel_window),
        )
        .page(page, "/portal/data", Method::GET, get(data::data))
        .page(
            page,
            "/portal/data/accounts/{account_id}",
            Method::GET,
            get(data::account),
        )
        .page(operator, "/operator/portal", Method::GET, get(operator::home))
        .page(
            operator,
            "/operator/portal/sign-in",
            Method::GET,
            get(signin::operator_form).post(signin::operator_sign_in),
        )
        .declare(operator, "/operator/portal/sign-in", Method::POST)
        .page(
            operator,
            "/operator/portal/sign-out",
            Method::POST,
            post(signin::operator_sign_out),
        )
        .page(
            operator,
            "/operator/portal/sandboxes",
            Method::POST,
            post(operator::create),
        )
        .page(
            operator,
            "/operator/portal/sandboxes/delete",
            Method::POST,
            post(operator::delete),
        )
        .page(
            operator,
            "/operator/portal/sandboxes/reset",
            Method::POST,
            post(operator::reset),
        )
        .page(
            operator,
            "/operator/portal/sandboxes/quota",
            Method::POST,
            post(operator::set_quota),
        )
        .page(
            operator,
            "/operator/portal/assets/portal.css",
            Method::GET,
            get(assets::stylesheet),
        )
        .page(
            operator,
            "/operator/portal/assets/portal.js",
            Method::GET,
            get(assets::script),
        )
}

/// A form body, or a page saying it could not be read (never axum's plain-text rejection).
pub struct PageForm<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for PageForm<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = axum::response::Response;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let sandbox = req.extensions().get::<crate::sandbox::Sandbox>().cloned();
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(t)) => Ok(PageForm(t)),
            Err(e) => {
                let body = maud::html! {
                    h1 { (view::bi("フォームを読めません", "The form could not be read")) }
                    p.error role="alert" { (e.body_text()) ". Nothing was changed: go back, reload the page and try again." }
                };
                Err(match sandbox {
                    Some(s) => view::public_page(
                        &s,
                        &s.path("/portal"),
                        axum::http::StatusCode::BAD_REQUEST,
                        "Form refused",
                        body,
                    ),
                    None => view::answer(axum::http::StatusCode::BAD_REQUEST, body.into_string()),
                })
            }
        }
    }
}

/// A time from a `datetime-local` field (Japan time) as RFC 3339, or what is wrong with it.
pub fn form_time(name: &str, v: &str) -> Result<String, String> {
    let v = v.trim();
    if let Ok(t) = v.parse::<jiff::Timestamp>() {
        return Ok(crate::clock::format_jst(t));
    }
    v.parse::<jiff::civil::DateTime>()
        .ok()
        .and_then(|dt| dt.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(9))).ok())
        .map(|z| crate::clock::format_jst(z.timestamp()))
        .ok_or_else(|| format!("{name}: {v:?} is not a time; give e.g. 2026-12-01T02:00 (Japan time)"))
}
