//! The authorization endpoint (RFC 6749 §4.1 with PKCE): the login page, the consent page and
//! the redirect back to the client with `code`, `state` and `iss` (RFC 9207). Problems with the
//! client or redirect URI are shown as a page and never redirected.

use crate::domain::consent::Scope;
use crate::http::pages;
use crate::sandbox::Sandbox;
use crate::services::consent::{self, AuthorizeParams, AuthorizeRejection};
use axum::Form;
use axum::extract::Query;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;

/// An HTML page that must not be cached or framed, whose forms post only to the bank.
fn page(status: StatusCode, html: String) -> Response {
    page_redirecting_to(status, html, None)
}

/// The origin (`scheme://host[:port]`) of a redirect URI, when it is a plain one that can
/// stand in a CSP source list.
fn csp_origin(redirect_uri: &str) -> Option<&str> {
    let rest = redirect_uri
        .strip_prefix("https://")
        .or_else(|| redirect_uri.strip_prefix("http://"))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let origin = &redirect_uri[..redirect_uri.len() - rest.len() + end];
    origin
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b".-:/[]".contains(&b))
        .then_some(origin)
}

/// A page whose forms post to the bank and may then be redirected to the client.
/// Chromium applies `form-action` to the redirect that follows a form post too, so the
/// client's redirect origin must be listed, or pressing Allow / Deny would do nothing.
fn page_redirecting_to(status: StatusCode, html: String, redirect_uri: Option<&str>) -> Response {
    let mut res = (status, Html(html)).into_response();
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    let form_action = match redirect_uri.and_then(csp_origin) {
        Some(origin) => format!("'self' {origin}"),
        None => "'self'".to_owned(),
    };
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    res
}

fn error_page(sandbox: &Sandbox, status: StatusCode, message: &str) -> Response {
    let mut res = page(status, pages::error(&sandbox.scenario.scenario.bank.name, message));
    res.extensions_mut()
        .insert(crate::http::error::RefusalReason::new("authorization_refused", message));
    res
}

/// The error page a stopped client or user gets instead of the consent flow; never a
/// redirect, so nothing reaches the client. A stop of update calls only stops
/// authorizations that ask for a scope that moves money.
fn stopped_page(sandbox: &Sandbox, client_id: &str, user_id: Option<&str>, scopes: &[Scope]) -> Option<Response> {
    let kind = if scopes.iter().any(|s| s.moves_money()) {
        crate::domain::fault::RequestKind::Update
    } else {
        crate::domain::fault::RequestKind::Reference
    };
    let refusal = sandbox.controls.refusal(Some(client_id), user_id, kind)?;
    let who = match refusal.target {
        "bank" => "The bank has stopped API access for every connecting company".to_owned(),
        "client" => format!("The bank has suspended the connecting company {client_id:?}"),
        _ => "The bank has stopped API access for this customer".to_owned(),
    };
    let message = format!(
        "{who}: {}. No authorization can be given now. / 現在、この接続先への認可はできません。",
        refusal.stop.reason
    );
    Some(error_page(sandbox, StatusCode::FORBIDDEN, &message))
}

/// `redirect_uri` with the given parameters appended to its query.
fn redirect_to(redirect_uri: &str, params: &[(&str, Option<&str>)]) -> Response {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        if let Some(v) = v {
            query.append_pair(k, v);
        }
    }
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    let location = format!("{redirect_uri}{sep}{}", query.finish());
    match HeaderValue::from_str(&location) {
        Ok(v) => {
            let mut res = StatusCode::SEE_OTHER.into_response();
            res.headers_mut().insert(header::LOCATION, v);
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// Start an authorization: validates the request and shows the login page.
#[utoipa::path(get, path = "/oauth/authorize", tag = "oauth",
    params(
        ("response_type" = String, Query, description = "Must be `code`"),
        ("client_id" = String, Query, description = "The client's id"),
        ("redirect_uri" = String, Query, description = "Exactly one of the client's registered redirect URIs"),
        ("scope" = String, Query, description = "Space-separated scopes, e.g. `openid accounts:read transactions:read`"),
        ("state" = Option<String>, Query, description = "Opaque value returned unchanged"),
        ("code_challenge" = String, Query, description = "PKCE S256 challenge (43 characters)"),
        ("code_challenge_method" = String, Query, description = "Must be `S256`"),
        ("nonce" = Option<String>, Query, description = "OpenID Connect nonce, copied into the ID token"),
    ),
    responses(
        (status = 200, description = "Login page", content_type = "text/html", body = String),
        (status = 303, description = "Error redirect to the client (error, error_description, state, iss)"),
        (status = 400, description = "Error page: unknown client or unregistered redirect URI", content_type = "text/html", body = String),
        (status = 429, description = "Error page: too many authorization requests are waiting for this client or from this address (with Retry-After)", content_type = "text/html", body = String),
    ))]
