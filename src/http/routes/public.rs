//! Public information (no user authorization needed): the bank, its branches, ATMs and hours,
//! as the scenario declares them; the business calendar with its peak days; and the announced
//! maintenance windows.

use crate::domain::calendar::{self, PeakReason};
use crate::domain::maintenance::Coverage;
use crate::http::error::ApiError;
use crate::http::extract::ApiQuery;
use crate::http::route::{RouteSpec, Routes};
use crate::sandbox::Sandbox;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::routes;

/// A branch (支店).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Branch {
    /// 3-digit branch code.
    pub branch_code: String,
    /// Branch name in kanji.
    pub branch_name: String,
    /// Branch name in half-width kana.
    pub branch_name_kana: String,
    /// Street address, when the scenario gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// An ATM location.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Atm {
    /// Name of the ATM corner.
    pub name: String,
    /// Branch it belongs to, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch_code: Option<String>,
    /// Street address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Hours on weekdays ("HH:MM-HH:MM").
    pub weekday_hours: String,
    /// Hours on Saturdays, Sundays and holidays; absent when closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holiday_hours: Option<String>,
}

/// Bank facts.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BankInfo {
    /// 4-digit bank code (金融機関コード).
    pub bank_code: String,
    /// Bank name.
    pub bank_name: String,
    /// Bank name in half-width kana.
    pub bank_name_kana: String,
    /// Branch counter hours on business days ("HH:MM-HH:MM"), if declared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counter_hours: Option<String>,
    /// Hours in which same-day transfers to other banks are accepted, if declared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_hours: Option<String>,
    /// Business days: which days the bank is closed.
    pub holidays: String,
}

/// Branch list.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BranchesResponse {
    /// All branches, in scenario order.
    pub branches: Vec<Branch>,
}

/// ATM list.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AtmsResponse {
    /// All ATM locations.
    pub atms: Vec<Atm>,
}

fn range(r: &crate::scenario::schema::TimeRange) -> String {
    format!("{}-{}", r.start, r.end)
}

/// The bank, its hours and holidays.
#[utoipa::path(get, path = "/public/v1/bank", tag = "public",
    responses((status = 200, description = "Bank facts", body = BankInfo)))]
pub async fn bank(sandbox: Sandbox) -> Json<BankInfo> {
    let b = &sandbox.scenario.scenario.bank;
    Json(BankInfo {
        bank_code: b.code.to_string(),
        bank_name: b.name.clone(),
        bank_name_kana: b.name_kana.to_string(),
        counter_hours: b.hours.as_ref().map(|h| range(&h.counter)),
        transfer_hours: b.hours.as_ref().map(|h| range(&h.transfers)),
        holidays: "Saturdays, Sundays, Japanese national holidays and December 31 - January 3".into(),
    })
}

/// The bank's branches.
#[utoipa::path(get, path = "/public/v1/branches", tag = "public",
    responses((status = 200, description = "Branches", body = BranchesResponse)))]
pub async fn branches(sandbox: Sandbox) -> Json<BranchesResponse> {
    let branches = sandbox
        .scenario
        .scenario
        .bank
        .branches
        .iter()
        .map(|b| Branch {
            branch_code: b.code.value.to_string(),
            branch_name: b.name.clone(),
            branch_name_kana: b.name_kana.to_string(),
            address: b.address.clone(),
        })
        .collect();
    Json(BranchesResponse { branches })
}

/// The bank's ATMs and their hours.
#[utoipa::path(get, path = "/public/v1/atms", tag = "public",
    responses((status = 200, description = "ATMs", body = AtmsResponse)))]
pub async fn atms(sandbox: Sandbox) -> Json<AtmsResponse> {
    let atms = sandbox
        .scenario
        .scenario
        .bank
        .atms
        .iter()
        .map(|a| Atm {
            name: a.name.clone(),
            branch_code: a.branch.as_ref().map(|b| b.value.to_string()),
            address: a.address.clone(),
            weekday_hours: range(&a.weekday_hours),
            holiday_hours: a.holiday_hours.as_ref().map(range),
        })
        .collect();
    Json(AtmsResponse { atms })
}

/// Which month of the calendar.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CalendarQuery {
    /// `YYYY-MM` (default: the sandbox clock's current month).
    pub month: Option<String>,
}

/// One day of the bank's calendar.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CalendarDay {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// `mon` … `sun`.
    pub weekday: String,
    /// Whether the bank is open (not a weekend, national holiday or Dec 31 – Jan 3).
    pub business_day: bool,
    /// Whether it is a national holiday (including substitute and citizens' holidays).
    pub national_holiday: bool,
    /// Whether corporate traffic peaks: capacity policies with a `peak` part change today.
    pub peak_day: bool,
    /// Why it is a peak day: `gotobi` (五十日), `payday`, `monthEnd`, `listed`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub peak_reasons: Vec<PeakReason>,
}

