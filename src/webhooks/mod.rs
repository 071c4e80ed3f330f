//! Webhooks: connecting companies subscribe endpoints; every event of the outbox is fanned
//! out to the endpoints whose client may see it, signed (Standard Webhooks) and delivered
//! with retries; attempts are logged; what was not delivered can be pulled, redelivered or
//! recovered; delivery faults rehearse lost, late, duplicated and out-of-order deliveries.
//!
//! `Webhooks` is one sandbox's state (its endpoints and the queue of due deliveries); the
//! functions here are the use cases the HTTP routes call; `dispatcher` does the delivering.

pub mod dispatcher;

use crate::domain::event::EventKind;
use crate::domain::webhook::{self, DeliveryFault, DeliveryStatus, Endpoint};
use crate::sandbox::Sandbox;
use crate::storage::StorageError;
use jiff::{SignedDuration, Timestamp};

pub use dispatcher::run_dispatchers;

/// Most endpoints in one sandbox, and per client.
pub const MAX_ENDPOINTS: usize = 200;
pub const MAX_ENDPOINTS_PER_CLIENT: usize = 20;
/// Most delivery faults on one endpoint.
pub const MAX_FAULTS: usize = 20;

pub use crate::sandbox::webhooks::Webhooks;
use crate::sandbox::webhooks::lock;

