//! The per-sandbox cache of recently used access tokens.

use crate::domain::consent::Principal;
use jiff::Timestamp;
use std::sync::Arc;

/// Principals of recently used access tokens, so the resource APIs' hot path does not read
/// and decode the token and grant records on every call. Keyed by the token itself (only
/// ever in memory, like the request carrying it): a hit costs no SHA-256, which storage needs
/// only on a miss. Entries carry the token's expiry (checked against the clock on every use);
/// any revocation clears the cache.
#[derive(Default)]
pub struct TokenCache {
    map: std::sync::RwLock<std::collections::HashMap<String, (Timestamp, Arc<Principal>)>>,
}

/// Upper bound on cached tokens; the cache starts over when it is reached.
const TOKEN_CACHE_MAX: usize = 100_000;

impl TokenCache {
    pub(crate) fn get(&self, token: &str) -> Option<(Timestamp, Arc<Principal>)> {
        self.map.read().ok()?.get(token).cloned()
    }

    pub(crate) fn put(&self, token: String, expires_at: Timestamp, principal: Arc<Principal>) {
        if let Ok(mut map) = self.map.write() {
            if map.len() >= TOKEN_CACHE_MAX {
                map.clear();
            }
            map.insert(token, (expires_at, principal));
        }
    }

    /// Forgets everything (after any revocation).
    pub fn clear(&self) {
        if let Ok(mut map) = self.map.write() {
            map.clear();
        }
    }
}
