//! `Idempotency-Key` on update requests (IETF draft): the same key and body replay the first
//! answer (status and body, `idempotent-replayed: true`), the same key with another body is
//! 422, and the same key while the first request is still running is 409.
//!
//! A key belongs to the principal that made the first request: the client *and* the user
//! its token acts for (or the sandbox admin). Another user's same key is simply another key.
//! A stored answer is replayed only to a request that is authenticated and authorized as a
//! fresh one would be (valid token, live grant, segment, scope), so a replay never shows
//! anything the caller could not read directly. Only answers that reflect the operation's
//! outcome are stored (2xx and its own 4xx), never one made in front of it (401, 403, 409,
//! 429, 5xx), so a retry after such an answer runs the operation.
//!
//! Transfer requests record their key in the transfer's own atomic write instead (see
//! `services::transfers::request`), so a retry after a crash finds the transfer; their
//! answers are marked `RecordedByOperation` and not stored a second time here.

use crate::domain::consent::Principal;
use crate::http::error::ApiError;
use crate::http::identity::Identity;
use crate::http::route::{RouteSpec, check_scope};
use crate::sandbox::Sandbox;
use crate::storage::IdempotentAnswer;
use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::SignedDuration;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// How long answers are kept (sandbox time).
const KEEP: SignedDuration = SignedDuration::from_hours(24);
/// Largest request body accepted on a keyed request.
const MAX_BODY: usize = 1 << 20;
/// The response header that marks a replayed answer.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// Keys whose first request is still running, per principal (one per sandbox handle, in its
/// attachments).
#[derive(Default)]
pub struct InFlight(Mutex<HashSet<(String, String, String)>>);

/// The key a handler may use to tie its own writes to the request (see module docs).
#[derive(Clone, Debug)]
pub struct IdempotencyContext {
    pub client_id: String,
    pub key: String,
    pub fingerprint: String,
}

/// Put on a response whose key the operation already recorded in its own write: the layer
/// stores no copy of it.
#[derive(Clone, Copy, Debug)]
pub struct RecordedByOperation;

/// Who sent a keyed request.
enum Caller {
    Admin,
    User(Arc<Principal>),
}

impl Caller {
    /// (client, user): the scope of an idempotency key.
    fn scope(&self) -> (String, String) {
        match self {
            Caller::Admin => ("sandbox-admin".into(), String::new()),
            Caller::User(p) => (p.client_id.clone(), p.user_id.clone()),
        }
    }
}

/// The caller as the identity layer resolved it, if the route would accept it: the control
/// plane takes the admin key, every other route a user's token.
fn caller_of(req: &Request) -> Option<Caller> {
    match req.extensions().get::<Identity>()? {
        Identity::Admin => Some(Caller::Admin),
        Identity::User(p) => Some(Caller::User(p.clone())),
        _ => None,
    }
}

/// What a fresh request on the route checks before it runs, for a user's token: the segment
/// of the path and the scope of the operation. `None` for routes that take no keys from users.
fn authorize_user(spec: &RouteSpec, who: &Principal) -> Option<Result<(), ApiError>> {
    let scope = check_scope(spec.scope?, who);
    let segment = spec.segment.map_or(Ok(()), |s| s.check_principal(who));
    Some(segment.and(scope))
}

fn replay(answer: &IdempotentAnswer) -> Response {
    let mut res = (
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK),
        answer.body.clone(),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&answer.content_type) {
        res.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    res.headers_mut()
        .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    res
}

