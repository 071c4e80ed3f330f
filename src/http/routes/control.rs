//! The sandbox control plane (admin key): the clock, grants without the browser, and the
//! access log.

use crate::clock::format_jst;
use crate::domain::consent::Scope;
use crate::http::error::ApiError;
use crate::http::extract::{Admin, ApiJson, ApiQuery};
use crate::http::problems::oauth_error_to_api;
use crate::http::route::{RouteSpec, Routes};
use crate::sandbox::Sandbox;
use crate::services::{access_log, clock, consent, ledger};
use crate::storage::AccessLogFilter;
use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
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
    #[schema(
        example = "P91D",
        pattern = "^([1-9][0-9]{0,3}[smh]|[1-9][0-9]{0,2}[dw]|P[1-9][0-9]{0,2}D|PT[1-9][0-9]{0,3}[HMS])$"
    )]
    pub by: String,
}

fn clock_view(sandbox: &Sandbox) -> ClockView {
    let now = sandbox.clock.now();
    ClockView {
        now: format_jst(now),
        date: sandbox.clock.now_jst().date().to_string(),
        offset_seconds: sandbox.clock.offset_nanos() / 1_000_000_000,
    }
}

/// Read the sandbox clock.
#[utoipa::path(get, path = "/sandbox/v1/clock", tag = "sandbox",
    security(("adminKey" = [])),
    responses((status = 200, description = "The clock", body = ClockView),
              (status = 401, description = "Missing or wrong admin key", body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn get_clock(_: Admin, sandbox: Sandbox) -> Json<ClockView> {
    Json(clock_view(&sandbox))
}

/// Move the sandbox clock forward (time travel). Tokens, codes and grants expire accordingly.
#[utoipa::path(post, path = "/sandbox/v1/clock/advance", tag = "sandbox", request_body = AdvanceRequest,
    security(("adminKey" = [])),
    responses((status = 200, description = "The clock after moving", body = ClockView),
              (status = 400, description = "Not a positive duration", body = crate::http::error::Problem, content_type = "application/problem+json"),
              (status = 401, description = "Missing or wrong admin key", body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn advance_clock(
    _: Admin,
    sandbox: Sandbox,
    ApiJson(req): ApiJson<AdvanceRequest>,
) -> Result<Json<ClockView>, ApiError> {
    let by = clock::parse_advance(&req.by).map_err(|e| ApiError::bad_request("invalid_duration", e))?;
    clock::advance_clock(&sandbox, by).await?;
    Ok(Json(clock_view(&sandbox)))
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
    #[schema(example = json!(["openid", "accounts:read", "transactions:read"]), min_items = 1,
             value_type = Vec<crate::domain::consent::ScopeName>)]
    pub scopes: Vec<String>,
    /// A debit mandate given with the grant (needs the `debits` scope), as the consent
    /// screen would record it.
    #[serde(default)]
    pub mandate: Option<MandateRequest>,
}

/// The terms of a debit mandate.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MandateRequest {
    /// One of the user's open accounts, to be debited.
    #[schema(example = "00111234567")]
    pub account_id: String,
    /// Largest single debit, yen (string of digits).
    #[schema(example = "50000")]
    pub max_amount: String,
    /// Largest total per calendar month, yen (string of digits).
    #[schema(example = "100000")]
    pub monthly_max_amount: String,
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
    /// The debit mandate recorded with the grant, when one was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mandate: Option<crate::http::routes::debits::MandateView>,
}

/// Create a grant and tokens for a user and client, as if the user had consented.
#[utoipa::path(post, path = "/sandbox/v1/grants", tag = "sandbox", request_body = CreateGrantRequest,
    security(("adminKey" = [])),
    responses((status = 201, description = "Grant and tokens", body = CreatedGrant),
              (status = 400, description = "Unknown scope name or invalid mandate maxima", body = crate::http::error::Problem, content_type = "application/problem+json"),
              (status = 403, description = "The client is not allowed a scope", body = crate::http::error::Problem, content_type = "application/problem+json"),
              (status = 404, description = "No such user or client, or the mandate's account is not the user's", body = crate::http::error::Problem, content_type = "application/problem+json"),
              (status = 401, description = "Missing or wrong admin key", body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn create_grant(
    _: Admin,
    sandbox: Sandbox,
    ApiJson(req): ApiJson<CreateGrantRequest>,
) -> Result<(StatusCode, Json<CreatedGrant>), ApiError> {
    let scopes = Scope::parse_list(&req.scopes.join(" ")).map_err(|e| ApiError::bad_request("invalid_scope", e))?;
    let mandate = match &req.mandate {
        None => None,
        Some(m) => {
            let yen = |field: &str, v: &str| {
                crate::domain::money::Yen::parse_api(v).map(|y| y.0).ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_amount",
                        format!("mandate.{field} must be whole yen as a string of digits, got {v:?}"),
                    )
                })
            };
            Some(consent::MandateTerms {
                account_id: m.account_id.clone(),
                max_per_debit: yen("maxAmount", &m.max_amount)?,
                max_per_month: yen("monthlyMaxAmount", &m.monthly_max_amount)?,
            })
        }
    };
    let (tokens, grant, mandate) = consent::issue_for_user(&sandbox, &req.username, &req.client_id, &scopes, mandate)
        .await
        .map_err(oauth_error_to_api)?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedGrant {
            grant_id: grant.id,
            grant_expires_at: format_jst(grant.max_expires_at),
            tokens,
            mandate: mandate.as_ref().map(crate::http::routes::debits::mandate_view),
        }),
    ))
}

