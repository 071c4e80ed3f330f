//! A sandbox's maintenance windows: from the scenario on a fresh sandbox, changed through the
//! control plane, stored with the sandbox. The policy layer asks which window stops a request
//! now; the public API lists the announced ones.

use crate::domain::fault::RequestKind;
use crate::domain::maintenance::{self, CompiledWindow, MaintenanceWindow, Occurrence};
use crate::scenario::LoadedScenario;
use crate::storage::{SandboxStore, StorageError};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};

const META_MAINTENANCE: &str = "maintenance";
/// Most windows a sandbox holds.
pub const MAX_WINDOWS: usize = 100;
/// How far ahead the public listing looks.
pub const HORIZON: SignedDuration = SignedDuration::from_hours(24 * 62);

#[derive(Default, Serialize, Deserialize)]
struct Stored {
    windows: Vec<MaintenanceWindow>,
    next_id: u64,
}

/// Why a window was refused.
#[derive(Debug, thiserror::Error)]
pub enum WindowError {
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    #[error("a window with id {0:?} already exists; delete it first or choose another id")]
    Duplicate(String),
    #[error("a sandbox holds at most {MAX_WINDOWS} maintenance windows")]
    TooMany,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

struct State {
    windows: Vec<CompiledWindow>,
    next_id: u64,
}

/// The maintenance windows of one sandbox.
pub struct Maintenance {
    /// Whether any window exists (the layer's fast path when none does).
    active: AtomicBool,
    state: RwLock<State>,
    writing: Mutex<()>,
}

/// A window stopping a request now.
#[derive(Debug, Clone)]
pub struct InWindow {
    pub id: String,
    pub description: Option<String>,
    pub occurrence: Occurrence,
}

impl Maintenance {
    /// The windows stored in the sandbox, or the scenario's on a fresh one.
    pub fn open(store: &SandboxStore, scenario: &LoadedScenario) -> Result<Maintenance, StorageError> {
        let stored: Stored = match store.meta_get(META_MAINTENANCE)? {
            Some(b) => serde_json::from_slice(&b).unwrap_or_default(),
            None => Stored {
                windows: scenario.scenario.maintenance.clone(),
                next_id: 1,
            },
        };
        let mut windows = Vec::new();
        for (i, w) in stored.windows.iter().enumerate() {
            let id = w.id.clone().unwrap_or_else(|| format!("maintenance-{}", i + 1));
            // Operations were checked when it was added (or the scenario loaded); one that no
            // longer compiles is left out rather than stopping the sandbox from opening.
            if let Ok(c) = maintenance::compile(w, &id, &|_| true) {
                windows.push(c);
            }
        }
        let m = Maintenance {
            active: AtomicBool::new(!windows.is_empty()),
            state: RwLock::new(State {
                windows,
                next_id: stored.next_id.max(1),
            }),
            writing: Mutex::new(()),
        };
        Ok(m)
    }

    /// Whether any window exists.
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The window (announced or not) that stops a request of this kind to this method and
    /// route at `now`.
    pub fn stopping(&self, kind: RequestKind, method: &str, route: &str, now: Timestamp) -> Option<InWindow> {
        if !self.active.load(Ordering::Acquire) {
            return None;
        }
        let st = self.read();
        st.windows.iter().find_map(|w| {
            if !w.covers(kind, method, route) {
                return None;
            }
            w.current(now).map(|o| InWindow {
                id: w.id.clone(),
                description: w.spec.description.clone(),
                occurrence: o,
            })
        })
    }

    /// Every window as written.
    pub fn list(&self) -> Vec<MaintenanceWindow> {
        self.read().windows.iter().map(|w| w.spec.clone()).collect()
    }

    /// One window as written.
    pub fn get(&self, id: &str) -> Option<MaintenanceWindow> {
        self.read().windows.iter().find(|w| w.id == id).map(|w| w.spec.clone())
    }

    /// Occurrences running now or coming within the horizon that are announced by `now`,
    /// in order of start: what the public listing shows.
    pub fn announced(&self, now: Timestamp) -> Vec<(MaintenanceWindow, Occurrence)> {
        let st = self.read();
        let mut out: Vec<(MaintenanceWindow, Occurrence)> = st
            .windows
            .iter()
            .flat_map(|w| {
                w.occurrences(now, now + HORIZON)
                    .into_iter()
                    .filter(|o| o.announced_at.is_none_or(|a| a <= now))
                    .map(|o| (w.spec.clone(), o))
                    .collect::<Vec<_>>()
            })
            .collect();
        out.sort_by_key(|(_, o)| o.start);
        out
    }

    /// Adds a window (its id given or made up) and stores it.
    pub fn add(
        &self,
        store: &SandboxStore,
        w: &MaintenanceWindow,
        operation_exists: &dyn Fn(&str) -> bool,
    ) -> Result<MaintenanceWindow, WindowError> {
        self.change(store, |st| {
            if st.windows.len() >= MAX_WINDOWS {
                return Err(WindowError::TooMany);
            }
            let id = match &w.id {
                Some(id) => {
                    if st.windows.iter().any(|x| &x.id == id) {
                        return Err(WindowError::Duplicate(id.clone()));
                    }
                    id.clone()
                }
                None => loop {
                    let id = format!("maintenance-{}", st.next_id);
                    st.next_id += 1;
                    if !st.windows.iter().any(|x| x.id == id) {
                        break id;
                    }
                },
            };
            let c = maintenance::compile(w, &id, operation_exists).map_err(WindowError::Invalid)?;
            let spec = c.spec.clone();
            st.windows.push(c);
            Ok(spec)
        })
    }

    /// Removes one window (or all with `None`); answers whether anything was there.
    pub async fn remove(&self, store: &SandboxStore, id: Option<&str>) -> Result<bool, WindowError> {
        store.durable(self.remove_unsynced(store, id)).await
    }

    fn remove_unsynced(&self, store: &SandboxStore, id: Option<&str>) -> Result<bool, WindowError> {
        self.change(store, |st| {
            let before = st.windows.len();
            match id {
                Some(id) => st.windows.retain(|w| w.id != id),
                None => st.windows.clear(),
            }
            Ok(st.windows.len() != before || id.is_none())
        })
    }

    fn change<T>(
        &self,
        store: &SandboxStore,
        change: impl FnOnce(&mut State) -> Result<T, WindowError>,
    ) -> Result<T, WindowError> {
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let (out, bytes) = {
            let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
            let out = change(&mut st)?;
            self.active.store(!st.windows.is_empty(), Ordering::Release);
            let stored = Stored {
                windows: st.windows.iter().map(|w| w.spec.clone()).collect(),
                next_id: st.next_id,
            };
            (out, serde_json::to_vec(&stored).unwrap_or_default())
        };
        store.meta_put(META_MAINTENANCE, &bytes)?;
        Ok(out)
    }

    /// The next occurrence of window `id` from `now` (within the planning horizon).
    pub fn next_occurrence(&self, id: &str, now: Timestamp) -> Option<Occurrence> {
        self.read()
            .windows
            .iter()
            .find(|c| c.id == id)
            .and_then(|c| c.occurrences(now, now + HORIZON).into_iter().next())
    }
}
