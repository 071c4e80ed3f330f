//! Signing in and out: a sandbox's portal takes its admin key, the operator's portal the
//! operator key. The sign-in form carries a token that must match a cookie set with the form
//! (so another site cannot sign a browser in), and failed attempts are counted per source.

use super::PageForm;
use super::session::{self, Realm, Signed, cookie, sessions, source};
use super::view::{bi, public_page, see_other};
use crate::sandbox::Sandbox;
use crate::server::Server;
use axum::extract::Query;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::Response;
use maud::html;
use serde::Deserialize;

/// The cookie that pairs the sign-in form with the browser that loaded it.
const FORM_COOKIE: &str = "sandbank_signin";

#[derive(Deserialize, Default)]
pub struct Ended {
    #[serde(default)]
    ended: Option<String>,
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    csrf: String,
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

fn form_page(
    sandbox: &Sandbox,
    server: &Server,
    operator: bool,
    status: StatusCode,
    message: Option<&str>,
    ended: bool,
) -> Response {
    let realm = Realm::of(sandbox, operator);
    let home = session::cookie_of(sandbox, &realm).1;
    let token = crate::ids::random_token(24);
    let (title, label) = if operator {
        (
            bi("運用者サインイン", "Operator sign-in"),
            bi("運用者キー", "Operator key"),
        )
    } else {
        (
            bi("ポータルにサインイン", "Sign in to the portal"),
            bi("管理キー", "Admin key"),
        )
    };
    let mut res = public_page(
        sandbox,
        &home,
        status,
        "Sign in",
        html! {
            section {
                h1 { (title) }
                @if ended {
                    p.flash.error role="alert" { (bi("セッションが終了しました。もう一度サインインしてください。", "Your session ended (signed out, idle too long, or the server restarted). Sign in again.")) }
                }
                @if let Some(m) = message {
                    p.error role="alert" #signin-error { (m) }
                }
                form method="post" action={ (home) "/sign-in" } {
                    input type="hidden" name="csrf" value=(token);
                    label for="key" { (label) }
                    input #key type="password" name="key" autocomplete="current-password" required;
                    button.primary type="submit" { (bi("サインイン", "Sign in")) }
                }
                p.note {
                    @if operator {
                        (bi("運用者キーはサーバー起動時に表示されます。", "The operator key is printed when the server starts."))
                    } @else {
                        (bi("管理キーはサーバー起動時（またはサンドボックス作成時）に表示されます。", "The admin key is printed when the server starts (or when the sandbox is created)."))
                    }
                }
                @if !operator && sandbox.is_default() && server.config.portal.signup {
                    p { a href={ (home) "/sign-up" } { (bi("新しいサンドボックスを作る", "Create a sandbox of your own")) } }
                }
            }
        },
    );
    pair_form(&mut res, server, &home, &token);
    res
}

/// Pairs a form that has no session yet (sign-in, sign-up) with this browser: `token` goes in
/// the form and in a cookie, and `paired` checks the two agree (another site's page can
/// post the form but cannot read or set the cookie).
pub fn pair_form(res: &mut Response, server: &Server, home: &str, token: &str) {
    let secure = if server.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    if let Ok(v) = format!("{FORM_COOKIE}={token}; Path={home}; HttpOnly; SameSite=Strict{secure}").parse() {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Whether a posted form's token is the one its page paired with this browser.
pub fn paired(parts: &Parts, given: &str) -> bool {
    cookie(parts, FORM_COOKIE).is_some_and(|c| !given.is_empty() && c == given)
}

pub fn parts_context(parts: &Parts) -> Result<(Sandbox, Server), Response> {
    session::context(parts).ok_or_else(|| {
        axum::response::IntoResponse::into_response(crate::http::error::ApiError::internal("no sandbox was resolved"))
    })
}

async fn show(parts: Parts, ended: bool, operator: bool) -> Response {
    match parts_context(&parts) {
        Ok((sandbox, server)) => form_page(&sandbox, &server, operator, StatusCode::OK, None, ended),
        Err(res) => res,
    }
}

pub async fn form(parts: Parts, Query(q): Query<Ended>) -> Response {
    show(parts, q.ended.is_some(), false).await
}

pub async fn operator_form(parts: Parts, Query(q): Query<Ended>) -> Response {
    show(parts, q.ended.is_some(), true).await
}

fn try_sign_in(parts: Parts, f: SignInForm, operator: bool) -> Response {
    let (sandbox, server) = match parts_context(&parts) {
        Ok(c) => c,
        Err(res) => return res,
    };
    let from = source(&parts, &server);
    let all = sessions(&server);
    if !paired(&parts, &f.csrf) {
        return form_page(
            &sandbox,
            &server,
            operator,
            StatusCode::FORBIDDEN,
            Some(
                "The form's security token did not match this browser (CSRF); nothing was done. Sign in from this page.",
            ),
            false,
        );
    }
    if all.held_back(from) {
        return form_page(
            &sandbox,
            &server,
            operator,
            StatusCode::TOO_MANY_REQUESTS,
            Some(&format!(
                "Too many wrong keys from your address ({} in a row): sign-in is held back for 10 minutes.",
                session::MAX_FAILURES
            )),
            false,
        );
    }
    let key = f.key.trim();
    let good = if operator {
        server.is_operator_key(key)
    } else {
        sandbox.is_admin_key(key)
    };
    if !good {
        all.failed(from);
        let what = if operator {
            "operator key"
        } else {
            "admin key of this sandbox"
        };
        return form_page(
            &sandbox,
            &server,
            operator,
            StatusCode::UNAUTHORIZED,
            Some(&format!(
                "That is not the {what}. Check the key printed when the server started (or when the sandbox was created)."
            )),
            false,
        );
    }
    all.passed(from);
    let realm = Realm::of(&sandbox, operator);
    let token = all.start(realm.clone());
    let home = session::cookie_of(&sandbox, &realm).1;
    let mut res = see_other(&home);
    res.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(&server, &sandbox, &realm, Some(&token)),
    );
    res
}

pub async fn sign_in(parts: Parts, PageForm(f): PageForm<SignInForm>) -> Response {
    try_sign_in(parts, f, false)
}

pub async fn operator_sign_in(parts: Parts, PageForm(f): PageForm<SignInForm>) -> Response {
    try_sign_in(parts, f, true)
}

fn end(signed: Signed, f: CsrfOnly) -> Response {
    if let Err(res) = signed.check_csrf(&f.csrf) {
        return res;
    }
    sessions(&signed.server).end(&signed.token);
    let home = signed.home();
    let mut res = see_other(&format!("{home}/sign-in"));
    res.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(&signed.server, &signed.sandbox, &signed.realm, None),
    );
    res
}

pub async fn sign_out(signed: Signed, PageForm(f): PageForm<CsrfOnly>) -> Response {
    end(signed, f)
}

pub async fn operator_sign_out(
    session::OperatorSigned(signed): session::OperatorSigned,
    PageForm(f): PageForm<CsrfOnly>,
) -> Response {
    end(signed, f)
}