/// Whose grants.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GrantsQuery {
    /// Login name of the user (`tanaka`; the internal id `u-tanaka` works too).
    pub username: String,
}

/// One consent a user gave a client.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrantView {
    /// Grant id: revoke it with DELETE /sandbox/v1/grants/{grantId}.
    pub grant_id: String,
    /// The client (connecting company's app).
    pub client_id: String,
    /// Connecting company name.
    pub company: String,
    /// Scopes granted.
    pub scopes: Vec<String>,
    /// When the user consented (RFC 3339).
    pub issued_at: String,
    /// The longest refreshing can keep it alive (RFC 3339).
    pub expires_at: String,
    /// "active", "revoked" or "expired".
    pub status: String,
    /// When it was revoked or ended (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// Why: "user", "client", "refresh_token_reuse", "code_reuse", "max_lifetime".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_reason: Option<String>,
}

/// A user's grants, oldest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrantList {
    /// The grants.
    pub grants: Vec<GrantView>,
}

/// List a user's grants (consents) with their ids, to revoke one as the user would.
#[utoipa::path(get, path = "/sandbox/v1/grants", tag = "sandbox", params(GrantsQuery),
    security(("adminKey" = [])),
    responses((status = 200, description = "The user's grants", body = GrantList),
              (status = 400, description = "Bad query", body = crate::http::error::Problem, content_type = "application/problem+json"),
              (status = 401, description = "Missing or wrong admin key", body = crate::http::error::Problem, content_type = "application/problem+json"),
              (status = 404, description = "No such user", body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn list_grants(
    _: Admin,
    sandbox: Sandbox,
    ApiQuery(q): ApiQuery<GrantsQuery>,
) -> Result<Json<GrantList>, ApiError> {
    let user = find_user(&sandbox, &q.username)?;
    let now = sandbox.clock.now();
    let mut grants = sandbox.store.grants(|g| g.user_id == user.id)?;
    grants.sort_by_key(|g| g.issued_at);
    let mut out = Vec::with_capacity(grants.len());
    for g in grants {
        let company = sandbox
            .store
            .client(&g.client_id)?
            .map(|c| c.company)
            .unwrap_or_default();
        let status = match (&g.revoked_at, &g.revoked_reason) {
            (Some(_), Some(r)) if r == "max_lifetime" => "expired",
            (Some(_), _) => "revoked",
            (None, _) if g.max_expires_at <= now => "expired",
            (None, _) => "active",
        };
        out.push(GrantView {
            grant_id: g.id,
            client_id: g.client_id,
            company,
            scopes: g.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            issued_at: format_jst(g.issued_at),
            expires_at: format_jst(g.max_expires_at),
            status: status.into(),
            revoked_at: g.revoked_at.map(format_jst),
            revoked_reason: g.revoked_reason,
        });
    }
    Ok(Json(GrantList { grants: out }))
}

/// A page size from the query: `default` when absent, 400 outside 1..=max.
fn page_limit(limit: Option<usize>, default: usize, max: usize) -> Result<usize, ApiError> {
    match limit.unwrap_or(default) {
        n if (1..=max).contains(&n) => Ok(n),
        n => Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be 1..={max}, got {n}"),
        )),
    }
}

