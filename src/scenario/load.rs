//! Reading a scenario: YAML parsing (serde-saphyr reports line and column with a caret), then
//! the rules that span several fields (unique numbers, known branches, code lifetime …),
//! each reported as `file:line:column: what to fix`.

use super::schema::{Scenario, TokenSpec};
use crate::domain::customer::CustomerKind;
use jiff::{SignedDuration, Timestamp};
use serde_saphyr::{Location, Spanned};
use std::collections::HashSet;
use std::path::Path;

/// A scenario that parsed and passed every rule.
#[derive(Debug, Clone)]
pub struct LoadedScenario {
    pub scenario: Scenario,
    /// Where it came from (a path, or "<embedded default>").
    pub origin: String,
    /// SHA-256 of the source text: a data dir built from one scenario refuses another.
    pub fingerprint: String,
}

impl LoadedScenario {
    /// The clock start, resolved against `now` when the scenario says "now".
    pub fn clock_start(&self, now: Timestamp) -> Timestamp {
        parse_clock_start(&self.scenario.clock.start.value).unwrap_or(now)
    }
}

/// Why a scenario was refused: every problem found, each with its position.
#[derive(Debug, thiserror::Error)]
#[error("{}", .problems.join("\n"))]
pub struct ScenarioError {
    pub problems: Vec<String>,
}

/// Reads and checks a scenario file.
pub fn load_file(path: &Path) -> Result<LoadedScenario, ScenarioError> {
    load_file_with(path, &|_| true)
}

/// Reads and checks a scenario file; `operation_exists` says which operations fault rules may
/// name (the HTTP layer knows them; `load_file` accepts any).
pub fn load_file_with(path: &Path, operation_exists: &dyn Fn(&str) -> bool) -> Result<LoadedScenario, ScenarioError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        problems: vec![format!("{origin}: cannot read the scenario file: {e}")],
    })?;
    load_str_with(&text, &origin, operation_exists)
}

/// Parses and checks scenario text; `origin` names it in messages.
pub fn load_str(text: &str, origin: &str) -> Result<LoadedScenario, ScenarioError> {
    load_str_with(text, origin, &|_| true)
}

/// `load_str`, checking fault rules' operations with `operation_exists`.
pub fn load_str_with(
    text: &str,
    origin: &str,
    operation_exists: &dyn Fn(&str) -> bool,
) -> Result<LoadedScenario, ScenarioError> {
    let scenario: Scenario = serde_saphyr::from_str(text).map_err(|e| ScenarioError {
        problems: vec![syntax_problem(origin, &e)],
    })?;
    let problems = check(&scenario, origin, operation_exists);
    if !problems.is_empty() {
        return Err(ScenarioError { problems });
    }
    Ok(LoadedScenario {
        scenario,
        origin: origin.to_owned(),
        fingerprint: crate::ids::sha256_b64(text.as_bytes()),
    })
}

/// A problem the YAML reader found (syntax, an unknown field, a value of the wrong form), as
/// `file:line:column: message` with the real file name, then the reader's caret snippet.
fn syntax_problem(origin: &str, e: &serde_saphyr::Error) -> String {
    let message = e.without_snippet().to_string();
    // The reader prefixes its own position ("line 3 column 5: "); ours leads instead.
    let message = match message.split_once(": ") {
        Some((head, rest)) if head.starts_with("line ") || head.starts_with("error: line ") => rest.to_owned(),
        _ => message,
    };
    let message = match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message,
    };
    let snippet = e.to_string().replace("<input>", origin);
    let snippet: String = snippet
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("-->"))
        .map(|l| format!("\n{l}"))
        .collect();
    match e.location() {
        Some(loc) => format!("{origin}:{}:{}: {message}{snippet}", loc.line(), loc.column()),
        None => format!("{origin}: {message}{snippet}"),
    }
}

fn parse_clock_start(s: &str) -> Option<Timestamp> {
    if s == "now" { None } else { s.parse().ok() }
}

/// Collects problems with their positions.
struct Problems<'a> {
    origin: &'a str,
    list: Vec<String>,
}

impl Problems<'_> {
    fn at(&mut self, loc: &Location, message: impl AsRef<str>) {
        if *loc == Location::UNKNOWN {
            self.list.push(format!("{}: {}", self.origin, message.as_ref()));
        } else {
            self.list.push(format!(
                "{}:{}:{}: {}",
                self.origin,
                loc.line(),
                loc.column(),
                message.as_ref()
            ));
        }
    }
}

