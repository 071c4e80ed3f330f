//! The dispatcher: one task per sandbox with endpoints. It waits (no polling) for the outbox
//! to move, a retry to fall due or the clock to move; fans new events out to the endpoints
//! that may see them (deliveries and the cursor written in one atomic batch, after the events
//! themselves are on disk); and sends what is due, at most `MAX_IN_FLIGHT` at a time.
//!
//! At least once: a delivery is pending in storage until an attempt succeeds, so a crash at
//! any point sends it again after the restart; nothing is skipped, since the cursor moves
//! only with the deliveries it produced.

use super::{Webhooks, lock};
use crate::clock::real_now_ms;
use crate::domain::event::{Audience, Event, EventKind};
use crate::domain::webhook::{self, AppliedFault, Attempt, Delivery, DeliveryStatus, Endpoint};
use crate::sandbox::Sandbox;
use crate::server::Server;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Most attempts in flight per sandbox.
const MAX_IN_FLIGHT: usize = 128;
/// Most events read from the outbox in one fan-out.
const FAN_OUT_BATCH: usize = 1000;
/// How long a reorder fault holds a message back when no later one comes.
const HOLD: i64 = 30_000;
/// An endpoint failing this long (real time) was down: when it answers again, what waits for
/// it is sent at once.
const OUTAGE_MS: i64 = 10_000;
/// How much of a receiver's answer the attempts log keeps.
const RESPONSE_BYTES: usize = 256;

/// The JSON body of a delivery: the event in the API's vocabulary.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Payload<'a> {
    /// `evt_…`, as in `GET /sandbox/v1/events`.
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: &'static str,
    /// Sandbox time.
    pub occurred_at: &'a str,
    pub sandbox_id: &'a str,
    pub data: serde_json::Value,
}

/// The exact bytes sent (and signed) for an event.
pub fn payload(sandbox: &Sandbox, event: &Event) -> Vec<u8> {
    let p = Payload {
        id: event.id(),
        event_type: event.kind.name(),
        occurred_at: &event.occurred_at,
        sandbox_id: &sandbox.id,
        data: event.kind.data(),
    };
    serde_json::to_vec(&p).unwrap_or_default()
}

/// Starts the sandbox's dispatcher if it is not running.
pub fn ensure_running(sandbox: &Sandbox) {
    if sandbox.webhooks.is_retired() || sandbox.webhooks.started.swap(true, Ordering::AcqRel) {
        return;
    }
    let sandbox = sandbox.clone();
    tokio::spawn(async move { run(sandbox).await });
}

/// Background worker: keeps a dispatcher running for every sandbox until `stop`, then stops
/// them all.
pub async fn run_dispatchers(server: Server, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        for sandbox in server.sandboxes() {
            ensure_running(&sandbox);
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => break,
        }
    }
    for sandbox in server.sandboxes() {
        sandbox.webhooks.retire();
    }
}