/// A paging cursor: at most 2^53 − 1, so it survives JSON numbers in every client.
fn cursor(name: &str, value: u64) -> Result<u64, ApiError> {
    const MAX: u64 = 9_007_199_254_740_991;
    if value > MAX {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("{name} must be at most {MAX}"),
        ));
    }
    Ok(value)
}

/// A user's login lock.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LockView {
    /// Login name.
    pub username: String,
    /// Whether logins are locked now.
    pub locked: bool,
}

/// Unlock a user locked out by repeated wrong passwords or one-time codes (5 in a row lock
/// the user for 15 minutes of sandbox time).
#[utoipa::path(post, path = "/sandbox/v1/users/{username}/unlock", tag = "sandbox",
    params(("username" = String, Path, description = "Login name (`tanaka`) or internal id (`u-tanaka`)")),
    security(("adminKey" = [])),
    responses((status = 200, description = "Unlocked", body = LockView),
              (status = 401, description = "Missing or wrong admin key", body = crate::http::error::Problem, content_type = "application/problem+json"),
              (status = 404, description = "No such user", body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn unlock_user(_: Admin, sandbox: Sandbox, Path(username): Path<String>) -> Result<Json<LockView>, ApiError> {
    let user = find_user(&sandbox, &username)?;
    let login = user.id.strip_prefix("u-").unwrap_or(&user.id).to_owned();
    crate::services::lockout::unlock(&sandbox, &login).await?;
    Ok(Json(LockView {
        username: login,
        locked: false,
    }))
}

/// A user named as the README shows it (`tanaka`) or by internal id (`u-tanaka`); 404 else.
fn find_user(sandbox: &Sandbox, name: &str) -> Result<crate::domain::customer::User, ApiError> {
    consent::user_by_name(sandbox, name)?
        .ok_or_else(|| ApiError::not_found("user_not_found", format!("no user with username {name:?}")))
}

/// Revoke a grant (as the user would from the bank's settings): its tokens stop working.
#[utoipa::path(delete, path = "/sandbox/v1/grants/{grant_id}", tag = "sandbox",
    params(("grant_id" = String, Path, description = "The grant to revoke")),
    security(("adminKey" = [])),
    responses((status = 204, description = "Revoked"),
              (status = 404, description = "No such grant", body = crate::http::error::Problem, content_type = "application/problem+json"),
              (status = 401, description = "Missing or wrong admin key", body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn revoke_grant(_: Admin, sandbox: Sandbox, Path(grant_id): Path<String>) -> Result<StatusCode, ApiError> {
    if crate::services::grants::revoke_grant_by_id(&sandbox, &grant_id, "user").await? {
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
    #[param(minimum = 100, maximum = 599)]
    pub status: Option<u16>,
    /// Only operations containing this text, e.g. "transactions".
    pub operation: Option<String>,
    /// Only calls at or after this sandbox time (RFC 3339).
    pub since: Option<String>,
    /// Only calls before this sandbox time (RFC 3339).
    pub until: Option<String>,
    /// Page on: entries older than this id (the previous page's `nextBefore`).
    #[param(minimum = 0, maximum = 9_007_199_254_740_991_i64)]
    pub before: Option<u64>,
    /// Entries per page, 1..=200 (default 50).
    #[param(minimum = 1, maximum = 200)]
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
    /// The fault rule that made or changed the answer (`simulate-header` for a one-shot
    /// `Sandbank-Simulate`); status 0 means the fault cut the connection without an answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault_rule: Option<String>,
    /// Server time spent, microseconds.
    pub latency_micros: u64,
    /// End user's IP as sent in `x-end-user-ip`.
    pub end_user_ip: Option<String>,
    /// For a refused call (4xx/5xx): the stable reason code of the rule that refused it
    /// (`token_expired`, `insufficient_scope`, `pkce_mismatch`, `rate_limited`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For a refused call: the detail the caller was told.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
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

/// A time filter in the log's own form (+09:00), from any RFC 3339 time.
fn log_time(name: &str, value: &str) -> Result<String, ApiError> {
    value.parse::<jiff::Timestamp>().map(format_jst).map_err(|_| {
        ApiError::bad_request(
            "invalid_time",
            format!("{name} must be an RFC 3339 time such as 2026-04-01T09:00:00+09:00, got {value:?}"),
        )
    })
}

/// List recorded API calls, newest first.
#[utoipa::path(get, path = "/sandbox/v1/access-logs", tag = "sandbox", params(AccessLogQuery),
    security(("adminKey" = [])),
    responses((status = 200, description = "Access log page", body = AccessLogPage),
              (status = 400, description = "Bad filter", body = crate::http::error::Problem, content_type = "application/problem+json"),
              (status = 401, description = "Missing or wrong admin key", body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn access_logs(
    _: Admin,
    sandbox: Sandbox,
    ApiQuery(q): ApiQuery<AccessLogQuery>,
) -> Result<Json<AccessLogPage>, ApiError> {
    let limit = page_limit(q.limit, 50, 200)?;
    let before = q.before.map(|b| cursor("before", b)).transpose()?;
    if let Some(s) = q.status
        && !(100..=599).contains(&s)
    {
        return Err(ApiError::bad_request(
            "invalid_status",
            format!("status must be 100..=599, got {s}"),
        ));
    }
    // The log records the token's `sub` (u-tanaka); accept the login name too.
    let user_id = match q.user_id {
        Some(u) => Some(consent::user_by_name(&sandbox, &u)?.map(|user| user.id).unwrap_or(u)),
        None => None,
    };
    let filter = AccessLogFilter {
        client_id: q.client_id,
        user_id,
        account_id: q.account_id,
        status: q.status,
        operation: q.operation,
        since: q.since.as_deref().map(|t| log_time("since", t)).transpose()?,
        until: q.until.as_deref().map(|t| log_time("until", t)).transpose()?,
        before,
        limit,
    };
    let (entries, has_next) = access_log::access_logs(&sandbox, &filter)?;
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
                fault_rule: e.fault_rule,
                latency_micros: e.latency_micros,
                end_user_ip: e.end_user_ip,
                reason: e.reason,
                detail: e.detail,
            })
            .collect(),
        has_next,
        next_before,
    }))
}

/// Money arriving from outside the bank.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreditRequest {
    /// Amount in whole yen (string).
    #[schema(example = "250000", pattern = "^[1-9][0-9]{0,11}$")]
    pub amount: String,
    /// Remitter name (kana; converted as banks do).
    #[schema(example = "ｶ)ｻﾝﾄﾞｼﾖｳｼﾞ", min_length = 1, max_length = 48)]
    pub remitter_name: String,
    /// EDI information shown in the remarks.
    pub edi_info: Option<String>,
}

/// An account after a movement.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountBalance {
    /// The account.
    pub account_id: String,
    /// Its balance now, yen.
    pub balance: String,
}

/// Credit an account from outside the bank (e.g. salary from another bank). Accepts `Idempotency-Key`.
#[utoipa::path(post, path = "/sandbox/v1/accounts/{account_id}/credit", tag = "sandbox", request_body = CreditRequest,
    params(("account_id" = String, Path, description = "The account to credit")),
    security(("adminKey" = [])),
    responses((status = 201, description = "Credited", body = AccountBalance),
              (status = 400, description = "Bad amount or name", body = crate::http::error::Problem, content_type = "application/problem+json"),
              (status = 404, description = "No such account", body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn credit(
    _: Admin,
    sandbox: Sandbox,
    Path(account_id): Path<String>,
    ApiJson(req): ApiJson<CreditRequest>,
) -> Result<(StatusCode, Json<AccountBalance>), ApiError> {
    let amount = req
        .amount
        .parse::<i64>()
        .ok()
        .filter(|a| (1..=1_000_000_000_000).contains(a))
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_amount",
                "amount must be whole yen between 1 and 1000000000000, as a string",
            )
        })?;
    let remitter = crate::domain::kana::KanaName::parse(&req.remitter_name)
        .map_err(|e| ApiError::bad_request("invalid_name", format!("remitterName: {e}")))?;
    if req.edi_info.as_ref().is_some_and(|e| e.chars().count() > 20) {
        return Err(ApiError::bad_request("invalid_edi", "ediInfo: at most 20 characters"));
    }
    let account = crate::services::transfers::credit_from_outside(
        &sandbox,
        &account_id,
        crate::domain::money::Yen(amount),
        remitter.as_str(),
        req.edi_info.as_deref(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(AccountBalance {
            account_id: account.id,
            balance: account.balance.to_api_string(),
        }),
    ))
}

