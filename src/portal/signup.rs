//! Self-service sign-up for a public deployment (off unless `--portal-signup`): a visitor
//! picks a scenario from the catalogue or gives scenario YAML (pasted, or read from a file by
//! the page's script), with the invite code when one is set, and gets a sandbox of their own:
//! its admin key is shown once and the browser is signed in to its portal. Creations are
//! capped per source address and for everyone together per day (real time, counted in memory:
//! a restart starts the day's counts afresh), on top of the server's `max-sandboxes`.

use super::PageForm;
use super::session::{self, Realm, sessions, source};
use super::signin::{pair_form, paired, parts_context};
use super::view::{bi, public_page};
use crate::sandbox::Sandbox;
use crate::server::Server;
use crate::services::lifecycle;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Sign-ups counted today: by source, and in all (the day is the real date in Japan).
#[derive(Default)]
pub struct SignupCounts(Mutex<(String, HashMap<Option<IpAddr>, u32>, u32)>);

impl SignupCounts {
    /// Counts one sign-up from `source` if the day's limits allow it; else says which is full.
    fn take(&self, server: &Server, source: Option<IpAddr>) -> Result<(), &'static str> {
        let limits = &server.config.portal;
        let today = crate::clock::jst_datetime(jiff::Timestamp::now()).date().to_string();
        let mut c = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if c.0 != today {
            *c = (today, HashMap::new(), 0);
        }
        if c.2 >= limits.signups_per_day {
            return Err("today's sign-ups on this server are used up; try again tomorrow (Japan time)");
        }
        let mine = c.1.get(&source).copied().unwrap_or(0);
        if mine >= limits.signups_per_source {
            return Err("your address has created as many sandboxes today as it may; try again tomorrow (Japan time)");
        }
        c.1.insert(source, mine + 1);
        c.2 += 1;
        Ok(())
    }

    /// Gives back a sign-up that did not create a sandbox.
    fn give_back(&self, source: Option<IpAddr>) {
        let mut c = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = c.1.get_mut(&source) {
            *n = n.saturating_sub(1);
        }
        c.2 = c.2.saturating_sub(1);
    }
}

fn home_of(sandbox: &Sandbox) -> String {
    session::cookie_of(sandbox, &Realm::of(sandbox, false)).1
}

fn form(sandbox: &Sandbox, server: &Server, status: StatusCode, message: Option<&str>) -> Response {
    let home = home_of(sandbox);
    let token = crate::ids::random_token(24);
    let mut res = public_page(
        sandbox,
        &home,
        status,
        "Sign up",
        html! {
            section {
                h1 { (bi("サンドボックスを作る", "Create your own sandbox")) }
                p { (bi("自分専用の銀行を作り、ポータルで操作できます。", "Get a bank of your own and drive it from its portal.")) }
                @if let Some(m) = message { p.error role="alert" #signup-error { (m) } }
                form method="post" action={ (home) "/sign-up" } {
                    input type="hidden" name="csrf" value=(token);
                    label for="scenario" { (bi("シナリオ", "Scenario")) }
                    select #scenario name="scenario" {
                        @for (name, _) in crate::scenario::CATALOGUE { option value=(name) { (name) } }
                    }
                    label for="yaml-file" { (bi("またはシナリオYAMLファイル", "…or a scenario YAML file")) }
                    input #yaml-file type="file" accept=".yaml,.yml,text/yaml";
                    label for="yaml" { (bi("またはYAMLを貼り付け（指定すると優先）", "…or paste scenario YAML (used when given)")) }
                    textarea #yaml name="yaml" {}
                    @if server.config.portal.invite_code.is_some() {
                        label for="invite" { (bi("招待コード", "Invite code")) }
                        input #invite type="text" name="invite" required autocomplete="off";
                    }
                    button.primary type="submit" { (bi("作成", "Create")) }
                }
                p.note { (bi("使われないサンドボックスは一定期間後に削除されます。", "A sandbox that is not used is deleted after a while (the server's idle expiry).")) }
            }
        },
    );
    pair_form(&mut res, server, &home, &token);
    res
}