fn pos<T>(s: &Spanned<T>) -> &Location {
    &s.referenced
}

const MAX_HISTORY_DAYS: u32 = 400;
const MAX_POPULATION: u32 = 1_000_000;

// Long on purpose: every scenario check with its located error, in the order of the file.
fn check(s: &Scenario, origin: &str, operation_exists: &dyn Fn(&str) -> bool) -> Vec<String> {
    let mut p = Problems {
        origin,
        list: Vec::new(),
    };

    let start = &s.clock.start;
    if start.value != "now" && start.value.parse::<Timestamp>().is_err() {
        p.at(
            pos(start),
            format!(
                "clock.start {:?} is not a valid RFC 3339 timestamp (e.g. \"2026-11-21T09:00:00+09:00\") or \"now\"",
                start.value
            ),
        );
    }
    check_tokens(&s.tokens, &mut p);

    let mut branches = HashSet::new();
    if s.bank.branches.is_empty() {
        p.list
            .push(format!("{origin}: bank.branches: declare at least one branch"));
    }
    for b in &s.bank.branches {
        if !branches.insert(b.code.value.clone()) {
            p.at(pos(&b.code), format!("branch code {} is declared twice", b.code.value));
        }
    }
    for atm in &s.bank.atms {
        if let Some(code) = &atm.branch
            && !branches.contains(&code.value)
        {
            p.at(
                pos(code),
                format!("ATM branch {} is not one of bank.branches", code.value),
            );
        }
    }
    let mut banks = HashSet::new();
    for ob in &s.other_banks {
        if ob.code.value == s.bank.code {
            p.at(
                pos(&ob.code),
                format!("other bank {} is this bank's own code", ob.code.value),
            );
        } else if !banks.insert(ob.code.value.clone()) {
            p.at(pos(&ob.code), format!("other bank {} is declared twice", ob.code.value));
        }
    }

    let mut client_ids = HashSet::new();
    for c in &s.clients {
        let id = &c.client_id;
        if id.value.is_empty()
            || !id
                .value
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
        {
            p.at(
                pos(id),
                "clientId must be non-empty ASCII letters, digits, '-', '_' or '.'",
            );
        }
        if !client_ids.insert(id.value.clone()) {
            p.at(pos(id), format!("clientId {:?} is declared twice", id.value));
        }
        if c.client_secret.len() < 8 {
            p.at(pos(id), "clientSecret must have at least 8 characters");
        }
        if c.redirect_uris.is_empty() {
            p.at(pos(id), "declare at least one redirect URI");
        }
        for uri in &c.redirect_uris {
            let u = &uri.value;
            if !(u.starts_with("http://") || u.starts_with("https://")) || u.contains('#') || u.contains(' ') {
                p.at(
                    pos(uri),
                    format!("redirect URI {u:?} must be an absolute http(s) URL without a fragment"),
                );
            }
        }
        if c.scopes.is_empty() {
            p.at(pos(id), "declare at least one scope");
        }
    }

    let mut customer_ids = HashSet::new();
    let mut usernames = HashSet::new();
    let mut numbers = HashSet::new();
    for c in &s.customers {
        for payee in &c.payees {
            let code = &payee.bank_code.value;
            if *code != s.bank.code && !s.other_banks.iter().any(|b| b.code.value == *code) {
                p.at(
                    pos(&payee.bank_code),
                    format!(
                        "payee bank {code} is neither this bank nor one of otherBanks; declare it under otherBanks"
                    ),
                );
            }
        }
        if c.id.value.is_empty()
            || !c
                .id
                .value
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "-_".contains(ch))
        {
            p.at(
                pos(&c.id),
                "customer id must be non-empty ASCII letters, digits, '-' or '_'",
            );
        }
        if !customer_ids.insert(c.id.value.clone()) {
            p.at(pos(&c.id), format!("customer id {:?} is declared twice", c.id.value));
        }
        match c.kind {
            CustomerKind::Individual => {
                if c.login.is_none() {
                    p.at(pos(&c.id), "an individual needs `login: { username, password }`");
                }
                if !c.users.is_empty() {
                    p.at(pos(&c.id), "`users` is for corporations; an individual has one `login`");
                }
                let kanji_parts = c.name.kanji.split_whitespace().count();
                let kana_parts = c.name.kana.as_str().split(' ').filter(|s| !s.is_empty()).count();
                if kanji_parts != 2 || kana_parts != 2 {
                    p.at(
                        pos(&c.id),
                        "an individual's name.kanji and name.kana must each be family and given name separated by one space (e.g. 田中 太郎 / ﾀﾅｶ ﾀﾛｳ)",
                    );
                }
            }
            CustomerKind::Corporation => {
                if c.users.is_empty() {
                    p.at(pos(&c.id), "a corporation needs `users` (operator, approver, admin)");
                }
                if c.login.is_some() {
                    p.at(pos(&c.id), "a corporation logs in through `users`, not `login`");
                }
            }
        }
        let logins = c
            .login
            .iter()
            .map(|l| (&l.username, &l.password))
            .chain(c.users.iter().map(|u| (&u.username, &u.password)));
        for (username, password) in logins {
            check_username(username, &mut usernames, &mut p);
            if password.len() < 4 {
                p.at(pos(username), "a password must have at least 4 characters");
            }
        }
        if c.accounts.is_empty() {
            p.at(pos(&c.id), "a customer needs at least one account");
        }
        for a in &c.accounts {
            if !branches.contains(&a.branch.value) {
                p.at(
                    pos(&a.branch),
                    format!("branch {} is not one of bank.branches", a.branch.value),
                );
            }
            let key = (a.branch.value.clone(), a.account_type, a.number.value.clone());
            if !numbers.insert(key) {
                p.at(
                    pos(&a.number),
                    format!(
                        "account {}-{}-{} is declared twice; account numbers must be unique per branch and type",
                        a.branch.value,
                        a.account_type.code(),
                        a.number.value
                    ),
                );
            }
            if a.opening_balance.value < -(a.overdraft_limit as i64) {
                p.at(
                    pos(&a.opening_balance),
                    "openingBalance is below the account's overdraft limit",
                );
            }
            if a.opening_balance.value > 1_000_000_000_000 {
                p.at(
                    pos(&a.opening_balance),
                    "openingBalance above 1 trillion yen is not supported",
                );
            }
            if a.history_days.value > MAX_HISTORY_DAYS {
                p.at(
                    pos(&a.history_days),
                    format!("historyDays may be at most {MAX_HISTORY_DAYS}"),
                );
            }
        }
    }

    let mut prefixes: Vec<String> = Vec::new();
    for pop in &s.populations {
        if pop.count.value == 0 || pop.count.value > MAX_POPULATION {
            p.at(pos(&pop.count), format!("count must be between 1 and {MAX_POPULATION}"));
        }
        for b in &pop.branches {
            if !branches.contains(&b.value) {
                p.at(pos(b), format!("branch {} is not one of bank.branches", b.value));
            }
        }
        if pop.account_types.is_empty() {
            p.at(pos(&pop.count), "accountTypes must name at least one type");
        }
        let [amin, amax] = pop.accounts_per_customer.value;
        if amin == 0 || amin > amax || amax > 5 {
            p.at(
                pos(&pop.accounts_per_customer),
                "accountsPerCustomer must be [min, max] with 1 <= min <= max <= 5",
            );
        }
        let [bmin, bmax] = pop.balance.value;
        if bmin < 0 || bmin > bmax || bmax > 1_000_000_000_000 {
            p.at(
                pos(&pop.balance),
                "balance must be [min, max] yen with 0 <= min <= max <= 1000000000000",
            );
        }
        if pop.history_days.value > MAX_HISTORY_DAYS {
            p.at(
                pos(&pop.history_days),
                format!("historyDays may be at most {MAX_HISTORY_DAYS}"),
            );
        }
        let prefix = &pop.login.username_prefix;
        if prefix.value.is_empty() || !prefix.value.chars().all(|ch| ch.is_ascii_alphabetic() || ch == '-') {
            p.at(
                pos(prefix),
                "usernamePrefix must be ASCII letters or '-' (a number is appended)",
            );
        } else if prefixes.contains(&prefix.value) {
            p.at(
                pos(prefix),
                format!("usernamePrefix {:?} is used by two populations", prefix.value),
            );
        } else {
            prefixes.push(prefix.value.clone());
        }
        if pop.login.password.len() < 4 {
            p.at(pos(prefix), "a password must have at least 4 characters");
        }
    }
    for name in &usernames {
        if let Some(prefix) = prefixes.iter().find(|pre| {
            name.strip_prefix(pre.as_str())
                .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
        }) {
            p.list.push(format!(
                "{origin}: username {name:?} collides with the generated usernames of prefix {prefix:?}"
            ));
        }
    }
    p.list.extend(
        fault_problems(s, operation_exists)
            .into_iter()
            .map(|m| format!("{origin}: {m}")),
    );
    p.list
}

