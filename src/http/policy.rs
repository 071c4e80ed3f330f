//! The policy layer: one layer between the access log and idempotency that asks, in order,
//! the kill switch (a stopped bank, client or user), the maintenance windows, the capacity
//! policies (rates, quotas, concurrency, peak days) and the fault rules what to do with an API
//! request. Each check is a function of the request's facts and the sandbox clock's `now`;
//! when a sandbox has none of them the request costs three atomic loads here.
//!
//! Because it sits outside idempotency, no answer it makes is ever stored as an idempotent
//! answer. Answers use the API's problem documents, the RFC 6749 shape on the token endpoint,
//! and an HTML page on the authorization pages.

use super::faults::{self, client_credentials_of_token_request};
use super::response::{oauth_answer, retry_after};
use super::route::{Answers, Charged, RouteSpec};
use crate::domain::fault::RequestKind;
use crate::http::error::{Problem, problem_of};
use crate::http::identity::Identity;
use crate::sandbox::Sandbox;
use crate::sandbox::capacity::{Limited, RateLimitFields};
use crate::sandbox::controls::Refusal;
use crate::sandbox::maintenance::InWindow;
use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};

/// Largest token-request body read to find its client.
const MAX_PEEK: usize = 64 * 1024;

/// Runs the checks in order, then the rest of the request (`next`) if none answers.
pub async fn policy<P, F>(sandbox: &Sandbox, route: &str, spec: &RouteSpec, req: Request, next: P) -> Response
where
    P: FnOnce(Request) -> F,
    F: Future<Output = Response>,
{
    let Some(kind) = spec.kind else {
        return next(req).await;
    };
    // A sandbox over its storage quota takes no more writes that grow it (one flag, set by
    // the last measurement).
    if kind == RequestKind::Update && sandbox.storage_use.is_over() {
        return over_quota(sandbox);
    }
    if !sandbox.controls.active() && !sandbox.maintenance.active() && !sandbox.capacity.active() {
        return faults::faults(sandbox, route, kind, req, next).await;
    }
    let now = sandbox.clock.now();
    let principal = match req.extensions().get::<Identity>() {
        Some(Identity::User(p)) => Some(p.clone()),
        _ => None,
    };
    let client = principal.as_ref().map(|p| p.client_id.as_str());
    let user = principal.as_ref().map(|p| p.user_id.as_str());
    // Public information (the calendar, the maintenance notices) stays up through stops and
    // maintenance: it is how connecting companies learn about them.
    let public = spec.always_up;
    // 1. The kill switch.
    if !public && let Some(refusal) = sandbox.controls.refusal(client, user, kind) {
        crate::metrics::metrics().stopped(&sandbox.id, refusal.target);
        return stopped(sandbox, &refusal, spec.answers);
    }
    // 2. Maintenance.
    if !public && let Some(window) = sandbox.maintenance.stopping(kind, req.method().as_str(), route, now) {
        crate::metrics::metrics().in_maintenance(&sandbox.id, &window.id);
        return in_maintenance(sandbox, &window, spec.answers, now);
    }
    // 3. Capacity. The token endpoint's client is in its credentials, read only when a
    // client policy counts token requests.
    let (req, token_client) = if kind == RequestKind::Token && client.is_none() && sandbox.capacity.counts_tokens() {
        let (parts, body) = req.into_parts();
        let Ok(bytes) = to_bytes(body, MAX_PEEK).await else {
            return problem_of(Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "a token request is a short form; this body is over 64 KiB",
            ));
        };
        let req = Request::from_parts(parts, Body::from(bytes.clone()));
        // Only a client that authenticates is charged: a stranger who knows a client id
        // (they are public) must not spend its budget with wrong secrets.
        let client = (req.method() == Method::POST)
            .then(|| client_credentials_of_token_request(&req, &bytes))
            .flatten()
            .filter(|(id, secret)| {
                secret
                    .as_deref()
                    .is_some_and(|s| crate::services::consent::authenticate_client(sandbox, id, s).is_ok())
            })
            .map(|(id, _)| id);
        (req, client)
    } else {
        (req, None)
    };
    let client = client.or(token_client.as_deref());
    // Of the authorization server's pages, capacity counts the authorization request (charged
    // to the client it names) and userinfo; login, consent, discovery and keys are not counted.
    let authorize_client;
    let client = match (kind, spec.charged) {
        (RequestKind::Auth, Charged::QueryClient) => {
            authorize_client = req.uri().query().and_then(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "client_id")
                    .map(|(_, v)| v.into_owned())
            });
            authorize_client.as_deref()
        }
        (RequestKind::Auth, Charged::Caller) => client,
        (RequestKind::Auth, Charged::Nobody) => return faults::faults(sandbox, route, kind, req, next).await,
        _ => client,
    };
    let mut admission = match sandbox.capacity.admit(client, kind, now) {
        Ok(a) => a,
        Err(limited) => {
            crate::metrics::metrics().rate_limited(&sandbox.id, client, &limited.limit);
            return rate_limited(sandbox, limited, spec.answers);
        }
    };
    if admission.latency > jiff::SignedDuration::ZERO {
        tokio::time::sleep(admission.latency.unsigned_abs()).await;
    }
    // 4. Faults, and the operation itself.
    let mut res = faults::faults(sandbox, route, kind, req, next).await;
    rate_limit_fields(res.headers_mut(), admission.fields.take());
    drop(admission);
    res
}

