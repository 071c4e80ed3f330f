//! Authorization requests waiting for the user's login and consent. They live minutes, so they
//! are kept in memory, never on disk (whatever a stranger sends to `/oauth/authorize` cannot
//! fill the disk); expired ones are swept as new ones arrive; and each client and each source
//! address may have only so many waiting (`--pending-authorizations-per-client`,
//! `…-per-source`), so one source cannot crowd out a client's real users.

use crate::domain::consent::PendingAuthorization;
use jiff::Timestamp;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Why a new authorization request was not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum Full {
    /// The client has this many requests waiting.
    Client(usize),
    /// The source address has this many requests waiting.
    Source(usize),
}

/// The waiting requests of one sandbox.
#[derive(Default)]
pub struct PendingAuthorizations {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    by_id: HashMap<String, (PendingAuthorization, Option<IpAddr>)>,
    per_client: HashMap<String, usize>,
    per_source: HashMap<IpAddr, usize>,
    inserts_since_sweep: usize,
}

/// Sweep expired requests at least every this many new ones.
const SWEEP_EVERY: usize = 256;

impl Inner {
    fn remove(&mut self, id: &str) -> Option<PendingAuthorization> {
        let (p, source) = self.by_id.remove(id)?;
        decrement(&mut self.per_client, &p.client_id);
        if let Some(ip) = source {
            decrement(&mut self.per_source, &ip);
        }
        Some(p)
    }

    fn sweep(&mut self, now: Timestamp) {
        let expired: Vec<String> = self
            .by_id
            .iter()
            .filter(|(_, (p, _))| now >= p.expires_at)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            self.remove(&id);
        }
        self.inserts_since_sweep = 0;
    }
}

fn decrement<K: std::hash::Hash + Eq>(counts: &mut HashMap<K, usize>, key: &K) {
    if let Some(n) = counts.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            counts.remove(key);
        }
    }
}

impl PendingAuthorizations {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a new request from `source`, unless its client or its source has `per_client` /
    /// `per_source` requests waiting that have not expired at `now`.
    pub fn insert(
        &self,
        pending: PendingAuthorization,
        source: Option<IpAddr>,
        now: Timestamp,
        per_client: usize,
        per_source: usize,
    ) -> Result<(), Full> {
        let mut inner = self.lock();
        let over = |inner: &Inner| {
            let client = inner.per_client.get(&pending.client_id).copied().unwrap_or(0);
            let from = source.and_then(|ip| inner.per_source.get(&ip).copied()).unwrap_or(0);
            if from >= per_source {
                Some(Full::Source(from))
            } else if client >= per_client {
                Some(Full::Client(client))
            } else {
                None
            }
        };
        inner.inserts_since_sweep += 1;
        if inner.inserts_since_sweep >= SWEEP_EVERY || over(&inner).is_some() {
            inner.sweep(now);
        }
        if let Some(full) = over(&inner) {
            return Err(full);
        }
        *inner.per_client.entry(pending.client_id.clone()).or_default() += 1;
        if let Some(ip) = source {
            *inner.per_source.entry(ip).or_default() += 1;
        }
        inner.by_id.insert(pending.id.clone(), (pending, source));
        Ok(())
    }

    /// The request `id` if it is waiting and has not expired at `now` (an expired one goes).
    pub fn get(&self, id: &str, now: Timestamp) -> Option<PendingAuthorization> {
        let mut inner = self.lock();
        let expired = now >= inner.by_id.get(id)?.0.expires_at;
        if expired {
            inner.remove(id);
            return None;
        }
        inner.by_id.get(id).map(|(p, _)| p.clone())
    }

    /// Replaces a waiting request (after its login), keeping where it came from.
    pub fn update(&self, pending: PendingAuthorization) {
        if let Some(entry) = self.lock().by_id.get_mut(&pending.id) {
            entry.0 = pending;
        }
    }

    /// Forgets a request (decided).
    pub fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    /// How many requests are waiting (expired ones not yet swept included).
    pub fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