fn signup_allowed(sandbox: &Sandbox, server: &Server) -> Result<(), Response> {
    if server.config.portal.signup && sandbox.is_default() {
        return Ok(());
    }
    Err(public_page(
        sandbox,
        &home_of(sandbox),
        StatusCode::NOT_FOUND,
        "Sign up",
        html! {
            h1 { (bi("新規登録は受け付けていません", "Sign-up is off")) }
            p { "This server does not let visitors create sandboxes (its operator can, or can start it with --portal-signup)." }
        },
    ))
}

pub async fn signup_form(parts: Parts) -> Response {
    let (sandbox, server) = match parts_context(&parts) {
        Ok(c) => c,
        Err(res) => return res,
    };
    if let Err(res) = signup_allowed(&sandbox, &server) {
        return res;
    }
    form(&sandbox, &server, StatusCode::OK, None)
}

#[derive(Deserialize)]
pub struct SignupForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    scenario: String,
    #[serde(default)]
    yaml: String,
    #[serde(default)]
    invite: String,
}

pub async fn sign_up(parts: Parts, PageForm(f): PageForm<SignupForm>) -> Response {
    let (sandbox, server) = match parts_context(&parts) {
        Ok(c) => c,
        Err(res) => return res,
    };
    if let Err(res) = signup_allowed(&sandbox, &server) {
        return res;
    }
    if !paired(&parts, &f.csrf) {
        return form(
            &sandbox,
            &server,
            StatusCode::FORBIDDEN,
            Some(
                "The form's security token did not match this browser (CSRF); nothing was created. Submit the form from this page.",
            ),
        );
    }
    if let Some(code) = &server.config.portal.invite_code {
        let given = crate::ids::sha256_b64(f.invite.trim().as_bytes());
        if given != crate::ids::sha256_b64(code.as_bytes()) {
            return form(
                &sandbox,
                &server,
                StatusCode::FORBIDDEN,
                Some("That invite code is not right; ask whoever runs this server for one."),
            );
        }
    }
    let from = source(&parts, &server);
    let counts = server.attachments.get::<SignupCounts>();
    if let Err(why) = counts.take(&server, from) {
        let mut res = form(&sandbox, &server, StatusCode::TOO_MANY_REQUESTS, Some(why));
        res.headers_mut()
            .insert(header::RETRY_AFTER, axum::http::HeaderValue::from_static("3600"));
        return res;
    }
    let what = super::operator::new_sandbox(&f.scenario, &f.yaml);
    let created = match lifecycle::create(&server, what, &crate::http::faults::faultable_operation).await {
        Ok((created, _)) => created,
        Err(e) => {
            counts.give_back(from);
            let status = match e {
                lifecycle::LifecycleError::LimitReached(_) => StatusCode::CONFLICT,
                lifecycle::LifecycleError::Busy(_) | lifecycle::LifecycleError::InProgress(_) => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            return form(&sandbox, &server, status, Some(&e.to_string()));
        }
    };
    let Some(new) = server.sandbox(&created.id) else {
        return form(
            &sandbox,
            &server,
            StatusCode::SERVICE_UNAVAILABLE,
            Some("The sandbox was created but is not served yet; sign in with the operator's help."),
        );
    };
    let realm = Realm::Sandbox(created.id.clone());
    let token = sessions(&server).start(realm.clone());
    let portal = home_of(&new);
    let mut res = public_page(
        &new,
        &portal,
        StatusCode::CREATED,
        "Sandbox created",
        html! {
            section #created {
                h1 { (bi("サンドボックスを作りました", "Your sandbox is ready")) }
                p.note { (bi("管理キーはこの一度だけ表示されます。控えてください。", "The admin key is shown this once: keep it now. You need it to sign in again.")) }
                (super::operator::credentials(&created))
                p { a.button.primary #to-portal href=(portal) { (bi("ポータルへ", "Go to your portal")) } }
                p.en { "Later, sign in at " a href={ (portal) "/sign-in" } { (created.base_url) "/portal/sign-in" } " with the admin key." }
            }
        },
    );
    res.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(&server, &new, &realm, Some(&token)),
    );
    res
}
