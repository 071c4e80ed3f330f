//! The API access log (who did what, with which result), kept per sandbox, newest first.
//! Entries are buffered in memory and written in chunks: one sled value holds up to
//! `CHUNK` consecutive entries under the id of its first entry, so a busy sandbox writes a
//! few values per interval instead of one copy-on-write node update per request. Reading
//! the log writes the buffer first.
//!
//! A request only queues its raw facts (`PendingAccess`) on a lock-free channel; the
//! formatting (time, operation, account id) happens when the queue is written, off the
//! request's path.

use super::codec::{decode, encode};
use super::{Result, SandboxStore};
use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};

/// Most entries stored in one sled value.
const CHUNK: usize = 512;

/// Calls not yet written, and the next entry id.
pub struct AccessLogBuffer {
    queue: Sender<PendingAccess>,
    pending: Mutex<Receiver<PendingAccess>>,
    next_id: AtomicU64,
    loaded: std::sync::OnceLock<()>,
}

impl Default for AccessLogBuffer {
    fn default() -> Self {
        let (queue, pending) = channel();
        AccessLogBuffer {
            queue,
            pending: Mutex::new(pending),
            next_id: AtomicU64::new(0),
            loaded: std::sync::OnceLock::new(),
        }
    }
}

/// The facts of one API call as the request path has them; `AccessLogEntry` is what is
/// stored and shown.
#[derive(Debug)]
pub struct PendingAccess {
    /// Sandbox time of the answer.
    pub at: jiff::Timestamp,
    pub request_id: String,
    pub client_id: Option<String>,
    pub user_id: Option<String>,
    pub method: &'static str,
    /// The route template.
    pub route: String,
    /// The raw query string (its `accountId` is logged).
    pub query: Option<String>,
    pub end_user_ip: Option<std::net::IpAddr>,
    pub status: u16,
    pub fault_rule: Option<String>,
    /// Why a refused call was refused (a stable reason code) and the detail it was told.
    pub reason: Option<(std::borrow::Cow<'static, str>, String)>,
    pub latency_micros: u64,
    /// The operation kind its route declares (for the request metrics).
    pub kind: Option<crate::domain::fault::RequestKind>,
}

impl PendingAccess {
    fn into_entry(self, id: u64) -> AccessLogEntry {
        let account_id = self.query.as_deref().and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "accountId")
                .map(|(_, v)| v.chars().take(32).collect::<String>())
        });
        AccessLogEntry {
            id,
            time: crate::clock::format_jst(self.at),
            request_id: self.request_id,
            client_id: self.client_id,
            user_id: self.user_id,
            operation: format!("{} {}", self.method, self.route),
            account_id,
            status: self.status,
            fault_rule: self.fault_rule,
            latency_micros: self.latency_micros,
            end_user_ip: self.end_user_ip.map(|ip| ip.to_string()),
            kind: self.kind,
            reason: self.reason.as_ref().map(|(r, _)| r.to_string()),
            // Bounded: a detail is a sentence, never a body.
            detail: self.reason.map(|(_, d)| d.chars().take(600).collect()),
        }
    }
}

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
    /// 0 when the connection was cut without an answer (a fault).
    pub status: u16,
    /// The fault rule that made or changed the answer, if any.
    pub fault_rule: Option<String>,
    pub latency_micros: u64,
    pub end_user_ip: Option<String>,
    /// The operation kind its route declared; known only on the way to storage (metrics).
    #[serde(skip)]
    pub kind: Option<crate::domain::fault::RequestKind>,
    /// For a refused call: the stable reason code the refusing code named.
    pub reason: Option<String>,
    /// For a refused call: the detail it was told.
    pub detail: Option<String>,
}

/// An entry as stored before reasons were recorded (read back from older data dirs).
#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
struct EntryWithoutReason {
    id: u64,
    time: String,
    request_id: String,
    client_id: Option<String>,
    user_id: Option<String>,
    operation: String,
    account_id: Option<String>,
    status: u16,
    fault_rule: Option<String>,
    latency_micros: u64,
    end_user_ip: Option<String>,
}

/// The first byte of a chunk stored with reasons. A chunk stored before them starts with its
/// entry count, which is never 0, so the two shapes cannot be mistaken for each other.
const WITH_REASONS: u8 = 0;

