//! What a request must fix, field by field (a bad transfer item names its item).

use serde::Serialize;
use utoipa::ToSchema;

/// One field that needs fixing.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FieldError {
    /// The transfer item it concerns (1-based), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_id: Option<u32>,
    /// The field, as named in the request.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}