async fn run(sandbox: Sandbox) {
    let w = &sandbox.webhooks;
    if let Err(e) = load_pending(&sandbox) {
        tracing::warn!(sandbox = %sandbox.id, error = %e, "could not load pending webhook deliveries");
    }
    loop {
        if w.is_retired() {
            break;
        }
        if sandbox.gate.is_retired() {
            break;
        }
        // Deliveries are written under a pass, so a snapshot sees them at a commit point and
        // nothing is written into a world that was replaced.
        let Some(pass) = sandbox.gate.try_enter() else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let mut again = false;
        match fan_out(&sandbox).await {
            Ok(more) => again = more,
            Err(e) => {
                tracing::warn!(sandbox = %sandbox.id, error = %e, "webhook fan-out failed; trying again");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        if w.clock_moved.swap(false, Ordering::AcqRel) {
            lock(&w.queue).clock_moved(sandbox.clock.now());
        }
        start_due(&sandbox);
        drop(pass);
        if again {
            continue;
        }
        let wait = lock(&w.queue)
            .next_due()
            .map(|due| (due - real_now_ms()).clamp(0, 60_000))
            .unwrap_or(60_000);
        tokio::select! {
            _ = sandbox.store.signals().outbox.notified() => {}
            _ = w.wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
        }
    }
}

fn load_pending(sandbox: &Sandbox) -> Result<(), crate::storage::StorageError> {
    let (list, _) = sandbox.store.deliveries(0, usize::MAX, |d| {
        matches!(d.status, DeliveryStatus::Pending | DeliveryStatus::Held)
    })?;
    let mut q = lock(&sandbox.webhooks.queue);
    for d in list {
        let held = d.status == DeliveryStatus::Held;
        q.push(d.seq, Arc::from(d.endpoint_id), d.next_real_ms, d.next_sandbox, held);
    }
    Ok(())
}

/// Puts a delivery back to pending, due now (redelivery, recovery).
pub fn requeue(sandbox: &Sandbox, mut d: Delivery) -> Result<(), crate::storage::StorageError> {
    let now_ms = real_now_ms();
    let now = sandbox.clock.now();
    d.status = DeliveryStatus::Pending;
    d.next_real_ms = now_ms;
    d.next_sandbox = now;
    // A redelivery is sent as it is: a drop or reorder rule decided on the first sending.
    d.fault = None;
    d.fault_rule = None;
    sandbox.store.put_delivery(&d, None)?;
    lock(&sandbox.webhooks.queue).push(d.seq, Arc::from(d.endpoint_id), now_ms, now, false);
    ensure_running(sandbox);
    Ok(())
}

/// The fault (rule id and effect) that fires on the `ep`'s next message of type `ty`, counting
/// it in the endpoint's counters.
fn decide_fault(seed: u64, ep: &mut Endpoint, ty: &str, at: Timestamp) -> Option<(String, AppliedFault)> {
    if ep.fault_counts.len() < ep.faults.len() {
        ep.fault_counts.resize(ep.faults.len(), (0, 0));
    }
    for (i, f) in ep.faults.iter().enumerate() {
        if f.event_types
            .as_ref()
            .is_some_and(|t| !t.is_empty() && !t.iter().any(|x| x == ty))
        {
            continue;
        }
        let Ok((effect, when)) = webhook::compile_fault(f) else {
            continue;
        };
        let (seen, hits) = ep.fault_counts[i];
        let n = seen + 1;
        ep.fault_counts[i].0 = n;
        let rule = f.id.clone().unwrap_or_default();
        // Not the endpoint's id (random): the same rule on a sandbox of the same seed draws
        // the same.
        let draw = || webhook::draw(seed, &[rule.as_bytes(), &n.to_be_bytes()]);
        if when.open_at(at) && !when.used_up(hits) && when.fires_on(n, draw) {
            ep.fault_counts[i].1 += 1;
            return Some((rule, effect));
        }
    }
    None
}

// Long on purpose: one fan-out pass: read the outbox, decide each endpoint's audience and faults, queue, store the cursor.
/// Reads the outbox past the cursor and writes the deliveries it makes. True when more
/// events are waiting.
async fn fan_out(sandbox: &Sandbox) -> Result<bool, String> {
    let w: &Webhooks = &sandbox.webhooks;
    let cursor = w.cursor.load(Ordering::Acquire);
    let head = sandbox.store.events_head().map_err(|e| e.to_string())?;
    if head <= cursor {
        return Ok(false);
    }
    if lock(&w.endpoints).is_empty() {
        // Nobody to deliver to. Not stored: a later endpoint starts after its own creation
        // anyway, so reading these events again after a restart delivers nothing.
        w.cursor.store(head, Ordering::Release);
        return Ok(false);
    }
    // Deliver only what is on disk: a crash must not leave a receiver holding an event the
    // bank then forgets.
    sandbox.store.flush().await.map_err(|e| e.to_string())?;
    let events = sandbox
        .store
        .events_after(cursor, FAN_OUT_BATCH)
        .map_err(|e| e.to_string())?;
    if events.is_empty() {
        w.cursor.store(head, Ordering::Release);
        return Ok(false);
    }
    let now = sandbox.clock.now();
    let now_ms = real_now_ms();
    let mut made: Vec<(Delivery, Option<Attempt>)> = Vec::new();
    let mut last = cursor;
    {
        let mut eps = lock(&w.endpoints);
        let mut grants = lock(&w.grants);
        let mut touched = HashSet::new();
        for ev in events.iter().take_while(|e| e.seq <= head) {
            last = ev.seq;
            let ty = ev.kind.name();
            let audience = ev.kind.audience();
            let at = ev.occurred_at.parse::<Timestamp>().unwrap_or(now);
            for (i, ep) in eps.iter_mut().enumerate() {
                // A test event addressed to one endpoint goes to it whatever its filter: it was
                // asked for by name (and its message id was already answered).
                let addressed = matches!(audience, Audience::Endpoint(id) if id == ep.id);
                if ep.after_seq >= ev.seq || !(addressed || ep.wants(ty)) {
                    continue;
                }
                if matches!(audience, Audience::Endpoint(id) if id != ep.id) {
                    continue;
                }
                if !grants
                    .allows(&sandbox.store, &ep.client_id, audience, at, now)
                    .map_err(|e| e.to_string())?
                {
                    continue;
                }
                let mut dropped = None;
                let mut d = Delivery {
                    seq: ev.seq,
                    endpoint_id: ep.id.clone(),
                    client_id: ep.client_id.clone(),
                    event_type: ty.to_owned(),
                    status: DeliveryStatus::Pending,
                    attempts: 0,
                    next_real_ms: now_ms,
                    next_sandbox: now,
                    created_real_ms: now_ms,
                    delivered_at: None,
                    fault: None,
                    fault_rule: None,
                };
                if !ep.enabled {
                    // Kept as failed, so the undelivered list shows it and recover sends it
                    // once the endpoint is enabled again.
                    d.status = DeliveryStatus::Failed;
                } else if let Some((rule, fault)) = decide_fault(w.seed, ep, ty, at) {
                    touched.insert(i);
                    match fault {
                        AppliedFault::Drop => {
                            // Shown in the attempts log as an attempt that was never sent.
                            d.status = DeliveryStatus::Dropped;
                            d.attempts = 1;
                            let mut a = Attempt::new(1, now, Some(format!("drop ({rule})")));
                            a.error = Some("not sent: dropped by a delivery fault".into());
                            dropped = Some(a);
                        }
                        AppliedFault::Delay(ms) => {
                            d.next_real_ms += ms;
                            d.next_sandbox = now.saturating_add(SignedDuration::from_millis(ms)).unwrap_or(now);
                        }
                        AppliedFault::Reorder => {
                            d.status = DeliveryStatus::Held;
                            d.next_real_ms += HOLD;
                            d.next_sandbox = now.saturating_add(SignedDuration::from_millis(HOLD)).unwrap_or(now);
                        }
                        _ => {}
                    }
                    d.fault = Some(fault);
                    d.fault_rule = Some(rule);
                }
                made.push((d, dropped));
            }
        }
        let changed: Vec<&Endpoint> = touched.iter().map(|i| &eps[*i]).collect();
        sandbox
            .store
            .fan_out(last, &made, &changed)
            .map_err(|e| e.to_string())?;
    }
    w.cursor.store(last, Ordering::Release);
    let mut q = lock(&w.queue);
    for (d, _) in made {
        if matches!(d.status, DeliveryStatus::Pending | DeliveryStatus::Held) {
            let held = d.status == DeliveryStatus::Held;
            q.push(d.seq, Arc::from(d.endpoint_id), d.next_real_ms, d.next_sandbox, held);
        }
    }
    Ok(last < head)
}

fn start_due(sandbox: &Sandbox) {
    let now = real_now_ms();
    loop {
        let next = {
            let mut q = lock(&sandbox.webhooks.queue);
            if q.in_flight.len() >= MAX_IN_FLIGHT {
                None
            } else {
                q.pop_due(now)
            }
        };
        let Some((seq, ep)) = next else { break };
        let sandbox = sandbox.clone();
        tokio::spawn(async move {
            let result = attempt(&sandbox, seq, &ep).await;
            let w = &sandbox.webhooks;
            let mut q = lock(&w.queue);
            q.in_flight.remove(&(seq, ep.clone()));
            if let Err(e) = result {
                tracing::warn!(sandbox = %sandbox.id, seq, endpoint = %ep, error = %e, "webhook attempt failed to run; retrying in 5s");
                let later = sandbox
                    .clock
                    .now()
                    .saturating_add(SignedDuration::from_secs(5))
                    .unwrap_or(sandbox.clock.now());
                q.push(seq, ep, real_now_ms() + 5_000, later, false);
            }
            drop(q);
            w.wake.notify_one();
        });
    }
}

/// How an attempt ended, for what comes next.
enum Outcome {
    Delivered,
    /// 410: the receiver wants no more.
    Gone,
    /// Try again, not before this long (Retry-After).
    Retry(Option<Duration>),
}

/// What the receiver did with one request.
struct Sent {
    status: Option<u16>,
    latency_ms: u64,
    response: String,
    error: Option<String>,
    retry_after: Option<Duration>,
}

// Long on purpose: one delivery attempt: sign, send, record the attempt, and schedule the retry or the end.
async fn attempt(sandbox: &Sandbox, seq: u64, ep_id: &str) -> Result<(), String> {
    let w = &sandbox.webhooks;
    let store_err = |e: crate::storage::StorageError| e.to_string();
    let Some(mut d) = sandbox.store.delivery(seq, ep_id).map_err(store_err)? else {
        return Ok(());
    };
    if !matches!(d.status, DeliveryStatus::Pending | DeliveryStatus::Held) {
        return Ok(());
    }
    let now = sandbox.clock.now();
    let now_ms = real_now_ms();
    let held = (d.status == DeliveryStatus::Held).then(|| {
        format!(
            "reorder ({}): held back behind a later message",
            d.fault_rule.clone().unwrap_or_default()
        )
    });
    let mut att = Attempt::new(d.attempts + 1, now, held);
    let Some(ep) = w.endpoint(ep_id) else {
        // Deleted with its deliveries: nothing to write back.
        return Ok(());
    };
    let Some(event) = sandbox.store.event(seq).map_err(store_err)? else {
        d.status = DeliveryStatus::Withheld;
        return sandbox.store.put_delivery(&d, None).map_err(store_err);
    };
    if !ep.enabled {
        d.status = DeliveryStatus::Failed;
        d.attempts += 1;
        att.error = Some(format!(
            "not sent: the endpoint is disabled ({})",
            ep.disabled_reason.clone().unwrap_or_else(|| "by its owner".into())
        ));
        return sandbox.store.put_delivery(&d, Some(&att)).map_err(store_err);
    }
    let at = event.occurred_at.parse::<Timestamp>().unwrap_or(now);
    let allowed = lock(&w.grants)
        .allows(&sandbox.store, &ep.client_id, event.kind.audience(), at, now)
        .map_err(store_err)?;
    if !allowed {
        d.status = DeliveryStatus::Withheld;
        d.attempts += 1;
        att.error = Some("not sent: the client's grant no longer covers this event".into());
        return sandbox.store.put_delivery(&d, Some(&att)).map_err(store_err);
    }
    d.attempts += 1;
    let n = d.attempts;
    let rule = d.fault_rule.clone().unwrap_or_default();
    let outcome = match d.fault {
        Some(AppliedFault::FailAttempts(k)) if n <= k => {
            att.error = Some(format!("not sent: forced failure {n} of {k}"));
            att.fault = Some(format!("failAttempts ({rule})"));
            Outcome::Retry(None)
        }
        _ => {
            let body = payload(sandbox, &event);
            let msg_id = w.message_id(seq);
            let wrong = d.fault == Some(AppliedFault::WrongSignature) && n == 1;
            if wrong {
                att.fault = Some(format!("wrongSignature ({rule}): signed with another secret"));
            }
            let sent = send(sandbox, &ep, &msg_id, &body, wrong).await;
            let outcome = record(&mut att, &sent);
            if matches!(outcome, Outcome::Delivered) && d.fault == Some(AppliedFault::Duplicate) {
                // The same message again, same webhook-id: the receiver must deduplicate.
                d.status = DeliveryStatus::Delivered;
                d.delivered_at = Some(now);
                sandbox.store.put_delivery(&d, Some(&att)).map_err(store_err)?;
                d.attempts += 1;
                att = Attempt::new(
                    d.attempts,
                    sandbox.clock.now(),
                    Some(format!("duplicate ({rule}): sent a second time")),
                );
                let again = send(sandbox, &ep, &msg_id, &body, false).await;
                record(&mut att, &again);
                // The message was delivered whatever the copy met.
                Outcome::Delivered
            } else {
                outcome
            }
        }
    };
    let (label, took) = match (&outcome, att.fault.is_some() && att.status.is_none()) {
        (Outcome::Delivered, _) => (
            "delivered",
            Some(Duration::from_millis((real_now_ms() - d.created_real_ms).max(0) as u64)),
        ),
        (Outcome::Gone, _) => ("gone", None),
        (Outcome::Retry(_), true) => ("forced", None),
        (Outcome::Retry(_), false) => ("failed", None),
    };
    crate::metrics::metrics().webhook_attempt(&sandbox.id, label, took);
    match outcome {
        Outcome::Delivered => {
            d.status = DeliveryStatus::Delivered;
            d.delivered_at.get_or_insert(now);
            if let Some(since) = ep.failing_since_ms {
                set_failing(sandbox, &ep.id, None);
                // Back from an outage (not a passing error): send its backlog now.
                if now_ms - since >= OUTAGE_MS {
                    lock(&w.queue).release_endpoint(&ep.id);
                }
            }
        }
        Outcome::Gone => {
            d.status = DeliveryStatus::Failed;
            disable(sandbox, &ep.id, "the endpoint answered 410 Gone").await;
        }
        Outcome::Retry(retry_after) => {
            let schedule = &w.settings.retry_schedule;
            match schedule.get(n as usize - 1) {
                Some(base) => {
                    let delay = jittered(w.seed, *base, &msg_key(seq, &ep.id, n)).max(retry_after.unwrap_or_default());
                    let delay_ms = delay.as_millis() as i64;
                    d.status = DeliveryStatus::Pending;
                    d.next_real_ms = now_ms + delay_ms;
                    d.next_sandbox = now.saturating_add(SignedDuration::from_millis(delay_ms)).unwrap_or(now);
                    att.next_attempt_at = Some(d.next_sandbox);
                }
                None => d.status = DeliveryStatus::Failed,
            }
            let since = ep.failing_since_ms.unwrap_or(now_ms);
            if ep.failing_since_ms.is_none() {
                set_failing(sandbox, &ep.id, Some(now_ms));
            } else if w
                .settings
                .disable_after
                .is_some_and(|limit| now_ms - since >= limit.as_millis() as i64)
            {
                disable(sandbox, &ep.id, "the endpoint kept failing without a success").await;
            }
        }
    }
    sandbox.store.put_delivery(&d, Some(&att)).map_err(store_err)?;
    let mut q = lock(&w.queue);
    match d.status {
        DeliveryStatus::Pending => q.push(seq, Arc::from(ep_id), d.next_real_ms, d.next_sandbox, false),
        DeliveryStatus::Delivered => q.release_held(ep_id, seq),
        _ => {}
    }
    Ok(())
}

fn msg_key(seq: u64, ep: &str, n: u32) -> Vec<u8> {
    let mut k = seq.to_be_bytes().to_vec();
    k.extend_from_slice(ep.as_bytes());
    k.extend_from_slice(&n.to_be_bytes());
    k
}

/// `base` ± 10%, drawn from the seed (the same message retries at the same times on every run).
fn jittered(seed: u64, base: Duration, key: &[u8]) -> Duration {
    let f = 0.9 + 0.2 * webhook::draw(seed, &[b"jitter", key]);
    base.mul_f64(f)
}

fn record(att: &mut Attempt, sent: &Sent) -> Outcome {
    att.status = sent.status;
    att.latency_ms = sent.latency_ms;
    att.response = sent.response.clone();
    att.error = sent.error.clone();
    match sent.status {
        Some(s) if (200..300).contains(&s) => {
            att.succeeded = true;
            Outcome::Delivered
        }
        Some(410) => Outcome::Gone,
        Some(s) if (300..400).contains(&s) => {
            att.error = Some(format!("{s}: redirects are not followed; only a 2xx answer delivers"));
            Outcome::Retry(None)
        }
        Some(429 | 503) => Outcome::Retry(sent.retry_after),
        _ => Outcome::Retry(None),
    }
}

async fn send(sandbox: &Sandbox, ep: &Endpoint, msg_id: &str, body: &[u8], wrong_signature: bool) -> Sent {
    let w = &sandbox.webhooks;
    let started = Instant::now();
    let failed = |error: String| Sent {
        status: None,
        latency_ms: started.elapsed().as_millis() as u64,
        response: String::new(),
        error: Some(error),
        retry_after: None,
    };
    // Private addresses are refused by the client's resolver (`CheckedResolver`): the
    // connection goes to exactly the addresses that were checked.
    let timestamp = real_now_ms() / 1000;
    let signature = if wrong_signature {
        let other = webhook::new_secret(&crate::ids::random_bytes(24));
        webhook::signature_header(&[&other], msg_id, timestamp, body)
    } else {
        webhook::signature_header(&ep.signing_secrets(real_now_ms()), msg_id, timestamp, body)
    };
    let request = w
        .http
        .post(&ep.url)
        .header("content-type", "application/json")
        .header("webhook-id", msg_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body.to_vec());
    match request.send().await {
        Ok(mut resp) => {
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|s| Duration::from_secs(s.min(24 * 3600)));
            let mut bytes = Vec::new();
            while bytes.len() < RESPONSE_BYTES {
                match resp.chunk().await {
                    Ok(Some(c)) => bytes.extend_from_slice(&c),
                    _ => break,
                }
            }
            bytes.truncate(RESPONSE_BYTES);
            Sent {
                status: Some(status),
                latency_ms: started.elapsed().as_millis() as u64,
                response: String::from_utf8_lossy(&bytes).into_owned(),
                error: None,
                retry_after,
            }
        }
        Err(e) if e.is_timeout() => failed(format!("timeout: no answer within {:?}", w.settings.timeout)),
        Err(e) if e.is_connect() => failed(format!("could not connect: {}", root_cause(&e))),
        Err(e) => failed(root_cause(&e)),
    }
}

fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Whether an address is private, loopback, link-local or otherwise not on the internet.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (o[0] == 100 && (64..128).contains(&o[1]))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback() || v6.is_unspecified() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

/// The webhook client's resolver: resolves a delivery's host name at every connection and,
/// unless private addresses are allowed, refuses it when any address is private. The client
/// then connects to exactly the addresses returned here, so a name that answers a public
/// address to a check and a private one to the connection (DNS rebinding) cannot get in.
/// (Addresses written as literals never reach a resolver; `check_url` refuses private ones
/// when the endpoint is registered.)
pub struct CheckedResolver {
    pub allow_private: bool,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| format!("could not resolve {host}: {e}"))?
                .collect();
            if !allow_private && let Some(a) = addrs.iter().find(|a| is_private(a.ip())) {
                return Err(format!(
                    "refused: {host} resolves to {}, a private, loopback or link-local address (the operator can allow these with --webhook-private-addresses allow)",
                    a.ip()
                )
                .into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

fn set_failing(sandbox: &Sandbox, ep_id: &str, since: Option<i64>) {
    let result = sandbox
        .webhooks
        .change::<_, crate::storage::StorageError>(&sandbox.store, |eps| {
            match eps.iter_mut().find(|e| e.id == ep_id) {
                Some(e) if e.failing_since_ms != since => {
                    e.failing_since_ms = since;
                    Ok(((), Some(e.id.clone())))
                }
                _ => Ok(((), None)),
            }
        });
    if let Err(e) = result {
        tracing::warn!(endpoint = ep_id, error = ?e, "could not store the endpoint's failure record");
    }
}

/// Disables an endpoint and writes `webhook.endpoint_disabled` (its client's other
/// endpoints hear of it).
async fn disable(sandbox: &Sandbox, ep_id: &str, reason: &str) {
    let result = sandbox
        .webhooks
        .change::<_, crate::storage::StorageError>(&sandbox.store, |eps| {
            match eps.iter_mut().find(|e| e.id == ep_id) {
                Some(e) if e.enabled => {
                    e.enabled = false;
                    e.disabled_reason = Some(reason.to_owned());
                    Ok((Some(e.client_id.clone()), Some(e.id.clone())))
                }
                _ => Ok((None, None)),
            }
        });
    let client_id = match result {
        Ok(Some(c)) => c,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(endpoint = ep_id, error = ?e, "could not disable the endpoint");
            return;
        }
    };
    let now = sandbox.clock.now();
    let data = crate::domain::event::EndpointData {
        endpoint_id: ep_id.to_owned(),
        client_id,
        reason: Some(reason.to_owned()),
    };
    if let Err(e) = crate::services::ledger::write_event(&sandbox.store, EventKind::EndpointDisabled(data), now) {
        tracing::warn!(endpoint = ep_id, error = %e, "could not write webhook.endpoint_disabled");
    }
    let _ = sandbox.store.flush().await;
}

/// The HTTP client every sandbox's dispatcher shares: addresses checked against the private
/// ranges (unless allowed), no redirects, the delivery timeout.
pub fn http_client(settings: &crate::config::WebhookSettings) -> reqwest::Client {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(CheckedResolver {
            allow_private: settings.allow_private,
        }))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(settings.timeout)
        .user_agent(concat!("sandbank-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::CheckedResolver;
    use reqwest::dns::Resolve;
    use std::str::FromStr;

    /// The addresses a delivery connects to are the ones the resolver checked: a name that
    /// resolves to a private address is refused at that point, not only at registration.
    #[tokio::test]
    async fn the_resolver_refuses_names_that_resolve_to_private_addresses() {
        let name = || reqwest::dns::Name::from_str("localhost").unwrap();
        let refused = CheckedResolver { allow_private: false }.resolve(name()).await;
        let error = refused.err().expect("refused").to_string();
        assert!(error.contains("resolves to") && error.contains("private"), "{error}");
        let allowed = CheckedResolver { allow_private: true }.resolve(name()).await;
        let addrs: Vec<_> = allowed.expect("resolved").collect();
        assert!(
            addrs.iter().all(|a| a.ip().is_loopback()) && !addrs.is_empty(),
            "{addrs:?}"
        );
    }
}
