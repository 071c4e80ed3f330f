//! Webhooks over HTTP. `/webhooks/v1/…` is the connecting company's own API, authenticated
//! with its client id and secret (HTTP Basic): endpoints, secret rotation, messages and their
//! attempts, redelivery, recovery and the pull API for what was not delivered.
//! `/sandbox/v1/webhooks/…` is the control plane's (admin key): the same over every client,
//! plus delivery faults and test events.

use crate::domain::webhook::{Attempt, Delivery, DeliveryFault, DeliveryStatus, Endpoint};
use crate::http::error::ApiError;
use crate::http::extract::{Admin, ApiJson, ApiQuery, WebhookCaller};
use crate::http::route::{RouteSpec, Routes};
use crate::sandbox::Sandbox;
use crate::webhooks::{self, EndpointChanges, NewEndpoint};
use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::routes;

const PROBLEM: &str = "application/problem+json";

/// A webhook endpoint.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointView {
    /// `ep_…`.
    pub id: String,
    /// The connecting company it belongs to.
    pub client_id: String,
    /// Where deliveries are POSTed.
    pub url: String,
    /// Event types it receives; empty: every type.
    pub event_types: Vec<String>,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether deliveries are sent.
    pub enabled: bool,
    /// Why the bank disabled it (410 Gone, or failing too long).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// When it was created (sandbox time).
    pub created_at: String,
    /// The signing secret (`whsec_…`): only in the answer that creates the endpoint or
    /// rotates its secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Until when the secret before the last rotation still signs (real time, RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_valid_until: Option<String>,
    /// Delivery faults injected on this endpoint (set by the control plane).
    pub delivery_faults: Vec<DeliveryFault>,
}

fn real_time(ms: i64) -> String {
    Timestamp::from_millisecond(ms)
        .map(crate::clock::format_jst)
        .unwrap_or_default()
}

fn endpoint_view(e: &Endpoint, with_secret: bool) -> EndpointView {
    EndpointView {
        id: e.id.clone(),
        client_id: e.client_id.clone(),
        url: e.url.clone(),
        event_types: e.event_types.clone(),
        description: e.description.clone(),
        enabled: e.enabled,
        disabled_reason: e.disabled_reason.clone(),
        created_at: crate::clock::format_jst(e.created_at),
        secret: with_secret.then(|| e.secret.clone()),
        previous_secret_valid_until: e
            .previous_secret
            .as_ref()
            .filter(|(_, until)| *until > crate::clock::real_now_ms())
            .map(|(_, until)| real_time(*until)),
        delivery_faults: e.faults.clone(),
    }
}

/// Endpoints.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointList {
    /// The endpoints, in id order.
    pub endpoints: Vec<EndpointView>,
}

/// A new endpoint of the calling client.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndpointInput {
    /// Where to POST deliveries (http or https).
    pub url: String,
    /// Event types to receive; absent or empty: every type.
    #[serde(default)]
    pub event_types: Vec<String>,
    /// Free text (up to 500 characters).
    #[serde(default)]
    pub description: Option<String>,
    /// Whether to send deliveries (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// The signing secret to use (`whsec_` + base64 of 24–64 bytes); made up when absent.
    #[serde(default)]
    pub secret: Option<String>,
}

/// A new endpoint for any client (control plane).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ControlEndpointInput {
    /// The connecting company it belongs to.
    pub client_id: String,
    /// Where to POST deliveries (http or https).
    pub url: String,
    /// Event types to receive; absent or empty: every type.
    #[serde(default)]
    pub event_types: Vec<String>,
    /// Free text (up to 500 characters).
    #[serde(default)]
    pub description: Option<String>,
    /// Whether to send deliveries (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// The signing secret to use (`whsec_` + base64 of 24–64 bytes); made up when absent.
    #[serde(default)]
    pub secret: Option<String>,
}

/// Changes to an endpoint; absent fields stay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndpointPatch {
    /// Where to POST deliveries.
    #[serde(default)]
    pub url: Option<String>,
    /// Event types to receive; empty: every type.
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// `false` stops deliveries (they are kept as failed); `true` starts them again and
    /// clears a disabling by the bank.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A secret rotation.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RotateInput {
    /// The new secret (`whsec_…`); made up when absent.
    #[serde(default)]
    pub secret: Option<String>,
    /// How long the old secret keeps signing too (a second `v1,` signature), real time,
    /// 0s–7d (default 24h).
    #[serde(default)]
    pub grace_period: Option<String>,
}