/// Replays, refuses or records a keyed update around the rest of the request (`next`).
pub async fn idempotency<P, F>(sandbox: &Sandbox, spec: &RouteSpec, req: Request, next: P) -> Response
where
    P: FnOnce(Request) -> F,
    F: Future<Output = Response>,
{
    if !spec.takes_keys(req.method()) {
        return next(req).await;
    }
    let Some(key) = req
        .headers()
        .get(&crate::http::names::IDEMPOTENCY_KEY)
        .map(|v| v.to_str().map(str::to_owned))
    else {
        return next(req).await;
    };
    let key = match key {
        Ok(k) if !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()) => k,
        _ => {
            return ApiError::bad_request(
                "invalid_idempotency_key",
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            )
            .into_response();
        }
    };
    // Unauthenticated requests go on and fail authentication in the handler.
    let Some(caller) = caller_of(&req) else {
        return next(req).await;
    };
    if let Caller::User(who) = &caller {
        match authorize_user(spec, who) {
            // Not an update that takes keys: the request runs as it is.
            None => return next(req).await,
            // Exactly what the operation itself would answer; nothing is stored or replayed.
            Some(Err(e)) => return e.into_response(),
            Some(Ok(())) => {}
        }
    }
    let (client_id, user_id) = caller.scope();
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY).await else {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "request bodies are limited to 1 MiB",
        )
        .into_response();
    };
    let fingerprint = crate::ids::sha256_b64(format!("{} {}\n", parts.method, parts.uri.path()).as_bytes())
        + &crate::ids::sha256_b64(&bytes);
    let now = sandbox.clock.now();

    match sandbox.store.idempotent_answer(&client_id, &user_id, &key) {
        Ok(Some(answer)) if answer.created_at.saturating_add(KEEP).unwrap_or(answer.created_at) > now => {
            if answer.fingerprint == fingerprint {
                return replay(&answer);
            }
            return ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was already used with a different request; use a new key for a new request",
            )
            .into_response();
        }
        Ok(_) => {}
        Err(e) => return ApiError::from(e).into_response(),
    }
    let slot = (client_id.clone(), user_id.clone(), key.clone());
    let in_flight = sandbox.attachments.get::<InFlight>();
    let first = in_flight
        .0
        .lock()
        .map(|mut set| set.insert(slot.clone()))
        .unwrap_or(false);
    if !first {
        return ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_key_in_use",
            "a request with this Idempotency-Key is still being processed; retry after it has answered",
        )
        .into_response();
    }
    let mut req = Request::from_parts(parts, Body::from(bytes));
    req.extensions_mut().insert(IdempotencyContext {
        client_id: client_id.clone(),
        key: key.clone(),
        fingerprint: fingerprint.clone(),
    });
    let res = next(req).await;
    let res = record(sandbox, (&client_id, &user_id, &key), fingerprint, res, now).await;
    if let Ok(mut set) = in_flight.0.lock() {
        set.remove(&slot);
    }
    res
}

/// Whether an answer reflects the operation's own outcome (and so is replayed to retries).
fn is_outcome(status: StatusCode) -> bool {
    status.is_success()
        || (status.is_client_error()
            && !matches!(
                status,
                StatusCode::UNAUTHORIZED
                    | StatusCode::FORBIDDEN
                    | StatusCode::REQUEST_TIMEOUT
                    | StatusCode::CONFLICT
                    | StatusCode::TOO_EARLY
                    | StatusCode::TOO_MANY_REQUESTS
            ))
}

/// Stores an outcome answer durably before it is sent.
async fn record(
    sandbox: &Sandbox,
    (client_id, user_id, key): (&str, &str, &str),
    fingerprint: String,
    res: Response,
    now: jiff::Timestamp,
) -> Response {
    let status = res.status();
    if !is_outcome(status) || res.extensions().get::<RecordedByOperation>().is_some() {
        return res;
    }
    let (parts, body) = res.into_parts();
    let Ok(bytes) = to_bytes(body, usize::MAX).await else {
        return ApiError::internal("could not read the response body").into_response();
    };
    let answer = IdempotentAnswer {
        fingerprint,
        status: status.as_u16(),
        content_type: parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
            .to_owned(),
        body: bytes.to_vec(),
        created_at: now,
    };
    // A problem body is re-rendered with the request id later; store what the client sees
    // without it (the replay gets its own request id).
    if let Err(e) = sandbox
        .store
        .put_idempotent_answer(client_id, user_id, key, &answer)
        .await
    {
        tracing::warn!(error = %e, "could not store an idempotent answer");
    }
    Response::from_parts(parts, Body::from(bytes))
}
