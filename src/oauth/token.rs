//! The token endpoint (authorization_code with PKCE, refresh_token with rotation), revocation
//! (RFC 7009) and introspection (RFC 7662). Clients authenticate with client_secret_basic or
//! client_secret_post; errors use the RFC 6749 §5.2 shape.

use super::OAuthErrorBody;
use crate::sandbox::Sandbox;
use crate::services::consent::{self, ConsentError, Introspection, OAuthError, TokenResponse};
use axum::Json;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::collections::HashMap;
use utoipa::ToSchema;

/// An RFC 6749 error response, with `WWW-Authenticate` for failed Basic authentication.
fn oauth_error(e: OAuthError, basic_used: bool) -> Response {
    let status = if e.error == "invalid_client" {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    let reason = crate::http::error::RefusalReason::new(e.reason.unwrap_or(e.error), e.description.clone());
    let mut res = (
        status,
        Json(OAuthErrorBody {
            error: e.error.to_owned(),
            error_description: e.description,
        }),
    )
        .into_response();
    res.extensions_mut().insert(reason);
    if status == StatusCode::UNAUTHORIZED && basic_used {
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"sandbank\""),
        );
    }
    no_store(res)
}

fn no_store(mut res: Response) -> Response {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

fn consent_error(e: ConsentError, basic_used: bool) -> Response {
    match e {
        ConsentError::HeldBack(until, left) => {
            let api = crate::http::error::held_back(until, left);
            let description = api.detail.to_string();
            in_oauth_shape(api, OAuthError::new("invalid_client", description))
        }
        ConsentError::OAuth(e) => oauth_error(e, basic_used),
        ConsentError::Storage(e) => {
            // 507 for a full disk, 503 with Retry-After for another storage fault.
            let api = crate::http::error::ApiError::from(e);
            let description = match api.status {
                StatusCode::INSUFFICIENT_STORAGE => "the bank's disk is full, so nothing was issued; try again later",
                StatusCode::SERVICE_UNAVAILABLE => {
                    "the bank's storage failed, so nothing was issued; retry in a moment"
                }
                _ => "the bank could not process the request; try again",
            };
            in_oauth_shape(api, OAuthError::new("temporarily_unavailable", description))
        }
    }
}

/// A problem the token endpoint answers with the problem's status, `Retry-After` and logged
/// cause, its body in the RFC 6749 shape.
fn in_oauth_shape(api: crate::http::error::ApiError, body: OAuthError) -> Response {
    let mut res = oauth_error(body, false);
    *res.status_mut() = api.status;
    if let Some(seconds) = api.retry_after {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    if let Some(cause) = api.cause {
        res.extensions_mut().insert(crate::http::error::ErrorCause(cause));
    }
    res
}

/// Parses an `application/x-www-form-urlencoded` body; repeated parameters are refused.
fn parse_form(headers: &HeaderMap, body: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return Err(OAuthError::new(
            "invalid_request",
            "send the parameters as application/x-www-form-urlencoded",
        ));
    }
    let mut map = HashMap::new();
    for (k, v) in form_urlencoded::parse(body) {
        if map.insert(k.to_string(), v.to_string()).is_some() {
            return Err(OAuthError::new(
                "invalid_request",
                format!("parameter {k:?} is repeated"),
            ));
        }
    }
    Ok(map)
}

/// Client id and secret from HTTP Basic (RFC 6749 §2.3.1: each form-urlencoded) or the body.
fn client_credentials(
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<(String, String, bool), OAuthError> {
    let basic = crate::http::extract::basic_credentials(headers);
    let in_body = form.contains_key("client_secret");
    match basic {
        Some(_) if in_body => Err(OAuthError::new(
            "invalid_request",
            "use one client authentication method: Basic or client_secret in the body, not both",
        )),
        Some(Ok((id, _))) if form.get("client_id").is_some_and(|body_id| *body_id != id) => Err(OAuthError::new(
            "invalid_request",
            format!(
                "the body's client_id {:?} is not the client authenticated with Basic ({id:?}); send one client",
                form.get("client_id").map(String::as_str).unwrap_or_default()
            ),
        )),
        Some(Ok((id, secret))) => Ok((id, secret, true)),
        Some(Err(())) => Err(OAuthError::new(
            "invalid_client",
            "the Basic credentials are not base64 of client_id:client_secret",
        )),
        None => {
            let id = form.get("client_id").cloned().unwrap_or_default();
            let secret = form.get("client_secret").cloned().ok_or_else(|| {
                OAuthError::new(
                    "invalid_client",
                    "authenticate the client with HTTP Basic or client_id and client_secret in the body",
                )
            })?;
            Ok((id, secret, false))
        }
    }
}

/// Parameters of the token endpoint (form-encoded).
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenForm {
    /// `authorization_code` or `refresh_token`.
    pub grant_type: String,
    /// The code from the redirect (authorization_code).
    pub code: Option<String>,
    /// The same redirect_uri as in the authorization request (authorization_code).
    pub redirect_uri: Option<String>,
    /// The PKCE code verifier (authorization_code).
    pub code_verifier: Option<String>,
    /// The refresh token (refresh_token).
    pub refresh_token: Option<String>,
    /// Narrower scope on refresh (optional).
    pub scope: Option<String>,
    /// For client_secret_post.
    pub client_id: Option<String>,
    /// For client_secret_post.
    pub client_secret: Option<String>,
}

/// Exchange a code or a refresh token for tokens.
#[utoipa::path(post, path = "/oauth/token", tag = "oauth",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Tokens", body = TokenResponse),
        (status = 400, description = "RFC 6749 error", body = OAuthErrorBody),
        (status = 401, description = "Client authentication failed", body = OAuthErrorBody),
        (status = 429, description = "Too many failed client authentications from this address: held back until Retry-After", body = OAuthErrorBody),
    ))]