/// Which failed messages to send again.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecoverInput {
    /// Messages whose event happened at or after this sandbox time (RFC 3339).
    pub since: String,
}

/// Which deliveries of a message to send again.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RedeliverQuery {
    /// Only to this endpoint (default: every endpoint of yours it went to).
    #[serde(default)]
    pub endpoint_id: Option<String>,
}

/// How many deliveries were queued.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Queued {
    /// Deliveries put back in the queue, due now.
    pub queued: usize,
}

/// One message (an event) on its way to one endpoint.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    /// The `webhook-id` it is sent with (the same on every attempt).
    pub id: String,
    /// The event (`evt_…`).
    pub event_id: String,
    /// The event type.
    pub event_type: String,
    /// The endpoint it goes to.
    pub endpoint_id: String,
    /// `pending`, `delivered`, `failed` (every attempt failed, or the endpoint is disabled),
    /// `dropped` (a delivery fault), `held` (a reorder fault), `withheld` (the grant that let
    /// the client see it ended).
    pub status: String,
    /// Attempts so far.
    pub attempts: u32,
    /// When the next attempt is due (sandbox time), if one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    /// When it was delivered (sandbox time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<String>,
    /// The body that is sent (and signed): `id`, `type`, `occurredAt`, `sandboxId`, `data`.
    pub payload: serde_json::Value,
}

/// A page of messages, oldest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageList {
    /// The messages (one entry per endpoint a message goes to).
    pub messages: Vec<MessageView>,
    /// Whether more follow.
    pub has_next: bool,
    /// Pass as `after` for the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

/// One attempt.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptView {
    /// 1, 2, 3 … per endpoint.
    pub attempt: u32,
    /// The endpoint it went to.
    pub endpoint_id: String,
    /// When (sandbox time).
    pub at: String,
    /// The receiver's HTTP status, if it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// How long the receiver took, ms.
    pub latency_ms: u64,
    /// The first 256 bytes of the receiver's answer.
    pub response: String,
    /// What went wrong (timeout, connection refused, redirect not followed, a fault).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Whether it delivered the message (a 2xx).
    pub succeeded: bool,
    /// When the next attempt is due (sandbox time), if one was scheduled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    /// The delivery fault that shaped this attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
}

/// The attempts of one message.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptList {
    /// The message (`webhook-id`).
    pub message_id: String,
    /// Every attempt, by endpoint then number.
    pub attempts: Vec<AttemptView>,
}

/// Filters of the message listings.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MessagesQuery {
    /// Only messages to this endpoint.
    pub endpoint_id: Option<String>,
    /// Only messages in this status (`pending`, `delivered`, `failed`, `dropped`, `held`,
    /// `withheld`).
    pub status: Option<String>,
    /// Messages after this one (a message id, `nextAfter` of the previous page).
    pub after: Option<String>,
    /// Most to return, 1..=500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
}

/// Delivery faults of an endpoint.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultsInput {
    /// The faults, tried in order; the first that fires on a message decides it.
    pub faults: Vec<DeliveryFault>,
}

/// A test delivery.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TestInput {
    /// The endpoint to send it to.
    pub endpoint_id: String,
    /// Free text carried in the event's `data.reason`.
    #[serde(default)]
    pub message: Option<String>,
}

/// The test event written.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestSent {
    /// Its message id (`webhook-id`): follow it in the messages and attempts.
    pub message_id: String,
    /// Its event id.
    pub event_id: String,
}

fn message_view(sandbox: &Sandbox, d: &Delivery) -> MessageView {
    let payload = sandbox
        .store
        .event(d.seq)
        .ok()
        .flatten()
        .map(|e| serde_json::from_slice(&webhooks::dispatcher::payload(sandbox, &e)).unwrap_or_default())
        .unwrap_or_default();
    MessageView {
        id: sandbox.webhooks.message_id(d.seq),
        event_id: format!("evt_{:012}", d.seq),
        event_type: d.event_type.clone(),
        endpoint_id: d.endpoint_id.clone(),
        status: d.status.as_str().to_owned(),
        attempts: d.attempts,
        next_attempt_at: (d.status == DeliveryStatus::Pending || d.status == DeliveryStatus::Held)
            .then(|| crate::clock::format_jst(d.next_sandbox)),
        delivered_at: d.delivered_at.map(crate::clock::format_jst),
        payload,
    }
}