/// Problems with the scenario's fault rules, outcome rules and bank errors.
/// `operation_exists` says which `match.operation`s the API has (the HTTP layer knows;
/// `scenario check`, `serve` and sandbox creation pass it).
pub fn fault_problems(s: &Scenario, operation_exists: &dyn Fn(&str) -> bool) -> Vec<String> {
    use crate::domain::{fault, outcome};
    let mut list: Vec<String> = fault::check_bank_errors(&s.bank_errors);
    let ctx = fault::RuleContext {
        operation_exists,
        bank_errors: &s.bank_errors,
    };
    let mut ids = HashSet::new();
    for (i, rule) in s.faults.iter().enumerate() {
        let id = rule.id.clone().unwrap_or_else(|| format!("rule-{}", i + 1));
        if !ids.insert(id.clone()) {
            list.push(format!("faults[{i}].id: {id:?} is used twice"));
        }
        if let Err(problems) = fault::compile(rule, &id, &ctx) {
            list.extend(problems.into_iter().map(|m| format!("faults[{i}].{m}")));
        }
    }
    let mut policy = |p: &crate::domain::capacity::CapacityPolicy, what: &str| {
        if let Err(problems) = crate::domain::capacity::compile(p) {
            list.extend(problems.into_iter().map(|m| format!("{what}{m}")));
        }
    };
    policy(&s.capacity, "capacity.");
    for (i, c) in s.clients.iter().enumerate() {
        if let Some(p) = &c.capacity {
            policy(p, &format!("clients[{i}].capacity."));
        }
    }
    list.extend(s.peak_days.problems());
    let mut ids = HashSet::new();
    for (i, w) in s.maintenance.iter().enumerate() {
        let id = w.id.clone().unwrap_or_else(|| format!("maintenance-{}", i + 1));
        if !ids.insert(id.clone()) {
            list.push(format!("maintenance[{i}].id: {id:?} is used twice"));
        }
        if let Err(problems) = crate::domain::maintenance::compile(w, &id, operation_exists) {
            list.extend(problems.into_iter().map(|m| format!("maintenance[{i}].{m}")));
        }
    }
    let mut ids = HashSet::new();
    for (i, rule) in s.transfer_outcomes.iter().enumerate() {
        let id = rule.id.clone().unwrap_or_else(|| format!("outcome-{}", i + 1));
        if !ids.insert(id.clone()) {
            list.push(format!("transferOutcomes[{i}].id: {id:?} is used twice"));
        }
        if let Err(problems) = outcome::compile(rule, &id, &s.bank.code) {
            list.extend(problems.into_iter().map(|m| format!("transferOutcomes[{i}].{m}")));
        }
    }
    list
}

fn check_username(username: &Spanned<String>, seen: &mut HashSet<String>, p: &mut Problems<'_>) {
    let u = &username.value;
    if u.is_empty() || !u.chars().all(|ch| ch.is_ascii_alphanumeric() || "-_.@".contains(ch)) {
        p.at(
            pos(username),
            "a username must be non-empty ASCII letters, digits, '-', '_', '.' or '@'",
        );
    }
    if !seen.insert(u.clone()) {
        p.at(pos(username), format!("username {u:?} is used twice"));
    }
}

fn check_tokens(t: &TokenSpec, p: &mut Problems<'_>) {
    if t.code_ttl.value.0 > SignedDuration::from_secs(60) {
        p.at(
            pos(&t.code_ttl),
            "codeTtl may be at most 60s (authorization codes must be short-lived)",
        );
    }
    if t.refresh_max_lifetime.0 < t.refresh_ttl.0 {
        p.at(
            &Location::UNKNOWN,
            "tokens.refreshMaxLifetime must be at least tokens.refreshTtl",
        );
    }
}
