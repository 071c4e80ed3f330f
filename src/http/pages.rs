//! The HTML the user sees: login, consent (the six disclosures of the JBA principles, in
//! Japanese with English beside them) and errors. Plain HTML, no scripts, all text escaped.

use crate::clock::format_jst;
use crate::domain::consent::{Client, PendingAuthorization};
use jiff::Timestamp;

/// Escapes text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A page of the bank: its header, the shared style (also for a 390 px phone) and `body`.
pub fn layout(title: &str, body: &str, bank_name: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body{{font-family:system-ui,"Hiragino Sans","Noto Sans JP",sans-serif;background:#f3f5f8;margin:0;color:#1d2733}}
header{{background:#0b4f8a;color:#fff;padding:12px 24px;font-weight:bold}}
main{{max-width:720px;margin:24px auto;background:#fff;border-radius:8px;padding:24px 32px;box-shadow:0 1px 4px #0002}}
h1{{font-size:1.3em}} .en{{color:#5b6875;font-size:.9em}} dt{{font-weight:bold;margin-top:14px}} dd{{margin:4px 0 0 0}}
label{{display:block;margin-top:12px}} label.choice{{margin-top:6px}} input[type=text],input[type=password]{{width:100%;padding:8px;font-size:1em;box-sizing:border-box}}
button{{padding:10px 20px;font-size:1em;margin:16px 8px 0 0;border-radius:4px;border:1px solid #0b4f8a;cursor:pointer}}
.primary{{background:#0b4f8a;color:#fff}} .wide{{overflow-x:auto}} table{{border-collapse:collapse;width:100%}} td,th{{border-bottom:1px solid #ddd;padding:6px;text-align:left;vertical-align:top}}
.ok{{color:#1b6e2a;font-weight:bold}} td input[type=text]{{width:100%;padding:6px;box-sizing:border-box}} td button{{margin:6px 6px 0 0;padding:8px 12px}}
@media (max-width:600px){{main{{margin:0;border-radius:0;padding:16px}} header{{padding:12px 16px}}}} .error{{color:#b00020;font-weight:bold}} .note{{background:#fff8e1;padding:8px 12px;border-radius:4px}}
</style></head>
<body><header>{bank} <span class="en">(sandbox)</span></header><main>{body}</main></body></html>"#,
        title = escape(title),
        bank = escape(bank_name),
        body = body
    )
}

/// The login form for a pending authorization.
/// Where a page is served: the bank's name for the header, and the sandbox's path prefix
/// ("" or `/s/{id}`) that its forms post back to.
#[derive(Clone, Copy)]
pub struct Site<'a> {
    pub bank: &'a str,
    pub base: &'a str,
}

/// `base` is the sandbox's path prefix ("" or `/s/{id}`): the form posts back to it.
pub fn login(
    bank_name: &str,
    base: &str,
    pending: &PendingAuthorization,
    client: &Client,
    error: Option<&str>,
) -> String {
    let error = error
        .map(|e| format!(r#"<p class="error" role="alert">{}</p>"#, escape(e)))
        .unwrap_or_default();
    let body = format!(
        r#"<h1>ログイン <span class="en">Log in</span></h1>
<p>{service}（{company}）が口座情報へのアクセスを求めています。<br><span class="en">{service} ({company}) asks to access your account information.</span></p>
{error}
<form method="post" action="{base}/oauth/authorize/login">
<input type="hidden" name="request_id" value="{request_id}">
<label>ユーザー名 <span class="en">Username</span><input type="text" name="username" autocomplete="username" required></label>
<label>パスワード <span class="en">Password</span><input type="password" name="password" autocomplete="current-password" required></label>
<button class="primary" type="submit">ログイン <span>/ Log in</span></button>
</form>
<p class="note">サンドボックスです。テスト用のユーザーはサーバー起動時に表示されます。<br><span class="en">This is a sandbox: test users are printed when the server starts.</span></p>"#,
        service = escape(&client.service),
        company = escape(&client.company),
        error = error,
        request_id = escape(&pending.id),
    );
    layout("ログイン / Log in", &body, bank_name)
}

fn duration_words(secs: i64) -> (String, String) {
    if secs % 86_400 == 0 {
        let d = secs / 86_400;
        (format!("{d}日"), format!("{d} day{}", if d == 1 { "" } else { "s" }))
    } else if secs % 3_600 == 0 {
        let h = secs / 3_600;
        (format!("{h}時間"), format!("{h} hour{}", if h == 1 { "" } else { "s" }))
    } else if secs % 60 == 0 {
        let m = secs / 60;
        (format!("{m}分"), format!("{m} minute{}", if m == 1 { "" } else { "s" }))
    } else {
        (format!("{secs}秒"), format!("{secs} seconds"))
    }
}

fn japanese_date(ts: Timestamp) -> String {
    ts.to_zoned(crate::clock::jst())
        .strftime("%Y年%m月%d日 %H:%M")
        .to_string()
}

/// One of the user's accounts, as the consent page offers it.
pub struct AccountChoice {
    pub id: String,
    /// Branch, type and number, as the user knows the account.
    pub label: String,
    /// The most it may send per day.
    pub transfer_limit: crate::domain::money::Yen,
}

// Long on purpose: an HTML template.
/// The consent screen: who, which service, what, how long, how to cancel, cautions.
pub fn consent(
    site: Site<'_>,
    pending: &PendingAuthorization,
    client: &Client,
    user_display_name: &str,
    now: Timestamp,
    error: Option<&str>,
    accounts: &[AccountChoice],
) -> String {
    let Site { bank: bank_name, base } = site;
    let mandate = match pending.debit_limits {
        Some((each, month)) => {
            let options: String = accounts
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    format!(
                        r#"<label class="choice"><input type="radio" name="debit_account" value="{}"{} required> {}</label>"#,
                        escape(&a.id),
                        if i == 0 { " checked" } else { "" },
                        escape(&a.label)
                    )
                })
                .collect();
            format!(
                r#"<dt>口座振替の内容 <span class="en">Account debit mandate</span></dt>
<dd>収納企業 <span class="en">Biller</span>: {company}<br>1回の上限 <span class="en">Per debit</span>: {each}円 / 月間上限 <span class="en">Per month</span>: {month}円<br>
引落口座 <span class="en">Account to debit</span>: {options}</dd>"#,
                company = escape(&client.company),
                each = crate::domain::money::Yen(each),
                month = crate::domain::money::Yen(month),
            )
        }
        None => String::new(),
    };
    let transfers = pending.scopes.iter().any(|s| {
        matches!(
            s,
            crate::domain::consent::Scope::TransfersOwn | crate::domain::consent::Scope::TransfersAny
        )
    });
    let limits = if transfers && !accounts.is_empty() {
        let rows: String = accounts
            .iter()
            .map(|a| {
                format!(
                    "<li>{}: 1日 {}円まで <span class=\"en\">up to {} yen a day</span></li>",
                    escape(&a.label),
                    a.transfer_limit,
                    a.transfer_limit
                )
            })
            .collect();
        format!(
            r#"<dt>振込の上限 <span class="en">Transfer limits</span></dt>
<dd>口座ごとの1日の振込上限が適用されます。 <span class="en">Each account's daily transfer limit applies.</span><ul>{rows}</ul></dd>"#
        )
    } else {
        String::new()
    };
    let needs_otp = pending.scopes.iter().any(|s| s.moves_money());
    let (what_ja, what_en) =
        if pending.debit_limits.is_some() || pending.scopes.contains(&crate::domain::consent::Scope::Debits) {
            ("口座振替", "Account-debit")
        } else {
            ("振込", "Transfer")
        };
    let otp_field = if needs_otp {
        format!(
            r#"<div class="note"><label>ワンタイムパスワード <span class="en">One-time code</span>
<input type="text" name="otp" inputmode="numeric" autocomplete="one-time-code" required></label>
<span class="en">{what_ja}の権限には追加の認証が必要です。サンドボックスではテスト用ユーザーのコードが起動時に表示されます。 {what_en} authority needs a stronger login step; in the sandbox, test users' codes are printed at startup.</span></div>"#
        )
    } else {
        String::new()
    };
    let error = error
        .map(|e| format!(r#"<p class="error" role="alert">{}</p>"#, escape(e)))
        .unwrap_or_default();
    let scopes: String = pending
        .scopes
        .iter()
        .map(|s| {
            format!(
                "<li>{} <span class=\"en\">— {} (<code>{}</code>)</span></li>",
                escape(s.description_ja()),
                escape(s.description_en()),
                escape(s.as_str())
            )
        })
        .collect();
    let (access_ja, access_en) = duration_words(client.policy.access_ttl_secs);
    let (refresh_ja, refresh_en) = duration_words(client.policy.refresh_ttl_secs);
    let max = now
        .saturating_add(jiff::SignedDuration::from_secs(client.policy.refresh_max_lifetime_secs))
        .unwrap_or(now);
    let access_until = now
        .saturating_add(jiff::SignedDuration::from_secs(client.policy.access_ttl_secs))
        .unwrap_or(now);
    let body = format!(
        r#"<h1>アクセスの許可 <span class="en">Allow access</span></h1>
<p>{user} 様 <span class="en">Signed in as {user}</span></p>
<form method="post" action="{base}/oauth/authorize/consent">
<dl>
<dt>1. 接続先 <span class="en">Company receiving access</span></dt><dd>{company}</dd>
<dt>2. サービス名 <span class="en">Service that will use it</span></dt><dd>{service}</dd>
<dt>3. 許可する内容 <span class="en">What it may do</span></dt><dd><ul>{scopes}</ul></dd>
{mandate}
{limits}
<dt>4. 有効期限 <span class="en">How long it lasts</span></dt>
<dd>アクセストークン: {access_ja}（{access_until_ja} まで） <span class="en">Access token: {access_en} (until {access_until})</span><br>
リフレッシュトークン: {refresh_ja}ごとに更新、最長 <strong>{max_ja}</strong> まで延長可能 <span class="en">Refresh token: renewed every {refresh_en}; can be extended at most until <strong>{max}</strong></span><br>
それ以降は再度の許可が必要です。<span class="en">After that you must authorize again.</span></dd>
<dt>5. 解除の方法 <span class="en">How to cancel</span></dt>
<dd>いつでも解除できます：{service} の設定画面、または当行の連携サービス管理から解除してください（サンドボックスでは <code>DELETE /sandbox/v1/grants/&lt;grantId&gt;</code>、接続先は <code>POST /oauth/revoke</code>）。
<span class="en">You can cancel at any time from {service}'s settings or the bank's connected-services page (in the sandbox: <code>DELETE /sandbox/v1/grants/&lt;grantId&gt;</code>; the company can call <code>POST /oauth/revoke</code>).</span></dd>
<dt>6. ご注意 <span class="en">Cautions</span></dt>
<dd>当行は接続先のサービス内容を保証するものではありません。心当たりのない依頼や、内容に不明な点がある場合は「許可しない」を選んでください。当行の職員がパスワードを尋ねることはありません。
<span class="en">The bank does not vouch for the company's service. If you did not expect this request or are unsure, choose "Deny". The bank never asks for your password.</span></dd>
</dl>
{error}
<input type="hidden" name="request_id" value="{request_id}">
<input type="hidden" name="consent_token" value="{consent_token}">
{otp_field}
<button class="primary" type="submit" name="decision" value="approve">許可する / Allow</button>
<button type="submit" name="decision" value="deny">許可しない / Deny</button>
</form>"#,
        user = escape(user_display_name),
        company = escape(&client.company),
        service = escape(&client.service),
        scopes = scopes,
        access_ja = access_ja,
        access_en = access_en,
        access_until_ja = japanese_date(access_until),
        access_until = format_jst(access_until),
        refresh_ja = refresh_ja,
        refresh_en = refresh_en,
        max_ja = japanese_date(max),
        max = format_jst(max),
        request_id = escape(&pending.id),
        consent_token = escape(pending.consent_token.as_deref().unwrap_or("")),
        error = error,
        otp_field = otp_field,
        mandate = mandate,
        limits = limits,
    );
    layout("アクセスの許可 / Allow access", &body, bank_name)
}

/// An error the user must see (never a redirect to an untrusted URI).
pub fn error(bank_name: &str, message: &str) -> String {
    let body = format!(
        r#"<h1>エラー <span class="en">Error</span></h1>
<p class="error" role="alert">{}</p>
<p>接続先のサービスに戻り、最初からやり直してください。<br><span class="en">Go back to the service and start again.</span></p>"#,
        escape(message)
    );
    layout("エラー / Error", &body, bank_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }
}
