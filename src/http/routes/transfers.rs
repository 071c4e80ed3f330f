//! Update APIs (更新系) for transfers, for both segments: fee quote, request, request result,
//! status inquiry, cancel, and account-name verification (口座確認).

use crate::domain::transfer::{TransferRequest, TransferStatus};
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery, Authenticated};
use crate::sandbox::Sandbox;
use crate::services::transfers::{self, TransferInput};
use axum::Json;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The fee of one item.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeeDetail {
    /// The item.
    pub item_id: u32,
    /// Fee in yen (string).
    pub transfer_fee: String,
    /// "sameBranch", "sameBank" or "otherBank".
    pub destination: String,
}

/// What a request would cost, after every check a request makes.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeeQuote {
    /// The remitting account.
    pub account_id: String,
    /// Sum of the items, yen.
    pub total_amount: String,
    /// Sum of the fees, yen.
    pub total_fee: String,
    /// What leaves the account: amounts plus fees, yen.
    pub total_debit_amount: String,
    /// The date it would run, after the holiday rule.
    pub transfer_execution_date: String,
    /// Per-item fees.
    pub transfer_fee_details: Vec<FeeDetail>,
}

/// One item of a transfer, as the bank sees it now.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransferItemView {
    /// The item.
    pub item_id: u32,
    /// Amount, yen.
    pub transfer_amount: String,
    /// Fee, yen.
    pub transfer_fee: String,
    /// Beneficiary bank code.
    pub beneficiary_bank_code: String,
    /// Beneficiary branch code.
    pub beneficiary_branch_code: String,
    /// Deposit type code.
    pub account_type_code: String,
    /// Account number.
    pub account_number: String,
    /// Beneficiary name (half-width kana after conversion).
    pub beneficiary_name: String,
    /// EDI information.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edi_info: Option<String>,
    /// Status code (2, 3, 4, 5, 8, 11, 12, 13, 20, 22, 24, 25, 26, 40).
    pub transfer_status: String,
    /// Status name.
    pub transfer_status_name: String,
    /// Why the item failed or was returned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
}

/// A transfer request and where it stands.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransferView {
    /// Acceptance number (16 digits).
    pub apply_no: String,
    /// "1" done (money moved and settled), "2" not done yet (waiting for approval, scheduled, processing) or not done at all.
    pub result_code: String,
    /// Status code of the request.
    pub transfer_status: String,
    /// Status name.
    pub transfer_status_name: String,
    /// The remitting account.
    pub account_id: String,
    /// Remitter name.
    pub remitter_name: String,
    /// The date asked for.
    pub transfer_designated_date: String,
    /// The date it runs or ran.
    pub transfer_execution_date: String,
    /// Sum of the items, yen.
    pub total_amount: String,
    /// Sum of the fees, yen.
    pub total_fee: String,
    /// Number of items.
    pub total_count: usize,
    /// When the bank accepted it (RFC 3339).
    pub accept_datetime: String,
    /// Last change (RFC 3339).
    pub update_datetime: String,
    /// Approval deadline for corporate requests (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_deadline: Option<String>,
    /// Comment for the approver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apply_comment: Option<String>,
    /// Items that completed (20).
    pub completed_count: usize,
    /// Items the receiving side returned (22); their amounts came back, their fees did not.
    pub returned_count: usize,
    /// Sum of the returned items' amounts, yen.
    pub returned_amount: String,
    /// The items.
    pub transfers: Vec<TransferItemView>,
}

fn destination_name(d: crate::domain::transfer::Destination) -> &'static str {
    match d {
        crate::domain::transfer::Destination::SameBranch => "sameBranch",
        crate::domain::transfer::Destination::SameBank => "sameBank",
        crate::domain::transfer::Destination::OtherBank => "otherBank",
    }
}

