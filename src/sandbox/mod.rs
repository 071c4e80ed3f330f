//! One sandbox: an isolated bank world (its scoped store, clock, bank profile compiled from the
//! scenario, signing key and issuer, caches). Handlers and services take the `Sandbox` they
//! serve; the server resolves it from the request path. Cheap to clone.

pub mod capacity;
pub mod controls;
pub mod faults;
pub mod maintenance;
pub mod pending;
pub mod signing_key;
pub mod source_guards;
pub mod storage_use;
pub mod token_cache;
pub mod webhook_audience;
pub mod webhooks;

use crate::clock::Clock;
use crate::sandbox::signing_key::SigningKey;
use crate::scenario::LoadedScenario;
use crate::storage::SandboxStore;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};

/// The id of the sandbox served at the root paths (`/personal/v1/...`).
pub const DEFAULT_SANDBOX: &str = "default";

/// The handle of one sandbox.
#[derive(Clone)]
pub struct Sandbox(Arc<SandboxParts>);

pub struct SandboxParts {
    /// The sandbox id ("default" for the one served at the root).
    pub id: Arc<str>,
    /// Path prefix it is served under: "" for the default sandbox, `/s/{id}` for the others.
    pub base_path: String,
    pub store: SandboxStore,
    pub clock: Clock,
    pub scenario: Arc<LoadedScenario>,
    pub signing_key: SigningKey,
    /// Public base URL and OAuth issuer, e.g. `http://127.0.0.1:8080` or `…/s/{id}`.
    pub issuer: String,
    /// Key for this sandbox's `/sandbox/v1` control plane.
    pub admin_key: String,
    /// Recently used access tokens (see `token_cache::TokenCache`).
    pub token_cache: crate::sandbox::token_cache::TokenCache,
    /// The server's transfer writer (shared by every sandbox; each job carries this store).
    pub transfer_writer: crate::storage::group_commit::GroupWriter,
    /// Login failures per source address (see `services::lockout`).
    pub login_sources: crate::sandbox::source_guards::SourceGuards,
    /// Failed client authentications per source address (held back after too many).
    pub client_auth_sources: crate::sandbox::source_guards::SourceGuards,
    /// Authorization requests waiting for login and consent (in memory only).
    pub pending: crate::sandbox::pending::PendingAuthorizations,
    /// What the layers above keep per handle (the HTTP side's in-flight idempotency keys and
    /// approval sessions).
    pub attachments: Attachments,
    /// Fault rules and transfer outcome rules, with their counters and seeded stream.
    pub faults: crate::sandbox::faults::Faults,
    /// Capacity policies (per client and bank-wide) with their live counters.
    pub capacity: crate::sandbox::capacity::Capacity,
    /// Planned maintenance windows.
    pub maintenance: crate::sandbox::maintenance::Maintenance,
    /// The kill switch: stopped clients and users, and the bank-wide stop.
    pub controls: crate::sandbox::controls::Controls,
    /// Webhook endpoints and the deliveries waiting for their next attempt.
    pub webhooks: crate::sandbox::webhooks::Webhooks,
    /// Requests served and when it was last used, for the operator's listing and idle expiry.
    pub usage: Usage,
    /// What requests and workers pass to use this handle; lifecycle changes close it.
    pub gate: Arc<Gate>,
    /// Its storage use against its quota, as last measured.
    pub storage_use: crate::sandbox::storage_use::StorageUse,
}

/// State that a layer above the sandbox core keeps per sandbox handle, by its type: created
/// on first use and dropped with the handle, so a reset or restore (a new handle) starts it
/// afresh like the rest of the world. The core knows nothing of the types it holds.
#[derive(Default)]
pub struct Attachments(std::sync::Mutex<Vec<Arc<dyn std::any::Any + Send + Sync>>>);

impl Attachments {
    /// The handle's `T`, made with `T::default()` on first use.
    pub fn get<T: std::any::Any + Send + Sync + Default>(&self) -> Arc<T> {
        let mut held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = held.iter().find_map(|a| a.clone().downcast::<T>().ok()) {
            return found;
        }
        let made = Arc::new(T::default());
        held.push(made.clone());
        made
    }
}

/// The gate of a sandbox handle. Every request (but the lifecycle calls themselves) and every
/// background worker holds a `Pass` while it uses the handle; a lifecycle change (snapshot,
/// reset, restore, delete) closes the gate, waits until the passes out are back — so the
/// world is between two commits — and either opens it again or retires the handle for good
/// (its replacement is installed first, so a waiting request finds it).
///
/// Two atomics per pass on the hot path, no lock: `enter` counts itself in and then looks
/// at `closed`; `close` sets `closed` and then looks at the count. With sequentially
/// consistent order at least one of the two sees the other.
#[derive(Default)]
pub struct Gate {
    active: AtomicUsize,
    closed: AtomicBool,
    retired: AtomicBool,
    /// Wakes `close` when the last pass is back.
    drained: tokio::sync::Notify,
    /// Wakes requests waiting at a closed gate.
    opened: tokio::sync::Notify,
}

