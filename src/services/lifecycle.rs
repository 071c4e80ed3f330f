//! The life of sandboxes: building one from a scenario (at boot for the default sandbox, or on
//! an operator's request), reopening every sandbox at start, listing, deleting, resetting to
//! the scenario, snapshots and their restore, and idle expiry.
//!
//! A sandbox's world lives in a key space of its own (`{id}`, then `{id}~{n}` after each reset
//! or restore); each snapshot in another (`{id}@{name}~{n}`). A change never writes into the
//! space being served: it builds a fresh space (listed as garbage while it is built), then
//! one atomic registry write adopts it and lists the replaced one as garbage, and only then is
//! the change answered. A server killed at any moment comes back with the change wholly done
//! or not done at all; housekeeping deletes the garbage. Changes to one sandbox run one at a
//! time (`turn`); the ones that need the world still (snapshot, and the switch of a reset or
//! restore) close its gate (`Gate`) until the requests in flight are done.

use crate::clock::format_jst;
use crate::config::Config;
use crate::sandbox::signing_key::SigningKey;
use crate::sandbox::{DEFAULT_SANDBOX, Sandbox, SandboxParts, Usage};
use crate::scenario::{self, LoadedScenario, generate};
use crate::server::Server;
use crate::storage::{RegistryChange, SandboxStore, Storage, StorageError};
use jiff::Timestamp;

use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a lifecycle change waits for another one on the same sandbox before answering
/// 409 `lifecycle_in_progress`.
const TURN_PATIENCE: Duration = Duration::from_secs(30);
/// How long a lifecycle change waits for the sandbox's requests in flight before answering
/// 503 `sandbox_busy`.
const DRAIN_PATIENCE: Duration = Duration::from_secs(10);
/// How long a cleared garbage space stays listed (and is cleared once more) before it is
/// forgotten: a worker that held the old handle may write one last record into it.
const GARBAGE_SETTLE_SECS: i64 = 30;

use crate::storage::registry::meta::{
    ADMIN_KEY as META_ADMIN_KEY, CLOCK_OFFSET as META_CLOCK_OFFSET, COMPLETE as META_COMPLETE,
    FINGERPRINT as META_FINGERPRINT, OPENING_TOTAL as META_OPENING_TOTAL, SCHEMA as META_SCHEMA,
    SIGNING_KEY as META_SIGNING_KEY,
};
pub use crate::storage::registry::{PendingChange, SandboxRecord, ScenarioSource, SnapshotInfo};
use crate::storage::registry::{SCHEMA_VERSION, SETTING_OPERATOR_KEY};

/// What `boot` needs.
pub struct BootConfig {
    pub config: Config,
    /// The default sandbox's scenario.
    pub scenario: LoadedScenario,
    /// Public base URL (the default sandbox's OAuth issuer).
    pub public_url: String,
}

/// What happened at boot, for the startup banner.
#[derive(Debug, Clone)]
pub struct BootReport {
    /// True when the default sandbox was generated now (empty data dir); false when reopened.
    pub generated: bool,
    pub customers: u64,
    pub accounts: u64,
    pub transactions: u64,
    /// Sandboxes reopened besides the default one.
    pub other_sandboxes: usize,
    pub elapsed: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("{0}")]
    Storage(#[from] StorageError),
    #[error("cannot use data dir {dir}: {why}")]
    DataDir { dir: String, why: String },
    #[error("{0}")]
    Key(String),
}

