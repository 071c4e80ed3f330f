//! Webhook records in one tree, so that a fan-out (new deliveries plus the cursor that says
//! how far the outbox was read) is one atomic batch. Keys after the sandbox prefix:
//! `e\0{endpoint}` endpoint (JSON), `c` fan-out cursor, `d\0{seq}\0{endpoint}` delivery,
//! `a\0{seq}\0{endpoint}\0{n}` attempt (sequence numbers big-endian, so scans follow the
//! outbox order).

use super::codec::{decode, encode};
use super::{Result, SandboxStore, StorageError};
use crate::domain::webhook::{Attempt, Delivery, Endpoint};

const ENDPOINT: &[u8] = b"e";
const CURSOR: &[u8] = b"c";
const DELIVERY: &[u8] = b"d";
const ATTEMPT: &[u8] = b"a";

fn json<T: serde::Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| StorageError::Codec(e.to_string()))
}

fn from_json<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T> {
    serde_json::from_slice(b).map_err(|e| StorageError::Codec(e.to_string()))
}

impl SandboxStore {
    fn delivery_key(&self, seq: u64, endpoint_id: &str) -> Vec<u8> {
        self.key(&[DELIVERY, &seq.to_be_bytes(), endpoint_id.as_bytes()])
    }

    fn attempt_key(&self, seq: u64, endpoint_id: &str, n: u32) -> Vec<u8> {
        self.key(&[ATTEMPT, &seq.to_be_bytes(), endpoint_id.as_bytes(), &n.to_be_bytes()])
    }

    /// Every webhook endpoint of the sandbox, in id order.
    pub fn webhook_endpoints(&self) -> Result<Vec<Endpoint>> {
        let prefix = self.key(&[ENDPOINT, b""]);
        let mut out = Vec::new();
        for kv in self.storage.engine()?.webhooks.scan_prefix(&prefix) {
            out.push(from_json(&kv?.1)?);
        }
        Ok(out)
    }

    pub fn put_webhook_endpoint(&self, e: &Endpoint) -> Result<()> {
        self.storage
            .engine()?
            .webhooks
            .insert(self.key(&[ENDPOINT, e.id.as_bytes()]), json(e)?)?;
        Ok(())
    }

    pub fn remove_webhook_endpoint(&self, id: &str) -> Result<()> {
        self.storage
            .engine()?
            .webhooks
            .remove(self.key(&[ENDPOINT, id.as_bytes()]))?;
        Ok(())
    }

    /// How far the dispatcher has read the outbox (0: nothing yet).
    pub fn webhook_cursor(&self) -> Result<u64> {
        Ok(match self.storage.engine()?.webhooks.get(self.key(&[CURSOR]))? {
            Some(v) if v.len() == 8 => u64::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 8])),
            _ => 0,
        })
    }

    /// Writes new deliveries (with the attempt a fault stood in for, if any), the endpoints
    /// whose fault counters moved, and the cursor, in one atomic batch: after a crash either
    /// all of it is there or the events are read again.
    pub fn fan_out(
        &self,
        cursor: u64,
        deliveries: &[(Delivery, Option<Attempt>)],
        endpoints: &[&Endpoint],
    ) -> Result<()> {
        let mut batch = sled::Batch::default();
        for (d, attempt) in deliveries {
            batch.insert(self.delivery_key(d.seq, &d.endpoint_id), encode(d)?);
            if let Some(a) = attempt {
                batch.insert(self.attempt_key(d.seq, &d.endpoint_id, a.n), encode(a)?);
            }
        }
        for e in endpoints {
            batch.insert(self.key(&[ENDPOINT, e.id.as_bytes()]), json(e)?);
        }
        batch.insert(self.key(&[CURSOR]), cursor.to_be_bytes().to_vec());
        self.storage.engine()?.webhooks.apply_batch(batch)?;
        Ok(())
    }

    /// Stores a delivery and, when given, the attempt just made, in one batch.
    pub fn put_delivery(&self, d: &Delivery, attempt: Option<&Attempt>) -> Result<()> {
        let mut batch = sled::Batch::default();
        batch.insert(self.delivery_key(d.seq, &d.endpoint_id), encode(d)?);
        if let Some(a) = attempt {
            batch.insert(self.attempt_key(d.seq, &d.endpoint_id, a.n), encode(a)?);
        }
        self.storage.engine()?.webhooks.apply_batch(batch)?;
        Ok(())
    }

    pub fn delivery(&self, seq: u64, endpoint_id: &str) -> Result<Option<Delivery>> {
        self.get(&self.storage.engine()?.webhooks, &self.delivery_key(seq, endpoint_id))
    }

    /// Deliveries of events after `after` (in outbox order) that `keep` accepts: about
    /// `limit` (a page never splits one event's deliveries), plus whether more remain.
    pub fn deliveries(
        &self,
        after: u64,
        limit: usize,
        keep: impl Fn(&Delivery) -> bool,
    ) -> Result<(Vec<Delivery>, bool)> {
        let lo = self.key(&[DELIVERY, &after.saturating_add(1).to_be_bytes()]);
        let hi = self.key(&[DELIVERY, &u64::MAX.to_be_bytes()]);
        let mut out = Vec::new();
        for kv in self.storage.engine()?.webhooks.range(lo..hi) {
            let d: Delivery = decode(&kv?.1)?;
            if keep(&d) {
                if out.len() >= limit && out.last().is_some_and(|l: &Delivery| l.seq != d.seq) {
                    return Ok((out, true));
                }
                out.push(d);
            }
        }
        Ok((out, false))
    }

    /// The deliveries of one event (one per endpoint it went to).
    pub fn deliveries_of(&self, seq: u64) -> Result<Vec<Delivery>> {
        let prefix = self.key(&[DELIVERY, &seq.to_be_bytes(), b""]);
        let mut out = Vec::new();
        for kv in self.storage.engine()?.webhooks.scan_prefix(&prefix) {
            out.push(decode(&kv?.1)?);
        }
        Ok(out)
    }

    /// The attempts made for one delivery, in order.
    pub fn attempts(&self, seq: u64, endpoint_id: &str) -> Result<Vec<Attempt>> {
        let prefix = self.key(&[ATTEMPT, &seq.to_be_bytes(), endpoint_id.as_bytes(), b""]);
        let mut out = Vec::new();
        for kv in self.storage.engine()?.webhooks.scan_prefix(&prefix) {
            out.push(decode(&kv?.1)?);
        }
        Ok(out)
    }

    /// Removes an endpoint's deliveries and attempts (it was deleted).
    pub fn remove_deliveries_of(&self, endpoint_id: &str) -> Result<()> {
        let mut batch = sled::Batch::default();
        for tag in [DELIVERY, ATTEMPT] {
            let prefix = self.key(&[tag, b""]);
            for kv in self.storage.engine()?.webhooks.scan_prefix(&prefix) {
                let (k, _) = kv?;
                // The key names the endpoint: seq (8 bytes) \0 endpoint [\0 n (4 bytes)].
                let rest = &k[prefix.len()..];
                let tail = if tag == DELIVERY { 0 } else { 5 };
                if rest.len() > 9 + tail && &rest[9..rest.len() - tail] == endpoint_id.as_bytes() {
                    batch.remove(k);
                }
            }
        }
        self.storage.engine()?.webhooks.apply_batch(batch)?;
        Ok(())
    }
}
