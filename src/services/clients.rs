//! Connecting companies at run time: the control plane creates, changes and deletes clients
//! with the same checks as the scenario, and rotates a client's secret — the old secret keeps
//! working for a grace period of sandbox time (default 24 hours), so a connecting company can
//! roll the new one out without an outage.

use crate::domain::capacity::CapacityPolicy;
use crate::domain::consent::{Client, Scope, TokenPolicy};
use crate::ids::hash_secret;
use crate::sandbox::Sandbox;
use crate::storage::StorageError;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// How long a rotated-out secret keeps working unless the rotation says otherwise.
pub const DEFAULT_GRACE: SignedDuration = SignedDuration::from_hours(24);
/// Most clients a sandbox holds.
pub const MAX_CLIENTS: usize = 1000;

/// A client's settings as the control plane sets them; absent fields keep their value on an
/// update (and take the scenario's defaults on a creation).
#[derive(Debug, Clone, Default)]
pub struct ClientSettings {
    pub company: Option<String>,
    pub service: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub access_ttl: Option<String>,
    pub refresh_ttl: Option<String>,
    pub refresh_max_lifetime: Option<String>,
    pub capacity: Option<CapacityPolicy>,
}

/// The secret a rotation replaced, while it still works.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PreviousSecret {
    hash: String,
    salt: String,
    until: Timestamp,
}

/// Why a change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    #[error("a client {0:?} already exists")]
    Exists(String),
    #[error("no client {0:?} in this sandbox")]
    NotFound(String),
    #[error("a sandbox holds at most {MAX_CLIENTS} clients")]
    TooMany,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

fn previous_key(id: &str) -> String {
    format!("previous-secret:{id}")
}

/// Where the secret set at run time is kept in the clear, for the sandbox's admin to read back
/// in the portal (a test environment's dashboard shows its keys; a real bank would not).
fn secret_key(id: &str) -> String {
    format!("secret:{id}")
}

/// A client's secret in force, when the sandbox knows it in the clear: set at run time, or one
/// of `known` (the sandbox's own secrets given at creation, the scenario's). Answered only while
/// it is the secret in force (its hash matches).
pub fn current_secret(sandbox: &Sandbox, known: &[&str], client: &Client) -> Option<String> {
    let stored = sandbox
        .store
        .meta_get(&secret_key(&client.client_id))
        .ok()
        .flatten()
        .and_then(|b| String::from_utf8(b).ok());
    stored
        .into_iter()
        .chain(known.iter().map(|s| s.to_string()))
        .find(|s| hash_secret(&client.secret_salt, s) == client.secret_hash)
}

fn good_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

fn ttl(field: &str, s: &Option<String>, problems: &mut Vec<String>) -> Option<i64> {
    let s = s.as_deref()?;
    match crate::clock::parse_duration(s) {
        Ok(d) if d >= SignedDuration::from_secs(1) && d <= SignedDuration::from_hours(24 * 3650) => Some(d.as_secs()),
        Ok(_) => {
            problems.push(format!("{field}: {s:?} must be between 1s and 3650d"));
            None
        }
        Err(e) => {
            problems.push(format!("{field}: {e}"));
            None
        }
    }
}

