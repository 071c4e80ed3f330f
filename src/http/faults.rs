//! Fault injection, the last check of the policy layer (`http::policy`): it asks the sandbox's fault rules
//! (or a one-shot `Sandbank-Simulate` header) what to do with an API request, and does it —
//! answer an error without running the operation, delay it, hold it and hang up, reset the
//! connection, run it and hide the answer, end the caller's token, or refuse an update with a
//! bank error. The control plane, the operator API, docs and probes are never faulted.
//!
//! Because it sits outside idempotency, an answer it makes is never stored as an idempotent
//! answer, and an ambiguous fault hides the real answer only after idempotency stored it (or
//! the transfer recorded its key), so a retry with the same key gets the real answer.

use crate::domain::fault::{Effect, RequestFacts, RequestKind};
use crate::http::connection::Connection;
use crate::http::error::{ApiError, problem_answer};
use crate::http::extract::bearer_token;
use crate::http::identity::Identity;
use crate::sandbox::Sandbox;
use crate::sandbox::faults::{Decision, SIMULATE_RULE_ID};
use crate::services::grants::{SessionEnd, end_session};
use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The response header naming the rule that made (or changed) the answer.
pub const FAULT_HEADER: &str = "sandbank-fault";
/// Largest body read to find a `client_id` or an `accountId` for matching.
const MAX_PEEK: usize = 1 << 20;

/// Put on a response a fault made or changed: the rule's id, for the access log.
#[derive(Clone, Debug)]
pub struct FaultApplied(pub Arc<str>);

/// Whether `op` ("METHOD /route") is an operation of the API that fault rules can match.
pub fn faultable_operation(op: &str) -> bool {
    super::route_table().faultable(op)
}

/// `client_id` from HTTP basic auth or a form body.
pub fn client_of_token_request(req: &Request, body: &[u8]) -> Option<String> {
    client_credentials_of_token_request(req, body).map(|(id, _)| id)
}

/// The client id and secret a token, revocation or introspection request authenticates with:
/// HTTP Basic (the scheme in any case, as the token endpoint reads it: one parser for both)
/// or `client_id` and `client_secret` in the body.
pub fn client_credentials_of_token_request(req: &Request, body: &[u8]) -> Option<(String, Option<String>)> {
    if let Some(basic) = crate::http::extract::basic_credentials(req.headers()) {
        return basic.ok().map(|(id, secret)| (id, Some(secret)));
    }
    let (mut id, mut secret) = (None, None);
    for (k, v) in form_urlencoded::parse(body) {
        match &*k {
            "client_id" => id = Some(v.into_owned()),
            "client_secret" => secret = Some(v.into_owned()),
            _ => {}
        }
    }
    id.map(|id| (id, secret))
}