/// Why a lifecycle operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error("no sandbox with id {0:?}")]
    NotFound(String),
    #[error("no snapshot named {0:?}")]
    SnapshotNotFound(String),
    #[error("{0}")]
    LimitReached(String),
    /// The sandbox's storage quota has no room for it.
    #[error("{0}")]
    QuotaExceeded(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    InvalidScenario(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    /// Another lifecycle change of the same sandbox ran for longer than `TURN_PATIENCE`.
    #[error("{0}")]
    InProgress(String),
    /// Requests in flight did not finish within `DRAIN_PATIENCE`.
    #[error("{0}")]
    Busy(String),
    /// The sandbox could not be loaded at start; only restore and delete work on it.
    #[error("{0}")]
    Quarantined(String),
    /// The snapshot's records are not whole.
    #[error("{0}")]
    SnapshotUnusable(String),
    #[error("{0}")]
    Storage(#[from] StorageError),
    #[error("{0}")]
    Internal(String),
}

fn meta_i64(store: &SandboxStore, name: &str) -> Result<Option<i64>, StorageError> {
    Ok(store
        .meta_get(name)?
        .and_then(|b| b.try_into().ok().map(i64::from_be_bytes)))
}

/// Client secrets that replace the scenario's, by client id.
pub type ClientSecrets = std::collections::BTreeMap<String, String>;

/// Counts of a built world.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorldSize {
    pub customers: u64,
    pub accounts: u64,
    pub transactions: u64,
}

/// Builds a sandbox's world from its scenario into an empty (or cleared) store: clients,
/// customers, accounts, history, the clock at the scenario's start. `keys` keeps an existing
/// admin key and signing key (a reset keeps the sandbox's credentials).
pub fn build_world(
    store: &SandboxStore,
    scenario: &LoadedScenario,
    keys: Option<(&str, &[u8])>,
    client_secrets: &ClientSecrets,
    now: Timestamp,
) -> Result<WorldSize, BootError> {
    store.clear()?;
    let start = scenario.clock_start(now);
    let offset = start.duration_since(now).as_nanos() as i64;
    store.meta_put(META_FINGERPRINT, scenario.fingerprint.as_bytes())?;
    store.meta_put(META_SCHEMA, SCHEMA_VERSION)?;
    store.meta_put(META_CLOCK_OFFSET, &offset.to_be_bytes())?;
    for mut client in generate::clients(&scenario.scenario) {
        if let Some(secret) = client_secrets.get(&client.client_id) {
            client.secret_hash = crate::ids::hash_secret(&client.secret_salt, secret);
        }
        store.put_client(&client)?;
    }
    match keys {
        Some((admin, pkcs8)) => {
            store.meta_put(META_ADMIN_KEY, admin.as_bytes())?;
            store.meta_put(META_SIGNING_KEY, pkcs8)?;
        }
        None => {
            let pkcs8 = SigningKey::generate_pkcs8().map_err(BootError::Key)?;
            store.meta_put(META_SIGNING_KEY, &pkcs8)?;
        }
    }
    let mut writer = crate::storage::WorldWriter::new(store);
    generate::customers(&scenario.scenario, start, |c| writer.add(&c))?;
    let ((customers, accounts, transactions), balance_total) = writer.finish()?;
    store.meta_put(META_OPENING_TOTAL, &balance_total.to_be_bytes())?;
    store.meta_put(META_COMPLETE, b"1")?;
    store.flush_blocking()?;
    Ok(WorldSize {
        customers,
        accounts,
        transactions,
    })
}

use crate::storage::registry::{live_space, snapshot_space};

/// Every key space a sandbox's record names: its world and its snapshots.
fn spaces_of(record: &SandboxRecord) -> Vec<String> {
    let mut out = vec![live_space(&record.id, record.space)];
    out.extend(
        record
            .snapshots
            .iter()
            .map(|s| snapshot_space(&record.id, &s.name, s.space)),
    );
    out
}

/// The store of a sandbox's world as its record names it.
fn live_store(storage: &Arc<Storage>, record: &SandboxRecord) -> SandboxStore {
    storage.space(&record.id, &live_space(&record.id, record.space))
}

/// The live handle of a built sandbox: its clock, keys and caches.
fn open_sandbox(
    storage: &Arc<Storage>,
    server: &crate::server::ServerParts,
    record: &SandboxRecord,
    scenario: Arc<LoadedScenario>,
    admin_key: Option<String>,
    usage: Usage,
) -> Result<Sandbox, BootError> {
    let id = record.id.as_str();
    let store = live_store(storage, record);
    if store.meta_get(META_COMPLETE)?.is_none() {
        return Err(BootError::Key(format!(
            "sandbox {id} has no complete world in its key space {}",
            live_space(id, record.space)
        )));
    }
    let offset = meta_i64(&store, META_CLOCK_OFFSET)?.unwrap_or(0);
    let pkcs8 = store
        .meta_get(META_SIGNING_KEY)?
        .ok_or_else(|| BootError::Key(format!("sandbox {id} has no ID-token signing key")))?;
    let signing_key = SigningKey::from_pkcs8(&pkcs8).map_err(BootError::Key)?;
    let admin_key = match admin_key {
        Some(k) => k,
        None => match store.meta_get(META_ADMIN_KEY)? {
            Some(k) => String::from_utf8_lossy(&k).into_owned(),
            None => {
                let k = crate::ids::prefixed_secret("sbadm");
                store.meta_put(META_ADMIN_KEY, k.as_bytes())?;
                store.flush_blocking()?;
                k
            }
        },
    };
    let base_path = server.base_path(id);
    let issuer = server.base_url(id);
    let faults = crate::sandbox::faults::Faults::open(&store, &scenario)?;
    let capacity = crate::sandbox::capacity::Capacity::open(&store, &scenario)?;
    let maintenance = crate::sandbox::maintenance::Maintenance::open(&store, &scenario)?;
    let controls = crate::sandbox::controls::Controls::open(&store)?;
    let webhooks = crate::sandbox::webhooks::Webhooks::open(
        &store,
        server.webhook_settings.clone(),
        server.webhook_http.clone(),
        scenario.scenario.seed,
    )?;
    Ok(Sandbox::new(SandboxParts {
        id: Arc::from(id),
        base_path,
        store,
        clock: crate::clock::Clock::with_offset(offset),
        scenario,
        signing_key,
        issuer,
        admin_key,
        token_cache: Default::default(),
        transfer_writer: server.transfer_writer.clone(),
        attachments: Default::default(),
        pending: Default::default(),
        login_sources: Default::default(),
        client_auth_sources: Default::default(),
        storage_use: Default::default(),
        faults,
        capacity,
        maintenance,
        controls,
        webhooks,
        usage,
        gate: Default::default(),
    }))
}

/// The default sandbox's registry record, if the data dir has one.
fn default_record(storage: &Storage) -> Result<Option<SandboxRecord>, StorageError> {
    for raw in storage.registry()? {
        if let Ok(r) = serde_json::from_slice::<SandboxRecord>(&raw)
            && r.id == DEFAULT_SANDBOX
        {
            return Ok(Some(r));
        }
    }
    Ok(None)
}

/// Builds the default sandbox into the data dir if it is empty (or holds an unfinished
/// build); `sandbank build` runs this in a child process so the server does not keep the
/// generator's memory.
pub fn build_default(cfg: &BootConfig) -> Result<(Arc<Storage>, BootReport), BootError> {
    let started = Instant::now();
    let dir = &cfg.config.data_dir;
    let dir_err = |why: String| BootError::DataDir {
        dir: dir.display().to_string(),
        why,
    };
    if cfg.config.fresh && dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| dir_err(format!("could not delete it for --fresh: {e}")))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| dir_err(e.to_string()))?;
    let storage = Storage::open_with_reserve(dir, cfg.config.cache_mb * 1024 * 1024, cfg.config.reserve_mb << 20)?;
    let space = default_record(&storage)?.map_or(0, |r| r.space);
    let store = storage.space(DEFAULT_SANDBOX, &live_space(DEFAULT_SANDBOX, space));
    let complete = store.meta_get(META_COMPLETE)?.is_some();
    if complete && store.meta_get(META_SCHEMA)?.as_deref() != Some(SCHEMA_VERSION) {
        return Err(dir_err(
            "it was written by an older version of sandbank whose records this one cannot read; start with --fresh to rebuild it (this deletes its data)"
                .into(),
        ));
    }
    if complete && store.meta_get(META_FINGERPRINT)?.as_deref() != Some(cfg.scenario.fingerprint.as_bytes()) {
        return Err(dir_err(format!(
            "it holds a sandbox built from a different scenario than {}; start with --fresh to rebuild it (this deletes its data) or point --data-dir elsewhere",
            cfg.scenario.origin
        )));
    }
    let mut report = BootReport {
        generated: false,
        customers: 0,
        accounts: 0,
        transactions: 0,
        other_sandboxes: 0,
        elapsed: Duration::ZERO,
    };
    if complete {
        report.accounts = store.account_count() as u64;
    } else if space != 0 {
        // Reset and restore only ever adopt complete worlds.
        return Err(dir_err(format!(
            "the default sandbox's world (key space {}) is incomplete; start with --fresh to rebuild it (this deletes its data)",
            live_space(DEFAULT_SANDBOX, space)
        )));
    } else {
        // An unfinished earlier build (killed mid-way) is thrown away and redone.
        let size = build_world(&store, &cfg.scenario, None, &ClientSecrets::new(), Timestamp::now())?;
        report = BootReport {
            generated: true,
            customers: size.customers,
            accounts: size.accounts,
            transactions: size.transactions,
            ..report
        };
    }
    report.elapsed = started.elapsed();
    Ok((storage, report))
}

