//! The life of sandboxes: building one from a scenario (at boot for the default sandbox, or on
//! an operator's request), reopening every sandbox at start, listing, deleting, resetting to
//! the scenario, snapshots and their restore, and idle expiry.
//!
//! Every change that touches many records (build, reset, restore, delete) first writes its
//! intent into the sandbox's registry record and syncs; a server killed half-way finishes the
//! change when it starts again, so no sandbox is left half-written.

use crate::clock::format_jst;
use crate::config::Config;
use crate::oauth::jwt::SigningKey;
use crate::sandbox::{DEFAULT_SANDBOX, Sandbox, SandboxParts, Usage};
use crate::scenario::{self, LoadedScenario, generate};
use crate::server::Server;
use crate::storage::{SandboxStore, Storage, StorageError};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};

const META_FINGERPRINT: &str = "scenario_fingerprint";
const META_COMPLETE: &str = "generation_complete";
pub(crate) const META_CLOCK_OFFSET: &str = "clock_offset_nanos";
const META_SIGNING_KEY: &str = "id_token_signing_key";
const META_ADMIN_KEY: &str = "admin_key";
const META_SCHEMA: &str = "schema_version";
pub(crate) const META_OPENING_TOTAL: &str = "opening_balance_total";
const SETTING_OPERATOR_KEY: &str = "operator_key";

/// Version of the stored record layout. Sandbox-scoped records are postcard, so a change to
/// one of them bumps this and refuses older data dirs; the registry (one JSON record per
/// sandbox) takes new fields with `#[serde(default)]` and needs no bump. Version 5: access-log
/// entries name the fault rule, transfer items carry their pending outcome.
pub const SCHEMA_VERSION: &[u8] = b"5";

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

/// Where a sandbox's scenario came from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "value")]
pub enum ScenarioSource {
    /// The server's own (`--scenario`, or the embedded default): the default sandbox.
    Startup,
    /// A scenario of the built-in catalogue, by name.
    Catalogue(String),
    /// YAML given when the sandbox was created.
    Inline(String),
}

/// A snapshot of a sandbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotInfo {
    pub name: String,
    /// When it was taken (real time, Unix seconds).
    pub taken_at: i64,
    /// The sandbox clock when it was taken; a restore sets the clock back to it.
    pub sandbox_time: Timestamp,
}

/// A change to many records that was started and must be finished (after a crash, at boot).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", tag = "kind", content = "value")]
pub enum PendingChange {
    Build,
    Reset,
    Restore(String),
    Delete,
}