/// Applies `s` to `c`, with the scenario's checks.
fn apply(c: &mut Client, s: &ClientSettings) -> Result<(), ClientError> {
    let mut problems = Vec::new();
    if let Some(company) = &s.company {
        if company.trim().is_empty() || company.chars().count() > 100 {
            problems.push("company: 1–100 characters, shown on the consent screen".into());
        }
        c.company = company.clone();
    }
    if let Some(service) = &s.service {
        if service.trim().is_empty() || service.chars().count() > 100 {
            problems.push("service: 1–100 characters, shown on the consent screen".into());
        }
        c.service = service.clone();
    }
    if let Some(uris) = &s.redirect_uris {
        if uris.is_empty() || uris.len() > 20 {
            problems.push("redirectUris: give 1–20 redirect URIs".into());
        }
        for u in uris {
            if !(u.starts_with("http://") || u.starts_with("https://")) || u.contains('#') || u.contains(' ') {
                problems.push(format!(
                    "redirectUris: {u:?} must be an absolute http(s) URL without a fragment"
                ));
            }
        }
        c.redirect_uris = uris.clone();
    }
    if let Some(scopes) = &s.scopes {
        let mut parsed = Vec::new();
        for name in scopes {
            match Scope::parse(name) {
                Some(scope) => parsed.push(scope),
                None => problems.push(format!(
                    "scopes: {name:?} is not a scope; use {}",
                    Scope::ALL.map(|s| s.as_str()).join(", ")
                )),
            }
        }
        if scopes.is_empty() {
            problems.push("scopes: give at least one scope".into());
        }
        parsed.sort();
        parsed.dedup();
        c.scopes = parsed;
    }
    if let Some(t) = ttl("accessTtl", &s.access_ttl, &mut problems) {
        c.policy.access_ttl_secs = t;
    }
    if let Some(t) = ttl("refreshTtl", &s.refresh_ttl, &mut problems) {
        c.policy.refresh_ttl_secs = t;
    }
    if let Some(t) = ttl("refreshMaxLifetime", &s.refresh_max_lifetime, &mut problems) {
        c.policy.refresh_max_lifetime_secs = t;
    }
    if c.policy.refresh_ttl_secs > c.policy.refresh_max_lifetime_secs {
        problems.push("refreshTtl: must not be longer than refreshMaxLifetime".into());
    }
    if let Some(capacity) = &s.capacity
        && let Err(p) = crate::domain::capacity::compile(capacity)
    {
        problems.extend(p.into_iter().map(|m| format!("capacity.{m}")));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ClientError::Invalid(problems))
    }
}

/// Creates a client; answers it with its secret (given, or made up). Fields left out take
/// the scenario's token lifetimes; company, service, redirect URIs and scopes are required.
pub async fn create(
    sandbox: &Sandbox,
    client_id: &str,
    secret: Option<String>,
    settings: &ClientSettings,
) -> Result<(Client, String), ClientError> {
    let mut problems = Vec::new();
    if !good_id(client_id) {
        problems.push("clientId: 1–64 ASCII letters, digits, '-', '_' or '.'".into());
    }
    for (missing, field) in [
        (settings.company.is_none(), "company"),
        (settings.service.is_none(), "service"),
        (settings.redirect_uris.is_none(), "redirectUris"),
        (settings.scopes.is_none(), "scopes"),
    ] {
        if missing {
            problems.push(format!("{field}: required"));
        }
    }
    if let Some(s) = &secret
        && s.len() < 8
    {
        problems.push("clientSecret: at least 8 characters".into());
    }
    let tokens = &sandbox.scenario.scenario.tokens;
    let secret = secret.unwrap_or_else(|| crate::ids::prefixed_secret("sbcs"));
    let salt = crate::ids::random_token(12);
    let mut client = Client {
        client_id: client_id.to_owned(),
        secret_hash: hash_secret(&salt, &secret),
        secret_salt: salt,
        company: String::new(),
        service: String::new(),
        redirect_uris: Vec::new(),
        scopes: Vec::new(),
        policy: TokenPolicy {
            access_ttl_secs: tokens.access_ttl.0.as_secs(),
            refresh_ttl_secs: tokens.refresh_ttl.0.as_secs(),
            refresh_max_lifetime_secs: tokens.refresh_max_lifetime.0.as_secs(),
            code_ttl_secs: tokens.code_ttl.value.0.as_secs(),
        },
    };
    if let Err(ClientError::Invalid(more)) = apply(&mut client, settings) {
        problems.extend(more);
    }
    if !problems.is_empty() {
        return Err(ClientError::Invalid(problems));
    }
    if sandbox.store.client(client_id)?.is_some() {
        return Err(ClientError::Exists(client_id.to_owned()));
    }
    if sandbox.store.clients()?.len() >= MAX_CLIENTS {
        return Err(ClientError::TooMany);
    }
    if let Some(capacity) = &settings.capacity {
        set_capacity(sandbox, client_id, capacity.clone())?;
    }
    sandbox.store.meta_put(&secret_key(client_id), secret.as_bytes())?;
    sandbox.store.put_client(&client)?;
    sandbox.store.flush().await?;
    Ok((client, secret))
}

fn set_capacity(sandbox: &Sandbox, client_id: &str, policy: CapacityPolicy) -> Result<(), ClientError> {
    sandbox
        .capacity
        .set_unsynced(&sandbox.store, Some(client_id), policy)
        .map(|_| ())
        .map_err(|e| match e {
            crate::sandbox::capacity::PolicyError::Invalid(p) => {
                ClientError::Invalid(p.into_iter().map(|m| format!("capacity.{m}")).collect())
            }
            crate::sandbox::capacity::PolicyError::Storage(e) => e.into(),
        })
}

