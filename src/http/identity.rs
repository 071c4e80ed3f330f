//! The identity layer: resolves who is calling once per request — a user through a client
//! (access token), the sandbox admin, or the server operator — and puts the answer in the
//! request's extensions. The extractors, the idempotency layer and the access log read it
//! from there; nothing authenticates a second time.

use crate::domain::consent::Principal;
use crate::http::credentials::{ClientAddr, admin_key_given, basic_credentials, bearer_token};
use crate::http::error::ApiError;
use crate::http::route::{Caller, RouteSpec};
use crate::sandbox::Sandbox;
use crate::server::Server;
use crate::services::bearer::{TokenRejection, authenticate_bearer};
use axum::extract::Request;
use axum::http::StatusCode;
use std::sync::Arc;

/// Who sent the request, as far as its credentials say.
#[derive(Clone)]
pub enum Identity {
    /// No credentials for this kind of route.
    Anonymous,
    /// A valid access token: the user it acts for, through its client.
    User(Arc<Principal>),
    /// An access token that was refused, and why.
    BadToken(&'static str),
    /// An access token that expired at this sandbox time.
    ExpiredToken(jiff::Timestamp),
    /// The sandbox's admin key (control plane).
    Admin,
    /// A key was sent to the control plane but it is not this sandbox's admin key.
    BadAdminKey,
    /// A connecting company authenticated with its client id and secret (HTTP Basic), on
    /// the webhook management API.
    Client(Arc<str>),
    /// Basic credentials that did not authenticate a client, and why.
    BadClient(&'static str),
    /// Client authentications from the caller's address are held back until then.
    ClientHeldBack(jiff::Timestamp, u16),
    /// The server's operator key (`/operator/v1`).
    Operator,
    /// A key was sent to the operator API but it is not the operator key.
    BadOperatorKey,
    /// The credentials could not be checked (storage failure).
    Failed(crate::storage::StorageError),
}

impl Identity {
    /// (client, user) for the access log.
    pub fn log_names(&self) -> (Option<String>, Option<String>) {
        match self {
            Identity::User(p) => (Some(p.client_id.clone()), Some(p.user_id.clone())),
            Identity::Admin => (Some("sandbox-admin".into()), None),
            Identity::Client(c) => (Some(c.to_string()), None),
            Identity::Operator => (Some("operator".into()), None),
            _ => (None, None),
        }
    }

    /// The principal of a resource API call, or the problem its credentials make.
    pub fn user(&self) -> Result<&Arc<Principal>, ApiError> {
        match self {
            Identity::User(p) => Ok(p),
            Identity::BadToken(why) => Err(ApiError::invalid_token(*why)),
            Identity::ExpiredToken(at) => Err(ApiError::invalid_token(format!(
                "the access token expired at {} (sandbox time); refresh it",
                crate::clock::format_jst(*at)
            ))
            .because("token_expired")),
            Identity::Failed(e) => Err(e.clone().into()),
            _ => Err(ApiError::missing_token()),
        }
    }

    /// Ok for the sandbox admin, else the problem to answer.
    pub fn admin(&self) -> Result<(), ApiError> {
        match self {
            Identity::Admin => Ok(()),
            Identity::BadAdminKey => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_admin_key",
                "the sandbox admin key is wrong; it is printed when the server starts (or when the sandbox is created)",
            )),
            _ => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing_admin_key",
                "send the sandbox admin key as `Authorization: Bearer <key>` or `x-sandbox-admin-key`",
            )),
        }
    }

    /// Ok for the operator, else the problem to answer.
    pub fn operator(&self) -> Result<(), ApiError> {
        match self {
            Identity::Operator => Ok(()),
            Identity::BadOperatorKey => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_operator_key",
                "the operator key is wrong; it is printed when the server starts",
            )),
            _ => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing_operator_key",
                "send the operator key as `Authorization: Bearer <key>`",
            )),
        }
    }
}

/// Resolves the caller as the route declares it: the operator API takes the operator key, the
/// control plane the sandbox's admin key, a connecting company's own API its client id and
/// secret, every other route an access token (if one is sent).
pub fn resolve(server: &Server, sandbox: &Sandbox, spec: &RouteSpec, req: &Request) -> Identity {
    let headers = req.headers();
    if spec.caller == Caller::Operator {
        return match bearer_token(headers) {
            Some(k) if server.is_operator_key(k) => Identity::Operator,
            Some(_) => Identity::BadOperatorKey,
            None => Identity::Anonymous,
        };
    }
    if spec.caller == Caller::Client {
        return match basic_credentials(headers) {
            Some(Ok((id, secret))) => {
                let source = ClientAddr::of(req.extensions(), headers, Some(server)).0;
                match crate::services::consent::authenticate_client_from(sandbox, source, &id, &secret) {
                    Ok(c) => Identity::Client(Arc::from(c.client_id)),
                    Err(crate::services::consent::ConsentError::Storage(e)) => Identity::Failed(e),
                    Err(crate::services::consent::ConsentError::HeldBack(until, left)) => {
                        Identity::ClientHeldBack(until, left)
                    }
                    Err(_) => Identity::BadClient("the client id or secret is wrong"),
                }
            }
            Some(Err(())) => Identity::BadClient("the Basic credentials are not base64 of client_id:client_secret"),
            None if headers.contains_key(axum::http::header::AUTHORIZATION) => {
                Identity::BadClient("authenticate with HTTP Basic: your client id and secret")
            }
            None => Identity::Anonymous,
        };
    }
    if spec.caller == Caller::Admin {
        return match admin_key_given(headers) {
            Some(k) if sandbox.is_admin_key(k) => Identity::Admin,
            Some(_) => Identity::BadAdminKey,
            None => Identity::Anonymous,
        };
    }
    match bearer_token(headers) {
        Some("") => Identity::BadToken("the access token is empty"),
        Some(token) => match authenticate_bearer(sandbox, token) {
            Ok(p) => Identity::User(p),
            Err(TokenRejection::Invalid(why)) => Identity::BadToken(why),
            Err(TokenRejection::Expired(at)) => Identity::ExpiredToken(at),
            Err(TokenRejection::Storage(e)) => Identity::Failed(e),
        },
        None => Identity::Anonymous,
    }
}