/// A sandbox's registry record (stored as JSON: new fields are added with a default).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxRecord {
    pub id: String,
    pub scenario_name: String,
    pub source: ScenarioSource,
    /// Creation time (real time, Unix seconds).
    pub created_at: i64,
    #[serde(default)]
    pub last_used: i64,
    #[serde(default)]
    pub requests: u64,
    #[serde(default)]
    pub customers: u64,
    #[serde(default)]
    pub accounts: u64,
    #[serde(default)]
    pub snapshots: Vec<SnapshotInfo>,
    #[serde(default)]
    pub pending: Option<PendingChange>,
    /// The client secrets of a created sandbox, by client id: made for it at creation (so no
    /// two sandboxes share a secret) and kept across resets. Empty for the default sandbox,
    /// which uses its scenario's secrets.
    #[serde(default)]
    pub client_secrets: std::collections::BTreeMap<String, String>,
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
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    InvalidScenario(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
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

/// The live handle of a built sandbox: its clock, keys and caches.
fn open_sandbox(
    storage: &Arc<Storage>,
    server: &crate::server::ServerParts,
    id: &str,
    scenario: Arc<LoadedScenario>,
    admin_key: Option<String>,
    usage: Usage,
) -> Result<Sandbox, BootError> {
    let store = storage.sandbox(id);
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
    let faults = crate::services::faults::Faults::open(&store, &scenario)?;
    let capacity = crate::services::capacity::Capacity::open(&store, &scenario)?;
    let maintenance = crate::services::maintenance::Maintenance::open(&store, &scenario)?;
    let controls = crate::services::controls::Controls::open(&store)?;
    let webhooks = crate::webhooks::Webhooks::open(
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
        in_flight: Default::default(),
        transfer_writer: server.transfer_writer.clone(),
        approval_sessions: Default::default(),
        faults,
        capacity,
        maintenance,
        controls,
        webhooks,
        usage,
    }))
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
    let storage = Storage::open(dir, cfg.config.cache_mb * 1024 * 1024)?;
    let store = storage.sandbox(DEFAULT_SANDBOX);
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
/// it; returns the server, ready for `run`.
pub fn boot(cfg: BootConfig) -> Result<(Server, BootReport), BootError> {
    let started = Instant::now();
    let (mut storage, mut report) = build_default(&cfg)?;
    if report.generated {
        // Reopen: a large build leaves sled holding the pages it wrote; a fresh handle
        // starts with an empty cache, as a restarted server would.
        drop(storage);
        storage = Storage::open(&cfg.config.data_dir, cfg.config.cache_mb * 1024 * 1024)?;
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
            client_secrets: ClientSecrets::new(),
        };
        put_record(&storage, &record)?;
        storage.flush_blocking()?;
        records.push(record);
    }
    let mut sandboxes = Vec::new();
    for mut record in records {
        let scenario = if record.id == DEFAULT_SANDBOX {
            default_scenario.clone()
        } else {
            match scenario_of(&parts, &record.source) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(sandbox = %record.id, error = %e, "cannot read the scenario of a sandbox; it is not served");
                    continue;
                }
            }
        };
        finish_pending(&storage, &mut record, &scenario)?;
        if record.pending == Some(PendingChange::Delete) {
            continue;
        }
        let admin_key = (record.id == DEFAULT_SANDBOX)
            .then(|| cfg.config.admin_key.clone())
            .flatten();
        let usage = Usage::starting(record.requests, record.last_used);
        let sandbox = open_sandbox(&storage, &parts, &record.id, scenario, admin_key, usage)?;
        sandboxes.push((sandbox, record));
    }
    let server = Server::new(parts);
    if let Ok(mut recs) = server.records.lock() {
        for (sandbox, record) in sandboxes {
            recs.insert(record.id.clone(), record);
            server.install(sandbox);
        }
    }
    report.other_sandboxes = server.sandbox_count().saturating_sub(1);
    if !report.generated {
        report.elapsed = started.elapsed();
    }
    Ok((server, report))
}

/// Finishes a change a crash interrupted (see the module docs).
fn finish_pending(
    storage: &Arc<Storage>,
    record: &mut SandboxRecord,
    scenario: &LoadedScenario,
) -> Result<(), BootError> {
    let store = storage.sandbox(&record.id);
    match record.pending.clone() {
        None => return Ok(()),
        Some(PendingChange::Build) | Some(PendingChange::Delete) => {
            tracing::warn!(sandbox = %record.id, "removing a sandbox whose creation or deletion was interrupted");
            remove_all(storage, record)?;
            record.pending = Some(PendingChange::Delete);
            return Ok(());
        }
        Some(PendingChange::Reset) => {
            tracing::warn!(sandbox = %record.id, "finishing an interrupted reset");
            reset_records(&store, scenario, &record.client_secrets)?;
        }
        Some(PendingChange::Restore(name)) => {
            tracing::warn!(sandbox = %record.id, snapshot = %name, "finishing an interrupted restore");
            let taken = record.snapshots.iter().find(|s| s.name == name).map(|s| s.sandbox_time);
            restore_records(storage, &store, &record.id, &name, taken)?;
        }
    }
    record.pending = None;
    put_record(storage, record)?;
    storage.flush_blocking()?;
    Ok(())
}

fn put_record(storage: &Storage, record: &SandboxRecord) -> Result<(), StorageError> {
    let bytes = serde_json::to_vec(record).map_err(|e| StorageError::Codec(e.to_string()))?;
    storage.registry_put(&record.id, &bytes)
}

/// Deletes a sandbox's records, its snapshots and its registry record.
fn remove_all(storage: &Arc<Storage>, record: &SandboxRecord) -> Result<(), StorageError> {
    storage.sandbox(&record.id).clear()?;
    for s in &record.snapshots {
        storage.sandbox(&snapshot_space(&record.id, &s.name)).clear()?;
    }
    storage.registry_remove(&record.id)?;
    storage.flush_blocking()
}