fn encode_chunk(chunk: &[AccessLogEntry]) -> Result<Vec<u8>> {
    let mut bytes = vec![WITH_REASONS];
    bytes.extend_from_slice(&encode(&chunk)?);
    Ok(bytes)
}

/// A stored chunk, in today's shape or the one before reasons.
fn decode_chunk(bytes: &[u8]) -> Result<Vec<AccessLogEntry>> {
    if let Some(rest) = bytes.strip_prefix(&[WITH_REASONS]) {
        return decode(rest);
    }
    let old: Vec<EntryWithoutReason> = decode(bytes)?;
    Ok(old
        .into_iter()
        .map(|o| AccessLogEntry {
            id: o.id,
            time: o.time,
            request_id: o.request_id,
            client_id: o.client_id,
            user_id: o.user_id,
            operation: o.operation,
            account_id: o.account_id,
            status: o.status,
            fault_rule: o.fault_rule,
            latency_micros: o.latency_micros,
            end_user_ip: o.end_user_ip,
            kind: None,
            reason: None,
            detail: None,
        })
        .collect())
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
    /// Only entries at or after this sandbox time (RFC 3339 as the log writes it, +09:00).
    pub since: Option<String>,
    /// Only entries before this sandbox time (same form).
    pub until: Option<String>,
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
            // The log's times share one fixed-width +09:00 form, so text order is time order.
            && self.since.as_ref().is_none_or(|t| e.time.as_str() >= t.as_str())
            && self.until.as_ref().is_none_or(|t| e.time.as_str() < t.as_str())
    }
}

impl SandboxStore {
    fn log_buffer(&self) -> &AccessLogBuffer {
        let buffer = &*self.log_buffer;
        buffer.loaded.get_or_init(|| {
            // Continue numbering after the newest stored entry.
            // (Only while the engine is being reopened after a disk fault is it missing; the
            // log then numbers from 1 again for this handle.)
            let engine = self.storage.engine().ok();
            let last = engine
                .and_then(|e| e.access_log.scan_prefix(&*self.prefix).next_back())
                .and_then(|kv| kv.ok())
                .and_then(|(_, v)| decode_chunk(&v).ok())
                .and_then(|chunk| chunk.last().map(|e| e.id))
                .unwrap_or(0);
            buffer.next_id.store(last + 1, Ordering::Relaxed);
        });
        buffer
    }

    /// Queues a call; `write_access_log` gives it its id and stores it.
    pub fn append_access_log(&self, call: PendingAccess) {
        // The receiver lives as long as the buffer, so a send cannot fail.
        let _ = self.log_buffer.queue.send(call);
    }

    /// Writes the queued calls, numbered in queue order, one stored chunk at a time (a busy
    /// second queues tens of thousands: chunk by chunk, the same buffers are reused instead of
    /// one large allocation the allocator hands back to the system after each round). Hands each
    /// written chunk to `written`; answers how many were written.
    pub fn write_access_log(&self, mut written: impl FnMut(&[AccessLogEntry])) -> Result<usize> {
        let buffer = self.log_buffer();
        let Ok(pending) = buffer.pending.lock() else {
            return Ok(0);
        };
        let mut chunk = Vec::with_capacity(CHUNK);
        let mut total = 0;
        loop {
            chunk.clear();
            chunk.extend(
                pending
                    .try_iter()
                    .take(CHUNK)
                    .map(|call| call.into_entry(buffer.next_id.fetch_add(1, Ordering::Relaxed))),
            );
            let Some(first) = chunk.first() else { break };
            self.storage
                .engine()?
                .access_log
                .insert(self.key(&[&first.id.to_be_bytes()]), encode_chunk(&chunk)?)?;
            written(&chunk);
            total += chunk.len();
            if chunk.len() < CHUNK {
                break;
            }
        }
        Ok(total)
    }

    /// Deletes the oldest entries so that at most about `keep` remain (whole chunks go, so
    /// up to one chunk more may stay).
    /// Deletes the chunks whose newest entry is older than `cutoff` (sandbox time), oldest
    /// first (the log's retention by age).
    pub fn prune_access_log_before(&self, cutoff: jiff::Timestamp) -> Result<()> {
        let engine = self.storage.engine()?;
        let (lo, hi) = (self.key(&[b""]), self.key(&[&u64::MAX.to_be_bytes()]));
        let mut batch = sled::Batch::default();
        let mut any = false;
        for kv in engine.access_log.range(lo..hi) {
            let (k, v) = kv?;
            let chunk = decode_chunk(&v)?;
            let newest = chunk.last().and_then(|e| e.time.parse::<jiff::Timestamp>().ok());
            if newest.is_none_or(|t| t >= cutoff) {
                break;
            }
            batch.remove(k);
            any = true;
        }
        if any {
            engine.access_log.apply_batch(batch)?;
        }
        Ok(())
    }

