//! The OAuth 2.0 / OpenID Connect authorization server: authorization (login and consent
//! pages), token, revocation, introspection, discovery, JWKS and userinfo. The rules live in
//! `services::consent`; this module is the HTTP face.

pub mod authorize;
pub mod discovery;
pub mod pages;
pub mod token;

use crate::domain::fault::RequestKind;
use crate::http::error::ApiError;
use crate::http::route::{Answers, Charged, RouteSpec, Routes};
use crate::services::consent::ConsentError;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::routes;

/// RFC 6749 §5.2 error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthErrorBody {
    /// invalid_request, invalid_client, invalid_grant, unauthorized_client, unsupported_grant_type, invalid_scope or server_error.
    pub error: String,
    /// What went wrong and how to fix it.
    pub error_description: String,
}

/// Maps a consent-service failure onto the problem shape (for the control plane).
pub fn oauth_error_to_api(e: ConsentError) -> ApiError {
    match e {
        ConsentError::OAuth(e) => match e.error {
            "user_not_found" | "client_not_found" | "account_not_found" => {
                ApiError::new(axum::http::StatusCode::NOT_FOUND, e.error, e.description)
            }
            "scope_not_allowed" => ApiError::new(axum::http::StatusCode::FORBIDDEN, e.error, e.description),
            _ => ApiError::bad_request(e.error, e.description),
        },
        ConsentError::Storage(e) => e.into(),
        ConsentError::HeldBack(until, left) => crate::http::error::held_back(until, left),
    }
}

/// The authorization server's routes. `auth` capacity limits count the authorization request
/// (charged to the client it names) and userinfo; login, consent, discovery and keys are not
/// counted. The browser pages answer refusals as HTML pages.
pub fn router() -> Routes {
    let auth = RouteSpec::oauth(RequestKind::Auth);
    let page = auth.answered_as(Answers::Page);
    Routes::new()
        .add(page.charged(Charged::QueryClient), routes!(authorize::authorize))
        .add(page, routes!(authorize::login))
        .add(page, routes!(authorize::decide))
        .add(RouteSpec::oauth(RequestKind::Token), routes!(token::token))
        .add(auth, routes!(token::revoke))
        .add(auth, routes!(token::introspect))
        .add(RouteSpec::discovery(), routes!(discovery::openid_configuration))
        .add(RouteSpec::discovery(), routes!(discovery::oauth_metadata))
        .add(auth, routes!(discovery::jwks))
        .add(auth.charged(Charged::Caller), routes!(discovery::userinfo))
}
