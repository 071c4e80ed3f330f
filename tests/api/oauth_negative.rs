//! What the authorization server refuses, and how: wrong PKCE verifier, reused and expired
//! codes, redirect URI mismatches, bad client secrets, plain or missing PKCE, unknown clients.

use crate::common::*;
use serde_json::Value;

async fn approved_code(app: &TestApp, challenge: &str) -> String {
    let location = browser_consent(
        app,
        &authorize_url(app, "accounts:read", challenge, "s1"),
        "tanaka",
        "tanaka-pass",
    )
    .await;
    query_param(&location, "code").expect("code")
}

async fn exchange(app: &TestApp, code: &str, verifier: &str, redirect: &str) -> (u16, Value) {
    app.token_request(
        "demo-pfm",
        "demo-secret",
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
        ],
    )
    .await
}

const REDIRECT: &str = "http://127.0.0.1:3000/callback";

#[tokio::test]
async fn wrong_pkce_verifier_is_invalid_grant() {
    let app = TestApp::spawn().await;
    let (_, challenge) = pkce_pair();
    let code = approved_code(&app, &challenge).await;
    let (other_verifier, _) = pkce_pair();
    let (status, body) = exchange(&app, &code, &other_verifier, REDIRECT).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    assert!(body["error_description"].as_str().unwrap().contains("PKCE"));
}

#[tokio::test]
async fn reused_code_fails_and_revokes_what_the_first_use_issued() {
    let app = TestApp::spawn().await;
    let (verifier, challenge) = pkce_pair();
    let code = approved_code(&app, &challenge).await;
    let (status, first) = exchange(&app, &code, &verifier, REDIRECT).await;
    assert_eq!(status, 200);
    let access = first["access_token"].as_str().unwrap();
    assert_eq!(app.get("/personal/v1/accounts", access).await.status(), 200);
    let (status, body) = exchange(&app, &code, &verifier, REDIRECT).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(
        app.get("/personal/v1/accounts", access).await.status(),
        401,
        "grant revoked on code reuse"
    );
}

#[tokio::test]
async fn expired_code_is_invalid_grant() {
    let app = TestApp::spawn().await;
    let (verifier, challenge) = pkce_pair();
    let code = approved_code(&app, &challenge).await;
    app.advance("61s").await;
    let (status, body) = exchange(&app, &code, &verifier, REDIRECT).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    assert!(body["error_description"].as_str().unwrap().contains("expired"));
}