/// Opens the data dir (building the default sandbox when it is empty) and every sandbox in
/// it; returns the server, ready for `run`. A sandbox that cannot be loaded is quarantined
/// (logged, listed with the reason, deletable, restorable from a snapshot) and the others are
/// served; only the default sandbox failing to load stops the start.
pub fn boot(cfg: BootConfig, webhook_http: reqwest::Client) -> Result<(Server, BootReport), BootError> {
    let started = Instant::now();
    let (mut storage, mut report) = build_default(&cfg)?;
    if report.generated {
        // Reopen: a large build leaves sled holding the pages it wrote; a fresh handle
        // starts with an empty cache, as a restarted server would.
        drop(storage);
        storage = Storage::open_with_reserve(
            &cfg.config.data_dir,
            cfg.config.cache_mb * 1024 * 1024,
            cfg.config.reserve_mb << 20,
        )?;
    }
    let operator_key = match (&cfg.config.operator_key, storage.setting(SETTING_OPERATOR_KEY)?) {
        (Some(k), _) => k.clone(),
        (None, Some(k)) => String::from_utf8_lossy(&k).into_owned(),
        (None, None) => {
            let k = crate::ids::prefixed_secret("sbop");
            storage.put_setting(SETTING_OPERATOR_KEY, k.as_bytes())?;
            storage.flush_blocking()?;
            k
        }
    };
    let parts = Server::parts(
        cfg.config.clone(),
        storage.clone(),
        cfg.public_url.clone(),
        operator_key,
        webhook_http,
    );
    let now = parts.wall.now_secs();

    let mut records: Vec<SandboxRecord> = Vec::new();
    for raw in storage.registry()? {
        match serde_json::from_slice::<SandboxRecord>(&raw) {
            Ok(r) => records.push(r),
            Err(e) => tracing::error!(error = %e, "skipping an unreadable sandbox registry record"),
        }
    }
    let default_scenario = Arc::new(cfg.scenario.clone());
    if !records.iter().any(|r| r.id == DEFAULT_SANDBOX) {
        let store = storage.sandbox(DEFAULT_SANDBOX);
        let record = SandboxRecord {
            id: DEFAULT_SANDBOX.into(),
            scenario_name: cfg.scenario.scenario.name.clone(),
            source: ScenarioSource::Startup,
            created_at: now,
            last_used: now,
            requests: 0,
            customers: store.customer_count() as u64,
            accounts: store.account_count() as u64,
            snapshots: Vec::new(),
            pending: None,
            space: 0,
            next_space: 0,
            client_secrets: ClientSecrets::new(),
            storage_quota_mb: None,
        };
        put_record(&storage, &record)?;
        storage.flush_blocking()?;
        records.push(record);
    }
    let mut sandboxes = Vec::new();
    let mut quarantined = Vec::new();
    for record in records {
        let id = record.id.clone();
        match load_at_boot(&storage, &parts, &cfg, &default_scenario, &record) {
            Ok(Some(sandbox)) => sandboxes.push((sandbox, record)),
            Ok(None) => {}
            Err(why) if id == DEFAULT_SANDBOX => {
                return Err(BootError::DataDir {
                    dir: cfg.config.data_dir.display().to_string(),
                    why: format!(
                        "the default sandbox cannot be loaded ({why}); restore it from a copy of the data dir, or start with --fresh to rebuild it (this deletes every sandbox in it)"
                    ),
                });
            }
            Err(why) => {
                tracing::error!(sandbox = %id, reason = %why, "quarantining a sandbox that cannot be loaded; the others are served (the operator can restore one of its snapshots or delete it)");
                quarantined.push((record, why));
            }
        }
    }
    let server = Server::new(parts);
    if let (Ok(mut recs), Ok(mut q)) = (server.records.lock(), server.quarantined.lock()) {
        for (sandbox, record) in sandboxes {
            recs.insert(record.id.clone(), record);
            server.install(sandbox);
        }
        for (record, why) in quarantined {
            q.insert(record.id.clone(), why);
            recs.insert(record.id.clone(), record);
        }
    }
    report.other_sandboxes = server.sandbox_count().saturating_sub(1);
    if !report.generated {
        report.elapsed = started.elapsed();
    }
    Ok((server, report))
}

/// Opens one registered sandbox at start: `Ok(None)` when it was being created or deleted by
/// an older version (its spaces become garbage), `Err` with the reason when it cannot be
/// served.
fn load_at_boot(
    storage: &Arc<Storage>,
    parts: &crate::server::ServerParts,
    cfg: &BootConfig,
    default_scenario: &Arc<LoadedScenario>,
    record: &SandboxRecord,
) -> Result<Option<Sandbox>, String> {
    match &record.pending {
        None => {}
        Some(PendingChange::Build) | Some(PendingChange::Delete) => {
            tracing::warn!(sandbox = %record.id, "removing a sandbox whose creation or deletion was interrupted");
            let spaces = spaces_of(record);
            let discard: Vec<&str> = spaces.iter().map(String::as_str).collect();
            storage
                .commit_registry(Some(RegistryChange::Remove(&record.id)), &[], &discard)
                .and_then(|_| storage.flush_blocking())
                .map_err(|e| e.to_string())?;
            return Ok(None);
        }
        Some(PendingChange::Reset) | Some(PendingChange::Restore(_)) => {
            return Err(
                "a reset or restore by an older sandbank version was interrupted and left its world half-written"
                    .into(),
            );
        }
    }
    let scenario = if record.id == DEFAULT_SANDBOX {
        default_scenario.clone()
    } else {
        scenario_of(parts, &record.source).map_err(|e| format!("its scenario cannot be read: {e}"))?
    };
    let admin_key = (record.id == DEFAULT_SANDBOX)
        .then(|| cfg.config.admin_key.clone())
        .flatten();
    let usage = Usage::starting(record.requests, record.last_used);
    open_sandbox(storage, parts, record, scenario, admin_key, usage)
        .map(Some)
        .map_err(|e| e.to_string())
}

