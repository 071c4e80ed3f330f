//! Events (the transactional outbox) and the notifications the bank sends its customers.

use serde::{Deserialize, Serialize};

/// A state change, written in the same atomic write as the change itself; webhooks and the
/// pull API read them from the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub id: u64,
    /// e.g. `transfer.completed`, `account.credited`.
    pub event_type: String,
    /// RFC 3339, sandbox time.
    pub occurred_at: String,
    /// The event's payload as JSON text.
    pub data: String,
}

/// The simulated e-mail a bank sends for every movement of funds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub id: u64,
    pub customer_id: String,
    pub account_id: String,
    /// RFC 3339, sandbox time.
    pub sent_at: String,
    pub subject: String,
    pub body: String,
}
