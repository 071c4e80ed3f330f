//! Extractors whose rejections use the API's problem shape: query strings, JSON and form
//! bodies, the bearer token of the resource APIs and the admin key of the control plane.

use crate::domain::consent::Scope;
use crate::error::ApiError;
use crate::services::consent::{Principal, TokenRejection, authenticate_bearer};
use crate::state::AppState;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use std::sync::{Arc, Mutex};

/// Who made the call, filled in by authentication for the access log.
#[derive(Clone, Default)]
pub struct AccessSlot(pub Arc<Mutex<AccessInfo>>);

#[derive(Clone, Default, Debug)]
pub struct AccessInfo {
    pub client_id: Option<String>,
    pub user_id: Option<String>,
}

impl AccessSlot {
    pub fn record(parts: &Parts, client_id: Option<&str>, user_id: Option<&str>) {
        if let Some(slot) = parts.extensions.get::<AccessSlot>()
            && let Ok(mut info) = slot.0.lock()
        {
            info.client_id = client_id.map(str::to_owned);
            info.user_id = user_id.map(str::to_owned);
        }
    }
}

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

/// A JSON body deserialized into `T`; malformed JSON or a wrong type is a 400 (415 without
/// a JSON content type) that says what is wrong.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => {
                let status = rejection.status();
                let code = if status == axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE {
                    "unsupported_media_type"
                } else {
                    "invalid_json"
                };
                Err(ApiError::new(status, code, rejection.body_text()))
            }
        }
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

/// The token from `Authorization: Bearer` or its alias `x-access-token`.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let (scheme, token) = value.split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| token.trim());
    }
    headers
        .get("x-access-token")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// The admin key from `x-sandbox-admin-key`, else from the bearer token (not yet checked).
pub fn admin_key_given(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("x-sandbox-admin-key")
        .and_then(|v| v.to_str().ok())
        .or_else(|| bearer_token(headers))
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(&parts.headers)
            .filter(|t| !t.is_empty())
            .ok_or_else(ApiError::missing_token)?;
        match authenticate_bearer(app, token) {
            Ok(principal) => {
                AccessSlot::record(parts, Some(&principal.client_id), Some(&principal.user_id));
                Ok(Authenticated(principal))
            }
            Err(TokenRejection::Invalid(why)) => Err(ApiError::invalid_token(why)),
            Err(TokenRejection::Storage(e)) => Err(e.into()),
        }
    }
}

/// Proof that the caller holds the sandbox admin key (`Authorization: Bearer <key>` or
/// `x-sandbox-admin-key`).
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let given = admin_key_given(&parts.headers);
        match given {
            Some(key) if app.is_admin_key(key) => {
                AccessSlot::record(parts, Some("sandbox-admin"), None);
                Ok(Admin)
            }
            Some(_) => Err(ApiError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "invalid_admin_key",
                "the sandbox admin key is wrong; it is printed when the server starts",
            )),
            None => Err(ApiError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "missing_admin_key",
                "send the sandbox admin key as `Authorization: Bearer <key>` or `x-sandbox-admin-key`",
            )),
        }
    }
}
