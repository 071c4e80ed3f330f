//! The authorization code flow end to end, driven by the `oauth2` crate as an independent
//! client (the browser steps are form posts, as a browser would make them): PKCE, consent,
//! token exchange, ID token, refresh rotation, reuse detection and expiry via the clock.

use crate::common::*;
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge, RedirectUrl, RefreshToken,
    RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use serde_json::Value;

macro_rules! oauth_client {
    ($app:expr) => {
        BasicClient::new(ClientId::new("demo-pfm".into()))
            .set_client_secret(ClientSecret::new("demo-secret".into()))
            .set_auth_uri(AuthUrl::new($app.url("/oauth/authorize")).unwrap())
            .set_token_uri(TokenUrl::new($app.url("/oauth/token")).unwrap())
            .set_redirect_uri(RedirectUrl::new("http://127.0.0.1:3000/callback".into()).unwrap())
    };
}

fn invalid_grant<E, R: std::fmt::Debug>(
    result: Result<R, RequestTokenError<E, oauth2::StandardErrorResponse<BasicErrorResponseType>>>,
) -> String
where
    E: std::error::Error + 'static,
{
    match result {
        Err(RequestTokenError::ServerResponse(e)) => {
            assert_eq!(
                *e.error(),
                BasicErrorResponseType::InvalidGrant,
                "expected invalid_grant, got {e:?}"
            );
            e.error_description().cloned().unwrap_or_default()
        }
        other => panic!("expected invalid_grant, got {other:?}"),
    }
}

