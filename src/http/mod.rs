//! The HTTP face: router assembly, the two middleware layers every request passes (the front
//! layer: request id, FAPI interaction id, problem bodies with the request id, sandbox and
//! identity; the operation layer: access log, policy, idempotency), and Swagger UI.

pub mod access_log;
pub mod approvals;
pub mod connection;
pub mod credentials;
pub mod error;
pub mod extract;
pub mod faults;
pub mod idempotency;
pub mod identity;
pub mod openapi;
pub mod pages;
pub mod policy;
pub mod problems;
pub mod response;
pub mod route;
pub mod routes;
pub mod serve;
pub mod tenancy;

use crate::http::error::{ApiError, Problem, problem_response};
use crate::sandbox::Sandbox;
use crate::server::Server;
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use route::{RouteSpec, RouteTable, Routes};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

/// All API routes with their OpenAPI description and their declarations.
pub fn api_router() -> Routes {
    Routes::with_openapi(openapi::ApiDoc::openapi())
        .merge(routes::accounts::personal::router())
        .merge(routes::accounts::corporation::router())
        .merge(routes::transfers::personal::router())
        .merge(routes::transfers::corporation::router())
        .merge(routes::debits::personal::router())
        .merge(routes::debits::corporation::router())
        .merge(routes::public::router())
        .merge(routes::control::router())
        .merge(routes::faults::router())
        .merge(routes::capacity::router())
        .merge(routes::clients::router())
        .merge(routes::webhooks::router())
        .merge(routes::lifecycle::router())
        .merge(routes::health::router())
        .merge(crate::oauth::router())
}

/// The declarations of every route the API serves (built once).
pub fn route_table() -> &'static RouteTable {
    static TABLE: std::sync::OnceLock<RouteTable> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| api_router().with_pages().table)
}

/// The application: every sandbox's API routes, `/openapi.json` and Swagger UI, the operator
/// API, fallbacks and middleware. A request passes, in order: panic guard → request context →
/// sandbox (resolved from the path) → routing → gate → identity → access log → policy (kill
/// switch → maintenance → capacity → faults) → idempotency → handler; every layer after
/// routing reads the matched route's declaration (`route::RouteSpec`).
pub fn build_router(server: Server) -> Router {
    // The layers read the one route table (`route_table`), built from the same declarations.
    let (router, api) = api_router().with_pages().router.split_for_parts();
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
        // The description is handed to its one route (not to every request as an extension).
        .route(
            "/openapi.json",
            axum::routing::get(move |sandbox: Sandbox| openapi::served(sandbox, api.clone())),
        )
        .merge(SwaggerUi::new("/swagger-ui").config(swagger_config))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(middleware::from_fn_with_state(route_table(), operation));
    Router::new()
        .fallback_service(sandbox_routes)
        .layer(middleware::from_fn_with_state(server, front))
        // A panic is a bug; the client still gets a problem document, not a dropped connection.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| ApiError::internal("a request handler panicked").into_response(),
        ))
}

impl Routes {
    /// The routes that are not part of the API description: the bank's approval pages and
    /// the description itself (its handler is added by `build_router`, which owns it).
    fn with_pages(self) -> Routes {
        use axum::http::Method;
        self.page(
            RouteSpec::bank_page(),
            "/bank/approvals",
            Method::GET,
            axum::routing::get(approvals::approvals_page),
        )
        .page(
            RouteSpec::bank_page(),
            "/bank/approvals/login",
            Method::POST,
            axum::routing::post(approvals::approvals_login),
        )
        .page(
            RouteSpec::bank_page(),
            "/bank/approvals/decide",
            Method::POST,
            axum::routing::post(approvals::approvals_decide),
        )
        .declare(RouteSpec::docs(), "/openapi.json", Method::GET)
        .merge(crate::portal::router())
    }
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

/// Header names used on every request, made once (a `&str` name is parsed on each use).
pub(crate) mod names {
    use axum::http::HeaderName;
    pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
    pub static X_FAPI_INTERACTION_ID: HeaderName = HeaderName::from_static("x-fapi-interaction-id");
    pub static X_END_USER_IP: HeaderName = HeaderName::from_static("x-end-user-ip");
    pub static IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
    /// The request header that forces one fault outcome, when the scenario allows it.
    pub static SANDBANK_SIMULATE: HeaderName = HeaderName::from_static("sandbank-simulate");
    pub static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
    pub static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_count_in_hex_after_a_process_prefix() {
        let a = super::new_request_id();
        let b = super::new_request_id();
        let (prefix_a, n_a) = a.rsplit_once('-').unwrap();
        let (prefix_b, n_b) = b.rsplit_once('-').unwrap();
        assert!(prefix_a.starts_with("req-") && prefix_a == prefix_b, "{a} {b}");
        let (n_a, n_b) = (
            u64::from_str_radix(n_a, 16).unwrap(),
            u64::from_str_radix(n_b, 16).unwrap(),
        );
        assert!(n_b > n_a, "{a} {b}");
        assert_eq!(format!("{n_a:x}"), a.rsplit_once('-').unwrap().1);
    }
}

/// The request id of the current request.
#[derive(Clone)]
pub struct RequestId(pub String);

static REQUEST_COUNTER: AtomicU64 = AtomicU64::new(0);

/// `req-{process prefix}-{counter in hex}`, without formatting machinery (every request).
fn new_request_id() -> String {
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let prefix = PREFIX.get_or_init(|| format!("req-{}-", crate::ids::random_token(6)));
    let n = REQUEST_COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut hex = [0u8; 16];
    let mut at = hex.len();
    let mut rest = n;
    loop {
        at -= 1;
        hex[at] = b"0123456789abcdef"[(rest & 0xf) as usize];
        rest >>= 4;
        if rest == 0 {
            break;
        }
    }
    let mut id = String::with_capacity(prefix.len() + hex.len() - at);
    id.push_str(prefix);
    // Hex digits only.
    id.push_str(std::str::from_utf8(&hex[at..]).unwrap_or_default());
    id
}

fn acceptable_request_id(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    (!s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic())).then(|| s.to_owned())
}