/// The API view of a stored transfer.
pub fn view(r: &TransferRequest) -> TransferView {
    let status = r.status();
    TransferView {
        apply_no: r.apply_no.clone(),
        result_code: if status == TransferStatus::Completed { "1" } else { "2" }.into(),
        transfer_status: status.code().into(),
        transfer_status_name: status.name_ja().into(),
        account_id: r.account_id.clone(),
        remitter_name: r.remitter_name.clone(),
        transfer_designated_date: r.designated_date.to_string(),
        transfer_execution_date: r.execution_date.to_string(),
        total_amount: r.total_amount().to_api_string(),
        total_fee: r.total_fee().to_api_string(),
        total_count: r.items.len(),
        accept_datetime: crate::clock::format_jst(r.created_at),
        update_datetime: crate::clock::format_jst(r.updated_at),
        approval_deadline: r.approval_deadline.map(crate::clock::format_jst),
        apply_comment: r.apply_comment.clone(),
        completed_count: r.items.iter().filter(|i| i.status == TransferStatus::Completed).count(),
        returned_count: r
            .items
            .iter()
            .filter(|i| i.status == TransferStatus::FundsReturned)
            .count(),
        returned_amount: r
            .items
            .iter()
            .filter(|i| i.status == TransferStatus::FundsReturned)
            .map(|i| i.amount.0)
            .sum::<i64>()
            .to_string(),
        transfers: r
            .items
            .iter()
            .map(|i| TransferItemView {
                item_id: i.item_id,
                transfer_amount: i.amount.to_api_string(),
                transfer_fee: i.fee.to_api_string(),
                beneficiary_bank_code: i.bank_code.to_string(),
                beneficiary_branch_code: i.branch_code.to_string(),
                account_type_code: i.account_type.code().into(),
                account_number: i.account_number.to_string(),
                beneficiary_name: i.beneficiary_name.clone(),
                edi_info: i.edi_info.clone(),
                transfer_status: i.status.code().into(),
                transfer_status_name: i.status.name_ja().into(),
                status_reason: i.status_reason.clone(),
            })
            .collect(),
    }
}

/// Which transfer(s) to show.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatusQuery {
    /// One transfer by its acceptance number; or list by account and dates.
    pub apply_no: Option<String>,
    /// The account whose transfers to list (with dateFrom/dateTo).
    pub account_id: Option<String>,
    /// First acceptance date (YYYY-MM-DD); today when absent.
    #[param(format = Date)]
    pub date_from: Option<String>,
    /// Last acceptance date; needs dateFrom.
    #[param(format = Date)]
    pub date_to: Option<String>,
    /// From the previous page.
    pub next_item_key: Option<String>,
    /// Items per page, 1..=100 (default 100).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// Transfers of an account, oldest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransferList {
    /// The transfers on this page.
    pub transfers: Vec<TransferView>,
    /// Whether another page follows.
    pub has_next: bool,
    /// Pass as nextItemKey for the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_item_key: Option<String>,
    /// Entries on this page.
    pub count: usize,
}

/// One transfer by acceptance number.
#[derive(Debug, Deserialize, IntoParams, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ApplyNoQuery {
    /// Acceptance number.
    pub apply_no: String,
}

/// Account-name verification request (口座確認).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyRequest {
    /// 4-digit bank code.
    pub bank_code: String,
    /// 3-digit branch code.
    pub branch_code: String,
    /// Deposit type code.
    pub account_type_code: String,
    /// 7-digit number.
    pub account_number: String,
    /// Name to check, in kana (converted as banks do).
    pub account_name: String,
}

/// Answer of account-name verification.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyResult {
    /// 照会回答コード: 0 confirmed, 1 no such account, 2 name mismatch, 9 other (cannot be checked).
    pub result_code: String,
    /// The registered name when confirmed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_name: Option<String>,
}

/// 403 unless the token has a transfer scope.
fn require_transfer_scope(who: &Authenticated) -> Result<(), ApiError> {
    crate::http::route::check_scope(crate::domain::consent::ScopeRule::Transfers, &who.0)
}

