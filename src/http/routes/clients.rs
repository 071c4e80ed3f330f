//! The control plane's connecting companies (`/sandbox/v1/clients`): list them with their
//! status and capacity, create, change and delete them, rotate a secret; and the kill switch —
//! suspend a client, stop one user's API access, or stop every client at once — with the record
//! of every stop (`/sandbox/v1/suspensions`).

use crate::domain::capacity::CapacityPolicy;
use crate::domain::consent::Client;
use crate::http::error::ApiError;
use crate::http::extract::{Admin, ApiJson};
use crate::http::route::{RouteSpec, Routes};
use crate::sandbox::Sandbox;
use crate::sandbox::controls::{Stop, StopRecord, StopScope, Target};
use crate::services::clients::{self, ClientError, ClientSettings};
use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use utoipa_axum::routes;

const PROBLEM: &str = "application/problem+json";

/// A connecting company as the control plane shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientView {
    /// The client's id (`client_id` in OAuth).
    pub client_id: String,
    /// Company name shown on the consent screen.
    pub company: String,
    /// Service name shown on the consent screen.
    pub service: String,
    /// Registered redirect URIs (matched exactly).
    pub redirect_uris: Vec<String>,
    /// Scopes it may ask for.
    pub scopes: Vec<String>,
    /// Access-token lifetime in seconds.
    pub access_ttl: i64,
    /// Refresh-token lifetime in seconds.
    pub refresh_ttl: i64,
    /// Longest a consent can be kept alive by refreshing, in seconds.
    pub refresh_max_lifetime: i64,
    /// `active` or `suspended`.
    pub status: String,
    /// The suspension in force, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspension: Option<Stop>,
    /// Its capacity policy (empty: only the bank-wide limits apply).
    pub capacity: CapacityPolicy,
    /// Until when the secret a rotation replaced still works (RFC 3339, sandbox time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_valid_until: Option<String>,
}

/// Every connecting company of the sandbox.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientList {
    /// The clients, in id order.
    pub clients: Vec<ClientView>,
}

/// A new connecting company.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewClient {
    /// 1–64 ASCII letters, digits, `-`, `_` or `.`.
    pub client_id: String,
    /// At least 8 characters (default: made up and answered once).
    pub client_secret: Option<String>,
    /// Company name shown on the consent screen.
    pub company: String,
    /// Service name shown on the consent screen.
    pub service: String,
    /// Absolute http(s) URLs, matched exactly.
    pub redirect_uris: Vec<String>,
    /// Scopes it may ask for (`accounts:read`, `transactions:read`, `transfers:own`, …).
    pub scopes: Vec<String>,
    /// Access-token lifetime, e.g. "1h" (default: the scenario's).
    pub access_ttl: Option<String>,
    /// Refresh-token lifetime, e.g. "30d" (default: the scenario's).
    pub refresh_ttl: Option<String>,
    /// Longest a consent can be refreshed, e.g. "90d" (default: the scenario's).
    pub refresh_max_lifetime: Option<String>,
    /// Its capacity policy.
    #[serde(default, deserialize_with = "crate::domain::fault::some_map")]
    pub capacity: Option<CapacityPolicy>,
}

/// Changes to a connecting company; absent fields keep their value.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientChanges {
    /// Company name shown on the consent screen.
    pub company: Option<String>,
    /// Service name shown on the consent screen.
    pub service: Option<String>,
    /// Replaces the redirect URIs (absolute http(s) URLs, matched exactly).
    pub redirect_uris: Option<Vec<String>>,
    /// Replaces the scopes it may ask for.
    pub scopes: Option<Vec<String>>,
    /// Access-token lifetime, e.g. "1h".
    pub access_ttl: Option<String>,
    /// Refresh-token lifetime, e.g. "30d".
    pub refresh_ttl: Option<String>,
    /// Longest a consent can be refreshed, e.g. "90d".
    pub refresh_max_lifetime: Option<String>,
    /// Replaces its capacity policy (`{}` removes it).
    #[serde(default, deserialize_with = "crate::domain::fault::some_map")]
    pub capacity: Option<CapacityPolicy>,
}

/// A created client with its secret (shown this once).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientCreated {
    #[serde(flatten)]
    pub client: ClientView,
    pub client_secret: String,
}