/// Why a webhook use case refused or failed; `http` answers each as a problem document.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// An endpoint the caller cannot see.
    #[error("no webhook endpoint {0:?} here; GET the endpoints to list yours")]
    NoEndpoint(String),
    /// What was sent cannot be used; each problem is `field: message` (else of `field`).
    #[error("{summary}: {}", problems.join("; "))]
    Unusable {
        code: &'static str,
        summary: &'static str,
        field: &'static str,
        problems: Vec<String>,
    },
    /// The sandbox or the client holds the most endpoints it may.
    #[error("{0}")]
    TooMany(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The error for an endpoint the caller cannot see.
pub fn no_endpoint(id: &str) -> WebhookError {
    WebhookError::NoEndpoint(id.to_owned())
}

fn invalid(problems: Vec<String>) -> WebhookError {
    WebhookError::Unusable {
        code: "invalid_endpoint",
        summary: "the endpoint cannot be used",
        field: "endpoint",
        problems,
    }
}

/// Checks an endpoint URL: http(s), a host, no fragment; and, when the operator refuses
/// private addresses, not a private, loopback or link-local one.
pub fn check_url(url: &str, allow_private: bool) -> Result<(), String> {
    if url.len() > 2000 {
        return Err("url: at most 2000 characters".into());
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("url: {url:?} is not a URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("url: use http or https, not {:?}", parsed.scheme()));
    }
    if parsed.fragment().is_some() {
        return Err("url: remove the fragment (#…)".into());
    }
    let Some(host) = parsed.host_str() else {
        return Err("url: give a host".into());
    };
    if !allow_private {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let private = bare.eq_ignore_ascii_case("localhost")
            || bare.to_ascii_lowercase().ends_with(".localhost")
            || bare.parse::<std::net::IpAddr>().is_ok_and(dispatcher::is_private);
        if private {
            return Err(format!(
                "url: {host} is a private, loopback or link-local address, and this server refuses to deliver there (its operator can allow it with --webhook-private-addresses allow)"
            ));
        }
    }
    Ok(())
}

fn check_types(types: &[String], problems: &mut Vec<String>) {
    for t in types {
        if !EventKind::is_type(t) {
            problems.push(format!(
                "eventTypes: unknown event type {t:?}; known types are {}",
                EventKind::TYPES.join(", ")
            ));
        }
    }
    if types.len() > EventKind::TYPES.len() {
        problems.push("eventTypes: too many entries".into());
    }
}

fn check_description(d: &Option<String>, problems: &mut Vec<String>) {
    if d.as_ref().is_some_and(|d| d.chars().count() > 500) {
        problems.push("description: at most 500 characters".into());
    }
}

/// What a new endpoint is made of.
pub struct NewEndpoint {
    pub client_id: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub description: Option<String>,
    /// A secret to use (`whsec_…`); made up when absent.
    pub secret: Option<String>,
    pub enabled: bool,
}

/// Creates an endpoint; it receives the events written from now on.
pub async fn create(sandbox: &Sandbox, new: NewEndpoint) -> Result<Endpoint, WebhookError> {
    let mut problems = Vec::new();
    if let Err(p) = check_url(&new.url, sandbox.webhooks.settings.allow_private) {
        problems.push(p);
    }
    check_types(&new.event_types, &mut problems);
    check_description(&new.description, &mut problems);
    if new.secret.as_ref().is_some_and(|s| !webhook::valid_secret(s)) {
        problems.push("secret: give whsec_ followed by base64 of 24 to 64 random bytes, or leave it out".into());
    }
    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    let head = sandbox.store.events_head()?;
    let endpoint = Endpoint {
        id: crate::ids::prefixed_id("ep"),
        client_id: new.client_id,
        url: new.url,
        event_types: dedup(new.event_types),
        description: new.description,
        enabled: new.enabled,
        disabled_reason: None,
        secret: new
            .secret
            .unwrap_or_else(|| webhook::new_secret(&crate::ids::random_bytes(24))),
        previous_secret: None,
        created_at: sandbox.clock.now(),
        after_seq: head,
        failing_since_ms: None,
        faults: Vec::new(),
        fault_counts: Vec::new(),
    };
    let created = sandbox.webhooks.change::<_, WebhookError>(&sandbox.store, |eps| {
        if eps.len() >= MAX_ENDPOINTS {
            return Err(too_many(format!(
                "a sandbox has at most {MAX_ENDPOINTS} webhook endpoints"
            )));
        }
        if eps.iter().filter(|e| e.client_id == endpoint.client_id).count() >= MAX_ENDPOINTS_PER_CLIENT {
            return Err(too_many(format!(
                "a client has at most {MAX_ENDPOINTS_PER_CLIENT} webhook endpoints; delete one first"
            )));
        }
        eps.push(endpoint.clone());
        Ok((endpoint.clone(), Some(endpoint.id.clone())))
    })?;
    sandbox.store.flush().await?;
    dispatcher::ensure_running(sandbox);
    Ok(created)
}

fn too_many(detail: String) -> WebhookError {
    WebhookError::TooMany(detail)
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    v.retain(|t| seen.insert(t.clone()));
    v
}

/// Changes to an endpoint; absent fields stay as they are.
#[derive(Default)]
pub struct EndpointChanges {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

/// Finds the endpoint `id` the caller may touch (`client`: a client sees only its own).
fn find<'a>(eps: &'a mut [Endpoint], client: Option<&str>, id: &str) -> Result<&'a mut Endpoint, WebhookError> {
    eps.iter_mut()
        .find(|e| e.id == id && client.is_none_or(|c| c == e.client_id))
        .ok_or_else(|| no_endpoint(id))
}

/// The endpoint `id`, if the caller may see it.
pub fn get(sandbox: &Sandbox, client: Option<&str>, id: &str) -> Result<Endpoint, WebhookError> {
    sandbox
        .webhooks
        .endpoint(id)
        .filter(|e| client.is_none_or(|c| c == e.client_id))
        .ok_or_else(|| no_endpoint(id))
}

/// Updates an endpoint. Enabling a disabled one clears its failure record.
pub async fn update(
    sandbox: &Sandbox,
    client: Option<&str>,
    id: &str,
    ch: EndpointChanges,
) -> Result<Endpoint, WebhookError> {
    let mut problems = Vec::new();
    if let Some(url) = &ch.url {
        if let Err(p) = check_url(url, sandbox.webhooks.settings.allow_private) {
            problems.push(p);
        }
    }
    if let Some(t) = &ch.event_types {
        check_types(t, &mut problems);
    }
    check_description(&ch.description, &mut problems);
    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    let updated = sandbox.webhooks.change::<_, WebhookError>(&sandbox.store, |eps| {
        let e = find(eps, client, id)?;
        if let Some(url) = ch.url {
            e.url = url;
        }
        if let Some(t) = ch.event_types {
            e.event_types = dedup(t);
        }
        if let Some(d) = ch.description {
            e.description = Some(d);
        }
        if let Some(enabled) = ch.enabled {
            if enabled && !e.enabled {
                e.disabled_reason = None;
                e.failing_since_ms = None;
            }
            e.enabled = enabled;
        }
        Ok((e.clone(), Some(e.id.clone())))
    })?;
    sandbox.store.flush().await?;
    sandbox.webhooks.wake.notify_one();
    Ok(updated)
}

/// Deletes an endpoint with its deliveries and attempts.
pub async fn delete(sandbox: &Sandbox, client: Option<&str>, id: &str) -> Result<(), WebhookError> {
    sandbox.webhooks.change::<_, WebhookError>(&sandbox.store, |eps| {
        find(eps, client, id)?;
        eps.retain(|e| e.id != id);
        Ok(((), Some(id.to_owned())))
    })?;
    sandbox.store.remove_deliveries_of(id)?;
    sandbox.store.flush().await?;
    Ok(())
}

/// Deletes every endpoint of a client (the client was deleted).
pub async fn delete_all_of(sandbox: &Sandbox, client_id: &str) -> Result<(), WebhookError> {
    let ids: Vec<String> = sandbox
        .webhooks
        .endpoints()
        .into_iter()
        .filter(|e| e.client_id == client_id)
        .map(|e| e.id)
        .collect();
    for id in ids {
        delete(sandbox, None, &id).await?;
    }
    Ok(())
}

/// Longest grace period for a rotated secret.
const MAX_GRACE: SignedDuration = SignedDuration::from_hours(7 * 24);
/// Default grace period (real time): a receiver has a day to deploy the new secret.
pub const DEFAULT_GRACE: SignedDuration = SignedDuration::from_hours(24);

/// Rotates an endpoint's secret: the new one signs from now on, and the old one signs too
/// (a second `v1,` signature) for `grace`, real time, since receivers check signatures
/// against their own clock.
pub async fn rotate_secret(
    sandbox: &Sandbox,
    client: Option<&str>,
    id: &str,
    secret: Option<String>,
    grace: Option<SignedDuration>,
) -> Result<Endpoint, WebhookError> {
    let mut problems = Vec::new();
    if secret.as_ref().is_some_and(|s| !webhook::valid_secret(s)) {
        problems.push("secret: give whsec_ followed by base64 of 24 to 64 random bytes, or leave it out".into());
    }
    let grace = grace.unwrap_or(DEFAULT_GRACE);
    if grace < SignedDuration::ZERO || grace > MAX_GRACE {
        problems.push("gracePeriod: give a duration from 0s to 7d".into());
    }
    if !problems.is_empty() {
        return Err(WebhookError::Unusable {
            code: "invalid_rotation",
            summary: "the secret cannot be rotated so",
            field: "secret",
            problems,
        });
    }
    let now_ms = crate::clock::real_now_ms();
    let rotated = sandbox.webhooks.change::<_, WebhookError>(&sandbox.store, |eps| {
        let e = find(eps, client, id)?;
        let new = secret.unwrap_or_else(|| webhook::new_secret(&crate::ids::random_bytes(24)));
        let old = std::mem::replace(&mut e.secret, new);
        e.previous_secret = (grace > SignedDuration::ZERO).then(|| (old, now_ms + grace.as_millis() as i64));
        Ok((e.clone(), Some(e.id.clone())))
    })?;
    sandbox.store.flush().await?;
    Ok(rotated)
}

/// Replaces an endpoint's delivery faults (counters start again).
pub async fn set_faults(sandbox: &Sandbox, id: &str, faults: Vec<DeliveryFault>) -> Result<Endpoint, WebhookError> {
    let mut problems = Vec::new();
    if faults.len() > MAX_FAULTS {
        problems.push(format!("at most {MAX_FAULTS} faults per endpoint"));
    }
    let mut ids = std::collections::HashSet::new();
    let mut named = Vec::with_capacity(faults.len());
    for (i, mut f) in faults.into_iter().enumerate() {
        if let Err(errs) = webhook::compile_fault(&f) {
            problems.extend(errs.into_iter().map(|e| format!("[{i}].{e}")));
        }
        let fid = f.id.clone().unwrap_or_else(|| format!("delivery-fault-{}", i + 1));
        if fid.is_empty() || fid.len() > 64 || !fid.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            problems.push(format!("[{i}].id: letters, digits, -, _ and . only; up to 64"));
        }
        if !ids.insert(fid.clone()) {
            problems.push(format!("[{i}].id: {fid:?} is used twice"));
        }
        f.id = Some(fid);
        named.push(f);
    }
    if !problems.is_empty() {
        return Err(WebhookError::Unusable {
            code: "invalid_delivery_fault",
            summary: "the delivery faults cannot be used",
            field: "faults",
            problems,
        });
    }
    let updated = sandbox.webhooks.change::<_, WebhookError>(&sandbox.store, |eps| {
        let e = find(eps, None, id)?;
        e.fault_counts = vec![(0, 0); named.len()];
        e.faults = named;
        Ok((e.clone(), Some(e.id.clone())))
    })?;
    sandbox.store.flush().await?;
    Ok(updated)
}