pub async fn quote(
    segment: super::accounts::Segment,
    sandbox: Sandbox,
    who: Authenticated,
    input: TransferInput,
) -> Result<Json<FeeQuote>, ApiError> {
    segment.check(&who)?;
    let plan = transfers::plan(&sandbox, &who.0, &input)?;
    Ok(Json(FeeQuote {
        account_id: plan.account.id.clone(),
        total_amount: plan.items.iter().map(|i| i.amount.0).sum::<i64>().to_string(),
        total_fee: plan.items.iter().map(|i| i.fee.0).sum::<i64>().to_string(),
        total_debit_amount: plan.total_debit().to_api_string(),
        transfer_execution_date: plan.execution.to_string(),
        transfer_fee_details: plan
            .items
            .iter()
            .map(|i| FeeDetail {
                item_id: i.item_id,
                transfer_fee: i.fee.to_api_string(),
                destination: destination_name(i.destination).into(),
            })
            .collect(),
    }))
}

pub async fn request(
    segment: super::accounts::Segment,
    sandbox: Sandbox,
    who: Authenticated,
    idem: Option<crate::http::idempotency::IdempotencyContext>,
    input: TransferInput,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    segment.check(&who)?;
    let key = idem.as_ref().map(|c| (c.key.as_str(), c.fingerprint.as_str()));
    let accepted = transfers::request(&sandbox, &who.0, &input, key).await?;
    let mut res = (StatusCode::CREATED, Json(view(&accepted.transfer))).into_response();
    // The key lives in the transfer's own write; the idempotency layer stores no second copy.
    res.extensions_mut()
        .insert(crate::http::idempotency::RecordedByOperation);
    if accepted.replayed {
        res.headers_mut().insert(
            crate::http::idempotency::REPLAYED_HEADER,
            axum::http::HeaderValue::from_static("true"),
        );
    }
    Ok(res)
}

pub async fn result(
    segment: super::accounts::Segment,
    sandbox: Sandbox,
    who: Authenticated,
    q: ApplyNoQuery,
) -> Result<Json<TransferView>, ApiError> {
    segment.check(&who)?;
    require_transfer_scope(&who)?;
    Ok(Json(view(&transfers::get(&sandbox, &who.0, &q.apply_no)?)))
}

pub async fn status(
    segment: super::accounts::Segment,
    sandbox: Sandbox,
    who: Authenticated,
    q: StatusQuery,
) -> Result<Json<TransferList>, ApiError> {
    segment.check(&who)?;
    require_transfer_scope(&who)?;
    if let Some(apply_no) = &q.apply_no {
        let one = view(&transfers::get(&sandbox, &who.0, apply_no)?);
        return Ok(Json(TransferList {
            transfers: vec![one],
            has_next: false,
            next_item_key: None,
            count: 1,
        }));
    }
    let account_id = q
        .account_id
        .as_deref()
        .ok_or_else(|| ApiError::bad_request("invalid_query", "send applyNo, or accountId with dateFrom/dateTo"))?;
    let account = crate::services::reference::account(&sandbox, &who.0, account_id)?;
    let today = sandbox.clock.now_jst().date();
    let (from, to) = crate::services::reference::date_range(q.date_from.as_deref(), q.date_to.as_deref(), today)?;
    let limit = match q.limit {
        None => 100,
        Some(n) if (1..=100).contains(&n) => n as usize,
        Some(n) => {
            return Err(ApiError::bad_request(
                "invalid_limit",
                format!("limit must be 1..=100, got {n}"),
            ));
        }
    };
    if let Some(k) = &q.next_item_key
        && (k.len() != 16 || !k.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(ApiError::bad_request(
            "invalid_item_key",
            format!("nextItemKey {k:?} is not one this API returned"),
        ));
    }
    // nextItemKey is the last applyNo of the previous page.
    let (apply_nos, has_next) = sandbox
        .store
        .transfers_of(&account.id, from, to, q.next_item_key.as_deref(), limit)?;
    let mut list = Vec::new();
    for no in &apply_nos {
        if let Some(r) = sandbox.store.transfer(no)? {
            list.push(view(&r));
        }
    }
    Ok(Json(TransferList {
        count: list.len(),
        next_item_key: if has_next { apply_nos.last().cloned() } else { None },
        has_next,
        transfers: list,
    }))
}

pub async fn cancel(
    segment: super::accounts::Segment,
    sandbox: Sandbox,
    who: Authenticated,
    q: ApplyNoQuery,
) -> Result<Json<TransferView>, ApiError> {
    segment.check(&who)?;
    require_transfer_scope(&who)?;
    let r = transfers::cancel(&sandbox, Some(&who.0), &q.apply_no).await?;
    Ok(Json(view(&r)))
}

