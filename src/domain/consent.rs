//! Connecting companies (clients), the scopes they may ask for, users' grants of consent and
//! the token and code records hanging off a grant. Only hashes of tokens and codes are kept.

use crate::domain::customer::CustomerKind;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A scope's name as the API spells it (for the OpenAPI description).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub enum ScopeName {
    #[schema(rename = "openid")]
    OpenId,
    #[schema(rename = "profile")]
    Profile,
    #[schema(rename = "accounts:read")]
    AccountsRead,
    #[schema(rename = "transactions:read")]
    TransactionsRead,
    #[schema(rename = "transfers:own")]
    TransfersOwn,
    #[schema(rename = "transfers:any")]
    TransfersAny,
    #[schema(rename = "debits")]
    Debits,
}

/// A permission a client can ask for, with the words the consent screen uses for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Scope {
    /// OpenID Connect: an ID token identifying the user.
    OpenId,
    /// The user's name in kanji and kana (userinfo).
    Profile,
    /// Account list and balances.
    AccountsRead,
    /// Statements: transactions and incoming transfers.
    TransactionsRead,
    /// Transfers to the user's own accounts at this bank and to destinations registered in
    /// advance (the "own accounts" connection).
    TransfersOwn,
    /// Transfers to any beneficiary (the "third-party payment instruction" connection).
    TransfersAny,
    /// Instant account debits by a biller, under a mandate the user grants on consent.
    Debits,
}

impl Scope {
    pub const ALL: [Scope; 7] = [
        Scope::OpenId,
        Scope::Profile,
        Scope::AccountsRead,
        Scope::TransactionsRead,
        Scope::TransfersOwn,
        Scope::TransfersAny,
        Scope::Debits,
    ];

    /// Scopes that move money: the consent screen asks for a one-time code for them.
    pub fn moves_money(self) -> bool {
        matches!(self, Scope::TransfersOwn | Scope::TransfersAny | Scope::Debits)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::OpenId => "openid",
            Scope::Profile => "profile",
            Scope::AccountsRead => "accounts:read",
            Scope::TransactionsRead => "transactions:read",
            Scope::TransfersOwn => "transfers:own",
            Scope::TransfersAny => "transfers:any",
            Scope::Debits => "debits",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }

    /// What the scope allows, in Japanese, for the consent screen.
    pub fn description_ja(self) -> &'static str {
        match self {
            Scope::OpenId => "あなたが本人であることの確認（ID トークンの発行）",
            Scope::Profile => "氏名（漢字・カナ）の参照",
            Scope::AccountsRead => "口座一覧・残高の参照",
            Scope::TransactionsRead => "入出金明細・入金明細の参照",
            Scope::TransfersOwn => "ご本人名義の口座・登録済みの振込先への振込",
            Scope::TransfersAny => "任意の振込先への振込（振込指図の伝達）",
            Scope::Debits => "即時口座振替（下記の上限額まで、選択した口座から引き落とし）",
        }
    }

    /// What the scope allows, in English.
    pub fn description_en(self) -> &'static str {
        match self {
            Scope::OpenId => "Confirm who you are (issue an ID token)",
            Scope::Profile => "Read your name (kanji and kana)",
            Scope::AccountsRead => "Read your account list and balances",
            Scope::TransactionsRead => "Read your account statements and incoming transfers",
            Scope::TransfersOwn => "Transfer money to your own accounts and to payees you registered",
            Scope::TransfersAny => "Transfer money to any beneficiary on your instruction",
            Scope::Debits => "Debit the account you choose, instantly, up to the limits below",
        }
    }

    /// Parses a space-separated scope string (RFC 6749 §3.3); `Err` names the unknown scope.
    pub fn parse_list(s: &str) -> Result<Vec<Scope>, String> {
        let mut scopes = Vec::new();
        for word in s.split(' ').filter(|w| !w.is_empty()) {
            let scope = Scope::parse(word).ok_or_else(|| {
                format!(
                    "unknown scope {word:?}; known scopes are: {}",
                    Scope::ALL.map(Scope::as_str).join(", ")
                )
            })?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        scopes.sort();
        Ok(scopes)
    }

    /// Space-separated form.
    pub fn join(scopes: &[Scope]) -> String {
        scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lifetimes of the things a grant produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenPolicy {
    pub access_ttl_secs: i64,
    pub refresh_ttl_secs: i64,
    /// The longest a grant can be kept alive by refreshing, from the moment of consent.
    pub refresh_max_lifetime_secs: i64,
    pub code_ttl_secs: i64,
}

/// A connecting company (API接続先) and its application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    pub client_id: String,
    /// Salted SHA-256 of the secret.
    pub secret_hash: String,
    pub secret_salt: String,
    /// Company name shown on the consent screen.
    pub company: String,
    /// Service name shown on the consent screen.
    pub service: String,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<Scope>,
    pub policy: TokenPolicy,
}

/// A user's consent to a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub id: String,
    pub client_id: String,
    pub user_id: String,
    pub customer_id: String,
    pub scopes: Vec<Scope>,
    pub issued_at: Timestamp,
    /// No token of this grant outlives this moment (refresh-token maximum lifetime).
    pub max_expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    /// Why it was revoked (`user`, `client`, `refresh_token_reuse`, `code_reuse`, `admin`).
    pub revoked_reason: Option<String>,
}

