//! The control plane's capacity policies (`/sandbox/v1/capacity`, per client under
//! `/sandbox/v1/clients/{clientId}/capacity`) and maintenance windows (`/sandbox/v1/maintenance`).

use crate::domain::capacity::CapacityPolicy;
use crate::domain::maintenance::MaintenanceWindow;
use crate::http::error::ApiError;
use crate::http::extract::{Admin, ApiJson};
use crate::http::faults::faultable_operation;
use crate::http::route::{RouteSpec, Routes};
use crate::http::routes::clients::known_client;
use crate::sandbox::Sandbox;
use crate::sandbox::capacity::PolicyError;
use crate::sandbox::maintenance::WindowError;
use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::routes;

const PROBLEM: &str = "application/problem+json";

fn invalid(code: &'static str, what: &str, problems: Vec<String>) -> ApiError {
    ApiError::unusable(code, &format!("the {what} cannot be used"), what, problems)
}

fn policy_error(e: PolicyError) -> ApiError {
    match e {
        PolicyError::Invalid(p) => invalid("invalid_capacity_policy", "policy", p),
        PolicyError::Storage(e) => e.into(),
    }
}

/// The bank-wide capacity policy, shared by every client.
#[utoipa::path(get, path = "/sandbox/v1/capacity", tag = "capacity",
    security(("adminKey" = [])),
    responses((status = 200, description = "The policy", body = CapacityPolicy),
              (status = 401, description = "Missing or wrong admin key", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn get_bank_capacity(_: Admin, sandbox: Sandbox) -> Json<CapacityPolicy> {
    Json(sandbox.capacity.bank_policy())
}

/// Replace the bank-wide capacity policy (its counters start afresh).
#[utoipa::path(put, path = "/sandbox/v1/capacity", tag = "capacity", request_body = CapacityPolicy,
    security(("adminKey" = [])),
    responses((status = 200, description = "The policy now in force", body = CapacityPolicy),
              (status = 401, description = "Missing or wrong admin key", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 422, description = "A limit cannot be used", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn put_bank_capacity(
    _: Admin,
    sandbox: Sandbox,
    ApiJson(policy): ApiJson<CapacityPolicy>,
) -> Result<Json<CapacityPolicy>, ApiError> {
    let policy = sandbox
        .capacity
        .set(&sandbox.store, None, policy)
        .await
        .map_err(policy_error)?;
    Ok(Json(policy))
}

/// A client's capacity policy (empty: only the bank-wide limits apply).
#[utoipa::path(get, path = "/sandbox/v1/clients/{client_id}/capacity", tag = "capacity",
    params(("client_id" = String, Path, description = "The client's id")),
    security(("adminKey" = [])),
    responses((status = 200, description = "The policy", body = CapacityPolicy),
              (status = 401, description = "Missing or wrong admin key", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 404, description = "No such client", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn get_client_capacity(
    _: Admin,
    sandbox: Sandbox,
    Path(id): Path<String>,
) -> Result<Json<CapacityPolicy>, ApiError> {
    known_client(&sandbox, &id)?;
    Ok(Json(sandbox.capacity.client_policy(&id)))
}

/// Replace a client's capacity policy (its counters start afresh; `{}` removes it).
#[utoipa::path(put, path = "/sandbox/v1/clients/{client_id}/capacity", tag = "capacity", request_body = CapacityPolicy,
    params(("client_id" = String, Path, description = "The client's id")),
    security(("adminKey" = [])),
    responses((status = 200, description = "The policy now in force", body = CapacityPolicy),
              (status = 401, description = "Missing or wrong admin key", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 404, description = "No such client", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 422, description = "A limit cannot be used", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn put_client_capacity(
    _: Admin,
    sandbox: Sandbox,
    Path(id): Path<String>,
    ApiJson(policy): ApiJson<CapacityPolicy>,
) -> Result<Json<CapacityPolicy>, ApiError> {
    known_client(&sandbox, &id)?;
    let policy = sandbox
        .capacity
        .set(&sandbox.store, Some(&id), policy)
        .await
        .map_err(policy_error)?;
    Ok(Json(policy))
}

/// Every maintenance window, announced or not.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaintenanceWindows {
    /// The windows as declared, with their ids.
    pub windows: Vec<MaintenanceWindow>,
}

fn window_error(e: WindowError) -> ApiError {
    match e {
        WindowError::Invalid(p) => invalid("invalid_maintenance_window", "window", p),
        WindowError::Duplicate(_) => ApiError::new(StatusCode::CONFLICT, "window_exists", e.to_string()),
        WindowError::TooMany => ApiError::new(StatusCode::CONFLICT, "too_many_windows", e.to_string()),
        WindowError::Storage(e) => e.into(),
    }
}

fn no_window(id: &str) -> ApiError {
    ApiError::not_found(
        "window_not_found",
        format!("no maintenance window {id:?} in this sandbox; GET /sandbox/v1/maintenance lists them"),
    )
}

/// Declare a maintenance window: one-off (`start`, `end`) or recurring (`recurring`), what it
/// covers, and when it is announced. During it the covered APIs answer 503 `maintenance`.
#[utoipa::path(post, path = "/sandbox/v1/maintenance", tag = "capacity", request_body = MaintenanceWindow,
    security(("adminKey" = [])),
    responses((status = 201, description = "The window as stored, with its id", body = MaintenanceWindow),
              (status = 401, description = "Missing or wrong admin key", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 409, description = "A window with that id exists, or too many", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 422, description = "The window cannot be used", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn add_window(
    _: Admin,
    sandbox: Sandbox,
    ApiJson(w): ApiJson<MaintenanceWindow>,
) -> Result<(StatusCode, Json<MaintenanceWindow>), ApiError> {
    let added = sandbox
        .maintenance
        .add(&sandbox.store, &w, &faultable_operation)
        .map_err(window_error)?;
    crate::services::maintenance::announce(&sandbox, &added).await?;
    Ok((StatusCode::CREATED, Json(added)))
}

/// Every maintenance window, announced or not.
#[utoipa::path(get, path = "/sandbox/v1/maintenance", tag = "capacity",
    security(("adminKey" = [])),
    responses((status = 200, description = "The windows", body = MaintenanceWindows),
              (status = 401, description = "Missing or wrong admin key", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn list_windows(_: Admin, sandbox: Sandbox) -> Json<MaintenanceWindows> {
    Json(MaintenanceWindows {
        windows: sandbox.maintenance.list(),
    })
}

/// Delete every maintenance window.
#[utoipa::path(delete, path = "/sandbox/v1/maintenance", tag = "capacity",
    security(("adminKey" = [])),
    responses((status = 204, description = "No windows left"),
              (status = 401, description = "Missing or wrong admin key", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn clear_windows(_: Admin, sandbox: Sandbox) -> Result<StatusCode, ApiError> {
    sandbox
        .maintenance
        .remove(&sandbox.store, None)
        .await
        .map_err(window_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// One maintenance window.
#[utoipa::path(get, path = "/sandbox/v1/maintenance/{id}", tag = "capacity",
    params(("id" = String, Path, description = "The window's id")),
    security(("adminKey" = [])),
    responses((status = 200, description = "The window", body = MaintenanceWindow),
              (status = 401, description = "Missing or wrong admin key", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 404, description = "No such window", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn get_window(
    _: Admin,
    sandbox: Sandbox,
    Path(id): Path<String>,
) -> Result<Json<MaintenanceWindow>, ApiError> {
    sandbox.maintenance.get(&id).map(Json).ok_or_else(|| no_window(&id))
}

/// Delete one maintenance window.
#[utoipa::path(delete, path = "/sandbox/v1/maintenance/{id}", tag = "capacity",
    params(("id" = String, Path, description = "The window's id")),
    security(("adminKey" = [])),
    responses((status = 204, description = "Deleted"),
              (status = 401, description = "Missing or wrong admin key", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 404, description = "No such window", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn delete_window(_: Admin, sandbox: Sandbox, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    if !sandbox
        .maintenance
        .remove(&sandbox.store, Some(&id))
        .await
        .map_err(window_error)?
    {
        return Err(no_window(&id));
    }
    Ok(StatusCode::NO_CONTENT)
}

pub fn router() -> Routes {
    let admin = RouteSpec::admin();
    Routes::new()
        .add(admin, routes!(get_bank_capacity, put_bank_capacity))
        .add(admin, routes!(get_client_capacity, put_client_capacity))
        .add(admin, routes!(add_window, list_windows, clear_windows))
        .add(admin, routes!(get_window, delete_window))
}
