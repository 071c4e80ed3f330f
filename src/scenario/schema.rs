//! The scenario file format (YAML, camelCase, unknown fields rejected). Field types validate
//! themselves as they are read, so a bad code or kana name is reported with its line and
//! column; cross-field rules are checked in `load`. `scenarios/README.md` documents each field.

use crate::domain::codes::{AccountNumber, AccountType, BankCode, BranchCode};
use crate::domain::consent::Scope;
use crate::domain::customer::CustomerKind;
use crate::domain::kana::KanaName;
use jiff::SignedDuration;
use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;

/// A whole scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Seed for every random choice in generation.
    pub seed: u64,
    pub clock: ClockSpec,
    pub bank: BankSpec,
    #[serde(default)]
    pub other_banks: Vec<OtherBankSpec>,
    pub tokens: TokenSpec,
    #[serde(default)]
    pub clients: Vec<ClientSpec>,
    #[serde(default)]
    pub customers: Vec<CustomerSpec>,
    #[serde(default)]
    pub populations: Vec<PopulationSpec>,
    /// Transfer fees (defaults: same branch free, same bank 110/220, other bank 330/550).
    #[serde(default)]
    pub fees: FeesSpec,
    /// Transfer limits applied to every account.
    #[serde(default)]
    pub limits: LimitsSpec,
    /// How long a corporate transfer waits for approval before it expires.
    #[serde(default = "default_approval_ttl")]
    pub approval_ttl: DurationSpec,
    /// Fault rules the sandbox starts with (see `domain::fault`).
    #[serde(default)]
    pub faults: Vec<crate::domain::fault::FaultRule>,
    /// How accepted transfers to other banks end, by beneficiary, amount or remitter.
    #[serde(default)]
    pub transfer_outcomes: Vec<crate::domain::outcome::OutcomeRule>,
    /// Bank-side business errors that `bankError` fault effects name.
    #[serde(default)]
    pub bank_errors: Vec<crate::domain::fault::BankError>,
    /// How injected faults show themselves.
    #[serde(default)]
    pub fault_settings: FaultSettingsSpec,
    /// The bank-wide capacity policy, shared by all clients.
    #[serde(default)]
    pub capacity: crate::domain::capacity::CapacityPolicy,
    /// Which days are peak days (五十日, paydays, month-end, listed dates).
    #[serde(default)]
    pub peak_days: crate::domain::calendar::PeakDays,
    /// Planned maintenance windows.
    #[serde(default)]
    pub maintenance: Vec<crate::domain::maintenance::MaintenanceWindow>,
}

/// How injected faults show themselves.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultSettingsSpec {
    /// Name the rule in a `sandbank-fault` response header (default true; false for realism).
    #[serde(default = "yes")]
    pub show_rule: bool,
    /// Accept the one-shot `Sandbank-Simulate` request header (default false).
    #[serde(default)]
    pub simulate_header: bool,
}

impl Default for FaultSettingsSpec {
    fn default() -> Self {
        FaultSettingsSpec {
            show_rule: true,
            simulate_header: false,
        }
    }
}

fn yes() -> bool {
    true
}

fn default_approval_ttl() -> DurationSpec {
    DurationSpec(SignedDuration::from_hours(24))
}

/// Fees in yen: `[below 30,000 yen, from 30,000 yen]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FeesSpec {
    #[serde(default = "fee_same_branch")]
    pub same_branch: [u32; 2],
    #[serde(default = "fee_same_bank")]
    pub same_bank: [u32; 2],
    #[serde(default = "fee_other_bank")]
    pub other_bank: [u32; 2],
}

fn fee_same_branch() -> [u32; 2] {
    [0, 0]
}
fn fee_same_bank() -> [u32; 2] {
    [110, 220]
}
fn fee_other_bank() -> [u32; 2] {
    [330, 550]
}

impl Default for FeesSpec {
    fn default() -> Self {
        FeesSpec {
            same_branch: fee_same_branch(),
            same_bank: fee_same_bank(),
            other_bank: fee_other_bank(),
        }
    }
}

/// Transfer limits in yen.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LimitsSpec {
    /// Largest single transfer item.
    #[serde(default = "limit_per_transfer")]
    pub per_transfer: u64,
    /// Largest total of transfers (with fees) from one account per day.
    #[serde(default = "limit_daily")]
    pub daily_per_account: u64,
}

fn limit_per_transfer() -> u64 {
    10_000_000
}
fn limit_daily() -> u64 {
    20_000_000
}

impl Default for LimitsSpec {
    fn default() -> Self {
        LimitsSpec {
            per_transfer: limit_per_transfer(),
            daily_per_account: limit_daily(),
        }
    }
}