impl Grant {
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && now < self.max_expires_at
    }
}

/// Access or refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenKind {
    Access,
    Refresh,
}

/// What the bank knows about an issued token (looked up by the token's hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub kind: TokenKind,
    /// Personal or corporate customer: which API segment the token may call.
    pub customer_kind: crate::domain::customer::CustomerKind,
    pub grant_id: String,
    pub client_id: String,
    pub user_id: String,
    pub customer_id: String,
    pub scopes: Vec<Scope>,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
    /// For refresh tokens: set once the token has been exchanged (rotation).
    pub rotated_at: Option<Timestamp>,
}

/// An issued authorization code, waiting for its single exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub user_id: String,
    pub scopes: Vec<Scope>,
    pub code_challenge: String,
    pub nonce: Option<String>,
    pub auth_time: Timestamp,
    pub expires_at: Timestamp,
    /// The grant the user's consent created; tokens from this code belong to it.
    pub grant_id: String,
    /// Set on the first exchange; a second exchange revokes the grant (RFC 6749 §4.1.2).
    pub redeemed_at: Option<Timestamp>,
}

/// An authorization request between the first redirect and the user's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAuthorization {
    pub id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: Vec<Scope>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub expires_at: Timestamp,
    /// Set after a successful login; the consent form must carry `consent_token` to prove it.
    pub user_id: Option<String>,
    pub consent_token: Option<String>,
    pub auth_time: Option<Timestamp>,
    /// Limits of the debit mandate asked for (with the `debits` scope): per debit, per month.
    pub debit_limits: Option<(i64, i64)>,
}

/// The caller of a resource API, as established by its access token.
#[derive(Debug, Clone)]
pub struct Principal {
    pub client_id: String,
    pub user_id: String,
    pub customer_id: String,
    pub grant_id: String,
    pub customer_kind: CustomerKind,
    pub scopes: Vec<Scope>,
}

impl Principal {
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

/// The scope an operation needs from a customer's token: each rule is written here once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeRule {
    /// `transfers:own` or `transfers:any`.
    Transfers,
    /// `debits`.
    Debits,
}

impl ScopeRule {
    /// The scopes that satisfy the rule, as a refusal names them.
    pub fn label(self) -> &'static str {
        match self {
            ScopeRule::Transfers => "transfers:own or transfers:any",
            ScopeRule::Debits => "debits",
        }
    }

    pub fn allows(self, who: &Principal) -> bool {
        match self {
            ScopeRule::Transfers => who.has(Scope::TransfersAny) || who.has(Scope::TransfersOwn),
            ScopeRule::Debits => who.has(Scope::Debits),
        }
    }
}
