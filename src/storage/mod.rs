//! Storage: the only code that knows sled. One sled tree per kind of record, every key
//! prefixed with the sandbox id, values encoded with postcard. `SandboxStore` is the typed
//! repository the services use; it is cheap to clone.

mod access_log;
mod codec;
pub mod group_commit;
mod idempotency;
mod keys;
mod known_keys;
mod ledger;
mod record_cache;
pub mod registry;
mod reserve;
mod webhooks;
mod world;

pub use access_log::{AccessLogEntry, AccessLogFilter, PendingAccess, ScanEnd};
pub use idempotency::IdempotentAnswer;
pub use ledger::{Counter, LedgerTx, TxError, TxResult, abort};
pub use world::{HistoryPage, WorldWriter};

use codec::{decode, encode};
use std::path::Path;
use std::sync::Arc;

/// A storage failure: the disk or the stored bytes, never the caller's input. The HTTP faces
/// answer `NoSpace` with 507 and `Unavailable` with 503 (`Retry-After`); neither was written.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StorageError {
    /// The disk is full.
    #[error("the disk holding the data dir is full: {0}")]
    NoSpace(String),
    /// The disk or the engine failed (an I/O error, or the engine stopped after one).
    #[error("storage I/O error: {0}")]
    Unavailable(String),
    #[error("stored record could not be decoded: {0}")]
    Codec(String),
}

impl From<sled::Error> for StorageError {
    fn from(e: sled::Error) -> Self {
        match e {
            sled::Error::Io(io) if is_no_space(&io) => StorageError::NoSpace(io.to_string()),
            other => StorageError::Unavailable(other.to_string()),
        }
    }
}

impl From<std::io::Error> for StorageError {
    fn from(e: std::io::Error) -> Self {
        if is_no_space(&e) {
            StorageError::NoSpace(e.to_string())
        } else {
            StorageError::Unavailable(e.to_string())
        }
    }
}

/// ENOSPC (and EDQUOT: a quota is a full disk to us).
fn is_no_space(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    ) || matches!(e.raw_os_error(), Some(28) | Some(122))
}

impl StorageError {
    /// Whether the disk was full.
    pub fn is_no_space(&self) -> bool {
        matches!(self, StorageError::NoSpace(_))
    }
}

pub type Result<T> = std::result::Result<T, StorageError>;