#[tokio::test]
async fn redirect_uri_must_match_exactly() {
    let app = TestApp::spawn().await;
    let (verifier, challenge) = pkce_pair();
    // At the authorization endpoint: an error page, never a redirect.
    let url = authorize_url_with(
        &app,
        &[
            ("response_type", "code"),
            ("client_id", "demo-pfm"),
            ("redirect_uri", "http://127.0.0.1:3000/callback/evil"),
            ("scope", "accounts:read"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let res = app.http.get(url).send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none());
    assert!(res.text().await.unwrap().contains("not registered"));
    // At the token endpoint: a different redirect_uri than in the request.
    let code = approved_code(&app, &challenge).await;
    let (status, body) = exchange(&app, &code, &verifier, "http://localhost:3000/callback").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn unknown_client_shows_an_error_page() {
    let app = TestApp::spawn().await;
    let res = app
        .http
        .get(app.url("/oauth/authorize?response_type=code&client_id=nobody&redirect_uri=http%3A%2F%2F127.0.0.1%3A3000%2Fcallback"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none());
    assert!(res.text().await.unwrap().contains("Unknown client_id"));
}

#[tokio::test]
async fn wrong_client_secret_is_invalid_client() {
    let app = TestApp::spawn().await;
    let (verifier, challenge) = pkce_pair();
    let code = approved_code(&app, &challenge).await;
    let (status, body) = app
        .token_request(
            "demo-pfm",
            "wrong-secret",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    // client_secret_post with the right secret still works afterwards.
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
            ("client_id", "demo-pfm"),
            ("client_secret", "demo-secret"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
}

async fn authorize_error(app: &TestApp, extra: &[(&str, &str)]) -> (String, Option<String>) {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", "demo-pfm"),
        ("redirect_uri", REDIRECT),
        ("scope", "accounts:read"),
        ("state", "xyz"),
    ];
    params.extend_from_slice(extra);
    let res = app.http.get(authorize_url_with(app, &params)).send().await.unwrap();
    assert_eq!(
        res.status(),
        303,
        "errors after the redirect URI is trusted go back to the client"
    );
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(REDIRECT));
    assert_eq!(query_param(&location, "state").as_deref(), Some("xyz"));
    assert_eq!(query_param(&location, "iss").as_deref(), Some(app.base.as_str()));
    (
        query_param(&location, "error").unwrap(),
        query_param(&location, "error_description"),
    )
}

#[tokio::test]
async fn pkce_is_required_and_plain_is_refused() {
    let app = TestApp::spawn().await;
    let (_, challenge) = pkce_pair();
    let (error, why) = authorize_error(&app, &[]).await;
    assert_eq!(error, "invalid_request");
    assert!(why.unwrap().contains("PKCE"));
    let (error, why) = authorize_error(
        &app,
        &[("code_challenge", &challenge), ("code_challenge_method", "plain")],
    )
    .await;
    assert_eq!(error, "invalid_request");
    assert!(why.unwrap().contains("S256"));
    let (error, _) = authorize_error(&app, &[("code_challenge", &challenge)]).await;
    assert_eq!(
        error, "invalid_request",
        "a missing method means plain, which is refused"
    );
}

#[tokio::test]
async fn scopes_beyond_the_client_and_the_user_denying_are_reported_to_the_client() {
    let app = TestApp::spawn().await;
    let (_, challenge) = pkce_pair();
    let url = authorize_url_with(
        &app,
        &[
            ("response_type", "code"),
            ("client_id", "demo-accounting"),
            ("redirect_uri", "http://127.0.0.1:3001/callback"),
            ("scope", "openid profile"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let res = app.http.get(url).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(
        query_param(res.headers()["location"].to_str().unwrap(), "error").as_deref(),
        Some("invalid_scope")
    );

    // The user says no.
    let url = authorize_url(&app, "accounts:read", &challenge, "s");
    let (request_id, token, _) = login_to_consent(&app, &url, "tanaka", "tanaka-pass").await;
    // A forged consent (no login proof) is refused.
    let forged = decide(&app, &request_id, "guess", "approve", &[]).await;
    assert_eq!(forged.status(), 400);
    let res = decide(&app, &request_id, &token, "deny", &[]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        query_param(res.headers()["location"].to_str().unwrap(), "error").as_deref(),
        Some("access_denied")
    );
}

#[tokio::test]
async fn token_endpoint_rejects_bad_requests_in_rfc6749_shape() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .token_request("demo-pfm", "demo-secret", &[("grant_type", "password")])
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "unsupported_grant_type");
    let (status, body) = app
        .token_request(
            "demo-pfm",
            "demo-secret",
            &[("grant_type", "refresh_token"), ("refresh_token", "nope")],
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .body("{}")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn revocation_and_introspection() {
    let app = TestApp::spawn().await;
    let tokens = code_flow_tokens(&app, "tanaka", "tanaka-pass", "accounts:read").await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let introspect = |token: String| {
        let app = &app;
        async move {
            let res = app
                .http
                .post(app.url("/oauth/introspect"))
                .basic_auth("demo-pfm", Some("demo-secret"))
                .form(&[("token", token.as_str())])
                .send()
                .await
                .unwrap();
            res.json::<Value>().await.unwrap()
        }
    };
    let info = introspect(access.to_owned()).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["sub"], "u-tanaka");
    assert_eq!(info["scope"], "accounts:read");
    // exp and iat are real time (a resource server checks them against its own clock), the
    // sandbox instants ride along: the sandbox clock here is not the real one.
    let real_now = jiff::Timestamp::now().as_second();
    let (exp, iat) = (info["exp"].as_i64().unwrap(), info["iat"].as_i64().unwrap());
    assert!(
        (real_now - 5..=real_now + 5).contains(&iat),
        "iat {iat} is real time ({real_now})"
    );
    assert!(exp > real_now, "exp {exp} is in the real future");
    let sandbox_exp = info["sandbox_exp"].as_i64().unwrap();
    assert_eq!(
        exp - iat,
        sandbox_exp - info["sandbox_iat"].as_i64().unwrap(),
        "same lifetime"
    );
    assert_ne!(
        exp, sandbox_exp,
        "the default scenario's clock is not real time: {info}"
    );
    // Revoking the refresh token ends the grant, so the access token dies too.
    let res = app
        .http
        .post(app.url("/oauth/revoke"))
        .basic_auth("demo-pfm", Some("demo-secret"))
        .form(&[("token", refresh)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(introspect(access.to_owned()).await["active"], false);
    assert_eq!(app.get("/personal/v1/accounts", access).await.status(), 401);
    // Unknown tokens are fine to revoke (RFC 7009).
    let res = app
        .http
        .post(app.url("/oauth/revoke"))
        .basic_auth("demo-pfm", Some("demo-secret"))
        .form(&[("token", "never-issued")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

// --- safe to open to the public: what a stranger with a client id can do ---

/// An over-long parameter is refused (`state` is then not echoed back), and authorization
/// requests waiting for a login are capped per source address; they expire and make room.
#[tokio::test]
async fn authorization_requests_are_bounded_and_capped_per_source() {
    let app = TestApp::spawn().await;
    let (_, challenge) = pkce_pair();
    let long = "s".repeat(600);
    let res = app
        .http
        .get(authorize_url(&app, "accounts:read", &challenge, &long))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let to = location(&res);
    assert_eq!(query_param(&to, "error").as_deref(), Some("invalid_request"), "{to}");
    assert!(
        query_param(&to, "error_description")
            .unwrap()
            .contains("state is 600 bytes"),
        "{to}"
    );
    assert_eq!(
        query_param(&to, "state"),
        None,
        "an over-long state is not echoed: {to}"
    );
    let url = authorize_url_with(
        &app,
        &[
            ("response_type", "code"),
            ("client_id", "demo-pfm"),
            ("redirect_uri", "http://127.0.0.1:3000/callback"),
            ("scope", "accounts:read"),
            ("state", "ok"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("nonce", &"n".repeat(513)),
        ],
    );
    let to = location(&app.http.get(url).send().await.unwrap());
    assert!(
        query_param(&to, "error_description")
            .unwrap()
            .contains("nonce is 513 bytes"),
        "{to}"
    );
    assert_eq!(query_param(&to, "state").as_deref(), Some("ok"));

    // 20 waiting requests from one address (the default cap), then 429.
    for i in 0..20 {
        let res = app
            .http
            .get(authorize_url(&app, "accounts:read", &challenge, &format!("s{i}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "request {i} shows the login page");
    }
    let res = app
        .http
        .get(authorize_url(&app, "accounts:read", &challenge, "one-more"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    assert!(res.headers().get("retry-after").is_some());
    assert!(res.text().await.unwrap().contains("already waiting"));
    // They expire (10 minutes of sandbox time) and make room.
    app.advance("11m").await;
    let res = app
        .http
        .get(authorize_url(&app, "accounts:read", &challenge, "later"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// The token endpoint's rate limit counts the client however `Basic` is spelt, and a
/// stranger's wrong secrets never spend the client's budget; a body `client_id` that differs
/// from the Basic one is refused.
#[tokio::test]
async fn token_limits_count_the_authenticated_client_only() {
    let app = TestApp::spawn().await;
    let res = app
        .http
        .put(app.url("/sandbox/v1/clients/demo-pfm/capacity"))
        .bearer_auth(&app.admin_key)
        .json(&serde_json::json!({"limits": [{"name": "tokens", "kind": "token", "rate": 2, "per": "1m", "burst": 2}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let mut refresh = app.grant("tanaka", "demo-pfm", &["accounts:read"]).await["tokens"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    use base64::Engine;
    let basic = |secret: &str| {
        format!(
            "BASIC {}",
            base64::engine::general_purpose::STANDARD.encode(format!("demo-pfm:{secret}"))
        )
    };
    let refresh_with = |auth: String, refresh: String| {
        app.http
            .post(app.url("/oauth/token"))
            .header("authorization", auth)
            .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())])
            .send()
    };
    // A stranger's wrong secrets: 401, and the client's budget is untouched.
    for _ in 0..3 {
        let res = refresh_with(basic("WRONG"), refresh.clone()).await.unwrap();
        assert_eq!(res.status(), 401);
    }
    for n in 0..2 {
        let res = refresh_with(basic(&app.demo_secret), refresh.clone()).await.unwrap();
        assert_eq!(res.status(), 200, "refresh {n} within the limit");
        let v: serde_json::Value = res.json().await.unwrap();
        refresh = v["refresh_token"].as_str().unwrap().to_owned();
    }
    let res = refresh_with(basic(&app.demo_secret), refresh.clone()).await.unwrap();
    assert_eq!(
        res.status(),
        429,
        "the third refresh under a 2/min limit, with BASIC in capitals"
    );
}

/// One request, one client: a body `client_id` that differs from the Basic one is refused.
#[tokio::test]
async fn a_body_client_id_must_match_the_basic_client() {
    let app = TestApp::spawn().await;
    let refresh = app.grant("tanaka", "demo-pfm", &["accounts:read"]).await["tokens"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth("demo-pfm", Some(&app.demo_secret))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
            ("client_id", "demo-pay"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let v: serde_json::Value = res.json().await.unwrap();
    assert_eq!(v["error"], "invalid_request", "{v}");
    assert!(v["error_description"].as_str().unwrap().contains("demo-pay"), "{v}");
}

/// Swagger UI must not be framed; an over-long interaction id is refused, not echoed.
#[tokio::test]
async fn swagger_ui_is_not_framable_and_interaction_ids_are_bounded() {
    let app = TestApp::spawn().await;
    let res = app.http.get(app.url("/swagger-ui/")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-frame-options"], "DENY");
    assert!(
        res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let res = app
        .http
        .get(app.url("/healthz"))
        .header("x-fapi-interaction-id", "x".repeat(8192))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("x-fapi-interaction-id").is_none());
    let id = "c8f3b6a0-4a7e-4a55-9d2b-6a2e1f0b9c11";
    let res = app
        .http
        .get(app.url("/healthz"))
        .header("x-fapi-interaction-id", id)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-fapi-interaction-id"], id);
}

/// Stops are checked again at consent and at code redemption: a consent form shown before
/// the client was suspended gives no code, and a code issued before the user was stopped
/// gives no tokens.
#[tokio::test]
async fn consent_and_code_redemption_check_the_stops_again() {
    let app = TestApp::spawn().await;
    let (verifier, challenge) = pkce_pair();
    let url = authorize_url(&app, "openid accounts:read", &challenge, "st");
    let (request_id, consent_token, _) = login_to_consent(&app, &url, "tanaka", "tanaka-pass").await;
    let (status, body) = app
        .admin_post(
            "/sandbox/v1/clients/demo-pfm/suspension",
            serde_json::json!({"scope": "all", "reason": "audit"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let res = decide(&app, &request_id, &consent_token, "approve", &[]).await;
    assert_eq!(res.status(), 403, "the stop page, not a redirect with a code");
    assert!(res.headers().get("location").is_none());
    assert!(res.text().await.unwrap().contains("audit"));
    let lifted = app
        .http
        .delete(app.url("/sandbox/v1/clients/demo-pfm/suspension"))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert!(lifted.status().is_success());

    // A code issued, then the user stopped: it gives no tokens.
    let (request_id, consent_token, _) = login_to_consent(&app, &url, "tanaka", "tanaka-pass").await;
    let res = decide(&app, &request_id, &consent_token, "approve", &[]).await;
    assert_eq!(res.status(), 303);
    let code = query_param(&location(&res), "code").expect("a code");
    let (status, body) = app
        .admin_post(
            "/sandbox/v1/users/tanaka/suspension",
            serde_json::json!({"scope": "all", "reason": "fraud check"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .token_request(
            "demo-pfm",
            &app.demo_secret,
            &[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", "http://127.0.0.1:3000/callback"),
                ("code_verifier", verifier.as_str()),
            ],
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");
    assert!(
        body["error_description"].as_str().unwrap().contains("fraud check"),
        "{body}"
    );
}

/// Guessing client secrets is held back per source address: after 20 wrong secrets in a row
/// from one address, every client authentication from it is refused (429 with Retry-After)
/// at the token, introspection, revocation and webhooks endpoints, while the real client at
/// its own address goes on; the client-level unlock lifts the hold.
#[tokio::test]
async fn secret_guessing_is_held_back_per_source_address() {
    let app = TestApp::spawn_configured(|c| c.client_ip_header = Some("x-forwarded-for".into())).await;
    let refresh = app.grant("tanaka", "demo-pfm", &["accounts:read"]).await["tokens"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let from = |ip: &'static str, path: &str, secret: &str, form: Vec<(&'static str, String)>| {
        app.http
            .post(app.url(path))
            .header("x-forwarded-for", ip)
            .basic_auth("demo-pfm", Some(secret))
            .form(&form)
            .send()
    };
    const STRANGER: &str = "203.0.113.9";
    const CLIENT: &str = "198.51.100.7";
    let introspect = |refresh: &str| vec![("token", refresh.to_owned())];
    for n in 0..20 {
        let res = from(
            STRANGER,
            "/oauth/token",
            &format!("guess-{n}"),
            vec![
                ("grant_type", "refresh_token".into()),
                ("refresh_token", refresh.clone()),
            ],
        )
        .await
        .unwrap();
        assert_eq!(res.status(), 401, "guess {n}");
    }
    // Now even the right secret from that address is refused without being looked at.
    for path in ["/oauth/introspect", "/oauth/revoke"] {
        let res = from(STRANGER, path, &app.demo_secret, introspect(&refresh))
            .await
            .unwrap();
        assert_eq!(res.status(), 429, "{path}");
        let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((800..=900).contains(&retry), "Retry-After {retry}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client");
        assert!(
            body["error_description"].as_str().unwrap().contains("held back until"),
            "{body}"
        );
    }
    let res = app
        .http
        .get(app.url("/webhooks/v1/endpoints"))
        .header("x-forwarded-for", STRANGER)
        .basic_auth("demo-pfm", Some(&app.demo_secret))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    let problem: serde_json::Value = res.json().await.unwrap();
    assert_eq!(problem["code"], "client_authentication_held_back");
    // The real client, from its own address, is not affected: its refresh still works.
    let res = from(CLIENT, "/oauth/introspect", &app.demo_secret, introspect(&refresh))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["active"], true);
    // The client-level unlock lifts the hold; an unknown client is 404.
    let (status, lifted) = app
        .admin_post("/sandbox/v1/clients/demo-pfm/unlock", serde_json::json!({}))
        .await;
    assert_eq!(status, 200, "{lifted}");
    assert_eq!(lifted["heldBack"], false);
    assert_eq!(
        app.admin_post("/sandbox/v1/clients/nobody/unlock", serde_json::json!({}))
            .await
            .0,
        404
    );
    let res = from(STRANGER, "/oauth/introspect", &app.demo_secret, introspect(&refresh))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}
