//! A sandbox's fault rules and transfer outcome rules, with the counters and the seeded random
//! stream that decide when a rule fires. All of it is sandbox state: it is stored in the
//! sandbox's records (so it survives a restart and goes back with a reset or a snapshot
//! restore), and the same rules with the same requests give the same faults.

use crate::domain::codes::BankCode;
use crate::domain::fault::{self, CompiledRule, Effect, FaultEffect, FaultRule, RequestFacts, RuleContext};
use crate::domain::outcome::{self, CompiledOutcome, ItemFacts, OutcomeRule};
use crate::scenario::LoadedScenario;
use crate::storage::{SandboxStore, StorageError};
use jiff::{SignedDuration, Timestamp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// Where the state is kept in the sandbox's records.
const META_FAULTS: &str = "faults";
/// Most rules of each kind a sandbox holds.
pub const MAX_RULES: usize = 500;
/// The rule id an answer made by the `Sandbank-Simulate` header carries.
pub const SIMULATE_RULE_ID: &str = "simulate-header";

/// A rule and how often it was met. The counters are atomics so that a rule that fires on
/// every match can be counted under the shared lock (see `decide`).
#[derive(Debug)]
struct Counted {
    rule: CompiledRule,
    /// Matching requests counted (those in its window, while it had uses left).
    seen: AtomicU64,
    /// Times it fired.
    hits: AtomicU64,
    /// Fires on every match without drawing from the stream: no `nth`, `every`,
    /// `probability` or `times`, and no random latency.
    unconditional: bool,
}

impl Counted {
    fn new(rule: CompiledRule, seen: u64, hits: u64) -> Counted {
        let unconditional =
            rule.when.unconditional() && !matches!(rule.effect, Effect::Latency { min, max } if max > min);
        Counted {
            rule,
            seen: AtomicU64::new(seen),
            hits: AtomicU64::new(hits),
            unconditional,
        }
    }

    fn seen(&self) -> u64 {
        self.seen.load(Ordering::Relaxed)
    }

    fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }
}

struct State {
    rules: Vec<Counted>,
    outcomes: Vec<CompiledOutcome>,
    stream: ChaCha8Rng,
    next_id: u64,
    /// Set when the sandbox's handle is replaced (reset, restore, delete): nothing more is stored.
    retired: bool,
}

/// What is stored: rules as written, counters, and the stream's position.
#[derive(Serialize, Deserialize)]
struct Stored {
    rules: Vec<StoredRule>,
    outcomes: Vec<OutcomeRule>,
    /// Words drawn from the seeded stream so far (a u128 as a decimal string).
    stream_position: String,
    next_id: u64,
}

#[derive(Serialize, Deserialize)]
struct StoredRule {
    rule: FaultRule,
    seen: u64,
    hits: u64,
}

/// How the fault layer presents itself (scenario `faultSettings`).
#[derive(Debug, Clone, Copy)]
pub struct FaultOptions {
    /// Name the rule in a `sandbank-fault` response header.
    pub show_rule: bool,
    /// Accept the one-shot `Sandbank-Simulate` request header.
    pub simulate_header: bool,
}

/// A rule with its counters, as the control plane shows it.
#[derive(Debug, Clone)]
pub struct RuleView {
    pub rule: FaultRule,
    pub seen: u64,
    pub hits: u64,
    pub remaining: Option<u64>,
}

/// What the fault layer is to do with a request.
#[derive(Debug, Clone)]
pub struct Decision {
    pub rule_id: Arc<str>,
    pub effect: Effect,
    /// For latency effects: the delay drawn.
    pub delay: SignedDuration,
}

/// Why a rule was refused.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    #[error("a rule with id {0:?} already exists; delete it first or choose another id")]
    Duplicate(String),
    #[error("a sandbox holds at most {MAX_RULES} rules of each kind")]
    TooMany,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The fault and outcome rules of one sandbox.
pub struct Faults {
    /// Whether any fault rule exists (the layer's fast path when none does).
    active: AtomicBool,
    /// Whether a rule wants the request's account (which may mean reading its body).
    wants_account: AtomicBool,
    dirty: AtomicBool,
    state: RwLock<State>,
    /// Held while the state is being stored (see `change`).
    writing: Mutex<()>,
    pub options: FaultOptions,
    bank_code: BankCode,
    bank_errors: Vec<fault::BankError>,
}

fn stream_for(seed: u64) -> ChaCha8Rng {
    // A stream of its own, apart from the one generation uses.
    ChaCha8Rng::seed_from_u64(seed ^ 0x6661_756c_7473_0001)
}

fn accept_any(_: &str) -> bool {
    true
}

