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
        (name = "faults", description = "Rehearse failure (admin key): fault rules that answer errors, add latency, time out, reset connections, hide the answer of an executed update (ambiguous outcome), end tokens or refuse updates with bank errors; and transfer outcome rules that decide how transfers to other banks end. Matching is deterministic under the scenario seed; an answer a fault makes carries `sandbank-fault: <rule id>`. When the scenario allows it, a request header `Sandbank-Simulate` (e.g. `status=503`, `ambiguous=504`, `latency=2s`, `reset`) forces one outcome without a rule"),
        (name = "capacity", description = "Capacity (admin key): the bank-wide and per-client capacity policies — rates with bursts over real time, quotas per sandbox day or month, concurrent requests, and what changes on peak days — and planned maintenance windows. Over a limit the API answers 429 `rate_limited` with `Retry-After` and the IETF `RateLimit-Policy` / `RateLimit` fields; every call a limit counts carries them. During a window the covered APIs answer 503 `maintenance` with `Retry-After` = its end"),
        (name = "clients", description = "Connecting companies (admin key): create, change and delete clients, rotate a secret (the old one works for a grace period), and the kill switch — suspend a client (403 `client_suspended`, `unauthorized_client` at the token endpoint, an error page instead of the consent screen), stop one user's API access (403 `user_suspended`), or stop every client (503 `service_stopped`); every stop and lifting is recorded and written to the event outbox"),
        (name = "webhooks", description = "Webhooks (Standard Webhooks): a connecting company subscribes endpoints with its client id and secret (HTTP Basic) under /webhooks/v1, the control plane for any client under /sandbox/v1/webhooks. Every event of the outbox goes to the endpoints of the clients allowed to see it (money and transfer events: a live grant with a read scope over the account; grant, mandate and debit events: the client concerned), POSTed with `webhook-id` (stable across retries), `webhook-timestamp` (real Unix seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of {id}.{timestamp}.{body}>` (two signatures during a secret rotation's grace period). Only a 2xx delivers; redirects are not followed; 410 disables the endpoint; 429/503 Retry-After is honoured; retries follow the server's schedule with ±10% jitter, in real or sandbox time, whichever passes first. The body is `{id, type, occurredAt, sandboxId, data}`; event types: transfer.accepted, transfer.scheduled, transfer.awaiting_approval, transfer.approved, transfer.returned_for_revision, transfer.processing, transfer.completed, transfer.partially_completed, transfer.returned, transfer.item_returned, transfer.failed, transfer.cancelled, transfer.expired, account.credited, account.debited, account.closed, debit.completed, debit.failed, mandate.created, mandate.stopped, mandate.cancelled, grant.revoked, grant.expired, client.suspended, client.resumed, user.suspended, user.resumed, bank.stopped, bank.resumed, maintenance.announced, webhook.endpoint_disabled, webhook.test"),
        (name = "operator", description = "Operator API: create, list, reset, snapshot and delete sandboxes (operator key). Every sandbox but the default is served under /s/{sandboxId}, with its own issuer, keys and clock"),
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
            SecurityScheme::OAuth2(OAuth2::with_description(
                [Flow::AuthorizationCode(AuthorizationCode::new(
                    "/oauth/authorize",
                    "/oauth/token",
                    Scopes::from_iter(crate::domain::consent::Scope::ALL.map(|s| (s.as_str(), s.description_en()))),
                ))],
                "Authorization code with PKCE (S256). Every scope the bank knows is listed, but a client may ask only for the scopes registered for it (GET /sandbox/v1/clients lists them); asking for another ends the authorization with invalid_scope. In the default scenario: demo-pfm (Swagger UI's client) openid profile accounts:read transactions:read; demo-pay adds transfers:own transfers:any; demo-biller openid accounts:read debits (with debit_max_amount and debit_monthly_max_amount).",
            )),
        );
        components.add_security_scheme(
            "operatorKey",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The operator key printed at startup (`--operator-key`), for /operator/v1",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "clientBasic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "A connecting company's client id and secret, as HTTP Basic (the webhook management API)",
                    ))
                    .build(),
            ),
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
fn add_oauth2_alternatives(doc: &mut serde_json::Value) {
    for_each_operation(doc, |_, _, op| {
        let Some(security) = op.get_mut("security").and_then(|s| s.as_array_mut()) else {
            return;
        };
        let scopes: Vec<_> = security.iter().filter_map(|r| r.get("bearer").cloned()).collect();
        for scopes in scopes {
            security.push(serde_json::json!({ "oauth2": scopes }));
        }
    });
}

