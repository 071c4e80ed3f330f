//! One sandbox: an isolated bank world (its scoped store, clock, bank profile compiled from the
//! scenario, signing key and issuer, caches). Handlers and services take the `Sandbox` they
//! serve; the server resolves it from the request path. Cheap to clone.

use crate::clock::Clock;
use crate::oauth::jwt::SigningKey;
use crate::scenario::LoadedScenario;
use crate::storage::SandboxStore;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

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
    /// Recently used access tokens (see `services::bearer::TokenCache`).
    pub token_cache: crate::services::bearer::TokenCache,
    /// Idempotency keys whose first request is still running.
    pub in_flight: crate::http::idempotency::InFlight,
    /// The server's transfer writer (shared by every sandbox; each job carries this store).
    pub transfer_writer: crate::services::transfer_writer::TransferWriter,
    /// Logged-in approvers of the bank-side approval page.
    pub approval_sessions: crate::http::approvals::ApprovalSessions,
    /// Fault rules and transfer outcome rules, with their counters and seeded stream.
    pub faults: crate::services::faults::Faults,
    /// Capacity policies (per client and bank-wide) with their live counters.
    pub capacity: crate::services::capacity::Capacity,
    /// Planned maintenance windows.
    pub maintenance: crate::services::maintenance::Maintenance,
    /// The kill switch: stopped clients and users, and the bank-wide stop.
    pub controls: crate::services::controls::Controls,
    /// Webhook endpoints and the deliveries waiting for their next attempt.
    pub webhooks: crate::webhooks::Webhooks,
    /// Requests served and when it was last used, for the operator's listing and idle expiry.
    pub usage: Usage,
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
