//! Fault rules: "when a request matches X, do Y". The rule as users write it (JSON on the
//! control plane, YAML in a scenario's `faults:` list), its checks, and the compiled form the
//! fault layer evaluates. Counters and the seeded random stream live in `services::faults`.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Deserializes a struct from a map only. Serde's derived structs also accept a sequence of
/// their fields (`"match": [null, null]`), which the API's schema does not allow.
pub(crate) fn map_only<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct MapOnly<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for MapOnly<T> {
        type Value = T;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_map(MapOnly(std::marker::PhantomData))
}

/// A fault rule. `match` says which requests it applies to, `when` which of those it fires
/// on, `effect` what happens then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultRule {
    /// The rule's id (letters, digits, `-`, `_`, `.`; up to 64). Assigned when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Free text, for people reading the rule list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Which requests the rule applies to; every field given must hold. Empty: every API request.
    #[serde(default, rename = "match", deserialize_with = "map_only")]
    pub matches: FaultMatch,
    /// Which of the matching requests it fires on. Absent: every one.
    #[serde(default, deserialize_with = "map_only")]
    pub when: FaultWhen,
    /// What happens to a request the rule fires on (exactly one effect).
    #[serde(deserialize_with = "map_only")]
    pub effect: FaultEffect,
}

/// The request a rule applies to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultMatch {
    /// Method and route template as in the OpenAPI description, e.g.
    /// `GET /personal/v1/accounts/balances` or `POST /personal/v1/transfer/request`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// `reference` (reads), `update` (transfers, debits, cancels), `auth` (authorization and
    /// login pages, discovery), `token` (the token endpoint) or `any`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<RequestKind>,
    /// The connecting company's client id (from the access token, or the token request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The login name of the user the access token acts for (e.g. `tanaka`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The account the request names (`accountId` in the query or the JSON body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
}

/// What kind of request it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RequestKind {
    Reference,
    Update,
    Auth,
    Token,
    Any,
}

/// Which matching requests a rule fires on. Every field given must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultWhen {
    /// Fire on these occurrences of a matching request (counted per rule, from 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nth: Option<Vec<u64>>,
    /// Fire on every n-th matching request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<u64>,
    /// Fire with this probability (0–1), drawn from the sandbox's seeded random stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Fire at most this many times in total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u64>,
    /// Sandbox time from which the rule applies (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Sandbox time until which the rule applies (RFC 3339, exclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// What a rule does. Give exactly one of `status`, `latency`, `timeout`, `reset`,
/// `ambiguous`, `tokenExpired`, `tokenRevoked`, `bankError`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultEffect {
    /// Answer this status (400–599) with a problem document, without running the operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// With `status`: the `Retry-After` to send, e.g. `"30s"` (whole seconds, rounded up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<String>,
    /// With `status`: the problem's `code` (default from the status, e.g. `service_unavailable`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// With `status`: the problem's `detail`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Delay, then run the operation: `"2s"`, or `{"min": "100ms", "max": "3s"}` drawn from the
    /// seeded stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencySpec>,
    /// Hold the request this long, then close the connection without an answer; the
    /// operation does not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// `true`: reset the connection at once without an answer; the operation does not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset: Option<bool>,
    /// Run the operation and commit it, then answer `status` (e.g. 504) or drop the
    /// connection (`drop: true`) instead of the real answer.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "some_map")]
    pub ambiguous: Option<AmbiguousSpec>,
    /// `true`: the request's access token is expired from now on (401 `invalid_token`); its
    /// refresh token still works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expired: Option<bool>,
    /// `true`: the request's access token and its grant are revoked (401 `invalid_token`; the
    /// refresh then fails with `invalid_grant`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_revoked: Option<bool>,
    /// Refuse an update with a bank-side business error named in the scenario's `bankErrors`
    /// (e.g. `beneficiary_bank_unavailable`, `account_frozen`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_error: Option<String>,
}

/// A fixed latency or a range to draw from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum LatencySpec {
    /// e.g. `"2s"`.
    Fixed(String),
    /// Drawn uniformly from the seeded stream.
    Range(#[serde(deserialize_with = "map_only")] LatencyRange),
}

/// A latency range, e.g. `{"min": "100ms", "max": "3s"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LatencyRange {
    /// Shortest delay.
    pub min: String,
    /// Longest delay.
    pub max: String,
}

/// The answer an ambiguous fault gives after the operation ran.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AmbiguousSpec {
    /// Answer this status (typically 502, 503 or 504) instead of the real answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// `true`: close the connection instead of answering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop: Option<bool>,
}

