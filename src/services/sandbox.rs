//! Running a sandbox: building it from a scenario into an empty data dir (or reopening it),
//! its clock (time travel) and its access log.

use crate::clock::Clock;
use crate::oauth::jwt::SigningKey;
use crate::scenario::{LoadedScenario, generate};
use crate::state::{AppState, Inner};
use crate::storage::{AccessLogEntry, AccessLogFilter, Storage, StorageError};
use jiff::{SignedDuration, Timestamp};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The id of the sandbox a single `serve` runs. Every key is scoped by it, so one data dir
/// can later hold many sandboxes.
pub const DEFAULT_SANDBOX: &str = "default";

const META_FINGERPRINT: &str = "scenario_fingerprint";
const META_COMPLETE: &str = "generation_complete";
const META_CLOCK_OFFSET: &str = "clock_offset_nanos";
const META_SIGNING_KEY: &str = "id_token_signing_key";
const META_ADMIN_KEY: &str = "admin_key";
const META_SCHEMA: &str = "schema_version";
const META_OPENING_TOTAL: &str = "opening_balance_total";

/// Version of the stored record layout; a data dir written with another one is refused
/// (rebuild it with `--fresh`) rather than misread.
pub const SCHEMA_VERSION: &[u8] = b"4";

/// What `boot` needs.
pub struct BootConfig {
    pub data_dir: PathBuf,
    /// Delete the data dir first.
    pub fresh: bool,
    pub scenario: LoadedScenario,
    /// Public base URL (OAuth issuer).
    pub issuer: String,
    /// Admin key to use; generated (and kept) when absent.
    pub admin_key: Option<String>,
    pub cache_bytes: u64,
}

