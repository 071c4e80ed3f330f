//! Liveness, and the process's metrics in the Prometheus text format.

use crate::http::error::ApiError;
use crate::http::identity::Identity;
use crate::http::route::{RouteSpec, Routes};
use crate::sandbox::Sandbox;
use crate::server::Server;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::routes;

/// Liveness answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always "ok" while the server answers.
    pub status: &'static str,
}

/// Liveness probe.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "Alive", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Metrics of the whole server in the Prometheus text format: API calls by sandbox, client,
/// operation kind and status, latency histograms, rate-limited, suspended and maintenance
/// refusals, injected faults, transfers by status, write batch sizes and sync latency. Needs
/// the operator key unless the server runs with `--public-metrics`. Served at the root only.
#[utoipa::path(get, path = "/metrics", tag = "health",
    security(("operatorKey" = [])),
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String),
              (status = 401, description = "Missing or wrong operator key", body = crate::http::error::Problem, content_type = "application/problem+json"),
              (status = 404, description = "Asked under a created sandbox's prefix", body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn metrics(
    sandbox: Sandbox,
    server: Server,
    Extension(identity): Extension<Identity>,
) -> Result<Response, ApiError> {
    if !sandbox.is_default() {
        return Err(ApiError::not_found(
            "not_found",
            "the server's metrics are served at the root: GET /metrics",
        ));
    }
    if !server.config.public_metrics {
        identity.operator()?;
    }
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        crate::metrics::metrics().render(),
    )
        .into_response())
}

pub fn router() -> Routes {
    Routes::new()
        .add(RouteSpec::docs(), routes!(healthz))
        // Scraped with the operator key; not a secret-bearing answer.
        .add(
            RouteSpec {
                secrets: false,
                ..RouteSpec::operator()
            },
            routes!(metrics),
        )
}
