//! Accounts in memory. Balance reads and transfer validation ask for accounts far more often
//! than anything changes them; a cached account costs a hash lookup and a clone instead of a
//! sled read (which waits on the storage engine's global lock while a transfer batch
//! commits) and a postcard decode.
//!
//! The cache is shared by every handle on the database and keyed by the full storage key
//! (sandbox prefix + account id). It stays equal to what is stored because:
//! - atomic writes (`SandboxStore::atomically`) are serialized and put the accounts they
//!   wrote into the cache after their commit, before the next atomic write starts;
//! - a reader that missed fills the entry only if it is still absent and nothing was
//!   forgotten since it read (`generation`), so an older value it read can never replace a
//!   newer one;
//! - writes that bypass atomic writes (building a world, clearing or copying a sandbox)
//!   forget the sandbox's entries.

use crate::domain::account::Account;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// Upper bound on cached accounts; the cache starts over when it is reached.
const MAX_ENTRIES: usize = 2_000_000;

#[derive(Default)]
pub struct AccountCache {
    map: RwLock<HashMap<Vec<u8>, Arc<Account>>>,
    /// Moves whenever entries are forgotten (see the module docs).
    generation: AtomicU64,
}

impl AccountCache {
    pub fn get(&self, key: &[u8]) -> Option<Arc<Account>> {
        self.map.read().ok()?.get(key).cloned()
    }

    /// Read before a storage read whose result may `fill` the cache.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Caches what a reader found in storage, unless a newer value got there first or the
    /// sandbox's entries were forgotten after `generation` was read.
    pub fn fill(&self, key: Vec<u8>, account: Arc<Account>, generation: u64) {
        let Ok(mut map) = self.map.write() else { return };
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.entry(key).or_insert(account);
    }

    /// Records a committed write (called by atomic writes only, in commit order).
    pub fn put(&self, key: Vec<u8>, account: Arc<Account>) {
        if let Ok(mut map) = self.map.write() {
            map.insert(key, account);
        }
    }

    /// Forgets every cached account under `prefix` (a sandbox's records changed in bulk).
    pub fn forget(&self, prefix: &[u8]) {
        if let Ok(mut map) = self.map.write() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            map.retain(|k, _| !k.starts_with(prefix));
        }
    }
}