fn put_record(storage: &Storage, record: &SandboxRecord) -> Result<(), StorageError> {
    storage.registry_put(&record.id, &record_bytes(record)?)
}

fn record_bytes(record: &SandboxRecord) -> Result<Vec<u8>, StorageError> {
    record.to_bytes()
}

/// Makes a lifecycle change happen: in one atomic write, `record` replaces the registry
/// record (`None`: the sandbox `id` is removed), `adopt` comes off the garbage list and
/// `discard` goes on it; then it is synced. The in-memory records change under the same lock
/// as the stored one, so the usage writer never stores a record older than this one.
async fn commit(
    server: &Server,
    id: &str,
    record: Option<&SandboxRecord>,
    adopt: &[&str],
    discard: &[&str],
) -> Result<(), LifecycleError> {
    let bytes = record.map(record_bytes).transpose()?;
    {
        let mut recs = server
            .records
            .lock()
            .map_err(|_| LifecycleError::Internal("the sandbox registry lock is poisoned".into()))?;
        let change = match &bytes {
            Some(b) => RegistryChange::Put(id, b),
            None => RegistryChange::Remove(id),
        };
        server.storage.commit_registry(Some(change), adopt, discard)?;
        match record {
            Some(r) => recs.insert(id.to_owned(), r.clone()),
            None => recs.remove(id),
        };
    }
    server.storage.flush().await?;
    Ok(())
}

/// `commit` for a deletion: on a full disk it gives the emergency reserve back (and reopens
/// the failed engine) and tries once more, so an operator can always make room.
async fn commit_making_room(
    server: &Server,
    id: &str,
    record: Option<&SandboxRecord>,
    discard: &[&str],
) -> Result<(), LifecycleError> {
    let first = if server.storage.is_healthy() {
        commit(server, id, record, &[], discard).await
    } else {
        Err(LifecycleError::Storage(StorageError::NoSpace(
            "the engine failed earlier".into(),
        )))
    };
    match first {
        Err(LifecycleError::Storage(e)) if e.is_no_space() || !server.storage.is_healthy() => {
            let storage = server.storage.clone();
            tokio::task::spawn_blocking(move || storage.make_room())
                .await
                .map_err(|e| LifecycleError::Internal(e.to_string()))??;
            commit(server, id, record, &[], discard).await
        }
        other => other,
    }
}

/// Lists a key space about to be built as garbage (so a crash mid-way leaves it to
/// housekeeping) and keeps housekeeping off it while it is built.
async fn begin_space(server: &Server, space: &str) -> Result<Building, LifecycleError> {
    if let Ok(mut b) = server.building.lock() {
        b.insert(space.to_owned());
    }
    let building = Building(server.clone(), space.to_owned());
    server.storage.commit_registry(None, &[], &[space])?;
    server.storage.flush().await?;
    Ok(building)
}

/// A key space being built; housekeeping may clear it once this is dropped (adopted or not).
struct Building(Server, String);

impl Drop for Building {
    fn drop(&mut self) {
        if let Ok(mut b) = self.0.building.lock() {
            b.remove(&self.1);
        }
    }
}

/// Waits for the sandbox's turn: its lifecycle changes run one at a time.
async fn turn(server: &Server, id: &str) -> Result<tokio::sync::OwnedMutexGuard<()>, LifecycleError> {
    let lock = server
        .lifecycle_locks
        .lock()
        .map_err(|_| LifecycleError::Internal("the lifecycle lock table is poisoned".into()))?
        .entry(id.to_owned())
        .or_default()
        .clone();
    tokio::time::timeout(TURN_PATIENCE, lock.lock_owned())
        .await
        .map_err(|_| {
            LifecycleError::InProgress(format!(
                "another reset, snapshot, restore or delete of sandbox {id} has been running for {} s; retry when it is done",
                TURN_PATIENCE.as_secs()
            ))
        })
}

/// A closed gate, opened again when dropped (a retired handle's stays shut).
struct Closed(Sandbox);

impl Drop for Closed {
    fn drop(&mut self) {
        self.0.gate.open();
    }
}

/// Closes a sandbox's gate and waits until its requests in flight and its queued transfers
/// are done: the world is now between two commits and stays so while `Closed` lives.
async fn drain(server: &Server, sandbox: &Sandbox) -> Result<Closed, LifecycleError> {
    let deadline = tokio::time::Instant::now() + DRAIN_PATIENCE;
    if !sandbox.gate.close(deadline).await {
        return Err(LifecycleError::Busy(format!(
            "requests to sandbox {} did not finish within {} s; retry in a moment",
            sandbox.id,
            DRAIN_PATIENCE.as_secs()
        )));
    }
    let closed = Closed(sandbox.clone());
    server.transfer_writer.barrier().await;
    Ok(closed)
}

/// The registered sandbox's record (served or quarantined).
fn record_of(server: &Server, id: &str) -> Result<SandboxRecord, LifecycleError> {
    server
        .records
        .lock()
        .ok()
        .and_then(|r| r.get(id).cloned())
        .ok_or_else(|| LifecycleError::NotFound(id.to_owned()))
}

/// The served handle of a sandbox, or why there is none.
fn live(server: &Server, id: &str) -> Result<Sandbox, LifecycleError> {
    if let Some(s) = server.sandbox(id) {
        return Ok(s);
    }
    match server.quarantine_reason(id) {
        Some(why) => Err(LifecycleError::Quarantined(format!(
            "sandbox {id} is quarantined ({why}); restore one of its snapshots or delete it"
        ))),
        None => Err(LifecycleError::NotFound(id.to_owned())),
    }
}

/// Clears key spaces that just became garbage, off the request path (housekeeping would get
/// to them within seconds; a full disk wants the room now).
fn clear_soon(server: &Server) {
    let server = server.clone();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = clear_garbage(&server) {
            tracing::warn!(error = %e, "could not delete the records of a removed world yet; housekeeping tries again");
        }
    });
}

