//! The OAuth 2.0 / OpenID Connect authorization server: authorization (login and consent
//! pages), token, revocation, introspection, discovery, JWKS and userinfo. The rules live in
//! `services::consent`; this module is the HTTP face.

pub mod authorize;
pub mod discovery;
pub mod token;

use crate::domain::fault::RequestKind;
use crate::http::route::{Answers, Charged, RouteSpec, Routes};
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
