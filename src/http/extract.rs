//! Extractors whose rejections use the API's problem shape: query strings, JSON and form
//! bodies, the bearer token of the resource APIs and the admin key of the control plane.

use crate::domain::consent::Scope;
use crate::error::ApiError;
use crate::http::identity::Identity;
use crate::sandbox::Sandbox;
use crate::server::Server;
use crate::services::bearer::Principal;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
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

/// The sandbox the request is for (resolved from the path by `sandbox_scope`).
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
