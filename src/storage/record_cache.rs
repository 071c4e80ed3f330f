//! Decoded records in memory: accounts, and the generated history's monthly chunks. Balance
//! reads, history pages and transfer validation ask for these far more often than anything
//! changes them; a cached record costs a hash lookup instead of a sled read (which waits on
//! the storage engine's global lock while a transfer batch commits) and a postcard decode.
//!
//! A cache is shared by every handle on the database and keyed by the full storage key
//! (sandbox prefix + record key). It stays equal to what is stored because:
//! - atomic writes (`SandboxStore::atomically`) are serialized and put the accounts they
//!   wrote into the cache after their commit, before the next atomic write starts (history
//!   chunks are only ever written when a world is built);
//! - a reader that missed fills the entry only if it is still absent and nothing was
//!   forgotten since it read (`generation`), so an older value it read can never replace a
//!   newer one;
//! - writes that bypass atomic writes (building a world, clearing or copying a sandbox)
//!   forget the sandbox's entries.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

pub struct RecordCache<T> {
    map: RwLock<HashMap<Vec<u8>, Arc<T>>>,
    /// Moves whenever entries are forgotten (see the module docs).
    generation: AtomicU64,
    /// Upper bound on entries; the cache starts over when it is reached.
    max_entries: usize,
}

impl<T> RecordCache<T> {
    pub fn new(max_entries: usize) -> Self {
        RecordCache {
            map: RwLock::default(),
            generation: AtomicU64::new(0),
            max_entries,
        }
    }

    pub fn get(&self, key: &[u8]) -> Option<Arc<T>> {
        self.map.read().ok()?.get(key).cloned()
    }

    /// Read before a storage read whose result may `fill` the cache.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Caches what a reader found in storage, unless a newer value got there first or the
    /// sandbox's entries were forgotten after `generation` was read.
    pub fn fill(&self, key: Vec<u8>, record: Arc<T>, generation: u64) {
        let Ok(mut map) = self.map.write() else { return };
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if map.len() >= self.max_entries {
            map.clear();
        }
        map.entry(key).or_insert(record);
    }

    /// Records a committed write (called by atomic writes only, in commit order).
    pub fn put(&self, key: Vec<u8>, record: Arc<T>) {
        if let Ok(mut map) = self.map.write() {
            map.insert(key, record);
        }
    }

    /// Forgets every cached record under `prefix` (a sandbox's records changed in bulk).
    pub fn forget(&self, prefix: &[u8]) {
        if let Ok(mut map) = self.map.write() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            map.retain(|k, _| !k.starts_with(prefix));
        }
    }
}