pub async fn token(
    sandbox: Sandbox,
    crate::http::extract::ClientAddr(source): crate::http::extract::ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match parse_form(&headers, &body) {
        Ok(f) => f,
        Err(e) => return oauth_error(e, false),
    };
    let (client_id, secret, basic) = match client_credentials(&headers, &form) {
        Ok(c) => c,
        Err(e) => return oauth_error(e, true),
    };
    let client = match consent::authenticate_client_from(&sandbox, source, &client_id, &secret) {
        Ok(c) => c,
        Err(e) => return consent_error(e, basic),
    };
    // The kill switch: a suspended connecting company gets no tokens (RFC 6749 §5.2).
    if let Some(refusal) =
        sandbox
            .controls
            .refusal(Some(&client.client_id), None, crate::domain::fault::RequestKind::Token)
    {
        return oauth_error(
            OAuthError::new(
                "unauthorized_client",
                format!(
                    "the bank has suspended this connecting company: {}",
                    refusal.stop.reason
                ),
            ),
            basic,
        );
    }
    let get = |k: &str| form.get(k).map(String::as_str);
    let result = match get("grant_type") {
        Some("authorization_code") => {
            consent::exchange_code(
                &sandbox,
                &client,
                get("code"),
                get("redirect_uri"),
                get("code_verifier"),
            )
            .await
        }
        Some("refresh_token") => consent::refresh(&sandbox, &client, get("refresh_token"), get("scope")).await,
        Some(other) => Err(ConsentError::OAuth(OAuthError::new(
            "unsupported_grant_type",
            format!("grant_type {other:?} is not supported; use authorization_code or refresh_token"),
        ))),
        None => Err(ConsentError::OAuth(OAuthError::new(
            "invalid_request",
            "grant_type is required",
        ))),
    };
    match result {
        Ok(tokens) => no_store(Json(tokens).into_response()),
        Err(e) => consent_error(e, basic),
    }
}

/// Parameters of revocation and introspection (form-encoded).
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenParamForm {
    /// The token to revoke or inspect.
    pub token: String,
    /// Optional hint: access_token or refresh_token.
    pub token_type_hint: Option<String>,
}

async fn with_client(
    sandbox: &Sandbox,
    source: Option<std::net::IpAddr>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(crate::domain::consent::Client, String), Response> {
    let form = parse_form(headers, body).map_err(|e| oauth_error(e, false))?;
    let (id, secret, basic) = client_credentials(headers, &form).map_err(|e| oauth_error(e, true))?;
    let client =
        consent::authenticate_client_from(sandbox, source, &id, &secret).map_err(|e| consent_error(e, basic))?;
    let token = form
        .get("token")
        .cloned()
        .ok_or_else(|| oauth_error(OAuthError::new("invalid_request", "token is required"), false))?;
    Ok((client, token))
}

/// Revoke a token (RFC 7009). A refresh token ends its whole grant. Unknown tokens also get 200.
#[utoipa::path(post, path = "/oauth/revoke", tag = "oauth",
    request_body(content = TokenParamForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked (or was not valid)"),
        (status = 400, description = "RFC 6749 error", body = OAuthErrorBody),
        (status = 401, description = "Client authentication failed", body = OAuthErrorBody),
        (status = 429, description = "Too many failed client authentications from this address: held back until Retry-After", body = OAuthErrorBody),
    ))]
pub async fn revoke(
    sandbox: Sandbox,
    crate::http::extract::ClientAddr(source): crate::http::extract::ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (client, token) = match with_client(&sandbox, source, &headers, &body).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    match consent::revoke(&sandbox, &client, &token).await {
        Ok(()) => no_store(StatusCode::OK.into_response()),
        Err(e) => consent_error(ConsentError::Storage(e), false),
    }
}

/// Inspect a token (RFC 7662); only the client that owns it sees it active.
#[utoipa::path(post, path = "/oauth/introspect", tag = "oauth",
    request_body(content = TokenParamForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Token state", body = Introspection),
        (status = 400, description = "RFC 6749 error", body = OAuthErrorBody),
        (status = 401, description = "Client authentication failed", body = OAuthErrorBody),
        (status = 429, description = "Too many failed client authentications from this address: held back until Retry-After", body = OAuthErrorBody),
    ))]
pub async fn introspect(
    sandbox: Sandbox,
    crate::http::extract::ClientAddr(source): crate::http::extract::ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (client, token) = match with_client(&sandbox, source, &headers, &body).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    match consent::introspect(&sandbox, &client, &token) {
        Ok(answer) => no_store(Json(answer).into_response()),
        Err(e) => consent_error(ConsentError::Storage(e), false),
    }
}
