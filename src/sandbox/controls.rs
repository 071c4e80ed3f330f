//! The kill switch: the bank stops a connecting company (all its calls, or only its update
//! calls), one customer's API access, or every client at once (an emergency stop), and lifts
//! the stop again. Stops are sandbox state (stored, kept across restarts, back with a restore),
//! each change is recorded (who, when, why) and written to the outbox as an event.

use crate::domain::fault::RequestKind;
use crate::storage::StorageError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};
use utoipa::ToSchema;

const META_CONTROLS: &str = "controls";
/// Most records the history keeps (the oldest go first).
const MAX_HISTORY: usize = 1000;

/// What a stop covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StopScope {
    /// Every call.
    All,
    /// Update calls only (transfers, debits, cancels); reads go on.
    Update,
}

impl StopScope {
    pub fn as_str(self) -> &'static str {
        match self {
            StopScope::All => "all",
            StopScope::Update => "update",
        }
    }

    /// Whether a request of this kind is stopped.
    pub fn stops(self, kind: RequestKind) -> bool {
        match self {
            StopScope::All => true,
            StopScope::Update => kind == RequestKind::Update,
        }
    }
}

/// A stop in force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Stop {
    /// `all` or `update`.
    pub scope: StopScope,
    /// Why, as the bank tells the connecting company.
    pub reason: String,
    /// Who stopped it.
    pub by: String,
    /// When (RFC 3339, sandbox time).
    pub at: String,
}

/// One change of the kill switch, for the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StopRecord {
    /// `suspended` or `resumed`.
    pub action: String,
    /// `client`, `user` or `bank`.
    pub target: String,
    /// The client id or username (absent for the bank).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `all` or `update`.
    pub scope: StopScope,
    /// Why (for a lifting: the reason of the stop it ended).
    pub reason: String,
    /// Who did it.
    pub by: String,
    /// RFC 3339, sandbox time.
    pub at: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    clients: BTreeMap<String, Stop>,
    users: BTreeMap<String, Stop>,
    bank: Option<Stop>,
    history: Vec<StopRecord>,
}

/// What is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    Client(&'a str),
    User(&'a str),
    Bank,
}

impl Target<'_> {
    fn name(&self) -> &'static str {
        match self {
            Target::Client(_) => "client",
            Target::User(_) => "user",
            Target::Bank => "bank",
        }
    }

    fn id(&self) -> Option<String> {
        match self {
            Target::Client(id) | Target::User(id) => Some((*id).to_owned()),
            Target::Bank => None,
        }
    }
}

/// Why a request is refused.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub target: &'static str,
    pub stop: Stop,
}

/// The kill switch of one sandbox.
pub struct Controls {
    /// Whether anything is stopped (the layer's fast path when nothing is).
    active: AtomicBool,
    state: RwLock<State>,
    /// Held while a change is stored, so stores happen in the order of the changes.
    writing: Mutex<()>,
}