fn attempt_view(endpoint_id: &str, a: &Attempt) -> AttemptView {
    AttemptView {
        attempt: a.n,
        endpoint_id: endpoint_id.to_owned(),
        at: crate::clock::format_jst(a.at),
        status: a.status,
        latency_ms: a.latency_ms,
        response: a.response.clone(),
        error: a.error.clone(),
        succeeded: a.succeeded,
        next_attempt_at: a.next_attempt_at.map(crate::clock::format_jst),
        fault: a.fault.clone(),
    }
}

fn message_seq(sandbox: &Sandbox, id: &str) -> Result<u64, ApiError> {
    sandbox.webhooks.message_seq(id).ok_or_else(|| no_message(id))
}

fn no_message(id: &str) -> ApiError {
    ApiError::not_found(
        "message_not_found",
        format!("no webhook message {id:?} of yours in this sandbox; GET /webhooks/v1/messages lists them"),
    )
}

fn parse_grace(v: Option<&str>) -> Result<Option<jiff::SignedDuration>, ApiError> {
    v.map(|g| {
        crate::clock::parse_duration(g).map_err(|why| {
            ApiError::unusable(
                "invalid_rotation",
                "the secret cannot be rotated so",
                "gracePeriod",
                vec![format!("gracePeriod: {why}")],
            )
        })
    })
    .transpose()
}

/// Lists messages matching `q`, and whether `undelivered_only`.
fn list_messages(
    sandbox: &Sandbox,
    caller: &WebhookCaller,
    q: MessagesQuery,
    undelivered_only: bool,
) -> Result<MessageList, ApiError> {
    let limit = match q.limit {
        None => 100,
        Some(n) if (1..=500).contains(&n) => n,
        Some(_) => return Err(ApiError::bad_request("invalid_limit", "limit must be 1 to 500")),
    };
    let after = match &q.after {
        None => 0,
        Some(id) => sandbox.webhooks.message_seq(id).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_after",
                format!("after must be a message id of this sandbox (msg_…), as nextAfter gives it; got {id:?}"),
            )
        })?,
    };
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(
            [
                DeliveryStatus::Pending,
                DeliveryStatus::Delivered,
                DeliveryStatus::Failed,
                DeliveryStatus::Dropped,
                DeliveryStatus::Held,
                DeliveryStatus::Withheld,
            ]
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_status",
                    format!("status must be pending, delivered, failed, dropped, held or withheld; got {s:?}"),
                )
            })?,
        ),
    };
    if let Some(ep) = &q.endpoint_id {
        webhooks::get(sandbox, caller.client(), ep)?;
    }
    let client = caller.client();
    let (list, has_next) = sandbox.store.deliveries(after, limit, |d| {
        client.is_none_or(|c| c == d.client_id)
            && q.endpoint_id.as_ref().is_none_or(|e| e == &d.endpoint_id)
            && status.is_none_or(|s| s == d.status)
            && (!undelivered_only || d.status.undelivered())
    })?;
    let next_after = if has_next {
        list.last().map(|d| sandbox.webhooks.message_id(d.seq))
    } else {
        None
    };
    Ok(MessageList {
        messages: list.iter().map(|d| message_view(sandbox, d)).collect(),
        has_next,
        next_after,
    })
}

/// Subscribe an endpoint (the calling client's). The answer carries its signing secret, once.
#[utoipa::path(post, path = "/webhooks/v1/endpoints", tag = "webhooks", request_body = EndpointInput,
    security(("clientBasic" = [])),
    responses((status = 201, description = "The endpoint, with its secret", body = EndpointView),
              (status = 409, description = "Too many endpoints", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 422, description = "The endpoint cannot be used", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn create_webhook_endpoint(
    caller: WebhookCaller,
    sandbox: Sandbox,
    ApiJson(input): ApiJson<EndpointInput>,
) -> Result<(StatusCode, Json<EndpointView>), ApiError> {
    let Some(client) = caller.client() else {
        return Err(ApiError::internal("the webhook API was reached without a client"));
    };
    let e = webhooks::create(
        &sandbox,
        NewEndpoint {
            client_id: client.to_owned(),
            url: input.url,
            event_types: input.event_types,
            description: input.description,
            secret: input.secret,
            enabled: input.enabled.unwrap_or(true),
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(endpoint_view(&e, true))))
}

/// The calling client's endpoints (every client's for the admin).
#[utoipa::path(get, path = "/webhooks/v1/endpoints", tag = "webhooks",
    security(("clientBasic" = [])),
    responses((status = 200, description = "The endpoints", body = EndpointList)))]