/// Calls `f(path, method, operation)` for every operation of the document.
fn for_each_operation(
    doc: &mut serde_json::Value,
    mut f: impl FnMut(&str, &str, &mut serde_json::Map<String, serde_json::Value>),
) {
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else { continue };
        for (method, op) in item.iter_mut() {
            if let Some(op) = op.as_object_mut() {
                f(path, method, op);
            }
        }
    }
}

// Long on purpose: one entry per answer a layer gives, in the order the layers run.
/// Adds to every operation the answers that layers in front of its handler give, so the
/// description lists every status the server really answers: 401/403 for token-protected
/// operations (no, invalid or expired token; missing scope or wrong segment), 401 for the
/// control plane, 400 for query strings that do not parse, 400/415/422 for JSON bodies that
/// are malformed, not JSON or of the wrong shape, 409/422 for `Idempotency-Key` on POSTs.
fn add_layer_answers(doc: &mut serde_json::Value) {
    use crate::domain::fault::RequestKind;
    use serde_json::{Value, json};
    let problem = |description: &str| {
        json!({"description": description,
               "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}})
    };
    for_each_operation(doc, |path, method, op| {
        let schemes: Vec<String> = op
            .get("security")
            .and_then(Value::as_array)
            .map(|reqs| {
                reqs.iter()
                    .filter_map(Value::as_object)
                    .flat_map(|r| r.keys().cloned())
                    .collect()
            })
            .unwrap_or_default();
        let has_query = op
            .get("parameters")
            .and_then(Value::as_array)
            .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
        let json_body = op
            .get("requestBody")
            .and_then(|b| b.get("content"))
            .and_then(|c| c.get("application/json"))
            .is_some();
        let spec = super::route_table().spec(&method.to_ascii_uppercase().parse().unwrap_or_default(), path);
        let oauth_form = matches!(spec.kind, Some(RequestKind::Auth | RequestKind::Token));
        let mut add = Vec::new();
        if schemes.iter().any(|s| s == "bearer") {
            add.push((
                "401",
                "Missing, invalid or expired access token, or a revoked grant (RFC 6750)",
            ));
            add.push(("403", "The token lacks the scope, or belongs to the other segment"));
            if spec.segment.is_some() {
                add.push(("404", "No such account, transfer or mandate among this customer's"));
            }
        }
        if schemes.iter().any(|s| s == "clientBasic") {
            add.push(("401", "Missing or wrong client credentials (HTTP Basic)"));
        } else if schemes.iter().any(|s| s == "adminKey") {
            add.push(("401", "Missing or wrong sandbox admin key"));
        }
        if schemes.iter().any(|s| s == "operatorKey") {
            add.push(("401", "Missing or wrong operator key"));
        }
        if has_query && !oauth_form {
            add.push(("400", "A query parameter is missing, unknown or malformed"));
        }
        if json_body {
            add.push(("400", "The body is not well-formed JSON"));
            add.push(("415", "The body is not sent as application/json"));
            add.push((
                "422",
                "The JSON does not have the documented shape (missing or unknown field, wrong type)",
            ));
        }
        if method == "post" && spec.keyed {
            add.push((
                "400",
                "The Idempotency-Key header is not 1 to 255 visible ASCII characters",
            ));
            add.push(("409", "A request with this Idempotency-Key is still being processed"));
            add.push(("422", "This Idempotency-Key was used with a different request"));
            let params = op.entry("parameters").or_insert_with(|| json!([])).as_array_mut();
            if let Some(params) = params {
                params.retain(|p| p["name"] != "Idempotency-Key");
                params.push(json!({
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": false,
                    "description": "Retry safely (IETF draft): the same key and body replay the first answer; keys belong to the client and user (or the admin) and are kept 24 hours of sandbox time",
                    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"}
                }));
            }
        }
        // The policy layer: capacity limits, maintenance windows, the emergency stop and
        // suspensions of a client or user.
        if matches!(spec.kind, Some(RequestKind::Reference | RequestKind::Update)) {
            add.push((
                "429",
                "A capacity limit was reached: `rate_limited`, the limit named, with Retry-After and the RateLimit-Policy / RateLimit fields",
            ));
            add.push((
                "503",
                "A maintenance window (`maintenance`) or the bank's emergency stop (`service_stopped`), with Retry-After during a window",
            ));
            if schemes.iter().any(|s| s == "bearer") {
                add.push((
                    "403",
                    "The bank has suspended the connecting company (`client_suspended`) or the user (`user_suspended`)",
                ));
            }
        }
        let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
            return;
        };
        for (status, description) in add {
            responses.entry(status).or_insert_with(|| problem(description));
        }
    });
}

/// The served and committed description: the routes' own, plus the OAuth 2.0 alternative on
/// token-protected operations and the answers of the layers in front of the handlers. As
/// JSON: utoipa's document type does not read its own output back.
pub fn finished(api: &OpenApiDoc) -> serde_json::Value {
    let mut doc = serde_json::to_value(api).unwrap_or_default();
    add_oauth2_alternatives(&mut doc);
    add_layer_answers(&mut doc);
    add_webhooks(&mut doc);
    doc
}

/// The OpenAPI 3.1 `webhooks` section: one entry per event type, with what it means and an
/// example body built from the same code that builds real deliveries.
fn add_webhooks(doc: &mut serde_json::Value) {
    use crate::domain::event::{EventKind, describe, examples};
    use serde_json::json;
    let mut hooks = serde_json::Map::new();
    for (i, kind) in examples().into_iter().enumerate() {
        let name = kind.name();
        let example = json!({
            "id": format!("evt_{:012}", i + 1),
            "type": name,
            "occurredAt": "2026-11-21T10:15:30+09:00",
            "sandboxId": "default",
            "data": kind.data(),
        });
        hooks.insert(name.to_owned(), json!({"post": {
            "operationId": format!("webhook_{}", name.replace('.', "_")),
            "tags": ["webhooks"],
            "summary": name,
            "description": format!("{} Delivered with the Standard Webhooks headers `webhook-id`, `webhook-timestamp` and `webhook-signature`.", describe(name)),
            "requestBody": {"required": true, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/WebhookEvent"},
                "example": example,
            }}},
            "responses": {
                "2XX": {"description": "Delivered. Anything else is retried; 410 disables the endpoint; 429 and 503 may send Retry-After"}
            }
        }}));
    }
    debug_assert_eq!(hooks.len(), EventKind::TYPES.len());
    doc["webhooks"] = serde_json::Value::Object(hooks);
    if let Some(schemas) = doc.pointer_mut("/components/schemas").and_then(|s| s.as_object_mut()) {
        schemas.insert("WebhookEvent".into(), json!({
            "type": "object",
            "description": "The body of every webhook delivery: the event in the API's vocabulary.",
            "required": ["id", "type", "occurredAt", "sandboxId", "data"],
            "properties": {
                "id": {"type": "string", "description": "The event's id (`evt_…`), as in GET /sandbox/v1/events."},
                "type": {"type": "string", "enum": EventKind::TYPES, "description": "The event type."},
                "occurredAt": {"type": "string", "description": "When it happened, sandbox time (RFC 3339, +09:00). The `webhook-timestamp` header is real time."},
                "sandboxId": {"type": "string", "description": "The sandbox it happened in."},
                "data": {"type": "object", "description": "The payload: camelCase, amounts as strings of yen (see each event's example)."}
            }
        }));
    }
}