pub async fn authorize(
    sandbox: Sandbox,
    server: crate::server::Server,
    crate::http::extract::ClientAddr(source): crate::http::extract::ClientAddr,
    uri: Uri,
) -> Response {
    let params = match Query::<AuthorizeParams>::try_from_uri(&uri) {
        Ok(Query(p)) => p,
        Err(e) => {
            return error_page(
                &sandbox,
                StatusCode::BAD_REQUEST,
                &format!("The authorization request is malformed: {}", e.body_text()),
            );
        }
    };
    match consent::start_authorization(&sandbox, params, source, &server.config.limits) {
        Ok((pending, client)) => {
            stopped_page(&sandbox, &client.client_id, None, &pending.scopes).unwrap_or_else(|| {
                page(
                    StatusCode::OK,
                    pages::login(
                        &sandbox.scenario.scenario.bank.name,
                        &sandbox.base_path,
                        &pending,
                        &client,
                        None,
                    ),
                )
            })
        }
        Err(AuthorizeRejection::Page(message)) => error_page(&sandbox, StatusCode::BAD_REQUEST, &message),
        Err(AuthorizeRejection::UnregisteredRedirect(message)) => {
            let mut res = error_page(&sandbox, StatusCode::BAD_REQUEST, &message);
            res.extensions_mut().insert(crate::http::error::RefusalReason::new(
                "redirect_uri_not_registered",
                message,
            ));
            res
        }
        Err(AuthorizeRejection::TooMany(message)) => {
            let mut res = error_page(&sandbox, StatusCode::TOO_MANY_REQUESTS, &message);
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
            res
        }
        Err(AuthorizeRejection::Redirect {
            redirect_uri,
            error,
            state,
        }) => redirect_to(
            &redirect_uri,
            &[
                ("error", Some(error.error)),
                ("error_description", Some(&error.description)),
                ("state", state.as_deref()),
                ("iss", Some(&sandbox.issuer)),
            ],
        ),
        Err(AuthorizeRejection::Storage(e)) => {
            tracing::error!(error = %e, "storage error in authorize");
            error_page(
                &sandbox,
                StatusCode::INTERNAL_SERVER_ERROR,
                "処理できませんでした。もう一度お試しください。 / The bank could not process the request; try again.",
            )
        }
    }
}

/// The login form.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginForm {
    /// The pending authorization (hidden field).
    pub request_id: String,
    /// Test user's login name.
    pub username: String,
    /// Test user's password.
    pub password: String,
}

/// Submit the login form; shows the consent page on success.
#[utoipa::path(post, path = "/oauth/authorize/login", tag = "oauth",
    request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Consent page", content_type = "text/html", body = String),
        (status = 401, description = "Login page again, with the error", content_type = "text/html", body = String),
        (status = 400, description = "Error page: unknown or expired request", content_type = "text/html", body = String),
        (status = 429, description = "Login page again: the user is locked, or logins from this address are held back, until the time it names", content_type = "text/html", body = String),
    ))]