impl Controls {
    /// The stops stored in the sandbox (none on a fresh one).
    pub fn open(store: &crate::storage::SandboxStore) -> Result<Controls, StorageError> {
        let state: State = store
            .meta_get(META_CONTROLS)?
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let controls = Controls {
            active: AtomicBool::new(false),
            state: RwLock::new(state),
            writing: Mutex::new(()),
        };
        controls.refresh();
        Ok(controls)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn refresh(&self) {
        let st = self.read();
        let any = st.bank.is_some() || !st.clients.is_empty() || !st.users.is_empty();
        self.active.store(any, Ordering::Release);
    }

    /// Whether anything is stopped at all.
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// The stop that refuses a request of `kind` by this client for this user (user ids as
    /// stored, `u-{username}`), if any: the bank's first, then the client's, then the user's.
    pub fn refusal(&self, client: Option<&str>, user: Option<&str>, kind: RequestKind) -> Option<Refusal> {
        if !self.active() {
            return None;
        }
        let st = self.read();
        if let Some(stop) = st.bank.as_ref().filter(|s| s.scope.stops(kind)) {
            return Some(Refusal {
                target: "bank",
                stop: stop.clone(),
            });
        }
        if let Some(stop) = client.and_then(|c| st.clients.get(c)).filter(|s| s.scope.stops(kind)) {
            return Some(Refusal {
                target: "client",
                stop: stop.clone(),
            });
        }
        let username = user.map(|u| u.strip_prefix("u-").unwrap_or(u));
        if let Some(stop) = username.and_then(|u| st.users.get(u)).filter(|s| s.scope.stops(kind)) {
            return Some(Refusal {
                target: "user",
                stop: stop.clone(),
            });
        }
        None
    }

    /// The stop on one target, if any.
    pub fn stop_of(&self, target: Target<'_>) -> Option<Stop> {
        let st = self.read();
        match target {
            Target::Client(id) => st.clients.get(id).cloned(),
            Target::User(id) => st.users.get(id).cloned(),
            Target::Bank => st.bank.clone(),
        }
    }

    /// Every stop in force: (clients, users, bank).
    pub fn stops(&self) -> (BTreeMap<String, Stop>, BTreeMap<String, Stop>, Option<Stop>) {
        let st = self.read();
        (st.clients.clone(), st.users.clone(), st.bank.clone())
    }

    /// Every change so far, oldest first.
    pub fn history(&self) -> Vec<StopRecord> {
        self.read().history.clone()
    }

    /// Stops `target` (replacing a stop already there) or lifts its stop (`None`) and
    /// stores the new state (not yet durable). Answers the stop now in force and the record of
    /// the change, if anything changed (`services::controls::set` writes its event).
    pub fn set(
        &self,
        store: &crate::storage::SandboxStore,
        now: jiff::Timestamp,
        target: Target<'_>,
        stop: Option<(StopScope, String)>,
        by: &str,
    ) -> Result<(Option<Stop>, Option<StopRecord>), StorageError> {
        let at = crate::clock::format_jst(now);
        // Held until the new state is stored, so stores happen in the order of the changes.
        let writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let (record, bytes, now_in_force) = {
            let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
            let new = stop.map(|(scope, reason)| Stop {
                scope,
                reason,
                by: by.to_owned(),
                at: at.clone(),
            });
            let old = match target {
                Target::Client(id) => replace(&mut st.clients, id, &new),
                Target::User(id) => replace(&mut st.users, id, &new),
                Target::Bank => std::mem::replace(&mut st.bank, new.clone()),
            };
            let record = match (&new, &old) {
                (Some(s), _) => Some(StopRecord {
                    action: "suspended".into(),
                    target: target.name().into(),
                    id: target.id(),
                    scope: s.scope,
                    reason: s.reason.clone(),
                    by: by.to_owned(),
                    at: at.clone(),
                }),
                (None, Some(o)) => Some(StopRecord {
                    action: "resumed".into(),
                    target: target.name().into(),
                    id: target.id(),
                    scope: o.scope,
                    reason: o.reason.clone(),
                    by: by.to_owned(),
                    at: at.clone(),
                }),
                (None, None) => None,
            };
            if let Some(r) = &record {
                st.history.push(r.clone());
                let excess = st.history.len().saturating_sub(MAX_HISTORY);
                st.history.drain(..excess);
            }
            let bytes = serde_json::to_vec(&*st).unwrap_or_default();
            (record, bytes, new)
        };
        self.refresh();
        let Some(record) = record else {
            return Ok((None, None));
        };
        store.meta_put(META_CONTROLS, &bytes)?;
        drop(writing);
        Ok((now_in_force, Some(record)))
    }

    /// Forgets a client's stop without a record (the client itself was deleted).
    pub fn forget_client(&self, store: &crate::storage::SandboxStore, id: &str) -> Result<(), StorageError> {
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let bytes = {
            let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
            if st.clients.remove(id).is_none() {
                return Ok(());
            }
            serde_json::to_vec(&*st).unwrap_or_default()
        };
        self.refresh();
        store.meta_put(META_CONTROLS, &bytes)
    }
}

/// Puts `new` in (or takes the entry out when `None`); answers what was there.
fn replace(map: &mut BTreeMap<String, Stop>, id: &str, new: &Option<Stop>) -> Option<Stop> {
    match new {
        Some(s) => map.insert(id.to_owned(), s.clone()),
        None => map.remove(id),
    }
}
