//! Consent and tokens: the use cases behind the authorization server. Validating an
//! authorization request, logging a user in, recording consent as a grant, exchanging a code
//! (PKCE S256), rotating refresh tokens with reuse detection, revoking and introspecting
//! (bearer authentication on the resource APIs is `services::bearer`). All times come from the sandbox clock.

use super::grants::revoke_grant;
pub use crate::domain::consent::Principal;
use crate::domain::consent::{AuthorizationCode, Client, Grant, PendingAuthorization, Scope, TokenKind, TokenRecord};
use crate::domain::customer::{CustomerKind, User};
use crate::ids::{hash_secret, pkce_s256, prefixed_id, prefixed_secret, sha256_b64};
use crate::sandbox::Sandbox;
use crate::storage::StorageError;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

/// How long a user has to log in and decide after opening the authorization URL.
const PENDING_TTL: SignedDuration = SignedDuration::from_mins(10);

/// An RFC 6749 §5.2 error (`error`, `error_description`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub error: &'static str,
    pub description: String,
    /// A reason finer than `error` for the access log (`pkce_mismatch` under `invalid_grant`).
    pub reason: Option<&'static str>,
}

impl OAuthError {
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            error,
            description: description.into(),
            reason: None,
        }
    }

    /// Names a reason finer than the error code.
    pub fn because(mut self, reason: &'static str) -> Self {
        self.reason = Some(reason);
        self
    }
}

/// Failures of the services here: the caller's mistake, or storage.
#[derive(Debug)]
pub enum ConsentError {
    OAuth(OAuthError),
    Storage(StorageError),
    /// Client authentications from the caller's address are held back until then (sandbox
    /// time), after too many failures in a row.
    /// With the seconds left (sandbox time), for Retry-After.
    HeldBack(jiff::Timestamp, u16),
}

impl From<StorageError> for ConsentError {
    fn from(e: StorageError) -> Self {
        ConsentError::Storage(e)
    }
}

impl From<OAuthError> for ConsentError {
    fn from(e: OAuthError) -> Self {
        ConsentError::OAuth(e)
    }
}

fn oauth(error: &'static str, description: impl Into<String>) -> ConsentError {
    ConsentError::OAuth(OAuthError::new(error, description))
}

/// Parameters of an authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3, OIDC `nonce`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AuthorizeParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub nonce: Option<String>,
    /// With the `debits` scope: the most one debit may take, yen.
    pub debit_max_amount: Option<String>,
    /// With the `debits` scope: the most that may be debited in a calendar month, yen.
    pub debit_monthly_max_amount: Option<String>,
}

/// Why an authorization request cannot go on.
#[derive(Debug)]
pub enum AuthorizeRejection {
    /// The client or redirect URI cannot be trusted: show an error page, never redirect.
    Page(String),
    /// The redirect URI is not one of the client's: an error page naming the registered ones.
    UnregisteredRedirect(String),
    /// Tell the client through its redirect URI (RFC 6749 §4.1.2.1).
    Redirect {
        redirect_uri: String,
        error: OAuthError,
        state: Option<String>,
    },
    /// Too many requests are waiting for this client or from this address.
    TooMany(String),
    Storage(StorageError),
}

/// The longest value any authorization request parameter may have. OAuth sets no limit;
/// 512 bytes is generous for a `state` or `nonce` and bounds what a request can make us keep.
pub const MAX_PARAMETER_BYTES: usize = 512;

impl AuthorizeParams {
    /// The first parameter longer than `MAX_PARAMETER_BYTES`, with its length.
    fn too_long(&self) -> Option<(&'static str, usize)> {
        [
            ("response_type", &self.response_type),
            ("client_id", &self.client_id),
            ("redirect_uri", &self.redirect_uri),
            ("scope", &self.scope),
            ("state", &self.state),
            ("code_challenge", &self.code_challenge),
            ("code_challenge_method", &self.code_challenge_method),
            ("nonce", &self.nonce),
            ("debit_max_amount", &self.debit_max_amount),
            ("debit_monthly_max_amount", &self.debit_monthly_max_amount),
        ]
        .into_iter()
        .find_map(|(name, v)| {
            v.as_ref()
                .filter(|v| v.len() > MAX_PARAMETER_BYTES)
                .map(|v| (name, v.len()))
        })
    }
}

impl From<StorageError> for AuthorizeRejection {
    fn from(e: StorageError) -> Self {
        AuthorizeRejection::Storage(e)
    }
}

