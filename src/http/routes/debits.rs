//! Instant account debit (即時口座振替) for billers: debit under a mandate, list the mandates
//! granted to the biller, cancel one.

use crate::domain::debit::Mandate;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, Authenticated};
use crate::sandbox::Sandbox;
use crate::services::debits;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A debit to make.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DebitRequest {
    /// The mandate the user granted (from the mandate list).
    pub mandate_id: String,
    /// Amount in whole yen (string).
    #[schema(example = "3980", pattern = "^[1-9][0-9]{0,11}$")]
    pub amount: String,
    /// Text for the passbook after "ｺｳﾌﾘ" (half-width kana recommended).
    pub remarks: Option<String>,
}

/// The immediate answer to a debit.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DebitResultView {
    /// Id of this debit attempt.
    pub debit_id: String,
    /// The mandate used.
    pub mandate_id: String,
    /// Amount asked, yen.
    pub amount: String,
    /// 振替結果コード: 0 debited, 1 insufficient funds, 2 no account, 3 stopped by depositor, 4 no mandate, 8 stopped by biller, 9 other (e.g. over a maximum).
    pub result_code: String,
    /// Name of the result code.
    pub result_name: String,
    /// When it was processed (RFC 3339).
    pub processed_at: String,
}

/// A mandate as the biller sees it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MandateView {
    /// Mandate id.
    pub mandate_id: String,
    /// The account it debits.
    pub account_id: String,
    /// Most per debit, yen.
    pub max_per_debit: String,
    /// Most per calendar month, yen.
    pub max_per_month: String,
    /// active, stoppedByDepositor or cancelledByBiller.
    pub status: String,
    /// When the user granted it.
    pub created_at: String,
}

/// The biller's mandates.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MandateList {
    /// Mandates, oldest first.
    pub mandates: Vec<MandateView>,
}

/// Which mandate.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MandateRef {
    /// Mandate id.
    pub mandate_id: String,
}

pub fn mandate_view(m: &Mandate) -> MandateView {
    MandateView {
        mandate_id: m.id.clone(),
        account_id: m.account_id.clone(),
        max_per_debit: m.max_per_debit.to_api_string(),
        max_per_month: m.max_per_month.to_api_string(),
        status: m.status.name().into(),
        created_at: crate::clock::format_jst(m.created_at),
    }
}

pub async fn request(
    segment: super::accounts::Segment,
    sandbox: Sandbox,
    who: Authenticated,
    r: DebitRequest,
) -> Result<Json<DebitResultView>, ApiError> {
    segment.check(&who)?;
    let amount = r
        .amount
        .parse::<i64>()
        .ok()
        .filter(|a| *a >= 1 && r.amount.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_amount",
                "amount must be whole yen as a string of digits, at least 1",
            )
        })?;
    if r.remarks.as_ref().is_some_and(|t| t.chars().count() > 20) {
        return Err(ApiError::bad_request(
            "invalid_remarks",
            "remarks: at most 20 characters",
        ));
    }
    let o = debits::debit(
        &sandbox,
        &who.0,
        &r.mandate_id,
        crate::domain::money::Yen(amount),
        r.remarks.as_deref(),
    )
    .await?;
    Ok(Json(DebitResultView {
        debit_id: o.debit_id,
        mandate_id: o.mandate_id,
        amount: o.amount.to_api_string(),
        result_code: o.result.code().into(),
        result_name: o.result.name_ja().into(),
        processed_at: crate::clock::format_jst(o.processed_at),
    }))
}

macro_rules! debit_routes {
    ($module:ident, $segment:expr, $tag:literal, $op:literal, $request:literal, $mandates:literal, $cancel:literal) => {
        pub mod $module {
            use super::*;
            use crate::http::routes::accounts::Segment;

            /// Debit an account at once under a mandate. Accepts `Idempotency-Key`.
            #[utoipa::path(post, path = $request, tag = $tag, operation_id = concat!($op, "DebitRequest"), request_body = DebitRequest,
                security(("bearer" = ["debits"])),
                responses((status = 200, description = "The result code (0 debited; 1, 2, 3, 4, 8, 9 not debited)", body = DebitResultView),
                          (status = 400, description = "Bad amount", body = crate::http::error::Problem, content_type = "application/problem+json"),
                          (status = 403, description = "No debits scope or wrong segment", body = crate::http::error::Problem, content_type = "application/problem+json")))]
            pub async fn debit_request(sandbox: Sandbox, who: Authenticated, ApiJson(r): ApiJson<DebitRequest>) -> Result<Json<DebitResultView>, ApiError> {
                super::request($segment, sandbox, who, r).await
            }

            /// The mandates this user granted to the calling biller.
            #[utoipa::path(get, path = $mandates, tag = $tag, operation_id = concat!($op, "DebitMandates"),
                security(("bearer" = ["debits"])),
                responses((status = 200, description = "Mandates", body = MandateList),
                          (status = 403, description = "No debits scope", body = crate::http::error::Problem, content_type = "application/problem+json")))]
            pub async fn debit_mandates(sandbox: Sandbox, who: Authenticated) -> Result<Json<MandateList>, ApiError> {
                $segment.check(&who)?;
                let list = debits::mandates_of_biller(&sandbox, &who.0)?;
                Ok(Json(MandateList { mandates: list.iter().map(mandate_view).collect() }))
            }

            /// Cancel a mandate (the biller stops debiting; later debits answer 8).
            #[utoipa::path(post, path = $cancel, tag = $tag, operation_id = concat!($op, "DebitMandateCancel"), request_body = MandateRef,
                security(("bearer" = ["debits"])),
                responses((status = 200, description = "The mandate", body = MandateView),
                          (status = 404, description = "No such mandate for this biller", body = crate::http::error::Problem, content_type = "application/problem+json")))]
            pub async fn debit_mandate_cancel(sandbox: Sandbox, who: Authenticated, ApiJson(r): ApiJson<MandateRef>) -> Result<Json<MandateView>, ApiError> {
                $segment.check(&who)?;
                let m = debits::end_mandate(&sandbox, &r.mandate_id, Some(&who.0)).await?;
                Ok(Json(mandate_view(&m)))
            }

            pub fn router() -> crate::http::route::Routes {
                use crate::http::route::RouteSpec;
                use crate::domain::consent::ScopeRule;
                let update = RouteSpec::update($segment, ScopeRule::Debits);
                crate::http::route::Routes::new()
                    .add(update, utoipa_axum::routes!(debit_request))
                    .add(RouteSpec::reference($segment), utoipa_axum::routes!(debit_mandates))
                    .add(update, utoipa_axum::routes!(debit_mandate_cancel))
            }
        }
    };
}

debit_routes!(
    personal,
    Segment::Personal,
    "personal",
    "personal",
    "/personal/v1/debit/request",
    "/personal/v1/debit/mandates",
    "/personal/v1/debit/mandates/cancel"
);
debit_routes!(
    corporation,
    Segment::Corporation,
    "corporation",
    "corporation",
    "/corporation/v1/debit/request",
    "/corporation/v1/debit/mandates",
    "/corporation/v1/debit/mandates/cancel"
);