/// Close an account: the balance is paid out in cash; afterwards transfers to it are returned
/// (22) and debits answer 2. Accepts `Idempotency-Key`.
#[utoipa::path(post, path = "/sandbox/v1/accounts/{account_id}/close", tag = "sandbox",
    params(("account_id" = String, Path, description = "The account to close")),
    security(("adminKey" = [])),
    responses((status = 200, description = "Closed (balance 0)", body = AccountBalance),
              (status = 404, description = "No such account", body = crate::http::error::Problem, content_type = "application/problem+json"),
              (status = 409, description = "Already closed", body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn close_account(
    _: Admin,
    sandbox: Sandbox,
    Path(account_id): Path<String>,
) -> Result<Json<AccountBalance>, ApiError> {
    let a = crate::services::transfers::close_account(&sandbox, &account_id).await?;
    Ok(Json(AccountBalance {
        account_id: a.id,
        balance: a.balance.to_api_string(),
    }))
}

/// Which accounts to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AccountsQuery {
    /// Only this customer's accounts.
    pub customer_id: Option<String>,
    /// Accounts after this id (paging).
    pub after: Option<String>,
    /// Page size, 1..=1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

/// An account as the control plane shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminAccount {
    /// Account id.
    pub account_id: String,
    /// Owner.
    pub customer_id: String,
    /// Branch code.
    pub branch_code: String,
    /// Deposit type code.
    pub account_type_code: String,
    /// Account number.
    pub account_number: String,
    /// Holder name in kana.
    pub account_name_kana: String,
    /// Balance, yen.
    pub balance: String,
}

/// A page of accounts.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminAccountPage {
    /// The accounts, in id order.
    pub accounts: Vec<AdminAccount>,
    /// Whether more follow.
    pub has_next: bool,
}

