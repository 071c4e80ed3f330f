//! Public information (no user authorization needed): the bank, its branches, ATMs and hours,
//! as the scenario declares them.

use crate::sandbox::Sandbox;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
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
pub async fn bank(app: Sandbox) -> Json<BankInfo> {
    let b = &app.scenario.scenario.bank;
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
pub async fn branches(app: Sandbox) -> Json<BranchesResponse> {
    let branches = app
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
pub async fn atms(app: Sandbox) -> Json<AtmsResponse> {
    let atms = app
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

pub fn router() -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(bank))
        .routes(routes!(branches))
        .routes(routes!(atms))
}