/// Changes a client's settings; answers the client as it now is.
pub async fn update(sandbox: &Sandbox, client_id: &str, settings: &ClientSettings) -> Result<Client, ClientError> {
    let mut client = sandbox
        .store
        .client(client_id)?
        .ok_or_else(|| ClientError::NotFound(client_id.to_owned()))?;
    apply(&mut client, settings)?;
    if let Some(capacity) = &settings.capacity {
        set_capacity(sandbox, client_id, capacity.clone())?;
    }
    sandbox.store.put_client(&client)?;
    // Cached tokens carry the client's scopes; let them be looked up again.
    sandbox.token_cache.clear();
    sandbox.store.flush().await?;
    Ok(client)
}

/// Deletes a client: its grants are revoked (their tokens die with them), its capacity
/// policy and stop are dropped. Answers whether it existed.
pub async fn delete(sandbox: &Sandbox, client_id: &str) -> Result<bool, ClientError> {
    if sandbox.store.client(client_id)?.is_none() {
        return Ok(false);
    }
    for g in sandbox
        .store
        .grants(|g| g.client_id == client_id && g.revoked_at.is_none())?
    {
        super::grants::revoke_grant_by_id(sandbox, &g.id, "client_deleted").await?;
    }
    set_capacity(sandbox, client_id, CapacityPolicy::default())?;
    sandbox.controls.forget_client(&sandbox.store, client_id)?;
    sandbox.store.meta_put(&previous_key(client_id), b"")?;
    sandbox.store.remove_client(client_id)?;
    sandbox.token_cache.clear();
    sandbox.store.flush().await?;
    Ok(true)
}

/// Gives a client a new secret (made up, or `secret`); the old one keeps working for `grace`
/// of sandbox time. Answers the new secret and until when the old one works.
pub async fn rotate_secret(
    sandbox: &Sandbox,
    client_id: &str,
    secret: Option<String>,
    grace: SignedDuration,
) -> Result<(String, Timestamp), ClientError> {
    if let Some(s) = &secret
        && s.len() < 8
    {
        return Err(ClientError::Invalid(vec!["clientSecret: at least 8 characters".into()]));
    }
    let mut client = sandbox
        .store
        .client(client_id)?
        .ok_or_else(|| ClientError::NotFound(client_id.to_owned()))?;
    let until = sandbox.clock.now() + grace;
    let previous = PreviousSecret {
        hash: client.secret_hash.clone(),
        salt: client.secret_salt.clone(),
        until,
    };
    let secret = secret.unwrap_or_else(|| crate::ids::prefixed_secret("sbcs"));
    client.secret_salt = crate::ids::random_token(12);
    client.secret_hash = hash_secret(&client.secret_salt, &secret);
    sandbox.store.meta_put(
        &previous_key(client_id),
        &serde_json::to_vec(&previous).unwrap_or_default(),
    )?;
    sandbox.store.meta_put(&secret_key(client_id), secret.as_bytes())?;
    sandbox.store.put_client(&client)?;
    sandbox.store.flush().await?;
    Ok((secret, until))
}

/// Whether `secret` is a client's rotated-out secret that still works at `now`.
pub fn previous_secret_works(
    sandbox: &Sandbox,
    client: &Client,
    secret: &str,
    now: Timestamp,
) -> Result<bool, StorageError> {
    let Some(bytes) = sandbox.store.meta_get(&previous_key(&client.client_id))? else {
        return Ok(false);
    };
    let Ok(previous) = serde_json::from_slice::<PreviousSecret>(&bytes) else {
        return Ok(false);
    };
    Ok(now < previous.until && hash_secret(&previous.salt, secret) == previous.hash)
}

/// Until when a client's rotated-out secret works, if one does at `now`.
pub fn previous_secret_until(sandbox: &Sandbox, client_id: &str, now: Timestamp) -> Option<Timestamp> {
    let bytes = sandbox.store.meta_get(&previous_key(client_id)).ok()??;
    let previous = serde_json::from_slice::<PreviousSecret>(&bytes).ok()?;
    (now < previous.until).then_some(previous.until)
}