/// A bank-side business error a scenario declares for `bankError` effects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BankError {
    /// The problem's `code`, e.g. `beneficiary_bank_unavailable`.
    pub code: String,
    /// HTTP status (400–599), e.g. 400 for a refused transfer, 503 for a bank that is closed.
    pub status: u16,
    /// What the fintech's user would be told.
    pub detail: String,
}

/// What happens to a request a rule fires on.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Status {
        status: u16,
        retry_after: Option<u64>,
        code: String,
        detail: String,
    },
    Latency {
        min: SignedDuration,
        max: SignedDuration,
    },
    Timeout(SignedDuration),
    Reset,
    /// `Some(status)`: answer it; `None`: drop the connection.
    Ambiguous(Option<u16>),
    TokenExpired,
    TokenRevoked,
    BankError(BankError),
}

impl Effect {
    /// Whether the operation runs (before or despite the fault).
    pub fn runs_operation(&self) -> bool {
        matches!(self, Effect::Latency { .. } | Effect::Ambiguous(_))
    }
}

/// A rule ready to evaluate.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    pub id: std::sync::Arc<str>,
    pub spec: FaultRule,
    pub method: Option<String>,
    pub route: Option<String>,
    pub kind: Option<RequestKind>,
    pub client_id: Option<String>,
    /// The user id tokens carry (`u-{username}`).
    pub user_id: Option<String>,
    pub account_id: Option<String>,
    pub when: CompiledWhen,
    pub effect: Effect,
}

/// What a request is, as far as matching goes.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    pub method: &'a str,
    pub route: &'a str,
    pub kind: RequestKind,
    pub client_id: Option<&'a str>,
    pub user_id: Option<&'a str>,
    pub account_id: Option<&'a str>,
}

impl CompiledRule {
    /// Whether the rule applies to the request (its `match`, and the `from`/`until` window).
    pub fn matches(&self, r: &RequestFacts<'_>, now: Timestamp) -> bool {
        fn eq(want: &Option<String>, have: Option<&str>) -> bool {
            want.as_deref().is_none_or(|w| have == Some(w))
        }
        // Cheapest checks first: most rules are ruled out by kind, method or caller.
        self.kind.is_none_or(|k| k == RequestKind::Any || k == r.kind)
            && self.method.as_deref().is_none_or(|m| m == r.method)
            && eq(&self.user_id, r.user_id)
            && eq(&self.client_id, r.client_id)
            && eq(&self.account_id, r.account_id)
            && self.route.as_deref().is_none_or(|w| w == r.route)
            && self.when.open_at(now)
            && self.applies_to(r)
    }

    /// Whether the effect can act on the request: token effects need a user's access token,
    /// bank errors an update.
    fn applies_to(&self, r: &RequestFacts<'_>) -> bool {
        match self.effect {
            Effect::TokenExpired | Effect::TokenRevoked => r.user_id.is_some(),
            Effect::BankError(_) => r.kind == RequestKind::Update,
            _ => true,
        }
    }

    /// Whether the rule wants the request's `accountId` (which may mean reading its body).
    pub fn needs_account(&self) -> bool {
        self.account_id.is_some()
    }
}

/// What the rule checks need from outside: which operations exist, and the scenario's bank errors.
pub struct RuleContext<'a> {
    pub operation_exists: &'a dyn Fn(&str) -> bool,
    pub bank_errors: &'a [BankError],
}

pub(crate) fn duration(field: &str, s: &str, problems: &mut Vec<String>) -> Option<SignedDuration> {
    match crate::clock::parse_duration(s) {
        Ok(d) if d >= SignedDuration::ZERO => Some(d),
        Ok(_) => {
            problems.push(format!("{field}: {s:?} must not be negative"));
            None
        }
        Err(e) => {
            problems.push(format!("{field}: {e}"));
            None
        }
    }
}

pub(crate) fn timestamp(field: &str, s: &str, problems: &mut Vec<String>) -> Option<Timestamp> {
    match s.parse::<Timestamp>() {
        Ok(t) => Some(t),
        Err(_) => {
            problems.push(format!(
                "{field}: {s:?} is not an RFC 3339 time with an offset, e.g. \"2026-11-23T00:00:00+09:00\""
            ));
            None
        }
    }
}

