//! Capacity enforcement for one sandbox: each client's policy and the bank-wide one, with
//! live counters — rates by governor's GCRA over real time (so load tests behave), quotas per
//! sandbox-calendar day or month (advancing the clock past midnight starts a new day), and
//! concurrency by in-flight counts. A client's own limits are checked before the bank's, so a
//! client over its limit never uses up the bank-wide capacity others share. Policies and
//! quota counts are sandbox state, stored with it.

use crate::domain::calendar::PeakDays;
use crate::domain::capacity::{self, CapacityPolicy, CompiledLimit, CompiledPolicy, QuotaWindow, Shape};
use crate::domain::fault::RequestKind;
use crate::scenario::LoadedScenario;
use crate::storage::{SandboxStore, StorageError};
use governor::clock::{Clock as _, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

const META_CAPACITY: &str = "capacity";

type Limiter = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;

fn limiter(shape: Shape) -> Option<Limiter> {
    let Shape::Rate { count, per, burst } = shape else {
        return None;
    };
    let every = per.unsigned_abs() / count.max(1);
    let quota =
        Quota::with_period(every.max(std::time::Duration::from_nanos(1)))?.allow_burst(NonZeroU32::new(burst.max(1))?);
    Some(RateLimiter::direct(quota).with_middleware::<StateInformationMiddleware>())
}

/// A quota's count in its current period.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct QuotaCount {
    /// `YYYYMMDD` of the day, or `YYYYMM00` of the month, it counts.
    period: i64,
    used: u64,
    /// When the period ends (Unix seconds, sandbox time).
    #[serde(default)]
    ends_at: i64,
}

/// A quota's count in its current period, counted with atomics (the period changes once a
/// day or month, under `switching`).
#[derive(Default)]
struct LiveQuota {
    period: AtomicI64,
    ends_at: AtomicI64,
    used: AtomicU64,
    switching: Mutex<()>,
}

impl LiveQuota {
    fn from(c: QuotaCount) -> LiveQuota {
        LiveQuota {
            period: AtomicI64::new(c.period),
            ends_at: AtomicI64::new(c.ends_at),
            used: AtomicU64::new(c.used),
            switching: Mutex::new(()),
        }
    }

    fn count(&self) -> QuotaCount {
        QuotaCount {
            period: self.period.load(Ordering::Acquire),
            used: self.used.load(Ordering::Acquire),
            ends_at: self.ends_at.load(Ordering::Acquire),
        }
    }

    /// Makes the count the one of period `key` (ending at `end()`), starting it at 0 when the
    /// period changed.
    fn enter(&self, key: i64, end: impl FnOnce() -> i64) {
        if self.period.load(Ordering::Acquire) == key && self.ends_at.load(Ordering::Acquire) != 0 {
            return;
        }
        let _switching = self.switching.lock().unwrap_or_else(|e| e.into_inner());
        if self.period.load(Ordering::Acquire) != key {
            self.used.store(0, Ordering::Release);
        }
        self.ends_at.store(end(), Ordering::Release);
        self.period.store(key, Ordering::Release);
    }
}

/// One limit with its live state.
struct LiveLimit {
    limit: CompiledLimit,
    /// Its name as answers show it (`bank.{name}` for the bank's).
    label: Arc<str>,
    normal: Option<Limiter>,
    peak: Option<Limiter>,
    quota: LiveQuota,
    in_flight: AtomicU32,
}

/// A policy with its live state.
struct LivePolicy {
    /// Whose: `None` for the bank.
    owner: Option<String>,
    spec: CapacityPolicy,
    compiled: CompiledPolicy,
    limits: Vec<LiveLimit>,
    /// Whether any limit is a quota (needs the sandbox date).
    has_quota: bool,
}