pub fn query_value(req: &Request, name: &str) -> Option<String> {
    form_urlencoded::parse(req.uri().query()?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Applies the sandbox's fault rules (or a `Sandbank-Simulate` header) to an API request of
/// `kind` on `route`; called by the policy layer after the kill switch, maintenance and
/// capacity let the request through.
pub async fn faults<P, F>(sandbox: &Sandbox, route: &str, kind: RequestKind, req: Request, next: P) -> Response
where
    P: FnOnce(Request) -> F,
    F: Future<Output = Response>,
{
    let simulate = req.headers().get(&super::names::SANDBANK_SIMULATE).cloned();
    if simulate.is_none() && !sandbox.faults.active() {
        return next(req).await;
    }
    let (req, decision) = match simulate {
        Some(value) => match simulated(sandbox, &value, kind, &req) {
            Ok(d) => (req, d),
            Err(e) => return e.into_response(),
        },
        None => match decide(sandbox, route, kind, req).await {
            (req, Some(d)) => (req, d),
            (req, None) => return next(req).await,
        },
    };
    let rule_id = decision.rule_id.clone();
    let mut res = apply(sandbox, decision, kind, req, next).await;
    if sandbox.faults.options.show_rule
        && let Ok(v) = HeaderValue::from_str(&rule_id)
    {
        res.headers_mut().insert(FAULT_HEADER, v);
    }
    res.extensions_mut().insert(FaultApplied(rule_id));
    res
}

/// The one-shot effect a `Sandbank-Simulate` header asks for.
fn simulated(sandbox: &Sandbox, value: &HeaderValue, kind: RequestKind, req: &Request) -> Result<Decision, ApiError> {
    if !sandbox.faults.options.simulate_header {
        return Err(ApiError::bad_request(
            "simulate_header_not_allowed",
            "this sandbox's scenario does not accept the Sandbank-Simulate header (faultSettings.simulateHeader: true turns it on); use a fault rule instead",
        ));
    }
    let effect = value
        .to_str()
        .map_err(|_| "the header is not ASCII".to_owned())
        .and_then(|v| sandbox.faults.simulated(v))
        .map_err(|e| {
            ApiError::bad_request(
                "invalid_simulate_header",
                format!("Sandbank-Simulate: {e}; e.g. \"status=503\", \"ambiguous=504\", \"latency=2s\", \"reset\""),
            )
        })?;
    let needs_user = matches!(effect, Effect::TokenExpired | Effect::TokenRevoked);
    let has_user = matches!(req.extensions().get::<Identity>(), Some(Identity::User(_)));
    if needs_user && !has_user {
        return Err(ApiError::bad_request(
            "invalid_simulate_header",
            "Sandbank-Simulate: tokenExpired and tokenRevoked need a request with a valid access token",
        ));
    }
    if matches!(effect, Effect::BankError(_)) && kind != RequestKind::Update {
        return Err(ApiError::bad_request(
            "invalid_simulate_header",
            "Sandbank-Simulate: bankError refuses update requests (transfers, debits, cancels)",
        ));
    }
    let delay = match effect {
        Effect::Latency { min, .. } => min,
        _ => jiff::SignedDuration::ZERO,
    };
    Ok(Decision {
        rule_id: Arc::from(SIMULATE_RULE_ID),
        effect,
        delay,
    })
}

/// Asks the rules; reads the body first when a rule needs a client id or account id from it.
async fn decide(sandbox: &Sandbox, route: &str, kind: RequestKind, req: Request) -> (Request, Option<Decision>) {
    let wants_body = (kind == RequestKind::Token && req.method() == Method::POST)
        || (sandbox.faults.wants_account() && req.method() == Method::POST && kind == RequestKind::Update);
    let (req, body) = if wants_body {
        let (parts, body) = req.into_parts();
        let bytes = to_bytes(body, MAX_PEEK).await.unwrap_or_default();
        (Request::from_parts(parts, Body::from(bytes.clone())), Some(bytes))
    } else {
        (req, None)
    };
    let user = match req.extensions().get::<Identity>() {
        Some(Identity::User(p)) => Some(&**p),
        _ => None,
    };
    let client_id = match kind {
        RequestKind::Token => body.as_deref().and_then(|b| client_of_token_request(&req, b)),
        RequestKind::Auth => query_value(&req, "client_id"),
        _ => None,
    };
    let account_id = if sandbox.faults.wants_account() {
        query_value(&req, "accountId").or_else(|| {
            body.as_deref()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
                .and_then(|v| v.get("accountId").and_then(|a| a.as_str()).map(str::to_owned))
        })
    } else {
        None
    };
    let facts = RequestFacts {
        method: req.method().as_str(),
        route,
        kind,
        client_id: client_id.as_deref().or(user.map(|p| p.client_id.as_str())),
        user_id: user.map(|p| p.user_id.as_str()),
        account_id: account_id.as_deref(),
    };
    let decision = sandbox.faults.decide(&facts, sandbox.clock.now());
    (req, decision)
}

fn connection(req: &Request) -> Option<Connection> {
    req.extensions().get::<ConnectInfo<Connection>>().map(|c| c.0.clone())
}

/// The answer a connection that is cut would have carried (never sent; the access log
/// records it as status 0, "no answer").
fn no_answer() -> Response {
    let mut res = StatusCode::GATEWAY_TIMEOUT.into_response();
    res.extensions_mut().insert(NoAnswer);
    res
}

/// Marks an answer that was never sent (the connection was cut).
#[derive(Clone, Copy, Debug)]
pub struct NoAnswer;

async fn sleep(d: jiff::SignedDuration) {
    if d > jiff::SignedDuration::ZERO {
        tokio::time::sleep(d.unsigned_abs()).await;
    }
}

// Long on purpose: one arm per fault effect, each the answer that effect makes.
async fn apply<P, F>(sandbox: &Sandbox, decision: Decision, kind: RequestKind, req: Request, next: P) -> Response
where
    P: FnOnce(Request) -> F,
    F: Future<Output = Response>,
{
    match decision.effect {
        Effect::Status {
            status,
            retry_after,
            code,
            detail,
        } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let mut res = if kind == RequestKind::Token {
                // The token endpoint answers in the RFC 6749 §5.2 shape.
                super::response::oauth_answer(status, &code, &detail)
            } else {
                problem_answer(status, &code, &detail)
            };
            if let Some(secs) = retry_after
                && let Ok(v) = HeaderValue::from_str(&secs.to_string())
            {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
            res
        }
        Effect::Latency { .. } => {
            sleep(decision.delay).await;
            next(req).await
        }
        Effect::Timeout(hold) => {
            let conn = connection(&req);
            drop(req);
            sleep(hold).await;
            match conn {
                Some(c) => {
                    c.close();
                    no_answer()
                }
                None => problem_answer(
                    StatusCode::GATEWAY_TIMEOUT,
                    "gateway_timeout",
                    "the bank did not answer in time (a timeout fault)",
                ),
            }
        }
        Effect::Reset => match connection(&req) {
            Some(c) => {
                c.reset();
                no_answer()
            }
            None => problem_answer(
                StatusCode::BAD_GATEWAY,
                "connection_reset",
                "the connection was reset (a reset fault)",
            ),
        },
        Effect::Ambiguous(status) => {
            let conn = connection(&req);
            // The operation runs to its end and is committed (a 2xx write is durable) ...
            let real = next(req).await;
            drop(real);
            // ... and its answer is lost on the way back.
            match (status, conn) {
                (Some(s), _) => problem_answer(
                    StatusCode::from_u16(s).unwrap_or(StatusCode::GATEWAY_TIMEOUT),
                    "gateway_timeout",
                    "the bank did not answer in time; the request may have been executed: query its status (or retry with the same Idempotency-Key) before sending it again",
                ),
                (None, Some(c)) => {
                    c.close();
                    no_answer()
                }
                (None, None) => problem_answer(
                    StatusCode::BAD_GATEWAY,
                    "connection_closed",
                    "the connection closed before the answer (an ambiguous fault); the request may have been executed",
                ),
            }
        }
        Effect::TokenExpired | Effect::TokenRevoked => {
            let principal = match req.extensions().get::<Identity>() {
                Some(Identity::User(p)) => p.clone(),
                _ => return next(req).await,
            };
            let token = bearer_token(req.headers()).unwrap_or_default().to_owned();
            let how = if matches!(decision.effect, Effect::TokenExpired) {
                SessionEnd::TokenExpired
            } else {
                SessionEnd::GrantRevoked
            };
            let ended = end_session(sandbox, &token, &principal.grant_id, how).await;
            match ended {
                Ok(why) => ApiError::invalid_token(why).into_response(),
                Err(e) => ApiError::from(e).into_response(),
            }
        }
        Effect::BankError(b) => problem_answer(
            StatusCode::from_u16(b.status).unwrap_or(StatusCode::BAD_REQUEST),
            &b.code,
            &b.detail,
        ),
    }
}
