//! Clients and test users: each client with its secret (revealed on click while the sandbox
//! knows it), rotation, creation, redirect URIs and scopes; the test users with their
//! passwords and one-time codes; and for each client a Try-it run of the real authorization
//! code flow in the browser (login, consent, one-time code) back to `…/portal/callback`
//! (registered for every client of the sandbox), ending on the tokens, the ID token decoded,
//! and a call of the balance API with the access token.

use super::PageForm;
use super::session::{Signed, Tried, TryIt};
use super::view::{PageInfo, bi, copyable, csrf, page, problem_page, revealable, see_other};
use crate::domain::consent::{Client, Scope};
use crate::services::clients::{self as client_service, ClientError, ClientSettings};
use crate::services::consent;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use maud::{Markup, html};
use serde::Deserialize;

/// The client secrets the sandbox was given in the clear: its own (created sandboxes) or the
/// scenario's.
fn known_secrets(signed: &Signed, client_id: &str) -> Vec<String> {
    let mut known = Vec::new();
    if let Some(record) = signed.server.record(&signed.sandbox.id)
        && let Some(s) = record.client_secrets.get(client_id)
    {
        known.push(s.clone());
    }
    if let Some(c) = signed
        .sandbox
        .scenario
        .scenario
        .clients
        .iter()
        .find(|c| c.client_id.value == client_id)
    {
        known.push(c.client_secret.clone());
    }
    known
}

fn secret_of(signed: &Signed, client: &Client) -> Option<String> {
    let known = known_secrets(signed, &client.client_id);
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    client_service::current_secret(&signed.sandbox, &known, client)
}

fn scope_boxes(name_prefix: &str, chosen: &[Scope], only: Option<&[Scope]>) -> Markup {
    html! {
        fieldset {
            legend { (bi("スコープ", "Scopes")) }
            @for s in Scope::ALL {
                @if only.is_none_or(|o| o.contains(&s)) {
                    label.choice {
                        input type="checkbox" name=(name_prefix) value=(s.as_str()) checked[chosen.contains(&s)];
                        " " code { (s.as_str()) } " " (s.description_ja()) " " span.en { (s.description_en()) }
                    }
                }
            }
        }
    }
}

/// The client list, with the creation form.
pub async fn list(signed: Signed) -> Response {
    let home = signed.home();
    let clients = match signed.sandbox.store.clients() {
        Ok(c) => c,
        Err(e) => {
            return problem_page(
                &signed,
                StatusCode::SERVICE_UNAVAILABLE,
                "Clients",
                &e.to_string(),
                &home,
            );
        }
    };
    let body = html! {
        h1 { (bi("クライアント", "Clients")) }
        section {
            div.wide {
                table.stack #client-list {
                    thead { tr { th { "Client id" } th { (bi("接続先", "Company / service")) } th { (bi("スコープ", "Scopes")) } th {} } }
                    tbody {
                        @for c in &clients {
                            tr {
                                td { a href={ (home) "/clients/" (c.client_id) } { code { (c.client_id) } } }
                                td { (c.company) br; span.en { (c.service) } }
                                td { @for s in &c.scopes { code { (s.as_str()) } " " } }
                                td { a.button.small href={ (home) "/clients/" (c.client_id) "#try" } { (bi("試す", "Try it")) } }
                            }
                        }
                    }
                }
            }
        }
        section #create {
            h2 { (bi("クライアントを作る", "Create a client")) }
            form method="post" action={ (home) "/clients" } {
                (csrf(&signed))
                label for="client_id" { "Client id" }
                input #client_id type="text" name="client_id" required;
                label for="company" { (bi("会社名", "Company")) }
                input #company type="text" name="company" required;
                label for="service" { (bi("サービス名", "Service")) }
                input #service type="text" name="service" required;
                label for="redirect_uris" { (bi("リダイレクトURI（1行に1つ）", "Redirect URIs (one per line)")) }
                textarea #redirect_uris name="redirect_uris" required { "http://127.0.0.1:3000/callback" }
                (scope_boxes("scope", &[Scope::OpenId, Scope::AccountsRead, Scope::TransactionsRead], None))
                button.primary type="submit" { (bi("作成", "Create")) }
            }
        }
    };
    page(
        &signed,
        PageInfo {
            title: "Clients",
            active: "/clients",
        },
        body,
    )
}

/// The form fields of a client (the scopes repeat: read from the raw pairs).
fn settings_of(pairs: &[(String, String)]) -> (ClientSettings, String) {
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim().to_owned());
    let uris: Vec<String> = get("redirect_uris")
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let scopes: Vec<String> = pairs
        .iter()
        .filter(|(n, _)| n == "scope")
        .map(|(_, v)| v.clone())
        .collect();
    (
        ClientSettings {
            company: get("company"),
            service: get("service"),
            redirect_uris: Some(uris),
            scopes: Some(scopes),
            ..Default::default()
        },
        get("csrf").unwrap_or_default(),
    )
}

