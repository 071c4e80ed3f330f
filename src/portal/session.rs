//! Portal sessions. Signing in with a sandbox's admin key (or the operator key) makes a
//! session: a random token in an HttpOnly, SameSite=Strict cookie scoped to that portal's
//! path (Secure when the public URL is https), with a CSRF token every form carries. Sessions
//! live in the server's memory (a restart signs everyone out) and end after the configured
//! idle time or on sign-out. Failed sign-ins are counted per source address and held back
//! after too many, so a stranger cannot guess keys at speed.

use crate::http::credentials::ClientAddr;
use crate::sandbox::Sandbox;
use crate::server::Server;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most sessions the server keeps; past it the longest-idle one ends.
const MAX_SESSIONS: usize = 10_000;
/// Failed sign-ins one source may make within `FAILURE_WINDOW` before it is held back.
pub const MAX_FAILURES: u32 = 10;
const FAILURE_WINDOW: Duration = Duration::from_secs(10 * 60);

/// Whose portal a session signs in to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Realm {
    /// A sandbox's portal, by sandbox id.
    Sandbox(String),
    /// The operator's portal.
    Operator,
}

impl Realm {
    /// The operator's portal, or `sandbox`'s own.
    pub fn of(sandbox: &Sandbox, operator: bool) -> Realm {
        if operator {
            Realm::Operator
        } else {
            Realm::Sandbox(sandbox.id.to_string())
        }
    }
}

/// A one-shot message shown on the next page (after a form's redirect).
#[derive(Debug, Clone)]
pub struct Flash {
    pub ok: bool,
    pub text: String,
}

/// A Try-it authorization in flight: what the callback needs to finish it.
#[derive(Debug, Clone)]
pub struct TryIt {
    pub client_id: String,
    pub state: String,
    pub verifier: String,
    pub redirect_uri: String,
}

/// The tokens a finished Try-it run obtained (shown on its result page).
#[derive(Debug, Clone)]
pub struct Tried {
    pub client_id: String,
    pub tokens: serde_json::Value,
}

struct Session {
    realm: Realm,
    csrf: String,
    last_seen: Instant,
    flash: Option<Flash>,
    try_it: Option<TryIt>,
    tried: Option<Tried>,
}

/// Every portal session of a server, and the failed sign-ins by source.
#[derive(Default)]
pub struct Sessions {
    by_token: Mutex<HashMap<String, Session>>,
    failures: Mutex<HashMap<Option<IpAddr>, (u32, Instant)>>,
}

/// The server's portal sessions.
pub fn sessions(server: &Server) -> std::sync::Arc<Sessions> {
    server.attachments.get::<Sessions>()
}

impl Sessions {
    /// Starts a session for `realm`; answers its token.
    pub fn start(&self, realm: Realm) -> String {
        let token = crate::ids::random_token(32);
        let mut map = self.by_token.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map.iter().min_by_key(|(_, s)| s.last_seen).map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(
            token.clone(),
            Session {
                realm,
                csrf: crate::ids::random_token(24),
                last_seen: Instant::now(),
                flash: None,
                try_it: None,
                tried: None,
            },
        );
        token
    }

    pub fn end(&self, token: &str) {
        self.by_token.lock().unwrap_or_else(|e| e.into_inner()).remove(token);
    }

    /// The CSRF token and pending flash of a live session for `realm`, touching it; `None` if
    /// there is none (never was, signed out, idle too long, or another portal's).
    fn touch(&self, token: &str, realm: &Realm, idle: Duration) -> Option<(String, Option<Flash>)> {
        let mut map = self.by_token.lock().unwrap_or_else(|e| e.into_inner());
        let s = map.get_mut(token)?;
        if s.last_seen.elapsed() > idle {
            map.remove(token);
            return None;
        }
        if &s.realm != realm {
            return None;
        }
        s.last_seen = Instant::now();
        Some((s.csrf.clone(), s.flash.take()))
    }

    fn with<T>(&self, token: &str, f: impl FnOnce(&mut Session) -> T) -> Option<T> {
        self.by_token
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(token)
            .map(f)
    }

    /// Whether `source` has failed too often lately to try again.
    pub fn held_back(&self, source: Option<IpAddr>) -> bool {
        let map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&source)
            .is_some_and(|(n, since)| *n >= MAX_FAILURES && since.elapsed() < FAILURE_WINDOW)
    }

    /// Counts a failed sign-in from `source`.
    pub fn failed(&self, source: Option<IpAddr>) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > MAX_SESSIONS {
            map.retain(|_, (_, since)| since.elapsed() < FAILURE_WINDOW);
        }
        let entry = map.entry(source).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= FAILURE_WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }

    /// Forgets the failures of `source` (after a good sign-in).
    pub fn passed(&self, source: Option<IpAddr>) {
        self.failures.lock().unwrap_or_else(|e| e.into_inner()).remove(&source);
    }
}