pub async fn list_webhook_endpoints(caller: WebhookCaller, sandbox: Sandbox) -> Json<EndpointList> {
    let client = caller.client();
    Json(EndpointList {
        endpoints: sandbox
            .webhooks
            .endpoints()
            .iter()
            .filter(|e| client.is_none_or(|c| c == e.client_id))
            .map(|e| endpoint_view(e, false))
            .collect(),
    })
}

/// One endpoint.
#[utoipa::path(get, path = "/webhooks/v1/endpoints/{endpoint_id}", tag = "webhooks",
    params(("endpoint_id" = String, Path, description = "The endpoint")),
    security(("clientBasic" = [])),
    responses((status = 200, description = "The endpoint", body = EndpointView),
              (status = 404, description = "No such endpoint of yours", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn get_webhook_endpoint(
    caller: WebhookCaller,
    sandbox: Sandbox,
    Path(id): Path<String>,
) -> Result<Json<EndpointView>, ApiError> {
    Ok(Json(endpoint_view(
        &webhooks::get(&sandbox, caller.client(), &id)?,
        false,
    )))
}

/// Change an endpoint's URL, event types, description or whether it is enabled.
#[utoipa::path(patch, path = "/webhooks/v1/endpoints/{endpoint_id}", tag = "webhooks", request_body = EndpointPatch,
    params(("endpoint_id" = String, Path, description = "The endpoint")),
    security(("clientBasic" = [])),
    responses((status = 200, description = "The endpoint", body = EndpointView),
              (status = 404, description = "No such endpoint of yours", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 422, description = "The change cannot be used", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn update_webhook_endpoint(
    caller: WebhookCaller,
    sandbox: Sandbox,
    Path(id): Path<String>,
    ApiJson(p): ApiJson<EndpointPatch>,
) -> Result<Json<EndpointView>, ApiError> {
    let changes = EndpointChanges {
        url: p.url,
        event_types: p.event_types,
        description: p.description,
        enabled: p.enabled,
    };
    let e = webhooks::update(&sandbox, caller.client(), &id, changes).await?;
    Ok(Json(endpoint_view(&e, false)))
}

/// Delete an endpoint, with its messages and attempts.
#[utoipa::path(delete, path = "/webhooks/v1/endpoints/{endpoint_id}", tag = "webhooks",
    params(("endpoint_id" = String, Path, description = "The endpoint")),
    security(("clientBasic" = [])),
    responses((status = 204, description = "Deleted"),
              (status = 404, description = "No such endpoint of yours", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn delete_webhook_endpoint(
    caller: WebhookCaller,
    sandbox: Sandbox,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    webhooks::delete(&sandbox, caller.client(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Rotate an endpoint's signing secret. The new secret signs from now on; the old one signs
/// too (a second `v1,` signature in `webhook-signature`) for the grace period.
#[utoipa::path(post, path = "/webhooks/v1/endpoints/{endpoint_id}/secret/rotate", tag = "webhooks",
    request_body = RotateInput,
    params(("endpoint_id" = String, Path, description = "The endpoint")),
    security(("clientBasic" = [])),
    responses((status = 200, description = "The endpoint, with its new secret", body = EndpointView),
              (status = 404, description = "No such endpoint of yours", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 422, description = "The rotation cannot be done so", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn rotate_webhook_secret(
    caller: WebhookCaller,
    sandbox: Sandbox,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<RotateInput>,
) -> Result<Json<EndpointView>, ApiError> {
    let grace = parse_grace(input.grace_period.as_deref())?;
    let e = webhooks::rotate_secret(&sandbox, caller.client(), &id, input.secret, grace).await?;
    Ok(Json(endpoint_view(&e, true)))
}

/// Send again every message to the endpoint that failed or was dropped, among those whose
/// event happened since `since` (e.g. after an outage of your receiver).
#[utoipa::path(post, path = "/webhooks/v1/endpoints/{endpoint_id}/recover", tag = "webhooks",
    request_body = RecoverInput,
    params(("endpoint_id" = String, Path, description = "The endpoint")),
    security(("clientBasic" = [])),
    responses((status = 202, description = "How many were queued", body = Queued),
              (status = 404, description = "No such endpoint of yours", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 422, description = "since is not a time", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn recover_webhook_messages(
    caller: WebhookCaller,
    sandbox: Sandbox,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<RecoverInput>,
) -> Result<(StatusCode, Json<Queued>), ApiError> {
    recover_as(&sandbox, &caller, &id, input).await
}

async fn recover_as(
    sandbox: &Sandbox,
    caller: &WebhookCaller,
    id: &str,
    input: RecoverInput,
) -> Result<(StatusCode, Json<Queued>), ApiError> {
    let since: Timestamp = input.since.parse().map_err(|_| {
        ApiError::unusable(
            "invalid_since",
            "cannot recover",
            "since",
            vec![format!(
                "since: give an RFC 3339 time such as 2026-11-21T09:00:00+09:00, not {:?}",
                input.since
            )],
        )
    })?;
    let queued = webhooks::recover(sandbox, caller.client(), id, since).await?;
    Ok((StatusCode::ACCEPTED, Json(Queued { queued })))
}

/// Messages sent or to be sent to your endpoints, oldest first.
#[utoipa::path(get, path = "/webhooks/v1/messages", tag = "webhooks", params(MessagesQuery),
    security(("clientBasic" = [])),
    responses((status = 200, description = "A page of messages", body = MessageList),
              (status = 404, description = "No such endpoint of yours", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn list_webhook_messages(
    caller: WebhookCaller,
    sandbox: Sandbox,
    ApiQuery(q): ApiQuery<MessagesQuery>,
) -> Result<Json<MessageList>, ApiError> {
    Ok(Json(list_messages(&sandbox, &caller, q, false)?))
}

/// The pull API for what was not delivered: messages pending, failed, dropped or held, oldest
/// first, so a receiver can reconcile after an outage (then recover or redeliver them).
#[utoipa::path(get, path = "/webhooks/v1/undelivered", tag = "webhooks", params(MessagesQuery),
    security(("clientBasic" = [])),
    responses((status = 200, description = "A page of undelivered messages", body = MessageList),
              (status = 404, description = "No such endpoint of yours", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn list_undelivered_webhook_messages(
    caller: WebhookCaller,
    sandbox: Sandbox,
    ApiQuery(q): ApiQuery<MessagesQuery>,
) -> Result<Json<MessageList>, ApiError> {
    Ok(Json(list_messages(&sandbox, &caller, q, true)?))
}

/// One message, per endpoint of yours it goes to.
#[utoipa::path(get, path = "/webhooks/v1/messages/{message_id}", tag = "webhooks",
    params(("message_id" = String, Path, description = "The message (`webhook-id`)")),
    security(("clientBasic" = [])),
    responses((status = 200, description = "The message's deliveries", body = MessageList),
              (status = 404, description = "No such message of yours", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn get_webhook_message(
    caller: WebhookCaller,
    sandbox: Sandbox,
    Path(id): Path<String>,
) -> Result<Json<MessageList>, ApiError> {
    one_message(&sandbox, &caller, &id)
}

/// The message `id` (its sequence number) and its deliveries the caller may see; 404 when
/// there are none.
fn deliveries_for(sandbox: &Sandbox, caller: &WebhookCaller, id: &str) -> Result<(u64, Vec<Delivery>), ApiError> {
    let seq = message_seq(sandbox, id)?;
    let client = caller.client();
    let list: Vec<Delivery> = sandbox
        .store
        .deliveries_of(seq)?
        .into_iter()
        .filter(|d| client.is_none_or(|c| c == d.client_id))
        .collect();
    if list.is_empty() {
        return Err(no_message(id));
    }
    Ok((seq, list))
}

fn one_message(sandbox: &Sandbox, caller: &WebhookCaller, id: &str) -> Result<Json<MessageList>, ApiError> {
    let (_, list) = deliveries_for(sandbox, caller, id)?;
    Ok(Json(MessageList {
        messages: list.iter().map(|d| message_view(sandbox, d)).collect(),
        has_next: false,
        next_after: None,
    }))
}

/// Every attempt to deliver a message: time, HTTP status, latency, the first bytes of the
/// answer, the next attempt, and any delivery fault.
#[utoipa::path(get, path = "/webhooks/v1/messages/{message_id}/attempts", tag = "webhooks",
    params(("message_id" = String, Path, description = "The message (`webhook-id`)")),
    security(("clientBasic" = [])),
    responses((status = 200, description = "The attempts", body = AttemptList),
              (status = 404, description = "No such message of yours", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn list_webhook_attempts(
    caller: WebhookCaller,
    sandbox: Sandbox,
    Path(id): Path<String>,
) -> Result<Json<AttemptList>, ApiError> {
    attempts_of(&sandbox, &caller, id)
}

fn attempts_of(sandbox: &Sandbox, caller: &WebhookCaller, id: String) -> Result<Json<AttemptList>, ApiError> {
    let (seq, deliveries) = deliveries_for(sandbox, caller, &id)?;
    let mut out = Vec::new();
    for d in &deliveries {
        for a in sandbox.store.attempts(seq, &d.endpoint_id)? {
            out.push(attempt_view(&d.endpoint_id, &a));
        }
    }
    Ok(Json(AttemptList {
        message_id: id,
        attempts: out,
    }))
}

/// Send a message again now (with the same `webhook-id`), whatever became of it.
#[utoipa::path(post, path = "/webhooks/v1/messages/{message_id}/redeliver", tag = "webhooks",
    params(("message_id" = String, Path, description = "The message (`webhook-id`)"), RedeliverQuery),
    security(("clientBasic" = [])),
    responses((status = 202, description = "How many deliveries were queued", body = Queued),
              (status = 404, description = "No such message of yours", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn redeliver_webhook_message(
    caller: WebhookCaller,
    sandbox: Sandbox,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<RedeliverQuery>,
) -> Result<(StatusCode, Json<Queued>), ApiError> {
    redeliver_as(&sandbox, &caller, &id, q).await
}

async fn redeliver_as(
    sandbox: &Sandbox,
    caller: &WebhookCaller,
    id: &str,
    q: RedeliverQuery,
) -> Result<(StatusCode, Json<Queued>), ApiError> {
    let seq = message_seq(sandbox, id)?;
    let queued = webhooks::redeliver(sandbox, caller.client(), seq, q.endpoint_id.as_deref()).await?;
    if queued == 0 {
        return Err(no_message(id));
    }
    Ok((StatusCode::ACCEPTED, Json(Queued { queued })))
}

/// Subscribe an endpoint for any client. The answer carries its signing secret, once.
#[utoipa::path(post, path = "/sandbox/v1/webhooks/endpoints", tag = "webhooks", request_body = ControlEndpointInput,
    security(("adminKey" = [])),
    responses((status = 201, description = "The endpoint, with its secret", body = EndpointView),
              (status = 404, description = "No such client", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 409, description = "Too many endpoints", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 422, description = "The endpoint cannot be used", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn create_any_webhook_endpoint(
    _: Admin,
    sandbox: Sandbox,
    ApiJson(input): ApiJson<ControlEndpointInput>,
) -> Result<(StatusCode, Json<EndpointView>), ApiError> {
    super::clients::known_client(&sandbox, &input.client_id)?;
    let e = webhooks::create(
        &sandbox,
        NewEndpoint {
            client_id: input.client_id,
            url: input.url,
            event_types: input.event_types,
            description: input.description,
            secret: input.secret,
            enabled: input.enabled.unwrap_or(true),
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(endpoint_view(&e, true))))
}

/// Every client's endpoints.
#[utoipa::path(get, path = "/sandbox/v1/webhooks/endpoints", tag = "webhooks",
    security(("adminKey" = [])),
    responses((status = 200, description = "The endpoints", body = EndpointList)))]
pub async fn list_all_webhook_endpoints(caller: Admin, sandbox: Sandbox) -> Json<EndpointList> {
    let _ = caller;
    list_webhook_endpoints(WebhookCaller::Admin, sandbox).await
}

/// One endpoint.
#[utoipa::path(get, path = "/sandbox/v1/webhooks/endpoints/{endpoint_id}", tag = "webhooks",
    params(("endpoint_id" = String, Path, description = "The endpoint")),
    security(("adminKey" = [])),
    responses((status = 200, description = "The endpoint", body = EndpointView),
              (status = 404, description = "No such endpoint", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn get_any_webhook_endpoint(
    _: Admin,
    sandbox: Sandbox,
    Path(id): Path<String>,
) -> Result<Json<EndpointView>, ApiError> {
    Ok(Json(endpoint_view(&webhooks::get(&sandbox, None, &id)?, false)))
}

/// Delete an endpoint.
#[utoipa::path(delete, path = "/sandbox/v1/webhooks/endpoints/{endpoint_id}", tag = "webhooks",
    params(("endpoint_id" = String, Path, description = "The endpoint")),
    security(("adminKey" = [])),
    responses((status = 204, description = "Deleted"),
              (status = 404, description = "No such endpoint", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn delete_any_webhook_endpoint(
    _: Admin,
    sandbox: Sandbox,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    webhooks::delete(&sandbox, None, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An endpoint's delivery faults.
#[utoipa::path(get, path = "/sandbox/v1/webhooks/endpoints/{endpoint_id}/faults", tag = "webhooks",
    params(("endpoint_id" = String, Path, description = "The endpoint")),
    security(("adminKey" = [])),
    responses((status = 200, description = "The faults", body = FaultsInput),
              (status = 404, description = "No such endpoint", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn get_delivery_faults(
    _: Admin,
    sandbox: Sandbox,
    Path(id): Path<String>,
) -> Result<Json<FaultsInput>, ApiError> {
    Ok(Json(FaultsInput {
        faults: webhooks::get(&sandbox, None, &id)?.faults,
    }))
}

/// Replace an endpoint's delivery faults: drop, delay, duplicate, reorder, wrong signature,
/// or fail the first N attempts — for every message, or those of some event types, on the
/// n-th, every n-th or with a probability drawn from the sandbox seed. `{"faults": []}`
/// removes them.
#[utoipa::path(put, path = "/sandbox/v1/webhooks/endpoints/{endpoint_id}/faults", tag = "webhooks",
    request_body = FaultsInput,
    params(("endpoint_id" = String, Path, description = "The endpoint")),
    security(("adminKey" = [])),
    responses((status = 200, description = "The faults as stored", body = FaultsInput),
              (status = 404, description = "No such endpoint", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 422, description = "A fault cannot be used", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn put_delivery_faults(
    _: Admin,
    sandbox: Sandbox,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<FaultsInput>,
) -> Result<Json<FaultsInput>, ApiError> {
    webhooks::get(&sandbox, None, &id)?;
    let e = webhooks::set_faults(&sandbox, &id, input.faults).await?;
    Ok(Json(FaultsInput { faults: e.faults }))
}

/// Send a `webhook.test` event to one endpoint now.
#[utoipa::path(post, path = "/sandbox/v1/webhooks/test", tag = "webhooks", request_body = TestInput,
    security(("adminKey" = [])),
    responses((status = 202, description = "The test event, on its way", body = TestSent),
              (status = 404, description = "No such endpoint", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn send_test_webhook(
    _: Admin,
    sandbox: Sandbox,
    ApiJson(input): ApiJson<TestInput>,
) -> Result<(StatusCode, Json<TestSent>), ApiError> {
    if input.message.as_ref().is_some_and(|m| m.chars().count() > 500) {
        return Err(ApiError::unusable(
            "invalid_test",
            "cannot send",
            "message",
            vec!["message: at most 500 characters".into()],
        ));
    }
    let (message_id, seq) = webhooks::send_test(&sandbox, &input.endpoint_id, input.message).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(TestSent {
            message_id,
            event_id: format!("evt_{seq:012}"),
        }),
    ))
}

/// Every client's messages (control plane).
#[utoipa::path(get, path = "/sandbox/v1/webhooks/messages", tag = "webhooks", params(MessagesQuery),
    security(("adminKey" = [])),
    responses((status = 200, description = "A page of messages", body = MessageList),
              (status = 404, description = "No such endpoint", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn admin_list_messages(
    _: Admin,
    sandbox: Sandbox,
    ApiQuery(q): ApiQuery<MessagesQuery>,
) -> Result<Json<MessageList>, ApiError> {
    Ok(Json(list_messages(&sandbox, &WebhookCaller::Admin, q, false)?))
}

/// Every client's undelivered messages (control plane).
#[utoipa::path(get, path = "/sandbox/v1/webhooks/undelivered", tag = "webhooks", params(MessagesQuery),
    security(("adminKey" = [])),
    responses((status = 200, description = "A page of undelivered messages", body = MessageList),
              (status = 404, description = "No such endpoint", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn admin_list_undelivered(
    _: Admin,
    sandbox: Sandbox,
    ApiQuery(q): ApiQuery<MessagesQuery>,
) -> Result<Json<MessageList>, ApiError> {
    Ok(Json(list_messages(&sandbox, &WebhookCaller::Admin, q, true)?))
}

/// One message, per endpoint it goes to (control plane).
#[utoipa::path(get, path = "/sandbox/v1/webhooks/messages/{message_id}", tag = "webhooks",
    params(("message_id" = String, Path, description = "The message (`webhook-id`)")),
    security(("adminKey" = [])),
    responses((status = 200, description = "The message's deliveries", body = MessageList),
              (status = 404, description = "No such message", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn admin_get_message(
    _: Admin,
    sandbox: Sandbox,
    Path(id): Path<String>,
) -> Result<Json<MessageList>, ApiError> {
    one_message(&sandbox, &WebhookCaller::Admin, &id)
}

/// Every attempt to deliver a message (control plane).
#[utoipa::path(get, path = "/sandbox/v1/webhooks/messages/{message_id}/attempts", tag = "webhooks",
    params(("message_id" = String, Path, description = "The message (`webhook-id`)")),
    security(("adminKey" = [])),
    responses((status = 200, description = "The attempts", body = AttemptList),
              (status = 404, description = "No such message", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn admin_list_attempts(
    _: Admin,
    sandbox: Sandbox,
    Path(id): Path<String>,
) -> Result<Json<AttemptList>, ApiError> {
    attempts_of(&sandbox, &WebhookCaller::Admin, id)
}

/// Send a message again now (control plane).
#[utoipa::path(post, path = "/sandbox/v1/webhooks/messages/{message_id}/redeliver", tag = "webhooks",
    params(("message_id" = String, Path, description = "The message (`webhook-id`)"), RedeliverQuery),
    security(("adminKey" = [])),
    responses((status = 202, description = "How many deliveries were queued", body = Queued),
              (status = 404, description = "No such message", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn admin_redeliver(
    _: Admin,
    sandbox: Sandbox,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<RedeliverQuery>,
) -> Result<(StatusCode, Json<Queued>), ApiError> {
    redeliver_as(&sandbox, &WebhookCaller::Admin, &id, q).await
}

/// Send again every failed or dropped message to the endpoint since a time (control plane).
#[utoipa::path(post, path = "/sandbox/v1/webhooks/endpoints/{endpoint_id}/recover", tag = "webhooks",
    request_body = RecoverInput,
    params(("endpoint_id" = String, Path, description = "The endpoint")),
    security(("adminKey" = [])),
    responses((status = 202, description = "How many were queued", body = Queued),
              (status = 404, description = "No such endpoint", body = crate::http::error::Problem, content_type = PROBLEM),
              (status = 422, description = "since is not a time", body = crate::http::error::Problem, content_type = PROBLEM)))]
pub async fn admin_recover(
    _: Admin,
    sandbox: Sandbox,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<RecoverInput>,
) -> Result<(StatusCode, Json<Queued>), ApiError> {
    recover_as(&sandbox, &WebhookCaller::Admin, &id, input).await
}

/// Webhook management takes no `Idempotency-Key`: it answers secrets once, and redeliveries are
/// meant to repeat. A connecting company's own API answers its signing secrets: no-store.
pub fn router() -> Routes {
    let client = RouteSpec::client().secret();
    let admin = RouteSpec::admin();
    Routes::new()
        .add(client, routes!(create_webhook_endpoint, list_webhook_endpoints))
        .add(
            client,
            routes!(get_webhook_endpoint, update_webhook_endpoint, delete_webhook_endpoint),
        )
        .add(client, routes!(rotate_webhook_secret))
        .add(client, routes!(recover_webhook_messages))
        .add(client, routes!(list_webhook_messages))
        .add(client, routes!(list_undelivered_webhook_messages))
        .add(client, routes!(get_webhook_message))
        .add(client, routes!(list_webhook_attempts))
        .add(client, routes!(redeliver_webhook_message))
        .add(admin, routes!(create_any_webhook_endpoint, list_all_webhook_endpoints))
        .add(admin, routes!(get_any_webhook_endpoint, delete_any_webhook_endpoint))
        .add(admin, routes!(get_delivery_faults, put_delivery_faults))
        .add(admin, routes!(send_test_webhook))
        .add(admin, routes!(admin_list_messages))
        .add(admin, routes!(admin_list_undelivered))
        .add(admin, routes!(admin_get_message))
        .add(admin, routes!(admin_list_attempts))
        .add(admin, routes!(admin_redeliver))
        .add(admin, routes!(admin_recover))
}