pub async fn login(
    sandbox: Sandbox,
    crate::http::extract::ClientAddr(source): crate::http::extract::ClientAddr,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return error_page(
            &sandbox,
            StatusCode::BAD_REQUEST,
            "The login form is incomplete: send request_id, username and password.",
        );
    };
    let bank = &sandbox.scenario.scenario.bank.name;
    let result = (|| -> Result<Response, crate::storage::StorageError> {
        let Some((pending, client)) = consent::pending_request(&sandbox, &form.request_id)? else {
            return Ok(error_page(
                &sandbox,
                StatusCode::BAD_REQUEST,
                "この認可リクエストは無効か、有効期限（10分）が切れています。 / This authorization request is unknown or has expired (10 minutes).",
            ));
        };
        let user = match consent::check_login(&sandbox, &form.username, &form.password, source)? {
            consent::Login::Ok(user) => user,
            consent::Login::Wrong => {
                let html = pages::login(
                    bank,
                    &sandbox.base_path,
                    &pending,
                    &client,
                    Some("ユーザー名またはパスワードが違います。 / Wrong username or password."),
                );
                return Ok(page(StatusCode::UNAUTHORIZED, html));
            }
            consent::Login::Locked(lock) => {
                let message = crate::services::lockout::locked_message(lock);
                let html = pages::login(bank, &sandbox.base_path, &pending, &client, Some(&message));
                return Ok(page(StatusCode::TOO_MANY_REQUESTS, html));
            }
        };
        if let Some(stopped) = stopped_page(&sandbox, &client.client_id, Some(&user.id), &pending.scopes) {
            return Ok(stopped);
        }
        let pending = consent::record_login(&sandbox, pending, &user)?;
        Ok(page_redirecting_to(
            StatusCode::OK,
            pages::consent(
                pages::Site {
                    bank,
                    base: &sandbox.base_path,
                },
                &pending,
                &client,
                &user.display_name,
                sandbox.clock.now(),
                None,
                &account_choices(&sandbox, &user.id),
            ),
            Some(&pending.redirect_uri),
        ))
    })();
    result.unwrap_or_else(|e| {
        tracing::error!(error = %e, "storage error in login");
        error_page(
            &sandbox,
            StatusCode::INTERNAL_SERVER_ERROR,
            "ログインを処理できませんでした。もう一度お試しください。 / The bank could not process the login; try again.",
        )
    })
}

/// The consent form.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ConsentForm {
    /// The pending authorization (hidden field).
    pub request_id: String,
    /// Proof of the login that preceded this form (hidden field).
    pub consent_token: String,
    /// `approve` or `deny`.
    pub decision: String,
    /// One-time code, required to approve transfer and debit scopes.
    pub otp: Option<String>,
    /// With the `debits` scope: the account the mandate debits.
    pub debit_account: Option<String>,
}

/// The user's accounts as the consent page offers them (the mandate's choice, the transfer limits).
fn account_choices(sandbox: &Sandbox, user_id: &str) -> Vec<pages::AccountChoice> {
    let customer = sandbox
        .store
        .user(user_id)
        .ok()
        .flatten()
        .map(|u| u.customer_id)
        .unwrap_or_default();
    sandbox
        .store
        .accounts_of(&customer)
        .unwrap_or_default()
        .into_iter()
        .map(|a| pages::AccountChoice {
            label: format!("{} {} {}", a.branch, a.account_type.name_ja(), a.number),
            id: a.id,
            transfer_limit: a.transfer_limit,
        })
        .collect()
}

/// Submit the user's decision; redirects to the client with a code or `access_denied`.
#[utoipa::path(post, path = "/oauth/authorize/consent", tag = "oauth",
    request_body(content = ConsentForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Redirect to the client with code, state and iss (or error=access_denied)"),
        (status = 400, description = "Error page: unknown request, missing login or bad decision", content_type = "text/html", body = String),
        (status = 401, description = "Consent page again: wrong one-time code", content_type = "text/html", body = String),
        (status = 403, description = "Error page: the client, the user or the bank was stopped since the form was shown", content_type = "text/html", body = String),
        (status = 429, description = "Error page: the user is locked, or this address is held back, after too many wrong one-time codes", content_type = "text/html", body = String),
    ))]
