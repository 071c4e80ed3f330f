//! The bank-side approval page for corporate approvers (承認者): log in, see the transfers
//! waiting for approval, approve or return (差戻) each. Plain HTML forms; the login yields a
//! short-lived session token carried in the forms (kept in memory, so a restart asks to log
//! in again).

use crate::domain::customer::Role;
use crate::domain::transfer::TransferStatus;
use crate::http::pages::escape;
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
    let html = crate::http::pages::layout("承認 / Approvals", body, bank);
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

fn login_form(sandbox: &Sandbox, message: Option<&str>) -> String {
    // The scenario's approvers, so a tester knows whom to log in as (their passwords and
    // codes are in the scenario and the startup banner).
    let approvers: Vec<String> = sandbox
        .scenario
        .scenario
        .customers
        .iter()
        .flat_map(|c| c.users.iter())
        .filter(|u| {
            matches!(
                u.role,
                crate::scenario::schema::CorporateRole::Approver | crate::scenario::schema::CorporateRole::Admin
            )
        })
        .map(|u| format!("<code>{}</code>", escape(&u.username.value)))
        .collect();
    let hint = if approvers.is_empty() {
        String::new()
    } else {
        format!(
            r#"<p class="note">サンドボックスです。テスト用の承認者: {list}（パスワードとワンタイムパスワードはシナリオと起動時の表示にあります）。<br><span class="en">This is a sandbox. Test approvers: {list} (their passwords and one-time codes are in the scenario and printed when the server starts).</span></p>"#,
            list = approvers.join(", ")
        )
    };
    format!(
        r#"<h1>承認者ログイン <span class="en">Approver log in</span></h1>
<p>法人のお客さまの承認者として、承認待ちの振込を承認または差戻します。<br><span class="en">Log in as a corporate customer's approver to approve or return the transfers waiting for approval.</span></p>{}
<form method="post" action="{base}/bank/approvals/login">
<label>ユーザー名 <span class="en">Username</span><input type="text" name="username" autocomplete="username" required></label>
<label>パスワード <span class="en">Password</span><input type="password" name="password" autocomplete="current-password" required></label>
<label>ワンタイムパスワード <span class="en">One-time code</span><input type="text" name="otp" inputmode="numeric" autocomplete="one-time-code" required></label>
<p class="en">振込の承認には追加の認証が必要です。 Approving payments needs a stronger login step.</p>
<button class="primary" type="submit">ログイン / Log in</button></form>
{hint}"#,
        message
            .map(|m| format!(r#"<p class="error" role="alert">{}</p>"#, escape(m)))
            .unwrap_or_default(),
        base = sandbox.base_path,
    )
}

/// The approval login page.
pub async fn approvals_page(sandbox: Sandbox) -> Response {
    page(
        StatusCode::OK,
        &sandbox.scenario.scenario.bank.name,
        &login_form(&sandbox, None),
    )
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    otp: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct DecideForm {
    session: String,
    apply_no: String,
    decision: String,
    comment: Option<String>,
}

fn list(sandbox: &Sandbox, session: &str, user_id: &str, message: Option<(&str, bool)>) -> Response {
    let bank = &sandbox.scenario.scenario.bank.name;
    let base = &sandbox.base_path;
    let Ok(Some(user)) = sandbox.store.user(user_id) else {
        return page(
            StatusCode::BAD_REQUEST,
            bank,
            &login_form(
                sandbox,
                Some("このユーザーは存在しません。 / The user no longer exists."),
            ),
        );
    };
    let today = sandbox.clock.now_jst().date();
    let mut rows = String::new();
    for account in sandbox.store.accounts_of(&user.customer_id).unwrap_or_default() {
        let (apply_nos, _) = sandbox
            .store
            .transfers_of(&account.id, jiff::civil::date(2000, 1, 1), today, None, 10_000)
            .unwrap_or_default();
        for no in apply_nos {
            let Ok(Some(t)) = sandbox.store.transfer(&no) else {
                continue;
            };
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
<input type="text" name="comment" placeholder="コメント / comment" aria-label="コメント / Comment"><button class="primary" type="submit" name="decision" value="approve">承認 / Approve</button><button type="submit" name="decision" value="return">差戻 / Return</button></form></td></tr>"#,
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
        .map(|(m, ok)| {
            format!(
                r#"<p class="{}" role="status">{}</p>"#,
                if ok { "ok" } else { "error" },
                escape(m)
            )
        })
        .unwrap_or_default();
    let body = format!(
        r#"<h1>承認待ちの振込 <span class="en">Transfers waiting for approval</span></h1><p>{} 様</p>{message}
<div class="wide"><table><tr><th>受付番号<br><span class="en">applyNo</span></th><th>口座<br><span class="en">Account</span></th><th>指定日<br><span class="en">Date</span></th><th>振込先<br><span class="en">Beneficiaries</span></th><th>合計<br><span class="en">Total</span></th><th>申請コメント<br><span class="en">Comment</span></th><th></th></tr>{rows}</table></div>"#,
        escape(&user.display_name)
    );
    page(StatusCode::OK, bank, &body)
}

/// Log in as an approver; shows the list.
pub async fn approvals_login(
    sandbox: Sandbox,
    crate::http::extract::ClientAddr(source): crate::http::extract::ClientAddr,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let bank = sandbox.scenario.scenario.bank.name.clone();
    let Ok(Form(form)) = form else {
        return page(
            StatusCode::BAD_REQUEST,
            &bank,
            &login_form(
                &sandbox,
                Some(
                    "ユーザー名、パスワード、ワンタイムパスワードを入力してください。 / Send username, password and one-time code.",
                ),
            ),
        );
    };
    match check_login(&sandbox, &form.username, &form.password, source) {
        Ok(Login::Locked(lock)) => page(
            StatusCode::TOO_MANY_REQUESTS,
            &bank,
            &login_form(&sandbox, Some(&crate::services::lockout::locked_message(lock))),
        ),
        Ok(Login::Ok(user)) if matches!(user.role, Role::Approver | Role::Admin) => {
            use crate::services::lockout::Verdict;
            match crate::services::consent::check_otp(&sandbox, &user, form.otp.as_deref(), source) {
                Ok(Verdict::Passed) => {}
                Ok(Verdict::Wrong) => {
                    return page(
                        StatusCode::UNAUTHORIZED,
                        &bank,
                        &login_form(
                            &sandbox,
                            Some("ワンタイムパスワードが違います。 / Wrong one-time code."),
                        ),
                    );
                }
                Ok(Verdict::Locked(lock)) => {
                    return page(
                        StatusCode::TOO_MANY_REQUESTS,
                        &bank,
                        &login_form(&sandbox, Some(&crate::services::lockout::locked_message(lock))),
                    );
                }
                Err(e) => {
                    tracing::error!(error = %e, "storage error on the approval one-time code");
                    return page(
                        StatusCode::SERVICE_UNAVAILABLE,
                        &bank,
                        &login_form(
                            &sandbox,
                            Some(
                                "確認できませんでした。もう一度お試しください。 / The bank could not check the code; try again.",
                            ),
                        ),
                    );
                }
            }
            let session = crate::ids::prefixed_secret("apv");
            let expires = sandbox
                .clock
                .now()
                .saturating_add(SESSION)
                .unwrap_or_else(|_| sandbox.clock.now());
            if let Ok(mut s) = sandbox.attachments.get::<ApprovalSessions>().0.lock() {
                s.retain(|_, (_, exp)| *exp > sandbox.clock.now());
                s.insert(session.clone(), (user.id.clone(), expires));
            }
            list(&sandbox, &session, &user.id, None)
        }
        Ok(Login::Ok(_)) => page(
            StatusCode::FORBIDDEN,
            &bank,
            &login_form(
                &sandbox,
                Some("このユーザーは承認者ではありません。 / This user is not an approver."),
            ),
        ),
        Ok(Login::Wrong) => page(
            StatusCode::UNAUTHORIZED,
            &bank,
            &login_form(
                &sandbox,
                Some("ユーザー名またはパスワードが違います。 / Wrong username or password."),
            ),
        ),
        Err(e) => {
            tracing::error!(error = %e, "storage error on the approval login");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                &bank,
                &login_form(&sandbox, Some("もう一度お試しください。 / Try again.")),
            )
        }
    }
}

/// Approve or return one transfer; shows the list again.
pub async fn approvals_decide(sandbox: Sandbox, form: Result<Form<DecideForm>, FormRejection>) -> Response {
    let bank = sandbox.scenario.scenario.bank.name.clone();
    let Ok(Form(form)) = form else {
        return page(
            StatusCode::BAD_REQUEST,
            &bank,
            &login_form(
                &sandbox,
                Some("フォームが不完全です。ログインし直してください。 / The form is incomplete; log in again."),
            ),
        );
    };
    let now = sandbox.clock.now();
    let user_id = sandbox
        .attachments
        .get::<ApprovalSessions>()
        .0
        .lock()
        .ok()
        .and_then(|s| {
            s.get(&form.session)
                .filter(|(_, exp)| *exp > now)
                .map(|(u, _)| u.clone())
        });
    let Some(user_id) = user_id else {
        return page(
            StatusCode::UNAUTHORIZED,
            &bank,
            &login_form(
                &sandbox,
                Some("セッションが切れました。 / The session expired; log in again."),
            ),
        );
    };
    let decision = match form.decision.as_str() {
        "approve" => Decision::Approve,
        "return" => Decision::Return,
        _ => {
            return list(
                &sandbox,
                &form.session,
                &user_id,
                Some((
                    "承認か差戻を選んでください。 / decision must be approve or return",
                    false,
                )),
            );
        }
    };
    let comment = form.comment.as_deref().filter(|c| !c.trim().is_empty());
    match transfers::decide(&sandbox, &user_id, &form.apply_no, decision, comment).await {
        Ok(t) => {
            let msg = format!(
                "{}: {}（{}） / {}: {} (status {})",
                t.apply_no,
                t.status().name_ja(),
                t.status().code(),
                t.apply_no,
                t.status().name_en(),
                t.status().code()
            );
            list(&sandbox, &form.session, &user_id, Some((&msg, true)))
        }
        Err(e) => {
            let e = crate::http::error::ApiError::from(e);
            list(&sandbox, &form.session, &user_id, Some((&e.detail, false)))
        }
    }
}