/// The cookie of a realm's portal: its name and path.
pub fn cookie_of(sandbox: &Sandbox, realm: &Realm) -> (&'static str, String) {
    match realm {
        Realm::Operator => ("sandbank_operator", "/operator/portal".to_owned()),
        Realm::Sandbox(_) => ("sandbank_portal", format!("{}/portal", sandbox.base_path)),
    }
}

/// `Set-Cookie` for a new session (or, with `None`, for its removal).
pub fn set_cookie(server: &Server, sandbox: &Sandbox, realm: &Realm, token: Option<&str>) -> HeaderValue {
    let (name, path) = cookie_of(sandbox, realm);
    let secure = if server.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let value = match token {
        Some(t) => format!("{name}={t}; Path={path}; HttpOnly; SameSite=Strict{secure}"),
        None => format!("{name}=; Path={path}; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    };
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("sandbank_portal=; Max-Age=0"))
}

/// The value of cookie `name` in the request.
pub fn cookie(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// A request from a signed-in browser: its sandbox (the default one for the operator's
/// portal), the server, the session token, its CSRF token and the message to show once.
pub struct Signed {
    pub sandbox: Sandbox,
    pub server: Server,
    pub token: String,
    pub csrf: String,
    pub flash: Option<Flash>,
    pub realm: Realm,
}

impl Signed {
    /// Refuses a form whose CSRF token is not this session's.
    pub fn check_csrf(&self, given: &str) -> Result<(), Response> {
        // Compared as hashes, so the comparison time says nothing about where a guess differs.
        if !given.is_empty() && crate::ids::sha256_b64(given.as_bytes()) == crate::ids::sha256_b64(self.csrf.as_bytes())
        {
            Ok(())
        } else {
            Err(super::view::refused_form(&self.sandbox, &self.realm))
        }
    }

    /// Leaves a message for the next page.
    pub fn flash(&self, ok: bool, text: impl Into<String>) {
        let text = text.into();
        sessions(&self.server).with(&self.token, |s| s.flash = Some(Flash { ok, text }));
    }

    pub fn set_try_it(&self, t: TryIt) {
        sessions(&self.server).with(&self.token, |s| s.try_it = Some(t));
    }

    /// The Try-it run in flight, taken (a callback finishes it once).
    pub fn take_try_it(&self) -> Option<TryIt> {
        sessions(&self.server).with(&self.token, |s| s.try_it.take()).flatten()
    }

    pub fn set_tried(&self, t: Tried) {
        sessions(&self.server).with(&self.token, |s| s.tried = Some(t));
    }

    pub fn tried(&self) -> Option<Tried> {
        sessions(&self.server).with(&self.token, |s| s.tried.clone()).flatten()
    }

    /// Where this portal's pages are (`{sandbox base}/portal` or `/operator/portal`).
    pub fn home(&self) -> String {
        cookie_of(&self.sandbox, &self.realm).1
    }
}

/// The sandbox and server of a routed request (put there by the front layer).
pub fn context(parts: &Parts) -> Option<(Sandbox, Server)> {
    Some((
        parts.extensions.get::<Sandbox>()?.clone(),
        parts.extensions.get::<Server>()?.clone(),
    ))
}

/// The source address of a request (as the server's client-ip setting reads it).
pub fn source(parts: &Parts, server: &Server) -> Option<IpAddr> {
    ClientAddr::of(&parts.extensions, &parts.headers, Some(server)).0
}

fn signed_in(parts: &Parts, operator: bool) -> Result<Signed, Response> {
    let Some((sandbox, server)) = context(parts) else {
        return Err(crate::http::error::ApiError::internal("no sandbox was resolved for this request").into_response());
    };
    let realm = Realm::of(&sandbox, operator);
    let (name, path) = cookie_of(&sandbox, &realm);
    let token = cookie(parts, name);
    let found = token
        .as_deref()
        .and_then(|t| sessions(&server).touch(t, &realm, server.config.portal.idle_timeout));
    match (token, found) {
        (Some(token), Some((csrf, flash))) => Ok(Signed {
            sandbox,
            server,
            token,
            csrf,
            flash,
            realm,
        }),
        // A cookie without a live session: it ended (idle, sign-out, restart).
        (Some(_), None) => Err(super::view::see_other(&format!("{path}/sign-in?ended=1"))),
        (None, _) => Err(super::view::see_other(&format!("{path}/sign-in"))),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        signed_in(parts, false)
    }
}

/// A request from a browser signed in to the operator's portal.
pub struct OperatorSigned(pub Signed);

impl<S: Send + Sync> FromRequestParts<S> for OperatorSigned {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        signed_in(parts, true).map(OperatorSigned)
    }
}