/// The default problem code of a status.
fn status_code_name(status: u16) -> String {
    match status {
        400 => "bad_request".into(),
        401 => "unauthorized".into(),
        403 => "forbidden".into(),
        404 => "not_found".into(),
        408 => "request_timeout".into(),
        409 => "conflict".into(),
        429 => "too_many_requests".into(),
        500 => "internal_error".into(),
        502 => "bad_gateway".into(),
        503 => "service_unavailable".into(),
        504 => "gateway_timeout".into(),
        s => format!("http_{s}"),
    }
}

/// Longest a timeout or latency may hold a request.
pub const MAX_HOLD: SignedDuration = SignedDuration::from_secs(600);

/// Checks a rule and compiles it; the problems say what to fix.
pub fn compile(rule: &FaultRule, id: &str, ctx: &RuleContext<'_>) -> Result<CompiledRule, Vec<String>> {
    let mut p = Vec::new();
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        p.push(format!("id: {id:?} must be 1 to 64 letters, digits, '-', '_' or '.'"));
    }
    let m = &rule.matches;
    let (mut method, mut route) = (None, None);
    if let Some(op) = &m.operation {
        match op.split_once(' ') {
            Some((verb, path)) if (ctx.operation_exists)(&format!("{} {}", verb.to_ascii_uppercase(), path.trim())) => {
                method = Some(verb.to_ascii_uppercase());
                route = Some(path.trim().to_owned());
            }
            _ => p.push(format!(
                "match.operation: {op:?} is not an operation of this API; write the method and the route template as in the OpenAPI description, e.g. \"GET /personal/v1/accounts/balances\""
            )),
        }
    }
    if let Some(u) = &m.username
        && u.is_empty()
    {
        p.push("match.username: must not be empty".into());
    }
    let when = CompiledWhen::compile(&rule.when, &mut p);
    let effect = compile_effect(&rule.effect, ctx, m, &mut p);
    if !p.is_empty() {
        return Err(p);
    }
    let Some(effect) = effect else {
        return Err(vec!["effect: missing".into()]);
    };
    let mut spec = rule.clone();
    spec.id = Some(id.to_owned());
    Ok(CompiledRule {
        id: std::sync::Arc::from(id),
        spec,
        method,
        route,
        kind: m.kind,
        client_id: m.client_id.clone(),
        user_id: m.username.as_ref().map(|u| format!("u-{u}")),
        account_id: m.account_id.clone(),
        when,
        effect,
    })
}

/// A rule's `when`, checked and parsed: which matching occurrences fire, how often at most,
/// in which window. Fault rules and webhook delivery faults share it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompiledWhen {
    pub nth: Vec<u64>,
    pub every: Option<u64>,
    pub probability: Option<f64>,
    pub times: Option<u64>,
    pub from: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

impl CompiledWhen {
    /// Checks `w`, adding a problem (`when.…: what to fix`) for each bad field.
    pub fn compile(w: &FaultWhen, p: &mut Vec<String>) -> CompiledWhen {
        if w.nth.as_ref().is_some_and(|n| n.is_empty() || n.contains(&0)) {
            p.push("when.nth: list the occurrences to fire on, counting from 1 (e.g. [1, 2])".into());
        }
        if w.every == Some(0) {
            p.push("when.every: must be 1 or more".into());
        }
        if let Some(pr) = w.probability
            && !(0.0..=1.0).contains(&pr)
        {
            p.push(format!("when.probability: {pr} is outside 0–1"));
        }
        if w.times == Some(0) {
            p.push("when.times: must be 1 or more (delete the rule to stop it)".into());
        }
        let from = w.from.as_deref().and_then(|s| timestamp("when.from", s, p));
        let until = w.until.as_deref().and_then(|s| timestamp("when.until", s, p));
        if let (Some(f), Some(u)) = (from, until)
            && u <= f
        {
            p.push("when.until: the window ends before it starts; `until` must be after `from`".into());
        }
        CompiledWhen {
            nth: w.nth.clone().unwrap_or_default(),
            every: w.every,
            probability: w.probability,
            times: w.times,
            from,
            until,
        }
    }

    /// Whether `at` falls in the `from`/`until` window.
    pub fn open_at(&self, at: Timestamp) -> bool {
        self.from.is_none_or(|f| at >= f) && self.until.is_none_or(|u| at < u)
    }

    /// Whether it has fired its `times` already, having fired `hits` times.
    pub fn used_up(&self, hits: u64) -> bool {
        self.times.is_some_and(|t| hits >= t)
    }

    /// No count, limit or draw: it fires on every match.
    pub fn unconditional(&self) -> bool {
        self.nth.is_empty() && self.every.is_none() && self.probability.is_none() && self.times.is_none()
    }

