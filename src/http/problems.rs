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