/// Deletes the records of every garbage key space not being built (see `Storage::clear_garbage`).
pub fn clear_garbage(server: &Server) -> Result<(), StorageError> {
    let now = server.wall.now_secs();
    let mut cleared = false;
    for (space, first_cleared) in server.storage.garbage()? {
        // The list may be stale: a space built meanwhile may have been adopted. A space is on
        // `building` from before it is listed until after it is adopted, and names are never
        // used twice, so one listed now and not being built stays garbage for good.
        {
            let building = server
                .building
                .lock()
                .map_err(|_| StorageError::Unavailable("the building list lock is poisoned".into()))?;
            if building.contains(&space) || !server.storage.is_garbage(&space)? {
                continue;
            }
        }
        match first_cleared {
            None => server.storage.clear_garbage(&space, now, false)?,
            Some(at) if now - at >= GARBAGE_SETTLE_SECS => server.storage.clear_garbage(&space, now, true)?,
            Some(_) => continue,
        }
        cleared = true;
    }
    if cleared {
        server.storage.flush_blocking()?;
    }
    Ok(())
}

/// The scenario of a sandbox's record, parsed once per distinct text.
fn scenario_of(server: &crate::server::ServerParts, source: &ScenarioSource) -> Result<Arc<LoadedScenario>, String> {
    let (text, origin) = match source {
        ScenarioSource::Catalogue(name) => (
            scenario::catalogue(name).ok_or_else(|| format!("no scenario {name:?} in the catalogue"))?,
            format!("<catalogue {name}>"),
        ),
        ScenarioSource::Inline(yaml) => (yaml.as_str(), "<request body>".to_owned()),
        ScenarioSource::Startup => return Err("only the default sandbox uses the startup scenario".into()),
    };
    let fingerprint = crate::ids::sha256_b64(text.as_bytes());
    if let Some(s) = server.scenarios.lock().ok().and_then(|m| m.get(&fingerprint).cloned()) {
        return Ok(s);
    }
    let loaded = Arc::new(scenario::load_str(text, &origin).map_err(|e| e.to_string())?);
    if let Ok(mut m) = server.scenarios.lock() {
        m.insert(fingerprint, loaded.clone());
    }
    Ok(loaded)
}

/// What a new sandbox is made from.
pub enum NewSandbox {
    Catalogue(String),
    Yaml(String),
}

/// A sandbox's credentials and entry points, as the startup banner shows them.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub id: String,
    pub base_url: String,
    pub admin_key: String,
    pub scenario: Arc<LoadedScenario>,
    /// The sandbox's own client secrets (replacing the scenario's).
    pub client_secrets: ClientSecrets,
}

// Long on purpose: the crash-safe creation sequence (reserve, build, adopt, install) reads top to bottom.
/// Creates a sandbox and answers once it is built and durable. `operation_exists` says
/// which operations the scenario's fault rules may name (the HTTP layer knows them).
pub async fn create(
    server: &Server,
    what: NewSandbox,
    operation_exists: &(dyn Fn(&str) -> bool + Sync),
) -> Result<(Credentials, WorldSize), LifecycleError> {
    let (source, text, origin) = match what {
        NewSandbox::Catalogue(name) => {
            let text = scenario::catalogue(&name).ok_or_else(|| {
                let names: Vec<&str> = scenario::CATALOGUE.iter().map(|(n, _)| *n).collect();
                LifecycleError::InvalidScenario(format!(
                    "no scenario {name:?} in the catalogue; choose one of {names:?} or send scenario YAML"
                ))
            })?;
            (
                ScenarioSource::Catalogue(name.clone()),
                text.to_owned(),
                format!("<catalogue {name}>"),
            )
        }
        NewSandbox::Yaml(yaml) => (ScenarioSource::Inline(yaml.clone()), yaml, "<request body>".to_owned()),
    };
    let loaded = scenario::load::load_str_with(&text, &origin, operation_exists)
        .map_err(|e| LifecycleError::InvalidScenario(e.to_string()))?;
    let customers = loaded.scenario.customers.len() as u64
        + loaded
            .scenario
            .populations
            .iter()
            .map(|p| p.count.value as u64)
            .sum::<u64>();
    let limits = &server.config.limits;
    if customers > limits.max_customers {
        return Err(LifecycleError::TooLarge(format!(
            "the scenario has {customers} customers; this server allows at most {} per sandbox (max-customers)",
            limits.max_customers
        )));
    }
    let scenario = match scenario_of(server, &source) {
        Ok(s) => s,
        Err(e) => return Err(LifecycleError::InvalidScenario(e)),
    };
    let _creating = server.lifecycle.lock().await;
    let registered = server.records.lock().map(|r| r.len()).unwrap_or(0);
    if registered >= limits.max_sandboxes {
        return Err(LifecycleError::LimitReached(format!(
            "this server already holds {registered} sandboxes, its limit (max-sandboxes); delete one first"
        )));
    }
    let id = new_sandbox_id();
    let now = server.wall.now_secs();
    let mut record = SandboxRecord {
        id: id.clone(),
        scenario_name: scenario.scenario.name.clone(),
        source,
        created_at: now,
        last_used: now,
        requests: 0,
        customers: 0,
        accounts: 0,
        snapshots: Vec::new(),
        pending: None,
        space: 1,
        next_space: 1,
        client_secrets: scenario
            .scenario
            .clients
            .iter()
            .map(|c| {
                let id = &c.client_id.value;
                (id.clone(), format!("{id}-{}", crate::ids::random_token(18)))
            })
            .collect(),
        storage_quota_mb: None,
    };
    let space = live_space(&id, record.space);
    let building = begin_space(server, &space).await?;
    let store = server.storage.space(&id, &space);
    let size = {
        let (scenario, secrets) = (scenario.clone(), record.client_secrets.clone());
        let admin_key = crate::ids::prefixed_secret("sbadm");
        tokio::task::spawn_blocking(move || -> Result<WorldSize, BootError> {
            let pkcs8 = SigningKey::generate_pkcs8().map_err(BootError::Key)?;
            build_world(
                &store,
                &scenario,
                Some((&admin_key, &pkcs8)),
                &secrets,
                Timestamp::now(),
            )
        })
        .await
        .map_err(|e| LifecycleError::Internal(e.to_string()))?
        .map_err(boot_failure)?
    };
    record.customers = size.customers;
    record.accounts = size.accounts;
    commit(server, &id, Some(&record), &[&space], &[]).await?;
    drop(building);
    let sandbox = open_sandbox(
        &server.storage,
        server,
        &record,
        scenario.clone(),
        None,
        Usage::starting(0, now),
    )
    .map_err(|e| LifecycleError::Internal(e.to_string()))?;
    let credentials = Credentials {
        id: id.clone(),
        base_url: sandbox.issuer.clone(),
        admin_key: sandbox.admin_key.clone(),
        scenario,
        client_secrets: record.client_secrets.clone(),
    };
    server.install(sandbox);
    Ok((credentials, size))
}

