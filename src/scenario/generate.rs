//! Turns a scenario into customers, users, accounts, history and clients. Every random choice
//! comes from a ChaCha RNG seeded from the scenario seed and the item's position, so the same
//! scenario yields the same world byte for byte, and customers can be produced one at a time
//! (the large scenario never holds its whole history in memory).
//!
//! History is planned forward (salary on payday, rent, account debits, card settlements, ATM
//! withdrawals, transfers in and out) and then laid backwards from the balance at clock start,
//! dropping any credit that would have taken the balance below the overdraft limit. So the last
//! balance is exactly the declared one and no balance in between is below the limit.

use super::names;
use super::schema::{Activity, CorporateRole, PopulationSpec, Scenario};
use crate::domain::account::Account;
use crate::domain::codes::{AccountNumber, AccountType, BranchCode};
use crate::domain::consent::{Client, TokenPolicy};
use crate::domain::customer::{Customer, CustomerKind, Payee, Role, User};
use crate::domain::kana::{KanaName, to_zengin};
use crate::domain::money::Yen;
use crate::domain::transaction::{Direction, Transaction, TransactionKind};
use crate::ids::hash_secret;
use jiff::civil::{Date, Weekday};
use jiff::{Timestamp, ToSpan};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{HashMap, HashSet};

pub use crate::domain::customer::CustomerWorld as GeneratedCustomer;

/// One-time code of generated users (declared users set theirs in the scenario).
const DEFAULT_OTP: &str = "123456";

