//! Sandboxes as things to manage: the operator API (`/operator/v1/sandboxes`: create from the
//! catalogue or from YAML, list, delete, reset, snapshots) and the same reset and snapshots
//! for a sandbox's own admin under its control plane (`/sandbox/v1/reset`, `…/snapshots`).

use crate::http::error::ApiError;
use crate::http::extract::{Admin, ApiJson, Operator};
use crate::http::route::{RouteSpec, Routes};
use crate::sandbox::Sandbox;
use crate::scenario::LoadedScenario;
use crate::server::Server;
use crate::services::lifecycle::{self as lifecycle, LifecycleError, NewSandbox, SandboxSummary, SnapshotInfo};
use axum::Json;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::routes;

type Problem = crate::http::error::Problem;

impl From<LifecycleError> for ApiError {
    fn from(e: LifecycleError) -> Self {
        let detail = e.to_string();
        match e {
            LifecycleError::NotFound(_) => ApiError::not_found("sandbox_not_found", detail),
            LifecycleError::SnapshotNotFound(_) => ApiError::not_found("snapshot_not_found", detail),
            LifecycleError::LimitReached(_) if detail.contains("max-snapshots") => {
                ApiError::new(StatusCode::CONFLICT, "snapshot_limit_reached", detail)
            }
            LifecycleError::LimitReached(_) => ApiError::new(StatusCode::CONFLICT, "sandbox_limit_reached", detail),
            LifecycleError::QuotaExceeded(_) => ApiError::new(StatusCode::CONFLICT, "storage_quota_exceeded", detail),
            LifecycleError::TooLarge(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "scenario_too_large", detail)
            }
            LifecycleError::InvalidScenario(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_scenario", detail)
            }
            LifecycleError::Invalid(_) => ApiError::bad_request("invalid_request", detail),
            LifecycleError::Conflict(_) => ApiError::new(StatusCode::CONFLICT, "conflict", detail),
            LifecycleError::InProgress(_) => ApiError::new(StatusCode::CONFLICT, "lifecycle_in_progress", detail),
            LifecycleError::Busy(_) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "sandbox_busy", detail).retry_after(1)
            }
            LifecycleError::Quarantined(_) => ApiError::new(StatusCode::CONFLICT, "sandbox_quarantined", detail),
            LifecycleError::SnapshotUnusable(_) => ApiError::new(StatusCode::CONFLICT, "snapshot_unusable", detail),
            LifecycleError::Storage(e) => e.into(),
            LifecycleError::Internal(e) => ApiError::internal(e),
        }
    }
}

/// What to build a sandbox from (JSON). Alternatively send the scenario itself as the body
/// with `Content-Type: application/yaml`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSandboxRequest {
    /// A scenario of the built-in catalogue: `default` or `large`.
    #[schema(example = "default")]
    pub scenario: Option<String>,
    /// A whole scenario file as YAML text (the format of scenarios/README.md).
    pub scenario_yaml: Option<String>,
}

/// A connecting company's credentials in a sandbox.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientCredentials {
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret (client_secret_basic or client_secret_post).
    pub client_secret: String,
    /// 接続先 (connecting company).
    pub company: String,
    /// The app's name on the consent screen.
    pub service: String,
    /// Registered redirect URIs (matched exactly).
    pub redirect_uris: Vec<String>,
    /// Scopes the client may ask for.
    pub scopes: Vec<String>,
}

/// A test user who can log in on the consent screen.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestUser {
    /// Login name; for a generated population, the first and last (`user00001..user00150`).
    pub username: String,
    /// Login password.
    pub password: String,
    /// The one-time code asked for transfer and debit scopes.
    pub otp: String,
    /// `individual`, or the role in a corporation (`operator`, `approver`, …).
    pub kind: String,
    /// The customer's name (kanji), or "generated".
    pub customer: String,
}