/// A failed build: a storage error stays one (507 for a full disk), anything else is ours.
fn boot_failure(e: BootError) -> LifecycleError {
    match e {
        BootError::Storage(e) => LifecycleError::Storage(e),
        other => LifecycleError::Internal(other.to_string()),
    }
}

fn new_sandbox_id() -> String {
    let raw = crate::ids::random_bytes(5);
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    format!("sb-{hex}")
}

/// Deletes a sandbox and all its data (served or quarantined); its URLs answer 404 from the
/// moment the deletion is durable. Works on a full disk: it writes one registry record, and
/// the records themselves are deleted afterwards.
pub async fn delete(server: &Server, id: &str) -> Result<(), LifecycleError> {
    if id == DEFAULT_SANDBOX {
        return Err(LifecycleError::Conflict(
            "the default sandbox is served at the root and cannot be deleted; reset it instead".into(),
        ));
    }
    let _turn = turn(server, id).await?;
    let record = record_of(server, id)?;
    let closed = match server.sandbox(id) {
        Some(sandbox) => Some(drain(server, &sandbox).await?),
        None => None,
    };
    let spaces = spaces_of(&record);
    let discard: Vec<&str> = spaces.iter().map(String::as_str).collect();
    commit_making_room(server, id, None, &discard).await?;
    server.uninstall(id);
    drop(closed);
    if let Ok(mut q) = server.quarantined.lock() {
        q.remove(id);
    }
    if let Ok(mut locks) = server.lifecycle_locks.lock() {
        locks.remove(id);
    }
    clear_soon(server);
    Ok(())
}

/// Switches a sandbox to the world built in `space` (generation `n`): waits until its
/// requests in flight are done, adopts the space in one atomic write, and serves a fresh
/// handle (new caches, the stored clock) over it. Requests waiting meanwhile go to the new
/// handle; old tokens die with the old world.
async fn switch_to(
    server: &Server,
    mut record: SandboxRecord,
    n: u64,
    usage: Usage,
) -> Result<Sandbox, LifecycleError> {
    let id = record.id.clone();
    let old = server.sandbox(&id);
    let (old_space, new_space) = (live_space(&id, record.space), live_space(&id, n));
    record.space = n;
    let store = live_store(&server.storage, &record);
    record.customers = store.customer_count() as u64;
    record.accounts = store.account_count() as u64;
    let scenario = match &old {
        Some(sandbox) => sandbox.scenario.clone(),
        None if id == DEFAULT_SANDBOX => {
            return Err(LifecycleError::Internal("the default sandbox is not served".into()));
        }
        None => scenario_of(server, &record.source).map_err(LifecycleError::Internal)?,
    };
    let admin_override = (id == DEFAULT_SANDBOX)
        .then(|| server.config.admin_key.clone())
        .flatten();
    // Open before adopting: a world that cannot be served is not switched to.
    let fresh = open_sandbox(&server.storage, server, &record, scenario, admin_override, usage)
        .map_err(|e| LifecycleError::SnapshotUnusable(format!("the new world cannot be opened: {e}")))?;
    let closed = match &old {
        Some(sandbox) => Some(drain(server, sandbox).await?),
        None => None,
    };
    commit(server, &id, Some(&record), &[&new_space], &[&old_space]).await?;
    server.install(fresh.clone());
    if let Ok(mut q) = server.quarantined.lock() {
        q.remove(&id);
    }
    drop(closed);
    clear_soon(server);
    Ok(fresh)
}

/// Hands out the next key-space generation of a sandbox (stored before the space is used, so
/// a generation is never built twice).
async fn next_generation(server: &Server, record: &mut SandboxRecord) -> Result<u64, LifecycleError> {
    record.next_space = record.next_space.max(record.space) + 1;
    let id = record.id.clone();
    commit(server, &id, Some(record), &[], &[]).await?;
    Ok(record.next_space)
}

/// Returns a sandbox to its scenario's initial state: same ids, same credentials (admin key,
/// client secrets, ID-token signing key), its clock back at the scenario's start; every
/// token, grant, transfer and event since is gone. The new world is built while the old one
/// still serves.
pub async fn reset(server: &Server, id: &str) -> Result<Sandbox, LifecycleError> {
    let _turn = turn(server, id).await?;
    let mut record = record_of(server, id)?;
    let old = live(server, id)?;
    let admin = old
        .store
        .meta_get(META_ADMIN_KEY)?
        .map(|k| String::from_utf8_lossy(&k).into_owned())
        .unwrap_or_else(|| old.admin_key.clone());
    let pkcs8 = old
        .store
        .meta_get(META_SIGNING_KEY)?
        .ok_or_else(|| LifecycleError::Internal(format!("sandbox {id} has no ID-token signing key")))?;
    let n = next_generation(server, &mut record).await?;
    let space = live_space(id, n);
    let _building = begin_space(server, &space).await?;
    let store = server.storage.space(id, &space);
    let (scenario, secrets) = (old.scenario.clone(), record.client_secrets.clone());
    tokio::task::spawn_blocking(move || {
        build_world(&store, &scenario, Some((&admin, &pkcs8)), &secrets, Timestamp::now())
    })
    .await
    .map_err(|e| LifecycleError::Internal(e.to_string()))?
    .map_err(boot_failure)?;
    let usage = Usage::starting(old.usage.requests(), old.usage.last_used());
    let sandbox = switch_to(server, record, n, usage).await?;
    super::quota::refresh(server, id).await;
    Ok(sandbox)
}

/// A snapshot name: 1–64 of `A-Z a-z 0-9 . _ -`.
fn check_snapshot_name(name: &str) -> Result<(), LifecycleError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(LifecycleError::Invalid(format!(
            "snapshot name {name:?}: use 1 to 64 letters, digits, '.', '_' or '-'"
        )))
    }
}

