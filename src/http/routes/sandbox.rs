//! The sandbox control plane (admin key): the clock, grants without the browser, and the
//! access log.

use crate::clock::{format_jst, parse_duration};
use crate::domain::consent::Scope;
use crate::error::ApiError;
use crate::http::extract::{Admin, ApiJson, ApiQuery};
use crate::oauth::oauth_error_to_api;
use crate::services::{consent, sandbox};
use crate::state::AppState;
use crate::storage::AccessLogFilter;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::SignedDuration;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The sandbox clock.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClockView {
    /// Sandbox time now (RFC 3339, +09:00).
    pub now: String,
    /// Sandbox date in Japan (YYYY-MM-DD).
    pub date: String,
    /// How far the sandbox runs ahead of real time, in seconds.
    pub offset_seconds: i64,
}

/// How far to move the clock.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdvanceRequest {
    /// A positive duration: ISO 8601 ("P91D", "PT2H") or short ("90s", "1h", "30d").
    #[schema(example = "P91D")]
    pub by: String,
}

fn clock_view(app: &AppState) -> ClockView {
    let now = app.clock.now();
    ClockView {
        now: format_jst(now),
        date: app.clock.now_jst().date().to_string(),
        offset_seconds: app.clock.offset_nanos() / 1_000_000_000,
    }
}

/// Read the sandbox clock.
#[utoipa::path(get, path = "/sandbox/v1/clock", tag = "sandbox",
    security(("adminKey" = [])),
    responses((status = 200, description = "The clock", body = ClockView),
              (status = 401, description = "Missing or wrong admin key", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn get_clock(_: Admin, State(app): State<AppState>) -> Json<ClockView> {
    Json(clock_view(&app))
}

/// Move the sandbox clock forward (time travel). Tokens, codes and grants expire accordingly.
#[utoipa::path(post, path = "/sandbox/v1/clock/advance", tag = "sandbox", request_body = AdvanceRequest,
    security(("adminKey" = [])),
    responses((status = 200, description = "The clock after moving", body = ClockView),
              (status = 400, description = "Not a positive duration", body = crate::error::Problem, content_type = "application/problem+json"),
              (status = 401, description = "Missing or wrong admin key", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn advance_clock(
    _: Admin,
    State(app): State<AppState>,
    ApiJson(req): ApiJson<AdvanceRequest>,
) -> Result<Json<ClockView>, ApiError> {
    let by = parse_duration(&req.by).map_err(|e| ApiError::bad_request("invalid_duration", e))?;
    if by <= SignedDuration::ZERO {
        return Err(ApiError::bad_request(
            "invalid_duration",
            "the clock only moves forward; give a positive duration",
        ));
    }
    if by > SignedDuration::from_hours(24 * 365 * 20) {
        return Err(ApiError::bad_request(
            "invalid_duration",
            "advance at most 20 years at a time",
        ));
    }
    sandbox::advance_clock(&app, by).await?;
    Ok(Json(clock_view(&app)))
}

/// A grant to create without the browser.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateGrantRequest {
    /// Login name of the user who consents.
    #[schema(example = "tanaka")]
    pub username: String,
    /// The client that receives the tokens.
    #[schema(example = "demo-pfm")]
    pub client_id: String,
    /// Scopes to grant (each must be allowed for the client).
    #[schema(example = json!(["openid", "accounts:read", "transactions:read"]))]
    pub scopes: Vec<String>,
}

/// Tokens and the grant they belong to.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedGrant {
    /// Id of the new grant (revoke it with DELETE /sandbox/v1/grants/{grantId}).
    pub grant_id: String,
    /// The longest the grant can be kept alive by refreshing (RFC 3339).
    pub grant_expires_at: String,
    /// The same token response the token endpoint gives.
    pub tokens: consent::TokenResponse,
}

/// Create a grant and tokens for a user and client, as if the user had consented.
#[utoipa::path(post, path = "/sandbox/v1/grants", tag = "sandbox", request_body = CreateGrantRequest,
    security(("adminKey" = [])),
    responses((status = 201, description = "Grant and tokens", body = CreatedGrant),
              (status = 400, description = "Unknown user, client or scope", body = crate::error::Problem, content_type = "application/problem+json"),
              (status = 401, description = "Missing or wrong admin key", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn create_grant(
    _: Admin,
    State(app): State<AppState>,
    ApiJson(req): ApiJson<CreateGrantRequest>,
) -> Result<(StatusCode, Json<CreatedGrant>), ApiError> {
    let scopes = Scope::parse_list(&req.scopes.join(" ")).map_err(|e| ApiError::bad_request("invalid_scope", e))?;
    let (tokens, grant) = consent::issue_for_user(&app, &req.username, &req.client_id, &scopes)
        .await
        .map_err(oauth_error_to_api)?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedGrant {
            grant_id: grant.id,
            grant_expires_at: format_jst(grant.max_expires_at),
            tokens,
        }),
    ))
}

/// Revoke a grant (as the user would from the bank's settings): its tokens stop working.
#[utoipa::path(delete, path = "/sandbox/v1/grants/{grant_id}", tag = "sandbox",
    params(("grant_id" = String, Path, description = "The grant to revoke")),
    security(("adminKey" = [])),
    responses((status = 204, description = "Revoked"),
              (status = 404, description = "No such grant", body = crate::error::Problem, content_type = "application/problem+json"),
              (status = 401, description = "Missing or wrong admin key", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn revoke_grant(
    _: Admin,
    State(app): State<AppState>,
    Path(grant_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if consent::revoke_grant_by_id(&app, &grant_id, "user").await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("grant_not_found", format!("no grant {grant_id:?}")))
    }
}

/// Filters for the access log.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AccessLogQuery {
    /// Only calls by this client.
    pub client_id: Option<String>,
    /// Only calls for this user (`sub`).
    pub user_id: Option<String>,
    /// Only calls about this account.
    pub account_id: Option<String>,
    /// Only this HTTP status.
    pub status: Option<u16>,
    /// Only operations containing this text, e.g. "transactions".
    pub operation: Option<String>,
    /// Page on: entries older than this id (the previous page's `nextBefore`).
    pub before: Option<u64>,
    /// Entries per page, 1..=200 (default 50).
    pub limit: Option<usize>,
}

/// One recorded API call.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessLogItem {
    /// Entry id (increasing).
    pub id: u64,
    /// Sandbox time of the call.
    pub time: String,
    /// The call's x-request-id.
    pub request_id: String,
    /// Calling client, when authenticated.
    pub client_id: Option<String>,
    /// User the token acts for.
    pub user_id: Option<String>,
    /// "METHOD /route".
    pub operation: String,
    /// Account named in the query, if any.
    pub account_id: Option<String>,
    /// HTTP status answered.
    pub status: u16,
    /// Server time spent, microseconds.
    pub latency_micros: u64,
    /// End user's IP as sent in `x-end-user-ip`.
    pub end_user_ip: Option<String>,
}

