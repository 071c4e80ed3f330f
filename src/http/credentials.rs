//! Reading what a request presents: its bearer token, HTTP Basic client credentials, the
//! sandbox admin key, and the address it comes from. Nothing here checks them.

use crate::server::Server;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;

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

/// Client id and secret from HTTP Basic (each form-urlencoded, RFC 6749 §2.3.1); `Err` when
/// the header is not base64 of `id:secret`.
pub fn basic_credentials(headers: &HeaderMap) -> Option<Result<(String, String), ()>> {
    use base64::Engine;
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| ());
    let text = decoded.and_then(|d| String::from_utf8(d).map_err(|_| ()));
    Some(text.and_then(|t| {
        let (id, secret) = t.split_once(':').ok_or(())?;
        let decode = |s: &str| {
            form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.to_string())
                .unwrap_or_default()
        };
        Ok((decode(id), decode(secret)))
    }))
}

/// The admin key from `x-sandbox-admin-key`, else from the bearer token (not yet checked).
pub fn admin_key_given(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("x-sandbox-admin-key")
        .and_then(|v| v.to_str().ok())
        .or_else(|| bearer_token(headers))
}

/// The address a request comes from: the connection's peer, or — when the server runs behind
/// a proxy and `--client-ip-header` names the header the proxy sets — the last address in
/// that header (the one the proxy appended). Caps and lockouts per source use it.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<std::net::IpAddr>);

impl ClientAddr {
    /// The address of a request, from its extensions (the connection; the server's settings
    /// unless `server` is given) and headers.
    pub fn of(extensions: &axum::http::Extensions, headers: &HeaderMap, server: Option<&Server>) -> ClientAddr {
        let peer = extensions
            .get::<axum::extract::ConnectInfo<crate::http::connection::Connection>>()
            .map(|c| c.0.peer());
        let header = server
            .or_else(|| extensions.get::<Server>())
            .and_then(|s| s.config.client_ip_header.as_ref())
            .and_then(|name| headers.get(name.as_str()))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|ip| ip.trim().parse().ok());
        ClientAddr(header.or(peer))
    }
}
