//! The portal's page frame: header, navigation, the one-shot message, the sign-out form, and
//! the headers every portal page carries (a strict Content-Security-Policy: the stylesheet and
//! script come from the binary, no inline script, no framing). Labels are Japanese with the
//! English beside them, as on the consent page.

use super::session::{Flash, Realm, Signed};
use crate::sandbox::Sandbox;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

/// Every portal page's policy: only this origin's stylesheet, script and calls; forms post
/// only here; never framed.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A label in Japanese with its English beside it.
pub fn bi(ja: &str, en: &str) -> Markup {
    html! { (ja) " " span.en { (en) } }
}

/// The navigation of a sandbox's portal: (path under the portal, Japanese, English).
const SANDBOX_NAV: &[(&str, &str, &str)] = &[
    ("", "概要", "Overview"),
    ("/clients", "クライアント", "Clients"),
    ("/users", "テストユーザー", "Test users"),
    ("/log", "リクエストログ", "Request log"),
    ("/events", "イベント", "Events"),
    ("/webhooks", "Webhook", "Webhooks"),
    ("/rehearse", "リハーサル", "Rehearse"),
    ("/data", "銀行データ", "Bank data"),
];

/// What a page is: its title and which navigation entry is current ("" for the overview).
pub struct PageInfo<'a> {
    pub title: &'a str,
    pub active: &'a str,
}

fn frame(sandbox: &Sandbox, home: &str, signed: Option<&Signed>, info: &PageInfo, body: Markup) -> String {
    let bank = &sandbox.scenario.scenario.bank.name;
    let operator = signed.is_some_and(|s| s.realm == Realm::Operator);
    let flash: Option<&Flash> = signed.and_then(|s| s.flash.as_ref());
    html! {
        (DOCTYPE)
        html lang="ja" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (info.title) " — sandbank portal" }
                link rel="stylesheet" href={ (home) "/assets/portal.css" };
                script src={ (home) "/assets/portal.js" } defer {}
            }
            body {
                a.skip href="#main" { "本文へ Skip to content" }
                header.top {
                    div.brand {
                        @if operator { (bi("運用者ポータル", "Operator portal")) }
                        @else { (bank) " " span.en { "developer portal · sandbox " code { (sandbox.id) } } }
                    }
                    @if let Some(s) = signed {
                        form.signout method="post" action={ (home) "/sign-out" } {
                            input type="hidden" name="csrf" value=(s.csrf);
                            button type="submit" { (bi("サインアウト", "Sign out")) }
                        }
                    }
                }
                @if signed.is_some() && !operator {
                    nav aria-label="Portal" {
                        ul {
                            @for (path, ja, en) in SANDBOX_NAV {
                                li {
                                    a href={ (home) (path) } aria-current=[(info.active == *path).then_some("page")] {
                                        (ja) " " span.en { (en) }
                                    }
                                }
                            }
                        }
                    }
                }
                main #main {
                    @if let Some(f) = flash {
                        p class={ "flash " @if f.ok { "ok" } @else { "error" } } role=(if f.ok { "status" } else { "alert" }) { (f.text) }
                    }
                    (body)
                }
            }
        }
    }
    .into_string()
}

/// A portal page answer with the portal's headers.
pub fn answer(status: StatusCode, html: String) -> Response {
    let mut res = (status, axum::response::Html(html)).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// A page of a signed-in portal.
pub fn page(signed: &Signed, info: PageInfo, body: Markup) -> Response {
    answer(
        StatusCode::OK,
        frame(&signed.sandbox, &signed.home(), Some(signed), &info, body),
    )
}

/// A page for a visitor who is not signed in (sign-in, sign-up, errors).
pub fn public_page(sandbox: &Sandbox, home: &str, status: StatusCode, title: &str, body: Markup) -> Response {
    answer(
        status,
        frame(sandbox, home, None, &PageInfo { title, active: "-" }, body),
    )
}

/// 303 to `location` (after a form, or to the sign-in page).
pub fn see_other(location: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// 403 for a form without this session's CSRF token.
pub fn refused_form(sandbox: &Sandbox, realm: &Realm) -> Response {
    let home = super::session::cookie_of(sandbox, realm).1;
    public_page(
        sandbox,
        &home,
        StatusCode::FORBIDDEN,
        "Form refused",
        html! {
            h1 { (bi("フォームを受け付けられません", "This form was refused")) }
            p.error role="alert" {
                "The form did not carry this session's security token (CSRF), so nothing was changed. Reload the page and submit it again."
            }
            p { a href=(home) { (bi("ポータルへ戻る", "Back to the portal")) } }
        },
    )
}

/// A page saying what was wrong with a submitted form (400/404/409/422…), nothing changed.
pub fn problem_page(signed: &Signed, status: StatusCode, title: &str, message: &str, back: &str) -> Response {
    let mut res = page(
        signed,
        PageInfo { title, active: "-" },
        html! {
            h1 { (title) }
            p.error role="alert" { (message) }
            p { a href=(back) { (bi("戻る", "Back")) } }
        },
    );
    *res.status_mut() = status;
    res
}

/// The answer to a form's change: back to `back` with the message of what was done, or a
/// page (of `status`) saying why nothing was changed.
pub fn after<E: std::fmt::Display>(
    signed: &Signed,
    done: Result<String, E>,
    status: StatusCode,
    failed: &str,
    back: &str,
) -> Response {
    match done {
        Ok(message) => {
            signed.flash(true, message);
            see_other(back)
        }
        Err(e) => problem_page(signed, status, failed, &e.to_string(), back),
    }
}

/// A hidden CSRF field for a form of this session.
pub fn csrf(signed: &Signed) -> Markup {
    html! { input type="hidden" name="csrf" value=(signed.csrf); }
}

/// A value the user may copy, with a copy button (the script adds the clipboard).
pub fn copyable(id: &str, value: &str) -> Markup {
    html! {
        span.copyable {
            code #(id) { (value) }
            " "
            button.copy type="button" data-copy=(id) { (bi("コピー", "Copy")) }
        }
    }
}

/// A secret hidden until the user asks to see it.
pub fn revealable(id: &str, value: &str) -> Markup {
    html! {
        span.secret {
            code #(id) hidden { (value) }
            button.reveal type="button" data-reveal=(id) aria-controls=(id) { (bi("表示", "Reveal")) }
            " "
            button.copy type="button" data-copy=(id) { (bi("コピー", "Copy")) }
        }
    }
}