/// Takes a named snapshot of everything in a sandbox (records and clock), at a commit point:
/// the sandbox's requests in flight and queued transfers finish first and new ones wait
/// while it is copied. A name already taken is replaced.
pub async fn snapshot(server: &Server, id: &str, name: &str) -> Result<SnapshotInfo, LifecycleError> {
    check_snapshot_name(name)?;
    let _turn = turn(server, id).await?;
    let mut record = record_of(server, id)?;
    let sandbox = live(server, id)?;
    let max = server.config.limits.max_snapshots;
    if !record.snapshots.iter().any(|s| s.name == name) && record.snapshots.len() >= max {
        return Err(LifecycleError::LimitReached(format!(
            "sandbox {id} already keeps {} snapshots, the limit (max-snapshots {max}); delete one or reuse a name",
            record.snapshots.len()
        )));
    }
    // The copy is about the size of the live world; it must fit in the quota (a snapshot it
    // replaces is given back).
    // (A sandbox without a quota is not scanned for it.)
    if let Some(quota) = super::quota::quota_of(server, &record) {
        let before = {
            let (s, sandbox, record) = (server.clone(), sandbox.clone(), record.clone());
            tokio::task::spawn_blocking(move || super::quota::measure(&s, &sandbox, &record))
                .await
                .map_err(|e| LifecycleError::Internal(e.to_string()))??
        };
        let replaced = record
            .snapshots
            .iter()
            .find(|s| s.name == name)
            .map(|s| if s.bytes == 0 { before.live } else { s.bytes })
            .unwrap_or(0);
        if before.used() - replaced.min(before.used()) + before.live > quota {
            return Err(LifecycleError::QuotaExceeded(super::quota::exceeded_detail(
                id,
                before,
                Some(before.live),
            )));
        }
    }
    let n = next_generation(server, &mut record).await?;
    let space = snapshot_space(id, name, n);
    let _building = begin_space(server, &space).await?;
    let closed = drain(server, &sandbox).await?;
    let mut info = SnapshotInfo {
        name: name.to_owned(),
        taken_at: server.wall.now_secs(),
        sandbox_time: sandbox.clock.now(),
        space: n,
        bytes: 0,
    };
    let target = server.storage.space(id, &space);
    let copy = {
        let sandbox = sandbox.clone();
        tokio::task::spawn_blocking(move || -> Result<u64, StorageError> {
            super::access_log::write_access_log(&sandbox)?;
            sandbox.faults.persist(&sandbox.store)?;
            sandbox.capacity.persist(&sandbox.store)?;
            // The live clock offset is only stored when the clock is advanced; store it now
            // so the copy carries the clock as it is.
            let offset = sandbox.clock.offset_nanos();
            sandbox.store.meta_put(META_CLOCK_OFFSET, &offset.to_be_bytes())?;
            sandbox.store.copy_into(&target)?;
            target.flush_blocking()?;
            target.stored_bytes()
        })
        .await
        .map_err(|e| LifecycleError::Internal(e.to_string()))?
    };
    drop(closed);
    info.bytes = copy?;
    let replaced = record
        .snapshots
        .iter()
        .find(|s| s.name == name)
        .map(|s| snapshot_space(id, &s.name, s.space));
    record.snapshots.retain(|s| s.name != name);
    record.snapshots.push(info.clone());
    let discard: Vec<&str> = replaced.iter().map(String::as_str).collect();
    commit(server, id, Some(&record), &[&space], &discard).await?;
    if replaced.is_some() {
        clear_soon(server);
    }
    super::quota::refresh(server, id).await;
    Ok(info)
}

/// The snapshots of a sandbox, oldest first.
pub fn snapshots(server: &Server, id: &str) -> Result<Vec<SnapshotInfo>, LifecycleError> {
    Ok(record_of(server, id)?.snapshots)
}

/// Brings a snapshot back: records, tokens, grants, ledger, events and clock as they were.
/// Also brings a quarantined sandbox back into service. The copy is made while the current
/// world still serves; the switch waits for its requests in flight.
pub async fn restore(server: &Server, id: &str, name: &str) -> Result<Sandbox, LifecycleError> {
    let _turn = turn(server, id).await?;
    let mut record = record_of(server, id)?;
    let info = record
        .snapshots
        .iter()
        .find(|s| s.name == name)
        .cloned()
        .ok_or_else(|| LifecycleError::SnapshotNotFound(name.to_owned()))?;
    let usage = match server.sandbox(id) {
        Some(s) => Usage::starting(s.usage.requests(), s.usage.last_used()),
        None => Usage::starting(record.requests, record.last_used),
    };
    let n = next_generation(server, &mut record).await?;
    let space = live_space(id, n);
    let _building = begin_space(server, &space).await?;
    let source = server.storage.space(id, &snapshot_space(id, name, info.space));
    let target = server.storage.space(id, &space);
    tokio::task::spawn_blocking(move || -> Result<(), LifecycleError> {
        if source.meta_get(META_COMPLETE)?.is_none() || source.meta_get(META_SIGNING_KEY)?.is_none() {
            return Err(LifecycleError::SnapshotUnusable(format!(
                "snapshot {:?} is not whole (its world's records are missing); delete it",
                info.name
            )));
        }
        source.copy_into(&target)?;
        let offset = info.sandbox_time.duration_since(Timestamp::now()).as_nanos() as i64;
        target.meta_put(META_CLOCK_OFFSET, &offset.to_be_bytes())?;
        target.flush_blocking()?;
        Ok(())
    })
    .await
    .map_err(|e| LifecycleError::Internal(e.to_string()))??;
    let sandbox = switch_to(server, record, n, usage).await?;
    super::quota::refresh(server, id).await;
    Ok(sandbox)
}

/// Deletes a snapshot. Works on a full disk (see `delete`).
pub async fn delete_snapshot(server: &Server, id: &str, name: &str) -> Result<(), LifecycleError> {
    let _turn = turn(server, id).await?;
    let mut record = record_of(server, id)?;
    let Some(info) = record.snapshots.iter().find(|s| s.name == name).cloned() else {
        return Err(LifecycleError::SnapshotNotFound(name.to_owned()));
    };
    record.snapshots.retain(|s| s.name != name);
    let space = snapshot_space(id, name, info.space);
    commit_making_room(server, id, Some(&record), &[&space]).await?;
    clear_soon(server);
    super::quota::refresh(server, id).await;
    Ok(())
}

/// Sets the operator's storage quota of a sandbox (MiB; 0 for none; `None` for the server's
/// default) and measures it against it.
pub async fn set_storage_quota(server: &Server, id: &str, mb: Option<u64>) -> Result<(), LifecycleError> {
    let _turn = turn(server, id).await?;
    let mut record = record_of(server, id)?;
    record.storage_quota_mb = mb;
    commit(server, id, Some(&record), &[], &[]).await?;
    super::quota::refresh(server, id).await;
    Ok(())
}