impl Faults {
    /// The rules stored in the sandbox, or the scenario's on a fresh (or reset) sandbox.
    pub fn open(store: &SandboxStore, scenario: &LoadedScenario) -> Result<Faults, StorageError> {
        let s = &scenario.scenario;
        let faults = Faults {
            active: AtomicBool::new(false),
            wants_account: AtomicBool::new(false),
            dirty: AtomicBool::new(false),
            writing: Mutex::new(()),
            state: RwLock::new(State {
                rules: Vec::new(),
                outcomes: Vec::new(),
                stream: stream_for(s.seed),
                next_id: 1,
                retired: false,
            }),
            options: FaultOptions {
                show_rule: s.fault_settings.show_rule,
                simulate_header: s.fault_settings.simulate_header,
            },
            bank_code: s.bank.code.clone(),
            bank_errors: s.bank_errors.clone(),
        };
        let stored: Option<Stored> = store
            .meta_get(META_FAULTS)?
            .and_then(|b| serde_json::from_slice(&b).ok());
        let (rules, outcomes, position, next_id) = match stored {
            Some(st) => (
                st.rules
                    .into_iter()
                    .map(|r| (r.rule, r.seen, r.hits))
                    .collect::<Vec<_>>(),
                st.outcomes,
                st.stream_position.parse::<u128>().unwrap_or(0),
                st.next_id,
            ),
            None => (
                s.faults.iter().map(|r| (r.clone(), 0, 0)).collect(),
                s.transfer_outcomes.clone(),
                0,
                1,
            ),
        };
        {
            let mut st = faults.lock();
            st.stream.set_word_pos(position);
            st.next_id = next_id;
            for (i, (rule, seen, hits)) in rules.into_iter().enumerate() {
                let id = rule.id.clone().unwrap_or_else(|| format!("rule-{}", i + 1));
                // Checked when they were added (or when the scenario was loaded).
                match fault::compile(&rule, &id, &faults.context(&accept_any)) {
                    Ok(rule) => st.rules.push(Counted::new(rule, seen, hits)),
                    Err(p) => {
                        tracing::warn!(rule = %id, problems = ?p, "a stored fault rule no longer compiles; skipped")
                    }
                }
            }
            for (i, rule) in outcomes.into_iter().enumerate() {
                let id = rule.id.clone().unwrap_or_else(|| format!("outcome-{}", i + 1));
                match outcome::compile(&rule, &id, &faults.bank_code) {
                    Ok(o) => st.outcomes.push(o),
                    Err(p) => {
                        tracing::warn!(rule = %id, problems = ?p, "a stored outcome rule no longer compiles; skipped")
                    }
                }
            }
            faults.refresh_flags(&st);
        }
        Ok(faults)
    }