impl LivePolicy {
    fn new(
        owner: Option<String>,
        spec: CapacityPolicy,
        compiled: CompiledPolicy,
        counts: &BTreeMap<String, QuotaCount>,
    ) -> Self {
        let limits = compiled
            .limits
            .iter()
            .map(|l| LiveLimit {
                normal: limiter(l.shape),
                peak: if compiled.peak_factor != 1.0 {
                    limiter(l.scaled(compiled.peak_factor))
                } else {
                    None
                },
                quota: LiveQuota::from(counts.get(&*l.name).copied().unwrap_or_default()),
                in_flight: AtomicU32::new(0),
                label: match owner {
                    Some(_) => l.name.clone(),
                    None => format!("bank.{}", l.name).into(),
                },
                limit: l.clone(),
            })
            .collect::<Vec<_>>();
        let has_quota = limits.iter().any(|l| matches!(l.limit.shape, Shape::Quota { .. }));
        LivePolicy {
            owner,
            spec,
            compiled,
            limits,
            has_quota,
        }
    }

    fn counts(&self) -> BTreeMap<String, QuotaCount> {
        self.limits
            .iter()
            .filter(|l| matches!(l.limit.shape, Shape::Quota { .. }))
            .map(|l| (l.limit.name.to_string(), l.quota.count()))
            .collect()
    }
}

/// The stored form: policies as written and quota counts.
#[derive(Default, Serialize, Deserialize)]
struct Stored {
    bank: CapacityPolicy,
    clients: BTreeMap<String, CapacityPolicy>,
    /// Quota counts by owner ("" for the bank) and limit name.
    counts: BTreeMap<String, BTreeMap<String, QuotaCount>>,
}

struct State {
    bank: Arc<LivePolicy>,
    clients: HashMap<String, Arc<LivePolicy>>,
    retired: bool,
}

/// The IETF `RateLimit-Policy` and `RateLimit` field values for the limits that counted a
/// request: the policy lists every one (`"reads";q=20;w=2`), the state gives the tightest, the
/// one with the least left for its size (`"reads";r=3;t=1`).
#[derive(Debug, Clone, Default)]
pub struct RateLimitFields {
    pub policy: String,
    pub state: String,
}

/// Builds `RateLimitFields` while the limits are checked, without keeping the limits.
#[derive(Default)]
struct FieldsBuilder {
    policy: String,
    /// The tightest so far: (remaining, quota) and its state text.
    tightest: Option<(u64, u64)>,
    state: String,
}

impl FieldsBuilder {
    /// Adds a limit: its name, size `quota` per `window` seconds (none for concurrency),
    /// `remaining` left now and `reset` seconds until it is full again.
    fn add(&mut self, name: &str, quota: u64, window: Option<u64>, remaining: u64, reset: u64) {
        // Runs for every limit on every counted request: plain pushes, not `write!`.
        let mut digits = itoa::Buffer::new();
        if self.policy.is_empty() {
            self.policy.reserve(64);
        } else {
            self.policy.push_str(", ");
        }
        self.policy.push('"');
        self.policy.push_str(name);
        self.policy.push_str("\";q=");
        self.policy.push_str(digits.format(quota));
        if let Some(w) = window {
            self.policy.push_str(";w=");
            self.policy.push_str(digits.format(w));
        }
        // remaining/quota, compared without division.
        let tighter = self
            .tightest
            .is_none_or(|(r, q)| (remaining as u128) * (q as u128) < (r as u128) * (quota as u128));
        if tighter {
            self.tightest = Some((remaining, quota));
            self.state.clear();
            self.state.push('"');
            self.state.push_str(name);
            self.state.push_str("\";r=");
            self.state.push_str(digits.format(remaining));
            if window.is_some() {
                self.state.push_str(";t=");
                self.state.push_str(digits.format(reset));
            }
        }
    }

    fn finish(self) -> Option<RateLimitFields> {
        self.tightest.map(|_| RateLimitFields {
            policy: self.policy,
            state: self.state,
        })
    }
}