/// Sends again: the message's deliveries (to the endpoints the caller may see, or to
/// `endpoint`) go back to pending, due now. Answers how many were queued.
pub async fn redeliver(
    sandbox: &Sandbox,
    client: Option<&str>,
    seq: u64,
    endpoint: Option<&str>,
) -> Result<usize, WebhookError> {
    let mut queued = 0;
    for d in sandbox.store.deliveries_of(seq)? {
        if client.is_some_and(|c| c != d.client_id) || endpoint.is_some_and(|e| e != d.endpoint_id) {
            continue;
        }
        if d.status == DeliveryStatus::Withheld {
            continue;
        }
        dispatcher::requeue(sandbox, d)?;
        queued += 1;
    }
    requeued(sandbox, queued).await
}

/// Makes `n` requeued deliveries durable and wakes the dispatcher for them.
async fn requeued(sandbox: &Sandbox, n: usize) -> Result<usize, WebhookError> {
    if n > 0 {
        sandbox.store.flush().await?;
        sandbox.webhooks.wake.notify_one();
    }
    Ok(n)
}

/// Sends again every message to `endpoint_id` that was not delivered (failed, dropped or
/// still pending) among those since sandbox time `since`.
pub async fn recover(
    sandbox: &Sandbox,
    client: Option<&str>,
    endpoint_id: &str,
    since: Timestamp,
) -> Result<usize, WebhookError> {
    get(sandbox, client, endpoint_id)?;
    let (list, _) = sandbox.store.deliveries(0, usize::MAX, |d| {
        d.endpoint_id == endpoint_id && matches!(d.status, DeliveryStatus::Failed | DeliveryStatus::Dropped)
    })?;
    let mut queued = 0;
    for d in list {
        let Some(event) = sandbox.store.event(d.seq)? else {
            continue;
        };
        let at = event.occurred_at.parse::<Timestamp>().unwrap_or(Timestamp::MIN);
        if at < since {
            continue;
        }
        dispatcher::requeue(sandbox, d)?;
        queued += 1;
    }
    requeued(sandbox, queued).await
}

/// Writes a `webhook.test` event addressed to one endpoint; answers its message id.
pub async fn send_test(
    sandbox: &Sandbox,
    endpoint_id: &str,
    note: Option<String>,
) -> Result<(String, u64), WebhookError> {
    let e = get(sandbox, None, endpoint_id)?;
    let now = sandbox.clock.now();
    let data = crate::domain::event::EndpointData {
        endpoint_id: e.id.clone(),
        client_id: e.client_id.clone(),
        reason: note,
    };
    let seq = crate::services::ledger::write_event(&sandbox.store, EventKind::WebhookTest(data), now)?;
    sandbox.store.flush().await?;
    dispatcher::ensure_running(sandbox);
    Ok((sandbox.webhooks.message_id(seq), seq))
}