/// The front layer. Assigns `x-request-id` (or keeps a sane one sent by the client), echoes
/// `x-fapi-interaction-id`, and puts the request id into problem bodies; resolves the
/// sandbox from the path and puts it (and the server) into the request's extensions.
async fn front(State(server): State<Server>, mut req: Request, next: Next) -> Response {
    let request_id = req
        .headers()
        .get(&names::X_REQUEST_ID)
        .and_then(acceptable_request_id)
        .unwrap_or_else(new_request_id);
    let mut fapi = req.headers().get(&names::X_FAPI_INTERACTION_ID).cloned();
    // FAPI expects a UUID here; anything longer than a request id is refused, not echoed.
    let bad_interaction_id = fapi.as_ref().is_some_and(|v| acceptable_request_id(v).is_none());
    if bad_interaction_id {
        fapi = None;
    }
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let resolved = if bad_interaction_id {
        Err(ApiError::bad_request(
            "invalid_interaction_id",
            "x-fapi-interaction-id must be a UUID (at most 128 visible ASCII characters)",
        )
        .into_response())
    } else {
        tenancy::resolve(&server, &mut req)
    };
    let mut res = match resolved {
        Ok(sandbox) => {
            let extensions = req.extensions_mut();
            extensions.insert(sandbox);
            extensions.insert(server);
            next.run(req).await
        }
        Err(res) => res,
    };
    if let Some(cause) = res.extensions_mut().remove::<crate::http::error::ErrorCause>() {
        tracing::error!(request_id = %request_id, status = res.status().as_u16(), cause = %cause.0, "request failed in storage");
    }
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
        res.headers_mut().insert(names::X_REQUEST_ID.clone(), v);
    }
    if let Some(v) = fapi {
        res.headers_mut().insert(names::X_FAPI_INTERACTION_ID.clone(), v);
    }
    res.headers_mut().insert(
        axum::http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

/// The operation layer, inside routing: it finds the matched route's declaration, takes a
/// pass of the sandbox's gate (unless the route changes the whole sandbox itself), resolves
/// the caller, then runs access log → policy → idempotency → handler, and marks the answer as
/// the declaration says (`no-store`, framing).
async fn operation(State(table): State<&'static RouteTable>, mut req: Request, next: Next) -> Response {
    let (Some(sandbox), Some(server)) = (
        req.extensions().get::<Sandbox>().cloned(),
        req.extensions().get::<Server>().cloned(),
    ) else {
        return ApiError::internal("no sandbox was resolved for this request").into_response();
    };
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("", |m| m.as_str());
    let spec = *table.spec(req.method(), route);
    let (sandbox, pass) = if spec.gated() {
        match tenancy::enter(&server, sandbox).await {
            Ok((sandbox, pass)) => {
                req.extensions_mut().insert(sandbox.clone());
                (sandbox, Some(pass))
            }
            Err(res) => return res,
        }
    } else {
        (sandbox, None)
    };
    let identity = identity::resolve(&server, &sandbox, &spec, &req);
    req.extensions_mut().insert(identity);
    let mut res = access_log::access_log(&sandbox, route, &spec, req, |req| {
        policy::policy(&sandbox, route, &spec, req, |req| {
            idempotency::idempotency(&sandbox, &spec, req, |req| next.run(req))
        })
    })
    .await;
    // The handle was in use until the answer was made.
    drop(pass);
    let headers = res.headers_mut();
    if !spec.framable {
        headers.insert(axum::http::header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        // A page with its own policy (the portal's) already forbids framing in it.
        if !headers.contains_key(axum::http::header::CONTENT_SECURITY_POLICY) {
            headers.insert(
                axum::http::header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("frame-ancestors 'none'"),
            );
        }
    }
    // Token and control-plane answers carry tokens, secrets and customer data.
    if spec.secrets {
        headers.insert(axum::http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(axum::http::header::PRAGMA, HeaderValue::from_static("no-cache"));
    }
    res
}