    /// Whether the `n`-th counted occurrence fires; `draw` (a number in [0, 1) from the seeded
    /// stream) is taken only when the counts allow it and a probability is set.
    pub fn fires_on(&self, n: u64, draw: impl FnOnce() -> f64) -> bool {
        (self.nth.is_empty() || self.nth.contains(&n))
            && self.every.is_none_or(|e| n % e == 0)
            && self.probability.is_none_or(|p| draw() < p)
    }
}

// Long on purpose: one short arm per kind of effect, in the order problems are reported.
fn compile_effect(e: &FaultEffect, ctx: &RuleContext<'_>, m: &FaultMatch, p: &mut Vec<String>) -> Option<Effect> {
    let given = [
        e.status.is_some(),
        e.latency.is_some(),
        e.timeout.is_some(),
        e.reset.is_some(),
        e.ambiguous.is_some(),
        e.token_expired.is_some(),
        e.token_revoked.is_some(),
        e.bank_error.is_some(),
    ]
    .iter()
    .filter(|g| **g)
    .count();
    if given == 0 {
        p.push("effect: missing; give one of status, latency, timeout, reset, ambiguous, tokenExpired, tokenRevoked, bankError".into());
        return None;
    }
    if given > 1 {
        p.push("effect: give exactly one of status, latency, timeout, reset, ambiguous, tokenExpired, tokenRevoked, bankError".into());
        return None;
    }
    if e.status.is_none() && (e.retry_after.is_some() || e.code.is_some() || e.detail.is_some()) {
        p.push("effect: retryAfter, code and detail go with status".into());
    }
    let flag = |name: &str, v: Option<bool>, p: &mut Vec<String>| {
        if v == Some(false) {
            p.push(format!("effect.{name}: write true (or leave the effect out)"));
        }
    };
    if let Some(status) = e.status {
        if !(400..=599).contains(&status) {
            p.push(format!("effect.status: {status} is not an error status (400–599)"));
        }
        let retry_after = e
            .retry_after
            .as_deref()
            .and_then(|s| duration("effect.retryAfter", s, p));
        if let Some(code) = &e.code
            && (code.is_empty()
                || !code
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'))
        {
            p.push(format!("effect.code: {code:?} must be snake_case (a-z, 0-9, _)"));
        }
        return Some(Effect::Status {
            status,
            retry_after: retry_after.map(|d| (d.as_millis().max(0) as u64).div_ceil(1000)),
            code: e.code.clone().unwrap_or_else(|| status_code_name(status)),
            detail: e
                .detail
                .clone()
                .unwrap_or_else(|| format!("the bank answered {status} (a fault rule of this sandbox)")),
        });
    }
    if let Some(l) = &e.latency {
        let (min, max) = match l {
            LatencySpec::Fixed(s) => {
                let d = duration("effect.latency", s, p);
                (d, d)
            }
            LatencySpec::Range(LatencyRange { min, max }) => (
                duration("effect.latency.min", min, p),
                duration("effect.latency.max", max, p),
            ),
        };
        let (min, max) = (min?, max?);
        if max < min {
            p.push("effect.latency: max is below min".into());
        }
        if max > MAX_HOLD {
            p.push("effect.latency: at most 10m".into());
        }
        return Some(Effect::Latency { min, max });
    }
    if let Some(t) = &e.timeout {
        let d = duration("effect.timeout", t, p)?;
        if d > MAX_HOLD {
            p.push("effect.timeout: at most 10m".into());
        }
        return Some(Effect::Timeout(d));
    }
    if e.reset.is_some() {
        flag("reset", e.reset, p);
        return Some(Effect::Reset);
    }
    if let Some(a) = &e.ambiguous {
        return match (a.status, a.drop) {
            (Some(s), None) => {
                if !(400..=599).contains(&s) {
                    p.push(format!("effect.ambiguous.status: {s} is not an error status (400–599)"));
                }
                Some(Effect::Ambiguous(Some(s)))
            }
            (None, Some(true)) => Some(Effect::Ambiguous(None)),
            _ => {
                p.push("effect.ambiguous: give either {\"status\": 504} or {\"drop\": true}".into());
                None
            }
        };
    }
    let token_kinds_only = |name: &str, p: &mut Vec<String>| {
        if matches!(m.kind, Some(RequestKind::Auth | RequestKind::Token)) {
            p.push(format!(
                "effect.{name}: acts on an access token, so it needs reference or update requests (match.kind)"
            ));
        }
    };
    if e.token_expired.is_some() {
        flag("tokenExpired", e.token_expired, p);
        token_kinds_only("tokenExpired", p);
        return Some(Effect::TokenExpired);
    }
    if e.token_revoked.is_some() {
        flag("tokenRevoked", e.token_revoked, p);
        token_kinds_only("tokenRevoked", p);
        return Some(Effect::TokenRevoked);
    }
    if let Some(code) = &e.bank_error {
        if m.kind.is_some_and(|k| k != RequestKind::Update) {
            p.push("effect.bankError: refuses update requests; set match.kind to update (or leave it out)".into());
        }
        return match ctx.bank_errors.iter().find(|b| &b.code == code) {
            Some(b) => Some(Effect::BankError(b.clone())),
            None => {
                let known: Vec<&str> = ctx.bank_errors.iter().map(|b| b.code.as_str()).collect();
                p.push(format!(
                    "effect.bankError: {code:?} is not among the scenario's bankErrors ({})",
                    if known.is_empty() {
                        "it declares none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ));
                None
            }
        };
    }
    None
}

/// `map_only` for each element of a list field.
pub(crate) fn seq_of_maps<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    #[derive(Deserialize)]
    #[serde(transparent, bound = "T: Deserialize<'de>")]
    struct Element<T>(#[serde(deserialize_with = "map_only")] T);
    Vec::<Element<T>>::deserialize(d).map(|v| v.into_iter().map(|e| e.0).collect())
}

/// `map_only` for an optional field (absent or `null`: none).
pub(crate) fn some_map<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct SomeMap<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for SomeMap<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object or null")
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_some<D2: serde::Deserializer<'de>>(self, d: D2) -> Result<Option<T>, D2::Error> {
            map_only(d).map(Some)
        }
    }
    d.deserialize_option(SomeMap(std::marker::PhantomData))
}

/// Checks a scenario's bank errors.
pub fn check_bank_errors(errors: &[BankError]) -> Vec<String> {
    let mut p = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, b) in errors.iter().enumerate() {
        if b.code.is_empty()
            || !b
                .code
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
        {
            p.push(format!("bankErrors[{i}].code: {:?} must be snake_case", b.code));
        }
        if !(400..=599).contains(&b.status) {
            p.push(format!(
                "bankErrors[{i}].status: {} is not an error status (400–599)",
                b.status
            ));
        }
        if !seen.insert(b.code.as_str()) {
            p.push(format!("bankErrors[{i}].code: {:?} is declared twice", b.code));
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> RuleContext<'static> {
        RuleContext {
            operation_exists: &|op| op == "GET /personal/v1/accounts/balances",
            bank_errors: &[],
        }
    }

    fn rule(json: &str) -> FaultRule {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn bad_rules_say_what_to_fix() {
        let r = rule(
            r#"{"match": {"operation": "GET /nowhere"}, "when": {"probability": 1.5, "from": "2026-11-24T00:00:00+09:00", "until": "2026-11-23T00:00:00+09:00"}, "effect": {}}"#,
        );
        let p = compile(&r, "x", &ctx()).unwrap_err().join("\n");
        assert!(p.contains("match.operation"), "{p}");
        assert!(p.contains("when.probability"), "{p}");
        assert!(p.contains("when.until"), "{p}");
        assert!(p.contains("effect: missing"), "{p}");
    }

    #[test]
    fn a_good_rule_compiles_and_matches_its_window() {
        let r = rule(
            r#"{"match": {"operation": "get /personal/v1/accounts/balances", "username": "tanaka"}, "when": {"until": "2026-11-23T00:00:00+09:00"}, "effect": {"status": 503, "retryAfter": "1500ms"}}"#,
        );
        let c = compile(&r, "b", &ctx()).unwrap();
        assert_eq!(
            c.effect,
            Effect::Status {
                status: 503,
                retry_after: Some(2),
                code: "service_unavailable".into(),
                detail: "the bank answered 503 (a fault rule of this sandbox)".into()
            }
        );
        let facts = RequestFacts {
            method: "GET",
            route: "/personal/v1/accounts/balances",
            kind: RequestKind::Reference,
            client_id: Some("demo-pfm"),
            user_id: Some("u-tanaka"),
            account_id: None,
        };
        let before: Timestamp = "2026-11-22T23:59:59+09:00".parse().unwrap();
        let after: Timestamp = "2026-11-23T00:00:00+09:00".parse().unwrap();
        assert!(c.matches(&facts, before));
        assert!(!c.matches(&facts, after));
        assert!(!c.matches(
            &RequestFacts {
                user_id: Some("u-sato"),
                ..facts
            },
            before
        ));
    }
}
