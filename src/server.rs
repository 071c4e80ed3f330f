//! The server process: its settings, the storage every sandbox lives in, the registry of
//! sandboxes, the operator key, and the handles of the workers that serve every sandbox.
//! Cheap to clone.

use crate::clock::ServerClock;
use crate::config::Config;
use crate::sandbox::{DEFAULT_SANDBOX, Sandbox};
use crate::scenario::LoadedScenario;
use crate::storage::Storage;
use crate::storage::group_commit::{GroupWriter, GroupWriterWorker};
use crate::storage::registry::SandboxRecord;
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
    pub transfer_writer: GroupWriter,
    /// How webhooks are delivered, and the HTTP client every sandbox's dispatcher shares.
    pub webhook_settings: Arc<crate::config::WebhookSettings>,
    pub webhook_http: reqwest::Client,
    /// The writer's receiving end, taken by `run` when it starts the thread.
    pub(crate) transfer_worker: Mutex<Option<GroupWriterWorker>>,
    /// Live sandboxes by id: read on every request.
    sandboxes: RwLock<HashMap<Arc<str>, Sandbox>>,
    /// Their registry records (scenario source, snapshots, …), as stored.
    pub(crate) records: Mutex<HashMap<String, SandboxRecord>>,
    /// Parsed scenarios by fingerprint, shared by the sandboxes built from the same text.
    pub(crate) scenarios: Mutex<HashMap<String, Arc<LoadedScenario>>>,
    /// Serializes creations (the count against `max-sandboxes`).
    pub(crate) lifecycle: tokio::sync::Mutex<()>,
    /// One lock per sandbox: its delete, reset, snapshot, restore and snapshot deletion run
    /// one at a time.
    pub(crate) lifecycle_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Sandboxes that could not be loaded at start, with the reason: registered, not served.
    pub(crate) quarantined: Mutex<HashMap<String, String>>,
    /// Key spaces being built right now (garbage collection leaves them alone).
    pub(crate) building: Mutex<std::collections::HashSet<String>>,
    /// State a face keeps for the whole server (the portal's sessions), by its type.
    pub attachments: crate::sandbox::Attachments,
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
        webhook_http: reqwest::Client,
    ) -> ServerParts {
        let (transfer_writer, worker) = crate::storage::group_commit::group_writer();
        let webhook_settings = Arc::new(config.webhooks.clone());
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
            lifecycle_locks: Mutex::new(HashMap::new()),
            quarantined: Mutex::new(HashMap::new()),
            building: Mutex::new(Default::default()),
            attachments: Default::default(),
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

    /// The registry record of a sandbox, served or quarantined.
    pub fn record(&self, id: &str) -> Option<SandboxRecord> {
        self.records.lock().ok().and_then(|r| r.get(id).cloned())
    }

    /// Whether `id` is a sandbox of this server, served or quarantined.
    pub fn is_registered(&self, id: &str) -> bool {
        self.records.lock().map(|r| r.contains_key(id)).unwrap_or(false)
    }

    /// Why the sandbox `id` is quarantined (not loaded at start), if it is.
    pub fn quarantine_reason(&self, id: &str) -> Option<String> {
        self.quarantined.lock().ok()?.get(id).cloned()
    }

    pub fn sandbox_count(&self) -> usize {
        self.sandboxes.read().map(|m| m.len()).unwrap_or(0)
    }

    /// Serves `sandbox` from now on; the handle it replaces (if any) is retired, so requests
    /// waiting at its gate look the sandbox up again and find this one.
    pub(crate) fn install(&self, sandbox: Sandbox) {
        let old = match self.sandboxes.write() {
            Ok(mut m) => m.insert(sandbox.id.clone(), sandbox),
            Err(_) => None,
        };
        if let Some(old) = old {
            retire(&old);
        }
    }

    /// Stops serving a sandbox; its URLs answer 404 from now on.
    pub(crate) fn uninstall(&self, id: &str) -> Option<Sandbox> {
        let old = self.sandboxes.write().ok()?.remove(id)?;
        retire(&old);
        Some(old)
    }

    /// Whether `key` is the operator key (compared as hashes).
    pub fn is_operator_key(&self, key: &str) -> bool {
        crate::ids::sha256_b64(key.as_bytes()) == crate::ids::sha256_b64(self.operator_key.as_bytes())
    }
}

/// Retires a handle that is no longer served: its world is about to be replaced or removed,
/// so it must not store fault counters, quota counts or webhook state over it.
fn retire(old: &Sandbox) {
    old.faults.retire();
    old.capacity.retire();
    old.webhooks.retire();
    old.gate.retire();
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