/// The complete OpenAPI document as pretty JSON.
pub fn openapi_json() -> String {
    let (_, api) = super::api_router().router.split_for_parts();
    serde_json::to_string_pretty(&finished(&api)).unwrap_or_default()
}

/// `GET /openapi.json`: the description as the requesting sandbox serves it — its own base
/// URL as the server, its own authorization and token endpoints for Swagger UI's "Authorize";
/// a created sandbox's description leaves out the operator API (served at the root only).
pub async fn served(
    sandbox: crate::sandbox::Sandbox,
    doc: std::sync::Arc<serde_json::Value>,
) -> axum::Json<serde_json::Value> {
    let mut doc = (*doc).clone();
    doc["servers"] = serde_json::json!([{
        "url": sandbox.issuer,
        "description": format!("sandbox {}", sandbox.id),
    }]);
    if let Some(flow) = doc
        .pointer_mut("/components/securitySchemes/oauth2/flows/authorizationCode")
        .and_then(|f| f.as_object_mut())
    {
        flow.insert(
            "authorizationUrl".into(),
            format!("{}/oauth/authorize", sandbox.issuer).into(),
        );
        flow.insert("tokenUrl".into(), format!("{}/oauth/token", sandbox.issuer).into());
    }
    if !sandbox.is_default()
        && let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut())
    {
        let table = super::route_table();
        paths.retain(|path, _| table.caller_of_path(path) != Some(super::route::Caller::Operator));
    }
    axum::Json(doc)
}
