//! Events (the transactional outbox) and the notifications the bank sends its customers.
//!
//! The kinds of event are a closed set: each has a stable dotted name (what webhooks and the
//! pull API call its `type`) and a typed payload. Stored with postcard, so no field may be
//! skipped when serializing.

use serde::{Deserialize, Serialize};

/// A state change, written in the same atomic write as the change itself; webhooks and the
/// pull API read them from the outbox in sequence order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The sandbox's outbox sequence: 1, 2, 3 … assigned inside the writing transaction, so
    /// sequence order is commit order and a reader paging by it never misses an event.
    pub seq: u64,
    /// RFC 3339, sandbox time.
    pub occurred_at: String,
    pub kind: EventKind,
}

impl Event {
    /// The event's id: `evt_` and its sequence number.
    pub fn id(&self) -> String {
        format!("evt_{:012}", self.seq)
    }
}

/// What happened, with its payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// A transfer request reached a new status (`transfer.completed`, `transfer.scheduled` …;
    /// see `TransferEventKind`).
    Transfer(TransferEventKind, TransferData),
    /// One item of a transfer was returned by the receiving side (資金返却).
    TransferItemReturned(TransferItemData),
    /// Money arrived in a customer's account.
    AccountCredited(CreditData),
    /// An account was closed.
    AccountClosed(AccountData),
    /// A biller debited an account under a mandate.
    DebitCompleted(DebitData),
    /// A user granted a biller a debit mandate.
    MandateCreated(MandateData),
    /// The user stopped a mandate, or the consent behind it was revoked or expired.
    MandateStopped(MandateData),
    /// The biller cancelled a mandate.
    MandateCancelled(MandateData),
    /// A user's consent to a client was revoked (by the user, the client or the bank).
    GrantRevoked(GrantData),
    /// A consent reached its maximum lifetime.
    GrantExpired(GrantData),
    /// The bank suspended a connecting company, a user's API access, or every client
    /// (`client.suspended`, `user.suspended`, `bank.stopped`).
    Stopped(StopData),
    /// The bank lifted such a stop (`client.resumed`, `user.resumed`, `bank.resumed`).
    Resumed(StopData),
    /// Money left a customer's account (a transfer with its fees, or a debit).
    AccountDebited(MovementData),
    /// A biller's debit was refused (`resultCode` says why).
    DebitFailed(DebitFailedData),
    /// The bank published a maintenance window.
    MaintenanceAnnounced(MaintenanceData),
    /// The bank disabled a webhook endpoint (it answered 410, or kept failing).
    EndpointDisabled(EndpointData),
    /// A test event sent on demand to one endpoint (`POST /sandbox/v1/webhooks/test`).
    WebhookTest(EndpointData),
}

/// Payload of `account.debited`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MovementData {
    pub account_id: String,
    /// Yen taken from the account (for a transfer: the items plus their fees).
    pub amount: String,
    /// The transfer that debited it.
    pub apply_no: Option<String>,
    /// The debit that debited it.
    pub debit_id: Option<String>,
}

/// Payload of `debit.failed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DebitFailedData {
    pub debit_id: String,
    pub mandate_id: String,
    pub client_id: String,
    pub amount: String,
    /// The bank result code (1 insufficient funds, 2 no account, 3 stopped by depositor,
    /// 8 stopped by biller, 9 other).
    pub result_code: String,
}

/// Payload of `maintenance.announced`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MaintenanceData {
    pub window_id: String,
    /// `all`, `update`, `auth` or `operations`.
    pub covers: String,
    /// The next occurrence (RFC 3339, sandbox time), when there is one.
    pub start: Option<String>,
    pub end: Option<String>,
    pub description: Option<String>,
}

/// Payload of `webhook.endpoint_disabled` and `webhook.test`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointData {
    pub endpoint_id: String,
    pub client_id: String,
    pub reason: Option<String>,
}