/// A secret rotation.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretRotation {
    /// The new secret, at least 8 characters (default: made up).
    pub client_secret: Option<String>,
    /// How long the old secret keeps working, in sandbox time (default "24h"; "0s" ends it now).
    pub grace_period: Option<String>,
}

/// The new secret.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotatedSecret {
    /// The client's id.
    pub client_id: String,
    /// Shown this once.
    pub client_secret: String,
    /// Until when the old secret still works (RFC 3339, sandbox time).
    pub previous_secret_valid_until: String,
}

/// A stop to put in force.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StopRequest {
    /// `all` (default): every call; `update`: update calls only (reads go on).
    pub scope: Option<StopScope>,
    /// Why, as the answers to the stopped calls will say (1–500 characters).
    pub reason: String,
}

/// A stop in force on its target.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StopView {
    /// `client`, `user` or `bank`.
    pub target: String,
    /// The client id or username (absent for the bank).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(flatten)]
    pub stop: Stop,
}

/// Every stop in force and the record of every change.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StopsView {
    /// The bank-wide emergency stop, if in force.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bank: Option<Stop>,
    /// Suspended clients by id.
    pub clients: BTreeMap<String, Stop>,
    /// Stopped users by username.
    pub users: BTreeMap<String, Stop>,
    /// Every suspension and lifting, oldest first (who, when, why).
    pub history: Vec<StopRecord>,
}

fn client_error(e: ClientError) -> ApiError {
    match e {
        ClientError::Invalid(problems) => ApiError::unusable(
            "invalid_client_settings",
            "the client cannot be saved",
            "client",
            problems,
        ),
        ClientError::Exists(_) => ApiError::new(StatusCode::CONFLICT, "client_exists", e.to_string()),
        ClientError::TooMany => ApiError::new(StatusCode::CONFLICT, "too_many_clients", e.to_string()),
        ClientError::NotFound(id) => no_client(&id),
        ClientError::Storage(e) => e.into(),
    }
}

fn no_client(id: &str) -> ApiError {
    ApiError::not_found(
        "client_not_found",
        format!("no client {id:?} in this sandbox; GET /sandbox/v1/clients lists them"),
    )
}

fn view(sandbox: &Sandbox, c: Client) -> ClientView {
    let suspension = sandbox.controls.stop_of(Target::Client(&c.client_id));
    ClientView {
        status: if suspension.is_some() { "suspended" } else { "active" }.into(),
        suspension,
        capacity: sandbox.capacity.client_policy(&c.client_id),
        previous_secret_valid_until: clients::previous_secret_until(sandbox, &c.client_id, sandbox.clock.now())
            .map(crate::clock::format_jst),
        scopes: c.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        access_ttl: c.policy.access_ttl_secs,
        refresh_ttl: c.policy.refresh_ttl_secs,
        refresh_max_lifetime: c.policy.refresh_max_lifetime_secs,
        client_id: c.client_id,
        company: c.company,
        service: c.service,
        redirect_uris: c.redirect_uris,
    }
}

/// The client `id`, or 404 `client_not_found`.
pub(super) fn known_client(sandbox: &Sandbox, id: &str) -> Result<Client, ApiError> {
    sandbox.store.client(id)?.ok_or_else(|| no_client(id))
}