/// SplitMix64: spreads (seed, stream, index) into independent RNG seeds.
fn mix(seed: u64, stream: u64, index: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index.wrapping_mul(0xD1B5_4A32_D192_ED69);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn rng_for(seed: u64, stream: u64, index: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(mix(seed, stream, index))
}

const STREAM_CLIENTS: u64 = 1;
const STREAM_DECLARED: u64 = 2;
const STREAM_POPULATION: u64 = 100;

fn salt(rng: &mut ChaCha8Rng) -> String {
    format!("{:016x}", rng.random::<u64>())
}

/// The scenario's clients, secrets hashed.
pub fn clients(s: &Scenario) -> Vec<Client> {
    let mut rng = rng_for(s.seed, STREAM_CLIENTS, 0);
    s.clients
        .iter()
        .map(|c| {
            let salt = salt(&mut rng);
            let pick =
                |o: Option<super::schema::DurationSpec>, d: super::schema::DurationSpec| o.unwrap_or(d).0.as_secs();
            let mut scopes: Vec<_> = c.scopes.iter().map(|s| s.0).collect();
            scopes.sort();
            scopes.dedup();
            Client {
                client_id: c.client_id.value.clone(),
                secret_hash: hash_secret(&salt, &c.client_secret),
                secret_salt: salt,
                company: c.company.clone(),
                service: c.service.clone(),
                redirect_uris: c.redirect_uris.iter().map(|u| u.value.clone()).collect(),
                scopes,
                policy: TokenPolicy {
                    access_ttl_secs: pick(c.tokens.access_ttl, s.tokens.access_ttl),
                    refresh_ttl_secs: pick(c.tokens.refresh_ttl, s.tokens.refresh_ttl),
                    refresh_max_lifetime_secs: pick(c.tokens.refresh_max_lifetime, s.tokens.refresh_max_lifetime),
                    code_ttl_secs: s.tokens.code_ttl.value.0.as_secs(),
                },
            }
        })
        .collect()
}

/// Total number of customers the scenario produces (declared plus generated).
pub fn customer_count(s: &Scenario) -> u64 {
    s.customers.len() as u64 + s.populations.iter().map(|p| p.count.value as u64).sum::<u64>()
}

/// Produces every customer in a fixed order and hands each to `sink`.
pub fn customers<E>(
    s: &Scenario,
    clock_start: Timestamp,
    mut sink: impl FnMut(GeneratedCustomer) -> Result<(), E>,
) -> Result<(), E> {
    let start_date = clock_start.to_zoned(crate::clock::jst()).date();
    let mut used: HashSet<(BranchCode, AccountType, AccountNumber)> = HashSet::new();
    for c in &s.customers {
        for a in &c.accounts {
            used.insert((a.branch.value.clone(), a.account_type, a.number.value.clone()));
        }
    }

    for (i, spec) in s.customers.iter().enumerate() {
        let mut rng = rng_for(s.seed, STREAM_DECLARED, i as u64);
        let customer = declared_customer(spec);
        let mut users = Vec::new();
        if let Some(login) = &spec.login {
            let credentials = Credentials {
                username: &login.username.value,
                password: &login.password,
                otp: &login.otp,
            };
            users.push(make_user(
                &mut rng,
                credentials,
                &customer.id,
                Role::Owner,
                &customer.name,
            ));
        }
        for u in &spec.users {
            let role = match u.role {
                CorporateRole::Operator => Role::Operator,
                CorporateRole::Approver => Role::Approver,
                CorporateRole::Admin => Role::Admin,
            };
            let credentials = Credentials {
                username: &u.username.value,
                password: &u.password,
                otp: &u.otp,
            };
            users.push(make_user(&mut rng, credentials, &customer.id, role, &u.name));
        }
        let mut accounts = Vec::new();
        for (n, a) in spec.accounts.iter().enumerate() {
            let mut account = new_account(
                &customer,
                a.branch.value.clone(),
                a.account_type,
                a.number.value.clone(),
                n == 0,
                Yen(a.overdraft_limit as i64),
                Yen(s.limits.per_transfer as i64),
            );
            let history = history(
                &mut rng,
                customer.kind,
                spec.activity,
                a.history_days.value,
                start_date,
                Yen(a.opening_balance.value),
                account.overdraft_limit,
            );
            account.balance = Yen(a.opening_balance.value);
            account.next_seq = history.len() as u32;
            account.set_opening_balances(&history);
            accounts.push((account, history));
        }
        sink(GeneratedCustomer {
            customer,
            users,
            accounts,
        })?;
    }

    let all_branches: Vec<BranchCode> = s.bank.branches.iter().map(|b| b.code.value.clone()).collect();
    let mut counters: HashMap<(BranchCode, AccountType), u32> = HashMap::new();
    for (p, pop) in s.populations.iter().enumerate() {
        let branches: Vec<BranchCode> = if pop.branches.is_empty() {
            all_branches.clone()
        } else {
            pop.branches.iter().map(|b| b.value.clone()).collect()
        };
        for i in 0..pop.count.value {
            let mut rng = rng_for(s.seed, STREAM_POPULATION + p as u64, i as u64);
            let place = Placement {
                branches: &branches,
                start_date,
                transfer_limit: Yen(s.limits.per_transfer as i64),
            };
            let generated = population_member(&mut rng, pop, i + 1, &place, &mut counters, &used);
            sink(generated)?;
        }
    }
    Ok(())
}

fn declared_customer(spec: &super::schema::CustomerSpec) -> Customer {
    let (family, given, family_kana, given_kana) = match spec.kind {
        CustomerKind::Individual => {
            let mut k = spec.name.kanji.split_whitespace();
            let mut r = spec.name.kana.as_str().split(' ').filter(|s| !s.is_empty());
            (
                k.next().map(str::to_owned),
                k.next().map(str::to_owned),
                r.next().map(str::to_owned),
                r.next().map(str::to_owned),
            )
        }
        CustomerKind::Corporation => (None, None, None, None),
    };
    Customer {
        id: spec.id.value.clone(),
        kind: spec.kind,
        name: spec.name.kanji.clone(),
        name_kana: spec.name.kana.clone(),
        family_name: family,
        given_name: given,
        family_name_kana: family_kana,
        given_name_kana: given_kana,
        email: spec.email.clone(),
        payees: spec
            .payees
            .iter()
            .map(|p| Payee {
                bank_code: p.bank_code.value.to_string(),
                branch_code: p.branch.to_string(),
                account_type_code: p.account_type.code().to_owned(),
                account_number: p.number.to_string(),
                name_kana: p.name.to_string(),
            })
            .collect(),
    }
}

/// Login credentials of a user to create.
struct Credentials<'a> {
    username: &'a str,
    password: &'a str,
    otp: &'a str,
}

fn make_user(rng: &mut ChaCha8Rng, login: Credentials<'_>, customer_id: &str, role: Role, display_name: &str) -> User {
    let Credentials {
        username,
        password,
        otp,
    } = login;
    let salt = salt(rng);
    User {
        otp_hash: hash_secret(&salt, otp),
        id: format!("u-{username}"),
        username: username.to_owned(),
        password_hash: hash_secret(&salt, password),
        password_salt: salt,
        customer_id: customer_id.to_owned(),
        role,
        display_name: display_name.to_owned(),
    }
}

