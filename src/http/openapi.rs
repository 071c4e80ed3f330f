//! The OpenAPI description, assembled from the routes themselves (utoipa-axum), so the spec
//! and the router cannot drift apart.

use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, AuthorizationCode, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Scopes, SecurityScheme,
};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "sandbank",
        description = "A sandbox Japanese bank: reference APIs for the personal and corporate segments behind an OAuth 2.0 / OpenID Connect authorization server (authorization code + PKCE S256), public bank information, and a sandbox control plane (clock, grants, access log). Amounts are strings of whole yen; dates YYYY-MM-DD; times RFC 3339 in +09:00. Errors are RFC 9457 problem details with a stable `code` (OAuth endpoints: RFC 6749 §5.2).",
        license(name = "MIT OR Apache-2.0")
    ),
    modifiers(&Security),
    tags(
        (name = "personal", description = "Reference APIs for individual customers (参照系・個人)"),
        (name = "corporation", description = "Reference APIs for corporate customers (参照系・法人)"),
        (name = "oauth", description = "Authorization server: authorize, token, revoke, introspect, discovery, userinfo"),
        (name = "public", description = "Public bank information, no authorization"),
        (name = "sandbox", description = "Sandbox control plane (admin key)"),
        (name = "health", description = "Liveness"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "Access token from /oauth/token (RFC 6750); `x-access-token` is accepted as an alias",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "oauth2",
            SecurityScheme::OAuth2(OAuth2::new([Flow::AuthorizationCode(AuthorizationCode::new(
                "/oauth/authorize",
                "/oauth/token",
                Scopes::from_iter(crate::domain::consent::Scope::ALL.map(|s| (s.as_str(), s.description_en()))),
            ))])),
        );
        components.add_security_scheme(
            "adminKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-sandbox-admin-key",
                "The sandbox admin key printed at startup (also accepted as `Authorization: Bearer <key>`)",
            ))),
        );
    }
}

/// Every operation that takes a bearer token also lists the `oauth2` scheme with the same
/// scopes, so Swagger UI's "Authorize" (authorization code + PKCE) can call it.
pub fn with_oauth2_alternatives(api: OpenApiDoc) -> OpenApiDoc {
    let Ok(mut doc) = serde_json::to_value(&api) else {
        return api;
    };
    if let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) {
        for item in paths.values_mut().filter_map(|i| i.as_object_mut()) {
            for op in item.values_mut().filter_map(|o| o.as_object_mut()) {
                let Some(security) = op.get_mut("security").and_then(|s| s.as_array_mut()) else {
                    continue;
                };
                let scopes: Vec<_> = security.iter().filter_map(|r| r.get("bearer").cloned()).collect();
                for scopes in scopes {
                    security.push(serde_json::json!({ "oauth2": scopes }));
                }
            }
        }
    }
    serde_json::from_value(doc).unwrap_or(api)
}

/// The complete OpenAPI document as pretty JSON.
pub fn openapi_json() -> String {
    let (_, api) = super::api_router().split_for_parts();
    with_oauth2_alternatives(api).to_pretty_json().unwrap_or_default()
}
