//! Stored answers of update requests sent with an `Idempotency-Key`, per client, user and key.

use super::codec::encode;
use super::{Result, SandboxStore};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The first answer to a keyed request, replayed to its retries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotentAnswer {
    /// SHA-256 of method, path and body of the first request.
    pub fingerprint: String,
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    pub created_at: Timestamp,
}

impl SandboxStore {
    pub fn idempotent_answer(&self, client_id: &str, user_id: &str, key: &str) -> Result<Option<IdempotentAnswer>> {
        if !self.key_may_exist(client_id, user_id, key) {
            return Ok(None);
        }
        self.get(
            &self.storage.engine()?.idempotency,
            &self.key(&[client_id.as_bytes(), user_id.as_bytes(), key.as_bytes()]),
        )
    }

    /// Stores the first answer of a keyed request, durable when it returns (its retry must
    /// find it after a crash).
    pub async fn put_idempotent_answer(
        &self,
        client_id: &str,
        user_id: &str,
        key: &str,
        answer: &IdempotentAnswer,
    ) -> Result<()> {
        let hash = self.idempotency_key_hash(client_id, user_id, key);
        self.storage.known_keys.note(hash);
        self.storage.engine()?.idempotency.insert(
            self.key(&[client_id.as_bytes(), user_id.as_bytes(), key.as_bytes()]),
            encode(answer)?,
        )?;
        self.flush().await
    }
}
