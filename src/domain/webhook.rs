//! Webhooks as data: a subscriber's endpoint, the delivery of one event to one endpoint with
//! its attempts, the delivery faults a sandbox can inject, and the Standard Webhooks signature.
//! Pure: the dispatcher (`crate::webhooks`) does the I/O.

use super::fault::{CompiledWhen, FaultWhen};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A connecting company's webhook endpoint. Stored as JSON (it has optional fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    /// `ep_…`.
    pub id: String,
    pub client_id: String,
    pub url: String,
    /// Event types it receives; empty: every type.
    pub event_types: Vec<String>,
    pub description: Option<String>,
    pub enabled: bool,
    /// Why the bank disabled it (410, or failing too long).
    pub disabled_reason: Option<String>,
    /// `whsec_…`: signs every delivery.
    pub secret: String,
    /// The secret before the last rotation and until when (real time, Unix ms) it still signs.
    pub previous_secret: Option<(String, i64)>,
    /// Sandbox time.
    pub created_at: Timestamp,
    /// It receives the events written after this outbox sequence number (those after its
    /// creation).
    pub after_seq: u64,
    /// Real time (Unix ms) of the first failure in the current run of failures.
    pub failing_since_ms: Option<i64>,
    /// Delivery faults, tried in order.
    pub faults: Vec<DeliveryFault>,
    /// Per fault: messages it applied to (seen) and fired on (hits).
    pub fault_counts: Vec<(u64, u64)>,
}

impl Endpoint {
    /// Whether it wants events of this type.
    pub fn wants(&self, event_type: &str) -> bool {
        self.event_types.is_empty() || self.event_types.iter().any(|t| t == event_type)
    }

    /// The secrets that sign a delivery at real time `now_ms`: the current one, then the
    /// previous one during its grace period.
    pub fn signing_secrets(&self, now_ms: i64) -> Vec<&str> {
        let mut out = vec![self.secret.as_str()];
        if let Some((old, until)) = &self.previous_secret {
            if now_ms < *until {
                out.push(old);
            }
        }
        out
    }
}

/// A delivery fault: which messages to an endpoint it applies to, which of those it fires on,
/// and what it does to them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeliveryFault {
    /// The rule's id; assigned when absent.
    #[serde(default)]
    pub id: Option<String>,
    /// Event types it applies to; absent or empty: every type.
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    /// Which of the matching messages it fires on (`nth`, `every`, `probability` drawn from the
    /// sandbox seed, `times`, `from`/`until` in sandbox time). Absent: every one.
    #[serde(default)]
    pub when: Option<FaultWhen>,
    /// What happens (exactly one effect).
    pub effect: DeliveryEffect,
}

/// What a delivery fault does. Give exactly one field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeliveryEffect {
    /// `true`: never sent; the message stays in the undelivered list (redeliver sends it).
    #[serde(default)]
    pub drop: Option<bool>,
    /// Send the first attempt this much later, e.g. `"30s"` (real or sandbox time, whichever
    /// passes first).
    #[serde(default)]
    pub delay: Option<String>,
    /// `true`: delivered twice with the same `webhook-id`.
    #[serde(default)]
    pub duplicate: Option<bool>,
    /// `true`: held back until a later message to the endpoint is delivered (or 30 s pass).
    #[serde(default)]
    pub reorder: Option<bool>,
    /// `true`: the first attempt is signed with another secret (retries are signed right).
    #[serde(default)]
    pub wrong_signature: Option<bool>,
    /// Fail the first N attempts without sending them (they are retried on the schedule).
    #[serde(default)]
    pub fail_attempts: Option<u32>,
}

/// The effect of a fault once it fired on a message (stored with the delivery, so a restart
/// does not decide again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppliedFault {
    Drop,
    Delay(i64),
    Duplicate,
    Reorder,
    WrongSignature,
    FailAttempts(u32),
}

impl AppliedFault {
    /// Words for the attempts log.
    pub fn describe(&self) -> String {
        match self {
            AppliedFault::Drop => "drop".into(),
            AppliedFault::Delay(ms) => format!("delay {ms}ms"),
            AppliedFault::Duplicate => "duplicate".into(),
            AppliedFault::Reorder => "reorder".into(),
            AppliedFault::WrongSignature => "wrong signature".into(),
            AppliedFault::FailAttempts(n) => format!("fail first {n} attempts"),
        }
    }
}