/// 409 for a write while the sandbox is over its storage quota.
fn over_quota(sandbox: &Sandbox) -> Response {
    let detail = crate::services::quota::exceeded_detail(&sandbox.id, sandbox.storage_use.report(), None);
    crate::http::error::ApiError::new(StatusCode::CONFLICT, "storage_quota_exceeded", detail).into_response()
}

/// `RateLimit-Policy` and `RateLimit` (IETF draft) for the limits that counted a request.
fn rate_limit_fields(headers: &mut HeaderMap, fields: Option<RateLimitFields>) {
    let Some(fields) = fields else { return };
    // The names are checked to be plain ASCII, so both are valid header values.
    if let Ok(v) = HeaderValue::from_maybe_shared(axum::body::Bytes::from(fields.policy)) {
        headers.insert(super::names::RATELIMIT_POLICY.clone(), v);
    }
    if let Ok(v) = HeaderValue::from_maybe_shared(axum::body::Bytes::from(fields.state)) {
        headers.insert(super::names::RATELIMIT.clone(), v);
    }
}

/// An answer in the shape of the endpoint.
fn answer(sandbox: &Sandbox, shape: Answers, problem: Problem, oauth_error: &str) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    match shape {
        Answers::OAuth => oauth_answer(status, oauth_error, &problem.detail),
        Answers::Page => (
            status,
            Html(crate::http::pages::error(
                &sandbox.scenario.scenario.bank.name,
                &problem.detail,
            )),
        )
            .into_response(),
        Answers::Problem => problem_of(problem),
    }
}

fn stopped(sandbox: &Sandbox, refusal: &Refusal, shape: Answers) -> Response {
    let what = match refusal.stop.scope {
        crate::sandbox::controls::StopScope::All => "all API calls",
        crate::sandbox::controls::StopScope::Update => "update calls",
    };
    let (status, code, detail) = match refusal.target {
        "bank" => (
            StatusCode::SERVICE_UNAVAILABLE,
            "service_stopped",
            format!(
                "the bank has stopped {what} of every connecting company: {}",
                refusal.stop.reason
            ),
        ),
        "client" => (
            StatusCode::FORBIDDEN,
            "client_suspended",
            format!(
                "the bank has suspended {what} of this connecting company: {}",
                refusal.stop.reason
            ),
        ),
        _ => (
            StatusCode::FORBIDDEN,
            "user_suspended",
            format!("the bank has stopped {what} for this customer: {}", refusal.stop.reason),
        ),
    };
    let oauth_error = if status == StatusCode::FORBIDDEN {
        "unauthorized_client"
    } else {
        "temporarily_unavailable"
    };
    answer(sandbox, shape, Problem::new(status, code, &detail), oauth_error)
}

fn in_maintenance(sandbox: &Sandbox, w: &InWindow, shape: Answers, now: jiff::Timestamp) -> Response {
    let end = crate::clock::format_jst(w.occurrence.end);
    let about = w.description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default();
    let detail = format!(
        "the bank is in planned maintenance {:?}{about} from {} until {end}; retry after it ends (see GET /public/v1/maintenance)",
        w.id,
        crate::clock::format_jst(w.occurrence.start),
    );
    let mut problem = Problem::new(StatusCode::SERVICE_UNAVAILABLE, "maintenance", &detail);
    problem.maintenance_window = Some(w.id.clone());
    let mut res = answer(sandbox, shape, problem, "temporarily_unavailable");
    let left = w.occurrence.end.duration_since(now).as_secs_f64().ceil().max(1.0) as u64;
    retry_after(res.headers_mut(), left);
    res
}

fn rate_limited(sandbox: &Sandbox, l: Limited, shape: Answers) -> Response {
    let mut problem = Problem::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", &l.detail);
    problem.limit = Some(l.limit.to_string());
    let mut res = answer(sandbox, shape, problem, "rate_limited");
    retry_after(res.headers_mut(), l.retry_after);
    rate_limit_fields(res.headers_mut(), Some(l.fields));
    res
}