/// Who may receive an event by webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience<'a> {
    /// Clients holding a live grant with a read scope over this account.
    Account(&'a str),
    /// This client only.
    Client(&'a str),
    /// Clients holding a live grant from this user (login name).
    User(&'a str),
    /// This endpoint only.
    Endpoint(&'a str),
    /// Every client.
    Everyone,
}

/// Payload of the kill-switch events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StopData {
    /// What was stopped: `client`, `user` or `bank`.
    pub target: String,
    /// The client id or username (absent for the bank).
    pub id: Option<String>,
    /// `all` or `update`.
    pub scope: String,
    pub reason: String,
    /// Who did it (`sandbox-admin`).
    pub by: String,
}

/// The status a transfer event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferEventKind {
    Completed,
    PartiallyCompleted,
    Returned,
    Scheduled,
    Processing,
    ApprovalRequested,
    Cancelled,
    ApprovalReturned,
    Expired,
    Failed,
    /// The bank accepted a new request (every new transfer reports this first).
    Accepted,
    /// The approver approved a corporate request (it then runs or is scheduled).
    Approved,
}

/// Payload of the transfer status events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferData {
    pub apply_no: String,
    pub account_id: String,
    /// Status code of the request (see `transferStatus`).
    pub status: String,
    /// Sum of the items, yen.
    pub total_amount: String,
    /// Items completed and returned.
    pub completed_count: usize,
    pub returned_count: usize,
}

/// Payload of `transfer.item_returned`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferItemData {
    pub apply_no: String,
    pub account_id: String,
    pub item_id: u32,
    /// The amount that came back to the remitter, yen (the fee is kept).
    pub amount: String,
    pub reason: String,
}

/// Payload of `account.credited`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreditData {
    pub account_id: String,
    pub amount: String,
    pub remitter_name: String,
    /// The transfer that credited it, for transfers inside the bank.
    pub apply_no: Option<String>,
}

/// Payload of `account.closed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountData {
    pub account_id: String,
    /// The balance paid out on closing, yen.
    pub paid_out: String,
}

/// Payload of `debit.completed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DebitData {
    pub debit_id: String,
    pub mandate_id: String,
    pub client_id: String,
    pub account_id: String,
    pub amount: String,
}

/// Payload of the mandate events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MandateData {
    pub mandate_id: String,
    pub client_id: String,
    pub account_id: String,
    /// `active`, `stoppedByDepositor`, `cancelledByBiller`, `consentEnded`.
    pub status: String,
    pub reason: Option<String>,
}

/// Payload of the grant events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantData {
    pub grant_id: String,
    pub client_id: String,
    /// Login name of the user who consented.
    pub username: String,
    pub reason: Option<String>,
}

impl TransferEventKind {
    pub fn name(self) -> &'static str {
        match self {
            TransferEventKind::Completed => "transfer.completed",
            TransferEventKind::PartiallyCompleted => "transfer.partially_completed",
            TransferEventKind::Returned => "transfer.returned",
            TransferEventKind::Scheduled => "transfer.scheduled",
            TransferEventKind::Processing => "transfer.processing",
            TransferEventKind::ApprovalRequested => "transfer.awaiting_approval",
            TransferEventKind::Cancelled => "transfer.cancelled",
            TransferEventKind::ApprovalReturned => "transfer.returned_for_revision",
            TransferEventKind::Expired => "transfer.expired",
            TransferEventKind::Failed => "transfer.failed",
            TransferEventKind::Accepted => "transfer.accepted",
            TransferEventKind::Approved => "transfer.approved",
        }
    }
}

