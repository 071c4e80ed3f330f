//! The one place where the services' errors become problem documents: each error type's
//! variants get their status, stable code and message (the message is the error's own text,
//! which says what to fix).

use crate::http::error::ApiError;
use crate::services::debits::DebitError;
use crate::services::reference::ReferenceError;
use crate::services::transfers::TransferError;
use axum::http::StatusCode;

impl From<ReferenceError> for ApiError {
    fn from(e: ReferenceError) -> Self {
        let detail = e.to_string();
        match e {
            ReferenceError::AccountNotFound(_) => ApiError::not_found("account_not_found", detail),
            ReferenceError::InvalidDate { .. } | ReferenceError::DateToWithoutFrom => {
                ApiError::bad_request("invalid_date", detail)
            }
            ReferenceError::RangeReversed { .. } | ReferenceError::RangeTooLong => {
                ApiError::bad_request("invalid_date_range", detail)
            }
            ReferenceError::InvalidItemKey(_) | ReferenceError::ItemKeyOutsideRange => {
                ApiError::bad_request("invalid_item_key", detail)
            }
            ReferenceError::InvalidLimit(_) => ApiError::bad_request("invalid_limit", detail),
            ReferenceError::Storage(e) => e.into(),
        }
    }
}

impl From<TransferError> for ApiError {
    fn from(e: TransferError) -> Self {
        let detail = e.to_string();
        match e {
            TransferError::MissingScope => {
                ApiError::insufficient_scope(crate::domain::consent::ScopeRule::Transfers.label())
            }
            TransferError::Reference(e) => e.into(),
            TransferError::RemitterClosed | TransferError::AlreadyClosed | TransferError::CreditToClosed(_) => {
                ApiError::new(StatusCode::CONFLICT, "account_closed", detail)
            }
            TransferError::Invalid { code, summary, errors } => {
                ApiError::bad_request(code, summary).with_errors(errors)
            }
            TransferError::InsufficientFunds { .. } => ApiError::bad_request("insufficient_funds", detail),
            TransferError::DailyLimitOnDate { .. } | TransferError::DailyLimit => {
                ApiError::bad_request("daily_limit_exceeded", detail)
            }
            TransferError::RemitterGone | TransferError::NoSuchAccount(_) => {
                ApiError::not_found("account_not_found", detail)
            }
            TransferError::KeyReused => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused", detail)
            }
            TransferError::ApplyNumbersExhausted => {
                ApiError::new(StatusCode::CONFLICT, "apply_numbers_exhausted", detail)
            }
            TransferError::WrongState(_) => ApiError::new(StatusCode::CONFLICT, "invalid_transfer_state", detail),
            TransferError::TransferNotFound(_) => ApiError::not_found("transfer_not_found", detail),
            TransferError::NotAnApprover(_) => ApiError::new(StatusCode::FORBIDDEN, "not_an_approver", detail),
            TransferError::WriterStopped => ApiError::internal(detail),
            TransferError::Storage(e) => e.into(),
        }
    }
}

impl From<DebitError> for ApiError {
    fn from(e: DebitError) -> Self {
        let detail = e.to_string();
        match e {
            DebitError::MissingScope => ApiError::insufficient_scope(crate::domain::consent::ScopeRule::Debits.label()),
            DebitError::InvalidAmount => ApiError::bad_request("invalid_amount", detail),
            DebitError::MandateNotFound(_) => ApiError::not_found("mandate_not_found", detail),
            DebitError::Aborted => ApiError::internal("debit aborted"),
            DebitError::Storage(e) => e.into(),
        }
    }
}

impl From<crate::webhooks::WebhookError> for ApiError {
    fn from(e: crate::webhooks::WebhookError) -> Self {
        use crate::webhooks::WebhookError;
        let detail = e.to_string();
        match e {
            WebhookError::NoEndpoint(_) => ApiError::not_found("endpoint_not_found", detail),
            WebhookError::Unusable {
                code,
                summary,
                field,
                problems,
            } => ApiError::unusable(code, summary, field, problems),
            WebhookError::TooMany(_) => ApiError::new(StatusCode::CONFLICT, "too_many_endpoints", detail),
            WebhookError::Storage(e) => e.into(),
        }
    }
}

/// Maps a consent-service failure onto the problem shape (for the control plane).
pub fn oauth_error_to_api(e: crate::services::consent::ConsentError) -> ApiError {
    match e {
        crate::services::consent::ConsentError::OAuth(e) => match e.error {
            "user_not_found" | "client_not_found" | "account_not_found" => {
                ApiError::new(StatusCode::NOT_FOUND, e.error, e.description)
            }
            "scope_not_allowed" => ApiError::new(StatusCode::FORBIDDEN, e.error, e.description),
            _ => ApiError::bad_request(e.error, e.description),
        },
        crate::services::consent::ConsentError::Storage(e) => e.into(),
        crate::services::consent::ConsentError::HeldBack(until, left) => crate::http::error::held_back(until, left),
    }
}
