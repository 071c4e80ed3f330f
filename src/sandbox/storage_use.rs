//! A sandbox's last measured storage use against its quota (measured by `services::quota`;
//! the request path reads one flag).

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

/// No quota.
const NONE: u64 = u64::MAX;

/// The last measured use of one sandbox handle.
pub struct StorageUse {
    live: AtomicU64,
    snapshots: AtomicU64,
    quota: AtomicU64,
    over: AtomicBool,
    /// Real time of the last measurement (0: not yet).
    measured_at: AtomicI64,
    /// Requests served when it was measured (a sandbox nobody used is not measured again).
    measured_requests: AtomicU64,
}

impl Default for StorageUse {
    fn default() -> Self {
        StorageUse {
            live: AtomicU64::new(0),
            snapshots: AtomicU64::new(0),
            quota: AtomicU64::new(NONE),
            over: AtomicBool::new(false),
            measured_at: AtomicI64::new(0),
            measured_requests: AtomicU64::new(0),
        }
    }
}

/// A sandbox's use against its quota, for the operator's listing and refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UseReport {
    /// Bytes of its live world's records.
    pub live: u64,
    /// Bytes of its snapshots' records.
    pub snapshots: u64,
    /// Its quota in bytes; `None` for none.
    pub quota: Option<u64>,
    /// Real time of the measurement (Unix seconds; 0: not measured yet).
    pub measured_at: i64,
}

impl UseReport {
    pub fn used(&self) -> u64 {
        self.live + self.snapshots
    }

    pub fn over(&self) -> bool {
        self.quota.is_some_and(|q| self.used() > q)
    }
}

impl StorageUse {
    /// Whether the sandbox was over its quota when last measured (the request path's check).
    pub fn is_over(&self) -> bool {
        self.over.load(Ordering::Relaxed)
    }

    pub fn report(&self) -> UseReport {
        let quota = self.quota.load(Ordering::Acquire);
        UseReport {
            live: self.live.load(Ordering::Acquire),
            snapshots: self.snapshots.load(Ordering::Acquire),
            quota: (quota != NONE).then_some(quota),
            measured_at: self.measured_at.load(Ordering::Acquire),
        }
    }

    /// Real time of the last measurement (0: not yet).
    pub fn measured_at(&self) -> i64 {
        self.measured_at.load(Ordering::Acquire)
    }

    /// Requests the sandbox had served when it was last measured.
    pub fn measured_requests(&self) -> u64 {
        self.measured_requests.load(Ordering::Acquire)
    }

    /// Records a measurement taken when the sandbox had served `requests`.
    pub fn store(&self, r: UseReport, requests: u64) {
        self.live.store(r.live, Ordering::Release);
        self.snapshots.store(r.snapshots, Ordering::Release);
        self.quota.store(r.quota.unwrap_or(NONE), Ordering::Release);
        self.measured_at.store(r.measured_at, Ordering::Release);
        self.measured_requests.store(requests, Ordering::Release);
        self.over.store(r.over(), Ordering::Release);
    }
}