    pub fn prune_access_log(&self, keep: u64) -> Result<()> {
        let next = self.log_buffer().next_id.load(Ordering::Relaxed);
        let Some(cutoff) = next.checked_sub(keep + CHUNK as u64) else {
            return Ok(());
        };
        let engine = self.storage.engine()?;
        let (lo, hi) = (self.key(&[b""]), self.key(&[&cutoff.to_be_bytes()]));
        let mut batch = sled::Batch::default();
        let mut any = false;
        for kv in engine.access_log.range(lo..hi) {
            batch.remove(kv?.0);
            any = true;
        }
        if any {
            engine.access_log.apply_batch(batch)?;
        }
        Ok(())
    }

    /// Matching stored entries, newest first, and whether more remain (write the queued ones
    /// first to see them).
    pub fn access_logs(&self, f: &AccessLogFilter) -> Result<(Vec<AccessLogEntry>, bool)> {
        let (out, end) = self.scan_access_log(f, usize::MAX)?;
        Ok((out, !matches!(end, ScanEnd::Start)))
    }

    /// Like `access_logs`, but looks at no more than about `budget` entries (a filter that
    /// matches few calls would otherwise read the whole log for one page): answers the
    /// matches and where the search stopped.
    pub fn access_logs_within(&self, f: &AccessLogFilter, budget: usize) -> Result<(Vec<AccessLogEntry>, ScanEnd)> {
        self.scan_access_log(f, budget)
    }

    fn scan_access_log(&self, f: &AccessLogFilter, budget: usize) -> Result<(Vec<AccessLogEntry>, ScanEnd)> {
        let lo = self.key(&[b""]);
        let hi = match f.before {
            Some(id) => self.key(&[&id.to_be_bytes()]),
            None => self.key(&[&u64::MAX.to_be_bytes()]),
        };
        let mut out = Vec::new();
        let mut looked = 0usize;
        // Chunks are keyed by their first id, so every chunk holding an id below `before`
        // starts below it.
        for kv in self.storage.engine()?.access_log.range(lo..hi).rev() {
            let chunk = decode_chunk(&kv?.1)?;
            let first = chunk.first().map(|e| e.id);
            for e in chunk.into_iter().rev() {
                if f.before.is_some_and(|b| e.id >= b) || !f.matches(&e) {
                    continue;
                }
                if out.len() == f.limit {
                    return Ok((out, ScanEnd::Full));
                }
                out.push(e);
            }
            looked += CHUNK;
            if looked >= budget
                && let Some(first) = first
            {
                return Ok((out, ScanEnd::Looked(first)));
            }
        }
        Ok((out, ScanEnd::Start))
    }
}

/// Where a search of the log stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanEnd {
    /// At the oldest entry: nothing older remains.
    Start,
    /// The page is full; older matches may remain.
    Full,
    /// The budget was spent: entries before this id were not looked at.
    Looked(u64),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn old_entry(id: u64) -> EntryWithoutReason {
        EntryWithoutReason {
            id,
            time: "2026-11-21T09:00:00+09:00".into(),
            request_id: format!("req-{id}"),
            client_id: Some("demo-pfm".into()),
            user_id: None,
            operation: "GET /personal/v1/accounts".into(),
            account_id: None,
            status: 401,
            fault_rule: None,
            latency_micros: 7,
            end_user_ip: None,
        }
    }

    #[test]
    fn chunks_stored_before_reasons_still_read_and_new_ones_keep_theirs() {
        let old: Vec<EntryWithoutReason> = (1..=3).map(old_entry).collect();
        let read = decode_chunk(&encode(&old).unwrap()).unwrap();
        assert_eq!(read.len(), 3);
        assert_eq!(read[2].request_id, "req-3");
        assert_eq!(read[0].reason, None);
        let mut new = read.clone();
        new[1].reason = Some("token_expired".into());
        new[1].detail = Some("the access token expired at …".into());
        let back = decode_chunk(&encode_chunk(&new).unwrap()).unwrap();
        assert_eq!(back, new);
    }
}