// Long on purpose: the consent form's outcomes (refusal, accounts, a debit mandate) each end in their own redirect or page.
pub async fn decide(
    sandbox: Sandbox,
    crate::http::extract::ClientAddr(source): crate::http::extract::ClientAddr,
    form: Result<Form<ConsentForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return error_page(
            &sandbox,
            StatusCode::BAD_REQUEST,
            "The consent form is incomplete: send request_id, consent_token and decision.",
        );
    };
    let pending = match consent::pending_request(&sandbox, &form.request_id) {
        Ok(Some((pending, client))) => (pending, client),
        Ok(None) => {
            return error_page(
                &sandbox,
                StatusCode::BAD_REQUEST,
                "この認可リクエストは無効か、有効期限（10分）が切れています。 / This authorization request is unknown or has expired (10 minutes).",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "storage error in consent");
            return error_page(
                &sandbox,
                StatusCode::INTERNAL_SERVER_ERROR,
                "処理できませんでした。もう一度お試しください。 / The bank could not process the decision; try again.",
            );
        }
    };
    let (pending, client) = pending;
    let logged_in = pending.user_id.is_some()
        && pending.consent_token.as_deref().is_some_and(|t| {
            crate::ids::sha256_b64(t.as_bytes()) == crate::ids::sha256_b64(form.consent_token.as_bytes())
        });
    if !logged_in {
        return error_page(
            &sandbox,
            StatusCode::BAD_REQUEST,
            "先にログインしてください。 / Log in before deciding; the consent form does not belong to a login.",
        );
    }
    // The stops are checked again: the form may have been shown before the client, the user
    // or the whole bank was stopped.
    if let Some(stopped) = stopped_page(&sandbox, &client.client_id, pending.user_id.as_deref(), &pending.scopes) {
        consent::forget_request(&sandbox, &pending.id);
        return stopped;
    }
    let iss = Some(sandbox.issuer.as_str());
    if form.decision == "approve" && pending.scopes.iter().any(|s| s.moves_money()) {
        let user = match sandbox.store.user(pending.user_id.as_deref().unwrap_or_default()) {
            Ok(Some(u)) => u,
            _ => {
                return error_page(
                    &sandbox,
                    StatusCode::BAD_REQUEST,
                    "ログインしたユーザーは存在しません。 / The user who logged in no longer exists.",
                );
            }
        };
        use crate::services::lockout::{self, Verdict};
        let verdict = consent::check_otp(&sandbox, &user, form.otp.as_deref(), source);
        let otp_ok = match verdict {
            Ok(Verdict::Passed) => true,
            Ok(Verdict::Wrong) => false,
            Ok(Verdict::Locked(lock)) => {
                let html = pages::error(&sandbox.scenario.scenario.bank.name, &lockout::locked_message(lock));
                return page(StatusCode::TOO_MANY_REQUESTS, html);
            }
            Err(e) => {
                tracing::error!(error = %e, "storage error in the one-time-code lockout");
                return error_page(
                    &sandbox,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "コードを確認できませんでした。もう一度お試しください。 / The bank could not check the code; try again.",
                );
            }
        };
        if !otp_ok {
            let html = pages::consent(
                pages::Site {
                    bank: &sandbox.scenario.scenario.bank.name,
                    base: &sandbox.base_path,
                },
                &pending,
                &client,
                &user.display_name,
                sandbox.clock.now(),
                Some("ワンタイムパスワードが違います。 / Wrong one-time code."),
                &account_choices(&sandbox, &user.id),
            );
            return page_redirecting_to(StatusCode::UNAUTHORIZED, html, Some(&pending.redirect_uri));
        }
    }
    let choices = account_choices(&sandbox, pending.user_id.as_deref().unwrap_or_default());
    let debit_account = form
        .debit_account
        .as_deref()
        .filter(|a| choices.iter().any(|c| c.id == *a));
    if form.decision == "approve" && pending.debit_limits.is_some() && debit_account.is_none() {
        // The consent page again, saying what is missing (not a dead end).
        let name = match pending.user_id.as_deref().map(|u| sandbox.store.user(u)) {
            Some(Ok(Some(u))) => u.display_name,
            _ => String::new(),
        };
        let html = pages::consent(
            pages::Site {
                bank: &sandbox.scenario.scenario.bank.name,
                base: &sandbox.base_path,
            },
            &pending,
            &client,
            &name,
            sandbox.clock.now(),
            Some("引落口座を選んでください。 / Choose one of your accounts for the debit mandate."),
            &choices,
        );
        return page_redirecting_to(StatusCode::BAD_REQUEST, html, Some(&pending.redirect_uri));
    }
    match form.decision.as_str() {
        "approve" => match consent::approve(&sandbox, &pending, &client, debit_account).await {
            Ok(code) => redirect_to(
                &pending.redirect_uri,
                &[("code", Some(&code)), ("state", pending.state.as_deref()), ("iss", iss)],
            ),
            Err(e) => {
                tracing::error!(error = %e, "storage error in approve");
                error_page(
                    &sandbox,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "同意を記録できませんでした。もう一度お試しください。 / The bank could not record the consent; try again.",
                )
            }
        },
        "deny" => {
            consent::forget_request(&sandbox, &pending.id);
            redirect_to(
                &pending.redirect_uri,
                &[
                    ("error", Some("access_denied")),
                    ("error_description", Some("the user denied access")),
                    ("state", pending.state.as_deref()),
                    ("iss", iss),
                ],
            )
        }
        other => error_page(
            &sandbox,
            StatusCode::BAD_REQUEST,
            &format!("decision must be approve or deny, got {other:?}"),
        ),
    }
}