/// A page of the access log, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessLogPage {
    /// Entries, newest first.
    pub entries: Vec<AccessLogItem>,
    /// Whether older entries remain.
    pub has_next: bool,
    /// Pass as `before` for the next page.
    pub next_before: Option<u64>,
}

/// List recorded API calls, newest first.
#[utoipa::path(get, path = "/sandbox/v1/access-logs", tag = "sandbox", params(AccessLogQuery),
    security(("adminKey" = [])),
    responses((status = 200, description = "Access log page", body = AccessLogPage),
              (status = 400, description = "Bad filter", body = crate::error::Problem, content_type = "application/problem+json"),
              (status = 401, description = "Missing or wrong admin key", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn access_logs(
    _: Admin,
    State(app): State<AppState>,
    ApiQuery(q): ApiQuery<AccessLogQuery>,
) -> Result<Json<AccessLogPage>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::bad_request("invalid_limit", "limit must be 1..=200"));
    }
    let filter = AccessLogFilter {
        client_id: q.client_id,
        user_id: q.user_id,
        account_id: q.account_id,
        status: q.status,
        operation: q.operation,
        before: q.before,
        limit,
    };
    let (entries, has_next) = sandbox::access_logs(&app, &filter)?;
    let next_before = if has_next { entries.last().map(|e| e.id) } else { None };
    Ok(Json(AccessLogPage {
        entries: entries
            .into_iter()
            .map(|e| AccessLogItem {
                id: e.id,
                time: e.time,
                request_id: e.request_id,
                client_id: e.client_id,
                user_id: e.user_id,
                operation: e.operation,
                account_id: e.account_id,
                status: e.status,
                latency_micros: e.latency_micros,
                end_user_ip: e.end_user_ip,
            })
            .collect(),
        has_next,
        next_before,
    }))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_clock))
        .routes(routes!(advance_clock))
        .routes(routes!(create_grant))
        .routes(routes!(revoke_grant))
        .routes(routes!(access_logs))
}