/// A new sandbox: where it is served and how to get in, as the startup banner shows for the
/// default one. The admin key and client secrets are shown here once; keep them.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SandboxCreated {
    /// The sandbox id (`sb-…`).
    pub id: String,
    /// Base URL of every API of this sandbox, and its OAuth issuer.
    #[schema(example = "http://127.0.0.1:8080/s/sb-0123456789")]
    pub base_url: String,
    /// Admin key for `{baseUrl}/sandbox/v1`.
    pub admin_key: String,
    /// `{baseUrl}/.well-known/openid-configuration`.
    pub discovery_url: String,
    /// `{baseUrl}/swagger-ui/`.
    pub swagger_ui: String,
    /// `{baseUrl}/portal`: the sandbox's developer portal (sign in with the admin key).
    pub portal: String,
    /// The scenario's name.
    pub scenario: String,
    /// Customers built.
    pub customers: u64,
    /// Accounts built.
    pub accounts: u64,
    /// The sandbox clock now (RFC 3339, +09:00).
    pub sandbox_time: String,
    /// Connecting companies (OAuth clients) with their secrets.
    pub clients: Vec<ClientCredentials>,
    /// Users who can log in on the consent screen.
    pub users: Vec<TestUser>,
}

/// A snapshot of a sandbox.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotView {
    /// The snapshot's name.
    pub name: String,
    /// When it was taken (real time, RFC 3339).
    pub taken_at: String,
    /// The sandbox clock it restores to.
    pub sandbox_time: String,
}

/// A snapshot to take.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SnapshotRequest {
    /// 1–64 of `A-Z a-z 0-9 . _ -`; taking a name again replaces that snapshot.
    #[schema(example = "before-payday", pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub name: String,
}

/// One sandbox of the server.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SandboxView {
    /// The sandbox id (`default` for the one at the root).
    pub id: String,
    /// True for the sandbox served at the root paths (it cannot be deleted and never expires).
    pub default: bool,
    /// Base URL of its APIs and its OAuth issuer.
    pub base_url: String,
    /// The scenario's name.
    pub scenario: String,
    /// `startup` (the server's own), `catalogue` or `inline`.
    pub scenario_source: String,
    /// Real time, RFC 3339.
    pub created_at: String,
    /// Real time of the last request, RFC 3339.
    pub last_used_at: String,
    /// When idle expiry deletes it if it stays unused (real time); absent when it never does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Customers in it.
    pub customers: u64,
    /// Accounts in it.
    pub accounts: u64,
    /// Bytes of its stored records (keys and values; the list omits it unless `?size=true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stored_bytes: Option<u64>,
    /// Requests served since it was created.
    pub requests: u64,
    /// Its clock now (absent while it is quarantined).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox_time: Option<String>,
    /// Its snapshots, oldest first.
    pub snapshots: Vec<SnapshotView>,
    /// `active`, or `quarantined`: it could not be loaded when the server started and is not
    /// served (its requests answer 503 `sandbox_quarantined`); restore one of its snapshots
    /// or delete it.
    pub state: String,
    /// Why it is quarantined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Its storage use against its quota, as last measured.
    pub storage: StorageView,
}

/// A sandbox's storage use against its quota. Use is measured after every lifecycle change
/// and about every 30 s while the sandbox is used; while it is over the quota its update
/// APIs answer 409 `storage_quota_exceeded`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageView {
    /// Bytes of its records, live world and snapshots together (keys and values).
    pub used_bytes: u64,
    /// Of which its live world (the access log included).
    pub live_bytes: u64,
    /// Of which its snapshots.
    pub snapshot_bytes: u64,
    /// Its quota in bytes; null for none.
    pub quota_bytes: Option<u64>,
    /// Whether it is over its quota.
    pub over_quota: bool,
    /// When it was measured (real time, RFC 3339); null before the first measurement.
    pub measured_at: Option<String>,
}