/// Every connecting company with its status (active or suspended) and capacity policy.
#[utoipa::path(get, path = "/sandbox/v1/clients", tag = "clients",
    security(("adminKey" = [])),
    responses((status = 200, description = "The clients", body = ClientList),
              (status = 401, description = "Missing or wrong admin key", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn list_clients(_: Admin, sandbox: Sandbox) -> Result<Json<ClientList>, ApiError> {
    let clients = sandbox
        .store
        .clients()?
        .into_iter()
        .map(|c| view(&sandbox, c))
        .collect();
    Ok(Json(ClientList { clients }))
}

/// Register a connecting company, with the scenario's checks. Its secret is answered once.
#[utoipa::path(post, path = "/sandbox/v1/clients", tag = "clients", request_body = NewClient,
    security(("adminKey" = [])),
    responses((status = 201, description = "Created, with its secret", body = ClientCreated),
              (status = 401, description = "Missing or wrong admin key", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 409, description = "A client with that id exists", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 422, description = "A setting cannot be used", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn create_client(
    _: Admin,
    sandbox: Sandbox,
    ApiJson(new): ApiJson<NewClient>,
) -> Result<(StatusCode, Json<ClientCreated>), ApiError> {
    let settings = ClientSettings {
        company: Some(new.company),
        service: Some(new.service),
        redirect_uris: Some(new.redirect_uris),
        scopes: Some(new.scopes),
        access_ttl: new.access_ttl,
        refresh_ttl: new.refresh_ttl,
        refresh_max_lifetime: new.refresh_max_lifetime,
        capacity: new.capacity,
    };
    let (client, secret) = clients::create(&sandbox, &new.client_id, new.client_secret, &settings)
        .await
        .map_err(client_error)?;
    Ok((
        StatusCode::CREATED,
        Json(ClientCreated {
            client: view(&sandbox, client),
            client_secret: secret,
        }),
    ))
}

/// One connecting company.
#[utoipa::path(get, path = "/sandbox/v1/clients/{client_id}", tag = "clients",
    params(("client_id" = String, Path, description = "The client's id")),
    security(("adminKey" = [])),
    responses((status = 200, description = "The client", body = ClientView),
              (status = 401, description = "Missing or wrong admin key", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 404, description = "No such client", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn get_client(_: Admin, sandbox: Sandbox, Path(id): Path<String>) -> Result<Json<ClientView>, ApiError> {
    Ok(Json(view(&sandbox, known_client(&sandbox, &id)?)))
}

/// Change a connecting company's redirect URIs, scopes, token lifetimes or capacity.
#[utoipa::path(patch, path = "/sandbox/v1/clients/{client_id}", tag = "clients", request_body = ClientChanges,
    params(("client_id" = String, Path, description = "The client's id")),
    security(("adminKey" = [])),
    responses((status = 200, description = "The client as it now is", body = ClientView),
              (status = 401, description = "Missing or wrong admin key", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 404, description = "No such client", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 422, description = "A setting cannot be used", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn update_client(
    _: Admin,
    sandbox: Sandbox,
    Path(id): Path<String>,
    ApiJson(changes): ApiJson<ClientChanges>,
) -> Result<Json<ClientView>, ApiError> {
    let settings = ClientSettings {
        company: changes.company,
        service: changes.service,
        redirect_uris: changes.redirect_uris,
        scopes: changes.scopes,
        access_ttl: changes.access_ttl,
        refresh_ttl: changes.refresh_ttl,
        refresh_max_lifetime: changes.refresh_max_lifetime,
        capacity: changes.capacity,
    };
    let client = clients::update(&sandbox, &id, &settings).await.map_err(client_error)?;
    Ok(Json(view(&sandbox, client)))
}

/// Delete a connecting company: its consents are revoked and its tokens stop working.
#[utoipa::path(delete, path = "/sandbox/v1/clients/{client_id}", tag = "clients",
    params(("client_id" = String, Path, description = "The client's id")),
    security(("adminKey" = [])),
    responses((status = 204, description = "Deleted"),
              (status = 401, description = "Missing or wrong admin key", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 404, description = "No such client", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn delete_client(_: Admin, sandbox: Sandbox, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    if !clients::delete(&sandbox, &id).await.map_err(client_error)? {
        return Err(no_client(&id));
    }
    // Its webhook endpoints go with it.
    crate::webhooks::delete_all_of(&sandbox, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Give a client a new secret; the old one keeps working for a grace period (default 24 h of
/// sandbox time).
#[utoipa::path(post, path = "/sandbox/v1/clients/{client_id}/secret", tag = "clients", request_body = SecretRotation,
    params(("client_id" = String, Path, description = "The client's id")),
    security(("adminKey" = [])),
    responses((status = 200, description = "The new secret", body = RotatedSecret),
              (status = 401, description = "Missing or wrong admin key", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 404, description = "No such client", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 422, description = "Bad secret or grace period", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn rotate_secret(
    _: Admin,
    sandbox: Sandbox,
    Path(id): Path<String>,
    ApiJson(r): ApiJson<SecretRotation>,
) -> Result<Json<RotatedSecret>, ApiError> {
    let grace = match r.grace_period.as_deref() {
        None => clients::DEFAULT_GRACE,
        Some(g) => crate::clock::parse_duration(g)
            .ok()
            .filter(|d| !d.is_negative() && *d <= jiff::SignedDuration::from_hours(24 * 90))
            .ok_or_else(|| {
                client_error(ClientError::Invalid(vec![format!(
                    "gracePeriod: {g:?} must be a duration between \"0s\" and \"90d\""
                )]))
            })?,
    };
    let (secret, until) = clients::rotate_secret(&sandbox, &id, r.client_secret, grace)
        .await
        .map_err(client_error)?;
    Ok(Json(RotatedSecret {
        client_id: id,
        client_secret: secret,
        previous_secret_valid_until: crate::clock::format_jst(until),
    }))
}

fn stop_of(req: StopRequest) -> Result<(StopScope, String), ApiError> {
    let reason = req.reason.trim().to_owned();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_stop",
            "reason: say why in 1–500 characters; the stopped calls' answers quote it",
        ));
    }
    Ok((req.scope.unwrap_or(StopScope::All), reason))
}

async fn put_stop(sandbox: &Sandbox, target: Target<'_>, req: StopRequest) -> Result<Json<StopView>, ApiError> {
    let (stop, _) = crate::services::controls::set(sandbox, target, Some(stop_of(req)?), "sandbox-admin").await?;
    let (name, id) = match target {
        Target::Client(id) => ("client", Some(id.to_owned())),
        Target::User(id) => ("user", Some(id.to_owned())),
        Target::Bank => ("bank", None),
    };
    let stop = stop.ok_or_else(|| ApiError::internal("the stop was not recorded"))?;
    Ok(Json(StopView {
        target: name.into(),
        id,
        stop,
    }))
}

/// Suspend a connecting company at once: every call with its tokens (or only its update
/// calls) answers 403 `client_suspended`, its token requests `unauthorized_client`, and new
/// authorizations show an error page. Grants and tokens are kept for when it is lifted.
#[utoipa::path(post, path = "/sandbox/v1/clients/{client_id}/suspension", tag = "clients", request_body = StopRequest,
    params(("client_id" = String, Path, description = "The client's id")),
    security(("adminKey" = [])),
    responses((status = 200, description = "The suspension in force", body = StopView),
              (status = 401, description = "Missing or wrong admin key", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 404, description = "No such client", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 422, description = "No reason given", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn suspend_client(
    _: Admin,
    sandbox: Sandbox,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<StopRequest>,
) -> Result<Json<StopView>, ApiError> {
    known_client(&sandbox, &id)?;
    put_stop(&sandbox, Target::Client(&id), req).await
}

/// Lift a client's suspension; its unexpired grants and tokens work again.
#[utoipa::path(delete, path = "/sandbox/v1/clients/{client_id}/suspension", tag = "clients",
    params(("client_id" = String, Path, description = "The client's id")),
    security(("adminKey" = [])),
    responses((status = 204, description = "Not suspended (any more)"),
              (status = 401, description = "Missing or wrong admin key", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 404, description = "No such client", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn resume_client(_: Admin, sandbox: Sandbox, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    known_client(&sandbox, &id)?;
    crate::services::controls::set(&sandbox, Target::Client(&id), None, "sandbox-admin").await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What the client-level unlock lifted.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientUnlockView {
    /// The client's id.
    pub client_id: String,
    /// Whether anything holds back its logins or client authentications now (always false).
    pub held_back: bool,
}

/// Lift every hold through a client: the addresses held back after 20 failed logins in a row
/// on its consent screen, or 20 failed client authentications in a row at its token,
/// introspection, revocation and webhooks endpoints. (Holds are per source address; this lifts
/// every address's. A user's own lock is lifted by the user's unlock.)
#[utoipa::path(post, path = "/sandbox/v1/clients/{client_id}/unlock", tag = "clients",
    params(("client_id" = String, Path, description = "The client's id")),
    security(("adminKey" = [])),
    responses((status = 200, description = "Nothing holds it back any more", body = ClientUnlockView),
              (status = 401, description = "Missing or wrong admin key", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 404, description = "No such client", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn unlock_client(
    _: Admin,
    sandbox: Sandbox,
    Path(id): Path<String>,
) -> Result<Json<ClientUnlockView>, ApiError> {
    known_client(&sandbox, &id)?;
    crate::services::lockout::unlock_sources(&sandbox);
    Ok(Json(ClientUnlockView {
        client_id: id,
        held_back: false,
    }))
}

fn known_user(sandbox: &Sandbox, username: &str) -> Result<String, ApiError> {
    let name = username.strip_prefix("u-").unwrap_or(username);
    match sandbox.store.user(&format!("u-{name}"))? {
        Some(_) => Ok(name.to_owned()),
        None => Err(ApiError::not_found(
            "user_not_found",
            format!("no user {username:?} in this sandbox"),
        )),
    }
}

/// Stop one customer's API access (the bank freezes it): calls with any client's token for
/// this user answer 403 `user_suspended`, refreshing their tokens answers `invalid_grant`, and
/// the user cannot log in on the consent screen.
#[utoipa::path(post, path = "/sandbox/v1/users/{username}/suspension", tag = "clients", request_body = StopRequest,
    params(("username" = String, Path, description = "The user's login name")),
    security(("adminKey" = [])),
    responses((status = 200, description = "The stop in force", body = StopView),
              (status = 401, description = "Missing or wrong admin key", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 404, description = "No such user", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 422, description = "No reason given", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn suspend_user(
    _: Admin,
    sandbox: Sandbox,
    Path(username): Path<String>,
    ApiJson(req): ApiJson<StopRequest>,
) -> Result<Json<StopView>, ApiError> {
    let name = known_user(&sandbox, &username)?;
    put_stop(&sandbox, Target::User(&name), req).await
}

/// Lift a user's stop.
#[utoipa::path(delete, path = "/sandbox/v1/users/{username}/suspension", tag = "clients",
    params(("username" = String, Path, description = "The user's login name")),
    security(("adminKey" = [])),
    responses((status = 204, description = "Not stopped (any more)"),
              (status = 401, description = "Missing or wrong admin key", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 404, description = "No such user", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn resume_user(_: Admin, sandbox: Sandbox, Path(username): Path<String>) -> Result<StatusCode, ApiError> {
    let name = known_user(&sandbox, &username)?;
    crate::services::controls::set(&sandbox, Target::User(&name), None, "sandbox-admin").await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The bank's emergency stop: every client's calls (or only update calls) answer 503
/// `service_stopped` with the reason, until it is lifted.
#[utoipa::path(post, path = "/sandbox/v1/emergency-stop", tag = "clients", request_body = StopRequest,
    security(("adminKey" = [])),
    responses((status = 200, description = "The stop in force", body = StopView),
              (status = 401, description = "Missing or wrong admin key", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 422, description = "No reason given", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn emergency_stop(
    _: Admin,
    sandbox: Sandbox,
    ApiJson(req): ApiJson<StopRequest>,
) -> Result<Json<StopView>, ApiError> {
    put_stop(&sandbox, Target::Bank, req).await
}

/// Lift the emergency stop.
#[utoipa::path(delete, path = "/sandbox/v1/emergency-stop", tag = "clients",
    security(("adminKey" = [])),
    responses((status = 204, description = "Not stopped (any more)"),
              (status = 401, description = "Missing or wrong admin key", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn lift_emergency_stop(_: Admin, sandbox: Sandbox) -> Result<StatusCode, ApiError> {
    crate::services::controls::set(&sandbox, Target::Bank, None, "sandbox-admin").await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every stop in force and the record of every suspension and lifting.
#[utoipa::path(get, path = "/sandbox/v1/suspensions", tag = "clients",
    security(("adminKey" = [])),
    responses((status = 200, description = "Stops and their record", body = StopsView),
              (status = 401, description = "Missing or wrong admin key", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn suspensions(_: Admin, sandbox: Sandbox) -> Json<StopsView> {
    let (clients, users, bank) = sandbox.controls.stops();
    Json(StopsView {
        bank,
        clients,
        users,
        history: sandbox.controls.history(),
    })
}

/// Client registration, suspensions and the emergency stop take no `Idempotency-Key`: their
/// answers carry secrets once, or they are safe to repeat.
pub fn router() -> Routes {
    let admin = RouteSpec::admin();
    Routes::new()
        .add(admin, routes!(list_clients, create_client))
        .add(admin, routes!(get_client, update_client, delete_client))
        .add(admin, routes!(rotate_secret))
        .add(admin, routes!(suspend_client, resume_client))
        .add(admin, routes!(unlock_client))
        .add(admin, routes!(suspend_user, resume_user))
        .add(admin, routes!(emergency_stop, lift_emergency_stop))
        .add(admin, routes!(suspensions))
}