/// One line of the operator's listing.
#[derive(Debug, Clone)]
pub struct SandboxSummary {
    pub record: SandboxRecord,
    pub base_url: String,
    pub requests: u64,
    pub last_used: i64,
    /// When idle expiry will delete it, if it stays unused (real time).
    pub expires_at: Option<i64>,
    pub stored_bytes: u64,
    /// Its clock now; `None` while it is quarantined.
    pub sandbox_time: Option<Timestamp>,
    /// Why it could not be loaded at start, when it is quarantined.
    pub quarantined: Option<String>,
    /// Its storage use as last measured, against its quota.
    pub storage: super::quota::UseReport,
}

fn expires_at(server: &Server, sandbox: &Sandbox) -> Option<i64> {
    if sandbox.is_default() {
        return None;
    }
    let idle = server.config.limits.idle_expiry?;
    Some(sandbox.usage.last_used().saturating_add(idle.as_secs()))
}

/// Summarizes one sandbox; `with_bytes` counts its stored bytes (a scan of its records).
pub fn summary(server: &Server, id: &str, with_bytes: bool) -> Result<SandboxSummary, LifecycleError> {
    let record = record_of(server, id)?;
    let Some(sandbox) = server.sandbox(id) else {
        let quarantined = server
            .quarantine_reason(id)
            .ok_or_else(|| LifecycleError::NotFound(id.to_owned()))?;
        return Ok(SandboxSummary {
            base_url: server.base_url(id),
            requests: record.requests,
            last_used: record.last_used,
            expires_at: None,
            stored_bytes: if with_bytes {
                live_store(&server.storage, &record).stored_bytes()?
            } else {
                0
            },
            sandbox_time: None,
            quarantined: Some(quarantined),
            storage: super::quota::UseReport {
                live: 0,
                snapshots: 0,
                quota: super::quota::quota_of(server, &record),
                measured_at: 0,
            },
            record,
        });
    };
    Ok(SandboxSummary {
        base_url: sandbox.issuer.clone(),
        requests: sandbox.usage.requests(),
        last_used: sandbox.usage.last_used(),
        expires_at: expires_at(server, &sandbox),
        stored_bytes: if with_bytes { sandbox.store.stored_bytes()? } else { 0 },
        sandbox_time: Some(sandbox.clock.now()),
        quarantined: None,
        storage: super::quota::UseReport {
            quota: super::quota::quota_of(server, &record),
            ..sandbox.storage_use.report()
        },
        record,
    })
}

/// Every sandbox, served or quarantined, in id order.
pub fn list(server: &Server, with_bytes: bool) -> Result<Vec<SandboxSummary>, LifecycleError> {
    let mut out = Vec::new();
    let mut ids: Vec<String> = server
        .records
        .lock()
        .map(|r| r.keys().cloned().collect())
        .unwrap_or_default();
    ids.sort();
    for id in ids {
        match summary(server, &id, with_bytes) {
            Ok(s) => out.push(s),
            // Deleted meanwhile.
            Err(LifecycleError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Deletes every created sandbox unused for longer than the idle expiry; returns their ids.
pub async fn expire_idle(server: &Server) -> Result<Vec<String>, LifecycleError> {
    let now = server.wall.now_secs();
    let mut expired = Vec::new();
    for sandbox in server.sandboxes() {
        if expires_at(server, &sandbox).is_some_and(|at| at <= now) {
            tracing::info!(sandbox = %sandbox.id, "deleting an idle sandbox");
            delete(server, &sandbox.id).await?;
            expired.push(sandbox.id.to_string());
        }
    }
    Ok(expired)
}

/// Writes the request counts and last use of sandboxes used since the last call into their
/// registry records, so a restart keeps them.
pub fn persist_usage(server: &Server) -> Result<(), StorageError> {
    let Ok(mut recs) = server.records.lock() else {
        return Ok(());
    };
    for sandbox in server.sandboxes() {
        if let Some(r) = recs.get_mut(&*sandbox.id)
            && r.requests != sandbox.usage.requests()
        {
            r.requests = sandbox.usage.requests();
            r.last_used = sandbox.usage.last_used();
            put_record(&server.storage, r)?;
        }
    }
    Ok(())
}

/// Background worker: deletes idle sandboxes every `period`; keeps usage figures and deletes
/// the records of removed worlds (garbage key spaces) every 5 s, the first time at start.
pub async fn housekeeping_every(server: Server, period: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut usage_tick = tokio::time::interval(Duration::from_secs(5));
    let mut storage_tick = tokio::time::interval(Duration::from_secs(1));
    let mut expiry_tick = tokio::time::interval(period);
    loop {
        tokio::select! {
            _ = usage_tick.tick() => {
                if let Err(e) = persist_usage(&server) {
                    tracing::warn!(error = %e, "could not store sandbox usage");
                }
                let s = server.clone();
                let _ = tokio::task::spawn_blocking(move || super::quota::measure_due(&s)).await;
                let s = server.clone();
                match tokio::task::spawn_blocking(move || clear_garbage(&s)).await {
                    Ok(Err(e)) => tracing::warn!(error = %e, "could not delete the records of removed worlds yet"),
                    Err(e) => tracing::warn!(error = %e, "garbage collection failed"),
                    Ok(Ok(())) => {}
                }
            }
            _ = storage_tick.tick() => {
                // A failed engine is reopened once the disk has room again.
                let storage = server.storage.clone();
                if let Ok(Err(e)) = tokio::task::spawn_blocking(move || storage.recover_if_room()).await {
                    tracing::warn!(error = %e, "could not reopen the storage engine yet");
                }
            }
            _ = expiry_tick.tick() => {
                if let Err(e) = expire_idle(&server).await {
                    tracing::warn!(error = %e, "idle expiry failed");
                }
            }
            _ = stop.changed() => break,
        }
    }
    if let Err(e) = persist_usage(&server) {
        tracing::warn!(error = %e, "could not store sandbox usage");
    }
}

/// Time formatting for listings.
pub fn jst_of_secs(secs: i64) -> String {
    Timestamp::from_second(secs).map(format_jst).unwrap_or_default()
}
