//! The control plane's capacity policies (`/sandbox/v1/capacity`, per client under
//! `/sandbox/v1/clients/{clientId}/capacity`) and maintenance windows (`/sandbox/v1/maintenance`).

use crate::domain::capacity::CapacityPolicy;
use crate::domain::maintenance::MaintenanceWindow;
use crate::error::ApiError;
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
              (status = 401, description = "Missing or wrong admin key", body = crate::error::Problem, content_type = PROBLEM)))]
pub async fn get_bank_capacity(_: Admin, app: Sandbox) -> Json<CapacityPolicy> {
    Json(app.capacity.bank_policy())
}

/// Replace the bank-wide capacity policy (its counters start afresh).
#[utoipa::path(put, path = "/sandbox/v1/capacity", tag = "capacity", request_body = CapacityPolicy,
    security(("adminKey" = [])),
    responses((status = 200, description = "The policy now in force", body = CapacityPolicy),
              (status = 401, description = "Missing or wrong admin key", body = crate::error::Problem, content_type = PROBLEM),
              (status = 422, description = "A limit cannot be used", body = crate::error::Problem, content_type = PROBLEM)))]
pub async fn put_bank_capacity(
    _: Admin,
    app: Sandbox,
    ApiJson(policy): ApiJson<CapacityPolicy>,
) -> Result<Json<CapacityPolicy>, ApiError> {
    let policy = app.capacity.set(&app.store, None, policy).map_err(policy_error)?;
    app.store.flush().await?;
    Ok(Json(policy))
}

/// A client's capacity policy (empty: only the bank-wide limits apply).
#[utoipa::path(get, path = "/sandbox/v1/clients/{client_id}/capacity", tag = "capacity",
    params(("client_id" = String, Path, description = "The client's id")),
    security(("adminKey" = [])),
    responses((status = 200, description = "The policy", body = CapacityPolicy),
              (status = 401, description = "Missing or wrong admin key", body = crate::error::Problem, content_type = PROBLEM),
              (status = 404, description = "No such client", body = crate::error::Problem, content_type = PROBLEM)))]
pub async fn get_client_capacity(
    _: Admin,
    app: Sandbox,
    Path(id): Path<String>,
) -> Result<Json<CapacityPolicy>, ApiError> {
    known_client(&app, &id)?;
    Ok(Json(app.capacity.client_policy(&id)))
}

/// Replace a client's capacity policy (its counters start afresh; `{}` removes it).
#[utoipa::path(put, path = "/sandbox/v1/clients/{client_id}/capacity", tag = "capacity", request_body = CapacityPolicy,
    params(("client_id" = String, Path, description = "The client's id")),
    security(("adminKey" = [])),
    responses((status = 200, description = "The policy now in force", body = CapacityPolicy),
              (status = 401, description = "Missing or wrong admin key", body = crate::error::Problem, content_type = PROBLEM),
              (status = 404, description = "No such client", body = crate::error::Problem, content_type = PROBLEM),
              (status = 422, description = "A limit cannot be used", body = crate::error::Problem, content_type = PROBLEM)))]
pub async fn put_client_capacity(
    _: Admin,
    app: Sandbox,
    Path(id): Path<String>,
    ApiJson(policy): ApiJson<CapacityPolicy>,
) -> Result<Json<CapacityPolicy>, ApiError> {
    known_client(&app, &id)?;
    let policy = app.capacity.set(&app.store, Some(&id), policy).map_err(policy_error)?;
    app.store.flush().await?;
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
              (status = 401, description = "Missing or wrong admin key", body = crate::error::Problem, content_type = PROBLEM),
              (status = 409, description = "A window with that id exists, or too many", body = crate::error::Problem, content_type = PROBLEM),
              (status = 422, description = "The window cannot be used", body = crate::error::Problem, content_type = PROBLEM)))]
pub async fn add_window(
    _: Admin,
    app: Sandbox,
    ApiJson(w): ApiJson<MaintenanceWindow>,
) -> Result<(StatusCode, Json<MaintenanceWindow>), ApiError> {
    let added = app
        .maintenance
        .add(&app.store, &w, &faultable_operation)
        .map_err(window_error)?;
    crate::services::maintenance::announce(&app, &added).await?;
    Ok((StatusCode::CREATED, Json(added)))
}

/// Every maintenance window, announced or not.
#[utoipa::path(get, path = "/sandbox/v1/maintenance", tag = "capacity",
    security(("adminKey" = [])),
    responses((status = 200, description = "The windows", body = MaintenanceWindows),
              (status = 401, description = "Missing or wrong admin key", body = crate::error::Problem, content_type = PROBLEM)))]
pub async fn list_windows(_: Admin, app: Sandbox) -> Json<MaintenanceWindows> {
    Json(MaintenanceWindows {
        windows: app.maintenance.list(),
    })
}

/// Delete every maintenance window.
#[utoipa::path(delete, path = "/sandbox/v1/maintenance", tag = "capacity",
    security(("adminKey" = [])),
    responses((status = 204, description = "No windows left"),
              (status = 401, description = "Missing or wrong admin key", body = crate::error::Problem, content_type = PROBLEM)))]
pub async fn clear_windows(_: Admin, app: Sandbox) -> Result<StatusCode, ApiError> {
    app.maintenance.remove(&app.store, None).map_err(window_error)?;
    app.store.flush().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One maintenance window.
#[utoipa::path(get, path = "/sandbox/v1/maintenance/{id}", tag = "capacity",
    params(("id" = String, Path, description = "The window's id")),
    security(("adminKey" = [])),
    responses((status = 200, description = "The window", body = MaintenanceWindow),
              (status = 401, description = "Missing or wrong admin key", body = crate::error::Problem, content_type = PROBLEM),
              (status = 404, description = "No such window", body = crate::error::Problem, content_type = PROBLEM)))]
pub async fn get_window(_: Admin, app: Sandbox, Path(id): Path<String>) -> Result<Json<MaintenanceWindow>, ApiError> {
    app.maintenance.get(&id).map(Json).ok_or_else(|| no_window(&id))
}

/// Delete one maintenance window.
#[utoipa::path(delete, path = "/sandbox/v1/maintenance/{id}", tag = "capacity",
    params(("id" = String, Path, description = "The window's id")),
    security(("adminKey" = [])),
    responses((status = 204, description = "Deleted"),
              (status = 401, description = "Missing or wrong admin key", body = crate::error::Problem, content_type = PROBLEM),
              (status = 404, description = "No such window", body = crate::error::Problem, content_type = PROBLEM)))]
pub async fn delete_window(_: Admin, app: Sandbox, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    if !app.maintenance.remove(&app.store, Some(&id)).map_err(window_error)? {
        return Err(no_window(&id));
    }
    app.store.flush().await?;
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
