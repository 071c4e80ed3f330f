//! Bearer authentication on the resource APIs: the principal behind an access token, and the
//! per-sandbox cache that keeps the hot path free of storage reads and decoding.

use crate::domain::consent::{Scope, TokenKind};
use crate::domain::customer::CustomerKind;
use crate::ids::sha256_b64;
use crate::sandbox::Sandbox;
use crate::storage::StorageError;
use jiff::Timestamp;
use std::sync::Arc;

/// The caller of a resource API, as established by its access token.
#[derive(Debug, Clone)]
pub struct Principal {
    pub client_id: String,
    pub user_id: String,
    pub customer_id: String,
    pub grant_id: String,
    pub customer_kind: CustomerKind,
    pub scopes: Vec<Scope>,
}

impl Principal {
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

/// The scope an operation needs from a customer's token: each rule is written here once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeRule {
    /// `transfers:own` or `transfers:any`.
    Transfers,
    /// `debits`.
    Debits,
}

impl ScopeRule {
    /// The scopes that satisfy the rule, as a refusal names them.
    pub fn label(self) -> &'static str {
        match self {
            ScopeRule::Transfers => "transfers:own or transfers:any",
            ScopeRule::Debits => "debits",
        }
    }

    pub fn allows(self, who: &Principal) -> bool {
        match self {
            ScopeRule::Transfers => who.has(Scope::TransfersAny) || who.has(Scope::TransfersOwn),
            ScopeRule::Debits => who.has(Scope::Debits),
        }
    }
}

/// Why a bearer token was refused.
#[derive(Debug)]
pub enum TokenRejection {
    Invalid(&'static str),
    Storage(StorageError),
}

impl From<StorageError> for TokenRejection {
    fn from(e: StorageError) -> Self {
        TokenRejection::Storage(e)
    }
}

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
    fn get(&self, token: &str) -> Option<(Timestamp, Arc<Principal>)> {
        self.map.read().ok()?.get(token).cloned()
    }

    fn put(&self, token: String, expires_at: Timestamp, principal: Arc<Principal>) {
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

/// Establishes the principal behind an access token (the resource APIs' hot path).
pub fn authenticate_bearer(app: &Sandbox, token: &str) -> Result<Arc<Principal>, TokenRejection> {
    let now = app.clock.now();
    if let Some((expires_at, principal)) = app.token_cache.get(token) {
        return if now < expires_at {
            Ok(principal)
        } else {
            Err(TokenRejection::Invalid("the access token has expired; refresh it"))
        };
    }
    let hash = sha256_b64(token.as_bytes());
    let record = app
        .store
        .token(&hash)?
        .filter(|t| t.kind == TokenKind::Access)
        .ok_or(TokenRejection::Invalid("the access token is not recognised"))?;
    if now >= record.expires_at {
        return Err(TokenRejection::Invalid("the access token has expired; refresh it"));
    }
    let grant = app
        .store
        .grant(&record.grant_id)?
        .ok_or(TokenRejection::Invalid("the grant behind this token no longer exists"))?;
    if grant.revoked_at.is_some() {
        return Err(TokenRejection::Invalid("the grant behind this token was revoked"));
    }
    let principal = Arc::new(Principal {
        client_id: record.client_id,
        user_id: record.user_id,
        customer_id: record.customer_id,
        grant_id: record.grant_id,
        customer_kind: record.customer_kind,
        scopes: record.scopes,
    });
    app.token_cache
        .put(token.to_owned(), record.expires_at, principal.clone());
    Ok(principal)
}
