//! Lockout after repeated authentication failures, as a bank does: 5 wrong passwords or
//! one-time codes in a row lock the user for 15 minutes of sandbox time (on the consent
//! screen and the bank-side approval page alike), and 20 failures in a row through one client
//! lock logins through that client. The count is kept in the sandbox's data, so a restart does
//! not reset it; the control plane unlocks a user (`POST /sandbox/v1/users/{username}/unlock`).

use crate::sandbox::Sandbox;
use crate::storage::StorageError;
use jiff::{SignedDuration, Timestamp};

/// Failures in a row that lock a user.
pub const USER_FAILURES: u32 = 5;
/// Failures in a row, across users, that lock logins through one client.
pub const CLIENT_FAILURES: u32 = 20;
/// How long a lock lasts (sandbox time).
pub const LOCK_FOR: SignedDuration = SignedDuration::from_mins(15);

/// Failures so far and the end of a lock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Guard {
    failures: u32,
    locked_until: Option<Timestamp>,
}

fn meta_name(kind: &str, id: &str) -> String {
    // Login names are short ASCII; anything longer is cut so a key stays small.
    let id: String = id.chars().take(64).collect();
    format!("lock:{kind}:{id}")
}

fn load(app: &Sandbox, name: &str) -> Result<Guard, StorageError> {
    let Some(bytes) = app.store.meta_get(name)? else {
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

fn store(app: &Sandbox, name: &str, g: Guard) -> Result<(), StorageError> {
    let mut bytes = g.failures.to_be_bytes().to_vec();
    let secs = g.locked_until.map(|t| t.as_second()).unwrap_or(0);
    bytes.extend_from_slice(&secs.to_be_bytes());
    app.store.meta_put(name, &bytes)
}

/// When the user (or logins through the client) are locked, until when.
fn locked_until(app: &Sandbox, username: &str, client_id: Option<&str>) -> Result<Option<Timestamp>, StorageError> {
    let now = app.clock.now();
    let mut until = load(app, &meta_name("user", username))?
        .locked_until
        .filter(|t| *t > now);
    if let Some(c) = client_id {
        let client = load(app, &meta_name("client", c))?.locked_until.filter(|t| *t > now);
        until = until.max(client);
    }
    Ok(until)
}

fn fail(app: &Sandbox, name: &str, limit: u32) -> Result<Option<Timestamp>, StorageError> {
    let now = app.clock.now();
    let mut g = load(app, name)?;
    if g.locked_until.is_some_and(|t| t <= now) {
        g = Guard::default();
    }
    g.failures += 1;
    if g.failures >= limit {
        g.failures = 0;
        g.locked_until = Some(now.saturating_add(LOCK_FOR).unwrap_or(now));
    }
    store(app, name, g)?;
    Ok(g.locked_until.filter(|t| *t > now))
}

/// Counts a failed password or one-time code; answers the lock's end when this failure
/// locked the user or the client.
fn record_failure(app: &Sandbox, username: &str, client_id: Option<&str>) -> Result<Option<Timestamp>, StorageError> {
    let user = fail(app, &meta_name("user", username), USER_FAILURES)?;
    let client = match client_id {
        Some(c) => fail(app, &meta_name("client", c), CLIENT_FAILURES)?,
        None => None,
    };
    Ok(user.max(client))
}

/// A success ends the run of failures.
fn record_success(app: &Sandbox, username: &str, client_id: Option<&str>) -> Result<(), StorageError> {
    let user = meta_name("user", username);
    if load(app, &user)? != Guard::default() {
        store(app, &user, Guard::default())?;
    }
    if let Some(c) = client_id {
        let client = meta_name("client", c);
        let g = load(app, &client)?;
        if g.failures != 0 {
            store(app, &client, Guard { failures: 0, ..g })?;
        }
    }
    Ok(())
}

/// How a guarded attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    /// Wrong (counted towards the lock).
    Wrong,
    /// Locked after too many failures, until this instant (sandbox time); the secret was
    /// not even looked at.
    Locked(Timestamp),
}

/// One password or one-time-code attempt under the lockout: refused while locked, else
/// `check` decides and the outcome is counted (a failure may start the lock).
pub fn attempt(
    app: &Sandbox,
    username: &str,
    client_id: Option<&str>,
    check: impl FnOnce() -> Result<bool, StorageError>,
) -> Result<Verdict, StorageError> {
    if let Some(until) = locked_until(app, username, client_id)? {
        return Ok(Verdict::Locked(until));
    }
    if check()? {
        record_success(app, username, client_id)?;
        return Ok(Verdict::Passed);
    }
    Ok(match record_failure(app, username, client_id)? {
        Some(until) => Verdict::Locked(until),
        None => Verdict::Wrong,
    })
}

/// Lifts a user's lock and forgets the failures (control plane).
pub fn unlock(app: &Sandbox, username: &str) -> Result<(), StorageError> {
    store(app, &meta_name("user", username), Guard::default())
}

/// The message a page shows while locked, with the unlock time (sandbox time).
pub fn locked_message(until: Timestamp) -> String {
    let at = crate::clock::format_jst(until);
    format!(
        "認証に続けて失敗したため、{at} までロックされています。 / Too many failed attempts: locked until {at} (sandbox time). The sandbox control plane can unlock the user."
    )
}