fn is_pkce_value(s: &str) -> bool {
    (43..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// The redirect URIs every client of a sandbox has besides its own: the sandbox's Swagger UI
/// (its Authorize button) and the portal's Try-it callback. Both are the bank's own pages.
pub fn built_in_redirects(sandbox: &Sandbox) -> [String; 2] {
    [
        format!("{}/swagger-ui/oauth2-redirect.html", sandbox.issuer),
        format!("{}/portal/callback", sandbox.issuer),
    ]
}

/// Whether `uri` is registered for `client`, exactly, or is one of the sandbox's own pages.
pub fn accepts_redirect(sandbox: &Sandbox, client: &Client, uri: &str) -> bool {
    client.redirect_uris.iter().any(|u| u == uri) || built_in_redirects(sandbox).iter().any(|u| u == uri)
}

// Long on purpose: the authorization request's checks in RFC 6749 order, which decides which errors redirect and which show a page.
/// Checks an authorization request and remembers it (in memory) until the user decides;
/// `source` is the address it came from (capped with `limits`).
pub fn start_authorization(
    sandbox: &Sandbox,
    mut p: AuthorizeParams,
    source: Option<std::net::IpAddr>,
    limits: &crate::config::Limits,
) -> Result<(PendingAuthorization, Client), AuthorizeRejection> {
    let too_long = p.too_long();
    if let Some((name @ ("client_id" | "redirect_uri"), len)) = too_long {
        return Err(AuthorizeRejection::Page(format!(
            "The parameter {name} is {len} bytes long; at most {MAX_PARAMETER_BYTES} are accepted."
        )));
    }
    if matches!(too_long, Some(("state", _))) {
        // Not echoed back: it is the value that is wrong.
        p.state = None;
    }
    let client_id = p
        .client_id
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| AuthorizeRejection::Page("The request has no client_id.".into()))?;
    let client = sandbox.store.client(client_id)?.ok_or_else(|| {
        AuthorizeRejection::Page(format!(
            "Unknown client_id {client_id:?}. Check the client_id registered in the scenario."
        ))
    })?;
    let redirect_uri = p.redirect_uri.clone().ok_or_else(|| {
        AuthorizeRejection::Page(
            "The request has no redirect_uri; send one of the client's registered redirect URIs.".into(),
        )
    })?;
    if !accepts_redirect(sandbox, &client, &redirect_uri) {
        return Err(AuthorizeRejection::UnregisteredRedirect(format!(
            "redirect_uri {redirect_uri:?} is not registered for client {client_id:?}; it must match a registered URI exactly. Registered: {}.",
            built_in_redirects(sandbox)
                .into_iter()
                .chain(client.redirect_uris.iter().cloned())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let state = p.state.clone();
    let reject = |error: &'static str, description: String| AuthorizeRejection::Redirect {
        redirect_uri: redirect_uri.clone(),
        error: OAuthError::new(error, description),
        state: state.clone(),
    };
    if let Some((name, len)) = too_long {
        return Err(reject(
            "invalid_request",
            format!("{name} is {len} bytes long; send at most {MAX_PARAMETER_BYTES} bytes"),
        ));
    }
    match p.response_type.as_deref() {
        Some("code") => {}
        Some(other) => {
            return Err(reject(
                "unsupported_response_type",
                format!("response_type {other:?} is not supported; use \"code\""),
            ));
        }
        None => {
            return Err(reject(
                "invalid_request",
                "response_type is required (use \"code\")".into(),
            ));
        }
    }
    let scope_text = p.scope.as_deref().unwrap_or("");
    let scopes = Scope::parse_list(scope_text).map_err(|e| reject("invalid_scope", e))?;
    if scopes.is_empty() {
        return Err(reject(
            "invalid_scope",
            "scope is required, e.g. \"openid accounts:read\"".into(),
        ));
    }
    if let Some(s) = scopes.iter().find(|s| !client.scopes.contains(s)) {
        return Err(reject(
            "invalid_scope",
            format!("client {client_id:?} is not allowed the scope {:?}", s.as_str()),
        ));
    }
    let challenge = p.code_challenge.clone().ok_or_else(|| {
        reject(
            "invalid_request",
            "PKCE is required: send code_challenge and code_challenge_method=S256".into(),
        )
    })?;
    match p.code_challenge_method.as_deref() {
        Some("S256") => {}
        Some("plain") | None => {
            return Err(reject(
                "invalid_request",
                "code_challenge_method must be S256 (plain is not accepted)".into(),
            ));
        }
        Some(other) => {
            return Err(reject(
                "invalid_request",
                format!("code_challenge_method {other:?} is not supported; use S256"),
            ));
        }
    }
    if challenge.len() != 43 || !is_pkce_value(&challenge) {
        return Err(reject(
            "invalid_request",
            "code_challenge must be the 43-character base64url SHA-256 of the code verifier".into(),
        ));
    }
    let debit_limits = if scopes.contains(&Scope::Debits) {
        let parse = |v: &Option<String>| v.as_deref().and_then(|s| s.parse::<i64>().ok());
        match (parse(&p.debit_max_amount), parse(&p.debit_monthly_max_amount)) {
            (Some(each), Some(month)) if (1..=10_000_000).contains(&each) && (each..=100_000_000).contains(&month) => {
                Some((each, month))
            }
            _ => {
                return Err(reject(
                    "invalid_request",
                    "the debits scope needs debit_max_amount (1..=10000000 yen) and debit_monthly_max_amount (at least debit_max_amount, at most 100000000 yen)".into(),
                ));
            }
        }
    } else {
        None
    };
    let now = sandbox.clock.now();
    let pending = PendingAuthorization {
        id: prefixed_id("areq"),
        client_id: client.client_id.clone(),
        redirect_uri,
        scopes,
        state: p.state,
        nonce: p.nonce,
        code_challenge: challenge,
        expires_at: now.saturating_add(PENDING_TTL).unwrap_or(now),
        user_id: None,
        consent_token: None,
        auth_time: None,
        debit_limits,
    };
    let waiting = sandbox.pending.insert(
        pending.clone(),
        source,
        now,
        limits.pending_per_client,
        limits.pending_per_source,
    );
    match waiting {
        Ok(()) => Ok((pending, client)),
        Err(crate::sandbox::pending::Full::Source(n)) => Err(AuthorizeRejection::TooMany(format!(
            "このアドレスからログイン待ちの認可リクエストが上限に達しています。 / {n} authorization requests from your address are already waiting for a login (the limit); finish one, or wait up to {} minutes for them to expire.",
            PENDING_TTL.as_mins()
        ))),
        Err(crate::sandbox::pending::Full::Client(n)) => Err(AuthorizeRejection::TooMany(format!(
            "この接続先へのログイン待ちの認可リクエストが上限に達しています。 / {n} authorization requests for {:?} are already waiting for a login (the limit); try again in a few minutes.",
            client.client_id
        ))),
    }
}

/// A pending request that still exists and has not timed out, with its client.
pub fn pending_request(sandbox: &Sandbox, id: &str) -> Result<Option<(PendingAuthorization, Client)>, StorageError> {
    let Some(pending) = sandbox.pending.get(id, sandbox.clock.now()) else {
        return Ok(None);
    };
    Ok(sandbox.store.client(&pending.client_id)?.map(|c| (pending, c)))
}

/// Forgets a pending request (the user decided).
pub fn forget_request(sandbox: &Sandbox, id: &str) {
    sandbox.pending.remove(id);
}

/// How a login attempt ended.
pub enum Login {
    Ok(User),
    /// Wrong username or password (counted towards the lockout).
    Wrong,
    /// Locked after too many failures (the user, or logins from the source address).
    Locked(super::lockout::Lock),
}

/// Checks a username and password from `source`, with the lockout of `services::lockout`
/// (per user, and per source address).
pub fn check_login(
    sandbox: &Sandbox,
    username: &str,
    password: &str,
    source: Option<std::net::IpAddr>,
) -> Result<Login, StorageError> {
    use super::lockout::{self, Checked, Verdict};
    let mut found = None;
    let verdict = lockout::attempt(sandbox, username, source, || {
        let Some(user) = sandbox.store.user(&format!("u-{username}"))? else {
            return Ok(Checked::UnknownUser);
        };
        if hash_secret(&user.password_salt, password) != user.password_hash {
            return Ok(Checked::Wrong);
        }
        found = Some(user);
        Ok(Checked::Right)
    })?;
    Ok(match (verdict, found) {
        (Verdict::Passed, Some(user)) => Login::Ok(user),
        (Verdict::Locked(until), _) => Login::Locked(until),
        _ => Login::Wrong,
    })
}

/// Checks a user's one-time code (asked for authority that moves money) under the lockout:
/// wrong codes count towards the user's lock as wrong passwords do.
pub fn check_otp(
    sandbox: &Sandbox,
    user: &crate::domain::customer::User,
    otp: Option<&str>,
    source: Option<std::net::IpAddr>,
) -> Result<super::lockout::Verdict, StorageError> {
    use super::lockout::{self, Checked};
    let username = user.id.strip_prefix("u-").unwrap_or(&user.id);
    lockout::attempt(sandbox, username, source, || {
        let right = otp.is_some_and(|otp| hash_secret(&user.password_salt, otp.trim()) == user.otp_hash);
        Ok(if right { Checked::Right } else { Checked::Wrong })
    })
}

/// Records a successful login on the pending request and returns the consent token the
/// consent form must carry.
pub fn record_login(
    sandbox: &Sandbox,
    mut pending: PendingAuthorization,
    user: &User,
) -> Result<PendingAuthorization, StorageError> {
    pending.user_id = Some(user.id.clone());
    pending.consent_token = Some(prefixed_secret("cst"));
    pending.auth_time = Some(sandbox.clock.now());
    sandbox.pending.update(pending.clone());
    Ok(pending)
}

/// The user approved: record the grant (and the debit mandate on `debit_account`, which
/// must be one of the customer's accounts, checked by the caller), issue a single-use code.
pub async fn approve(
    sandbox: &Sandbox,
    pending: &PendingAuthorization,
    client: &Client,
    debit_account: Option<&str>,
) -> Result<String, StorageError> {
    let now = sandbox.clock.now();
    let user_id = pending.user_id.clone().unwrap_or_default();
    let customer_id = sandbox.store.user(&user_id)?.map(|u| u.customer_id).unwrap_or_default();
    let grant = new_grant(client, &user_id, &customer_id, pending.scopes.clone(), now);
    let mandate = match (pending.debit_limits, debit_account) {
        (Some((each, month)), Some(account_id)) => Some(MandateTerms {
            account_id: account_id.to_owned(),
            max_per_debit: each,
            max_per_month: month,
        }),
        _ => None,
    };
    record_grant(sandbox, client, &grant, mandate.as_ref())?;
    let code = prefixed_secret("sbac");
    let record = AuthorizationCode {
        client_id: client.client_id.clone(),
        redirect_uri: pending.redirect_uri.clone(),
        user_id,
        scopes: pending.scopes.clone(),
        code_challenge: pending.code_challenge.clone(),
        nonce: pending.nonce.clone(),
        auth_time: pending.auth_time.unwrap_or(now),
        expires_at: now
            .saturating_add(SignedDuration::from_secs(client.policy.code_ttl_secs))
            .unwrap_or(now),
        grant_id: grant.id,
        redeemed_at: None,
    };
    sandbox.store.put_code(&sha256_b64(code.as_bytes()), &record)?;
    sandbox.store.flush().await?;
    sandbox.pending.remove(&pending.id);
    Ok(code)
}

/// What a debit mandate given with a grant allows.
#[derive(Debug, Clone)]
pub struct MandateTerms {
    pub account_id: String,
    pub max_per_debit: i64,
    pub max_per_month: i64,
}

/// Writes a new grant, the instant of its expiry on the schedule, and the debit mandate given
/// with it (with its `mandate.created` event), in one atomic write.
fn record_grant(
    sandbox: &Sandbox,
    client: &Client,
    grant: &Grant,
    mandate: Option<&MandateTerms>,
) -> Result<Option<crate::domain::debit::Mandate>, StorageError> {
    use crate::domain::event::EventKind;
    use crate::storage::{Counter, TxError};
    let now = grant.issued_at;
    sandbox
        .store
        .atomically::<Option<crate::domain::debit::Mandate>, ()>(|tx| {
            tx.put_grant(grant)?;
            tx.schedule(grant.max_expires_at, &grant.id)?;
            let Some(terms) = mandate else {
                return Ok(None);
            };
            let m = crate::domain::debit::Mandate {
                id: format!("mdt_{:012}", tx.next(Counter::Mandate)?),
                client_id: client.client_id.clone(),
                biller_name: client.company.clone(),
                customer_id: grant.customer_id.clone(),
                user_id: grant.user_id.clone(),
                grant_id: grant.id.clone(),
                account_id: terms.account_id.clone(),
                max_per_debit: crate::domain::money::Yen(terms.max_per_debit),
                max_per_month: crate::domain::money::Yen(terms.max_per_month),
                status: crate::domain::debit::MandateStatus::Active,
                created_at: now,
                month_total: None,
            };
            tx.insert_mandate(&m)?;
            super::ledger::event(
                tx,
                EventKind::MandateCreated(super::debits::mandate_data(&m, None)),
                now,
            )?;
            Ok(Some(m))
        })
        .map_err(|e| match e {
            TxError::Storage(e) => e,
            TxError::Abort(()) => StorageError::Codec("grant write aborted".into()),
        })
}

fn new_grant(client: &Client, user_id: &str, customer_id: &str, scopes: Vec<Scope>, now: Timestamp) -> Grant {
    Grant {
        id: prefixed_id("grt"),
        client_id: client.client_id.clone(),
        user_id: user_id.to_owned(),
        customer_id: customer_id.to_owned(),
        scopes,
        issued_at: now,
        max_expires_at: now
            .saturating_add(SignedDuration::from_secs(client.policy.refresh_max_lifetime_secs))
            .unwrap_or(now),
        revoked_at: None,
        revoked_reason: None,
    }
}

/// Authenticates a client by id and secret (from Basic or the form body).
/// Authenticates a client calling from `source`, under the per-source guard against secret
/// guessing: refused without looking at the secret while the address is held back, and every
/// outcome counted for it.
pub fn authenticate_client_from(
    sandbox: &Sandbox,
    source: Option<std::net::IpAddr>,
    client_id: &str,
    secret: &str,
) -> Result<Client, ConsentError> {
    if let Some(until) = super::lockout::client_auth_held_until(sandbox, source) {
        let left = (until - sandbox.clock.now()).get_seconds().clamp(1, u16::MAX as i64) as u16;
        return Err(ConsentError::HeldBack(until, left));
    }
    let result = authenticate_client(sandbox, client_id, secret);
    match &result {
        Ok(_) => super::lockout::client_auth_ended(sandbox, source, true),
        Err(ConsentError::OAuth(_)) => super::lockout::client_auth_ended(sandbox, source, false),
        Err(_) => {}
    }
    result
}

pub fn authenticate_client(sandbox: &Sandbox, client_id: &str, secret: &str) -> Result<Client, ConsentError> {
    let now = sandbox.clock.now();
    let client = sandbox
        .store
        .client(client_id)?
        .filter(|c| {
            hash_secret(&c.secret_salt, secret) == c.secret_hash
                // A rotated-out secret works until its grace period ends.
                || super::clients::previous_secret_works(sandbox, c, secret, now).unwrap_or(false)
        })
        .ok_or_else(|| {
            oauth(
                "invalid_client",
                "client authentication failed: unknown client_id or wrong client_secret",
            )
        })?;
    Ok(client)
}

/// The token endpoint's answer (RFC 6749 §5.1, plus the OIDC `id_token`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    /// Opaque bearer access token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Single-use refresh token; each refresh returns a new one.
    pub refresh_token: String,
    /// Seconds until this refresh token expires (never past the grant's maximum lifetime).
    pub refresh_token_expires_in: i64,
    /// Space-separated granted scopes.
    pub scope: String,
    /// OpenID Connect ID token (ES256), when `openid` was granted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

#[derive(Serialize)]
struct IdTokenClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    /// Real time (seconds), so OIDC libraries accept the token on any date.
    exp: i64,
    iat: i64,
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    /// The same instants in sandbox time (seconds), for clients rehearsing with the clock.
    sandbox_iat: i64,
    sandbox_exp: i64,
    sandbox_auth_time: i64,
}

fn seconds_between(from: Timestamp, to: Timestamp) -> i64 {
    to.duration_since(from).as_secs().max(0)
}

/// Issues an access and refresh token pair for a grant (and an ID token when asked).
async fn issue_tokens(
    sandbox: &Sandbox,
    client: &Client,
    grant: &Grant,
    scopes: &[Scope],
    id_token: Option<(Timestamp, Option<&str>)>,
) -> Result<TokenResponse, ConsentError> {
    let now = sandbox.clock.now();
    let cap = |ttl: i64| -> Timestamp {
        now.saturating_add(SignedDuration::from_secs(ttl))
            .unwrap_or(now)
            .min(grant.max_expires_at)
    };
    let customer_kind = sandbox
        .store
        .customer(&grant.customer_id)?
        .map(|c| c.kind)
        .unwrap_or(CustomerKind::Individual);
    let access = prefixed_secret("sbat");
    let refresh = prefixed_secret("sbrt");
    let record = |kind, expires_at| TokenRecord {
        kind,
        customer_kind,
        grant_id: grant.id.clone(),
        client_id: client.client_id.clone(),
        user_id: grant.user_id.clone(),
        customer_id: grant.customer_id.clone(),
        scopes: scopes.to_vec(),
        issued_at: now,
        expires_at,
        rotated_at: None,
    };
    let access_exp = cap(client.policy.access_ttl_secs);
    let refresh_exp = cap(client.policy.refresh_ttl_secs);
    sandbox
        .store
        .put_token(&sha256_b64(access.as_bytes()), &record(TokenKind::Access, access_exp))?;
    sandbox.store.put_token(
        &sha256_b64(refresh.as_bytes()),
        &record(TokenKind::Refresh, refresh_exp),
    )?;
    let id_token =
        match id_token {
            Some((auth_time, nonce)) if scopes.contains(&Scope::OpenId) => {
                // ID-token times are real time: an ID token is checked once, by the client's
                // OIDC library against its own clock, right after the token response. The
                // lifetime is the access token's; the sandbox instants ride along.
                let real_now = sandbox.clock.real_now();
                let lifetime = access_exp.duration_since(now);
                let claims = IdTokenClaims {
                    iss: &sandbox.issuer,
                    sub: &grant.user_id,
                    aud: &client.client_id,
                    exp: real_now.saturating_add(lifetime).unwrap_or(real_now).as_second(),
                    iat: real_now.as_second(),
                    auth_time: sandbox.clock.to_real(auth_time).min(real_now).as_second(),
                    nonce,
                    sandbox_iat: now.as_second(),
                    sandbox_exp: access_exp.as_second(),
                    sandbox_auth_time: auth_time.as_second(),
                };
                Some(sandbox.signing_key.sign(&claims).map_err(|e| {
                    ConsentError::Storage(StorageError::Codec(format!("signing the ID token failed: {e}")))
                })?)
            }
            _ => None,
        };
    sandbox.store.flush().await?;
    Ok(TokenResponse {
        access_token: access,
        token_type: "Bearer",
        expires_in: seconds_between(now, access_exp),
        refresh_token: refresh,
        refresh_token_expires_in: seconds_between(now, refresh_exp),
        scope: Scope::join(scopes),
        id_token,
    })
}

/// `grant_type=authorization_code` (RFC 6749 §4.1.3 with RFC 7636 §4.5).
pub async fn exchange_code(
    sandbox: &Sandbox,
    client: &Client,
    code: Option<&str>,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
) -> Result<TokenResponse, ConsentError> {
    let code = code.ok_or_else(|| oauth("invalid_request", "code is required"))?;
    let verifier = verifier.ok_or_else(|| oauth("invalid_request", "code_verifier is required (PKCE)"))?;
    if !is_pkce_value(verifier) {
        return Err(oauth(
            "invalid_request",
            "code_verifier must be 43-128 characters of [A-Za-z0-9-._~]",
        ));
    }
    let hash = sha256_b64(code.as_bytes());
    let record = sandbox
        .store
        .code(&hash)?
        .filter(|c| c.client_id == client.client_id)
        .ok_or_else(|| {
            oauth(
                "invalid_grant",
                "the authorization code is unknown or was issued to another client",
            )
        })?;
    let now = sandbox.clock.now();
    if record.redeemed_at.is_some() {
        revoke_grant(sandbox, &record.grant_id, "code_reuse")?;
        sandbox.store.flush().await?;
        return Err(oauth(
            "invalid_grant",
            "the authorization code was already used; the grant issued from it has been revoked",
        ));
    }
    if now >= record.expires_at {
        return Err(oauth(
            "invalid_grant",
            "the authorization code has expired; start the authorization again",
        ));
    }
    // A user (or the bank) stopped since the consent gets no tokens from it (the client's own
    // stop is checked by the token endpoint).
    let kind = if record.scopes.iter().any(|s| s.moves_money()) {
        crate::domain::fault::RequestKind::Update
    } else {
        crate::domain::fault::RequestKind::Reference
    };
    if let Some(refusal) = sandbox
        .controls
        .refusal(Some(&client.client_id), Some(&record.user_id), kind)
    {
        return Err(oauth(
            "invalid_grant",
            format!(
                "the bank has stopped API access ({}): {}; no tokens are issued",
                refusal.target, refusal.stop.reason
            ),
        ));
    }
    if redirect_uri != Some(record.redirect_uri.as_str()) {
        return Err(oauth(
            "invalid_grant",
            "redirect_uri must be identical to the one sent in the authorization request",
        ));
    }
    if pkce_s256(verifier) != record.code_challenge {
        return Err(ConsentError::OAuth(
            OAuthError::new(
                "invalid_grant",
                "PKCE verification failed: code_verifier does not match code_challenge",
            )
            .because("pkce_mismatch"),
        ));
    }
    let redeemed = AuthorizationCode {
        redeemed_at: Some(now),
        ..record.clone()
    };
    if !sandbox.store.swap_code(&hash, &record, &redeemed)? {
        revoke_grant(sandbox, &record.grant_id, "code_reuse")?;
        return Err(oauth("invalid_grant", "the authorization code was already used"));
    }
    let grant = sandbox
        .store
        .grant(&record.grant_id)?
        .filter(|g| g.is_active(now))
        .ok_or_else(|| oauth("invalid_grant", "the grant behind this code is no longer active"))?;
    issue_tokens(
        sandbox,
        client,
        &grant,
        &grant.scopes.clone(),
        Some((record.auth_time, record.nonce.as_deref())),
    )
    .await
}

/// `grant_type=refresh_token` with rotation; a rotated token used again revokes the grant.
pub async fn refresh(
    sandbox: &Sandbox,
    client: &Client,
    token: Option<&str>,
    scope: Option<&str>,
) -> Result<TokenResponse, ConsentError> {
    let token = token.ok_or_else(|| oauth("invalid_request", "refresh_token is required"))?;
    let hash = sha256_b64(token.as_bytes());
    let record = sandbox
        .store
        .token(&hash)?
        .filter(|t| t.kind == TokenKind::Refresh && t.client_id == client.client_id)
        .ok_or_else(|| {
            oauth(
                "invalid_grant",
                "the refresh token is unknown or was issued to another client",
            )
        })?;
    let now = sandbox.clock.now();
    let grant = sandbox
        .store
        .grant(&record.grant_id)?
        .ok_or_else(|| oauth("invalid_grant", "the grant behind this refresh token no longer exists"))?;
    if grant.revoked_at.is_some() && grant.revoked_reason.as_deref() != Some("max_lifetime") {
        return Err(oauth(
            "invalid_grant",
            "the grant was revoked; ask the user to authorize again",
        ));
    }
    if record.rotated_at.is_some() && grant.revoked_at.is_none() {
        revoke_grant(sandbox, &grant.id, "refresh_token_reuse")?;
        sandbox.store.flush().await?;
        return Err(oauth(
            "invalid_grant",
            "this refresh token was already used (rotation); as a precaution the whole grant has been revoked",
        ));
    }
    if now >= grant.max_expires_at {
        return Err(oauth(
            "invalid_grant",
            format!(
                "the grant reached its maximum lifetime ({}); ask the user to authorize again",
                crate::clock::format_jst(grant.max_expires_at)
            ),
        ));
    }
    // The kill switch: while the bank stops this user's API access, no new tokens (the refresh
    // token is left unused, so it works again once the stop is lifted).
    if let Some(refusal) = sandbox
        .controls
        .refusal(None, Some(&grant.user_id), crate::domain::fault::RequestKind::Token)
        .filter(|r| r.target == "user")
    {
        return Err(oauth(
            "invalid_grant",
            format!("the bank has stopped API access for this user: {}", refusal.stop.reason),
        ));
    }
    if now >= record.expires_at {
        return Err(oauth(
            "invalid_grant",
            "the refresh token has expired; ask the user to authorize again",
        ));
    }
    let scopes = match scope {
        None => record.scopes.clone(),
        Some(s) => {
            let asked = Scope::parse_list(s).map_err(|e| oauth("invalid_scope", e))?;
            if let Some(extra) = asked.iter().find(|s| !record.scopes.contains(s)) {
                return Err(oauth(
                    "invalid_scope",
                    format!("scope {:?} was not granted", extra.as_str()),
                ));
            }
            asked
        }
    };
    let rotated = TokenRecord {
        rotated_at: Some(now),
        ..record.clone()
    };
    if !sandbox.store.swap_token(&hash, &record, &rotated)? {
        revoke_grant(sandbox, &grant.id, "refresh_token_reuse")?;
        sandbox.store.flush().await?;
        return Err(oauth(
            "invalid_grant",
            "this refresh token was used concurrently; the grant has been revoked",
        ));
    }
    issue_tokens(sandbox, client, &grant, &scopes, None).await
}

/// RFC 7009: revoking a refresh token ends its grant; an access token just itself.
pub async fn revoke(sandbox: &Sandbox, client: &Client, token: &str) -> Result<(), StorageError> {
    let hash = sha256_b64(token.as_bytes());
    if let Some(record) = sandbox.store.token(&hash)?
        && record.client_id == client.client_id
    {
        match record.kind {
            TokenKind::Refresh => revoke_grant(sandbox, &record.grant_id, "client")?,
            TokenKind::Access => {
                let expired = TokenRecord {
                    expires_at: sandbox.clock.now(),
                    ..record.clone()
                };
                sandbox.store.swap_token(&hash, &record, &expired)?;
                sandbox.token_cache.clear();
            }
        }
        sandbox.store.flush().await?;
    }
    Ok(())
}

/// RFC 7662 introspection answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Introspection {
    /// Whether the token is currently usable.
    pub active: bool,
    /// Space-separated scopes of the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The client the token was issued to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The user the token acts for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// access_token or refresh_token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// Expiry, seconds since the epoch in real time (as in the ID token), so a resource server
    /// comparing it with its own clock accepts a live token whatever the sandbox clock says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issue time, seconds since the epoch in real time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Expiry in sandbox time (seconds since the epoch), for clients rehearsing with the clock.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox_exp: Option<i64>,
    /// Issue time in sandbox time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox_iat: Option<i64>,
    /// The issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
}

pub fn introspect(sandbox: &Sandbox, client: &Client, token: &str) -> Result<Introspection, StorageError> {
    let inactive = Introspection {
        active: false,
        scope: None,
        client_id: None,
        sub: None,
        token_type: None,
        exp: None,
        iat: None,
        sandbox_exp: None,
        sandbox_iat: None,
        iss: None,
    };
    let Some(record) = sandbox.store.token(&sha256_b64(token.as_bytes()))? else {
        return Ok(inactive);
    };
    let now = sandbox.clock.now();
    let grant_active = sandbox.store.grant(&record.grant_id)?.is_some_and(|g| g.is_active(now));
    let active =
        record.client_id == client.client_id && grant_active && now < record.expires_at && record.rotated_at.is_none();
    if !active {
        return Ok(inactive);
    }
    Ok(Introspection {
        active: true,
        scope: Some(Scope::join(&record.scopes)),
        client_id: Some(record.client_id),
        sub: Some(record.user_id),
        token_type: Some(match record.kind {
            TokenKind::Access => "access_token".into(),
            TokenKind::Refresh => "refresh_token".into(),
        }),
        // The same instants moved onto the real clock: real now plus what is left (or minus
        // what has passed) in sandbox time.
        exp: Some(real_of(sandbox, now, record.expires_at)),
        iat: Some(real_of(sandbox, now, record.issued_at)),
        sandbox_exp: Some(record.expires_at.as_second()),
        sandbox_iat: Some(record.issued_at.as_second()),
        iss: Some(sandbox.issuer.clone()),
    })
}

/// A sandbox instant as real Unix seconds, at the distance from real now that it has from the
/// sandbox's now.
fn real_of(sandbox: &Sandbox, now: Timestamp, at: Timestamp) -> i64 {
    let real_now = sandbox.clock.real_now();
    real_now
        .saturating_add(at.duration_since(now))
        .unwrap_or(real_now)
        .as_second()
}

/// Sandbox shortcut: a grant and tokens for a user without the browser (admin only).
pub async fn issue_for_user(
    sandbox: &Sandbox,
    username: &str,
    client_id: &str,
    scopes: &[Scope],
    mandate: Option<MandateTerms>,
) -> Result<(TokenResponse, Grant, Option<crate::domain::debit::Mandate>), ConsentError> {
    let user = user_by_name(sandbox, username)?
        .ok_or_else(|| oauth("user_not_found", format!("no user with username {username:?}")))?;
    let client = sandbox
        .store
        .client(client_id)?
        .ok_or_else(|| oauth("client_not_found", format!("no client with client_id {client_id:?}")))?;
    // A mandate is given with the debits scope, as on the consent screen.
    let mut scopes = scopes.to_vec();
    if mandate.is_some() && !scopes.contains(&Scope::Debits) {
        scopes.push(Scope::Debits);
    }
    let scopes = &scopes[..];
    if scopes.is_empty() {
        return Err(oauth("invalid_scope", "name at least one scope"));
    }
    if let Some(s) = scopes.iter().find(|s| !client.scopes.contains(s)) {
        return Err(oauth(
            "scope_not_allowed",
            format!("client {client_id:?} is not allowed the scope {:?}", s.as_str()),
        ));
    }
    if let Some(terms) = &mandate {
        if terms.max_per_debit < 1 || terms.max_per_month < terms.max_per_debit {
            return Err(oauth(
                "invalid_request",
                "mandate maxima must be at least 1 yen, and the monthly maximum at least the per-debit one",
            ));
        }
        let own = sandbox.store.accounts_of(&user.customer_id)?;
        if !own.iter().any(|a| a.id == terms.account_id && a.closed_at.is_none()) {
            return Err(oauth(
                "account_not_found",
                format!("account {:?} is not an open account of {username:?}", terms.account_id),
            ));
        }
    }
    let now = sandbox.clock.now();
    let grant = new_grant(&client, &user.id, &user.customer_id, scopes.to_vec(), now);
    let mandate = record_grant(sandbox, &client, &grant, mandate.as_ref())?;
    let tokens = issue_tokens(sandbox, &client, &grant, scopes, Some((now, None))).await?;
    Ok((tokens, grant, mandate))
}

/// A user by the login name the README and banner show (`tanaka`), or by the internal id
/// that tokens carry as `sub` (`u-tanaka`).
pub fn user_by_name(sandbox: &Sandbox, name: &str) -> Result<Option<User>, StorageError> {
    if let Some(u) = sandbox.store.user(&format!("u-{name}"))? {
        return Ok(Some(u));
    }
    if name.starts_with("u-") {
        return sandbox.store.user(name);
    }
    Ok(None)
}