/// The trees of the database, listed once: each with its field name and its name on disk.
/// `scoped` trees hold sandbox-scoped records (every key starts with a sandbox's key space, so
/// copying, measuring and clearing a sandbox walks them); `server` trees hold the server's own.
macro_rules! engine_trees {
    (
        scoped { $($(#[$sdoc:meta])* $scoped:ident: $scoped_name:literal,)* }
        server { $($(#[$vdoc:meta])* $server:ident: $server_name:literal,)* }
    ) => {
        /// The open database and its trees (replaced as a whole when the engine is reopened).
        pub struct Engine {
            db: sled::Db,
            $($(#[$sdoc])* $scoped: sled::Tree,)*
            $($(#[$vdoc])* $server: sled::Tree,)*
        }

        impl Engine {
            fn with_trees(db: sled::Db) -> Result<Engine> {
                Ok(Engine {
                    $($scoped: db.open_tree($scoped_name)?,)*
                    $($server: db.open_tree($server_name)?,)*
                    db,
                })
            }

            /// The trees that hold sandbox-scoped records.
            fn all_trees(&self) -> impl Iterator<Item = &sled::Tree> {
                [$(&self.$scoped),*].into_iter()
            }
        }
    };
}

engine_trees! {
    scoped {
        meta: "meta",
        customers: "customers",
        users: "users",
        accounts: "accounts",
        customer_accounts: "customer_accounts",
        transactions: "transactions",
        /// History entries posted after the world was built (one small value each).
        postings: "posted_transactions",
        clients: "clients",
        grants: "grants",
        tokens: "tokens",
        codes: "codes",
        pending: "pending_authorizations",
        access_log: "access_log",
        ledger: "ledger_postings",
        transfers: "transfers",
        transfer_index: "transfer_index",
        schedule: "schedule",
        /// The event outbox: the events of one atomic write in chunks of up to
        /// `ledger::OUTBOX_CHUNK`, each under the sequence number of its first event.
        outbox: "outbox",
        notifications: "notifications",
        idempotency: "idempotency",
        mandates: "debit_mandates",
        /// Webhook endpoints, deliveries, attempts and the fan-out cursor.
        webhooks: "webhooks",
    }
    server {
        /// The server's sandbox registry: one record per sandbox (not scoped by sandbox).
        sandboxes: "sandboxes",
        /// Process-wide settings kept in the data dir (the operator key).
        server: "server",
        /// Key spaces to be deleted: ones being built (a crash leaves them unadopted) and ones a
        /// lifecycle change left behind (see `services::lifecycle`). Value: when they were first
        /// cleared (Unix seconds, big-endian), or empty when not yet.
        garbage: "garbage_spaces",
    }
}

/// The storage of the data dir: the engine and what lives beside it in memory. The engine is
/// reopened in place after a disk fault (sled refuses every write after its first I/O error
/// until it is opened again), so every use takes it afresh (`engine`).
pub struct Storage {
    engine: std::sync::RwLock<Option<Arc<Engine>>>,
    dir: std::path::PathBuf,
    cache_bytes: u64,
    /// The emergency reserve (see `reserve`).
    reserve: reserve::Reserve,
    /// Held while the engine is reopened.
    reopening: std::sync::Mutex<()>,
    /// The queue of the group-commit thread while the server runs (see `start_group_commit`).
    group_commit: std::sync::Mutex<Option<std::sync::mpsc::Sender<FlushWaiter>>>,
    /// Accounts in memory (see `record_cache`).
    account_cache: record_cache::RecordCache<crate::domain::account::Account>,
    /// The generated history's monthly chunks in memory (see `record_cache`).
    history_cache: record_cache::RecordCache<Vec<crate::domain::transaction::Transaction>>,
    /// Idempotency keys that may be stored (see `known_keys`).
    known_keys: known_keys::KnownKeys,
    /// Held by an atomic write from its start until its accounts are in the cache, so the
    /// cache sees writes in commit order.
    commit_order: std::sync::Mutex<()>,
}

type FlushWaiter = tokio::sync::oneshot::Sender<Result<()>>;

/// The flusher behind `Storage::flush`, on its own thread: it takes every waiter queued,
/// flushes once, answers them all, and repeats.
fn group_commit(storage: std::sync::Weak<Storage>, rx: std::sync::mpsc::Receiver<FlushWaiter>) {
    while let Ok(first) = rx.recv() {
        let mut waiters = vec![first];
        while let Ok(w) = rx.try_recv() {
            waiters.push(w);
        }
        let started = std::time::Instant::now();
        let result = match storage.upgrade() {
            Some(storage) => storage.flush_blocking(),
            None => Err(StorageError::Unavailable("the storage is closed".into())),
        };
        tracing::debug!(
            batch = waiters.len(),
            micros = started.elapsed().as_micros() as u64,
            "group commit"
        );
        for w in waiters {
            let _ = w.send(result.clone());
        }
    }
}

impl Engine {
    fn open(dir: &Path, cache_bytes: u64) -> Result<Engine> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .mode(sled::Mode::HighThroughput)
            .open()?;
        Engine::with_trees(db)
    }

    /// Data dirs written before the outbox was chunked kept one event per record in the tree
    /// `events`: each becomes a chunk of one, under the same key.
    fn migrate_events(&self) -> Result<()> {
        if !self.db.tree_names().iter().any(|n| n.as_ref() == b"events") {
            return Ok(());
        }
        let old = self.db.open_tree("events")?;
        let mut batch = sled::Batch::default();
        for kv in old.iter() {
            let (k, v) = kv?;
            let event: crate::domain::event::Event = decode(&v)?;
            batch.insert(k, encode(&vec![event])?);
        }
        self.outbox.apply_batch(batch)?;
        self.db.flush()?;
        self.db.drop_tree("events")?;
        Ok(())
    }
}

impl Storage {
    /// Opens (or creates) the database in `dir` with a page cache of `cache_bytes`.
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<Arc<Storage>> {
        Self::open_with_reserve(dir, cache_bytes, 0)
    }

    /// `open`, keeping an emergency reserve of `reserve_bytes` in the data dir (see `reserve`).
    pub fn open_with_reserve(dir: &Path, cache_bytes: u64, reserve_bytes: u64) -> Result<Arc<Storage>> {
        let engine = Engine::open(dir, cache_bytes)?;
        engine.migrate_events()?;
        let storage = Arc::new(Storage {
            engine: std::sync::RwLock::new(Some(Arc::new(engine))),
            dir: dir.to_owned(),
            cache_bytes,
            reserve: reserve::Reserve::new(dir, reserve_bytes),
            reopening: std::sync::Mutex::new(()),
            group_commit: std::sync::Mutex::new(None),
            account_cache: record_cache::RecordCache::new(500_000),
            history_cache: record_cache::RecordCache::new(50_000),
            known_keys: Default::default(),
            commit_order: std::sync::Mutex::new(()),
        });
        storage.reserve.keep();
        Ok(storage)
    }

    /// Whether the engine takes writes: sled answers every write with its first I/O error
    /// until it is reopened, and a flush tells.
    pub fn is_healthy(&self) -> bool {
        self.engine().is_ok_and(|e| e.db.flush().is_ok())
    }

    /// Free bytes on the data dir's disk.
    pub fn free_bytes(&self) -> Option<u64> {
        reserve::free_bytes(&self.dir)
    }

    /// Housekeeping, every second: reopens a failed engine once the disk has room again (at
    /// least 1 MiB, and the reserve's size), and puts the reserve back when there is room for
    /// it. Answers whether it reopened.
    pub fn recover_if_room(&self) -> Result<bool> {
        if self.is_healthy() {
            self.reserve.keep();
            return Ok(false);
        }
        let needed = self.reserve.bytes().max(1 << 20);
        if self.free_bytes().unwrap_or(0) < needed {
            return Ok(false);
        }
        self.reopen()?;
        tracing::info!("the disk has room again: the storage engine was reopened and takes writes");
        Ok(true)
    }

    /// Makes room for a deletion on a full disk: gives the reserve back and reopens a failed
    /// engine, so the deletion's own writes fit.
    pub fn make_room(&self) -> Result<()> {
        self.reserve.release();
        if !self.is_healthy() {
            self.reopen()?;
        }
        Ok(())
    }

    /// Reopens the engine in place: waits (up to 5 s) until no one uses the failed one, closes
    /// it, opens the data dir again (sled recovers what was synced, as after a crash) and
    /// forgets every cached record. Uses meanwhile answer `Unavailable`.
    pub fn reopen(&self) -> Result<()> {
        let _one = self.reopening.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.engine.write().ok().and_then(|mut slot| slot.take());
        if let Some(mut old) = old {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            loop {
                match Arc::try_unwrap(old) {
                    Ok(engine) => {
                        drop(engine);
                        break;
                    }
                    Err(still) if std::time::Instant::now() < deadline => {
                        old = still;
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                    Err(still) => {
                        if let Ok(mut slot) = self.engine.write() {
                            *slot = Some(still);
                        }
                        return Err(StorageError::Unavailable(
                            "the storage engine is still in use; it is reopened later".into(),
                        ));
                    }
                }
            }
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let engine = loop {
            match Engine::open(&self.dir, self.cache_bytes) {
                Ok(engine) => break engine,
                // sled's background threads may hold the old file lock for a moment.
                Err(_) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => return Err(e),
            }
        };
        if let Ok(mut slot) = self.engine.write() {
            *slot = Some(Arc::new(engine));
        }
        // Writes that failed may or may not have reached the disk: read everything afresh.
        self.account_cache.forget(&[]);
        self.history_cache.forget(&[]);
        self.known_keys.reload_all();
        Ok(())
    }

    /// The engine, or `Unavailable` while it is being reopened.
    pub(crate) fn engine(&self) -> Result<Arc<Engine>> {
        self.engine
            .read()
            .ok()
            .and_then(|e| e.clone())
            .ok_or_else(|| StorageError::Unavailable("the storage engine is being reopened after a disk fault".into()))
    }

    /// A store scoped to one sandbox, over the key space named after its id (the default
    /// sandbox's first world).
    pub fn sandbox(self: &Arc<Self>, sandbox_id: &str) -> SandboxStore {
        self.space(sandbox_id, sandbox_id)
    }

    /// A store of the sandbox `sandbox_id` over the key space `space` (a sandbox's world
    /// moves to a fresh space on every reset and restore; snapshots have spaces of their own).
    pub fn space(self: &Arc<Self>, sandbox_id: &str, space: &str) -> SandboxStore {
        let mut prefix = space.as_bytes().to_vec();
        prefix.push(0);
        SandboxStore {
            storage: self.clone(),
            id: Arc::from(sandbox_id),
            prefix: Arc::from(prefix),
            log_buffer: Default::default(),
            signals: Default::default(),
        }
    }

    /// Starts the group-commit thread (the server does, in `run`): from then on requests
    /// waiting in `flush` share one fsync. Stopped by `stop_group_commit`.
    pub fn start_group_commit(self: &Arc<Self>) -> std::io::Result<std::thread::JoinHandle<()>> {
        let (tx, rx) = std::sync::mpsc::channel();
        let storage = Arc::downgrade(self);
        let handle = std::thread::Builder::new()
            .name("group-commit".into())
            .spawn(move || group_commit(storage, rx))?;
        if let Ok(mut slot) = self.group_commit.lock() {
            *slot = Some(tx);
        }
        Ok(handle)
    }

    /// Stops the group-commit thread once the waiters queued so far are answered.
    pub fn stop_group_commit(&self) {
        if let Ok(mut slot) = self.group_commit.lock() {
            slot.take();
        }
    }

    /// Makes every write so far durable. Requests waiting here share one fsync (group
    /// commit): a single flusher takes everyone who is waiting, flushes once, and answers
    /// them all, so durability costs one disk sync per batch rather than per request.
    pub async fn flush(&self) -> Result<()> {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let queued = match self.group_commit.lock() {
            Ok(slot) => slot.as_ref().is_some_and(|q| q.send(done_tx).is_ok()),
            Err(_) => false,
        };
        if !queued {
            return Ok(self.engine()?.db.flush_async().await.map(|_| ())?);
        }
        match done_rx.await {
            Ok(result) => result,
            Err(_) => Ok(self.engine()?.db.flush_async().await.map(|_| ())?),
        }
    }

    /// Blocking flush, for boot before the runtime serves requests.
    pub fn flush_blocking(&self) -> Result<()> {
        self.engine()?.db.flush()?;
        Ok(())
    }
}

/// A change to one registry record, made atomically with changes to the garbage list.
pub enum RegistryChange<'a> {
    Put(&'a str, &'a [u8]),
    Remove(&'a str),
}

impl Storage {
    /// Changes a registry record and, in the same atomic write, takes `adopt` off the garbage
    /// list and puts `discard` on it: the one step that makes a lifecycle change happen.
    pub fn commit_registry(&self, change: Option<RegistryChange<'_>>, adopt: &[&str], discard: &[&str]) -> Result<()> {
        use sled::Transactional;
        let result = (&self.engine()?.sandboxes, &self.engine()?.garbage).transaction(|(registry, garbage)| {
            match &change {
                Some(RegistryChange::Put(id, bytes)) => {
                    registry.insert(id.as_bytes(), *bytes)?;
                }
                Some(RegistryChange::Remove(id)) => {
                    registry.remove(id.as_bytes())?;
                }
                None => {}
            }
            for space in adopt {
                garbage.remove(space.as_bytes())?;
            }
            for space in discard {
                garbage.insert(space.as_bytes(), &[][..])?;
            }
            Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
        });
        match result {
            Ok(()) => Ok(()),
            Err(sled::transaction::TransactionError::Storage(e)) => Err(e.into()),
            Err(sled::transaction::TransactionError::Abort(())) => {
                Err(StorageError::Unavailable("registry write aborted".into()))
            }
        }
    }

    /// Key spaces on the garbage list, with when each was first cleared (None: not yet).
    pub fn garbage(&self) -> Result<Vec<(String, Option<i64>)>> {
        let mut out = Vec::new();
        for kv in self.engine()?.garbage.iter() {
            let (k, v) = kv?;
            let cleared = <[u8; 8]>::try_from(&v[..]).ok().map(i64::from_be_bytes);
            out.push((String::from_utf8_lossy(&k).into_owned(), cleared));
        }
        Ok(out)
    }

    /// Whether a key space is on the garbage list now.
    pub fn is_garbage(&self, space: &str) -> Result<bool> {
        Ok(self.engine()?.garbage.contains_key(space.as_bytes())?)
    }

    /// Deletes every record of a key space on the garbage list. The first time it stays on
    /// the list (a worker still holding the old handle may write a last record into it); the
    /// next time, once `settled` says long enough has passed, it comes off.
    pub fn clear_garbage(self: &Arc<Self>, space: &str, now: i64, settled: bool) -> Result<()> {
        self.space(space, space).clear()?;
        if settled {
            self.engine()?.garbage.remove(space.as_bytes())?;
        } else {
            self.engine()?.garbage.insert(space.as_bytes(), &now.to_be_bytes())?;
        }
        Ok(())
    }

    /// Every record of the sandbox registry, as stored (see `services::lifecycle`).
    pub fn registry(&self) -> Result<Vec<Vec<u8>>> {
        self.engine()?
            .sandboxes
            .iter()
            .values()
            .map(|v| Ok(v?.to_vec()))
            .collect()
    }

    pub fn registry_put(&self, id: &str, record: &[u8]) -> Result<()> {
        self.engine()?.sandboxes.insert(id.as_bytes(), record)?;
        Ok(())
    }

    pub fn registry_remove(&self, id: &str) -> Result<()> {
        self.engine()?.sandboxes.remove(id.as_bytes())?;
        Ok(())
    }

    /// A process-wide setting kept in the data dir.
    pub fn setting(&self, name: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.engine()?.server.get(name.as_bytes())?.map(|v| v.to_vec()))
    }

    pub fn put_setting(&self, name: &str, value: &[u8]) -> Result<()> {
        self.engine()?.server.insert(name.as_bytes(), value)?;
        Ok(())
    }

    /// Bytes the data dir takes on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.engine().ok().and_then(|e| e.db.size_on_disk().ok()).unwrap_or(0)
    }
}

/// Typed access to one sandbox's records.
#[derive(Clone)]
pub struct SandboxStore {
    storage: Arc<Storage>,
    /// The sandbox it belongs to.
    id: Arc<str>,
    /// Its key space's prefix: the space's name and a zero byte.
    prefix: Arc<[u8]>,
    log_buffer: Arc<access_log::AccessLogBuffer>,
    signals: Arc<StoreSignals>,
}

/// What a sandbox's store tells its readers without them polling: the webhook dispatcher
/// waits on `outbox` and rebuilds its view of grants when `grants` moves.
#[derive(Default)]
pub struct StoreSignals {
    /// Notified after every committed atomic write (they carry the outbox's events).
    pub outbox: tokio::sync::Notify,
    /// Bumped whenever a grant is written.
    pub grants: std::sync::atomic::AtomicU64,
}

impl SandboxStore {
    fn key(&self, parts: &[&[u8]]) -> Vec<u8> {
        keys::join(&self.prefix, parts)
    }

    fn get<T: serde::de::DeserializeOwned>(&self, tree: &sled::Tree, key: &[u8]) -> Result<Option<T>> {
        tree.get(key)?.map(|v| decode(&v)).transpose()
    }

    fn put<T: serde::Serialize>(&self, tree: &sled::Tree, key: &[u8], value: &T) -> Result<()> {
        tree.insert(key, encode(value)?)?;
        Ok(())
    }

    /// Makes every write so far durable (see `Storage::flush`).
    pub async fn flush(&self) -> Result<()> {
        self.storage.flush().await
    }

    /// Makes every write so far durable, on the calling thread (for writer threads).
    pub fn flush_blocking(&self) -> Result<()> {
        self.storage.flush_blocking()
    }

    /// The signals of this store (see `StoreSignals`).
    pub fn signals(&self) -> &StoreSignals {
        &self.signals
    }

    fn grant_written(&self) {
        self.signals.grants.fetch_add(1, std::sync::atomic::Ordering::Release);
    }

    /// This sandbox's id.
    pub fn sandbox_id(&self) -> &str {
        &self.id
    }

    /// Whether two stores address the same key space.
    pub fn same_sandbox(&self, other: &SandboxStore) -> bool {
        self.prefix == other.prefix
    }

    /// Copies every record of this sandbox into `target` (which should be empty): snapshots
    /// and their restore.
    pub fn copy_into(&self, target: &SandboxStore) -> Result<()> {
        for tree in self.storage.engine()?.all_trees() {
            let mut batch = sled::Batch::default();
            let mut pending = 0;
            for kv in tree.scan_prefix(&*self.prefix) {
                let (k, v) = kv?;
                let mut key = target.prefix.to_vec();
                key.extend_from_slice(&k[self.prefix.len()..]);
                batch.insert(key, v);
                pending += 1;
                if pending == 10_000 {
                    tree.apply_batch(std::mem::take(&mut batch))?;
                    pending = 0;
                }
            }
            tree.apply_batch(batch)?;
        }
        target.forget_cached();
        Ok(())
    }

    /// Bytes of keys and values this sandbox holds (before the engine's own overhead).
    pub fn stored_bytes(&self) -> Result<u64> {
        let mut total = 0u64;
        for tree in self.storage.engine()?.all_trees() {
            for kv in tree.scan_prefix(&*self.prefix) {
                let (k, v) = kv?;
                total += (k.len() + v.len()) as u64;
            }
        }
        Ok(total)
    }

    /// Deletes every record of this sandbox (rebuilds, resets, restores and deletion).
    pub fn clear(&self) -> Result<()> {
        for tree in self.storage.engine()?.all_trees() {
            let mut batch = sled::Batch::default();
            for kv in tree.scan_prefix(&*self.prefix) {
                let (k, _) = kv?;
                batch.remove(k);
            }
            tree.apply_batch(batch)?;
        }
        self.forget_cached();
        Ok(())
    }

    // --- meta ---

    pub fn meta_get(&self, name: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .storage
            .engine()?
            .meta
            .get(self.key(&[name.as_bytes()]))?
            .map(|v| v.to_vec()))
    }

    pub fn meta_put(&self, name: &str, value: &[u8]) -> Result<()> {
        self.storage
            .engine()?
            .meta
            .insert(self.key(&[name.as_bytes()]), value)?;
        Ok(())
    }

    /// Makes what `written` wrote durable before answering it (a change of sandbox state that
    /// a 2xx must leave on disk); an error is answered as it is.
    pub async fn durable<T, E: From<StorageError>>(
        &self,
        written: std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let value = written?;
        self.flush().await?;
        Ok(value)
    }

    /// Stores a piece of sandbox state that requests move (fault counters, quota counts) when
    /// `dirty` says they moved since the last time: under `writing`, so stores happen in the
    /// order their states were taken; `encoded` answers nothing once the owner is retired.
    pub fn meta_put_if_moved(
        &self,
        name: &str,
        dirty: &std::sync::atomic::AtomicBool,
        writing: &std::sync::Mutex<()>,
        encoded: impl FnOnce() -> Option<Vec<u8>>,
    ) -> Result<()> {
        if !dirty.load(std::sync::atomic::Ordering::Acquire) {
            return Ok(());
        }
        let _writing = writing.lock().unwrap_or_else(|e| e.into_inner());
        match encoded() {
            Some(bytes) => self.meta_put(name, &bytes),
            None => Ok(()),
        }
    }

    // --- customers, users, accounts ---

    pub fn customer(&self, id: &str) -> Result<Option<crate::domain::customer::Customer>> {
        self.get(&self.storage.engine()?.customers, &self.key(&[id.as_bytes()]))
    }

    pub fn user(&self, id: &str) -> Result<Option<crate::domain::customer::User>> {
        self.get(&self.storage.engine()?.users, &self.key(&[id.as_bytes()]))
    }

    /// An account, from memory when it was read or written before (see `record_cache`).
    pub fn account(&self, id: &str) -> Result<Option<crate::domain::account::Account>> {
        Ok(self.account_shared(id)?.map(|a| (*a).clone()))
    }

    /// `account` without a copy: the cached record itself.
    pub fn account_shared(&self, id: &str) -> Result<Option<Arc<crate::domain::account::Account>>> {
        self.account_by_key(self.key(&[id.as_bytes()]))
    }

    fn account_by_key(&self, key: Vec<u8>) -> Result<Option<Arc<crate::domain::account::Account>>> {
        let cache = &self.storage.account_cache;
        if let Some(a) = cache.get(&key) {
            return Ok(Some(a));
        }
        let generation = cache.generation();
        let found: Option<crate::domain::account::Account> = self.get(&self.storage.engine()?.accounts, &key)?;
        Ok(found.map(|a| {
            let a = Arc::new(a);
            cache.fill(key, a.clone(), generation);
            a
        }))
    }

    /// Forgets this sandbox's cached accounts and history and its known keys (after writes
    /// that bypass atomic writes).
    fn forget_cached(&self) {
        self.storage.account_cache.forget(&self.prefix);
        self.storage.history_cache.forget(&self.prefix);
        self.storage.known_keys.reload(&self.prefix);
    }

    /// Whether an idempotency key (client, user, key) may be stored; `false` is certain.
    /// Loads the sandbox's keys on first use, so never call it inside an atomic write (a
    /// plain read there would wait for the write's own lock); see `key_may_exist_loaded`.
    fn key_may_exist(&self, client_id: &str, user_id: &str, key: &str) -> bool {
        let known = &self.storage.known_keys;
        if known.loaded(&self.prefix).is_none() {
            let generation = known.generation();
            known.load(&self.prefix, self.stored_key_hashes().ok(), generation);
        }
        self.key_may_exist_loaded(client_id, user_id, key)
    }

    /// `key_may_exist` without loading: keys not loaded yet may exist.
    fn key_may_exist_loaded(&self, client_id: &str, user_id: &str, key: &str) -> bool {
        let known = &self.storage.known_keys;
        known.loaded(&self.prefix) != Some(true) || known.contains(self.idempotency_key_hash(client_id, user_id, key))
    }

    fn idempotency_key_hash(&self, client_id: &str, user_id: &str, key: &str) -> u64 {
        known_keys::hash(&self.key(&[client_id.as_bytes(), user_id.as_bytes(), key.as_bytes()]))
    }

    /// Hashes of every idempotency key stored for this sandbox: answers and transfers' keys.
    fn stored_key_hashes(&self) -> Result<Vec<u64>> {
        let mut out = Vec::new();
        for kv in self.storage.engine()?.idempotency.scan_prefix(&*self.prefix) {
            out.push(known_keys::hash(&kv?.0));
        }
        let transfer_keys = self.key(&[b"~idem", b""]);
        for kv in self.storage.engine()?.transfer_index.scan_prefix(&transfer_keys) {
            let (k, _) = kv?;
            let mut key = self.prefix.to_vec();
            key.extend_from_slice(&k[transfer_keys.len()..]);
            out.push(known_keys::hash(&key));
        }
        Ok(out)
    }

    /// The customer's accounts in account-id order.
    pub fn accounts_of(&self, customer_id: &str) -> Result<Vec<crate::domain::account::Account>> {
        Ok(self
            .accounts_of_shared(customer_id)?
            .into_iter()
            .map(|a| (*a).clone())
            .collect())
    }

    /// `accounts_of` without copies: the cached records themselves.
    pub fn accounts_of_shared(&self, customer_id: &str) -> Result<Vec<Arc<crate::domain::account::Account>>> {
        let prefix = self.key(&[customer_id.as_bytes(), b""]);
        let mut out = Vec::new();
        for kv in self.storage.engine()?.customer_accounts.scan_prefix(&prefix) {
            let (k, _) = kv?;
            let account_id = &k[prefix.len()..];
            if let Some(a) = self.account_by_key(self.key(&[account_id]))? {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// Number of accounts in this sandbox.
    pub fn account_count(&self) -> usize {
        self.storage
            .engine()
            .map_or(0, |e| e.accounts.scan_prefix(&*self.prefix).count())
    }

    /// Number of customers in this sandbox.
    pub fn customer_count(&self) -> usize {
        self.storage
            .engine()
            .map_or(0, |e| e.customers.scan_prefix(&*self.prefix).count())
    }

    // --- clients ---

    pub fn put_client(&self, client: &crate::domain::consent::Client) -> Result<()> {
        self.put(
            &self.storage.engine()?.clients,
            &self.key(&[client.client_id.as_bytes()]),
            client,
        )
    }

    pub fn client(&self, id: &str) -> Result<Option<crate::domain::consent::Client>> {
        self.get(&self.storage.engine()?.clients, &self.key(&[id.as_bytes()]))
    }

    /// Every client of the sandbox, in id order.
    pub fn clients(&self) -> Result<Vec<crate::domain::consent::Client>> {
        self.storage
            .engine()?
            .clients
            .scan_prefix(&*self.prefix)
            .map(|kv| decode(&kv?.1))
            .collect()
    }

    pub fn remove_client(&self, id: &str) -> Result<()> {
        self.storage.engine()?.clients.remove(self.key(&[id.as_bytes()]))?;
        Ok(())
    }

    // --- grants, tokens, codes, pending authorizations ---

    pub fn put_grant(&self, grant: &crate::domain::consent::Grant) -> Result<()> {
        self.put(&self.storage.engine()?.grants, &self.key(&[grant.id.as_bytes()]), grant)?;
        self.grant_written();
        Ok(())
    }

    pub fn grant(&self, id: &str) -> Result<Option<crate::domain::consent::Grant>> {
        self.get(&self.storage.engine()?.grants, &self.key(&[id.as_bytes()]))
    }

    /// Grants matching `keep`, in id order.
    pub fn grants(
        &self,
        keep: impl Fn(&crate::domain::consent::Grant) -> bool,
    ) -> Result<Vec<crate::domain::consent::Grant>> {
        let mut out = Vec::new();
        for kv in self.storage.engine()?.grants.scan_prefix(&*self.prefix) {
            let g: crate::domain::consent::Grant = decode(&kv?.1)?;
            if keep(&g) {
                out.push(g);
            }
        }
        Ok(out)
    }

    pub fn put_token(&self, hash: &str, token: &crate::domain::consent::TokenRecord) -> Result<()> {
        self.put(&self.storage.engine()?.tokens, &self.key(&[hash.as_bytes()]), token)
    }

    pub fn token(&self, hash: &str) -> Result<Option<crate::domain::consent::TokenRecord>> {
        self.get(&self.storage.engine()?.tokens, &self.key(&[hash.as_bytes()]))
    }

    /// Replaces a token record only if it still equals `expected`: two concurrent refreshes
    /// of the same refresh token cannot both win.
    pub fn swap_token(
        &self,
        hash: &str,
        expected: &crate::domain::consent::TokenRecord,
        new: &crate::domain::consent::TokenRecord,
    ) -> Result<bool> {
        let key = self.key(&[hash.as_bytes()]);
        let swapped =
            self.storage
                .engine()?
                .tokens
                .compare_and_swap(key, Some(encode(expected)?), Some(encode(new)?))?;
        Ok(swapped.is_ok())
    }

    pub fn put_code(&self, hash: &str, code: &crate::domain::consent::AuthorizationCode) -> Result<()> {
        self.put(&self.storage.engine()?.codes, &self.key(&[hash.as_bytes()]), code)
    }

    pub fn code(&self, hash: &str) -> Result<Option<crate::domain::consent::AuthorizationCode>> {
        self.get(&self.storage.engine()?.codes, &self.key(&[hash.as_bytes()]))
    }

    /// Compare-and-swap for codes, so a code is redeemed exactly once.
    pub fn swap_code(
        &self,
        hash: &str,
        expected: &crate::domain::consent::AuthorizationCode,
        new: &crate::domain::consent::AuthorizationCode,
    ) -> Result<bool> {
        let key = self.key(&[hash.as_bytes()]);
        let swapped =
            self.storage
                .engine()?
                .codes
                .compare_and_swap(key, Some(encode(expected)?), Some(encode(new)?))?;
        Ok(swapped.is_ok())
    }
}
