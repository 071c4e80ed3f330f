//! Extractors whose rejections use the API's problem shape: query strings, JSON and form
//! bodies, the bearer token of the resource APIs and the admin key of the control plane.

use crate::domain::consent::Principal;
use crate::domain::consent::Scope;
use crate::http::error::ApiError;
use crate::http::identity::Identity;
use crate::sandbox::Sandbox;
use crate::server::Server;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// A query string deserialized into `T`; a bad one is a 400 naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| ApiQuery(q.0))
            .map_err(|e| {
                let why = e.body_text();
                let why = why.trim_start_matches("Failed to deserialize query string: ");
                ApiError::bad_request("invalid_query", format!("invalid query string: {why}"))
            })
    }
}

/// A JSON object body deserialized into `T`; malformed JSON is a 400, a body of the wrong
/// shape a 422 naming the field, and one without a JSON content type a 415. A top-level array
/// is refused even where serde would read one as a struct's fields in order (`[null, null]`):
/// every request body in the API is an object.
pub struct ApiJson<T>(pub T);

fn json_content_type(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .is_some_and(|m| m == "application/json" || (m.starts_with("application/") && m.ends_with("+json")))
}

/// `bytes` deserialized into `T` after rewriting every whole-valued float (`3.0`) as an
/// integer; `None` when there is none or it does not help.
fn with_integral_floats<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    fn rewrite(v: &mut serde_json::Value) -> bool {
        match v {
            serde_json::Value::Number(n) if n.is_f64() => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => {
                    *v = serde_json::Value::from(f as i64);
                    true
                }
                _ => false,
            },
            serde_json::Value::Array(a) => a.iter_mut().fold(false, |changed, x| rewrite(x) | changed),
            serde_json::Value::Object(o) => o.values_mut().fold(false, |changed, x| rewrite(x) | changed),
            _ => false,
        }
    }
    let mut value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    if !rewrite(&mut value) {
        return None;
    }
    crate::domain::fault::map_only::<_, T>(value).ok()
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !json_content_type(req.headers()) {
            return Err(ApiError::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Expected request with `Content-Type: application/json`",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::new(e.status(), "invalid_json", e.body_text()))?;
        let mut json = serde_json::Deserializer::from_slice(&bytes);
        let mut track = serde_path_to_error::Track::new();
        let parsed =
            crate::domain::fault::map_only::<_, T>(serde_path_to_error::Deserializer::new(&mut json, &mut track))
                .and_then(|v| json.end().map(|_| v));
        match parsed {
            Ok(v) => Ok(ApiJson(v)),
            // JSON has one number type: `3.0` is the integer 3 (as JSON Schema says), which
            // serde refuses for an integer field. Only on that failure is the body read again
            // with such numbers written as integers.
            Err(e)
                if e.is_data()
                    && let Some(v) = with_integral_floats::<T>(&bytes) =>
            {
                Ok(ApiJson(v))
            }
            Err(e) => {
                let path = track.path().to_string();
                let at = if path == "." {
                    String::new()
                } else {
                    format!("{path}: ")
                };
                if e.is_data() {
                    Err(ApiError::new(
                        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid_json",
                        format!("Failed to deserialize the JSON body into the target type: {at}{e}"),
                    ))
                } else {
                    Err(ApiError::new(
                        axum::http::StatusCode::BAD_REQUEST,
                        "invalid_json",
                        format!("Failed to parse the request body as JSON: {at}{e}"),
                    ))
                }
            }
        }
    }
}

pub use super::credentials::{ClientAddr, admin_key_given, basic_credentials, bearer_token};

impl super::route::Segment {
    /// 403 `wrong_segment` unless the token's customer belongs to this segment.
    pub fn check(self, who: &Authenticated) -> Result<(), ApiError> {
        self.check_principal(&who.0)
    }
}

/// The caller of a resource API, authenticated by its bearer token.
pub struct Authenticated(pub Arc<Principal>);

impl Authenticated {
    /// 403 `insufficient_scope` unless the grant includes `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.0.has(scope) {
            Ok(())
        } else {
            Err(ApiError::insufficient_scope(scope.as_str()))
        }
    }
}

const BASIC_CHALLENGE: &str = "Basic realm=\"sandbank webhooks\"";

/// Who calls the webhook management API: a connecting company (its own endpoints and
/// messages only, under `/webhooks/v1`), or the sandbox admin (every client's, through the
/// control plane's `/sandbox/v1/webhooks`).
pub enum WebhookCaller {
    Client(Arc<str>),
    Admin,
}

impl WebhookCaller {
    /// The client whose records the caller may see; `None` for the admin (all of them).
    pub fn client(&self) -> Option<&str> {
        match self {
            WebhookCaller::Client(c) => Some(c),
            WebhookCaller::Admin => None,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for WebhookCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match identity(parts)? {
            Identity::Client(c) => Ok(WebhookCaller::Client(c.clone())),
            Identity::ClientHeldBack(until, left) => Err(crate::http::error::held_back(*until, *left)),
            Identity::BadClient(why) => Err(ApiError {
                www_authenticate: Some(BASIC_CHALLENGE.into()),
                ..ApiError::new(StatusCode::UNAUTHORIZED, "invalid_client", *why)
            }),
            Identity::Failed(e) => Err(e.clone().into()),
            _ => Err(ApiError {
                www_authenticate: Some(BASIC_CHALLENGE.into()),
                ..ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "missing_client_credentials",
                    "authenticate with your client id and secret as HTTP Basic (Authorization: Basic base64(client_id:client_secret)); the sandbox admin uses /sandbox/v1/webhooks",
                )
            }),
        }
    }
}

fn identity(parts: &Parts) -> Result<&Identity, ApiError> {
    parts
        .extensions
        .get::<Identity>()
        .ok_or_else(|| ApiError::internal("the identity layer did not run for this route"))
}

impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        identity(parts)?.user().map(|p| Authenticated(p.clone()))
    }
}

/// Proof that the caller holds the sandbox admin key (`Authorization: Bearer <key>` or
/// `x-sandbox-admin-key`).
pub struct Admin;

impl<S: Send + Sync> FromRequestParts<S> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        identity(parts)?.admin().map(|()| Admin)
    }
}

/// Proof that the caller holds the operator key; gives the server.
pub struct Operator(pub Server);

impl<S: Send + Sync> FromRequestParts<S> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        identity(parts)?.operator()?;
        parts
            .extensions
            .get::<Server>()
            .cloned()
            .map(Operator)
            .ok_or_else(|| ApiError::internal("no server in the request"))
    }
}

/// The sandbox the request is for (resolved from the path by `tenancy`).
impl<S: Send + Sync> FromRequestParts<S> for Sandbox {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Sandbox>()
            .cloned()
            .ok_or_else(|| ApiError::internal("no sandbox was resolved for this request"))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr::of(&parts.extensions, &parts.headers, None))
    }
}

/// The server (for the control plane's reset and snapshots, which replace the sandbox).
impl<S: Send + Sync> FromRequestParts<S> for Server {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Server>()
            .cloned()
            .ok_or_else(|| ApiError::internal("no server in the request"))
    }
}
