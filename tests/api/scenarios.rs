//! Scenario files: `sandbank scenario check` rejects bad files with file, line and column;
//! generation is deterministic under the seed; every account's history adds up to its
//! balance and never dips below the overdraft limit.

use proptest::prelude::*;
use sandbank::domain::transaction::Direction;
use sandbank::scenario::generate::{GeneratedCustomer, customers};
use sandbank::scenario::{DEFAULT_SCENARIO, load_str};
use std::process::Command;

fn check_file(yaml: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scenario.yaml");
    std::fs::write(&path, yaml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sandbank"))
        .args(["scenario", "check"])
        .arg(&path)
        .output()
        .expect("run sandbank");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_shipped_scenarios_are_valid() {
    for file in [
        "scenarios/default.yaml",
        "scenarios/large.yaml",
        "scenarios/bad-day.yaml",
    ] {
        let (ok, text) = check_file(&std::fs::read_to_string(file).unwrap());
        assert!(ok, "{file}: {text}");
        assert!(text.contains("ok"), "{text}");
    }
}

/// A bad edit of the default scenario must be refused, naming the line and what is wrong.
fn assert_refused(from: &str, to: &str, line: usize, expected: &str) {
    assert!(
        DEFAULT_SCENARIO.contains(from),
        "test setup: {from:?} not in default.yaml"
    );
    let yaml = DEFAULT_SCENARIO.replacen(from, to, 1);
    let (ok, text) = check_file(&yaml);
    assert!(!ok, "should be refused after replacing {from:?} by {to:?}");
    assert!(text.contains(expected), "message should say {expected:?}:\n{text}");
    assert!(
        text.contains(&format!(":{line}:")) || text.contains(&format!("line {line}")),
        "message should point at line {line}:\n{text}"
    );
}

fn line_of(needle: &str) -> usize {
    DEFAULT_SCENARIO
        .lines()
        .position(|l| l.contains(needle))
        .expect("needle")
        + 1
}

#[test]
fn unknown_fields_are_refused() {
    assert_refused(
        "  nameKana: ｻﾝﾄﾞﾊﾞﾝｸ",
        "  nameKana: ｻﾝﾄﾞﾊﾞﾝｸ\n  colour: blue",
        line_of("nameKana: ｻﾝﾄﾞﾊﾞﾝｸ") + 1,
        "colour",
    );
}

#[test]
fn bad_codes_are_refused() {
    assert_refused(
        "code: \"0999\"",
        "code: \"999\"",
        line_of("code: \"0999\""),
        "bank code must be exactly 4 digits",
    );
    let n = line_of("number: \"1234567\"");
    assert_refused(
        "number: \"1234567\"",
        "number: \"12345\"",
        n,
        "account number must be exactly 7 digits",
    );
}

#[test]
fn kana_outside_the_zengin_set_is_refused() {
    let n = line_of("kana: ﾀﾅｶ ﾀﾛｳ");
    assert_refused("kana: ﾀﾅｶ ﾀﾛｳ", "kana: タナカ・タロウ", n, "Zengin character set");
}

#[test]
fn duplicate_account_numbers_are_refused() {
    let n = line_of("number: \"3456790\"");
    assert_refused("number: \"3456790\"", "number: \"1234567\"", n, "declared twice");
    // The same number under another branch is fine.
    let yaml = DEFAULT_SCENARIO.replacen("number: \"7654321\"", "number: \"1234567\"", 1);
    let (ok, text) = check_file(&yaml);
    assert!(ok, "{text}");
}

#[test]
fn impossible_dates_and_long_code_lifetimes_are_refused() {
    let n = line_of("start: \"2026-11-21T09:00:00+09:00\"");
    assert_refused(
        "2026-11-21T09:00:00+09:00",
        "2026-02-30T09:00:00+09:00",
        n,
        "clock.start",
    );
    assert_refused("codeTtl: 60s", "codeTtl: 5m", line_of("codeTtl: 60s"), "at most 60s");
    assert_refused(
        "accessTtl: 1h",
        "accessTtl: soon",
        line_of("accessTtl: 1h"),
        "not a duration",
    );
}

#[test]
fn every_problem_is_reported_as_file_line_column() {
    // Three independent problems: a code lifetime over 60 s, a payee at an unknown bank,
    // and a duplicate account number.
    let yaml = DEFAULT_SCENARIO.replacen("codeTtl: 60s", "codeTtl: 90s", 1).replacen(
        "- { bankCode: \"0005\", branch: \"100\"",
        "- { bankCode: \"0123\", branch: \"100\"",
        1,
    );
    let yaml = yaml.replacen("number: \"3456790\"", "number: \"1234567\"", 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.yaml");
    std::fs::write(&path, &yaml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sandbank"))
        .args(["scenario", "check"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let file = path.display().to_string();
    let located: Vec<&str> = text.lines().filter(|l| l.starts_with(&format!("{file}:"))).collect();
    assert!(located.iter().any(|l| l.contains("at most 60s")), "codeTtl: {text}");
    assert!(
        located.iter().any(|l| l.contains("payee bank 0123")),
        "payee bank: {text}"
    );
    assert!(
        located.len() >= 3,
        "every problem, each on its own file:line:column line:\n{text}"
    );
    for l in &located {
        let rest = &l[file.len() + 1..];
        let mut parts = rest.splitn(3, ':');
        assert!(parts.next().unwrap().parse::<u32>().is_ok(), "line number in {l}");
        assert!(parts.next().unwrap().parse::<u32>().is_ok(), "column in {l}");
    }
}

#[test]
fn a_bad_scenario_never_starts_a_bank() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, DEFAULT_SCENARIO.replacen("code: \"0999\"", "code: \"9\"", 1)).unwrap();
    let data = dir.path().join("data");
    let out = Command::new(env!("CARGO_BIN_EXE_sandbank"))
        .arg("--scenario")
        .arg(&path)
        .arg("--data-dir")
        .arg(&data)
        .arg("--port")
        .arg("0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing was started"));
    assert!(!data.exists(), "no half-built data dir");
}

fn generate_all(yaml: &str) -> Vec<GeneratedCustomer> {
    let loaded = load_str(yaml, "test").expect("valid");
    let start = loaded.clock_start(jiff::Timestamp::UNIX_EPOCH);
    let mut out = Vec::new();
    customers::<()>(&loaded.scenario, start, |c| {
        out.push(c);
        Ok(())
    })
    .unwrap();
    out
}

#[test]
fn generation_is_deterministic_under_the_seed() {
    let a = generate_all(DEFAULT_SCENARIO);
    let b = generate_all(DEFAULT_SCENARIO);
    assert_eq!(
        format!("{a:?}"),
        format!("{b:?}"),
        "same scenario and seed: the same world, byte for byte"
    );
    let other = generate_all(&DEFAULT_SCENARIO.replace("seed: 20261121", "seed: 20261122"));
    assert_ne!(format!("{a:?}"), format!("{other:?}"), "another seed: another world");
    // Names look Japanese: kanji with half-width kana readings; companies abbreviated.
    let people: Vec<_> = a.iter().filter(|c| c.customer.id.starts_with("user")).collect();
    assert_eq!(people.len(), 150);
    assert!(
        people
            .iter()
            .all(|c| c.customer.name.contains(' ') && c.customer.name_kana.as_str().contains(' '))
    );
    let corps: Vec<_> = a.iter().filter(|c| c.customer.id.starts_with("corp")).collect();
    assert!(corps.iter().all(|c| {
        let k = c.customer.name_kana.as_str();
        k.contains(")") || k.contains("(")
    }));
    // History looks like an account: salary, rent, ATM and account debits appear.
    let remarks: Vec<&str> = people
        .iter()
        .flat_map(|c| &c.accounts)
        .flat_map(|(_, h)| h)
        .map(|t| t.remarks.as_str())
        .collect();
    for kind in ["ｷﾕｳﾖ", "ATM", "ｺｳﾌﾘ", "ﾌﾘｺﾐ", "ｶ-ﾄﾞ"] {
        assert!(remarks.iter().any(|r| r.contains(kind)), "some history has {kind}");
    }
}

fn population_yaml(seed: u64, min: i64, max: i64, days: u32, activity: &str) -> String {
    format!(
        r#"
name: prop
seed: {seed}
clock: {{ start: "2026-03-31T10:00:00+09:00" }}
bank:
  code: "0999"
  name: テスト銀行
  nameKana: ﾃｽﾄ
  branches: [ {{ code: "001", name: 本店, nameKana: ﾎﾝﾃﾝ }} ]
tokens: {{ accessTtl: 1h, refreshTtl: 30d, refreshMaxLifetime: 90d, codeTtl: 60s }}
populations:
  - {{ count: 8, kind: individual, balance: [{min}, {max}], historyDays: {days}, activity: {activity}, login: {{ usernamePrefix: p, password: pass }} }}
  - {{ count: 4, kind: corporation, balance: [{min}, {max}], historyDays: {days}, activity: {activity}, login: {{ usernamePrefix: c, password: pass }} }}
"#
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn every_history_sums_to_its_balance(
        seed in any::<u64>(),
        min in 0i64..200_000,
        spread in 0i64..10_000_000,
        days in 0u32..200,
        activity in prop::sample::select(vec!["low", "medium", "high"]),
    ) {
        let world = generate_all(&population_yaml(seed, min, min + spread, days, activity));
        for c in &world {
            for (account, history) in &c.accounts {
                let Some(first) = history.first() else { continue };
                let mut balance = first.balance_after.0 - first.signed_amount();
                prop_assert!(balance >= -account.overdraft_limit.0);
                for (i, t) in history.iter().enumerate() {
                    prop_assert!(t.amount.0 > 0);
                    balance += match t.direction { Direction::Credit => t.amount.0, Direction::Debit => -t.amount.0 };
                    prop_assert_eq!(balance, t.balance_after.0, "entry {} of {}", i, account.id);
                    prop_assert!(balance >= -account.overdraft_limit.0, "below the limit at entry {}", i);
                    prop_assert_eq!(t.seq as usize, i);
                }
                prop_assert_eq!(balance, account.balance.0, "history ends at the account balance");
                prop_assert!(history.windows(2).all(|w| w[0].date <= w[1].date));
            }
        }
    }
}

#[test]
fn bad_capacity_maintenance_and_peak_days_are_refused() {
    let yaml = format!(
        "{DEFAULT_SCENARIO}\ncapacity:\n  limits:\n    - {{ name: reads, rate: 5 }}\n    - {{ name: daily, quota: 10, per: 1w }}\npeakDays:\n  paydays: [40]\nmaintenance:\n  - {{ id: x, start: \"2026-11-22T05:00:00+09:00\", end: \"2026-11-22T04:00:00+09:00\" }}\n  - {{ id: y, recurring: {{ every: someday, from: \"02:00\", to: \"06:00\" }}, covers: operations, operations: [\"GET /nowhere\"] }}\n"
    );
    let (ok, text) = check_file(&yaml);
    assert!(!ok, "{text}");
    for expected in [
        "capacity.limits[0].per: a rate needs a window",
        "capacity.limits[1].per: a quota counts per sandbox day",
        "peakDays.paydays: 40 is not a day of the month",
        "maintenance[0].end: must be after start",
        "maintenance[1].recurring.every",
        "maintenance[1].operations: \"GET /nowhere\" is not an API operation",
    ] {
        assert!(text.contains(expected), "should say {expected:?}:\n{text}");
    }
}

#[test]
fn lifetimes_past_ten_years_are_refused() {
    assert_refused(
        "accessTtl: 1h",
        "accessTtl: 7000000d",
        line_of("accessTtl: 1h"),
        "a lifetime is at most 3650d",
    );
}
