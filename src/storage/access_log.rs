//! The API access log (who did what, with which result), kept per sandbox, newest first.

use super::codec::{decode, encode};
use super::{Result, SandboxStore};
use serde::{Deserialize, Serialize};

/// One recorded API call. Never holds tokens or passwords.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessLogEntry {
    pub id: u64,
    /// Sandbox time, RFC 3339.
    pub time: String,
    pub request_id: String,
    pub client_id: Option<String>,
    pub user_id: Option<String>,
    /// `METHOD /route/template`.
    pub operation: String,
    pub account_id: Option<String>,
    pub status: u16,
    pub latency_micros: u64,
    pub end_user_ip: Option<String>,
}

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct AccessLogFilter {
    pub client_id: Option<String>,
    pub user_id: Option<String>,
    pub account_id: Option<String>,
    pub status: Option<u16>,
    /// Substring of the operation.
    pub operation: Option<String>,
    /// Only entries older than this id (paging).
    pub before: Option<u64>,
    pub limit: usize,
}

impl AccessLogFilter {
    fn matches(&self, e: &AccessLogEntry) -> bool {
        let eq = |want: &Option<String>, have: &Option<String>| {
            want.as_ref().is_none_or(|w| have.as_deref() == Some(w.as_str()))
        };
        eq(&self.client_id, &e.client_id)
            && eq(&self.user_id, &e.user_id)
            && eq(&self.account_id, &e.account_id)
            && self.status.is_none_or(|s| s == e.status)
            && self.operation.as_ref().is_none_or(|o| e.operation.contains(o.as_str()))
    }
}

impl SandboxStore {
    /// A new, increasing entry id.
    pub fn next_access_log_id(&self) -> Result<u64> {
        Ok(self.storage.db.generate_id()?)
    }

    pub fn append_access_log(&self, entry: &AccessLogEntry) -> Result<()> {
        let key = self.key(&[&entry.id.to_be_bytes()]);
        self.storage.access_log.insert(key, encode(entry)?)?;
        Ok(())
    }

    /// Matching entries, newest first, and whether more remain.
    pub fn access_logs(&self, f: &AccessLogFilter) -> Result<(Vec<AccessLogEntry>, bool)> {
        let lo = self.key(&[b""]);
        let hi = match f.before {
            Some(id) => self.key(&[&id.to_be_bytes()]),
            None => self.key(&[&u64::MAX.to_be_bytes()]),
        };
        let mut out = Vec::new();
        for kv in self.storage.access_log.range(lo..hi).rev() {
            let e: AccessLogEntry = decode(&kv?.1)?;
            if !f.matches(&e) {
                continue;
            }
            if out.len() == f.limit {
                return Ok((out, true));
            }
            out.push(e);
        }
        Ok((out, false))
    }
}
