//! Idempotency keys that may have been used, in memory, so that a request with a new key —
//! nearly every keyed request — needs no storage read to learn that it is new (a read waits
//! on the storage engine's global lock while a transfer batch commits).
//!
//! The set holds a 64-bit hash of each stored key (stored answers and keys recorded by
//! transfers) and is shared by every handle on the database. A sandbox's keys are loaded
//! from storage the first time they are asked about; every key written afterwards is added
//! before its write commits. "Not in the set" therefore means "not stored"; "in the set" only
//! means "read storage to find out" (hash collisions and aborted writes cost a read, nothing
//! more). Past `MAX_KEYS` a sandbox is no longer answered from memory.

use std::collections::{HashMap, HashSet};
use std::hash::Hasher;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Most keys held; beyond, lookups go to storage.
const MAX_KEYS: usize = 5_000_000;

#[derive(Default)]
pub struct KnownKeys {
    hashes: RwLock<HashSet<u64>>,
    /// Per sandbox prefix: whether its stored keys are in `hashes` (false: too many, or they
    /// could not be read).
    loaded: RwLock<HashMap<Vec<u8>, bool>>,
    /// Moves with every `reload`, so a load that read storage before it does not count.
    generation: AtomicU64,
}

/// The hash of an idempotency key's storage key (`{sandbox}\0{client}\0{user}\0{key}`).
pub fn hash(key: &[u8]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    h.write(key);
    h.finish()
}

impl KnownKeys {
    /// Whether the sandbox's stored keys are loaded (`None`: not yet asked).
    pub fn loaded(&self, prefix: &[u8]) -> Option<bool> {
        self.loaded.read().ok()?.get(prefix).copied()
    }

    /// Read before reading the stored keys for `load`.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Records a sandbox's stored keys (read after `generation` was), or that they are not
    /// held in memory.
    pub fn load(&self, prefix: &[u8], keys: Option<Vec<u64>>, generation: u64) {
        let usable = match (keys, self.hashes.write()) {
            (Some(keys), Ok(mut hashes)) if hashes.len() + keys.len() <= MAX_KEYS => {
                hashes.extend(keys);
                true
            }
            _ => false,
        };
        if let Ok(mut loaded) = self.loaded.write()
            && self.generation.load(Ordering::Acquire) == generation
        {
            loaded.insert(prefix.to_vec(), usable);
        }
    }

    /// Forgets that a sandbox's keys were loaded (its records were replaced in bulk).
    pub fn reload(&self, prefix: &[u8]) {
        if let Ok(mut loaded) = self.loaded.write() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            loaded.remove(prefix);
        }
    }

    /// Forgets that any sandbox's keys were loaded (the engine was reopened).
    pub fn reload_all(&self) {
        if let Ok(mut loaded) = self.loaded.write() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            loaded.clear();
        }
    }

    pub fn contains(&self, hash: u64) -> bool {
        self.hashes.read().map_or(true, |h| h.contains(&hash))
    }

    /// Adds a key about to be written.
    pub fn note(&self, hash: u64) {
        if let Ok(mut hashes) = self.hashes.write() {
            hashes.insert(hash);
        }
    }
}
