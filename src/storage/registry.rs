//! The server's registry of sandboxes as stored: one JSON record per sandbox (its scenario,
//! key space, snapshots, secrets, quota), the schema version of the sandbox-scoped records,
//! and the names of each sandbox's own meta records.

use super::StorageError;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Version of the stored record layout. Sandbox-scoped records are postcard, so a change to
/// one of them bumps this and refuses older data dirs; the registry (one JSON record per
/// sandbox) takes new fields with `#[serde(default)]` and needs no bump. Version 5: access-log
/// entries name the fault rule, transfer items carry their pending outcome.
pub const SCHEMA_VERSION: &[u8] = b"5";

/// The server setting that holds the operator key.
pub const SETTING_OPERATOR_KEY: &str = "operator_key";

/// Names of a sandbox's own meta records.
pub mod meta {
    pub const FINGERPRINT: &str = "scenario_fingerprint";
    pub const COMPLETE: &str = "generation_complete";
    pub const CLOCK_OFFSET: &str = "clock_offset_nanos";
    pub const SIGNING_KEY: &str = "id_token_signing_key";
    pub const ADMIN_KEY: &str = "admin_key";
    pub const SCHEMA: &str = "schema_version";
    pub const OPENING_TOTAL: &str = "opening_balance_total";
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
    /// The generation of its key space (0: `{id}@{name}`, written before spaces had one).
    #[serde(default)]
    pub space: u64,
    /// Bytes of its records (0: taken before sizes were kept; measured when needed).
    #[serde(default)]
    pub bytes: u64,
}

/// A change to many records that an older version recorded before making it in place; a
/// record still carrying one after a crash is half-written (see `boot`). No longer written.
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
    /// The generation of the key space its world is in (0: `{id}`).
    #[serde(default)]
    pub space: u64,
    /// The highest generation handed out so far (spaces are never reused).
    #[serde(default)]
    pub next_space: u64,
    /// The client secrets of a created sandbox, by client id: made for it at creation (so no
    /// two sandboxes share a secret) and kept across resets. Empty for the default sandbox,
    /// which uses its scenario's secrets.
    #[serde(default)]
    pub client_secrets: std::collections::BTreeMap<String, String>,
    /// The operator's storage quota for it in MiB (0: none); absent: the server's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_quota_mb: Option<u64>,
}

impl SandboxRecord {
    /// The record as stored (JSON).
    pub fn to_bytes(&self) -> Result<Vec<u8>, StorageError> {
        serde_json::to_vec(self).map_err(|e| StorageError::Codec(e.to_string()))
    }
}

/// The key space of a sandbox's world of generation `n`.
pub fn live_space(id: &str, n: u64) -> String {
    if n == 0 { id.to_owned() } else { format!("{id}~{n}") }
}

/// The key space of a snapshot of generation `n` (no sandbox id contains `@` or `~`, no
/// snapshot name `~`).
pub fn snapshot_space(id: &str, name: &str, n: u64) -> String {
    if n == 0 {
        format!("{id}@{name}")
    } else {
        format!("{id}@{name}~{n}")
    }
}

impl super::Storage {
    /// The store of one of a sandbox's snapshots.
    pub fn snapshot_store(self: &std::sync::Arc<Self>, id: &str, snapshot: &SnapshotInfo) -> super::SandboxStore {
        self.space(id, &snapshot_space(id, &snapshot.name, snapshot.space))
    }
}