#[tokio::test]
async fn code_flow_with_pkce_reads_accounts_balances_and_paged_transactions() {
    let app = TestApp::spawn().await;
    let client = oauth_client!(app);
    let http = http_client();
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("openid".into()))
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("accounts:read".into()))
        .add_scope(Scope::new("transactions:read".into()))
        .set_pkce_challenge(challenge)
        .url();

    // The login page, then the consent page with the six disclosures.
    let html = http.get(auth_url.as_str()).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("デモ家計簿アプリ"), "login page names the service");
    let request_id = hidden_field(&html, "request_id").unwrap();
    let wrong = http
        .post(app.url("/oauth/authorize/login"))
        .form(&[
            ("request_id", request_id.as_str()),
            ("username", "tanaka"),
            ("password", "nope"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.text().await.unwrap().contains("Wrong username or password"));
    let consent = http
        .post(app.url("/oauth/authorize/login"))
        .form(&[
            ("request_id", request_id.as_str()),
            ("username", "tanaka"),
            ("password", "tanaka-pass"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for expected in [
        "株式会社デモ家計簿",   // 1. company
        "デモ家計簿アプリ",     // 2. service
        "口座一覧・残高の参照", // 3. scopes in words
        "Read your account statements",
        "1時間",          // 4. access token lifetime
        "2027年02月19日", // 4. refresh maximum as a date (clock start + 90 days)
        "解除の方法",     // 5. how to cancel
        "ご注意",         // 6. cautions
    ] {
        assert!(consent.contains(expected), "consent page should show {expected:?}");
    }
    let consent_token = hidden_field(&consent, "consent_token").unwrap();
    let res = http
        .post(app.url("/oauth/authorize/consent"))
        .form(&[
            ("request_id", request_id.as_str()),
            ("consent_token", consent_token.as_str()),
            ("decision", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("http://127.0.0.1:3000/callback?"));
    assert_eq!(query_param(&location, "state").as_deref(), Some(csrf.secret().as_str()));
    assert_eq!(
        query_param(&location, "iss").as_deref(),
        Some(app.base.as_str()),
        "RFC 9207 iss"
    );
    let code = query_param(&location, "code").unwrap();

    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("token exchange");
    assert_eq!(tokens.expires_in().unwrap().as_secs(), 3600);
    let access = tokens.access_token().secret().clone();

    // A plain form POST with client_secret_basic refreshes as well.
    let raw: Value = http
        .post(app.url("/oauth/token"))
        .basic_auth("demo-pfm", Some("demo-secret"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens.refresh_token().unwrap().secret()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(raw["access_token"].is_string(), "refresh works: {raw}");
    assert_ne!(raw["access_token"].as_str().unwrap(), access);
    let access = raw["access_token"].as_str().unwrap().to_owned();

    // Reference APIs.
    let (status, accounts) = app.get_json("/personal/v1/accounts", &access).await;
    assert_eq!(status, 200);
    let list = accounts["accounts"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["accountId"], "00111234567");
    assert_eq!(list[0]["accountNameKana"], "ﾀﾅｶ ﾀﾛｳ");
    assert_eq!(list[0]["primaryAccountCode"], "1");

    let (status, balances) = app
        .get_json("/personal/v1/accounts/balances?accountId=00111234567", &access)
        .await;
    assert_eq!(status, 200);
    let b = &balances["balances"][0];
    assert_eq!(b["balance"], "1200000", "opening balance from the scenario");
    assert_eq!(b["withdrawableAmount"], "1200000");
    assert_eq!(b["baseDate"], "2026-11-21");
    assert!(b["previousMonthBalance"].as_str().unwrap().parse::<i64>().is_ok());

    // Paged transactions: pages of 10 cover the same entries as one big page, ascending.
    let (status, all) = app
        .get_json(
            "/personal/v1/accounts/transactions?accountId=00111234567&dateFrom=2026-08-23&dateTo=2026-11-21",
            &access,
        )
        .await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["hasNext"], false);
    let total = all["count"].as_u64().unwrap() as usize;
    assert!(total > 20, "90 days of history should have many entries, got {total}");
    let mut seen = Vec::new();
    let mut key: Option<String> = None;
    loop {
        let mut path =
            "/personal/v1/accounts/transactions?accountId=00111234567&dateFrom=2026-08-23&dateTo=2026-11-21&limit=10"
                .to_owned();
        if let Some(k) = &key {
            path.push_str(&format!("&nextItemKey={k}"));
        }
        let (status, page) = app.get_json(&path, &access).await;
        assert_eq!(status, 200, "{page}");
        let items = page["transactions"].as_array().unwrap();
        assert!(items.len() <= 10);
        seen.extend(items.iter().map(|t| t["itemKey"].as_str().unwrap().to_owned()));
        if page["hasNext"] == true {
            key = Some(page["nextItemKey"].as_str().unwrap().to_owned());
        } else {
            assert!(page.get("nextItemKey").is_none());
            break;
        }
    }
    let expected: Vec<String> = all["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["itemKey"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(seen, expected, "paging returns every entry once, in order");
    let dates: Vec<&str> = all["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["transactionDate"].as_str().unwrap())
        .collect();
    assert!(dates.windows(2).all(|w| w[0] <= w[1]), "ascending");
    // The last entry's balance is the account's balance.
    assert_eq!(
        all["transactions"].as_array().unwrap().last().unwrap()["balance"],
        "1200000"
    );

    // Incoming transfers are credits of kind 11 only.
    let (status, deposits) = app
        .get_json(
            "/personal/v1/accounts/deposit-transactions?accountId=00111234567&dateFrom=2026-08-23",
            &access,
        )
        .await;
    assert_eq!(status, 200);
    let deposits = deposits["transactions"].as_array().unwrap();
    assert!(!deposits.is_empty(), "salary arrives by transfer");
    assert!(
        deposits
            .iter()
            .all(|t| t["transactionType"] == "1" && t["transactionKind"] == "11")
    );

    // Userinfo: names in kanji and kana.
    let (status, me) = app.get_json("/oauth/userinfo", &access).await;
    assert_eq!(status, 200);
    assert_eq!(me["sub"], "u-tanaka");
    assert_eq!(me["family_name"], "田中");
    assert_eq!(me["family_name#ja-Kana-JP"], "ﾀﾅｶ");
}

#[tokio::test]
async fn id_token_is_signed_with_the_published_key() {
    let app = TestApp::spawn().await;
    let tokens = code_flow_tokens(&app, "suzuki", "suzuki-pass", "openid accounts:read").await;
    let id_token = tokens["id_token"].as_str().expect("id_token with openid");
    let (_, jwks) = app.get_json("/oauth/jwks", "").await;
    let key = &jwks["keys"][0];
    let decoding =
        jsonwebtoken::DecodingKey::from_ec_components(key["x"].as_str().unwrap(), key["y"].as_str().unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&["demo-pfm"]);
    validation.set_issuer(&[app.base.as_str()]);
    validation.validate_exp = false; // exp is in sandbox time, which the validator cannot know
    let data = jsonwebtoken::decode::<Value>(id_token, &decoding, &validation).expect("valid signature");
    assert_eq!(data.claims["sub"], "u-suzuki");
    let header = jsonwebtoken::decode_header(id_token).unwrap();
    assert_eq!(header.kid.as_deref(), key["kid"].as_str());

    // Discovery describes the same endpoints.
    let (_, meta) = app.get_json("/.well-known/openid-configuration", "").await;
    assert_eq!(meta["issuer"], app.base);
    assert_eq!(meta["token_endpoint"], app.url("/oauth/token"));
    assert_eq!(meta["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(meta["authorization_response_iss_parameter_supported"], true);
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_grant() {
    let app = TestApp::spawn().await;
    let client = oauth_client!(app);
    let http = http_client();
    let first = code_flow_tokens(&app, "tanaka", "tanaka-pass", "accounts:read").await;
    let r1 = RefreshToken::new(first["refresh_token"].as_str().unwrap().into());

    let second = client
        .exchange_refresh_token(&r1)
        .request_async(&http)
        .await
        .expect("refresh");
    let r2 = second.refresh_token().expect("rotated refresh token").clone();
    assert_ne!(r2.secret(), r1.secret(), "refresh tokens rotate");
    let a2 = second.access_token().secret().clone();
    assert_eq!(app.get("/personal/v1/accounts", &a2).await.status(), 200);

    // Using the old refresh token again is reuse: the whole grant is revoked.
    let why = invalid_grant(client.exchange_refresh_token(&r1).request_async(&http).await);
    assert!(why.contains("already used"), "{why}");
    invalid_grant(client.exchange_refresh_token(&r2).request_async(&http).await);
    let res = app.get("/personal/v1/accounts", &a2).await;
    assert_eq!(res.status(), 401, "tokens of a revoked grant stop working");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "invalid_token");
}

#[tokio::test]
async fn clock_expires_access_tokens_and_caps_refresh_at_the_maximum_lifetime() {
    let app = TestApp::spawn().await;
    let client = oauth_client!(app);
    let http = http_client();
    let tokens = code_flow_tokens(&app, "tanaka", "tanaka-pass", "accounts:read").await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(app.get("/personal/v1/accounts", access).await.status(), 200);

    app.advance("PT1H1M").await;
    let res = app.get("/personal/v1/accounts", access).await;
    assert_eq!(res.status(), 401);
    assert!(
        res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "invalid_token");
    assert!(body["requestId"].is_string());

    // Refresh within its lifetime works and yields a usable token; keep refreshing monthly.
    let mut refresh = RefreshToken::new(tokens["refresh_token"].as_str().unwrap().into());
    for _ in 0..3 {
        let t = client
            .exchange_refresh_token(&refresh)
            .request_async(&http)
            .await
            .expect("refresh");
        assert_eq!(
            app.get("/personal/v1/accounts", t.access_token().secret())
                .await
                .status(),
            200
        );
        refresh = t.refresh_token().unwrap().clone();
        app.advance("P29D").await;
    }
    // 87 days + 1 hour in: the refresh token may only live until day 90.
    let t = client
        .exchange_refresh_token(&refresh)
        .request_async(&http)
        .await
        .expect("refresh near the cap");
    let refresh_left = t.refresh_token().unwrap().clone();
    assert!(t.expires_in().unwrap().as_secs() <= 3600);
    app.advance("P4D").await;
    let why = invalid_grant(client.exchange_refresh_token(&refresh_left).request_async(&http).await);
    assert!(why.contains("maximum lifetime"), "{why}");
}