/// A new storage quota for a sandbox.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StorageQuotaRequest {
    /// The quota in MiB over its live world and snapshots; 0 for none; null for the server's
    /// default (`--sandbox-quota-mb` for created sandboxes, none for the default sandbox).
    pub max_mb: Option<u64>,
}

/// The operator's listing.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SandboxList {
    /// Every sandbox, in id order.
    pub sandboxes: Vec<SandboxView>,
    /// The server's limit on sandboxes (the default one included).
    pub max_sandboxes: usize,
}

fn snapshot_view(s: &SnapshotInfo) -> SnapshotView {
    SnapshotView {
        name: s.name.clone(),
        taken_at: lifecycle::jst_of_secs(s.taken_at),
        sandbox_time: crate::clock::format_jst(s.sandbox_time),
    }
}

fn sandbox_view(s: SandboxSummary, with_bytes: bool) -> SandboxView {
    let r = s.record;
    SandboxView {
        default: r.id == crate::sandbox::DEFAULT_SANDBOX,
        base_url: s.base_url,
        scenario: r.scenario_name,
        scenario_source: match r.source {
            lifecycle::ScenarioSource::Startup => "startup",
            lifecycle::ScenarioSource::Catalogue(_) => "catalogue",
            lifecycle::ScenarioSource::Inline(_) => "inline",
        }
        .into(),
        created_at: lifecycle::jst_of_secs(r.created_at),
        last_used_at: lifecycle::jst_of_secs(s.last_used),
        expires_at: s.expires_at.map(lifecycle::jst_of_secs),
        customers: r.customers,
        accounts: r.accounts,
        stored_bytes: with_bytes.then_some(s.stored_bytes),
        requests: s.requests,
        sandbox_time: s.sandbox_time.map(crate::clock::format_jst),
        snapshots: r.snapshots.iter().map(snapshot_view).collect(),
        state: if s.quarantined.is_some() {
            "quarantined"
        } else {
            "active"
        }
        .into(),
        error: s.quarantined,
        storage: StorageView {
            used_bytes: s.storage.used(),
            live_bytes: s.storage.live,
            snapshot_bytes: s.storage.snapshots,
            quota_bytes: s.storage.quota,
            over_quota: s.storage.over(),
            measured_at: (s.storage.measured_at != 0).then(|| lifecycle::jst_of_secs(s.storage.measured_at)),
        },
        id: r.id,
    }
}

/// The clients and test users of a scenario, as the startup banner lists them; `secrets`
/// replace the scenario's client secrets.
pub fn credentials(
    scenario: &LoadedScenario,
    secrets: &lifecycle::ClientSecrets,
) -> (Vec<ClientCredentials>, Vec<TestUser>) {
    let s = &scenario.scenario;
    let clients = s
        .clients
        .iter()
        .map(|c| ClientCredentials {
            client_id: c.client_id.value.clone(),
            client_secret: secrets
                .get(&c.client_id.value)
                .cloned()
                .unwrap_or_else(|| c.client_secret.clone()),
            company: c.company.clone(),
            service: c.service.clone(),
            redirect_uris: c.redirect_uris.iter().map(|u| u.value.clone()).collect(),
            scopes: c.scopes.iter().map(|s| s.0.as_str().to_owned()).collect(),
        })
        .collect();
    let mut users = Vec::new();
    for c in &s.customers {
        if let Some(l) = &c.login {
            users.push(TestUser {
                username: l.username.value.clone(),
                password: l.password.clone(),
                otp: l.otp.clone(),
                kind: "individual".into(),
                customer: c.name.kanji.clone(),
            });
        }
        for u in &c.users {
            users.push(TestUser {
                username: u.username.value.clone(),
                password: u.password.clone(),
                otp: u.otp.clone(),
                kind: format!("{:?}", u.role).to_lowercase(),
                customer: c.name.kanji.clone(),
            });
        }
    }
    for p in &s.populations {
        let prefix = &p.login.username_prefix.value;
        users.push(TestUser {
            username: format!("{prefix}00001..{prefix}{:05}", p.count.value),
            password: p.login.password.clone(),
            otp: crate::scenario::schema::default_otp(),
            kind: format!("{:?}", p.kind).to_lowercase(),
            customer: "generated".into(),
        });
    }
    (clients, users)
}

