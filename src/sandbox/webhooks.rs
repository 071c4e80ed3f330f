//! One sandbox's webhook state: its endpoints, the queue of deliveries due, the index of
//! grants that decides who may receive what, and the dispatcher's flags. The delivering is
//! `webhooks::dispatcher`; the use cases are `webhooks`.

use crate::config::WebhookSettings;
use crate::domain::webhook::Endpoint;
use crate::sandbox::webhook_audience::GrantIndex;
use crate::storage::{SandboxStore, StorageError};
use jiff::Timestamp;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

const META_EPOCH: &str = "webhook-epoch";

pub(crate) type Key = (u64, Arc<str>);

/// Deliveries waiting for their next attempt, by when it is due.
#[derive(Default)]
pub struct Queue {
    pub(crate) order: BTreeSet<(i64, u64, Arc<str>)>,
    /// Due in real time (Unix ms) and in sandbox time, by delivery.
    pub(crate) entries: HashMap<Key, (i64, Timestamp)>,
    pub(crate) held: HashSet<Key>,
    pub(crate) in_flight: HashSet<Key>,
}

impl Queue {
    pub(crate) fn push(&mut self, seq: u64, ep: Arc<str>, real_ms: i64, sandbox: Timestamp, held: bool) {
        self.remove(&(seq, ep.clone()));
        self.order.insert((real_ms, seq, ep.clone()));
        if held {
            self.held.insert((seq, ep.clone()));
        }
        self.entries.insert((seq, ep), (real_ms, sandbox));
    }

    pub(crate) fn remove(&mut self, key: &Key) {
        if let Some((real, _)) = self.entries.remove(key) {
            self.order.remove(&(real, key.0, key.1.clone()));
        }
        self.held.remove(key);
    }

    pub(crate) fn pop_due(&mut self, now_ms: i64) -> Option<Key> {
        let first = self.order.iter().next()?.clone();
        if first.0 > now_ms {
            return None;
        }
        let key = (first.1, first.2);
        self.remove(&key);
        self.in_flight.insert(key.clone());
        Some(key)
    }

    pub(crate) fn next_due(&self) -> Option<i64> {
        self.order.iter().next().map(|e| e.0)
    }

    /// The sandbox clock is at `now`: what is due by sandbox time is due now.
    pub(crate) fn clock_moved(&mut self, now: Timestamp) {
        let due: Vec<(Key, Timestamp)> = self
            .entries
            .iter()
            .filter(|(_, (real, sandbox))| *sandbox <= now && *real > 0)
            .map(|(k, (_, s))| (k.clone(), *s))
            .collect();
        for ((seq, ep), sandbox) in due {
            let held = self.held.contains(&(seq, ep.clone()));
            self.push(seq, ep, 0, sandbox, held);
        }
    }

    /// A message to `ep` after `seq` was delivered: messages held back before it go now.
    pub(crate) fn release_held(&mut self, ep: &str, seq: u64) {
        let released: Vec<(Key, Timestamp)> = self
            .held
            .iter()
            .filter(|(s, e)| &**e == ep && *s < seq)
            .filter_map(|k| self.entries.get(k).map(|(_, t)| (k.clone(), *t)))
            .collect();
        for ((s, e), t) in released {
            self.push(s, e, 0, t, true);
        }
    }

    /// The endpoint answered again after failing: what waits for it goes now rather than at
    /// its scheduled retry (a receiver back from an outage gets its backlog at once).
    pub(crate) fn release_endpoint(&mut self, ep: &str) {
        let waiting: Vec<(Key, Timestamp)> = self
            .entries
            .iter()
            .filter(|((_, e), (real, _))| &**e == ep && *real > 0)
            .filter(|(k, _)| !self.held.contains(*k))
            .map(|(k, (_, t))| (k.clone(), *t))
            .collect();
        for ((s, e), t) in waiting {
            self.push(s, e, 0, t, false);
        }
    }

