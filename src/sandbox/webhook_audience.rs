//! Who may receive an event: a client gets an account's events only while a grant from the
//! account's owner covers it with a read scope, and only events from the grant's start on.
//! The grants are read once into an index and read again whenever one is written.

use crate::domain::consent::{Grant, Scope};
use crate::domain::event::Audience;
use crate::storage::SandboxStore;
use crate::storage::StorageError;
use jiff::Timestamp;
use std::collections::HashMap;
use std::sync::atomic::Ordering;

/// The part of a grant that decides delivery.
#[derive(Debug, Clone, Copy)]
struct Span {
    issued_at: Timestamp,
    max_expires_at: Timestamp,
    revoked: bool,
    reads: bool,
}

impl Span {
    fn of(g: &Grant) -> Span {
        Span {
            issued_at: g.issued_at,
            max_expires_at: g.max_expires_at,
            revoked: g.revoked_at.is_some(),
            reads: g
                .scopes
                .iter()
                .any(|s| matches!(s, Scope::AccountsRead | Scope::TransactionsRead)),
        }
    }

    /// Live at `now`, and given before the event happened at `at` (event times are kept to
    /// the second, so the grant's time is compared to the second too).
    fn covers(&self, at: Timestamp, now: Timestamp) -> bool {
        !self.revoked && now < self.max_expires_at && self.issued_at.as_second() <= at.as_second()
    }
}

/// Grants by (client, customer) and (client, user), and accounts' owners.
#[derive(Default)]
pub struct GrantIndex {
    generation: Option<u64>,
    by_customer: HashMap<(String, String), Vec<Span>>,
    by_user: HashMap<(String, String), Vec<Span>>,
    owners: HashMap<String, Option<String>>,
}

impl GrantIndex {
    fn refresh(&mut self, store: &SandboxStore) -> Result<(), StorageError> {
        let generation = store.signals().grants.load(Ordering::Acquire);
        if self.generation == Some(generation) {
            return Ok(());
        }
        self.by_customer.clear();
        self.by_user.clear();
        for g in store.grants(|_| true)? {
            let span = Span::of(&g);
            self.by_customer
                .entry((g.client_id.clone(), g.customer_id.clone()))
                .or_default()
                .push(span);
            self.by_user.entry((g.client_id, g.user_id)).or_default().push(span);
        }
        self.generation = Some(generation);
        Ok(())
    }

    /// Whether `client_id` may receive an event for `audience` that happened at `at`, judged
    /// at sandbox time `now`. Endpoint-addressed events are judged by the caller.
    pub fn allows(
        &mut self,
        store: &SandboxStore,
        client_id: &str,
        audience: Audience<'_>,
        at: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StorageError> {
        match audience {
            Audience::Everyone | Audience::Endpoint(_) => Ok(true),
            Audience::Client(c) => Ok(c == client_id),
            Audience::Account(account_id) => {
                self.refresh(store)?;
                if !self.owners.contains_key(account_id) {
                    let owner = store.account(account_id)?.map(|a| a.customer_id);
                    self.owners.insert(account_id.to_owned(), owner);
                }
                let Some(Some(owner)) = self.owners.get(account_id) else {
                    return Ok(false);
                };
                Ok(self
                    .by_customer
                    .get(&(client_id.to_owned(), owner.clone()))
                    .is_some_and(|spans| spans.iter().any(|s| s.reads && s.covers(at, now))))
            }
            Audience::User(username) => {
                self.refresh(store)?;
                let user_id = format!("u-{username}");
                Ok(self
                    .by_user
                    .get(&(client_id.to_owned(), user_id))
                    .is_some_and(|spans| spans.iter().any(|s| s.covers(at, now))))
            }
        }
    }
}