/// Checks a fault and turns it into what the dispatcher applies: its effect and its `when`
/// (the fault rules' own, see `CompiledWhen`); `Err` lists what to fix.
pub fn compile_fault(f: &DeliveryFault) -> Result<(AppliedFault, CompiledWhen), Vec<String>> {
    let mut errors = Vec::new();
    for t in f.event_types.iter().flatten() {
        if !super::event::EventKind::is_type(t) {
            errors.push(format!("eventTypes: unknown event type {t:?}"));
        }
    }
    let when = f
        .when
        .as_ref()
        .map(|w| CompiledWhen::compile(w, &mut errors))
        .unwrap_or_default();
    let e = &f.effect;
    let mut effects = Vec::new();
    if e.drop == Some(true) {
        effects.push(AppliedFault::Drop);
    }
    if let Some(d) = &e.delay {
        match crate::clock::parse_duration(d) {
            Ok(d) if d > SignedDuration::ZERO && d <= SignedDuration::from_hours(24) => {
                effects.push(AppliedFault::Delay(d.as_millis() as i64))
            }
            Ok(_) => errors.push("effect.delay: give a duration from 1ms to 24h".into()),
            Err(why) => errors.push(format!("effect.delay: {why}")),
        }
    }
    if e.duplicate == Some(true) {
        effects.push(AppliedFault::Duplicate);
    }
    if e.reorder == Some(true) {
        effects.push(AppliedFault::Reorder);
    }
    if e.wrong_signature == Some(true) {
        effects.push(AppliedFault::WrongSignature);
    }
    if let Some(n) = e.fail_attempts {
        if (1..=20).contains(&n) {
            effects.push(AppliedFault::FailAttempts(n));
        } else {
            errors.push("effect.failAttempts: give 1 to 20".into());
        }
    }
    if effects.len() != 1 && errors.is_empty() {
        errors.push(
            "effect: give exactly one of drop, delay, duplicate, reorder, wrongSignature (true) or failAttempts".into(),
        );
    }
    if errors.is_empty() {
        Ok((effects.remove(0), when))
    } else {
        Err(errors)
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    Delivered,
    /// Every attempt failed, or the endpoint was disabled.
    Failed,
    /// A fault rule dropped it.
    Dropped,
    /// Held back by a reorder fault.
    Held,
    /// No longer sent: the grant that let the client see it ended, or the endpoint is gone.
    Withheld,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Dropped => "dropped",
            DeliveryStatus::Held => "held",
            DeliveryStatus::Withheld => "withheld",
        }
    }

    /// Not (yet) successfully delivered, and the client may still see it: what the pull API
    /// for undelivered messages lists.
    pub fn undelivered(self) -> bool {
        matches!(
            self,
            DeliveryStatus::Pending | DeliveryStatus::Failed | DeliveryStatus::Dropped | DeliveryStatus::Held
        )
    }
}

/// One event on its way to one endpoint. Stored with postcard (no skipped fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The event's outbox sequence number.
    pub seq: u64,
    pub endpoint_id: String,
    pub client_id: String,
    pub event_type: String,
    pub status: DeliveryStatus,
    /// Attempts made so far (sent or failed by a fault).
    pub attempts: u32,
    /// When the next attempt is due: whichever of real time (Unix ms) and sandbox time comes
    /// first, so advancing the sandbox clock makes retries run.
    pub next_real_ms: i64,
    pub next_sandbox: Timestamp,
    /// Real time (Unix ms) the delivery was created: latency figures start here.
    pub created_real_ms: i64,
    /// Sandbox time of the successful attempt.
    pub delivered_at: Option<Timestamp>,
    pub fault: Option<AppliedFault>,
    /// The fault rule that fired.
    pub fault_rule: Option<String>,
}

/// One attempt to deliver (or a fault standing in for one). Stored with postcard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// 1, 2, 3 … per delivery.
    pub n: u32,
    /// Sandbox time.
    pub at: Timestamp,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<u16>,
    pub latency_ms: u64,
    /// The first bytes of the receiver's answer.
    pub response: String,
    /// What went wrong: `timeout`, `connection refused …`, `redirect not followed`, a fault.
    pub error: Option<String>,
    pub succeeded: bool,
    /// Sandbox time of the next attempt, if one is scheduled.
    pub next_attempt_at: Option<Timestamp>,
    /// The delivery fault that shaped this attempt.
    pub fault: Option<String>,
}

impl Attempt {
    /// Attempt `n` at sandbox time `at`, before anything is known of it.
    pub fn new(n: u32, at: Timestamp, fault: Option<String>) -> Attempt {
        Attempt {
            n,
            at,
            status: None,
            latency_ms: 0,
            response: String::new(),
            error: None,
            succeeded: false,
            next_attempt_at: None,
            fault,
        }
    }
}

/// Standard Webhooks: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` with the key
/// in `secret` (`whsec_<base64>`). A secret that is not valid base64 signs with its bytes.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let raw = secret.strip_prefix("whsec_").unwrap_or(secret);
    let key_bytes = STANDARD.decode(raw).unwrap_or_else(|_| raw.as_bytes().to_vec());
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key_bytes);
    let mut ctx = ring::hmac::Context::with_key(&key);
    ctx.update(msg_id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!("v1,{}", STANDARD.encode(ctx.sign().as_ref()))
}

/// The `webhook-signature` header: one `v1,` signature per secret, space-separated.
pub fn signature_header(secrets: &[&str], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|s| sign(s, msg_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `secret` is a usable endpoint secret: `whsec_` and base64 of 24 to 64 bytes.
pub fn valid_secret(secret: &str) -> bool {
    secret
        .strip_prefix("whsec_")
        .and_then(|b| STANDARD.decode(b).ok())
        .is_some_and(|k| (24..=64).contains(&k.len()))
}

/// A fresh secret from 24 random bytes.
pub fn new_secret(random: &[u8]) -> String {
    format!("whsec_{}", STANDARD.encode(random))
}

/// A number in [0, 1) that depends only on its inputs: the deterministic draw behind
/// probabilities and jitter (same sandbox seed, same draws).
pub fn draw(seed: u64, parts: &[&[u8]]) -> f64 {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(&seed.to_be_bytes());
    for p in parts {
        ctx.update(p);
        ctx.update(&[0]);
    }
    let d = ctx.finish();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d.as_ref()[..8]);
    (u64::from_be_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_like_the_standard_webhooks_example() {
        // The example from the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn draws_are_deterministic_and_in_range() {
        let a = draw(7, &[b"ep", b"1"]);
        assert_eq!(a, draw(7, &[b"ep", b"1"]));
        assert_ne!(a, draw(8, &[b"ep", b"1"]));
        assert!((0.0..1.0).contains(&a));
    }
}