impl EventKind {
    /// Every event type name, for documentation and filters.
    pub const TYPES: &'static [&'static str] = &[
        "transfer.accepted",
        "transfer.approved",
        "transfer.completed",
        "transfer.partially_completed",
        "transfer.returned",
        "transfer.scheduled",
        "transfer.processing",
        "transfer.awaiting_approval",
        "transfer.cancelled",
        "transfer.returned_for_revision",
        "transfer.expired",
        "transfer.failed",
        "transfer.item_returned",
        "account.credited",
        "account.debited",
        "account.closed",
        "debit.completed",
        "debit.failed",
        "mandate.created",
        "mandate.stopped",
        "mandate.cancelled",
        "grant.revoked",
        "grant.expired",
        "client.suspended",
        "client.resumed",
        "user.suspended",
        "user.resumed",
        "bank.stopped",
        "bank.resumed",
        "maintenance.announced",
        "webhook.endpoint_disabled",
        "webhook.test",
    ];

    /// Whether `name` is an event type.
    pub fn is_type(name: &str) -> bool {
        Self::TYPES.contains(&name)
    }

    /// The event's type name, e.g. `transfer.completed`.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Transfer(k, _) => k.name(),
            EventKind::TransferItemReturned(_) => "transfer.item_returned",
            EventKind::AccountCredited(_) => "account.credited",
            EventKind::AccountClosed(_) => "account.closed",
            EventKind::DebitCompleted(_) => "debit.completed",
            EventKind::MandateCreated(_) => "mandate.created",
            EventKind::MandateStopped(_) => "mandate.stopped",
            EventKind::MandateCancelled(_) => "mandate.cancelled",
            EventKind::GrantRevoked(_) => "grant.revoked",
            EventKind::GrantExpired(_) => "grant.expired",
            EventKind::Stopped(d) => match d.target.as_str() {
                "client" => "client.suspended",
                "user" => "user.suspended",
                _ => "bank.stopped",
            },
            EventKind::Resumed(d) => match d.target.as_str() {
                "client" => "client.resumed",
                "user" => "user.resumed",
                _ => "bank.resumed",
            },
            EventKind::AccountDebited(_) => "account.debited",
            EventKind::DebitFailed(_) => "debit.failed",
            EventKind::MaintenanceAnnounced(_) => "maintenance.announced",
            EventKind::EndpointDisabled(_) => "webhook.endpoint_disabled",
            EventKind::WebhookTest(_) => "webhook.test",
        }
    }

    /// Who may receive the event by webhook: money and transfer events go to the clients
    /// whose live grant covers the account; grant, mandate and debit events to the client
    /// concerned; a user's stop to the clients the user granted; bank-wide news to everyone.
    pub fn audience(&self) -> Audience<'_> {
        match self {
            EventKind::Transfer(_, d) => Audience::Account(&d.account_id),
            EventKind::TransferItemReturned(d) => Audience::Account(&d.account_id),
            EventKind::AccountCredited(d) => Audience::Account(&d.account_id),
            EventKind::AccountClosed(d) => Audience::Account(&d.account_id),
            EventKind::AccountDebited(d) => Audience::Account(&d.account_id),
            EventKind::DebitCompleted(d) => Audience::Client(&d.client_id),
            EventKind::DebitFailed(d) => Audience::Client(&d.client_id),
            EventKind::MandateCreated(d) | EventKind::MandateStopped(d) | EventKind::MandateCancelled(d) => {
                Audience::Client(&d.client_id)
            }
            EventKind::GrantRevoked(d) | EventKind::GrantExpired(d) => Audience::Client(&d.client_id),
            EventKind::Stopped(d) | EventKind::Resumed(d) => match (d.target.as_str(), d.id.as_deref()) {
                ("client", Some(id)) => Audience::Client(id),
                ("user", Some(id)) => Audience::User(id),
                _ => Audience::Everyone,
            },
            EventKind::MaintenanceAnnounced(_) => Audience::Everyone,
            EventKind::EndpointDisabled(d) => Audience::Client(&d.client_id),
            EventKind::WebhookTest(d) => Audience::Endpoint(&d.endpoint_id),
        }
    }

    /// The payload as JSON.
    pub fn data(&self) -> serde_json::Value {
        let value = match self {
            EventKind::Transfer(_, d) => serde_json::to_value(d),
            EventKind::TransferItemReturned(d) => serde_json::to_value(d),
            EventKind::AccountCredited(d) => serde_json::to_value(d),
            EventKind::AccountClosed(d) => serde_json::to_value(d),
            EventKind::DebitCompleted(d) => serde_json::to_value(d),
            EventKind::MandateCreated(d) | EventKind::MandateStopped(d) | EventKind::MandateCancelled(d) => {
                serde_json::to_value(d)
            }
            EventKind::GrantRevoked(d) | EventKind::GrantExpired(d) => serde_json::to_value(d),
            EventKind::Stopped(d) | EventKind::Resumed(d) => serde_json::to_value(d),
            EventKind::AccountDebited(d) => serde_json::to_value(d),
            EventKind::DebitFailed(d) => serde_json::to_value(d),
            EventKind::MaintenanceAnnounced(d) => serde_json::to_value(d),
            EventKind::EndpointDisabled(d) | EventKind::WebhookTest(d) => serde_json::to_value(d),
        };
        // Plain structs of strings and numbers always serialize. Absent optional fields are
        // left out of the JSON (they stay in the stored form: postcard is not self-describing).
        let mut value = value.unwrap_or(serde_json::Value::Null);
        if let Some(map) = value.as_object_mut() {
            map.retain(|_, v| !v.is_null());
        }
        value
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_listed_in_types() {
        let m = MandateData {
            mandate_id: "m".into(),
            client_id: "c".into(),
            account_id: "a".into(),
            status: "active".into(),
            reason: None,
        };
        let g = GrantData {
            grant_id: "g".into(),
            client_id: "c".into(),
            username: "u".into(),
            reason: None,
        };
        for k in [
            EventKind::MandateCreated(m.clone()),
            EventKind::MandateStopped(m.clone()),
            EventKind::MandateCancelled(m),
            EventKind::GrantRevoked(g.clone()),
            EventKind::GrantExpired(g),
        ] {
            assert!(EventKind::TYPES.contains(&k.name()), "{}", k.name());
        }
    }
}