fn new_account(
    customer: &Customer,
    branch: BranchCode,
    account_type: AccountType,
    number: AccountNumber,
    primary: bool,
    overdraft_limit: Yen,
    transfer_limit: Yen,
) -> Account {
    Account {
        id: Account::make_id(&branch, account_type, &number),
        customer_id: customer.id.clone(),
        branch,
        account_type,
        number,
        holder_name: customer.name.clone(),
        holder_kana: customer.name_kana.clone(),
        primary,
        balance: Yen::ZERO,
        overdraft_limit,
        transfer_limit,
        next_seq: 0,
        day_open: None,
        month_open: None,
        daily_out: None,
        closed_at: None,
    }
}

fn kana(reading: &str) -> String {
    // The dictionary only holds convertible readings; a failure would be a dictionary bug.
    to_zengin(reading).unwrap_or_default()
}

fn random_person(rng: &mut ChaCha8Rng) -> (String, String, String, String) {
    let (fk, fr) = *names::FAMILY_NAMES.choose(rng).unwrap_or(&("田中", "タナカ"));
    let (gk, gr) = *names::GIVEN_NAMES.choose(rng).unwrap_or(&("太郎", "タロウ"));
    (fk.to_owned(), gk.to_owned(), kana(fr), kana(gr))
}

/// A company name in kanji and its Zengin kana with the legal form abbreviated.
fn random_company(rng: &mut ChaCha8Rng) -> (String, String) {
    let (sk, sr) = *names::COMPANY_STEMS.choose(rng).unwrap_or(&("山田", "ヤマダ"));
    let (tk, tr) = *names::COMPANY_TRADES.choose(rng).unwrap_or(&("商事", "ショウジ"));
    let (form, abbr) = *names::LEGAL_FORMS.choose(rng).unwrap_or(&("株式会社", "ｶ"));
    let body = kana(&format!("{sr}{tr}"));
    if rng.random_bool(0.6) {
        (format!("{form}{sk}{tk}"), format!("{abbr}){body}"))
    } else {
        (format!("{sk}{tk}{form}"), format!("{body}({abbr}"))
    }
}

fn next_number(
    counters: &mut HashMap<(BranchCode, AccountType), u32>,
    used: &HashSet<(BranchCode, AccountType, AccountNumber)>,
    branch: &BranchCode,
    account_type: AccountType,
) -> AccountNumber {
    loop {
        let counter = counters.entry((branch.clone(), account_type)).or_insert(0);
        *counter += 1;
        // A bijection on 0..9_000_000 (7919 is prime and does not divide it) makes numbers
        // look scattered while staying unique.
        let n = (u64::from(*counter) * 7919 + 1_234_567) % 9_000_000 + 1_000_000;
        let number = AccountNumber::parse(&format!("{n:07}")).unwrap_or_else(|_| unreachable!());
        if !used.contains(&(branch.clone(), account_type, number.clone())) {
            return number;
        }
    }
}

/// Where and when a population's accounts are opened.
struct Placement<'a> {
    branches: &'a [BranchCode],
    start_date: Date,
    transfer_limit: Yen,
}