/// Held while a handle is in use; gives the pass back when dropped.
pub struct Pass(Arc<Gate>);

impl Drop for Pass {
    fn drop(&mut self) {
        self.0.leave();
    }
}

/// Why a pass was not given.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Still closed at the deadline (a lifecycle change is running).
    Busy,
    /// The handle was replaced or deleted: look the sandbox up again.
    Retired,
}

impl Gate {
    /// A pass at once, unless the gate is closed or retired.
    pub fn try_enter(self: &Arc<Self>) -> Option<Pass> {
        self.active.fetch_add(1, Ordering::SeqCst);
        if self.closed.load(Ordering::SeqCst) {
            self.leave();
            return None;
        }
        Some(Pass(self.clone()))
    }

    /// A pass, waiting while the gate is closed until `deadline`.
    pub async fn enter(self: &Arc<Self>, deadline: tokio::time::Instant) -> Result<Pass, Refused> {
        loop {
            let opened = self.opened.notified();
            tokio::pin!(opened);
            opened.as_mut().enable();
            if self.retired.load(Ordering::SeqCst) {
                return Err(Refused::Retired);
            }
            if let Some(pass) = self.try_enter() {
                return Ok(pass);
            }
            if tokio::time::timeout_at(deadline, opened).await.is_err() {
                return Err(if self.retired.load(Ordering::SeqCst) {
                    Refused::Retired
                } else {
                    Refused::Busy
                });
            }
        }
    }

    fn leave(&self) {
        if self.active.fetch_sub(1, Ordering::SeqCst) == 1 && self.closed.load(Ordering::SeqCst) {
            self.drained.notify_waiters();
        }
    }

    /// Closes the gate and waits until every pass is back, or answers `false` (gate open
    /// again) if some are still out at `deadline`.
    pub async fn close(&self, deadline: tokio::time::Instant) -> bool {
        self.closed.store(true, Ordering::SeqCst);
        loop {
            let drained = self.drained.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            if self.active.load(Ordering::SeqCst) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, drained).await.is_err() && self.active.load(Ordering::SeqCst) != 0 {
                self.open();
                return false;
            }
        }
    }

    /// Opens a closed gate again.
    pub fn open(&self) {
        if !self.retired.load(Ordering::SeqCst) {
            self.closed.store(false, Ordering::SeqCst);
        }
        self.opened.notify_waiters();
    }

    /// Retires the handle for good: passes are refused with `Retired` from now on.
    pub fn retire(&self) {
        self.retired.store(true, Ordering::SeqCst);
        self.closed.store(true, Ordering::SeqCst);
        self.opened.notify_waiters();
    }

    pub fn is_retired(&self) -> bool {
        self.retired.load(Ordering::SeqCst)
    }
}

/// Request count and last use (real time, Unix seconds) of a sandbox.
#[derive(Default)]
pub struct Usage {
    requests: AtomicU64,
    last_used: AtomicI64,
}

impl Usage {
    pub fn starting(requests: u64, last_used: i64) -> Usage {
        Usage {
            requests: AtomicU64::new(requests),
            last_used: AtomicI64::new(last_used),
        }
    }

    /// Counts one request at `now` (Unix seconds).
    pub fn touch(&self, now: i64) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        // A plain store: last use only moves forward in practice, and being off by a request
        // for a second does not matter to idle expiry.
        self.last_used.store(now, Ordering::Relaxed);
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn last_used(&self) -> i64 {
        self.last_used.load(Ordering::Relaxed)
    }
}

impl Sandbox {
    pub fn new(parts: SandboxParts) -> Self {
        Sandbox(Arc::new(parts))
    }

    /// Whether `key` is this sandbox's admin key (compared as hashes, so the comparison time
    /// says nothing about where a guess differs).
    pub fn is_admin_key(&self, key: &str) -> bool {
        crate::ids::sha256_b64(key.as_bytes()) == crate::ids::sha256_b64(self.admin_key.as_bytes())
    }

    /// A path of this sandbox as a browser must request it (`/oauth/…` → `/s/{id}/oauth/…`).
    pub fn path(&self, path: &str) -> String {
        format!("{}{path}", self.base_path)
    }

    pub fn is_default(&self) -> bool {
        &*self.id == DEFAULT_SANDBOX
    }
}

impl std::ops::Deref for Sandbox {
    type Target = SandboxParts;
    fn deref(&self) -> &SandboxParts {
        &self.0
    }
}
