//! Ending consent: a grant revoked (by the user, the bank, or its client's deletion) or at its
//! maximum lifetime, and an access token ended early (a fault rule's `tokenExpired`). Both
//! clear the sandbox's token cache, so the next call with the token is refused.

use crate::domain::consent::TokenKind;
use crate::sandbox::Sandbox;
use crate::storage::StorageError;
use jiff::Timestamp;

/// Ends a grant (revoked, or at its maximum lifetime) in one atomic write: the grant is
/// marked, its event written, and the mandates given with it end. False when the grant was
/// already ended.
///
/// `expiry` is the scheduled instant when the grant ends by reaching its maximum lifetime
/// (its schedule entry is removed in the same write).
pub fn end_grant(
    sandbox: &Sandbox,
    grant_id: &str,
    reason: &str,
    expiry: Option<Timestamp>,
) -> Result<bool, StorageError> {
    let expired = expiry.is_some();
    use crate::domain::event::{EventKind, GrantData};
    use crate::storage::TxError;
    let now = sandbox.clock.now();
    let mandates = sandbox.store.mandates(|m| m.grant_id == grant_id)?;
    let ended = sandbox
        .store
        .atomically::<bool, ()>(|tx| {
            if let Some(at) = expiry {
                tx.unschedule(at, grant_id)?;
            }
            let Some(mut grant) = tx.grant(grant_id)? else {
                return Ok(false);
            };
            if grant.revoked_at.is_some() {
                return Ok(false);
            }
            grant.revoked_at = Some(now);
            grant.revoked_reason = Some(reason.to_owned());
            tx.put_grant(&grant)?;
            let data = GrantData {
                grant_id: grant.id.clone(),
                client_id: grant.client_id.clone(),
                username: grant.user_id.strip_prefix("u-").unwrap_or(&grant.user_id).to_owned(),
                reason: Some(reason.to_owned()),
            };
            let kind = if expired {
                EventKind::GrantExpired(data)
            } else {
                EventKind::GrantRevoked(data)
            };
            super::ledger::event(tx, kind, now)?;
            let why = if expired { "consent expired" } else { "consent revoked" };
            super::debits::end_mandates_of_grant(tx, &mandates, why, now)?;
            Ok(true)
        })
        .map_err(|e| match e {
            TxError::Storage(e) => e,
            TxError::Abort(()) => StorageError::Codec("grant write aborted".into()),
        })?;
    if ended {
        sandbox.token_cache.clear();
    }
    Ok(ended)
}

/// Revokes a grant (a reason the events name).
pub(crate) fn revoke_grant(sandbox: &Sandbox, grant_id: &str, reason: &str) -> Result<(), StorageError> {
    end_grant(sandbox, grant_id, reason, None).map(|_| ())
}

/// Ends an access token now, as if its lifetime had run out: it answers 401 from here on,
/// while its grant and refresh token live on (a fault rule's `tokenExpired`).
pub async fn expire_access_token(sandbox: &Sandbox, token: &str) -> Result<(), StorageError> {
    let hash = crate::ids::sha256_b64(token.as_bytes());
    let now = sandbox.clock.now();
    if let Some(mut record) = sandbox.store.token(&hash)?.filter(|t| t.kind == TokenKind::Access)
        && record.expires_at > now
    {
        record.expires_at = now;
        sandbox.store.put_token(&hash, &record)?;
        sandbox.store.flush().await?;
    }
    sandbox.token_cache.clear();
    Ok(())
}

/// Revokes a grant by id; false when there is no such grant.
pub async fn revoke_grant_by_id(sandbox: &Sandbox, grant_id: &str, reason: &str) -> Result<bool, StorageError> {
    if sandbox.store.grant(grant_id)?.is_none() {
        return Ok(false);
    }
    revoke_grant(sandbox, grant_id, reason)?;
    sandbox.store.flush().await?;
    Ok(true)
}

/// How a fault rule ends the caller's session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// The access token expires now; the grant and refresh token live on.
    TokenExpired,
    /// The bank revokes the grant behind the token.
    GrantRevoked,
}

/// Ends the caller's session as a fault rule says, and answers why (as the refusal words it).
pub async fn end_session(
    sandbox: &Sandbox,
    token: &str,
    grant_id: &str,
    how: SessionEnd,
) -> Result<&'static str, StorageError> {
    match how {
        SessionEnd::TokenExpired => {
            expire_access_token(sandbox, token).await?;
            Ok("the access token has expired; refresh it")
        }
        SessionEnd::GrantRevoked => {
            revoke_grant_by_id(sandbox, grant_id, "revoked_by_bank").await?;
            Ok("the grant behind this token was revoked")
        }
    }
}