fn population_member(
    rng: &mut ChaCha8Rng,
    pop: &PopulationSpec,
    n: u32,
    place: &Placement<'_>,
    counters: &mut HashMap<(BranchCode, AccountType), u32>,
    used: &HashSet<(BranchCode, AccountType, AccountNumber)>,
) -> GeneratedCustomer {
    let username = format!("{}{n:05}", pop.login.username_prefix.value);
    let customer = match pop.kind {
        CustomerKind::Individual => {
            let (fk, gk, fr, gr) = random_person(rng);
            Customer {
                id: username.clone(),
                kind: CustomerKind::Individual,
                name: format!("{fk} {gk}"),
                name_kana: KanaName::parse(&format!("{fr} {gr}")).unwrap_or_else(|_| unreachable!()),
                family_name: Some(fk),
                given_name: Some(gk),
                family_name_kana: Some(fr),
                given_name_kana: Some(gr),
                email: None,
                payees: Vec::new(),
            }
        }
        CustomerKind::Corporation => {
            let (name, name_kana) = random_company(rng);
            Customer {
                id: username.clone(),
                kind: CustomerKind::Corporation,
                name,
                name_kana: KanaName::parse(&name_kana).unwrap_or_else(|_| unreachable!()),
                family_name: None,
                given_name: None,
                family_name_kana: None,
                given_name_kana: None,
                email: None,
                payees: Vec::new(),
            }
        }
    };
    let (role, display) = match pop.kind {
        CustomerKind::Individual => (Role::Owner, customer.name.clone()),
        CustomerKind::Corporation => {
            let (fk, gk, _, _) = random_person(rng);
            (Role::Admin, format!("{fk} {gk}"))
        }
    };
    let credentials = Credentials {
        username: &username,
        password: &pop.login.password,
        otp: DEFAULT_OTP,
    };
    let user = make_user(rng, credentials, &customer.id, role, &display);

    let [amin, amax] = pop.accounts_per_customer.value;
    let account_count = rng.random_range(amin..=amax);
    let mut accounts = Vec::new();
    for k in 0..account_count {
        let branch = place.branches.choose(rng).cloned().unwrap_or_else(|| unreachable!());
        let account_type = *pop.account_types.choose(rng).unwrap_or(&AccountType::Ordinary);
        let number = next_number(counters, used, &branch, account_type);
        let mut account = new_account(
            &customer,
            branch,
            account_type,
            number,
            k == 0,
            Yen::ZERO,
            place.transfer_limit,
        );
        let [bmin, bmax] = pop.balance.value;
        let balance = Yen(rng.random_range(bmin..=bmax));
        let history = history(
            rng,
            pop.kind,
            pop.activity,
            pop.history_days.value,
            place.start_date,
            balance,
            Yen::ZERO,
        );
        account.balance = balance;
        account.next_seq = history.len() as u32;
        account.set_opening_balances(&history);
        accounts.push((account, history));
    }
    GeneratedCustomer {
        customer,
        users: vec![user],
        accounts,
    }
}

/// A planned movement, before balances are known.
struct Planned {
    date: Date,
    direction: Direction,
    kind: TransactionKind,
    amount: i64,
    remarks: String,
    remitter: Option<String>,
}

fn activity_factor(a: Activity) -> f64 {
    match a {
        Activity::Low => 0.4,
        Activity::Medium => 1.0,
        Activity::High => 2.5,
    }
}

/// The business day on or before `d` (weekends only; the holiday calendar comes with transfers).
fn weekday_on_or_before(d: Date) -> Date {
    match d.weekday() {
        Weekday::Saturday => d.yesterday().unwrap_or(d),
        Weekday::Sunday => d.checked_sub(2.days()).unwrap_or(d),
        _ => d,
    }
}

/// The business day on or after `d`.
fn weekday_on_or_after(d: Date) -> Date {
    match d.weekday() {
        Weekday::Saturday => d.checked_add(2.days()).unwrap_or(d),
        Weekday::Sunday => d.tomorrow().unwrap_or(d),
        _ => d,
    }
}

fn round_to(amount: i64, unit: i64) -> i64 {
    (amount / unit).max(1) * unit
}

fn history(
    rng: &mut ChaCha8Rng,
    kind: CustomerKind,
    activity: Activity,
    days: u32,
    start_date: Date,
    final_balance: Yen,
    overdraft: Yen,
) -> Vec<Transaction> {
    if days == 0 {
        return Vec::new();
    }
    let first = start_date.checked_sub((days as i64).days()).unwrap_or(start_date);
    let mut planned = match kind {
        CustomerKind::Individual => plan_individual(rng, activity, first, start_date, final_balance),
        CustomerKind::Corporation => plan_corporate(rng, activity, first, start_date, final_balance),
    };
    planned.retain(|p| p.date >= first && p.date < start_date);
    planned.sort_by_key(|p| p.date);

    // Lay the plan backwards from the final balance; keep only credits that fit.
    let floor = -overdraft.0;
    let mut keep = vec![true; planned.len()];
    let mut after = final_balance.0;
    for (i, p) in planned.iter().enumerate().rev() {
        let before = match p.direction {
            Direction::Credit => after - p.amount,
            Direction::Debit => after + p.amount,
        };
        if before < floor {
            keep[i] = false;
        } else {
            after = before;
        }
    }
    let mut balance = after;
    let mut out = Vec::new();
    for (p, _) in planned.into_iter().zip(keep).filter(|(_, k)| *k) {
        balance += match p.direction {
            Direction::Credit => p.amount,
            Direction::Debit => -p.amount,
        };
        out.push(Transaction {
            seq: out.len() as u32,
            date: p.date,
            value_date: p.date,
            direction: p.direction,
            kind: p.kind,
            amount: Yen(p.amount),
            balance_after: Yen(balance),
            remarks: p.remarks,
            remitter_name: p.remitter,
        });
    }
    debug_assert_eq!(balance, final_balance.0);
    out
}

