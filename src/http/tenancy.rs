//! The sandbox layer: finds the sandbox a request is for from its path — `/s/{id}/…` for a
//! created sandbox (the prefix is removed before routing), anything else for the default
//! sandbox — before routing, and lets the routed request through its gate (counting it for
//! the sandbox) unless its route is a lifecycle call.

use crate::http::error::ApiError;
use crate::http::route::{self, SandboxPath};
use crate::sandbox::{DEFAULT_SANDBOX, Pass, Refused, Sandbox};
use crate::server::Server;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

/// How long a request waits at its sandbox's gate while a lifecycle change (snapshot, or the
/// switch of a reset or restore) runs, before it is answered 503 `sandbox_busy`.
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// The sandbox `req` is for, with its path rewritten to the routes' own (no `/s/{id}`
/// prefix) — or the answer to give instead. Operator calls belong to no sandbox; the default
/// one is only their context.
// The refusal is the answer itself, made once per refused request: not worth a box.
#[allow(clippy::result_large_err)]
pub fn resolve(server: &Server, req: &mut Request) -> Result<Sandbox, Response> {
    let (id, found) = match SandboxPath::of(req.uri().path()) {
        SandboxPath::Default => return lookup(server, DEFAULT_SANDBOX),
        SandboxPath::Created { id, tail } => {
            // The served handle, looked up once here for the common case.
            let found = server.sandbox(id);
            if found.is_none() && !server.is_registered(id) {
                return Err(no_such_sandbox(id));
            }
            if route::is_operator_tail(tail) {
                return Err(ApiError::not_found(
                    "not_found",
                    "the operator API is served at the root only (/operator/v1)",
                )
                .into_response());
            }
            if route::is_bare_swagger_ui(tail) {
                // Swagger UI's own redirect would drop the prefix.
                let mut res = StatusCode::SEE_OTHER.into_response();
                if let Ok(v) = HeaderValue::from_str(&format!("{}/swagger-ui/", server.base_path(id))) {
                    res.headers_mut().insert(header::LOCATION, v);
                }
                return Err(res);
            }
            let rewritten = match req.uri().query() {
                Some(q) => format!("/{tail}?{q}"),
                None => format!("/{tail}"),
            };
            let id = id.to_owned();
            match rewritten.parse::<Uri>() {
                Ok(uri) => *req.uri_mut() = uri,
                Err(_) => {
                    return Err(ApiError::bad_request("invalid_path", "the request path is not valid").into_response());
                }
            }
            (id, found)
        }
    };
    match found {
        Some(sandbox) => Ok(sandbox),
        None => lookup(server, &id),
    }
}

/// The served handle of sandbox `id`, or why there is none.
#[allow(clippy::result_large_err)]
fn lookup(server: &Server, id: &str) -> Result<Sandbox, Response> {
    if let Some(sandbox) = server.sandbox(id) {
        return Ok(sandbox);
    }
    if let Some(why) = server.quarantine_reason(id) {
        return Err(quarantined(id, &why));
    }
    if server.is_registered(id) {
        return Err(unavailable());
    }
    Err(no_such_sandbox(id))
}

/// A pass of the sandbox's gate, waiting while a lifecycle change (snapshot, or the switch of
/// a reset or restore) runs; the request is counted for the sandbox. A handle replaced
/// meanwhile is looked up again, so the answer may carry a newer handle than `sandbox`.
pub async fn enter(server: &Server, mut sandbox: Sandbox) -> Result<(Sandbox, Pass), Response> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match sandbox.gate.enter(deadline).await {
            Ok(pass) => {
                sandbox.usage.touch(server.wall.now_secs());
                return Ok((sandbox, pass));
            }
            // Replaced (reset, restore) or deleted meanwhile: look again.
            Err(Refused::Retired) => sandbox = lookup(server, &sandbox.id)?,
            Err(Refused::Busy) => return Err(unavailable()),
        }
    }
}

fn no_such_sandbox(id: &str) -> Response {
    ApiError::not_found(
        "sandbox_not_found",
        format!("there is no sandbox {id:?} on this server (deleted, expired, or never created)"),
    )
    .into_response()
}

/// A sandbox that could not be loaded at start.
fn quarantined(id: &str, why: &str) -> Response {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "sandbox_quarantined",
        format!(
            "sandbox {id} could not be loaded when the server started ({why}); the operator can restore one of its snapshots or delete it"
        ),
    )
    .into_response()
}

/// A sandbox whose lifecycle change did not let the request in within `PATIENCE`.
fn unavailable() -> Response {
    let mut res = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "sandbox_busy",
        "the sandbox is being reset, restored, snapshotted or deleted; retry in a moment",
    )
    .into_response();
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    res
}