    /// Deliveries waiting or being attempted.
    pub fn len(&self) -> usize {
        self.entries.len() + self.in_flight.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One sandbox's webhooks.
pub struct Webhooks {
    pub(crate) endpoints: Mutex<Vec<Endpoint>>,
    /// Due deliveries (see `dispatcher::Queue`).
    pub(crate) queue: Mutex<Queue>,
    /// Wakes the dispatcher: a retry was queued, the clock moved, an endpoint changed.
    pub(crate) wake: tokio::sync::Notify,
    /// Set when the sandbox clock moved: retries due in sandbox time run now.
    pub(crate) clock_moved: AtomicBool,
    /// How far the outbox has been fanned out (stored with each fan-out).
    pub(crate) cursor: AtomicU64,
    pub(crate) started: AtomicBool,
    pub(crate) retired: AtomicBool,
    /// Part of every message id, new with every world (a reset starts the outbox again at 1,
    /// and a receiver that deduplicates by `webhook-id` must not take new events for old).
    pub(crate) epoch: String,
    pub(crate) settings: Arc<WebhookSettings>,
    pub(crate) http: reqwest::Client,
    /// The scenario seed: fault draws and jitter depend on it alone.
    pub(crate) seed: u64,
    pub(crate) grants: Mutex<GrantIndex>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Webhooks {
    /// The sandbox's endpoints and cursor as stored.
    pub fn open(
        store: &SandboxStore,
        settings: Arc<WebhookSettings>,
        http: reqwest::Client,
        seed: u64,
    ) -> Result<Webhooks, StorageError> {
        let epoch = match store.meta_get(META_EPOCH)? {
            Some(e) => String::from_utf8_lossy(&e).into_owned(),
            None => {
                let e = hex(&crate::ids::random_bytes(4));
                store.meta_put(META_EPOCH, e.as_bytes())?;
                e
            }
        };
        Ok(Webhooks {
            endpoints: Mutex::new(store.webhook_endpoints()?),
            queue: Mutex::new(Queue::default()),
            wake: tokio::sync::Notify::new(),
            clock_moved: AtomicBool::new(false),
            cursor: AtomicU64::new(store.webhook_cursor()?),
            started: AtomicBool::new(false),
            retired: AtomicBool::new(false),
            epoch,
            settings,
            http,
            seed,
            grants: Mutex::new(Default::default()),
        })
    }

    /// Every endpoint.
    pub fn endpoints(&self) -> Vec<Endpoint> {
        lock(&self.endpoints).clone()
    }

    pub fn endpoint(&self, id: &str) -> Option<Endpoint> {
        lock(&self.endpoints).iter().find(|e| e.id == id).cloned()
    }

    /// Changes the endpoints under the lock and stores the one `f` names.
    pub(crate) fn change<T, E: From<StorageError>>(
        &self,
        store: &SandboxStore,
        f: impl FnOnce(&mut Vec<Endpoint>) -> Result<(T, Option<String>), E>,
    ) -> Result<T, E> {
        let mut eps = lock(&self.endpoints);
        let mut draft = eps.clone();
        let (out, touched) = f(&mut draft)?;
        if let Some(id) = touched {
            match draft.iter().find(|e| e.id == id) {
                Some(e) => store.put_webhook_endpoint(e)?,
                None => store.remove_webhook_endpoint(&id)?,
            }
        }
        *eps = draft;
        Ok(out)
    }

    /// The webhook-id of the event `seq`: `msg_{epoch}_{seq}`.
    pub fn message_id(&self, seq: u64) -> String {
        format!("msg_{}_{seq}", self.epoch)
    }

    /// The event sequence number of a message id of this world.
    pub fn message_seq(&self, id: &str) -> Option<u64> {
        let (epoch, seq) = id.strip_prefix("msg_")?.rsplit_once('_')?;
        (epoch == self.epoch).then_some(())?;
        seq.parse().ok()
    }

    /// The sandbox clock moved: retries due in sandbox time run now.
    pub fn clock_moved(&self) {
        self.clock_moved.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    /// The sandbox is going away (deleted, reset or restored): its dispatcher stops.
    pub fn retire(&self) {
        self.retired.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    pub(crate) fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Acquire)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