fn client_problem(signed: &Signed, e: ClientError, back: &str) -> Response {
    let status = match e {
        ClientError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        ClientError::Exists(_) | ClientError::TooMany => StatusCode::CONFLICT,
        ClientError::NotFound(_) => StatusCode::NOT_FOUND,
        ClientError::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    problem_page(signed, status, "Nothing was changed", &e.to_string(), back)
}

pub async fn create(signed: Signed, PageForm(pairs): PageForm<Vec<(String, String)>>) -> Response {
    let (settings, token) = settings_of(&pairs);
    if let Err(res) = signed.check_csrf(&token) {
        return res;
    }
    let home = signed.home();
    let id = pairs
        .iter()
        .find(|(n, _)| n == "client_id")
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default();
    match client_service::create(&signed.sandbox, &id, None, &settings).await {
        Ok((client, _)) => {
            signed.flash(
                true,
                format!("Client {:?} was created; its secret is below.", client.client_id),
            );
            see_other(&format!("{home}/clients/{}", client.client_id))
        }
        Err(e) => client_problem(&signed, e, &format!("{home}/clients#create")),
    }
}

/// One client: its secret, rotation, settings, and Try it.
pub async fn one(signed: Signed, Path(id): Path<String>) -> Response {
    let home = signed.home();
    let client = match signed.sandbox.store.client(&id) {
        Ok(Some(c)) => c,
        Ok(None) => {
            return problem_page(
                &signed,
                StatusCode::NOT_FOUND,
                "No such client",
                &format!("There is no client {id:?} in this sandbox."),
                &format!("{home}/clients"),
            );
        }
        Err(e) => {
            return problem_page(
                &signed,
                StatusCode::SERVICE_UNAVAILABLE,
                "Clients",
                &e.to_string(),
                &home,
            );
        }
    };
    let secret = secret_of(&signed, &client);
    let previous = client_service::previous_secret_until(&signed.sandbox, &id, signed.sandbox.clock.now());
    let callback = format!("{}/portal/callback", signed.sandbox.issuer);
    let at = format!("{home}/clients/{}", client.client_id);
    let body = html! {
        h1 { (bi("クライアント", "Client")) " " code { (client.client_id) } }
        section #credentials {
            h2 { (bi("認証情報", "Credentials")) }
            dl.facts {
                dt { "client_id" } dd { (copyable("client-id", &client.client_id)) }
                dt { "client_secret" } dd {
                    @match &secret {
                        Some(s) => (revealable("client-secret", s)),
                        None => span.en { "Not known in the clear (set before the portal kept secrets): rotate to get a new one." },
                    }
                }
                @if let Some(until) = previous {
                    dt { (bi("旧シークレット", "Previous secret")) } dd { "still works until " (crate::clock::format_jst(until)) " (sandbox time)" }
                }
            }
            form method="post" action={ (at) "/rotate" } {
                (csrf(&signed))
                button.danger type="submit" { (bi("シークレットを再発行", "Rotate the secret")) }
                span.en { " The old secret keeps working for 24 hours of sandbox time." }
            }
        }
        section #try {
            h2 { (bi("試す", "Try it")) }
            p { (bi("ブラウザで実際の認可コードフロー（ログイン、同意、ワンタイムパスワード）を実行し、トークンを受け取ります。", "Run the real authorization code flow in this browser (login, consent, one-time code) and get tokens.")) }
            p.en { "Callback: " code { (callback) } " (registered for every client of this sandbox). Test users and their passwords are on the Test users page." }
            form method="post" action={ (at) "/try" } {
                (csrf(&signed))
                (scope_boxes("scope", &client.scopes.iter().copied().filter(|s| !s.moves_money()).collect::<Vec<_>>(), Some(&client.scopes)))
                button.primary #start-try type="submit" { (bi("認可を開始", "Start the authorization")) }
            }
        }
        section #settings {
            h2 { (bi("設定", "Settings")) }
            form method="post" action=(at) {
                (csrf(&signed))
                label for="company" { (bi("会社名", "Company")) }
                input #company type="text" name="company" value=(client.company) required;
                label for="service" { (bi("サービス名", "Service")) }
                input #service type="text" name="service" value=(client.service) required;
                label for="redirect_uris" { (bi("リダイレクトURI（1行に1つ）", "Redirect URIs (one per line)")) }
                textarea #redirect_uris name="redirect_uris" required { (client.redirect_uris.join("\n")) }
                p.en { "Always accepted as well: " @for u in consent::built_in_redirects(&signed.sandbox) { code { (u) } " " } }
                (scope_boxes("scope", &client.scopes, None))
                button.primary type="submit" { (bi("保存", "Save")) }
            }
        }
    };
    page(
        &signed,
        PageInfo {
            title: "Client",
            active: "/clients",
        },
        body,
    )
}