/// What happened at boot, for the startup banner.
#[derive(Debug, Clone)]
pub struct BootReport {
    /// True when the world was generated now (empty data dir); false when reopened.
    pub generated: bool,
    pub customers: u64,
    pub accounts: u64,
    pub transactions: u64,
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

/// Opens or builds the sandbox and returns the application state.
pub fn boot(cfg: BootConfig) -> Result<(AppState, BootReport), BootError> {
    let started = Instant::now();
    let dir_err = |why: String| BootError::DataDir {
        dir: cfg.data_dir.display().to_string(),
        why,
    };
    if cfg.fresh && cfg.data_dir.exists() {
        std::fs::remove_dir_all(&cfg.data_dir).map_err(|e| dir_err(format!("could not delete it for --fresh: {e}")))?;
    }
    std::fs::create_dir_all(&cfg.data_dir).map_err(|e| dir_err(e.to_string()))?;
    let mut storage = Storage::open(&cfg.data_dir, cfg.cache_bytes)?;
    let mut store = storage.sandbox(DEFAULT_SANDBOX);

    let stored_fingerprint = store.meta_get(META_FINGERPRINT)?;
    let complete = store.meta_get(META_COMPLETE)?.is_some();
    if complete && store.meta_get(META_SCHEMA)?.as_deref() != Some(SCHEMA_VERSION) {
        return Err(dir_err(
            "it was written by another version of sandbank; start with --fresh to rebuild it (this deletes its data)"
                .into(),
        ));
    }
    if let Some(fp) = &stored_fingerprint
        && complete
        && fp.as_slice() != cfg.scenario.fingerprint.as_bytes()
    {
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
        elapsed: Duration::ZERO,
    };
    let clock;
    if complete {
        let offset = store
            .meta_get(META_CLOCK_OFFSET)?
            .and_then(|b| b.try_into().ok().map(i64::from_be_bytes))
            .unwrap_or(0);
        clock = Clock::with_offset(offset);
        report.accounts = store.account_count() as u64;
    } else {
        // An unfinished earlier build (killed mid-way) is thrown away and redone.
        store.clear()?;
        let start = cfg.scenario.clock_start(Timestamp::now());
        clock = Clock::starting_at(start);
        store.meta_put(META_FINGERPRINT, cfg.scenario.fingerprint.as_bytes())?;
        store.meta_put(META_SCHEMA, SCHEMA_VERSION)?;
        store.meta_put(META_CLOCK_OFFSET, &clock.offset_nanos().to_be_bytes())?;
        for client in generate::clients(&cfg.scenario.scenario) {
            store.put_client(&client)?;
        }
        let pkcs8 = SigningKey::generate_pkcs8().map_err(BootError::Key)?;
        store.meta_put(META_SIGNING_KEY, &pkcs8)?;
        let mut writer = crate::storage::WorldWriter::new(&store);
        generate::customers(&cfg.scenario.scenario, start, |c| writer.add(&c))?;
        let ((customers, accounts, transactions), balance_total) = writer.finish()?;
        store.meta_put(META_OPENING_TOTAL, &balance_total.to_be_bytes())?;
        report = BootReport {
            generated: true,
            customers,
            accounts,
            transactions,
            elapsed: Duration::ZERO,
        };
        store.meta_put(META_COMPLETE, b"1")?;
        storage.flush_blocking()?;
        // Reopen: a large build leaves sled holding the pages it wrote; a fresh handle
        // starts with an empty cache, as a restarted server would.
        drop(store);
        drop(storage);
        storage = Storage::open(&cfg.data_dir, cfg.cache_bytes)?;
        store = storage.sandbox(DEFAULT_SANDBOX);
    }

    let pkcs8 = store
        .meta_get(META_SIGNING_KEY)?
        .ok_or_else(|| BootError::Key("the data dir has no ID-token signing key".into()))?;
    let signing_key = SigningKey::from_pkcs8(&pkcs8).map_err(BootError::Key)?;
    let admin_key = match cfg.admin_key {
        Some(k) => k,
        None => match store.meta_get(META_ADMIN_KEY)? {
            Some(k) => String::from_utf8_lossy(&k).into_owned(),
            None => {
                let k = crate::ids::prefixed_secret("sbadm");
                store.meta_put(META_ADMIN_KEY, k.as_bytes())?;
                storage.flush_blocking()?;
                k
            }
        },
    };
    report.elapsed = started.elapsed();
    let state = AppState::new(Inner {
        store,
        clock,
        scenario: cfg.scenario,
        signing_key,
        issuer: cfg.issuer,
        admin_key,
        token_cache: Default::default(),
        in_flight: Default::default(),
        approval_sessions: Default::default(),
        transfer_writer: Default::default(),
    });
    Ok((state, report))
}

/// Moves the sandbox clock forward and makes the new time durable. Scheduled work due on
/// the way (scheduled transfers, settlements, approval deadlines) runs at its own instant:
/// the clock stops at each due time, runs what is due, and moves on.
pub async fn advance_clock(app: &AppState, by: SignedDuration) -> Result<Timestamp, crate::error::ApiError> {
    let target = app.clock.now().saturating_add(by).unwrap_or(Timestamp::MAX);
    loop {
        let next = app.store.due(target)?.into_iter().map(|(at, _)| at).min();
        match next {
            Some(at) => {
                app.clock.advance_to(at);
                super::transfers::run_due(app).await?;
            }
            None => break,
        }
    }
    let offset = app.clock.advance_to(target);
    app.store.meta_put(META_CLOCK_OFFSET, &offset.to_be_bytes())?;
    app.store.flush().await?;
    Ok(app.clock.now())
}

/// Appends to the access log. Entries are written in batches by `write_access_log_every`
/// (and before the log is read), which keeps logging off the request's critical path; the
/// log is durable within a fraction of a second, not per request.
pub fn record_access(app: &AppState, entry: AccessLogEntry) {
    app.store.append_access_log(entry);
}

/// Background worker: writes buffered access-log entries every `period` until `stop`.
pub async fn write_access_log_every(app: AppState, period: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = stop.changed() => break,
        }
        // A batch of a few thousand entries takes a moment; keep it off the async workers.
        let store = app.store.clone();
        match tokio::task::spawn_blocking(move || store.write_access_log()).await {
            Ok(Err(e)) => tracing::warn!(error = %e, "could not write the access log"),
            Err(e) => tracing::warn!(error = %e, "access log writer failed"),
            Ok(Ok(())) => {}
        }
    }
    if let Err(e) = app.store.write_access_log() {
        tracing::warn!(error = %e, "could not write the access log");
    }
}

pub fn access_logs(app: &AppState, filter: &AccessLogFilter) -> Result<(Vec<AccessLogEntry>, bool), StorageError> {
    app.store.access_logs(filter)
}

/// The ledger's totals: every customer account and system account; their sum must equal
/// the total of opening balances (money is neither created nor destroyed).
pub struct LedgerSummary {
    pub opening_total: i64,
    pub customer_total: i64,
    pub account_count: u64,
    pub system: Vec<(String, i64)>,
    pub below_limit: Vec<String>,
}

pub fn ledger_summary(app: &AppState) -> Result<LedgerSummary, StorageError> {
    let opening_total = app
        .store
        .meta_get(META_OPENING_TOTAL)?
        .and_then(|b| b.try_into().ok().map(i64::from_be_bytes))
        .unwrap_or(0);
    let (customer_total, account_count, below_limit) = app.store.customer_balance_summary()?;
    Ok(LedgerSummary {
        opening_total,
        customer_total,
        account_count,
        system: app.store.system_balances()?,
        below_limit,
    })
}