/// An account held at another bank, so transfers to it can be checked as that bank would.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ForeignAccountSpec {
    pub branch: BranchCode,
    #[serde(rename = "type")]
    pub account_type: AccountType,
    pub number: AccountNumber,
    /// Holder name in kana.
    pub name: KanaName,
}

/// A destination registered in advance (for the `transfers:own` scope).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PayeeSpec {
    pub bank_code: Spanned<BankCode>,
    pub branch: BranchCode,
    #[serde(rename = "type")]
    pub account_type: AccountType,
    pub number: AccountNumber,
    pub name: KanaName,
}

/// Where the sandbox clock starts.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClockSpec {
    /// RFC 3339 timestamp, or "now".
    pub start: Spanned<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BankSpec {
    pub code: BankCode,
    pub name: String,
    pub name_kana: KanaName,
    pub branches: Vec<BranchSpec>,
    #[serde(default)]
    pub atms: Vec<AtmSpec>,
    #[serde(default)]
    pub hours: Option<HoursSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BranchSpec {
    pub code: Spanned<BranchCode>,
    pub name: String,
    pub name_kana: KanaName,
    #[serde(default)]
    pub address: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AtmSpec {
    pub name: String,
    #[serde(default)]
    pub branch: Option<Spanned<BranchCode>>,
    #[serde(default)]
    pub address: Option<String>,
    /// Weekday hours, "HH:MM-HH:MM".
    pub weekday_hours: TimeRange,
    /// Saturday, Sunday and holiday hours; absent means closed.
    #[serde(default)]
    pub holiday_hours: Option<TimeRange>,
}

/// Business hours of the bank, shown by the public API.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HoursSpec {
    /// Branch counter hours on business days.
    pub counter: TimeRange,
    /// Hours in which the API accepts same-day transfers to other banks.
    pub transfers: TimeRange,
}

/// "HH:MM-HH:MM" within one day (end may be 24:00).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeRange {
    pub start: String,
    pub end: String,
}

impl TimeRange {
    pub fn parse(s: &str) -> Result<TimeRange, String> {
        let bad = || format!("{s:?} is not a time range; write \"HH:MM-HH:MM\", e.g. \"08:00-21:00\"");
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let minutes = |t: &str| -> Option<u32> {
            let (h, m) = t.trim().split_once(':')?;
            if h.len() != 2 || m.len() != 2 {
                return None;
            }
            let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
            (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
        };
        let (start, end) = (minutes(a).ok_or_else(bad)?, minutes(b).ok_or_else(bad)?);
        if start >= end {
            return Err(format!("{s:?}: the range must end after it starts"));
        }
        Ok(TimeRange {
            start: a.trim().to_owned(),
            end: b.trim().to_owned(),
        })
    }
}

impl<'de> Deserialize<'de> for TimeRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        TimeRange::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OtherBankSpec {
    pub code: Spanned<BankCode>,
    pub name: String,
    #[serde(default)]
    pub name_kana: Option<KanaName>,
    /// Accounts at that bank; when given, transfers to other accounts there are returned.
    #[serde(default)]
    pub accounts: Vec<ForeignAccountSpec>,
}

/// A duration such as "60s", "1h", "30d" or "P90D".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationSpec(pub SignedDuration);

impl<'de> Deserialize<'de> for DurationSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let duration = crate::clock::parse_duration(&s).map_err(serde::de::Error::custom)?;
        if duration <= SignedDuration::ZERO {
            return Err(serde::de::Error::custom(format!("{s:?}: a lifetime must be positive")));
        }
        // Expiry times are sandbox time plus a lifetime; a longer one would run off the calendar.
        if duration > SignedDuration::from_hours(24 * 3650) {
            return Err(serde::de::Error::custom(format!("{s:?}: a lifetime is at most 3650d")));
        }
        Ok(DurationSpec(duration))
    }
}

/// Token lifetimes.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenSpec {
    pub access_ttl: DurationSpec,
    pub refresh_ttl: DurationSpec,
    /// Longest a grant can be extended to by refreshing, counted from consent.
    pub refresh_max_lifetime: DurationSpec,
    /// Authorization code lifetime; at most 60 s.
    pub code_ttl: Spanned<DurationSpec>,
}

/// Lifetimes a client may override.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientTokenSpec {
    #[serde(default)]
    pub access_ttl: Option<DurationSpec>,
    #[serde(default)]
    pub refresh_ttl: Option<DurationSpec>,
    #[serde(default)]
    pub refresh_max_lifetime: Option<DurationSpec>,
}