fn each_month(first: Date, end: Date) -> impl Iterator<Item = (i16, i8)> {
    let mut y = first.year();
    let mut m = first.month();
    std::iter::from_fn(move || {
        let d = Date::new(y, m, 1).ok()?;
        if d >= end {
            return None;
        }
        let out = (y, m);
        if m == 12 {
            y += 1;
            m = 1;
        } else {
            m += 1;
        }
        Some(out)
    })
}

fn day_of(y: i16, m: i8, day: i8) -> Option<Date> {
    let d = Date::new(y, m, 1).ok()?;
    Date::new(y, m, day.min(d.days_in_month())).ok()
}

fn each_day(first: Date, end: Date) -> impl Iterator<Item = Date> {
    std::iter::successors(Some(first), |d| d.tomorrow().ok()).take_while(move |d| *d < end)
}

// Long on purpose: a generated customer's facets drawn one after another from the seeded stream; moving a draw changes every seed's world.
fn plan_individual(
    rng: &mut ChaCha8Rng,
    activity: Activity,
    first: Date,
    end: Date,
    final_balance: Yen,
) -> Vec<Planned> {
    let f = activity_factor(activity);
    let mut plan = Vec::new();
    let employer = names::EMPLOYERS.choose(rng).copied().unwrap_or("ｶ)ﾔﾏﾀﾞｼﾖｳｼﾞ");
    let salary = (rng.random_bool(0.85))
        .then(|| round_to(rng.random_range(180_000..=550_000), 1_000) + rng.random_range(0..1000));
    let rent = (rng.random_bool(0.55)).then(|| {
        (
            round_to(rng.random_range(45_000..=140_000), 1_000),
            *names::LANDLORDS.choose(rng).unwrap_or(&"ｶ)ｻｸﾗﾌﾄﾞｳｻﾝ"),
        )
    });
    let card = names::CARD_COMPANIES.choose(rng).copied().unwrap_or("JCB");
    let utilities: Vec<_> = names::UTILITIES.iter().filter(|_| rng.random_bool(0.8)).collect();
    // Bigger balances spend a little more, so statements don't look alike.
    let spend = (final_balance.0 as f64 / 2_000_000.0).clamp(0.5, 3.0);

    for (y, m) in each_month(first, end) {
        if let (Some(amount), Some(d)) = (salary, day_of(y, m, 25)) {
            plan.push(Planned {
                date: weekday_on_or_before(d),
                direction: Direction::Credit,
                kind: TransactionKind::Transfer,
                amount,
                remarks: format!("ｷﾕｳﾖ {employer}"),
                remitter: Some(employer.to_owned()),
            });
        }
        if let (Some((amount, landlord)), Some(d)) = (rent, day_of(y, m, 27)) {
            plan.push(Planned {
                date: weekday_on_or_before(d),
                direction: Direction::Debit,
                kind: TransactionKind::Transfer,
                amount,
                remarks: format!("ﾌﾘｺﾐ {landlord}"),
                remitter: None,
            });
        }
        for (remarks, lo, hi) in &utilities {
            if let Some(d) = day_of(y, m, rng.random_range(5..=26)) {
                plan.push(Planned {
                    date: weekday_on_or_after(d),
                    direction: Direction::Debit,
                    kind: TransactionKind::BookTransfer,
                    amount: rng.random_range(*lo..=*hi),
                    remarks: format!("ｺｳﾌﾘ {remarks}"),
                    remitter: None,
                });
            }
        }
        if let Some(d) = day_of(y, m, 10) {
            plan.push(Planned {
                date: weekday_on_or_after(d),
                direction: Direction::Debit,
                kind: TransactionKind::BookTransfer,
                amount: (rng.random_range(8_000..=120_000) as f64 * spend) as i64,
                remarks: format!("ｶ-ﾄﾞ {card}"),
                remitter: None,
            });
        }
    }
    for d in each_day(first, end) {
        if rng.random_bool((0.13 * f).min(1.0)) {
            plan.push(Planned {
                date: d,
                direction: Direction::Debit,
                kind: TransactionKind::Cash,
                amount: rng.random_range(1..=5) * 10_000,
                remarks: "ｶ-ﾄﾞ ATM".into(),
                remitter: None,
            });
        }
        if rng.random_bool((0.02 * f).min(1.0)) {
            plan.push(Planned {
                date: d,
                direction: Direction::Credit,
                kind: TransactionKind::Cash,
                amount: rng.random_range(1..=10) * 10_000,
                remarks: "ATM ﾆﾕｳｷﾝ".into(),
                remitter: None,
            });
        }
        if rng.random_bool((0.02 * f).min(1.0)) {
            let (_, _, fr, gr) = random_person(rng);
            let who = format!("{fr} {gr}");
            plan.push(Planned {
                date: d,
                direction: Direction::Credit,
                kind: TransactionKind::Transfer,
                amount: round_to(rng.random_range(3_000..=80_000), 100),
                remarks: format!("ﾌﾘｺﾐ {who}"),
                remitter: Some(who),
            });
        }
        if rng.random_bool((0.03 * f).min(1.0)) {
            let (_, _, fr, gr) = random_person(rng);
            plan.push(Planned {
                date: d,
                direction: Direction::Debit,
                kind: TransactionKind::Transfer,
                amount: round_to(rng.random_range(2_000..=60_000), 100),
                remarks: format!("ﾌﾘｺﾐ {fr} {gr}"),
                remitter: None,
            });
        }
    }
    plan
}