/// The key space a snapshot is kept in: `{id}@{name}` (no sandbox id contains `@`).
fn snapshot_space(id: &str, name: &str) -> String {
    format!("{id}@{name}")
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
    let _guard = server.lifecycle.lock().await;
    if server.sandbox_count() >= limits.max_sandboxes {
        return Err(LifecycleError::LimitReached(format!(
            "this server already holds {} sandboxes, its limit (max-sandboxes); delete one first",
            server.sandbox_count()
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
        pending: Some(PendingChange::Build),
        client_secrets: scenario
            .scenario
            .clients
            .iter()
            .map(|c| {
                let id = &c.client_id.value;
                (id.clone(), format!("{id}-{}", crate::ids::random_token(18)))
            })
            .collect(),
    };
    let storage = server.storage.clone();
    let built = {
        let (storage, scenario, record) = (storage.clone(), scenario.clone(), record.clone());
        let admin_key = crate::ids::prefixed_secret("sbadm");
        let key = admin_key.clone();
        tokio::task::spawn_blocking(move || -> Result<WorldSize, BootError> {
            put_record(&storage, &record)?;
            storage.flush_blocking()?;
            let store = storage.sandbox(&record.id);
            let pkcs8 = SigningKey::generate_pkcs8().map_err(BootError::Key)?;
            build_world(
                &store,
                &scenario,
                Some((&key, &pkcs8)),
                &record.client_secrets,
                Timestamp::now(),
            )
        })
        .await
        .map_err(|e| LifecycleError::Internal(e.to_string()))?
    };
    let size = match built {
        Ok(size) => size,
        Err(e) => {
            let _ = remove_all(&storage, &record);
            return Err(LifecycleError::Internal(e.to_string()));
        }
    };
    record.pending = None;
    record.customers = size.customers;
    record.accounts = size.accounts;
    put_record(&storage, &record)?;
    storage.flush().await?;
    let sandbox = open_sandbox(&storage, server, &id, scenario.clone(), None, Usage::starting(0, now))
        .map_err(|e| LifecycleError::Internal(e.to_string()))?;
    let credentials = Credentials {
        id: id.clone(),
        base_url: sandbox.issuer.clone(),
        admin_key: sandbox.admin_key.clone(),
        scenario,
        client_secrets: record.client_secrets.clone(),
    };
    if let Ok(mut recs) = server.records.lock() {
        recs.insert(id, record);
    }
    server.install(sandbox);
    Ok((credentials, size))
}

fn new_sandbox_id() -> String {
    let raw = crate::ids::random_bytes(5);
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    format!("sb-{hex}")
}

fn record_of(server: &Server, id: &str) -> Result<SandboxRecord, LifecycleError> {
    server
        .records
        .lock()
        .ok()
        .and_then(|r| r.get(id).cloned())
        .filter(|_| server.sandbox(id).is_some())
        .ok_or_else(|| LifecycleError::NotFound(id.to_owned()))
}

fn save_record(server: &Server, record: &SandboxRecord) -> Result<(), LifecycleError> {
    put_record(&server.storage, record)?;
    if let Ok(mut recs) = server.records.lock() {
        recs.insert(record.id.clone(), record.clone());
    }
    Ok(())
}

/// Deletes a sandbox and all its data; its URLs answer 404 at once.
pub async fn delete(server: &Server, id: &str) -> Result<(), LifecycleError> {
    if id == DEFAULT_SANDBOX {
        return Err(LifecycleError::Conflict(
            "the default sandbox is served at the root and cannot be deleted; reset it instead".into(),
        ));
    }
    let _guard = server.lifecycle.lock().await;
    let mut record = record_of(server, id)?;
    record.pending = Some(PendingChange::Delete);
    save_record(server, &record)?;
    server.storage.flush().await?;
    server.uninstall(id);
    let storage = server.storage.clone();
    tokio::task::spawn_blocking(move || remove_all(&storage, &record))
        .await
        .map_err(|e| LifecycleError::Internal(e.to_string()))??;
    if let Ok(mut recs) = server.records.lock() {
        recs.remove(id);
    }
    Ok(())
}

/// Clears a sandbox's records and builds them again from the scenario, keeping its admin
/// key and signing key.
fn reset_records(
    store: &SandboxStore,
    scenario: &LoadedScenario,
    secrets: &ClientSecrets,
) -> Result<WorldSize, BootError> {
    let admin = store
        .meta_get(META_ADMIN_KEY)?
        .map(|k| String::from_utf8_lossy(&k).into_owned())
        .unwrap_or_else(|| crate::ids::prefixed_secret("sbadm"));
    let pkcs8 = match store.meta_get(META_SIGNING_KEY)? {
        Some(k) => k,
        None => SigningKey::generate_pkcs8().map_err(BootError::Key)?,
    };
    build_world(store, scenario, Some((&admin, &pkcs8)), secrets, Timestamp::now())
}

/// Replaces a sandbox's records with a snapshot's and sets its clock to the snapshot's time.
fn restore_records(
    storage: &Arc<Storage>,
    store: &SandboxStore,
    id: &str,
    name: &str,
    sandbox_time: Option<Timestamp>,
) -> Result<(), StorageError> {
    store.clear()?;
    storage.sandbox(&snapshot_space(id, name)).copy_into(store)?;
    if let Some(t) = sandbox_time {
        let offset = t.duration_since(Timestamp::now()).as_nanos() as i64;
        store.meta_put(META_CLOCK_OFFSET, &offset.to_be_bytes())?;
    }
    store.flush_blocking()
}

/// Runs a change to many records of a live sandbox: the sandbox stops being served, its
/// intent is recorded, `change` runs, and a fresh handle (new caches, the stored clock)
/// takes its place. Old tokens die with the old records.
async fn rebuild<F>(server: &Server, id: &str, pending: PendingChange, change: F) -> Result<Sandbox, LifecycleError>
where
    F: FnOnce(&Arc<Storage>, &SandboxStore, &LoadedScenario) -> Result<(), BootError> + Send + 'static,
{
    let _guard = server.lifecycle.lock().await;
    let mut record = record_of(server, id)?;
    let old = server
        .sandbox(id)
        .ok_or_else(|| LifecycleError::NotFound(id.to_owned()))?;
    record.pending = Some(pending);
    save_record(server, &record)?;
    server.storage.flush().await?;
    server.uninstall(id);
    let storage = server.storage.clone();
    let scenario = old.scenario.clone();
    let store = old.store.clone();
    let done = {
        let scenario = scenario.clone();
        tokio::task::spawn_blocking(move || change(&storage, &store, &scenario))
            .await
            .map_err(|e| LifecycleError::Internal(e.to_string()))?
    };
    if let Err(e) = done {
        // Leave the intent in place: the next start finishes it. Serve the old handle
        // meanwhile rather than nothing.
        server.install(old);
        return Err(LifecycleError::Internal(e.to_string()));
    }
    record.pending = None;
    record.customers = old.store.customer_count() as u64;
    record.accounts = old.store.account_count() as u64;
    save_record(server, &record)?;
    server.storage.flush().await?;
    let admin_override = old.is_default().then(|| server.config.admin_key.clone()).flatten();
    let usage = Usage::starting(old.usage.requests(), old.usage.last_used());
    let fresh = open_sandbox(&server.storage, server, id, scenario, admin_override, usage)
        .map_err(|e| LifecycleError::Internal(e.to_string()))?;
    server.install(fresh.clone());
    Ok(fresh)
}

/// Returns a sandbox to its scenario's initial state: same ids, same credentials, its clock
/// back at the scenario's start; every token, grant, transfer and event since is gone.
pub async fn reset(server: &Server, id: &str) -> Result<Sandbox, LifecycleError> {
    let secrets = record_of(server, id)?.client_secrets;
    rebuild(server, id, PendingChange::Reset, move |_, store, scenario| {
        reset_records(store, scenario, &secrets).map(|_| ())
    })
    .await
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

/// Takes a named snapshot of everything in a sandbox (records and clock). A name already
/// taken is replaced.
pub async fn snapshot(server: &Server, id: &str, name: &str) -> Result<SnapshotInfo, LifecycleError> {
    check_snapshot_name(name)?;
    let _guard = server.lifecycle.lock().await;
    let mut record = record_of(server, id)?;
    let sandbox = server
        .sandbox(id)
        .ok_or_else(|| LifecycleError::NotFound(id.to_owned()))?;
    // Requests still running may write while the copy is made; the snapshot holds what was
    // committed when each tree was copied.
    super::sandbox::write_access_log(&sandbox)?;
    sandbox.faults.persist(&sandbox.store)?;
    sandbox.capacity.persist(&sandbox.store)?;
    let info = SnapshotInfo {
        name: name.to_owned(),
        taken_at: server.wall.now_secs(),
        sandbox_time: sandbox.clock.now(),
    };
    let offset = sandbox.clock.offset_nanos();
    let storage = server.storage.clone();
    let (space, source) = (storage.sandbox(&snapshot_space(id, name)), sandbox.store.clone());
    tokio::task::spawn_blocking(move || -> Result<(), StorageError> {
        // The live clock offset is only stored when the clock is advanced; store it now so the
        // copy carries the clock as it is.
        source.meta_put(META_CLOCK_OFFSET, &offset.to_be_bytes())?;
        space.clear()?;
        source.copy_into(&space)?;
        source.flush_blocking()
    })
    .await
    .map_err(|e| LifecycleError::Internal(e.to_string()))??;
    record.snapshots.retain(|s| s.name != name);
    record.snapshots.push(info.clone());
    save_record(server, &record)?;
    server.storage.flush().await?;
    Ok(info)
}

/// The snapshots of a sandbox, oldest first.
pub fn snapshots(server: &Server, id: &str) -> Result<Vec<SnapshotInfo>, LifecycleError> {
    Ok(record_of(server, id)?.snapshots)
}

/// Brings a snapshot back: records, tokens, grants, ledger, events and clock as they were.
pub async fn restore(server: &Server, id: &str, name: &str) -> Result<Sandbox, LifecycleError> {
    let record = record_of(server, id)?;
    let taken = record
        .snapshots
        .iter()
        .find(|s| s.name == name)
        .map(|s| s.sandbox_time)
        .ok_or_else(|| LifecycleError::SnapshotNotFound(name.to_owned()))?;
    let (id_owned, name_owned) = (id.to_owned(), name.to_owned());
    rebuild(
        server,
        id,
        PendingChange::Restore(name.to_owned()),
        move |storage, store, _| {
            restore_records(storage, store, &id_owned, &name_owned, Some(taken)).map_err(BootError::from)
        },
    )
    .await
}

/// Deletes a snapshot.
pub async fn delete_snapshot(server: &Server, id: &str, name: &str) -> Result<(), LifecycleError> {
    let _guard = server.lifecycle.lock().await;
    let mut record = record_of(server, id)?;
    if !record.snapshots.iter().any(|s| s.name == name) {
        return Err(LifecycleError::SnapshotNotFound(name.to_owned()));
    }
    record.snapshots.retain(|s| s.name != name);
    save_record(server, &record)?;
    server.storage.sandbox(&snapshot_space(id, name)).clear()?;
    server.storage.flush().await?;
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
    pub sandbox_time: Timestamp,
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
    let sandbox = server
        .sandbox(id)
        .ok_or_else(|| LifecycleError::NotFound(id.to_owned()))?;
    Ok(SandboxSummary {
        base_url: sandbox.issuer.clone(),
        requests: sandbox.usage.requests(),
        last_used: sandbox.usage.last_used(),
        expires_at: expires_at(server, &sandbox),
        stored_bytes: if with_bytes { sandbox.store.stored_bytes()? } else { 0 },
        sandbox_time: sandbox.clock.now(),
        record,
    })
}

/// Every sandbox, in id order.
pub fn list(server: &Server, with_bytes: bool) -> Result<Vec<SandboxSummary>, LifecycleError> {
    let mut out = Vec::new();
    let mut all = server.sandboxes();
    all.sort_by(|a, b| a.id.cmp(&b.id));
    for sandbox in all {
        match summary(server, &sandbox.id, with_bytes) {
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

/// Background worker: deletes idle sandboxes and keeps usage figures every `period`.
pub async fn housekeeping_every(server: Server, period: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut usage_tick = tokio::time::interval(Duration::from_secs(5));
    let mut expiry_tick = tokio::time::interval(period);
    loop {
        tokio::select! {
            _ = usage_tick.tick() => {
                if let Err(e) = persist_usage(&server) {
                    tracing::warn!(error = %e, "could not store sandbox usage");
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