fn is_yaml(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|ct| ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .is_some_and(|ct| {
            matches!(
                ct.as_str(),
                "application/yaml" | "application/x-yaml" | "text/yaml" | "text/x-yaml"
            )
        })
}

/// Create a sandbox from a catalogue scenario (`{"scenario": "default"}`) or from scenario
/// YAML (`{"scenarioYaml": "…"}`, or the YAML itself as an `application/yaml` body). Answers
/// once it is built and durable; its URLs work at once.
#[utoipa::path(post, path = "/operator/v1/sandboxes", tag = "operator",
    security(("operatorKey" = [])),
    request_body(content(
        (CreateSandboxRequest = "application/json"),
        (String = "application/yaml", example = "name: my-bank\nseed: 1\n...")
    )),
    responses(
        (status = 201, description = "Created: its base URL, admin key, clients and users", body = SandboxCreated),
        (status = 400, description = "Neither or both of scenario and scenarioYaml, or malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The server holds as many sandboxes as it may (max-sandboxes)", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is neither JSON nor YAML", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The scenario is not valid (each problem as file:line:column) or has more customers than allowed", body = Problem, content_type = "application/problem+json")))]
pub async fn create_sandbox(
    Operator(server): Operator,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<SandboxCreated>), ApiError> {
    let what = if is_yaml(&headers) {
        let yaml = String::from_utf8(body.to_vec())
            .map_err(|_| ApiError::bad_request("invalid_body", "the YAML body is not UTF-8"))?;
        NewSandbox::Yaml(yaml)
    } else {
        let json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.trim_start().to_ascii_lowercase().starts_with("application/json"));
        if !json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send JSON ({\"scenario\": \"default\"}) as application/json, or scenario YAML as application/yaml",
            ));
        }
        let req: CreateSandboxRequest = serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_json",
                format!("invalid request body: {e}"),
            )
        })?;
        match (req.scenario, req.scenario_yaml) {
            (Some(name), None) => NewSandbox::Catalogue(name),
            (None, Some(yaml)) => NewSandbox::Yaml(yaml),
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_request",
                    "give exactly one of `scenario` (a catalogue name such as \"default\") or `scenarioYaml`",
                ));
            }
        }
    };
    let (created, size) = lifecycle::create(&server, what, &crate::http::faults::faultable_operation).await?;
    let (clients, users) = credentials(&created.scenario, &created.client_secrets);
    let now = server
        .sandbox(&created.id)
        .map(|s| crate::clock::format_jst(s.clock.now()))
        .unwrap_or_default();
    Ok((
        StatusCode::CREATED,
        Json(SandboxCreated {
            discovery_url: format!("{}/.well-known/openid-configuration", created.base_url),
            swagger_ui: format!("{}/swagger-ui/", created.base_url),
            portal: format!("{}/portal", created.base_url),
            id: created.id,
            base_url: created.base_url,
            admin_key: created.admin_key,
            scenario: created.scenario.scenario.name.clone(),
            customers: size.customers,
            accounts: size.accounts,
            sandbox_time: now,
            clients,
            users,
        }),
    ))
}

/// Query of the listing.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Also count each sandbox's stored bytes (reads all its records).
    pub size: Option<bool>,
}

/// List the server's sandboxes with their scenario, use, size and expiry.
#[utoipa::path(get, path = "/operator/v1/sandboxes", tag = "operator", params(ListQuery),
    security(("operatorKey" = [])),
    responses((status = 200, description = "Every sandbox, in id order", body = SandboxList)))]