fn plan_corporate(
    rng: &mut ChaCha8Rng,
    activity: Activity,
    first: Date,
    end: Date,
    final_balance: Yen,
) -> Vec<Planned> {
    let f = activity_factor(activity);
    let scale = (final_balance.0 / 3).clamp(300_000, 50_000_000);
    let mut plan = Vec::new();
    for (y, m) in each_month(first, end) {
        if let Some(d) = day_of(y, m, 25) {
            plan.push(Planned {
                date: weekday_on_or_before(d),
                direction: Direction::Debit,
                kind: TransactionKind::Transfer,
                amount: (scale as f64 * rng.random_range(0.25..0.45)) as i64,
                remarks: "ｷﾕｳﾖ ｿｳｺﾞｳﾌﾘｺﾐ".into(),
                remitter: None,
            });
        }
        if let Some(d) = day_of(y, m, 10) {
            plan.push(Planned {
                date: weekday_on_or_after(d),
                direction: Direction::Debit,
                kind: TransactionKind::BookTransfer,
                amount: (scale as f64 * rng.random_range(0.02..0.05)) as i64,
                remarks: "ｹﾞﾝｾﾝｼﾖﾄｸｾﾞｲ".into(),
                remitter: None,
            });
        }
        if let Some(d) = day_of(y, m, 31) {
            plan.push(Planned {
                date: weekday_on_or_before(d),
                direction: Direction::Debit,
                kind: TransactionKind::BookTransfer,
                amount: (scale as f64 * rng.random_range(0.08..0.12)) as i64,
                remarks: "ｼﾔｶｲﾎｹﾝﾘﾖｳ".into(),
                remitter: None,
            });
        }
    }
    for d in each_day(first, end) {
        if matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday) {
            continue;
        }
        if rng.random_bool((0.35 * f).min(1.0)) {
            let (_, who) = random_company(rng);
            plan.push(Planned {
                date: d,
                direction: Direction::Credit,
                kind: TransactionKind::Transfer,
                amount: (scale as f64 * rng.random_range(0.01..0.12)) as i64 + 1,
                remarks: format!("ﾌﾘｺﾐ {who}"),
                remitter: Some(who),
            });
        }
        if rng.random_bool((0.22 * f).min(1.0)) {
            let (_, who) = random_company(rng);
            plan.push(Planned {
                date: d,
                direction: Direction::Debit,
                kind: TransactionKind::Transfer,
                amount: (scale as f64 * rng.random_range(0.01..0.08)) as i64 + 1,
                remarks: format!("ﾌﾘｺﾐ {who}"),
                remitter: None,
            });
            plan.push(Planned {
                date: d,
                direction: Direction::Debit,
                kind: TransactionKind::Other,
                amount: *[145_i64, 330, 660, 880].choose(rng).unwrap_or(&330),
                remarks: "ﾌﾘｺﾐﾃｽｳﾘﾖｳ".into(),
                remitter: None,
            });
        }
    }
    plan
}