pub async fn verify(
    segment: super::accounts::Segment,
    sandbox: Sandbox,
    who: Authenticated,
    r: VerifyRequest,
) -> Result<Json<VerifyResult>, ApiError> {
    segment.check(&who)?;
    require_transfer_scope(&who)?;
    let (code, name) = transfers::verify_account(
        &sandbox,
        &r.bank_code,
        &r.branch_code,
        &r.account_type_code,
        &r.account_number,
        &r.account_name,
    )?;
    Ok(Json(VerifyResult {
        result_code: code.into(),
        account_name: name,
    }))
}

/// Declares the transfer routes of one segment (utoipa needs literal paths).
macro_rules! transfer_routes {
    ($module:ident, $segment:expr, $tag:literal, $op:literal, $fee:literal, $request:literal, $result:literal, $status:literal, $cancel:literal, $verify:literal) => {
        pub mod $module {
            use super::*;
            use crate::http::routes::accounts::Segment;

            /// Fee quote: validates everything a request would and returns per-item fees and the total debit.
            #[utoipa::path(post, path = $fee, tag = $tag, operation_id = concat!($op, "TransferFee"), request_body = TransferInput,
                security(("bearer" = ["transfers:own", "transfers:any"])),
                responses((status = 200, description = "Fees and total debit", body = FeeQuote),
                          (status = 400, description = "Invalid request (per-item errors)", body = crate::http::error::Problem, content_type = "application/problem+json"),
                          (status = 403, description = "No transfer scope, payee not allowed, or wrong segment", body = crate::http::error::Problem, content_type = "application/problem+json"),
                          (status = 404, description = "Not one of the token's accounts", body = crate::http::error::Problem, content_type = "application/problem+json")))]
            pub async fn transfer_fee(sandbox: Sandbox, who: Authenticated, ApiJson(input): ApiJson<TransferInput>) -> Result<Json<FeeQuote>, ApiError> {
                super::quote($segment, sandbox, who, input).await
            }

            /// Request a transfer of 1–99 items. Accepts `Idempotency-Key`.
            #[utoipa::path(post, path = $request, tag = $tag, operation_id = concat!($op, "TransferRequest"), request_body = TransferInput,
                params(("Idempotency-Key" = Option<String>, Header, description = "Retry safely: the same key and body replay the first answer")),
                security(("bearer" = ["transfers:own", "transfers:any"])),
                responses((status = 201, description = "Accepted: applyNo and status (20 done, 11 scheduled, 12 processing, 2 waiting for approval, 22 funds returned)", body = TransferView),
                          (status = 400, description = "Invalid request, insufficient funds or limit", body = crate::http::error::Problem, content_type = "application/problem+json"),
                          (status = 403, description = "No transfer scope, payee not allowed, or wrong segment", body = crate::http::error::Problem, content_type = "application/problem+json"),
                          (status = 409, description = "The same Idempotency-Key is still being processed", body = crate::http::error::Problem, content_type = "application/problem+json"),
                          (status = 422, description = "The Idempotency-Key was used with another body", body = crate::http::error::Problem, content_type = "application/problem+json")))]
            pub async fn transfer_request(
                sandbox: Sandbox,
                who: Authenticated,
                idem: Option<axum::Extension<crate::http::idempotency::IdempotencyContext>>,
                ApiJson(input): ApiJson<TransferInput>,
            ) -> Result<axum::response::Response, ApiError> {
                super::request($segment, sandbox, who, idem.map(|e| e.0), input).await
            }

            /// The result of a request by acceptance number.
            #[utoipa::path(get, path = $result, tag = $tag, operation_id = concat!($op, "TransferRequestResult"), params(ApplyNoQuery),
                security(("bearer" = ["transfers:own", "transfers:any"])),
                responses((status = 200, description = "The transfer", body = TransferView),
                          (status = 404, description = "No such transfer for this customer", body = crate::http::error::Problem, content_type = "application/problem+json")))]
            pub async fn transfer_request_result(sandbox: Sandbox, who: Authenticated, ApiQuery(q): ApiQuery<ApplyNoQuery>) -> Result<Json<TransferView>, ApiError> {
                super::result($segment, sandbox, who, q).await
            }

            /// Status inquiry: one transfer by applyNo, or an account's transfers by acceptance date, paged.
            #[utoipa::path(get, path = $status, tag = $tag, operation_id = concat!($op, "TransferStatus"), params(StatusQuery),
                security(("bearer" = ["transfers:own", "transfers:any"])),
                responses((status = 200, description = "Transfers", body = TransferList),
                          (status = 400, description = "Bad query", body = crate::http::error::Problem, content_type = "application/problem+json"),
                          (status = 404, description = "No such transfer or account", body = crate::http::error::Problem, content_type = "application/problem+json")))]
            pub async fn transfer_status(sandbox: Sandbox, who: Authenticated, ApiQuery(q): ApiQuery<StatusQuery>) -> Result<Json<TransferList>, ApiError> {
                super::status($segment, sandbox, who, q).await
            }

            /// Cancel a scheduled transfer (11) or one waiting for approval (2). Accepts `Idempotency-Key`.
            #[utoipa::path(post, path = $cancel, tag = $tag, operation_id = concat!($op, "TransferCancel"), request_body = ApplyNoQuery,
                security(("bearer" = ["transfers:own", "transfers:any"])),
                responses((status = 200, description = "Cancelled (status 8)", body = TransferView),
                          (status = 404, description = "No such transfer", body = crate::http::error::Problem, content_type = "application/problem+json"),
                          (status = 409, description = "Not cancellable in its state", body = crate::http::error::Problem, content_type = "application/problem+json")))]
            pub async fn transfer_cancel(sandbox: Sandbox, who: Authenticated, ApiJson(q): ApiJson<ApplyNoQuery>) -> Result<Json<TransferView>, ApiError> {
                super::cancel($segment, sandbox, who, q).await
            }

            /// Account-name verification (口座確認): 0 confirmed, 1 no account, 2 name mismatch, 9 other.
            #[utoipa::path(post, path = $verify, tag = $tag, operation_id = concat!($op, "VerifyAccount"), request_body = VerifyRequest,
                security(("bearer" = ["transfers:own", "transfers:any"])),
                responses((status = 200, description = "Answer code", body = VerifyResult),
                          (status = 400, description = "Malformed codes", body = crate::http::error::Problem, content_type = "application/problem+json")))]
            pub async fn verify_account(sandbox: Sandbox, who: Authenticated, ApiJson(r): ApiJson<VerifyRequest>) -> Result<Json<VerifyResult>, ApiError> {
                super::verify($segment, sandbox, who, r).await
            }

            pub fn router() -> crate::http::route::Routes {
                use crate::http::route::RouteSpec;
                use crate::domain::consent::ScopeRule;
                let update = RouteSpec::update($segment, ScopeRule::Transfers);
                let read = RouteSpec::reference($segment).with_scope(ScopeRule::Transfers);
                crate::http::route::Routes::new()
                    .add(update, utoipa_axum::routes!(transfer_fee))
                    .add(update, utoipa_axum::routes!(transfer_request))
                    .add(read, utoipa_axum::routes!(transfer_request_result))
                    .add(read, utoipa_axum::routes!(transfer_status))
                    .add(update, utoipa_axum::routes!(transfer_cancel))
                    .add(update, utoipa_axum::routes!(verify_account))
            }
        }
    };
}

transfer_routes!(
    personal,
    Segment::Personal,
    "personal",
    "personal",
    "/personal/v1/transfer/transferfee",
    "/personal/v1/transfer/request",
    "/personal/v1/transfer/request-result",
    "/personal/v1/transfer/status",
    "/personal/v1/transfer/cancel",
    "/personal/v1/transfer/verify-account"
);
transfer_routes!(
    corporation,
    Segment::Corporation,
    "corporation",
    "corporation",
    "/corporation/v1/transfer/transferfee",
    "/corporation/v1/transfer/request",
    "/corporation/v1/transfer/request-result",
    "/corporation/v1/transfer/status",
    "/corporation/v1/transfer/cancel",
    "/corporation/v1/transfer/verify-account"
);