    fn lock(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        // A panic while holding the lock leaves counters that are still consistent numbers.
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn context<'a>(&'a self, operation_exists: &'a dyn Fn(&str) -> bool) -> RuleContext<'a> {
        RuleContext {
            operation_exists,
            bank_errors: &self.bank_errors,
        }
    }

    fn refresh_flags(&self, st: &State) {
        self.active.store(!st.rules.is_empty(), Ordering::Release);
        self.wants_account
            .store(st.rules.iter().any(|r| r.rule.needs_account()), Ordering::Release);
    }

    /// Whether any fault rule exists.
    #[inline]
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Whether a rule matches on `accountId`.
    pub fn wants_account(&self) -> bool {
        self.wants_account.load(Ordering::Acquire)
    }

    /// Decides the fault for a request, counting it. Rules are tried in order; the first that
    /// fires wins and the ones after it do not see the request.
    pub fn decide(&self, facts: &RequestFacts<'_>, now: Timestamp) -> Option<Decision> {
        let live = |c: &Counted| c.rule.matches(facts, now) && !c.rule.when.used_up(c.hits());
        // Most requests match no rule, and a rule that fires on every match needs no ordered
        // counting: both are settled under the shared lock, so concurrent requests do not queue
        // behind each other.
        {
            let st = self.read();
            match st.rules.iter().find(|c| live(c)) {
                None => return None,
                Some(c) if c.unconditional => {
                    c.seen.fetch_add(1, Ordering::Relaxed);
                    c.hits.fetch_add(1, Ordering::Relaxed);
                    self.mark_dirty();
                    return Some(Decision {
                        rule_id: c.rule.id.clone(),
                        effect: c.rule.effect.clone(),
                        delay: match c.rule.effect {
                            Effect::Latency { min, .. } => min,
                            _ => SignedDuration::ZERO,
                        },
                    });
                }
                Some(_) => {}
            }
        }
        let mut guard = self.lock();
        let State { rules, stream, .. } = &mut *guard;
        let mut decision = None;
        let mut counted = false;
        for c in rules.iter() {
            if !live(c) {
                continue;
            }
            counted = true;
            let n = c.seen.fetch_add(1, Ordering::Relaxed) + 1;
            let fires = c.rule.when.fires_on(n, || stream.random::<f64>());
            if !fires {
                continue;
            }
            c.hits.fetch_add(1, Ordering::Relaxed);
            let delay = match c.rule.effect {
                Effect::Latency { min, max } if max > min => {
                    let (lo, hi) = (min.as_micros() as i64, max.as_micros() as i64);
                    SignedDuration::from_micros(stream.random_range(lo..=hi))
                }
                Effect::Latency { min, .. } => min,
                _ => SignedDuration::ZERO,
            };
            decision = Some(Decision {
                rule_id: c.rule.id.clone(),
                effect: c.rule.effect.clone(),
                delay,
            });
            break;
        }
        if counted {
            self.mark_dirty();
        }
        decision
    }

    fn mark_dirty(&self) {
        // Read first: a store on every request would bounce the cache line between cores.
        if !self.dirty.load(Ordering::Relaxed) {
            self.dirty.store(true, Ordering::Release);
        }
    }

    /// Every rule with its counters, in the order they are tried.
    pub fn list(&self) -> Vec<RuleView> {
        self.read().rules.iter().map(view).collect()
    }

    pub fn get(&self, id: &str) -> Option<RuleView> {
        self.read().rules.iter().find(|c| &*c.rule.id == id).map(view)
    }

    /// Adds a rule at the end of the list and stores it.
    pub async fn add(
        &self,
        store: &SandboxStore,
        rule: &FaultRule,
        operation_exists: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<RuleView, RuleError> {
        self.change(store, |st| {
            if st.rules.len() >= MAX_RULES {
                return Err(RuleError::TooMany);
            }
            let id = match &rule.id {
                Some(id) => id.clone(),
                None => fresh_id(st, "rule", |st, id| st.rules.iter().any(|c| &*c.rule.id == id)),
            };
            let compiled = fault::compile(rule, &id, &self.context(operation_exists)).map_err(RuleError::Invalid)?;
            if st.rules.iter().any(|c| *c.rule.id == *id) {
                return Err(RuleError::Duplicate(id));
            }
            st.rules.push(Counted::new(compiled, 0, 0));
            Ok(view(st.rules.last().expect("just pushed")))
        })
        .await
    }

    /// Deletes one rule (false: no such rule) or, with `None`, every rule.
    pub async fn remove(&self, store: &SandboxStore, id: Option<&str>) -> Result<bool, RuleError> {
        self.change(store, |st| {
            let before = st.rules.len();
            match id {
                Some(id) => st.rules.retain(|c| &*c.rule.id != id),
                None => st.rules.clear(),
            }
            Ok(st.rules.len() != before || id.is_none())
        })
        .await
    }

    /// The outcome rules, in the order they are tried.
    pub fn outcomes(&self) -> Vec<OutcomeRule> {
        self.read().outcomes.iter().map(|o| o.spec.clone()).collect()
    }

    /// Adds an outcome rule at the end of the list and stores it.
    pub async fn add_outcome(&self, store: &SandboxStore, rule: &OutcomeRule) -> Result<OutcomeRule, RuleError> {
        self.change(store, |st| {
            if st.outcomes.len() >= MAX_RULES {
                return Err(RuleError::TooMany);
            }
            let id = match &rule.id {
                Some(id) => id.clone(),
                None => fresh_id(st, "outcome", |st, id| st.outcomes.iter().any(|o| &*o.id == id)),
            };
            let compiled = outcome::compile(rule, &id, &self.bank_code).map_err(RuleError::Invalid)?;
            if st.outcomes.iter().any(|o| *o.id == *id) {
                return Err(RuleError::Duplicate(id));
            }
            let spec = compiled.spec.clone();
            st.outcomes.push(compiled);
            Ok(spec)
        })
        .await
    }

    /// Deletes one outcome rule (false: no such rule) or, with `None`, every one.
    pub async fn remove_outcome(&self, store: &SandboxStore, id: Option<&str>) -> Result<bool, RuleError> {
        self.change(store, |st| {
            let before = st.outcomes.len();
            match id {
                Some(id) => st.outcomes.retain(|o| &*o.id != id),
                None => st.outcomes.clear(),
            }
            Ok(st.outcomes.len() != before || id.is_none())
        })
        .await
    }

    /// Changes the state and stores it. The state lock is never held while storage works:
    /// the transfer writer reads outcome rules inside a storage transaction, and sled's
    /// transaction lock would then wait on ours while we wait on it. `writing` keeps stores
    /// in the order their states were taken.
    async fn change<T>(
        &self,
        store: &SandboxStore,
        change: impl FnOnce(&mut State) -> Result<T, RuleError>,
    ) -> Result<T, RuleError> {
        let out = {
            let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
            let (out, bytes) = {
                let mut st = self.lock();
                let out = change(&mut st)?;
                self.refresh_flags(&st);
                (out, self.encoded(&st))
            };
            if let Some(bytes) = bytes {
                store.meta_put(META_FAULTS, &bytes)?;
            }
            out
        };
        // Durable before the change is answered.
        store.flush().await?;
        Ok(out)
    }

    /// The first outcome rule that decides this transfer item.
    pub fn outcome_for(&self, item: &ItemFacts<'_>) -> Option<CompiledOutcome> {
        let st = self.read();
        st.outcomes.iter().find(|o| o.matches(item)).cloned()
    }

    /// A one-shot effect from the `Sandbank-Simulate` header, e.g. `status=503`,
    /// `status=503; retryAfter=30s`, `ambiguous=504`, `ambiguous=drop`, `latency=2s`,
    /// `timeout=5s`, `reset`, `tokenExpired`, `tokenRevoked`, `bankError=account_frozen`.
    pub fn simulated(&self, header: &str) -> Result<Effect, String> {
        let mut e = FaultEffect::default();
        for part in header.split([';', ',']).map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = match part.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim().to_owned())),
                None => (part, None),
            };
            let number = |v: &Option<String>| -> Result<u16, String> {
                v.as_deref()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| format!("{k}= needs a status number, e.g. {k}=503"))
            };
            match k {
                "status" => e.status = Some(number(&v)?),
                "retryAfter" => e.retry_after = v,
                "code" => e.code = v,
                "detail" => e.detail = v,
                "latency" => e.latency = v.map(fault::LatencySpec::Fixed),
                "timeout" => e.timeout = v,
                "reset" => e.reset = Some(true),
                "ambiguous" if v.as_deref() == Some("drop") => {
                    e.ambiguous = Some(fault::AmbiguousSpec {
                        status: None,
                        drop: Some(true),
                    })
                }
                "ambiguous" => {
                    e.ambiguous = Some(fault::AmbiguousSpec {
                        status: Some(number(&v)?),
                        drop: None,
                    })
                }
                "tokenExpired" => e.token_expired = Some(true),
                "tokenRevoked" => e.token_revoked = Some(true),
                "bankError" => e.bank_error = v,
                other => return Err(format!("unknown effect {other:?}")),
            }
        }
        let rule = FaultRule {
            id: None,
            description: None,
            matches: Default::default(),
            when: Default::default(),
            effect: e,
        };
        fault::compile(&rule, SIMULATE_RULE_ID, &self.context(&accept_any))
            .map(|c| c.effect)
            .map_err(|p| p.join("; "))
    }

    fn snapshot_of(&self, st: &State) -> Stored {
        Stored {
            rules: st
                .rules
                .iter()
                .map(|c| StoredRule {
                    rule: c.rule.spec.clone(),
                    seen: c.seen(),
                    hits: c.hits(),
                })
                .collect(),
            outcomes: st.outcomes.iter().map(|o| o.spec.clone()).collect(),
            stream_position: st.stream.get_word_pos().to_string(),
            next_id: st.next_id,
        }
    }

    /// The stored form of the state (none once retired).
    fn encoded(&self, st: &State) -> Option<Vec<u8>> {
        if st.retired {
            return None;
        }
        self.dirty.store(false, Ordering::Release);
        Some(serde_json::to_vec(&self.snapshot_of(st)).unwrap_or_default())
    }

    /// Stores counters and the stream position if requests moved them since the last time
    /// (the access-log writer calls this every few dozen milliseconds, and a snapshot first).
    pub fn persist(&self, store: &SandboxStore) -> Result<(), StorageError> {
        store.meta_put_if_moved(META_FAULTS, &self.dirty, &self.writing, || self.encoded(&self.read()))
    }

    /// Stops storing anything: the sandbox's records are about to be replaced. Waits for a
    /// store in progress, so nothing is written after it returns.
    pub fn retire(&self) {
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        self.lock().retired = true;
    }
}

/// The next `{prefix}-{n}` that `taken` does not already name.
fn fresh_id(st: &mut State, prefix: &str, taken: impl Fn(&State, &str) -> bool) -> String {
    loop {
        let id = format!("{prefix}-{}", st.next_id);
        st.next_id += 1;
        if !taken(st, &id) {
            return id;
        }
    }
}

fn view(c: &Counted) -> RuleView {
    RuleView {
        rule: c.rule.spec.clone(),
        seen: c.seen(),
        hits: c.hits(),
        remaining: c.rule.when.times.map(|t| t.saturating_sub(c.hits())),
    }
}