/// List the sandbox's accounts (for test set-up: who can receive a transfer).
#[utoipa::path(get, path = "/sandbox/v1/accounts", tag = "sandbox", params(AccountsQuery),
    security(("adminKey" = [])),
    responses((status = 200, description = "Accounts", body = AdminAccountPage)))]
pub async fn list_accounts(
    _: Admin,
    sandbox: Sandbox,
    ApiQuery(q): ApiQuery<AccountsQuery>,
) -> Result<Json<AdminAccountPage>, ApiError> {
    let limit = page_limit(q.limit, 100, 1000)?;
    let (accounts, has_next) = sandbox
        .store
        .list_accounts(q.customer_id.as_deref(), q.after.as_deref(), limit)?;
    Ok(Json(AdminAccountPage {
        accounts: accounts
            .into_iter()
            .map(|a| AdminAccount {
                account_id: a.id,
                customer_id: a.customer_id,
                branch_code: a.branch.to_string(),
                account_type_code: a.account_type.code().into(),
                account_number: a.number.to_string(),
                account_name_kana: a.holder_kana.to_string(),
                balance: a.balance.to_api_string(),
            })
            .collect(),
        has_next,
    }))
}

/// Whose notifications.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NotificationsQuery {
    /// Login name of the user (their customer's notifications); `u-tanaka` works too.
    pub username: String,
    /// Most to return, 1..=500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
}

/// A notification the bank sent (the simulated e-mail).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationView {
    /// Id (increasing).
    pub id: u64,
    /// The account concerned.
    pub account_id: String,
    /// When it was sent (sandbox time).
    pub sent_at: String,
    /// Subject line.
    pub subject: String,
    /// Text.
    pub body: String,
}

/// Notifications, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationList {
    /// The notifications.
    pub notifications: Vec<NotificationView>,
}

