//! Storage: the only code that knows sled. One sled tree per kind of record, every key
//! prefixed with the sandbox id, values encoded with postcard. `SandboxStore` is the typed
//! repository the services use; it is cheap to clone.

mod access_log;
mod codec;
mod idempotency;
mod keys;
mod known_keys;
mod ledger;
mod record_cache;
mod webhooks;
mod world;

pub use access_log::{AccessLogEntry, AccessLogFilter, PendingAccess};
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

/// The open database and its trees.
pub struct Storage {
    db: sled::Db,
    meta: sled::Tree,
    customers: sled::Tree,
    users: sled::Tree,
    accounts: sled::Tree,
    customer_accounts: sled::Tree,
    transactions: sled::Tree,
    /// History entries posted after the world was built (one small value each).
    postings: sled::Tree,
    clients: sled::Tree,
    grants: sled::Tree,
    tokens: sled::Tree,
    codes: sled::Tree,
    pending: sled::Tree,
    access_log: sled::Tree,
    ledger: sled::Tree,
    transfers: sled::Tree,
    transfer_index: sled::Tree,
    schedule: sled::Tree,
    /// The event outbox: the events of one atomic write in chunks of up to
    /// `ledger::OUTBOX_CHUNK`, each under the sequence number of its first event.
    outbox: sled::Tree,
    notifications: sled::Tree,
    idempotency: sled::Tree,
    mandates: sled::Tree,
    /// Webhook endpoints, deliveries, attempts and the fan-out cursor.
    webhooks: sled::Tree,
    /// The server's sandbox registry: one record per sandbox (not scoped by sandbox).
    sandboxes: sled::Tree,
    /// Process-wide settings kept in the data dir (the operator key).
    server: sled::Tree,
    /// Key spaces to be deleted: ones being built (a crash leaves them unadopted) and ones a
    /// lifecycle change left behind (see `services::sandboxes`). Value: when they were first
    /// cleared (Unix seconds, big-endian), or empty when not yet.
    garbage: sled::Tree,
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
fn group_commit(db: sled::Db, rx: std::sync::mpsc::Receiver<FlushWaiter>) {
    while let Ok(first) = rx.recv() {
        let mut waiters = vec![first];
        while let Ok(w) = rx.try_recv() {
            waiters.push(w);
        }
        let started = std::time::Instant::now();
        let result = db.flush().map(|_| ()).map_err(StorageError::from);
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

impl Storage {
    /// Opens (or creates) the database in `dir` with a page cache of `cache_bytes`.
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<Arc<Storage>> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .mode(sled::Mode::HighThroughput)
            .open()?;
        let tree = |name: &str| db.open_tree(name);
        let storage = Arc::new(Storage {
            meta: tree("meta")?,
            customers: tree("customers")?,
            users: tree("users")?,
            accounts: tree("accounts")?,
            customer_accounts: tree("customer_accounts")?,
            transactions: tree("transactions")?,
            postings: tree("posted_transactions")?,
            clients: tree("clients")?,
            grants: tree("grants")?,
            tokens: tree("tokens")?,
            codes: tree("codes")?,
            pending: tree("pending_authorizations")?,
            access_log: tree("access_log")?,
            ledger: tree("ledger_postings")?,
            transfers: tree("transfers")?,
            transfer_index: tree("transfer_index")?,
            schedule: tree("schedule")?,
            outbox: tree("outbox")?,
            notifications: tree("notifications")?,
            idempotency: tree("idempotency")?,
            mandates: tree("debit_mandates")?,
            webhooks: tree("webhooks")?,
            sandboxes: tree("sandboxes")?,
            server: tree("server")?,
            garbage: tree("garbage_spaces")?,
            group_commit: std::sync::Mutex::new(None),
            account_cache: record_cache::RecordCache::new(500_000),
            history_cache: record_cache::RecordCache::new(50_000),
            known_keys: Default::default(),
            commit_order: std::sync::Mutex::new(()),
            db,
        });
        storage.migrate_events()?;
        Ok(storage)
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

    /// Starts the group-commit thread (the server does, in `run`): from then on requests
    /// waiting in `flush` share one fsync. Stopped by `stop_group_commit`.
    pub fn start_group_commit(&self) -> std::io::Result<std::thread::JoinHandle<()>> {
        let (tx, rx) = std::sync::mpsc::channel();
        let db = self.db.clone();
        let handle = std::thread::Builder::new()
            .name("group-commit".into())
            .spawn(move || group_commit(db, rx))?;
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
            return Ok(self.db.flush_async().await.map(|_| ())?);
        }
        match done_rx.await {
            Ok(result) => result,
            Err(_) => Ok(self.db.flush_async().await.map(|_| ())?),
        }
    }

    /// Blocking flush, for boot before the runtime serves requests.
    pub fn flush_blocking(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }

    /// The trees that hold sandbox-scoped records.
    fn all_trees(&self) -> [&sled::Tree; 22] {
        [
            &self.meta,
            &self.customers,
            &self.users,
            &self.accounts,
            &self.customer_accounts,
            &self.transactions,
            &self.postings,
            &self.clients,
            &self.grants,
            &self.tokens,
            &self.codes,
            &self.pending,
            &self.access_log,
            &self.ledger,
            &self.transfers,
            &self.transfer_index,
            &self.schedule,
            &self.outbox,
            &self.notifications,
            &self.idempotency,
            &self.mandates,
            &self.webhooks,
        ]
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
        let result = (&self.sandboxes, &self.garbage).transaction(|(registry, garbage)| {
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
        for kv in self.garbage.iter() {
            let (k, v) = kv?;
            let cleared = <[u8; 8]>::try_from(&v[..]).ok().map(i64::from_be_bytes);
            out.push((String::from_utf8_lossy(&k).into_owned(), cleared));
        }
        Ok(out)
    }

    /// Deletes every record of a key space on the garbage list. The first time it stays on
    /// the list (a worker still holding the old handle may write a last record into it); the
    /// next time, once `settled` says long enough has passed, it comes off.
    pub fn clear_garbage(self: &Arc<Self>, space: &str, now: i64, settled: bool) -> Result<()> {
        self.space(space, space).clear()?;
        if settled {
            self.garbage.remove(space.as_bytes())?;
        } else {
            self.garbage.insert(space.as_bytes(), &now.to_be_bytes())?;
        }
        Ok(())
    }

    /// Every record of the sandbox registry, as stored (see `services::sandboxes`).
    pub fn registry(&self) -> Result<Vec<Vec<u8>>> {
        self.sandboxes.iter().values().map(|v| Ok(v?.to_vec())).collect()
    }

    pub fn registry_put(&self, id: &str, record: &[u8]) -> Result<()> {
        self.sandboxes.insert(id.as_bytes(), record)?;
        Ok(())
    }

    pub fn registry_remove(&self, id: &str) -> Result<()> {
        self.sandboxes.remove(id.as_bytes())?;
        Ok(())
    }

    /// A process-wide setting kept in the data dir.
    pub fn setting(&self, name: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.server.get(name.as_bytes())?.map(|v| v.to_vec()))
    }

    pub fn put_setting(&self, name: &str, value: &[u8]) -> Result<()> {
        self.server.insert(name.as_bytes(), value)?;
        Ok(())
    }

    /// Bytes the data dir takes on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
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
        for tree in self.storage.all_trees() {
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
        for tree in self.storage.all_trees() {
            for kv in tree.scan_prefix(&*self.prefix) {
                let (k, v) = kv?;
                total += (k.len() + v.len()) as u64;
            }
        }
        Ok(total)
    }

    /// Deletes every record of this sandbox (rebuilds, resets, restores and deletion).
    pub fn clear(&self) -> Result<()> {
        for tree in self.storage.all_trees() {
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
        Ok(self.storage.meta.get(self.key(&[name.as_bytes()]))?.map(|v| v.to_vec()))
    }

    pub fn meta_put(&self, name: &str, value: &[u8]) -> Result<()> {
        self.storage.meta.insert(self.key(&[name.as_bytes()]), value)?;
        Ok(())
    }

    // --- customers, users, accounts ---

    pub fn customer(&self, id: &str) -> Result<Option<crate::domain::customer::Customer>> {
        self.get(&self.storage.customers, &self.key(&[id.as_bytes()]))
    }

    pub fn user(&self, id: &str) -> Result<Option<crate::domain::customer::User>> {
        self.get(&self.storage.users, &self.key(&[id.as_bytes()]))
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
        let found: Option<crate::domain::account::Account> = self.get(&self.storage.accounts, &key)?;
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
        for kv in self.storage.idempotency.scan_prefix(&*self.prefix) {
            out.push(known_keys::hash(&kv?.0));
        }
        let transfer_keys = self.key(&[b"~idem", b""]);
        for kv in self.storage.transfer_index.scan_prefix(&transfer_keys) {
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
        for kv in self.storage.customer_accounts.scan_prefix(&prefix) {
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
        self.storage.accounts.scan_prefix(&*self.prefix).count()
    }

    /// Number of customers in this sandbox.
    pub fn customer_count(&self) -> usize {
        self.storage.customers.scan_prefix(&*self.prefix).count()
    }

    // --- clients ---

    pub fn put_client(&self, client: &crate::domain::consent::Client) -> Result<()> {
        self.put(&self.storage.clients, &self.key(&[client.client_id.as_bytes()]), client)
    }

    pub fn client(&self, id: &str) -> Result<Option<crate::domain::consent::Client>> {
        self.get(&self.storage.clients, &self.key(&[id.as_bytes()]))
    }

    /// Every client of the sandbox, in id order.
    pub fn clients(&self) -> Result<Vec<crate::domain::consent::Client>> {
        self.storage
            .clients
            .scan_prefix(&*self.prefix)
            .map(|kv| decode(&kv?.1))
            .collect()
    }

    pub fn remove_client(&self, id: &str) -> Result<()> {
        self.storage.clients.remove(self.key(&[id.as_bytes()]))?;
        Ok(())
    }

    // --- grants, tokens, codes, pending authorizations ---

    pub fn put_grant(&self, grant: &crate::domain::consent::Grant) -> Result<()> {
        self.put(&self.storage.grants, &self.key(&[grant.id.as_bytes()]), grant)?;
        self.grant_written();
        Ok(())
    }

    pub fn grant(&self, id: &str) -> Result<Option<crate::domain::consent::Grant>> {
        self.get(&self.storage.grants, &self.key(&[id.as_bytes()]))
    }

    /// Grants matching `keep`, in id order.
    pub fn grants(
        &self,
        keep: impl Fn(&crate::domain::consent::Grant) -> bool,
    ) -> Result<Vec<crate::domain::consent::Grant>> {
        let mut out = Vec::new();
        for kv in self.storage.grants.scan_prefix(&*self.prefix) {
            let g: crate::domain::consent::Grant = decode(&kv?.1)?;
            if keep(&g) {
                out.push(g);
            }
        }
        Ok(out)
    }

    pub fn put_token(&self, hash: &str, token: &crate::domain::consent::TokenRecord) -> Result<()> {
        self.put(&self.storage.tokens, &self.key(&[hash.as_bytes()]), token)
    }

    pub fn token(&self, hash: &str) -> Result<Option<crate::domain::consent::TokenRecord>> {
        self.get(&self.storage.tokens, &self.key(&[hash.as_bytes()]))
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
        let swapped = self
            .storage
            .tokens
            .compare_and_swap(key, Some(encode(expected)?), Some(encode(new)?))?;
        Ok(swapped.is_ok())
    }

    pub fn put_code(&self, hash: &str, code: &crate::domain::consent::AuthorizationCode) -> Result<()> {
        self.put(&self.storage.codes, &self.key(&[hash.as_bytes()]), code)
    }

    pub fn code(&self, hash: &str) -> Result<Option<crate::domain::consent::AuthorizationCode>> {
        self.get(&self.storage.codes, &self.key(&[hash.as_bytes()]))
    }

    /// Compare-and-swap for codes, so a code is redeemed exactly once.
    pub fn swap_code(
        &self,
        hash: &str,
        expected: &crate::domain::consent::AuthorizationCode,
        new: &crate::domain::consent::AuthorizationCode,
    ) -> Result<bool> {
        let key = self.key(&[hash.as_bytes()]);
        let swapped = self
            .storage
            .codes
            .compare_and_swap(key, Some(encode(expected)?), Some(encode(new)?))?;
        Ok(swapped.is_ok())
    }

    pub fn put_pending(&self, p: &crate::domain::consent::PendingAuthorization) -> Result<()> {
        self.put(&self.storage.pending, &self.key(&[p.id.as_bytes()]), p)
    }

    pub fn pending(&self, id: &str) -> Result<Option<crate::domain::consent::PendingAuthorization>> {
        self.get(&self.storage.pending, &self.key(&[id.as_bytes()]))
    }

    pub fn remove_pending(&self, id: &str) -> Result<()> {
        self.storage.pending.remove(self.key(&[id.as_bytes()]))?;
        Ok(())
    }
}
