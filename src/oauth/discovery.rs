//! Discovery and identity: OpenID Provider / OAuth AS metadata, the JWK Set, and userinfo
//! (the "authentication" API: who the user is, with names in kanji and kana).

use crate::domain::consent::Scope;
use crate::domain::customer::CustomerKind;
use crate::http::error::ApiError;
use crate::http::extract::Authenticated;
use crate::sandbox::Sandbox;
use axum::Json;
use serde_json::{Value, json};

fn metadata(sandbox: &Sandbox) -> Value {
    let iss = &sandbox.issuer;
    json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/oauth/authorize"),
        "token_endpoint": format!("{iss}/oauth/token"),
        "userinfo_endpoint": format!("{iss}/oauth/userinfo"),
        "jwks_uri": format!("{iss}/oauth/jwks"),
        "revocation_endpoint": format!("{iss}/oauth/revoke"),
        "introspection_endpoint": format!("{iss}/oauth/introspect"),
        "scopes_supported": Scope::ALL.map(Scope::as_str),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "name", "family_name", "given_name",
            "name#ja-Kana-JP", "family_name#ja-Kana-JP", "given_name#ja-Kana-JP", "customer_type", "organization_name"],
        "claims_locales_supported": ["ja", "ja-Kana-JP"],
        "ui_locales_supported": ["ja", "en"],
        "authorization_response_iss_parameter_supported": true,
        "service_documentation": format!("{iss}/swagger-ui/"),
    })
}

/// OpenID Connect discovery document.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "oauth",
    responses((status = 200, description = "OpenID Provider metadata", body = Object)))]
pub async fn openid_configuration(sandbox: Sandbox) -> Json<Value> {
    Json(metadata(&sandbox))
}

/// OAuth 2.0 Authorization Server Metadata (RFC 8414).
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "oauth",
    responses((status = 200, description = "Authorization server metadata", body = Object)))]
pub async fn oauth_metadata(sandbox: Sandbox) -> Json<Value> {
    Json(metadata(&sandbox))
}

/// The public keys that verify ID tokens.
#[utoipa::path(get, path = "/oauth/jwks", tag = "oauth",
    responses((status = 200, description = "JWK Set", body = Object)))]
pub async fn jwks(sandbox: Sandbox) -> Json<Value> {
    Json(sandbox.signing_key.jwks())
}

/// Who the user is (OpenID Connect userinfo). Needs `openid`; names need `profile`.
#[utoipa::path(get, path = "/oauth/userinfo", tag = "oauth",
    security(("bearer" = ["openid", "profile"])),
    responses(
        (status = 200, description = "Claims about the user", body = Object),
        (status = 401, description = "Missing, unknown or expired token", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Scope openid missing", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn userinfo(sandbox: Sandbox, who: Authenticated) -> Result<Json<Value>, ApiError> {
    who.require(Scope::OpenId)?;
    let mut claims = json!({ "sub": who.0.user_id });
    if who.0.has(Scope::Profile) {
        let user = sandbox.store.user(&who.0.user_id)?;
        let customer = sandbox.store.customer(&who.0.customer_id)?;
        if let (Some(user), Some(c)) = (user, customer) {
            let map = claims
                .as_object_mut()
                .ok_or_else(|| ApiError::internal("claims are not an object"))?;
            match c.kind {
                CustomerKind::Individual => {
                    map.insert("customer_type".into(), json!("individual"));
                    map.insert("name".into(), json!(c.name));
                    map.insert("name#ja-Kana-JP".into(), json!(c.name_kana.as_str()));
                    map.insert("family_name".into(), json!(c.family_name));
                    map.insert("given_name".into(), json!(c.given_name));
                    map.insert("family_name#ja-Kana-JP".into(), json!(c.family_name_kana));
                    map.insert("given_name#ja-Kana-JP".into(), json!(c.given_name_kana));
                }
                CustomerKind::Corporation => {
                    map.insert("customer_type".into(), json!("corporation"));
                    map.insert("name".into(), json!(user.display_name));
                    map.insert("organization_name".into(), json!(c.name));
                    map.insert("organization_name#ja-Kana-JP".into(), json!(c.name_kana.as_str()));
                    map.insert("role".into(), json!(format!("{:?}", user.role).to_lowercase()));
                }
            }
            if let Some(email) = c.email {
                map.insert("email".into(), json!(email));
            }
        }
    }
    Ok(Json(claims))
}