/// A request let through: the `RateLimit` fields for its answer, the peak-day latency to add,
/// and the concurrency slots it holds until it is dropped.
#[derive(Default)]
pub struct Admission {
    pub fields: Option<RateLimitFields>,
    pub latency: SignedDuration,
    held: Vec<(Arc<LivePolicy>, usize)>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        for (p, i) in self.held.drain(..) {
            p.limits[i].in_flight.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// A request refused: which limit, and when to come back.
#[derive(Debug, Clone)]
pub struct Limited {
    pub limit: Arc<str>,
    /// The client whose limit it is (`None`: the bank-wide one).
    pub client: Option<String>,
    pub detail: String,
    /// Whole seconds, rounded up, at least 1.
    pub retry_after: u64,
    pub fields: RateLimitFields,
}

/// Why a policy was refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The capacity policies of one sandbox.
pub struct Capacity {
    /// Whether any policy does anything (the layer's fast path when none does).
    active: AtomicBool,
    /// Whether a client policy counts the token endpoint (its client is then read from the
    /// token request).
    counts_tokens: AtomicBool,
    state: RwLock<State>,
    writing: Mutex<()>,
    dirty: AtomicBool,
    /// The peak days of the sandbox's calendar.
    pub peak_days: PeakDays,
    /// The sandbox day last asked about, packed (see `Capacity::day`); days change rarely.
    today: AtomicU64,
}

/// A sandbox-calendar day: its date and whether it is a peak day.
#[derive(Clone, Copy)]
struct Day {
    date: Date,
    peak: bool,
}

/// JST is UTC+9 all year (no daylight saving time), so days are plain 86,400-second spans.
const JST_OFFSET: i64 = 9 * 3600;
const DAY: i64 = 86_400;

fn period(window: QuotaWindow, date: Date) -> i64 {
    let ym = date.year() as i64 * 10_000 + date.month() as i64 * 100;
    match window {
        QuotaWindow::Day => ym + date.day() as i64,
        QuotaWindow::Month => ym,
    }
}

/// When the period of `window` containing `date` ends (Unix seconds).
fn period_end(window: QuotaWindow, date: Date) -> i64 {
    let next = match window {
        QuotaWindow::Day => date.tomorrow().ok(),
        QuotaWindow::Month => date.last_of_month().tomorrow().ok(),
    };
    next.and_then(|d| d.to_zoned(crate::clock::jst()).ok())
        .map(|z| z.timestamp().as_second())
        .unwrap_or(i64::MAX)
}

fn window_seconds(window: QuotaWindow) -> u64 {
    match window {
        QuotaWindow::Day => 86_400,
        QuotaWindow::Month => 30 * 86_400,
    }
}

fn ceil_secs(d: std::time::Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

fn compiled(spec: &CapacityPolicy, what: &str) -> Result<CompiledPolicy, PolicyError> {
    capacity::compile(spec).map_err(|p| PolicyError::Invalid(p.into_iter().map(|m| format!("{what}{m}")).collect()))
}

impl Capacity {
    /// The policies stored in the sandbox, or the scenario's on a fresh one.
    pub fn open(store: &SandboxStore, scenario: &LoadedScenario) -> Result<Capacity, StorageError> {
        let s = &scenario.scenario;
        let stored: Stored = match store.meta_get(META_CAPACITY)? {
            Some(b) => serde_json::from_slice(&b).unwrap_or_default(),
            None => Stored {
                bank: s.capacity.clone(),
                clients: s
                    .clients
                    .iter()
                    .filter_map(|c| c.capacity.clone().map(|p| (c.client_id.value.clone(), p)))
                    .collect(),
                counts: BTreeMap::new(),
            },
        };
        let none = BTreeMap::new();
        // Checked when written; a policy that no longer compiles is left empty rather than
        // stopping the sandbox from opening.
        let live = |owner: Option<String>, spec: CapacityPolicy| {
            let counts = stored.counts.get(owner.as_deref().unwrap_or("")).unwrap_or(&none);
            match capacity::compile(&spec) {
                Ok(c) => Arc::new(LivePolicy::new(owner, spec, c, counts)),
                Err(_) => Arc::new(LivePolicy::new(
                    owner,
                    CapacityPolicy::default(),
                    CompiledPolicy::default(),
                    counts,
                )),
            }
        };
        let bank = live(None, stored.bank.clone());
        let clients = stored
            .clients
            .iter()
            .map(|(id, p)| (id.clone(), live(Some(id.clone()), p.clone())))
            .collect();
        let c = Capacity {
            active: AtomicBool::new(false),
            counts_tokens: AtomicBool::new(false),
            state: RwLock::new(State {
                bank,
                clients,
                retired: false,
            }),
            writing: Mutex::new(()),
            dirty: AtomicBool::new(false),
            peak_days: s.peak_days.clone(),
            today: AtomicU64::new(u64::MAX),
        };
        c.refresh(&c.read());
        Ok(c)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn refresh(&self, st: &State) {
        let any = !st.bank.compiled.is_empty() || st.clients.values().any(|p| !p.compiled.is_empty());
        let tokens = st.clients.values().any(|p| {
            p.compiled.limits.iter().any(|l| l.applies_to(RequestKind::Token))
                || p.compiled.peak_latency > SignedDuration::ZERO
        });
        self.active.store(any, Ordering::Release);
        self.counts_tokens.store(tokens, Ordering::Release);
    }

    /// Whether any policy does anything.
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Whether a client policy counts token requests.
    pub fn counts_tokens(&self) -> bool {
        self.counts_tokens.load(Ordering::Acquire)
    }

    /// The sandbox day of `now`, remembered in one atomic word: the day's index (days since
    /// 1970-01-01 JST) above bit 26, `YYYYMMDD` in bits 1–25, whether it is a peak day in bit 0.
    fn day(&self, now: Timestamp) -> Day {
        let index = (now.as_second() + JST_OFFSET).div_euclid(DAY);
        let known = self.today.load(Ordering::Acquire);
        if known != u64::MAX && (known >> 26) as i64 == index {
            let ymd = ((known >> 1) & 0x1FF_FFFF) as i64;
            if let Ok(date) = Date::new((ymd / 10_000) as i16, (ymd / 100 % 100) as i8, (ymd % 100) as i8) {
                return Day {
                    date,
                    peak: known & 1 == 1,
                };
            }
        }
        let date = now.to_zoned(crate::clock::jst()).date();
        let peak = !self.peak_days.reasons(date).is_empty();
        if index >= 0 {
            let ymd = period(QuotaWindow::Day, date) as u64;
            self.today
                .store((index as u64) << 26 | ymd << 1 | u64::from(peak), Ordering::Release);
        }
        Day { date, peak }
    }

    // Long on purpose: every counted request passes here: the limits are checked in one pass, in order, without allocating.
    /// Lets a request of `kind` by `client` (`None`: no client known) through at sandbox
    /// time `now`, or says which limit refuses it.
    pub fn admit(&self, client: Option<&str>, kind: RequestKind, now: Timestamp) -> Result<Admission, Limited> {
        let mut admission = Admission::default();
        if !self.active() || kind == RequestKind::Any {
            return Ok(admission);
        }
        // The read guard is held while the limits are checked (no await here): no policy is
        // cloned out, so nothing shared is written but the counters themselves.
        let st = self.read();
        let own = client
            .and_then(|c| st.clients.get(c))
            .filter(|p| !p.compiled.is_empty());
        let bank = Some(&st.bank).filter(|p| !p.compiled.is_empty());
        if own.is_none() && bank.is_none() {
            return Ok(admission);
        }
        let policies = [own, bank];
        let needs_date = policies
            .iter()
            .flatten()
            .any(|p| p.has_quota || p.compiled.peak_factor != 1.0 || p.compiled.peak_latency > SignedDuration::ZERO);
        let today = needs_date.then(|| self.day(now));
        let peak = today.is_some_and(|d| d.peak);
        let now_secs = now.as_second();
        let mut fields = FieldsBuilder::default();
        // The refusing limit: (policy, its index, what it allows, Retry-After).
        let mut refusal: Option<(&Arc<LivePolicy>, usize, String, u64)> = None;
        'policies: for p in policies.into_iter().flatten() {
            if peak && p.compiled.peak_latency > admission.latency {
                admission.latency = p.compiled.peak_latency;
            }
            for (i, live) in p.limits.iter().enumerate() {
                let l = &live.limit;
                if !l.applies_to(kind) {
                    continue;
                }
                let shape = if peak {
                    l.scaled(p.compiled.peak_factor)
                } else {
                    l.shape
                };
                match shape {
                    Shape::Concurrency(n) => {
                        let was = live.in_flight.fetch_add(1, Ordering::AcqRel);
                        admission.held.push((p.clone(), i));
                        let n = n as u64;
                        fields.add(&live.label, n, None, n.saturating_sub(was as u64 + 1), 0);
                        if was as u64 >= n {
                            refusal = Some((p, i, format!("{n} concurrent requests"), 1));
                            break 'policies;
                        }
                    }
                    Shape::Quota { count, window } => {
                        let Some(day) = today else { continue };
                        live.quota
                            .enter(period(window, day.date), || period_end(window, day.date));
                        let left = (live.quota.ends_at.load(Ordering::Acquire) - now_secs).max(1) as u64;
                        let used = live.quota.used.fetch_add(1, Ordering::AcqRel) + 1;
                        let over = used > count;
                        fields.add(
                            &live.label,
                            count,
                            Some(window_seconds(window)),
                            count.saturating_sub(used),
                            left,
                        );
                        if over {
                            live.quota.used.fetch_sub(1, Ordering::AcqRel);
                            let per = if window == QuotaWindow::Day { "day" } else { "month" };
                            refusal = Some((p, i, format!("{count} requests per sandbox {per}"), left));
                            break 'policies;
                        }
                        if !self.dirty.load(Ordering::Relaxed) {
                            self.dirty.store(true, Ordering::Release);
                        }
                    }
                    Shape::Rate { count, per, burst } => {
                        let limiter = if peak {
                            live.peak.as_ref().or(live.normal.as_ref())
                        } else {
                            live.normal.as_ref()
                        };
                        let Some(limiter) = limiter else { continue };
                        let every = per.unsigned_abs() / count.max(1);
                        let window = ceil_secs(every * burst).max(1);
                        match limiter.check() {
                            Ok(snapshot) => {
                                let remaining = snapshot.remaining_burst_capacity().min(burst);
                                fields.add(
                                    &live.label,
                                    burst as u64,
                                    Some(window),
                                    remaining as u64,
                                    ceil_secs(every * (burst - remaining)),
                                );
                            }
                            Err(not_until) => {
                                let wait = not_until.wait_time_from(limiter.clock().now());
                                fields.add(&live.label, burst as u64, Some(window), 0, ceil_secs(every * burst));
                                let per_text = p.spec.limits.get(i).and_then(|s| s.per.as_deref()).unwrap_or("");
                                refusal = Some((
                                    p,
                                    i,
                                    format!("{count} requests per {per_text} (burst {burst})"),
                                    ceil_secs(wait).max(1),
                                ));
                                break 'policies;
                            }
                        }
                    }
                }
            }
        }
        let Some((p, at, what, retry_after)) = refusal else {
            admission.fields = fields.finish();
            return Ok(admission);
        };
        // Give back the quota counts this request took before the limit that refused it.
        for q in policies.into_iter().flatten() {
            for (i, live) in q.limits.iter().enumerate() {
                if Arc::ptr_eq(q, p) && i >= at {
                    break;
                }
                if live.limit.applies_to(kind) && matches!(live.limit.shape, Shape::Quota { .. }) && today.is_some() {
                    live.quota.used.fetch_sub(1, Ordering::AcqRel);
                }
            }
            if Arc::ptr_eq(q, p) {
                break;
            }
        }
        let label = p.limits[at].label.clone();
        let whose = match &p.owner {
            Some(c) => format!("client {c:?}"),
            None => "the bank as a whole".to_owned(),
        };
        let peak_note = if peak && p.compiled.peak_factor != 1.0 {
            format!(" (today is a peak day: limits × {})", p.compiled.peak_factor)
        } else {
            String::new()
        };
        Err(Limited {
            detail: format!(
                "capacity limit {label:?} of {whose} reached: {what}{peak_note}; retry after {retry_after} s"
            ),
            limit: label,
            client: p.owner.clone(),
            retry_after,
            fields: fields.finish().unwrap_or_default(),
        })
    }

    /// The bank-wide policy as written.
    pub fn bank_policy(&self) -> CapacityPolicy {
        self.read().bank.spec.clone()
    }

    /// A client's policy as written (empty when it has none).
    pub fn client_policy(&self, client: &str) -> CapacityPolicy {
        self.read()
            .clients
            .get(client)
            .map(|p| p.spec.clone())
            .unwrap_or_default()
    }

    /// Replaces the bank-wide policy (`client: None`) or a client's; counters start afresh.
    pub async fn set(
        &self,
        store: &SandboxStore,
        client: Option<&str>,
        spec: CapacityPolicy,
    ) -> Result<CapacityPolicy, PolicyError> {
        store.durable(self.set_unsynced(store, client, spec)).await
    }

    /// `set` without waiting for the disk: for a caller that makes its whole change durable
    /// at once.
    pub fn set_unsynced(
        &self,
        store: &SandboxStore,
        client: Option<&str>,
        spec: CapacityPolicy,
    ) -> Result<CapacityPolicy, PolicyError> {
        let compiled = compiled(&spec, "")?;
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let bytes = {
            let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
            let live = Arc::new(LivePolicy::new(
                client.map(str::to_owned),
                spec.clone(),
                compiled,
                &BTreeMap::new(),
            ));
            match client {
                None => st.bank = live,
                Some(c) if spec == CapacityPolicy::default() => {
                    st.clients.remove(c);
                }
                Some(c) => {
                    st.clients.insert(c.to_owned(), live);
                }
            }
            self.refresh(&st);
            self.encoded(&st)
        };
        if let Some(bytes) = bytes {
            store.meta_put(META_CAPACITY, &bytes)?;
        }
        Ok(spec)
    }

    fn encoded(&self, st: &State) -> Option<Vec<u8>> {
        if st.retired {
            return None;
        }
        self.dirty.store(false, Ordering::Release);
        let mut counts = BTreeMap::new();
        counts.insert(String::new(), st.bank.counts());
        for (id, p) in &st.clients {
            counts.insert(id.clone(), p.counts());
        }
        let stored = Stored {
            bank: st.bank.spec.clone(),
            clients: st.clients.iter().map(|(k, p)| (k.clone(), p.spec.clone())).collect(),
            counts,
        };
        Some(serde_json::to_vec(&stored).unwrap_or_default())
    }

    /// Stores quota counts if requests moved them since the last time (the access-log writer
    /// calls this every few dozen milliseconds, and a snapshot first).
    pub fn persist(&self, store: &SandboxStore) -> Result<(), StorageError> {
        store.meta_put_if_moved(META_CAPACITY, &self.dirty, &self.writing, || self.encoded(&self.read()))
    }

    /// Stops storing anything: the sandbox's records are about to be replaced.
    pub fn retire(&self) {
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        self.state.write().unwrap_or_else(|e| e.into_inner()).retired = true;
    }
}