/// List a customer's notifications: every movement of funds sends one.
#[utoipa::path(get, path = "/sandbox/v1/notifications", tag = "sandbox", params(NotificationsQuery),
    security(("adminKey" = [])),
    responses((status = 200, description = "Notifications", body = NotificationList),
              (status = 400, description = "Neither username nor customerId", body = crate::http::error::Problem, content_type = "application/problem+json"),
              (status = 404, description = "No such user", body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn notifications(
    _: Admin,
    sandbox: Sandbox,
    ApiQuery(q): ApiQuery<NotificationsQuery>,
) -> Result<Json<NotificationList>, ApiError> {
    let customer_id = find_user(&sandbox, &q.username)?.customer_id;
    let limit = page_limit(q.limit, 50, 500)?;
    let list = sandbox.store.notifications(&customer_id, limit)?;
    Ok(Json(NotificationList {
        notifications: list
            .into_iter()
            .map(|n| NotificationView {
                id: n.id,
                account_id: n.account_id,
                sent_at: n.sent_at,
                subject: n.subject,
                body: n.body,
            })
            .collect(),
    }))
}

/// A system ledger account.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SystemAccount {
    /// fee_income, suspense, external, or clearing:{bankCode}.
    pub name: String,
    /// Balance, yen.
    pub balance: String,
}

/// The ledger's totals and invariants.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LedgerView {
    /// Sum of the opening balances when the sandbox was built.
    pub opening_total: String,
    /// Sum of every customer account balance now.
    pub customer_total: String,
    /// Number of customer accounts.
    pub account_count: u64,
    /// System ledger accounts.
    pub system_accounts: Vec<SystemAccount>,
    /// customerTotal + system balances − openingTotal; always 0 when money is conserved.
    pub discrepancy: String,
    /// Accounts below their overdraft limit (always empty).
    pub accounts_below_limit: Vec<String>,
}

/// Ledger totals: money conservation and limits, for checking invariants.
#[utoipa::path(get, path = "/sandbox/v1/ledger", tag = "sandbox",
    security(("adminKey" = [])),
    responses((status = 200, description = "Totals", body = LedgerView)))]
pub async fn ledger(_: Admin, sandbox: Sandbox) -> Result<Json<LedgerView>, ApiError> {
    let s = ledger::ledger_summary(&sandbox)?;
    let system_total: i64 = s.system.iter().map(|(_, v)| v).sum();
    Ok(Json(LedgerView {
        opening_total: s.opening_total.to_string(),
        customer_total: s.customer_total.to_string(),
        account_count: s.account_count,
        discrepancy: (s.customer_total + system_total - s.opening_total).to_string(),
        system_accounts: s
            .system
            .into_iter()
            .map(|(name, v)| SystemAccount {
                name,
                balance: v.to_string(),
            })
            .collect(),
        accounts_below_limit: s.below_limit,
    }))
}

/// An approver's decision.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApprovalRequest {
    /// Login name of the approver (an approver or admin of the same corporation).
    #[schema(example = "yamada-approver", min_length = 1)]
    pub approver: String,
    /// "approve" or "return" (差戻).
    #[schema(example = "approve", pattern = "^(approve|return)$")]
    pub decision: String,
    /// Comment to the applicant.
    pub comment: Option<String>,
}

/// Approve or return (差戻) a corporate transfer waiting for approval. Accepts `Idempotency-Key`.
#[utoipa::path(post, path = "/sandbox/v1/transfers/{apply_no}/approval", tag = "sandbox", request_body = ApprovalRequest,
    params(("apply_no" = String, Path, description = "Acceptance number")),
    security(("adminKey" = [])),
    responses((status = 200, description = "The transfer after the decision", body = crate::http::routes::transfers::TransferView),
              (status = 400, description = "Bad decision", body = crate::http::error::Problem, content_type = "application/problem+json"),
              (status = 403, description = "Not an approver", body = crate::http::error::Problem, content_type = "application/problem+json"),
              (status = 404, description = "No such transfer for the approver's corporation", body = crate::http::error::Problem, content_type = "application/problem+json"),
              (status = 409, description = "Not waiting for approval", body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn approval(
    _: Admin,
    sandbox: Sandbox,
    Path(apply_no): Path<String>,
    ApiJson(req): ApiJson<ApprovalRequest>,
) -> Result<Json<crate::http::routes::transfers::TransferView>, ApiError> {
    let decision = match req.decision.as_str() {
        "approve" => crate::services::transfers::Decision::Approve,
        "return" => crate::services::transfers::Decision::Return,
        other => {
            return Err(ApiError::bad_request(
                "invalid_decision",
                format!("decision must be approve or return, got {other:?}"),
            ));
        }
    };
    let approver = find_user(&sandbox, &req.approver)?;
    let r =
        crate::services::transfers::decide(&sandbox, &approver.id, &apply_no, decision, req.comment.as_deref()).await?;
    Ok(Json(crate::http::routes::transfers::view(&r)))
}

/// Paging of the event outbox.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Events after this sequence number (0 for the first); pass the last `seq` seen.
    #[param(minimum = 0, maximum = 9_007_199_254_740_991_i64)]
    pub after: Option<u64>,
    /// Most to return, 1..=1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

/// One event from the outbox.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventView {
    /// Outbox sequence number: 1, 2, 3 … in commit order, without gaps.
    pub seq: u64,
    /// Event id, unique in the sandbox (`evt_` and the sequence number).
    pub id: String,
    /// The event type, one of the webhook event types (the OpenAPI `webhooks` section lists
    /// each with an example): `transfer.accepted`, `transfer.completed`, `account.credited`, …
    #[serde(rename = "type")]
    pub event_type: String,
    /// When it happened (sandbox time).
    pub occurred_at: String,
    /// The payload.
    pub data: serde_json::Value,
}

/// Events, oldest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventList {
    /// The events.
    pub events: Vec<EventView>,
}

