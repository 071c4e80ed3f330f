//! The HTTP face: router assembly, the request-context middleware (request id, FAPI
//! interaction id, problem bodies with the request id), the access log, and Swagger UI.

pub mod approvals;
pub mod connection;
pub mod extract;
pub mod faults;
pub mod idempotency;
pub mod identity;
pub mod openapi;
pub mod policy;
pub mod response;
pub mod routes;
pub mod sandbox_scope;

use crate::clock::format_jst;
use crate::error::{ApiError, Problem, problem_response};
use crate::sandbox::Sandbox;
use crate::server::Server;
use crate::services::sandbox::record_access;
use crate::storage::AccessLogEntry;
use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

/// All API routes with their OpenAPI description.
pub fn api_router() -> OpenApiRouter {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(routes::accounts::personal::router())
        .merge(routes::accounts::corporation::router())
        .merge(routes::transfers::personal::router())
        .merge(routes::transfers::corporation::router())
        .merge(routes::debits::personal::router())
        .merge(routes::debits::corporation::router())
        .merge(routes::public::router())
        .merge(routes::sandbox::router())
        .merge(routes::faults::router())
        .merge(routes::capacity::router())
        .merge(routes::clients::router())
        .merge(routes::webhooks::router())
        .merge(routes::lifecycle::router())
        .merge(routes::health::router())
        .merge(crate::oauth::router())
}

/// The application: every sandbox's API routes, `/openapi.json` and Swagger UI, the operator
/// API, fallbacks and middleware. A request passes, in order: panic guard → request context →
/// sandbox (resolved from the path) → identity → access log → policy (kill switch → maintenance
/// → capacity → faults) → idempotency → handler.
pub fn build_router(server: Server) -> Router {
    let (router, api) = api_router().split_for_parts();
    let api = Arc::new(openapi::finished(&api));
    // "Authorize" in Swagger UI: the authorization code flow with PKCE, back to
    // …/swagger-ui/oauth2-redirect.html (registered for the demo clients in the scenario).
    let swagger_oauth = utoipa_swagger_ui::oauth::Config::new()
        .client_id("demo-pfm")
        .app_name("sandbank Swagger UI")
        .scopes(vec![
            "openid".into(),
            "accounts:read".into(),
            "transactions:read".into(),
        ])
        .use_pkce_with_authorization_code_grant(true);
    // The spec's URL is relative to the page, so each sandbox's Swagger UI
    // (`/s/{id}/swagger-ui/`) loads that sandbox's own description.
    let swagger_config = utoipa_swagger_ui::Config::with_oauth_config(["../openapi.json"], swagger_oauth);
    let sandbox_routes = router
        .route("/openapi.json", axum::routing::get(openapi::served))
        .merge(SwaggerUi::new("/swagger-ui").config(swagger_config))
        .route("/bank/approvals", axum::routing::get(approvals::approvals_page))
        .route("/bank/approvals/login", axum::routing::post(approvals::approvals_login))
        .route(
            "/bank/approvals/decide",
            axum::routing::post(approvals::approvals_decide),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(middleware::from_fn(idempotency::idempotency))
        .route_layer(middleware::from_fn(policy::policy))
        .route_layer(middleware::from_fn(access_log))
        .layer(middleware::from_fn(identity::identify))
        .layer(axum::Extension(api));
    Router::new()
        .fallback_service(sandbox_routes)
        .layer(middleware::from_fn_with_state(server, sandbox_scope::resolve))
        .layer(middleware::from_fn(request_context))
        // A panic is a bug; the client still gets a problem document, not a dropped connection.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| ApiError::internal("a request handler panicked").into_response(),
        ))
}

async fn not_found() -> ApiError {
    ApiError::not_found("not_found", "no such endpoint; see /swagger-ui for the API")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not accept that method; see /swagger-ui",
    )
}

/// The request id of the current request.
#[derive(Clone)]
pub struct RequestId(pub String);

static REQUEST_COUNTER: AtomicU64 = AtomicU64::new(0);

fn new_request_id() -> String {
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let prefix = PREFIX.get_or_init(|| crate::ids::random_token(6));
    format!("req-{prefix}-{:x}", REQUEST_COUNTER.fetch_add(1, Ordering::Relaxed))
}

fn acceptable_request_id(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    (!s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic())).then(|| s.to_owned())
}

/// Assigns `x-request-id` (or keeps a sane one sent by the client), echoes
/// `x-fapi-interaction-id`, and puts the request id into problem bodies.
async fn request_context(mut req: Request, next: Next) -> Response {
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(acceptable_request_id)
        .unwrap_or_else(new_request_id);
    let fapi = req.headers().get("x-fapi-interaction-id").cloned();
    let path = req.uri().path();
    // Under any sandbox's prefix (`/s/{id}/oauth/…`) too.
    let secret_bearing = path.contains("/oauth/") || path.contains("/sandbox/v1/") || path.starts_with("/operator/");
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let mut res = next.run(req).await;
    if let Some(mut problem) = res.extensions_mut().remove::<Problem>() {
        problem.request_id = Some(request_id.clone());
        let status = res.status();
        let headers = std::mem::take(res.headers_mut());
        res = problem_response(status, &problem);
        for (name, value) in headers.iter() {
            if name != axum::http::header::CONTENT_LENGTH {
                res.headers_mut().insert(name.clone(), value.clone());
            }
        }
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert("x-request-id", v);
    }
    if let Some(v) = fapi {
        res.headers_mut().insert("x-fapi-interaction-id", v);
    }
    let headers = res.headers_mut();
    headers.insert(
        axum::http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Token and control-plane answers carry tokens, secrets and customer data.
    if secret_bearing {
        headers.insert(axum::http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(axum::http::header::PRAGMA, HeaderValue::from_static("no-cache"));
    }
    res
}

/// Whether a route's calls go into the access log (API calls, not docs or probes).
fn logged(route: &str) -> bool {
    !(route.starts_with("/swagger-ui")
        || route == "/openapi.json"
        || route == "/healthz"
        || route == "/metrics"
        || route.starts_with("/operator/"))
}

/// Records every API call: time, request id, client, user, operation, account, status,
/// latency and the end user's IP (`x-end-user-ip`). Never tokens or passwords.
async fn access_log(app: Sandbox, matched: Option<MatchedPath>, req: Request, next: Next) -> Response {
    let Some(route) = matched.map(|m| m.as_str().to_owned()).filter(|r| logged(r)) else {
        return next.run(req).await;
    };
    let started = Instant::now();
    let (client_id, user_id) = req
        .extensions()
        .get::<identity::Identity>()
        .map(|i| i.log_names())
        .unwrap_or_default();
    let operation = format!("{} {}", req.method(), route);
    let account_id = req.uri().query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "accountId")
            .map(|(_, v)| v.chars().take(32).collect::<String>())
    });
    let end_user_ip = req
        .headers()
        .get("x-end-user-ip")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| ip.to_string());
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let res = next.run(req).await;
    let fault_rule = res.extensions().get::<faults::FaultApplied>().map(|f| f.0.to_string());
    // 0: the connection was cut and nothing was answered.
    let status = if res.extensions().get::<faults::NoAnswer>().is_some() {
        0
    } else {
        res.status().as_u16()
    };
    let entry = AccessLogEntry {
        id: 0,
        time: format_jst(app.clock.now()),
        request_id,
        client_id,
        user_id,
        operation,
        account_id,
        status,
        fault_rule,
        latency_micros: started.elapsed().as_micros() as u64,
        end_user_ip,
    };
    record_access(&app, entry);
    res
}
