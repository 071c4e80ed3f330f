//! Shared application state: the sandbox's store and clock, its scenario (bank facts), the
//! ID-token signing key and the server settings. Cheap to clone.

use crate::clock::Clock;
use crate::oauth::jwt::SigningKey;
use crate::scenario::LoadedScenario;
use crate::storage::SandboxStore;
use std::sync::Arc;

/// Everything a request handler needs.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub store: SandboxStore,
    pub clock: Clock,
    pub scenario: LoadedScenario,
    pub signing_key: SigningKey,
    /// Public base URL and OAuth issuer, e.g. `http://127.0.0.1:8080`.
    pub issuer: String,
    /// Key for the `/sandbox/v1` control plane.
    pub admin_key: String,
    /// Recently used access tokens (see `services::consent::TokenCache`).
    pub token_cache: crate::services::consent::TokenCache,
    /// Idempotency keys whose first request is still running.
    pub in_flight: crate::http::idempotency::InFlight,
    /// Batches concurrent transfer requests into shared atomic writes.
    pub transfer_writer: crate::services::transfer_writer::TransferWriter,
    /// Logged-in approvers of the bank-side approval page.
    pub approval_sessions: crate::http::approvals::ApprovalSessions,
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        AppState(Arc::new(inner))
    }

    /// Whether `key` is the control-plane admin key (compared as hashes, so the comparison
    /// time says nothing about where a guess differs).
    pub fn is_admin_key(&self, key: &str) -> bool {
        crate::ids::sha256_b64(key.as_bytes()) == crate::ids::sha256_b64(self.admin_key.as_bytes())
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