/// Pull events from the outbox (every state change writes one in the same atomic write).
#[utoipa::path(get, path = "/sandbox/v1/events", tag = "sandbox", params(EventsQuery),
    security(("adminKey" = [])),
    responses((status = 200, description = "Events", body = EventList)))]
pub async fn events(
    _: Admin,
    sandbox: Sandbox,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Json<EventList>, ApiError> {
    let list = sandbox
        .store
        .events_after(cursor("after", q.after.unwrap_or(0))?, page_limit(q.limit, 100, 1000)?)?;
    Ok(Json(EventList {
        events: list
            .into_iter()
            .map(|e| EventView {
                seq: e.seq,
                id: e.id(),
                event_type: e.kind.name().to_owned(),
                occurred_at: e.occurred_at,
                data: e.kind.data(),
            })
            .collect(),
    }))
}

/// Whose mandates.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MandatesQuery {
    /// Login name of the user.
    pub username: String,
}

/// The debit mandates a user has granted.
#[utoipa::path(get, path = "/sandbox/v1/mandates", tag = "sandbox", params(MandatesQuery),
    security(("adminKey" = [])),
    responses((status = 200, description = "Mandates", body = crate::http::routes::debits::MandateList),
              (status = 404, description = "No such user", body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn mandates(
    _: Admin,
    sandbox: Sandbox,
    ApiQuery(q): ApiQuery<MandatesQuery>,
) -> Result<Json<crate::http::routes::debits::MandateList>, ApiError> {
    let user = find_user(&sandbox, &q.username)?;
    let list = sandbox.store.mandates(|m| m.user_id == user.id)?;
    Ok(Json(crate::http::routes::debits::MandateList {
        mandates: list.iter().map(crate::http::routes::debits::mandate_view).collect(),
    }))
}

/// Stop a mandate as the depositor would (later debits answer 3). Accepts `Idempotency-Key`.
#[utoipa::path(post, path = "/sandbox/v1/mandates/{mandate_id}/stop", tag = "sandbox",
    params(("mandate_id" = String, Path, description = "The mandate")),
    security(("adminKey" = [])),
    responses((status = 200, description = "The mandate", body = crate::http::routes::debits::MandateView),
              (status = 404, description = "No such mandate", body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn stop_mandate(
    _: Admin,
    sandbox: Sandbox,
    Path(mandate_id): Path<String>,
) -> Result<Json<crate::http::routes::debits::MandateView>, ApiError> {
    let m = crate::services::debits::end_mandate(&sandbox, &mandate_id, None).await?;
    Ok(Json(crate::http::routes::debits::mandate_view(&m)))
}

/// The control plane's POSTs take `Idempotency-Key` where a retry must not do the work twice
/// (a credit, a closing, a clock advance, a grant, a stopped mandate, an approval); the rest
/// are safe to repeat or answer a secret once (unlocks).
pub fn router() -> Routes {
    let admin = RouteSpec::admin();
    let keyed = admin.keyed();
    Routes::new()
        .add(admin, routes!(mandates))
        .add(keyed, routes!(stop_mandate))
        .add(keyed, routes!(credit))
        .add(keyed, routes!(close_account))
        .add(admin, routes!(list_accounts))
        .add(admin, routes!(notifications))
        .add(admin, routes!(ledger))
        .add(keyed, routes!(approval))
        .add(admin, routes!(events))
        .add(admin, routes!(get_clock))
        .add(keyed, routes!(advance_clock))
        .add(keyed, routes!(create_grant, list_grants))
        .add(admin, routes!(revoke_grant))
        .add(admin, routes!(access_logs))
        .add(admin, routes!(unlock_user))
}
