//! Failure counts of source addresses, one sandbox's, in memory: what holds back logins and
//! client authentications from an address after too many failures in a row (the rules are in
//! `services::lockout`).

use jiff::{SignedDuration, Timestamp};
use std::collections::HashMap;
use std::net::IpAddr;

/// Failures in a row from one source address that hold back its logins.
pub const SOURCE_FAILURES: u32 = 20;
/// Most source addresses remembered per sandbox (beyond it, ones not locked are forgotten).
const MAX_SOURCES: usize = 10_000;
/// How long a lock lasts (sandbox time).
pub const LOCK_FOR: SignedDuration = SignedDuration::from_mins(15);

/// Failures so far and the end of a lock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Guard {
    pub(crate) failures: u32,
    pub(crate) locked_until: Option<Timestamp>,
}

/// Failure counts of source addresses (one sandbox's, in memory).
#[derive(Default)]
pub struct SourceGuards(std::sync::Mutex<HashMap<IpAddr, Guard>>);

impl SourceGuards {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Guard>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn locked_until(&self, ip: IpAddr, now: Timestamp) -> Option<Timestamp> {
        self.lock().get(&ip)?.locked_until.filter(|t| *t > now)
    }

    pub(crate) fn fail(&self, ip: IpAddr, now: Timestamp) -> Option<Timestamp> {
        let mut map = self.lock();
        if map.len() >= MAX_SOURCES && !map.contains_key(&ip) {
            map.retain(|_, g| g.locked_until.is_some_and(|t| t > now));
        }
        let g = map.entry(ip).or_default();
        if g.locked_until.is_some_and(|t| t <= now) {
            *g = Guard::default();
        }
        g.failures += 1;
        if g.failures >= SOURCE_FAILURES {
            g.failures = 0;
            g.locked_until = Some(now.saturating_add(LOCK_FOR).unwrap_or(now));
        }
        g.locked_until.filter(|t| *t > now)
    }

    pub(crate) fn succeed(&self, ip: IpAddr) {
        self.lock().remove(&ip);
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }
}