pub async fn list_sandboxes(
    Operator(server): Operator,
    crate::http::extract::ApiQuery(q): crate::http::extract::ApiQuery<ListQuery>,
) -> Result<Json<SandboxList>, ApiError> {
    let with_bytes = q.size.unwrap_or(false);
    let list = {
        let server = server.clone();
        tokio::task::spawn_blocking(move || lifecycle::list(&server, with_bytes))
            .await
            .map_err(ApiError::internal)??
    };
    Ok(Json(SandboxList {
        sandboxes: list.into_iter().map(|s| sandbox_view(s, with_bytes)).collect(),
        max_sandboxes: server.config.limits.max_sandboxes,
    }))
}

/// One sandbox, with its stored bytes.
#[utoipa::path(get, path = "/operator/v1/sandboxes/{sandboxId}", tag = "operator",
    params(("sandboxId" = String, Path, description = "The sandbox id")),
    security(("operatorKey" = [])),
    responses((status = 200, description = "The sandbox", body = SandboxView),
              (status = 404, description = "No such sandbox", body = Problem, content_type = "application/problem+json")))]
pub async fn get_sandbox(Operator(server): Operator, Path(id): Path<String>) -> Result<Json<SandboxView>, ApiError> {
    let summary = tokio::task::spawn_blocking(move || lifecycle::summary(&server, &id, true))
        .await
        .map_err(ApiError::internal)??;
    Ok(Json(sandbox_view(summary, true)))
}

/// Delete a sandbox and all its data (snapshots included); its URLs answer 404 at once.
#[utoipa::path(delete, path = "/operator/v1/sandboxes/{sandboxId}", tag = "operator",
    params(("sandboxId" = String, Path, description = "The sandbox id")),
    security(("operatorKey" = [])),
    responses((status = 204, description = "Deleted"),
              (status = 404, description = "No such sandbox", body = Problem, content_type = "application/problem+json"),
              (status = 409, description = "The default sandbox cannot be deleted", body = Problem, content_type = "application/problem+json")))]
pub async fn delete_sandbox(Operator(server): Operator, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    lifecycle::delete(&server, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Set a sandbox's storage quota (its live world and snapshots together). While a sandbox is
/// over it, its update APIs answer 409 `storage_quota_exceeded` and snapshots that would not
/// fit are refused; reads, reset and deleting snapshots keep working.
#[utoipa::path(put, path = "/operator/v1/sandboxes/{sandboxId}/storage-quota", tag = "operator",
    request_body = StorageQuotaRequest,
    params(("sandboxId" = String, Path, description = "The sandbox id")),
    security(("operatorKey" = [])),
    responses((status = 200, description = "The sandbox, measured against its new quota", body = SandboxView),
              (status = 404, description = "No such sandbox", body = Problem, content_type = "application/problem+json"),
              (status = 422, description = "Not a quota", body = Problem, content_type = "application/problem+json")))]
pub async fn set_storage_quota(
    Operator(server): Operator,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<StorageQuotaRequest>,
) -> Result<Json<SandboxView>, ApiError> {
    if req.max_mb.is_some_and(|mb| mb > 1 << 30) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_quota",
            "maxMb: give at most 1073741824 (MiB), 0 for no quota, or null for the server's default",
        ));
    }
    lifecycle::set_storage_quota(&server, &id, req.max_mb).await?;
    Ok(Json(sandbox_view(lifecycle::summary(&server, &id, false)?, false)))
}

async fn reset_view(server: &Server, id: &str) -> Result<Json<SandboxView>, ApiError> {
    lifecycle::reset(server, id).await?;
    Ok(Json(sandbox_view(lifecycle::summary(server, id, false)?, false)))
}

/// Return a sandbox to its scenario's initial state: same ids and credentials, clock back at
/// the scenario's start; tokens, grants, transfers and events since are gone.
#[utoipa::path(post, path = "/operator/v1/sandboxes/{sandboxId}/reset", tag = "operator",
    params(("sandboxId" = String, Path, description = "The sandbox id")),
    security(("operatorKey" = [])),
    responses((status = 200, description = "Reset", body = SandboxView),
              (status = 404, description = "No such sandbox", body = Problem, content_type = "application/problem+json")))]