/// What each event type means, for the webhook documentation.
pub fn describe(event_type: &str) -> &'static str {
    match event_type {
        "transfer.accepted" => {
            "The bank accepted a new transfer request (受付); its status follows in the next event. Sent to clients whose grant covers the remitting account."
        }
        "transfer.approved" => "An approver approved a corporate request; it then runs or is scheduled.",
        "transfer.completed" => "Every item of the transfer was carried out (status 20).",
        "transfer.partially_completed" => "Some items were carried out and some came back (資金返却).",
        "transfer.returned" => "The money came back from the receiving side (status 22, 資金返却).",
        "transfer.scheduled" => "The transfer waits for its designated date (status 11).",
        "transfer.processing" => "The receiving bank has not answered yet (status 12 or 13).",
        "transfer.awaiting_approval" => "A corporate request waits for an approver (status 2).",
        "transfer.cancelled" => "The request was cancelled or withdrawn (status 8 or 4).",
        "transfer.returned_for_revision" => "The approver returned the request to the applicant (差戻, status 3).",
        "transfer.expired" => "Nobody approved the request by its deadline (status 5).",
        "transfer.failed" => "The transfer could not be carried out (status 40), e.g. insufficient funds on its date.",
        "transfer.item_returned" => "One item came back from the receiving side; the amount is credited back.",
        "account.credited" => {
            "Money arrived in the account (入金): an incoming transfer or a deposit. Sent to clients whose grant covers the account."
        }
        "account.debited" => {
            "Money left the account: a transfer with its fees, or a debit. Sent to clients whose grant covers the account."
        }
        "account.closed" => "The account was closed; its balance was paid out.",
        "debit.completed" => "A debit under a mandate was made (to the biller).",
        "debit.failed" => "A debit under a mandate was refused; resultCode says why (to the biller).",
        "mandate.created" => "A user granted the biller a debit mandate.",
        "mandate.stopped" => "The depositor stopped the mandate, or the consent behind it ended.",
        "mandate.cancelled" => "The biller cancelled the mandate.",
        "grant.revoked" => "A user's consent to the client was revoked (by the user, the client or the bank).",
        "grant.expired" => "A consent reached its maximum lifetime.",
        "client.suspended" => "The bank suspended the client (all its API calls, or its updates).",
        "client.resumed" => "The bank lifted the client's suspension.",
        "user.suspended" => "The bank stopped a user's API access (to the clients the user granted).",
        "user.resumed" => "The bank lifted a user's stop.",
        "bank.stopped" => "The bank stopped every client (emergency stop).",
        "bank.resumed" => "The bank lifted the emergency stop.",
        "maintenance.announced" => "The bank published a maintenance window (to every client).",
        "webhook.endpoint_disabled" => {
            "The bank disabled one of the client's endpoints (it answered 410, or kept failing)."
        }
        "webhook.test" => "A test event sent on demand to one endpoint.",
        _ => "",
    }
}

