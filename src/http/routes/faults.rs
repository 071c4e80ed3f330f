//! The control plane's fault rules (`/sandbox/v1/faults`) and transfer outcome rules
//! (`/sandbox/v1/transfer-outcomes`), with the sandbox's admin key.

use crate::domain::fault::FaultRule;
use crate::domain::outcome::OutcomeRule;
use crate::http::error::ApiError;
use crate::http::extract::{Admin, ApiJson};
use crate::http::faults::faultable_operation;
use crate::http::route::{RouteSpec, Routes};
use crate::sandbox::Sandbox;
use crate::sandbox::faults::{RuleError, RuleView};
use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::routes;

/// A fault rule with its counters.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FaultRuleView {
    #[serde(flatten)]
    pub rule: FaultRule,
    /// Requests that matched the rule (within its window, while it had uses left).
    pub matched: u64,
    /// Times it fired.
    pub hits: u64,
    /// Uses left under `when.times` (absent: no cap).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining: Option<u64>,
}

/// Every fault rule, in the order they are tried (the first that fires wins).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FaultRuleList {
    /// The rules with their counters.
    pub rules: Vec<FaultRuleView>,
}

/// Every transfer outcome rule, in the order they are tried.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutcomeRuleList {
    /// The rules as stored, with their ids.
    pub rules: Vec<OutcomeRule>,
}

fn view(v: RuleView) -> FaultRuleView {
    FaultRuleView {
        rule: v.rule,
        matched: v.seen,
        hits: v.hits,
        remaining: v.remaining,
    }
}

fn rule_error(e: RuleError, code: &'static str) -> ApiError {
    match e {
        RuleError::Invalid(problems) => ApiError::unusable(code, "the rule cannot be used", "rule", problems),
        RuleError::Duplicate(_) => ApiError::new(StatusCode::CONFLICT, "rule_exists", e.to_string()),
        RuleError::TooMany => ApiError::new(StatusCode::CONFLICT, "too_many_rules", e.to_string()),
        RuleError::Storage(e) => e.into(),
    }
}

fn no_rule(id: &str) -> ApiError {
    ApiError::not_found(
        "rule_not_found",
        format!("no rule {id:?} in this sandbox; GET the list to see them"),
    )
}

const PROBLEM: &str = "application/problem+json";

