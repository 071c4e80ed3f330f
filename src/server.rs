//! The server process: its settings, the storage every sandbox lives in, the registry of
//! sandboxes, the operator key, and the handles of the workers that serve every sandbox.
//! Cheap to clone.

use crate::clock::ServerClock;
use crate::config::Config;
use crate::sandbox::{DEFAULT_SANDBOX, Sandbox};
use crate::scenario::LoadedScenario;
use crate::services::sandboxes::SandboxRecord;
use crate::services::transfer_writer::{TransferWriter, TransferWriterWorker};
use crate::storage::Storage;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

#[derive(Clone)]
pub struct Server(Arc<ServerParts>);

pub struct ServerParts {
    pub config: Config,
    pub storage: Arc<Storage>,
    /// Public base URL; the default sandbox's issuer, and the root of every other one's.
    pub public_url: String,
    /// Key for `/operator/v1`.
    pub operator_key: String,
    /// Real time for creation, last use and idle expiry.
    pub wall: ServerClock,
    pub transfer_writer: TransferWriter,
    /// How webhooks are delivered, and the HTTP client every sandbox's dispatcher shares.
    pub webhook_settings: Arc<crate::config::WebhookSettings>,
    pub webhook_http: reqwest::Client,
    /// The writer's receiving end, taken by `run` when it starts the thread.
    pub(crate) transfer_worker: Mutex<Option<TransferWriterWorker>>,
    /// Live sandboxes by id: read on every request.
    sandboxes: RwLock<HashMap<Arc<str>, Sandbox>>,
    /// Their registry records (scenario source, snapshots, …), as stored.
    pub(crate) records: Mutex<HashMap<String, SandboxRecord>>,
    /// Parsed scenarios by fingerprint, shared by the sandboxes built from the same text.
    pub(crate) scenarios: Mutex<HashMap<String, Arc<LoadedScenario>>>,
    /// Serializes creation, deletion, reset, snapshot and restore.
    pub(crate) lifecycle: tokio::sync::Mutex<()>,
    /// Bumped whenever a sandbox is (re)installed: requests that arrive while their sandbox
    /// is being reset or restored wait on it instead of failing.
    installed: tokio::sync::watch::Sender<u64>,
}

impl Server {
    pub(crate) fn new(parts: ServerParts) -> Server {
        Server(Arc::new(parts))
    }

    pub(crate) fn parts(
        config: Config,
        storage: Arc<Storage>,
        public_url: String,
        operator_key: String,
    ) -> ServerParts {
        let (transfer_writer, worker) = crate::services::transfer_writer::transfer_writer();
        let webhook_settings = Arc::new(config.webhooks.clone());
        let webhook_http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(webhook_settings.timeout)
            .user_agent(concat!("sandbank-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        ServerParts {
            webhook_settings,
            webhook_http,
            config,
            storage,
            public_url,
            operator_key,
            wall: ServerClock::default(),
            transfer_writer,
            transfer_worker: Mutex::new(Some(worker)),
            sandboxes: RwLock::new(HashMap::new()),
            records: Mutex::new(HashMap::new()),
            scenarios: Mutex::new(HashMap::new()),
            lifecycle: tokio::sync::Mutex::new(()),
            installed: tokio::sync::watch::Sender::new(0),
        }
    }

    /// A live sandbox by id.
    pub fn sandbox(&self, id: &str) -> Option<Sandbox> {
        self.sandboxes.read().ok()?.get(id).cloned()
    }

    /// The sandbox served at the root paths.
    pub fn default_sandbox(&self) -> Option<Sandbox> {
        self.sandbox(DEFAULT_SANDBOX)
    }

    /// Every live sandbox, in no particular order (the workers walk them often; the
    /// operator's listing sorts).
    pub fn sandboxes(&self) -> Vec<Sandbox> {
        self.sandboxes
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether `id` is a sandbox of this server, served or (while it is reset or restored)
    /// briefly not.
    pub fn is_registered(&self, id: &str) -> bool {
        self.records.lock().map(|r| r.contains_key(id)).unwrap_or(false)
    }

    pub fn sandbox_count(&self) -> usize {
        self.sandboxes.read().map(|m| m.len()).unwrap_or(0)
    }

    /// Serves `sandbox` from now on (replacing the handle of the same id, if any).
    pub(crate) fn install(&self, sandbox: Sandbox) {
        if let Ok(mut m) = self.sandboxes.write() {
            m.insert(sandbox.id.clone(), sandbox);
        }
        self.installed.send_modify(|n| *n += 1);
    }

    /// The sandbox `id`, waiting up to `patience` while it is being reset or restored.
    /// `None` when there is no such sandbox (or it did not come back in time).
    pub async fn sandbox_when_ready(&self, id: &str, patience: std::time::Duration) -> Option<Sandbox> {
        if let Some(s) = self.sandbox(id) {
            return Some(s);
        }
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            // Subscribe before looking, so an install in between is not missed.
            let mut changes = self.installed.subscribe();
            if let Some(s) = self.sandbox(id) {
                return Some(s);
            }
            if !self.is_registered(id) {
                return None;
            }
            if tokio::time::timeout_at(deadline, changes.changed()).await.is_err() {
                return None;
            }
        }
    }

    /// Stops serving a sandbox; its URLs answer 404 from now on.
    pub(crate) fn uninstall(&self, id: &str) -> Option<Sandbox> {
        let old = self.sandboxes.write().ok()?.remove(id)?;
        // Its records are about to be replaced or removed: the old handle must not store
        // its fault counters over them.
        old.faults.retire();
        old.capacity.retire();
        old.webhooks.retire();
        Some(old)
    }

    /// Whether `key` is the operator key (compared as hashes).
    pub fn is_operator_key(&self, key: &str) -> bool {
        crate::ids::sha256_b64(key.as_bytes()) == crate::ids::sha256_b64(self.operator_key.as_bytes())
    }
}

impl ServerParts {
    /// The path prefix a sandbox is served under: "" for the default one, `/s/{id}` for others.
    pub fn base_path(&self, id: &str) -> String {
        if id == DEFAULT_SANDBOX {
            String::new()
        } else {
            format!("/s/{id}")
        }
    }

    /// The issuer (base URL) of the sandbox `id`.
    pub fn base_url(&self, id: &str) -> String {
        format!("{}{}", self.public_url, self.base_path(id))
    }
}

impl std::ops::Deref for Server {
    type Target = ServerParts;
    fn deref(&self) -> &ServerParts {
        &self.0
    }
}
