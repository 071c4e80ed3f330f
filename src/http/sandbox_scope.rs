//! The sandbox layer: finds the sandbox a request is for from its path — `/s/{id}/…` for a
//! created sandbox (the prefix is removed before routing), anything else for the default
//! sandbox — and counts the request for it. The front layer (`http::front`) puts the answer
//! into the request's extensions.

use crate::error::ApiError;
use crate::sandbox::{DEFAULT_SANDBOX, Pass, Refused, Sandbox};
use crate::server::Server;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

/// How long a request waits at its sandbox's gate while a lifecycle change (snapshot, or the
/// switch of a reset or restore) runs, before it is answered 503 `sandbox_busy`.
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// The sandbox `req` is for, with its path rewritten to the routes' own (no `/s/{id}`
/// prefix), and the pass its handle is used under (none for the lifecycle calls, which close
/// the gate themselves, and for the operator API) — or the answer to give instead.
pub async fn resolve(server: &Server, req: &mut Request) -> Result<(Sandbox, Option<Pass>), Response> {
    let path = req.uri().path();
    // The served handle, looked up once here for the common case (no lock but the map's).
    let mut found = None;
    let (id, operator) = if let Some(rest) = path.strip_prefix("/s/") {
        let (id, tail) = rest.split_once('/').map_or((rest, ""), |(id, tail)| (id, tail));
        let id = id.to_owned();
        found = server.sandbox(&id);
        if found.is_none() && !server.is_registered(&id) {
            return Err(no_such_sandbox(&id));
        }
        if tail.starts_with("operator/") || tail == "operator" {
            return Err(ApiError::not_found(
                "not_found",
                "the operator API is served at the root only (/operator/v1)",
            )
            .into_response());
        }
        if tail == "swagger-ui" {
            // Swagger UI's own redirect would drop the prefix.
            let mut res = StatusCode::SEE_OTHER.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("{}/swagger-ui/", server.base_path(&id))) {
                res.headers_mut().insert(header::LOCATION, v);
            }
            return Err(res);
        }
        let rewritten = match req.uri().query() {
            Some(q) => format!("/{tail}?{q}"),
            None => format!("/{tail}"),
        };
        match rewritten.parse::<Uri>() {
            Ok(uri) => *req.uri_mut() = uri,
            Err(_) => {
                return Err(ApiError::bad_request("invalid_path", "the request path is not valid").into_response());
            }
        }
        (id, false)
    } else {
        // Operator calls belong to no sandbox; the default one is only their context.
        (DEFAULT_SANDBOX.to_owned(), path.starts_with("/operator/"))
    };
    let gated = !operator && !is_lifecycle_call(req.uri().path());
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let Some(sandbox) = found.take().or_else(|| server.sandbox(&id)) else {
            if let Some(why) = server.quarantine_reason(&id) {
                return Err(quarantined(&id, &why));
            }
            if server.is_registered(&id) {
                return Err(unavailable());
            }
            return Err(no_such_sandbox(&id));
        };
        if !gated {
            return Ok((sandbox, None));
        }
        match sandbox.gate.enter(deadline).await {
            Ok(pass) => {
                if !operator {
                    sandbox.usage.touch(server.wall.now_secs());
                }
                return Ok((sandbox, Some(pass)));
            }
            // Replaced (reset, restore) or deleted meanwhile: look again.
            Err(Refused::Retired) => continue,
            Err(Refused::Busy) => return Err(unavailable()),
        }
    }
}

/// The control-plane calls that change a sandbox's whole world (they close its gate
/// themselves, so they must not hold a pass).
fn is_lifecycle_call(path: &str) -> bool {
    path == "/sandbox/v1/reset" || path == "/sandbox/v1/snapshots" || path.starts_with("/sandbox/v1/snapshots/")
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