/// Add a fault rule: "when a request matches X, do Y". It is tried after the rules already
/// there; the first rule that fires wins.
#[utoipa::path(post, path = "/sandbox/v1/faults", tag = "faults", request_body = FaultRule,
    security(("adminKey" = [])),
    responses((status = 201, description = "The rule as stored, with its id", body = FaultRuleView),
              (status = 401, description = "Missing or wrong admin key", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 409, description = "A rule with that id exists, or the sandbox holds too many", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 422, description = "The rule cannot be used (unknown operation, probability outside 0–1, window end before start, effect missing …)", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn add_fault(
    _: Admin,
    sandbox: Sandbox,
    ApiJson(rule): ApiJson<FaultRule>,
) -> Result<(StatusCode, Json<FaultRuleView>), ApiError> {
    let added = sandbox
        .faults
        .add(&sandbox.store, &rule, &faultable_operation)
        .await
        .map_err(|e| rule_error(e, "invalid_fault_rule"))?;
    Ok((StatusCode::CREATED, Json(view(added))))
}

/// Every fault rule with how often it matched and fired.
#[utoipa::path(get, path = "/sandbox/v1/faults", tag = "faults",
    security(("adminKey" = [])),
    responses((status = 200, description = "The rules", body = FaultRuleList),
              (status = 401, description = "Missing or wrong admin key", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn list_faults(_: Admin, sandbox: Sandbox) -> Json<FaultRuleList> {
    Json(FaultRuleList {
        rules: sandbox.faults.list().into_iter().map(view).collect(),
    })
}

/// Delete every fault rule.
#[utoipa::path(delete, path = "/sandbox/v1/faults", tag = "faults",
    security(("adminKey" = [])),
    responses((status = 204, description = "No rules left"),
              (status = 401, description = "Missing or wrong admin key", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn clear_faults(_: Admin, sandbox: Sandbox) -> Result<StatusCode, ApiError> {
    sandbox
        .faults
        .remove(&sandbox.store, None)
        .await
        .map_err(|e| rule_error(e, "invalid_fault_rule"))?;
    Ok(StatusCode::NO_CONTENT)
}

/// One fault rule with its counters.
#[utoipa::path(get, path = "/sandbox/v1/faults/{id}", tag = "faults",
    params(("id" = String, Path, description = "The rule's id")),
    security(("adminKey" = [])),
    responses((status = 200, description = "The rule", body = FaultRuleView),
              (status = 401, description = "Missing or wrong admin key", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 404, description = "No such rule", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn get_fault(_: Admin, sandbox: Sandbox, Path(id): Path<String>) -> Result<Json<FaultRuleView>, ApiError> {
    sandbox
        .faults
        .get(&id)
        .map(|v| Json(view(v)))
        .ok_or_else(|| no_rule(&id))
}

/// Delete one fault rule.
#[utoipa::path(delete, path = "/sandbox/v1/faults/{id}", tag = "faults",
    params(("id" = String, Path, description = "The rule's id")),
    security(("adminKey" = [])),
    responses((status = 204, description = "Deleted"),
              (status = 401, description = "Missing or wrong admin key", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 404, description = "No such rule", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn delete_fault(_: Admin, sandbox: Sandbox, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let removed = sandbox
        .faults
        .remove(&sandbox.store, Some(&id))
        .await
        .map_err(|e| rule_error(e, "invalid_fault_rule"))?;
    if !removed {
        return Err(no_rule(&id));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Add a transfer outcome rule: items of transfers accepted from now on that match it end as
/// it says (completed, held in 12 or 13 until a time, returned as 22, or failed as 40).
#[utoipa::path(post, path = "/sandbox/v1/transfer-outcomes", tag = "faults", request_body = OutcomeRule,
    security(("adminKey" = [])),
    responses((status = 201, description = "The rule as stored, with its id", body = OutcomeRule),
              (status = 401, description = "Missing or wrong admin key", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 409, description = "A rule with that id exists, or the sandbox holds too many", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 422, description = "The rule cannot be used", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn add_outcome(
    _: Admin,
    sandbox: Sandbox,
    ApiJson(rule): ApiJson<OutcomeRule>,
) -> Result<(StatusCode, Json<OutcomeRule>), ApiError> {
    let added = sandbox
        .faults
        .add_outcome(&sandbox.store, &rule)
        .await
        .map_err(|e| rule_error(e, "invalid_outcome_rule"))?;
    Ok((StatusCode::CREATED, Json(added)))
}

/// Every transfer outcome rule (the scenario's magic beneficiaries among them).
#[utoipa::path(get, path = "/sandbox/v1/transfer-outcomes", tag = "faults",
    security(("adminKey" = [])),
    responses((status = 200, description = "The rules", body = OutcomeRuleList),
              (status = 401, description = "Missing or wrong admin key", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn list_outcomes(_: Admin, sandbox: Sandbox) -> Json<OutcomeRuleList> {
    Json(OutcomeRuleList {
        rules: sandbox.faults.outcomes(),
    })
}

/// Delete one transfer outcome rule. Transfers already accepted keep the outcome they got.
#[utoipa::path(delete, path = "/sandbox/v1/transfer-outcomes/{id}", tag = "faults",
    params(("id" = String, Path, description = "The rule's id")),
    security(("adminKey" = [])),
    responses((status = 204, description = "Deleted"),
              (status = 401, description = "Missing or wrong admin key", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 404, description = "No such rule", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn delete_outcome(_: Admin, sandbox: Sandbox, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let removed = sandbox
        .faults
        .remove_outcome(&sandbox.store, Some(&id))
        .await
        .map_err(|e| rule_error(e, "invalid_outcome_rule"))?;
    if !removed {
        return Err(no_rule(&id));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Adding a rule takes no `Idempotency-Key`: a stored answer would name a rule that may since
/// have been deleted or wiped by a restore (a rule with its own `id` is safe to repeat: the
/// second answers 409).
pub fn router() -> Routes {
    let admin = RouteSpec::admin();
    Routes::new()
        .add(admin, routes!(add_fault, list_faults, clear_faults))
        .add(admin, routes!(get_fault, delete_fault))
        .add(admin, routes!(add_outcome, list_outcomes))
        .add(admin, routes!(delete_outcome))
}