/// A connecting company's app.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientSpec {
    pub client_id: Spanned<String>,
    pub client_secret: String,
    pub company: String,
    pub service: String,
    pub redirect_uris: Vec<Spanned<String>>,
    pub scopes: Vec<ScopeSpec>,
    #[serde(default)]
    pub tokens: ClientTokenSpec,
    /// The capacity the bank states for this client.
    #[serde(default)]
    pub capacity: Option<crate::domain::capacity::CapacityPolicy>,
}

/// A scope name, checked against the scopes sandbank knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScopeSpec(pub Scope);

impl<'de> Deserialize<'de> for ScopeSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let scopes = Scope::parse_list(&s).map_err(serde::de::Error::custom)?;
        match scopes.as_slice() {
            [one] => Ok(ScopeSpec(*one)),
            _ => Err(serde::de::Error::custom(format!(
                "{s:?}: write one scope per list item"
            ))),
        }
    }
}

/// A customer written out by hand.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomerSpec {
    pub id: Spanned<String>,
    pub kind: CustomerKind,
    pub name: NameSpec,
    #[serde(default)]
    pub email: Option<String>,
    /// Login of an individual customer.
    #[serde(default)]
    pub login: Option<LoginSpec>,
    /// Users of a corporate customer.
    #[serde(default)]
    pub users: Vec<CorporateUserSpec>,
    pub accounts: Vec<AccountSpec>,
    /// Destinations registered in advance (transfers with the `transfers:own` scope).
    #[serde(default)]
    pub payees: Vec<PayeeSpec>,
    /// How busy the generated history of this customer's accounts is.
    #[serde(default)]
    pub activity: Activity,
}

/// A name in kanji with its half-width kana reading. For individuals, family and given
/// names are separated by a space in both.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NameSpec {
    pub kanji: String,
    pub kana: KanaName,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoginSpec {
    pub username: Spanned<String>,
    pub password: String,
    /// One-time code asked on the consent screen for transfer scopes (default "123456").
    #[serde(default = "default_otp")]
    pub otp: String,
}

pub fn default_otp() -> String {
    "123456".into()
}

/// A person who logs in for a corporation.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CorporateUserSpec {
    pub username: Spanned<String>,
    pub password: String,
    pub role: CorporateRole,
    /// The person's name, e.g. "佐藤 花子".
    pub name: String,
    /// One-time code asked on the consent screen for transfer scopes (default "123456").
    #[serde(default = "default_otp")]
    pub otp: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CorporateRole {
    Operator,
    Approver,
    Admin,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountSpec {
    pub branch: Spanned<BranchCode>,
    #[serde(rename = "type")]
    pub account_type: AccountType,
    pub number: Spanned<AccountNumber>,
    /// Balance at the moment the clock starts, in yen.
    pub opening_balance: Spanned<i64>,
    #[serde(default)]
    pub overdraft_limit: u32,
    /// Days of generated history before the clock start (0 for none).
    #[serde(default = "default_history_days")]
    pub history_days: Spanned<u32>,
}

fn default_history_days() -> Spanned<u32> {
    Spanned::new(90, serde_saphyr::Location::UNKNOWN, serde_saphyr::Location::UNKNOWN)
}

/// How many movements generated history has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Activity {
    Low,
    #[default]
    Medium,
    High,
}

/// A generated population of customers.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PopulationSpec {
    pub count: Spanned<u32>,
    pub kind: CustomerKind,
    /// Branches to open accounts at (all branches when absent).
    #[serde(default)]
    pub branches: Vec<Spanned<BranchCode>>,
    #[serde(default = "default_account_types")]
    pub account_types: Vec<AccountType>,
    /// Accounts per customer, [min, max].
    #[serde(default = "default_accounts_per_customer")]
    pub accounts_per_customer: Spanned<[u32; 2]>,
    /// Balance at clock start, [min, max] yen.
    pub balance: Spanned<[i64; 2]>,
    #[serde(default = "default_history_days")]
    pub history_days: Spanned<u32>,
    #[serde(default)]
    pub activity: Activity,
    /// Logins: `{usernamePrefix}{n}` (n from 1, 5 digits) with one shared password.
    pub login: PopulationLoginSpec,
}

fn default_account_types() -> Vec<AccountType> {
    vec![AccountType::Ordinary]
}

fn default_accounts_per_customer() -> Spanned<[u32; 2]> {
    Spanned::new([1, 1], serde_saphyr::Location::UNKNOWN, serde_saphyr::Location::UNKNOWN)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PopulationLoginSpec {
    pub username_prefix: Spanned<String>,
    pub password: String,
}