pub async fn operator_reset(Operator(server): Operator, Path(id): Path<String>) -> Result<Json<SandboxView>, ApiError> {
    reset_view(&server, &id).await
}

/// The snapshots of a sandbox.
#[utoipa::path(get, path = "/operator/v1/sandboxes/{sandboxId}/snapshots", tag = "operator",
    params(("sandboxId" = String, Path, description = "The sandbox id")),
    security(("operatorKey" = [])),
    responses((status = 200, description = "Oldest first", body = [SnapshotView]),
              (status = 404, description = "No such sandbox", body = Problem, content_type = "application/problem+json")))]
pub async fn operator_snapshots(
    Operator(server): Operator,
    Path(id): Path<String>,
) -> Result<Json<Vec<SnapshotView>>, ApiError> {
    Ok(Json(
        lifecycle::snapshots(&server, &id)?.iter().map(snapshot_view).collect(),
    ))
}

/// Take a named snapshot of everything in a sandbox: records, tokens, grants, ledger, events
/// and clock. Taking a name again replaces it.
#[utoipa::path(post, path = "/operator/v1/sandboxes/{sandboxId}/snapshots", tag = "operator",
    params(("sandboxId" = String, Path, description = "The sandbox id")),
    request_body = SnapshotRequest,
    security(("operatorKey" = [])),
    responses((status = 201, description = "Taken", body = SnapshotView),
              (status = 400, description = "Not a valid snapshot name", body = Problem, content_type = "application/problem+json"),
              (status = 404, description = "No such sandbox", body = Problem, content_type = "application/problem+json")))]
pub async fn operator_snapshot(
    Operator(server): Operator,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<SnapshotRequest>,
) -> Result<(StatusCode, Json<SnapshotView>), ApiError> {
    let info = lifecycle::snapshot(&server, &id, &req.name).await?;
    Ok((StatusCode::CREATED, Json(snapshot_view(&info))))
}

/// Bring a snapshot back: everything as it was when it was taken, the clock included.
#[utoipa::path(post, path = "/operator/v1/sandboxes/{sandboxId}/snapshots/{name}/restore", tag = "operator",
    params(("sandboxId" = String, Path, description = "The sandbox id"), ("name" = String, Path, description = "The snapshot")),
    security(("operatorKey" = [])),
    responses((status = 200, description = "Restored", body = SandboxView),
              (status = 404, description = "No such sandbox or snapshot", body = Problem, content_type = "application/problem+json")))]
pub async fn operator_restore(
    Operator(server): Operator,
    Path((id, name)): Path<(String, String)>,
) -> Result<Json<SandboxView>, ApiError> {
    lifecycle::restore(&server, &id, &name).await?;
    Ok(Json(sandbox_view(lifecycle::summary(&server, &id, false)?, false)))
}

/// Delete a snapshot.
#[utoipa::path(delete, path = "/operator/v1/sandboxes/{sandboxId}/snapshots/{name}", tag = "operator",
    params(("sandboxId" = String, Path, description = "The sandbox id"), ("name" = String, Path, description = "The snapshot")),
    security(("operatorKey" = [])),
    responses((status = 204, description = "Deleted"),
              (status = 404, description = "No such sandbox or snapshot", body = Problem, content_type = "application/problem+json")))]
pub async fn operator_delete_snapshot(
    Operator(server): Operator,
    Path((id, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    lifecycle::delete_snapshot(&server, &id, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Reset this sandbox to its scenario's initial state (same ids and credentials, this admin
/// key included; clock back at the scenario's start). For a CI run between tests.
#[utoipa::path(post, path = "/sandbox/v1/reset", tag = "sandbox",
    security(("adminKey" = [])),
    responses((status = 200, description = "Reset", body = SandboxView)))]
pub async fn reset_own(_: Admin, sandbox: Sandbox, server: Server) -> Result<Json<SandboxView>, ApiError> {
    reset_view(&server, &sandbox.id).await
}

/// This sandbox's snapshots.
#[utoipa::path(get, path = "/sandbox/v1/snapshots", tag = "sandbox",
    security(("adminKey" = [])),
    responses((status = 200, description = "Oldest first", body = [SnapshotView])))]