// Long on purpose: one example per event type, for the OpenAPI description.
/// One example of every event type (their payloads document the webhooks).
pub fn examples() -> Vec<EventKind> {
    let transfer = |status: &str| TransferData {
        apply_no: "2026112100000001".into(),
        account_id: "00111234567".into(),
        status: status.into(),
        total_amount: "12000".into(),
        completed_count: usize::from(status == "20"),
        returned_count: 0,
    };
    let mandate = |status: &str, reason: Option<&str>| MandateData {
        mandate_id: "mdt_000000000001".into(),
        client_id: "demo-biller".into(),
        account_id: "00111234567".into(),
        status: status.into(),
        reason: reason.map(str::to_owned),
    };
    let grant = |reason: &str| GrantData {
        grant_id: "grt_Q2V4YW1wbGU".into(),
        client_id: "demo-pay".into(),
        username: "tanaka".into(),
        reason: Some(reason.into()),
    };
    let stop = |target: &str, id: Option<&str>| StopData {
        target: target.into(),
        id: id.map(str::to_owned),
        scope: "all".into(),
        reason: "不正利用の疑い / suspected misuse".into(),
        by: "sandbox-admin".into(),
    };
    let endpoint = |reason: &str| EndpointData {
        endpoint_id: "ep_Q2V4YW1wbGU".into(),
        client_id: "demo-pay".into(),
        reason: Some(reason.into()),
    };
    use TransferEventKind as T;
    vec![
        EventKind::Transfer(T::Accepted, transfer("11")),
        EventKind::Transfer(T::Approved, transfer("11")),
        EventKind::Transfer(T::Completed, transfer("20")),
        EventKind::Transfer(T::PartiallyCompleted, transfer("22")),
        EventKind::Transfer(T::Returned, transfer("22")),
        EventKind::Transfer(T::Scheduled, transfer("11")),
        EventKind::Transfer(T::Processing, transfer("12")),
        EventKind::Transfer(T::ApprovalRequested, transfer("2")),
        EventKind::Transfer(T::Cancelled, transfer("8")),
        EventKind::Transfer(T::ApprovalReturned, transfer("3")),
        EventKind::Transfer(T::Expired, transfer("5")),
        EventKind::Transfer(T::Failed, transfer("40")),
        EventKind::TransferItemReturned(TransferItemData {
            apply_no: "2026112100000001".into(),
            account_id: "00111234567".into(),
            item_id: 1,
            amount: "12000".into(),
            reason: "受取人口座なし / no such account".into(),
        }),
        EventKind::AccountCredited(CreditData {
            account_id: "00212345678".into(),
            amount: "12000".into(),
            remitter_name: "ﾀﾅｶ ﾀﾛｳ".into(),
            apply_no: Some("2026112100000001".into()),
        }),
        EventKind::AccountDebited(MovementData {
            account_id: "00111234567".into(),
            amount: "12110".into(),
            apply_no: Some("2026112100000001".into()),
            debit_id: None,
        }),
        EventKind::AccountClosed(AccountData {
            account_id: "00111234567".into(),
            paid_out: "1187890".into(),
        }),
        EventKind::DebitCompleted(DebitData {
            debit_id: "dbt_000000000001".into(),
            mandate_id: "mdt_000000000001".into(),
            client_id: "demo-biller".into(),
            account_id: "00111234567".into(),
            amount: "3000".into(),
        }),
        EventKind::DebitFailed(DebitFailedData {
            debit_id: "dbt_000000000002".into(),
            mandate_id: "mdt_000000000001".into(),
            client_id: "demo-biller".into(),
            amount: "20000".into(),
            result_code: "9".into(),
        }),
        EventKind::MandateCreated(mandate("active", None)),
        EventKind::MandateStopped(mandate("stoppedByDepositor", Some("stopped by the depositor"))),
        EventKind::MandateCancelled(mandate("cancelledByBiller", None)),
        EventKind::GrantRevoked(grant("user")),
        EventKind::GrantExpired(grant("max_lifetime")),
        EventKind::Stopped(stop("client", Some("demo-pay"))),
        EventKind::Resumed(stop("client", Some("demo-pay"))),
        EventKind::Stopped(stop("user", Some("tanaka"))),
        EventKind::Resumed(stop("user", Some("tanaka"))),
        EventKind::Stopped(stop("bank", None)),
        EventKind::Resumed(stop("bank", None)),
        EventKind::MaintenanceAnnounced(MaintenanceData {
            window_id: "system-upgrade".into(),
            covers: "all".into(),
            start: Some("2026-12-06T01:00:00+09:00".into()),
            end: Some("2026-12-06T05:00:00+09:00".into()),
            description: Some("システム更改 / system upgrade".into()),
        }),
        EventKind::EndpointDisabled(endpoint("the endpoint answered 410 Gone")),
        EventKind::WebhookTest(endpoint("hello")),
    ]
}

#[cfg(test)]
mod example_tests {
    use super::*;

    #[test]
    fn every_type_has_an_example_and_a_description() {
        let names: Vec<&str> = examples().iter().map(EventKind::name).collect();
        for t in EventKind::TYPES {
            assert!(names.contains(t), "no example of {t}");
            assert!(!describe(t).is_empty(), "no description of {t}");
        }
        assert_eq!(names.len(), EventKind::TYPES.len());
    }
}
