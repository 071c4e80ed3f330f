//! Lockout after repeated authentication failures, as a bank does: 5 wrong passwords or
//! one-time codes in a row lock the user for 15 minutes of sandbox time (on the consent
//! screen and the bank-side approval page alike); the count is kept in the sandbox's data, so a
//! restart does not reset it. Only users that exist are counted: made-up usernames store
//! nothing and lock no one. 20 failures in a row from one source address hold back logins
//! *from that address* for 15 minutes (in memory) — never a client's logins as a whole, so a
//! stranger who knows a client id cannot lock its users out. The control plane's unlock
//! (`POST /sandbox/v1/users/{username}/unlock`) lifts the user's lock and every address's.
//!
//! Client secrets are guarded the same way per source: 20 failed client authentications in a
//! row from one address (token endpoint, introspection, revocation, the webhooks API) hold back
//! every client authentication from it for 15 minutes — the real client, calling from its own
//! address, is not affected. The client-level unlock (`POST /sandbox/v1/clients/{id}/unlock`)
//! lifts these holds.

use crate::sandbox::Sandbox;
use crate::storage::StorageError;
use jiff::Timestamp;
use std::net::IpAddr;

/// Failures in a row that lock a user.
pub const USER_FAILURES: u32 = 5;
use crate::sandbox::source_guards::Guard;
pub use crate::sandbox::source_guards::{LOCK_FOR, SOURCE_FAILURES};

fn meta_name(kind: &str, id: &str) -> String {
    // Login names are short ASCII; anything longer is cut so a key stays small.
    let id: String = id.chars().take(64).collect();
    format!("lock:{kind}:{id}")
}

fn load(sandbox: &Sandbox, name: &str) -> Result<Guard, StorageError> {
    let Some(bytes) = sandbox.store.meta_get(name)? else {
        return Ok(Guard::default());
    };
    if bytes.len() != 12 {
        return Ok(Guard::default());
    }
    let failures = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let mut secs = [0u8; 8];
    secs.copy_from_slice(&bytes[4..]);
    let secs = i64::from_be_bytes(secs);
    let locked_until = (secs != 0).then(|| Timestamp::from_second(secs).ok()).flatten();
    Ok(Guard { failures, locked_until })
}

fn store(sandbox: &Sandbox, name: &str, g: Guard) -> Result<(), StorageError> {
    let mut bytes = g.failures.to_be_bytes().to_vec();
    let secs = g.locked_until.map(|t| t.as_second()).unwrap_or(0);
    bytes.extend_from_slice(&secs.to_be_bytes());
    sandbox.store.meta_put(name, &bytes)
}

/// A lock that holds, and until when (sandbox time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lock {
    pub until: Timestamp,
    /// The source address is held back (else the user is locked).
    pub by_source: bool,
}

fn fail(sandbox: &Sandbox, name: &str, limit: u32) -> Result<Option<Timestamp>, StorageError> {
    let now = sandbox.clock.now();
    let mut g = load(sandbox, name)?;
    if g.locked_until.is_some_and(|t| t <= now) {
        g = Guard::default();
    }
    g.failures += 1;
    if g.failures >= limit {
        g.failures = 0;
        g.locked_until = Some(now.saturating_add(LOCK_FOR).unwrap_or(now));
    }
    store(sandbox, name, g)?;
    Ok(g.locked_until.filter(|t| *t > now))
}

/// How the secret compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    Right,
    Wrong,
    /// No such user: counted for the source only.
    UnknownUser,
}

/// How a guarded attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    /// Wrong (counted towards the lock).
    Wrong,
    /// Locked after too many failures; the secret was not even looked at.
    Locked(Lock),
}

/// One password or one-time-code attempt from `source` under the lockout: refused while the
/// source or the user is locked, else `check` decides and the outcome is counted (a failure
/// may start a lock).
pub fn attempt(
    sandbox: &Sandbox,
    username: &str,
    source: Option<IpAddr>,
    check: impl FnOnce() -> Result<Checked, StorageError>,
) -> Result<Verdict, StorageError> {
    let now = sandbox.clock.now();
    if let Some(until) = source.and_then(|ip| sandbox.login_sources.locked_until(ip, now)) {
        return Ok(Verdict::Locked(Lock { until, by_source: true }));
    }
    let user = meta_name("user", username);
    if let Some(until) = load(sandbox, &user)?.locked_until.filter(|t| *t > now) {
        return Ok(Verdict::Locked(Lock {
            until,
            by_source: false,
        }));
    }
    let checked = check()?;
    if checked == Checked::Right {
        if load(sandbox, &user)? != Guard::default() {
            store(sandbox, &user, Guard::default())?;
        }
        if let Some(ip) = source {
            sandbox.login_sources.succeed(ip);
        }
        return Ok(Verdict::Passed);
    }
    let by_user = match checked {
        Checked::Wrong => fail(sandbox, &user, USER_FAILURES)?,
        _ => None,
    };
    let by_source = source.and_then(|ip| sandbox.login_sources.fail(ip, now));
    Ok(match (by_user, by_source) {
        (Some(until), _) => Verdict::Locked(Lock {
            until,
            by_source: false,
        }),
        (None, Some(until)) => Verdict::Locked(Lock { until, by_source: true }),
        (None, None) => Verdict::Wrong,
    })
}

/// Until when client authentications from `source` are held back, if they are.
pub fn client_auth_held_until(sandbox: &Sandbox, source: Option<IpAddr>) -> Option<Timestamp> {
    source.and_then(|ip| sandbox.client_auth_sources.locked_until(ip, sandbox.clock.now()))
}

/// Counts how a client authentication from `source` ended; a failure may start a hold.
pub fn client_auth_ended(sandbox: &Sandbox, source: Option<IpAddr>, passed: bool) {
    let Some(ip) = source else { return };
    if passed {
        sandbox.client_auth_sources.succeed(ip);
    } else {
        sandbox.client_auth_sources.fail(ip, sandbox.clock.now());
    }
}

/// Lifts every hold on logins and client authentications through a client's pages and
/// endpoints (control plane: the client-level unlock). Holds are per source address, so this
/// lifts every address's.
pub fn unlock_sources(sandbox: &Sandbox) {
    sandbox.login_sources.clear();
    sandbox.client_auth_sources.clear();
}

/// Lifts a user's lock and forgets the failures, and lifts every source address's hold
/// (the user may be behind one), so the user can log in again at once (control plane).
pub async fn unlock(sandbox: &Sandbox, username: &str) -> Result<(), StorageError> {
    sandbox.login_sources.clear();
    let written = store(sandbox, &meta_name("user", username), Guard::default());
    sandbox.store.durable(written).await
}

/// The message a page shows while locked: which lock holds and until when (sandbox time).
pub fn locked_message(lock: Lock) -> String {
    let at = crate::clock::format_jst(lock.until);
    if lock.by_source {
        format!(
            "このアドレスからの認証に続けて失敗したため、{at} までログインできません。 / Too many failed attempts from your address: logins from it are held back until {at} (sandbox time). The sandbox control plane's unlock lifts it."
        )
    } else {
        format!(
            "認証に続けて失敗したため、{at} までロックされています。 / Too many failed attempts: this user is locked until {at} (sandbox time). The sandbox control plane can unlock the user."
        )
    }
}
