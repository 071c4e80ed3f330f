//! The sandbox layer: finds the sandbox a request is for from its path — `/s/{id}/…` for a
//! created sandbox (the prefix is removed before routing), anything else for the default
//! sandbox — and counts the request for it. The front layer (`http::front`) puts the answer
//! into the request's extensions.

use crate::error::ApiError;
use crate::sandbox::Sandbox;
use crate::server::Server;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

/// How long a request waits for its sandbox while it is reset or restored.
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// The sandbox `req` is for, with its path rewritten to the routes' own (no `/s/{id}`
/// prefix), or the answer to give instead.
pub async fn resolve(server: &Server, req: &mut Request) -> Result<Sandbox, Response> {
    let path = req.uri().path();
    let sandbox = if let Some(rest) = path.strip_prefix("/s/") {
        let (id, tail) = rest.split_once('/').map_or((rest, ""), |(id, tail)| (id, tail));
        let Some(sandbox) = server.sandbox_when_ready(id, PATIENCE).await else {
            if server.is_registered(id) {
                return Err(unavailable());
            }
            return Err(ApiError::not_found(
                "sandbox_not_found",
                format!("there is no sandbox {id:?} on this server (deleted, expired, or never created)"),
            )
            .into_response());
        };
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
            if let Ok(v) = HeaderValue::from_str(&sandbox.path("/swagger-ui/")) {
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
        sandbox
    } else {
        // Operator calls belong to no sandbox; the default one is only their context.
        match server
            .sandbox_when_ready(crate::sandbox::DEFAULT_SANDBOX, PATIENCE)
            .await
        {
            Some(s) => s,
            None => return Err(unavailable()),
        }
    };
    if !req.uri().path().starts_with("/operator/") {
        sandbox.usage.touch(server.wall.now_secs());
    }
    Ok(sandbox)
}

/// A sandbox that did not come back from a reset or restore within `PATIENCE`.
fn unavailable() -> Response {
    let mut res = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "sandbox_busy",
        "the sandbox is being reset or restored; retry in a moment",
    )
    .into_response();
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    res
}
