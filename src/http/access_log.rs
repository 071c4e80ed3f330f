//! The access log stage: records every API call — time, request id, client, user, operation,
//! account, status, latency, the end user's IP (`x-end-user-ip`) and, for a refusal, the
//! reason code and detail the refusing code gave — never tokens or passwords. The request
//! path only gathers the raw facts; `storage::access_log` formats them when it writes the log.

use super::RequestId;
use super::error::RefusalReason;
use super::faults::{FaultApplied, NoAnswer};
use super::identity::Identity;
use super::route::RouteSpec;
use crate::sandbox::Sandbox;
use crate::services::access_log::record_access;
use crate::storage::PendingAccess;
use axum::extract::Request;
use axum::http::Method;
use axum::response::Response;
use std::time::Instant;

/// The method's name without an allocation (the API only routes these).
fn method_name(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// Runs the rest of the request (`next`) and records the call.
pub async fn access_log<P, F>(sandbox: &Sandbox, route: &str, spec: &RouteSpec, req: Request, next: P) -> Response
where
    P: FnOnce(Request) -> F,
    F: Future<Output = Response>,
{
    if !spec.logged {
        return next(req).await;
    }
    let started = Instant::now();
    let (client_id, user_id) = req
        .extensions()
        .get::<Identity>()
        .map(|i| i.log_names())
        .unwrap_or_default();
    let method = method_name(req.method());
    let query = req.uri().query().map(str::to_owned);
    let end_user_ip = req
        .headers()
        .get(&super::names::X_END_USER_IP)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<std::net::IpAddr>().ok());
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let mut res = next(req).await;
    let fault_rule = res.extensions().get::<FaultApplied>().map(|f| f.0.to_string());
    // Only refusals carry a reason (a 2xx never says why); the log is its only reader.
    let reason = res
        .extensions_mut()
        .remove::<RefusalReason>()
        .filter(|_| res.status().as_u16() >= 400)
        .map(|r| (r.reason, r.detail));
    // 0: the connection was cut and nothing was answered.
    let status = if res.extensions().get::<NoAnswer>().is_some() {
        0
    } else {
        res.status().as_u16()
    };
    record_access(
        sandbox,
        PendingAccess {
            at: sandbox.clock.now(),
            request_id,
            client_id,
            user_id,
            method,
            route: route.to_owned(),
            query,
            end_user_ip,
            status,
            fault_rule,
            reason,
            latency_micros: started.elapsed().as_micros() as u64,
            kind: spec.kind,
        },
    );
    res
}