/// A month of the bank's calendar.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CalendarMonth {
    /// `YYYY-MM`.
    pub month: String,
    /// Business days in the month.
    pub business_days: usize,
    /// The rule for peak days, in words.
    pub peak_rule: String,
    /// Every day of the month.
    pub days: Vec<CalendarDay>,
}

/// The bank's business days, holidays and peak days of a month, to plan around.
#[utoipa::path(get, path = "/public/v1/calendar", tag = "public", params(CalendarQuery),
    responses((status = 200, description = "The month", body = CalendarMonth),
              (status = 400, description = "The month is not YYYY-MM", body = crate::http::error::Problem, content_type = "application/problem+json")))]
pub async fn calendar(sandbox: Sandbox, ApiQuery(q): ApiQuery<CalendarQuery>) -> Result<Json<CalendarMonth>, ApiError> {
    let first = match q.month.as_deref() {
        None => sandbox.clock.now_jst().date().first_of_month(),
        Some(m) => format!("{m}-01")
            .parse::<jiff::civil::Date>()
            .ok()
            .filter(|d| m.len() == 7 && (1900..=2199).contains(&d.year()))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_month",
                    format!("month {m:?} is not a month between 1900 and 2199 written YYYY-MM, e.g. 2026-11"),
                )
            })?,
    };
    let peak = &sandbox.capacity.peak_days;
    let mut days = Vec::new();
    let mut d = first;
    while d.month() == first.month() {
        let reasons = peak.reasons(d);
        days.push(CalendarDay {
            date: d.to_string(),
            weekday: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][d.weekday().to_monday_zero_offset() as usize]
                .to_owned(),
            business_day: calendar::is_business_day(d),
            national_holiday: calendar::is_national_holiday(d),
            peak_day: !reasons.is_empty(),
            peak_reasons: reasons,
        });
        match d.tomorrow() {
            Ok(next) => d = next,
            Err(_) => break,
        }
    }
    let mut rule = Vec::new();
    if peak.gotobi {
        rule.push("五十日 (the 5th, 10th, 15th, 20th, 25th, 30th and the month's last day)".to_owned());
    }
    if !peak.paydays.is_empty() {
        rule.push(format!(
            "paydays (day {})",
            peak.paydays
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if peak.month_end {
        rule.push("the month's last business day".to_owned());
    }
    if !peak.dates.is_empty() {
        rule.push("the days the scenario lists".to_owned());
    }
    Ok(Json(CalendarMonth {
        month: format!("{:04}-{:02}", first.year(), first.month()),
        business_days: days.iter().filter(|d| d.business_day).count(),
        peak_rule: format!(
            "{}; a 五十日 or payday on a bank holiday moves to the previous business day",
            if rule.is_empty() {
                "no peak days".to_owned()
            } else {
                rule.join(", ")
            }
        ),
        days,
    }))
}

/// An announced maintenance window (one occurrence of it).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnnouncedMaintenance {
    /// The window's id (named in the 503 answers during it).
    pub id: String,
    /// What the bank says about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Start (RFC 3339, sandbox time).
    pub start: String,
    /// End (RFC 3339, sandbox time).
    pub end: String,
    /// What it stops: `all`, `update`, `auth` or `operations`.
    pub covers: Coverage,
    /// With `covers: operations`: the operations it stops.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<String>,
    /// When it was announced (absent: since the window was declared).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub announced_at: Option<String>,
    /// Whether it is running now.
    pub in_progress: bool,
}

/// The announced maintenance windows.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaintenanceList {
    /// Sandbox time now (RFC 3339).
    pub now: String,
    /// Windows running now or coming in the next two months, as announced; a window not yet
    /// announced is not listed.
    pub windows: Vec<AnnouncedMaintenance>,
}

/// Current and upcoming maintenance windows, from their announcement on.
#[utoipa::path(get, path = "/public/v1/maintenance", tag = "public",
    responses((status = 200, description = "The windows", body = MaintenanceList)))]
pub async fn maintenance(sandbox: Sandbox) -> Json<MaintenanceList> {
    let now = sandbox.clock.now();
    let windows = sandbox
        .maintenance
        .announced(now)
        .into_iter()
        .map(|(w, o)| AnnouncedMaintenance {
            id: w.id.unwrap_or_default(),
            description: w.description,
            start: crate::clock::format_jst(o.start),
            end: crate::clock::format_jst(o.end),
            covers: w.covers,
            operations: w.operations,
            announced_at: o.announced_at.map(crate::clock::format_jst),
            in_progress: o.start <= now && now < o.end,
        })
        .collect();
    Json(MaintenanceList {
        now: crate::clock::format_jst(now),
        windows,
    })
}

pub fn router() -> Routes {
    let public = RouteSpec::public_information();
    Routes::new()
        .add(public, routes!(bank))
        .add(public, routes!(branches))
        .add(public, routes!(atms))
        .add(public, routes!(calendar))
        .add(public, routes!(maintenance))
}