pub async fn edit(
    signed: Signed,
    Path(id): Path<String>,
    PageForm(pairs): PageForm<Vec<(String, String)>>,
) -> Response {
    let (settings, token) = settings_of(&pairs);
    if let Err(res) = signed.check_csrf(&token) {
        return res;
    }
    let at = format!("{}/clients/{id}", signed.home());
    match client_service::update(&signed.sandbox, &id, &settings).await {
        Ok(_) => {
            signed.flash(true, format!("Client {id:?} was saved."));
            see_other(&format!("{at}#settings"))
        }
        Err(e) => client_problem(&signed, e, &at),
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

pub async fn rotate(signed: Signed, Path(id): Path<String>, PageForm(f): PageForm<CsrfOnly>) -> Response {
    if let Err(res) = signed.check_csrf(&f.csrf) {
        return res;
    }
    let at = format!("{}/clients/{id}", signed.home());
    match client_service::rotate_secret(&signed.sandbox, &id, None, client_service::DEFAULT_GRACE).await {
        Ok((_, until)) => {
            signed.flash(
                true,
                format!(
                    "A new secret was made (reveal it below); the old one works until {} (sandbox time).",
                    crate::clock::format_jst(until)
                ),
            );
            see_other(&format!("{at}#credentials"))
        }
        Err(e) => client_problem(&signed, e, &at),
    }
}

/// Starts a Try-it run: remembers the PKCE verifier and state, and sends the browser to the
/// authorization endpoint.
pub async fn try_it(
    signed: Signed,
    Path(id): Path<String>,
    PageForm(pairs): PageForm<Vec<(String, String)>>,
) -> Response {
    let token = pairs
        .iter()
        .find(|(n, _)| n == "csrf")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    if let Err(res) = signed.check_csrf(token) {
        return res;
    }
    let at = format!("{}/clients/{id}", signed.home());
    let scopes: Vec<&str> = pairs
        .iter()
        .filter(|(n, _)| n == "scope")
        .map(|(_, v)| v.as_str())
        .collect();
    if scopes.is_empty() {
        return problem_page(
            &signed,
            StatusCode::BAD_REQUEST,
            "Nothing to try",
            "Choose at least one scope.",
            &at,
        );
    }
    let verifier = crate::ids::random_token(48);
    let state = crate::ids::random_token(16);
    let redirect_uri = format!("{}/portal/callback", signed.sandbox.issuer);
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", &id)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("scope", &scopes.join(" "))
        .append_pair("state", &state)
        .append_pair("nonce", &crate::ids::random_token(16))
        .append_pair("code_challenge", &crate::ids::pkce_s256(&verifier))
        .append_pair("code_challenge_method", "S256")
        .finish();
    signed.set_try_it(TryIt {
        client_id: id,
        state,
        verifier,
        redirect_uri,
    });
    see_other(&format!("{}?{query}", signed.sandbox.path("/oauth/authorize")))
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Where the authorization server sends the browser back: the code is exchanged for tokens
/// (as the client, with the PKCE verifier of this run).
pub async fn callback(signed: Signed, Query(q): Query<CallbackQuery>) -> Response {
    let home = signed.home();
    let back = format!("{home}/clients");
    if let Some(error) = &q.error {
        signed.take_try_it();
        return problem_page(
            &signed,
            StatusCode::BAD_REQUEST,
            "The authorization ended without a code",
            &format!("{error}: {}", q.error_description.as_deref().unwrap_or("")),
            &back,
        );
    }
    let Some(run) = signed.take_try_it().filter(|r| Some(&r.state) == q.state.as_ref()) else {
        return problem_page(
            &signed,
            StatusCode::BAD_REQUEST,
            "No Try-it run is waiting for this answer",
            "The state does not match a run started from this portal session (it may have been finished already). Start again from a client's page.",
            &back,
        );
    };
    let client = match signed.sandbox.store.client(&run.client_id) {
        Ok(Some(c)) => c,
        _ => {
            return problem_page(
                &signed,
                StatusCode::NOT_FOUND,
                "No such client",
                "The client was deleted meanwhile.",
                &back,
            );
        }
    };
    match consent::exchange_code(
        &signed.sandbox,
        &client,
        q.code.as_deref(),
        Some(&run.redirect_uri),
        Some(&run.verifier),
    )
    .await
    {
        Ok(tokens) => {
            signed.set_tried(Tried {
                client_id: run.client_id,
                tokens: serde_json::to_value(&tokens).unwrap_or_default(),
            });
            see_other(&format!("{home}/tried"))
        }
        Err(consent::ConsentError::OAuth(e)) => problem_page(
            &signed,
            StatusCode::BAD_REQUEST,
            "The code was not exchanged",
            &format!("{}: {}", e.error, e.description),
            &back,
        ),
        Err(e) => problem_page(
            &signed,
            StatusCode::SERVICE_UNAVAILABLE,
            "The code was not exchanged",
            &format!("{e:?}"),
            &back,
        ),
    }
}

/// The JSON of one part of a JWT, pretty.
fn jwt_part(jwt: &str, index: usize) -> String {
    jwt.split('.')
        .nth(index)
        .and_then(|p| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| "(not a JWT)".into())
}

/// The result of the last Try-it run.
pub async fn tried(signed: Signed) -> Response {
    let home = signed.home();
    let Some(run) = signed.tried() else {
        return see_other(&format!("{home}/clients"));
    };
    let get = |k: &str| run.tokens.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
    let access = get("access_token");
    let id_token = get("id_token");
    let corporate = crate::services::bearer::authenticate_bearer(&signed.sandbox, &access)
        .is_ok_and(|p| p.customer_kind == crate::domain::customer::CustomerKind::Corporation);
    let segment = if corporate { "/corporation/v1" } else { "/personal/v1" };
    let balances = format!("{segment}/accounts/balances");
    let curl = format!(
        "curl -H 'Authorization: Bearer {access}' {}{balances}",
        signed.sandbox.issuer
    );
    let body = html! {
        h1 { (bi("トークンを受け取りました", "Tokens received")) }
        p { "Client " code { (run.client_id) } " · scopes " code #granted-scope { (get("scope")) } }
        section {
            h2 { (bi("トークン応答", "Token response")) }
            dl.facts {
                dt { "access_token" } dd { (copyable("access-token", &access)) }
                dt { "expires_in" } dd { (run.tokens.get("expires_in").map(|v| v.to_string()).unwrap_or_default()) " s" }
                dt { "refresh_token" } dd { (revealable("refresh-token", &get("refresh_token"))) }
            }
        }
        @if !id_token.is_empty() {
            section #id-token {
                h2 { (bi("IDトークン（デコード）", "ID token, decoded")) }
                p.en { "Signed by the sandbox (ES256); verify it with the keys at /.well-known/jwks.json." }
                h3 { "Header" } pre { (jwt_part(&id_token, 0)) }
                h3 { "Claims" } pre #id-claims { (jwt_part(&id_token, 1)) }
            }
        }
        section #balance {
            h2 { (bi("残高照会APIを呼ぶ", "Call the balance API")) }
            p { code { "GET " (signed.sandbox.issuer) (balances) } }
            button.primary #call-balance type="button" data-url=(signed.sandbox.path(&balances)) data-token=(access) { (bi("残高を照会", "Get balances")) }
            pre #balance-answer aria-live="polite" {}
            h3 { "curl" }
            (copyable("curl", &curl))
        }
    };
    page(
        &signed,
        PageInfo {
            title: "Try it",
            active: "/clients",
        },
        body,
    )
}

/// The test users: who can log in, with passwords and one-time codes.
pub async fn users(signed: Signed) -> Response {
    let record_secrets = signed
        .server
        .record(&signed.sandbox.id)
        .map(|r| r.client_secrets)
        .unwrap_or_default();
    let (_, users) = crate::http::routes::lifecycle::credentials(&signed.sandbox.scenario, &record_secrets);
    let body = html! {
        h1 { (bi("テストユーザー", "Test users")) }
        p { (bi("同意画面でログインできる利用者です。振込などのスコープではワンタイムパスワードが必要です。", "The users who can log in on the consent screen. Scopes that move money also ask for the one-time code.")) }
        section {
            div.wide {
                table.stack #user-list {
                    thead { tr { th { (bi("ユーザー名", "Username")) } th { (bi("顧客", "Customer")) } th { (bi("種別", "Kind")) } th { (bi("パスワード", "Password")) } th { (bi("ワンタイムパスワード", "One-time code")) } } }
                    tbody {
                        @for (i, u) in users.iter().enumerate() {
                            tr {
                                td { code { (u.username) } }
                                td { (u.customer) }
                                td { (u.kind) }
                                td { (revealable(&format!("password-{i}"), &u.password)) }
                                td { (revealable(&format!("otp-{i}"), &u.otp)) }
                            }
                        }
                    }
                }
            }
        }
    };
    page(
        &signed,
        PageInfo {
            title: "Test users",
            active: "/users",
        },
        body,
    )
}
