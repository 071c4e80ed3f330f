//! The bank-side approval page for corporate approvers (承認者): log in, see the transfers
//! waiting for approval, approve or return (差戻) each. Plain HTML forms; the login yields a
//! short-lived session token carried in the forms (kept in memory, so a restart asks to log
//! in again).

use crate::domain::customer::Role;
use crate::domain::transfer::TransferStatus;
use crate::oauth::pages::escape;
use crate::sandbox::Sandbox;
use crate::services::consent::{Login, check_login};
use crate::services::transfers::{self, Decision};
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Mutex;

/// How long an approval session lasts (sandbox time).
const SESSION: SignedDuration = SignedDuration::from_mins(30);

/// Logged-in approvers: session token → (user id, expiry).
#[derive(Default)]
pub struct ApprovalSessions(Mutex<HashMap<String, (String, Timestamp)>>);

fn page(status: StatusCode, bank: &str, body: &str) -> Response {
    let html = format!(
        r#"<!doctype html><html lang="ja"><head><meta charset="utf-8"><title>承認 / Approvals</title>
<style>body{{font-family:system-ui,"Hiragino Sans","Noto Sans JP",sans-serif;background:#f3f5f8;margin:0}}header{{background:#0b4f8a;color:#fff;padding:12px 24px;font-weight:bold}}
main{{max-width:900px;margin:24px auto;background:#fff;border-radius:8px;padding:24px 32px}}table{{border-collapse:collapse;width:100%}}td,th{{border-bottom:1px solid #ddd;padding:6px;text-align:left}}
.en{{color:#5b6875;font-size:.9em}}.error{{color:#b00020;font-weight:bold}}.ok{{color:#1b6e2a;font-weight:bold}}button{{margin:2px}}</style></head>
<body><header>{} <span class="en">(sandbox) 法人承認 / Corporate approvals</span></header><main>{body}</main></body></html>"#,
        escape(bank)
    );
    let mut res = (status, Html(html)).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.headers_mut()
        .insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res.headers_mut()
        .insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Forms post only to the bank itself; no scripts, no framing.
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    res
}

fn login_form(base: &str, message: Option<&str>) -> String {
    format!(
        r#"<h1>承認者ログイン <span class="en">Approver log in</span></h1>{}
<form method="post" action="{base}/bank/approvals/login">
<label>ユーザー名 <span class="en">Username</span> <input name="username" required></label><br>
<label>パスワード <span class="en">Password</span> <input type="password" name="password" required></label><br>
<button type="submit">ログイン / Log in</button></form>"#,
        message
            .map(|m| format!(r#"<p class="error">{}</p>"#, escape(m)))
            .unwrap_or_default()
    )
}

/// The approval login page.
pub async fn approvals_page(app: Sandbox) -> Response {
    page(
        StatusCode::OK,
        &app.scenario.scenario.bank.name,
        &login_form(&app.base_path, None),
    )
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
}

#[derive(Debug, Deserialize)]
pub struct DecideForm {
    session: String,
    apply_no: String,
    decision: String,
    comment: Option<String>,
}

fn list(app: &Sandbox, session: &str, user_id: &str, message: Option<(&str, bool)>) -> Response {
    let bank = &app.scenario.scenario.bank.name;
    let base = &app.base_path;
    let Ok(Some(user)) = app.store.user(user_id) else {
        return page(
            StatusCode::BAD_REQUEST,
            bank,
            &login_form(&app.base_path, Some("The user no longer exists.")),
        );
    };
    let today = app.clock.now_jst().date();
    let mut rows = String::new();
    for account in app.store.accounts_of(&user.customer_id).unwrap_or_default() {
        let (apply_nos, _) = app
            .store
            .transfers_of(&account.id, jiff::civil::date(2000, 1, 1), today, None, 10_000)
            .unwrap_or_default();
        for no in apply_nos {
            let Ok(Some(t)) = app.store.transfer(&no) else { continue };
            if t.status() != TransferStatus::PendingApproval {
                continue;
            }
            let items: String = t
                .items
                .iter()
                .map(|i| {
                    format!(
                        "{} {}-{} {} {}円",
                        escape(&i.beneficiary_name),
                        i.bank_code,
                        i.branch_code,
                        i.account_number,
                        i.amount
                    )
                })
                .collect::<Vec<_>>()
                .join("<br>");
            rows.push_str(&format!(
                r#"<tr><td>{no}</td><td>{account}</td><td>{date}</td><td>{items}</td><td>{total}円</td><td>{comment}</td>
<td><form method="post" action="{base}/bank/approvals/decide"><input type="hidden" name="session" value="{session}"><input type="hidden" name="apply_no" value="{no}">
<input name="comment" placeholder="コメント / comment"><button name="decision" value="approve">承認 / Approve</button><button name="decision" value="return">差戻 / Return</button></form></td></tr>"#,
                no = escape(&t.apply_no),
                account = escape(&t.account_id),
                date = t.designated_date,
                total = t.total_amount(),
                comment = escape(t.apply_comment.as_deref().unwrap_or("")),
                session = escape(session),
            ));
        }
    }
    if rows.is_empty() {
        rows = r#"<tr><td colspan="7">承認待ちの振込はありません / Nothing waits for approval</td></tr>"#.into();
    }
    let message = message
        .map(|(m, ok)| format!(r#"<p class="{}">{}</p>"#, if ok { "ok" } else { "error" }, escape(m)))
        .unwrap_or_default();
    let body = format!(
        r#"<h1>承認待ちの振込 <span class="en">Transfers waiting for approval</span></h1><p>{} 様</p>{message}
<table><tr><th>受付番号<br><span class="en">applyNo</span></th><th>口座<br><span class="en">Account</span></th><th>指定日<br><span class="en">Date</span></th><th>振込先<br><span class="en">Beneficiaries</span></th><th>合計<br><span class="en">Total</span></th><th>申請コメント<br><span class="en">Comment</span></th><th></th></tr>{rows}</table>"#,
        escape(&user.display_name)
    );
    page(StatusCode::OK, bank, &body)
}

/// Log in as an approver; shows the list.
pub async fn approvals_login(
    app: Sandbox,
    crate::http::extract::ClientAddr(source): crate::http::extract::ClientAddr,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let bank = app.scenario.scenario.bank.name.clone();
    let Ok(Form(form)) = form else {
        return page(
            StatusCode::BAD_REQUEST,
            &bank,
            &login_form(&app.base_path, Some("Send username and password.")),
        );
    };
    match check_login(&app, &form.username, &form.password, source) {
        Ok(Login::Locked(lock)) => page(
            StatusCode::TOO_MANY_REQUESTS,
            &bank,
            &login_form(&app.base_path, Some(&crate::services::lockout::locked_message(lock))),
        ),
        Ok(Login::Ok(user)) if matches!(user.role, Role::Approver | Role::Admin) => {
            let session = crate::ids::prefixed_secret("apv");
            let expires = app
                .clock
                .now()
                .saturating_add(SESSION)
                .unwrap_or_else(|_| app.clock.now());
            if let Ok(mut s) = app.approval_sessions.0.lock() {
                s.retain(|_, (_, exp)| *exp > app.clock.now());
                s.insert(session.clone(), (user.id.clone(), expires));
            }
            list(&app, &session, &user.id, None)
        }
        Ok(Login::Ok(_)) => page(
            StatusCode::FORBIDDEN,
            &bank,
            &login_form(
                &app.base_path,
                Some("このユーザーは承認者ではありません。 / This user is not an approver."),
            ),
        ),
        Ok(Login::Wrong) => page(
            StatusCode::UNAUTHORIZED,
            &bank,
            &login_form(
                &app.base_path,
                Some("ユーザー名またはパスワードが違います。 / Wrong username or password."),
            ),
        ),
        Err(e) => {
            tracing::error!(error = %e, "storage error on the approval login");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                &bank,
                &login_form(&app.base_path, Some("Try again.")),
            )
        }
    }
}

/// Approve or return one transfer; shows the list again.
pub async fn approvals_decide(app: Sandbox, form: Result<Form<DecideForm>, FormRejection>) -> Response {
    let bank = app.scenario.scenario.bank.name.clone();
    let Ok(Form(form)) = form else {
        return page(
            StatusCode::BAD_REQUEST,
            &bank,
            &login_form(&app.base_path, Some("The form is incomplete; log in again.")),
        );
    };
    let now = app.clock.now();
    let user_id = app.approval_sessions.0.lock().ok().and_then(|s| {
        s.get(&form.session)
            .filter(|(_, exp)| *exp > now)
            .map(|(u, _)| u.clone())
    });
    let Some(user_id) = user_id else {
        return page(
            StatusCode::UNAUTHORIZED,
            &bank,
            &login_form(
                &app.base_path,
                Some("セッションが切れました。 / The session expired; log in again."),
            ),
        );
    };
    let decision = match form.decision.as_str() {
        "approve" => Decision::Approve,
        "return" => Decision::Return,
        _ => {
            return list(
                &app,
                &form.session,
                &user_id,
                Some(("decision must be approve or return", false)),
            );
        }
    };
    let comment = form.comment.as_deref().filter(|c| !c.trim().is_empty());
    match transfers::decide(&app, &user_id, &form.apply_no, decision, comment).await {
        Ok(t) => {
            let msg = format!("{}: {} ({})", t.apply_no, t.status().name_ja(), t.status().code());
            list(&app, &form.session, &user_id, Some((&msg, true)))
        }
        Err(e) => list(&app, &form.session, &user_id, Some((&e.detail, false))),
    }
}