pub async fn own_snapshots(_: Admin, sandbox: Sandbox, server: Server) -> Result<Json<Vec<SnapshotView>>, ApiError> {
    Ok(Json(
        lifecycle::snapshots(&server, &sandbox.id)?
            .iter()
            .map(snapshot_view)
            .collect(),
    ))
}

/// Take a named snapshot of this sandbox.
#[utoipa::path(post, path = "/sandbox/v1/snapshots", tag = "sandbox", request_body = SnapshotRequest,
    security(("adminKey" = [])),
    responses((status = 201, description = "Taken", body = SnapshotView),
              (status = 400, description = "Not a valid snapshot name", body = Problem, content_type = "application/problem+json")))]
pub async fn snapshot_own(
    _: Admin,
    sandbox: Sandbox,
    server: Server,
    ApiJson(req): ApiJson<SnapshotRequest>,
) -> Result<(StatusCode, Json<SnapshotView>), ApiError> {
    let info = lifecycle::snapshot(&server, &sandbox.id, &req.name).await?;
    Ok((StatusCode::CREATED, Json(snapshot_view(&info))))
}

/// Restore one of this sandbox's snapshots.
#[utoipa::path(post, path = "/sandbox/v1/snapshots/{name}/restore", tag = "sandbox",
    params(("name" = String, Path, description = "The snapshot")),
    security(("adminKey" = [])),
    responses((status = 200, description = "Restored", body = SandboxView),
              (status = 404, description = "No such snapshot", body = Problem, content_type = "application/problem+json")))]
pub async fn restore_own(
    _: Admin,
    sandbox: Sandbox,
    server: Server,
    Path(name): Path<String>,
) -> Result<Json<SandboxView>, ApiError> {
    lifecycle::restore(&server, &sandbox.id, &name).await?;
    Ok(Json(sandbox_view(
        lifecycle::summary(&server, &sandbox.id, false)?,
        false,
    )))
}

/// Delete one of this sandbox's snapshots.
#[utoipa::path(delete, path = "/sandbox/v1/snapshots/{name}", tag = "sandbox",
    params(("name" = String, Path, description = "The snapshot")),
    security(("adminKey" = [])),
    responses((status = 204, description = "Deleted"),
              (status = 404, description = "No such snapshot", body = Problem, content_type = "application/problem+json")))]
pub async fn delete_own_snapshot(
    _: Admin,
    sandbox: Sandbox,
    server: Server,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    lifecycle::delete_snapshot(&server, &sandbox.id, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The sandbox's own reset and snapshots change its whole world: they close its gate
/// themselves, and take no `Idempotency-Key` (they replace the very state a stored answer would
/// live in, and are safe to repeat: a snapshot name is replaced, a reset or restore is the same
/// state again).
pub fn router() -> Routes {
    let operator = RouteSpec::operator();
    let own = RouteSpec::admin().lifecycle();
    Routes::new()
        .add(operator, routes!(create_sandbox, list_sandboxes))
        .add(operator, routes!(get_sandbox, delete_sandbox))
        .add(operator, routes!(set_storage_quota))
        .add(operator, routes!(operator_reset))
        .add(operator, routes!(operator_snapshots, operator_snapshot))
        .add(operator, routes!(operator_restore))
        .add(operator, routes!(operator_delete_snapshot))
        .add(own, routes!(reset_own))
        .add(own, routes!(own_snapshots, snapshot_own))
        .add(own, routes!(restore_own))
        .add(own, routes!(delete_own_snapshot))
}
