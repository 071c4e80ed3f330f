//! Customers (individuals and corporations) and the users who log in for them.

use super::kana::KanaName;
use serde::{Deserialize, Serialize};

/// Individual (personal segment) or corporation (corporate segment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CustomerKind {
    Individual,
    Corporation,
}

/// A bank customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub id: String,
    pub kind: CustomerKind,
    /// Full name in kanji, family name first (or the registered company name).
    pub name: String,
    pub name_kana: KanaName,
    pub family_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name_kana: Option<String>,
    pub given_name_kana: Option<String>,
    pub email: Option<String>,
    /// Destinations registered in advance.
    pub payees: Vec<Payee>,
}

/// What a corporate user may do (申請者 / 承認者 / 管理者); individuals are `Owner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Role {
    Owner,
    Operator,
    Approver,
    Admin,
}

/// A login identity for the consent screen, acting for one customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Stable subject identifier (`sub` in tokens).
    pub id: String,
    pub username: String,
    /// Salted SHA-256 of the password; the password itself is never stored.
    pub password_hash: String,
    pub password_salt: String,
    pub customer_id: String,
    pub role: Role,
    /// Display name of the person (for corporate users, the employee's name).
    pub display_name: String,
    /// Salted hash of the one-time code the consent screen asks for transfer scopes.
    pub otp_hash: String,
}

/// A destination registered in advance by a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payee {
    pub bank_code: String,
    pub branch_code: String,
    pub account_type_code: String,
    pub account_number: String,
    pub name_kana: String,
}

/// One customer with everything that belongs to them: their users, and their accounts with
/// each one's history (what the scenario generates and storage writes as a batch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerWorld {
    pub customer: Customer,
    pub users: Vec<User>,
    pub accounts: Vec<(
        crate::domain::account::Account,
        Vec<crate::domain::transaction::Transaction>,
    )>,
}
