//! Bearer authentication on the resource APIs: the principal behind an access token, and the
//! per-sandbox cache that keeps the hot path free of storage reads and decoding.

use crate::domain::consent::{Principal, TokenKind};
use crate::ids::sha256_b64;
use crate::sandbox::Sandbox;
use crate::storage::StorageError;
use std::sync::Arc;

/// Why a bearer token was refused.
#[derive(Debug)]
pub enum TokenRejection {
    Invalid(&'static str),
    /// The token expired at this sandbox time.
    Expired(jiff::Timestamp),
    Storage(StorageError),
}

impl From<StorageError> for TokenRejection {
    fn from(e: StorageError) -> Self {
        TokenRejection::Storage(e)
    }
}

/// Establishes the principal behind an access token (the resource APIs' hot path).
pub fn authenticate_bearer(sandbox: &Sandbox, token: &str) -> Result<Arc<Principal>, TokenRejection> {
    let now = sandbox.clock.now();
    if let Some((expires_at, principal)) = sandbox.token_cache.get(token) {
        return if now < expires_at {
            Ok(principal)
        } else {
            Err(TokenRejection::Expired(expires_at))
        };
    }
    let hash = sha256_b64(token.as_bytes());
    let record = sandbox
        .store
        .token(&hash)?
        .filter(|t| t.kind == TokenKind::Access)
        .ok_or(TokenRejection::Invalid("the access token is not recognised"))?;
    if now >= record.expires_at {
        return Err(TokenRejection::Expired(record.expires_at));
    }
    let grant = sandbox
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
    sandbox
        .token_cache
        .put(token.to_owned(), record.expires_at, principal.clone());
    Ok(principal)
}
