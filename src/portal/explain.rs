//! "Why was this refused": a plain-language explanation and what to do for each refusal
//! reason the access log records. The reason code is the one the refusing code named when it
//! answered (see `http::error::RefusalReason`), and the detail it told the caller carries the
//! facts (when the token expired, which scope, which limit); nothing is guessed afterwards.

/// The explanation of one refusal: why (Japanese, English) and what to do (English).
pub struct Explanation {
    pub why_ja: &'static str,
    pub why: &'static str,
    pub todo: &'static str,
}

const fn ex(why_ja: &'static str, why: &'static str, todo: &'static str) -> Explanation {
    Explanation { why_ja, why, todo }
}

/// The explanation of `reason`, or `None` for a reason this table does not know (the
/// detail the caller was told is then all there is).
pub fn explain(reason: &str) -> Option<Explanation> {
    Some(match reason {
        "token_expired" => ex(
            "アクセストークンの有効期限切れ",
            "The access token had expired (on the sandbox clock) when the call was made.",
            "Use the refresh token at the token endpoint (grant_type=refresh_token) and retry with the new access token. Advancing the sandbox clock makes tokens expire sooner than you may expect.",
        ),
        "invalid_token" => ex(
            "アクセストークンが無効",
            "The access token is not one this sandbox issued, or its grant was revoked.",
            "Check you send the token of this sandbox (each sandbox has its own issuer), and get a new one through the authorization flow if the consent was revoked.",
        ),
        "missing_token" => ex(
            "アクセストークンがありません",
            "The call carried no access token.",
            "Send `Authorization: Bearer <access token>`.",
        ),
        "insufficient_scope" => ex(
            "スコープ不足",
            "The token's grant does not include the scope this API needs (named in the detail).",
            "Ask for that scope in the authorization request (and make sure the client may request it: Clients → edit scopes), then let the user consent again.",
        ),
        "wrong_segment" => ex(
            "個人・法人の区分違い",
            "The token belongs to the other API segment (personal vs corporation).",
            "Call /personal/v1 with an individual's token and /corporation/v1 with a corporate user's token.",
        ),
        "pkce_mismatch" => ex(
            "PKCE検証の失敗",
            "The code_verifier sent to the token endpoint does not hash (S256) to the code_challenge of the authorization request.",
            "Send the same code_verifier you derived the code_challenge from, base64url(SHA-256(verifier)) without padding; keep it per authorization request.",
        ),
        "redirect_uri_not_registered" => ex(
            "リダイレクトURIが未登録",
            "The authorization request's redirect_uri is not registered for the client; it must match exactly (scheme, host, port, path). The registered ones are listed in the detail.",
            "Use one of the registered URIs, or add yours on the Clients page (edit redirect URIs).",
        ),
        "authorization_refused" => ex(
            "認可リクエストの拒否",
            "The authorization request could not be accepted (see the detail).",
            "Fix the parameter the detail names and start the authorization again.",
        ),
        "invalid_grant" => ex(
            "グラントが無効",
            "The code or refresh token was unknown, expired, already used, or issued to another client.",
            "Codes are single use and short-lived: run the authorization again. A reused refresh token revokes its grant.",
        ),
        "invalid_client" => ex(
            "クライアント認証の失敗",
            "The client id or secret was wrong (or the secret was rotated out).",
            "Send the client's current secret (Clients page) with HTTP Basic.",
        ),
        "rate_limited" => ex(
            "流量制限",
            "A capacity limit was reached; the detail names which (per client, per user, or bank-wide) and when to retry.",
            "Wait for Retry-After seconds and retry with backoff; see Rehearse → capacity for the limits in force.",
        ),
        "client_authentication_held_back" => ex(
            "クライアント認証の一時停止",
            "Too many failed client authentications came from your address, so they are held back for a while.",
            "Fix the secret, wait until the time in the detail, or lift it on the Clients page (unlock).",
        ),
        "maintenance" => ex(
            "メンテナンス中",
            "The bank is in a maintenance window; the API is closed until it ends.",
            "Retry after the window (Retry-After); the public maintenance notices announce windows in advance. Rehearse → maintenance lists and cancels them.",
        ),
        "client_suspended" => ex(
            "接続先の利用停止",
            "The bank has suspended this connecting company; the detail gives the reason.",
            "A real bank would contact you; here, resume the client on Rehearse → kill switch.",
        ),
        "user_suspended" => ex(
            "利用者の利用停止",
            "The bank has stopped API access for this user; the detail gives the reason.",
            "Resume the user on Rehearse → kill switch.",
        ),
        "service_stopped" => ex(
            "全面停止",
            "The bank has stopped API access for every connecting company (the kill switch).",
            "Lift the bank-wide stop on Rehearse → kill switch.",
        ),
        "idempotency_key_reused" => ex(
            "冪等キーの再利用",
            "This Idempotency-Key was already used with a different request body; the bank will not run a different request under the same key.",
            "Use a new key for a new request; retry with the same key only with the identical body.",
        ),
        "idempotency_key_in_use" => ex(
            "冪等キーの処理中",
            "A request with this Idempotency-Key is still being processed.",
            "Wait for the first request's answer, then retry with the same key to get it replayed.",
        ),
        "fault_injected" | "fault_rule" => ex(
            "障害ルールの発動",
            "A fault rule of this sandbox made this answer on purpose.",
            "That is the rehearsal working: see the rule on the Rehearse page, or remove it.",
        ),
        "storage_quota_exceeded" => ex(
            "容量超過",
            "The sandbox's storage quota is full, so nothing more is stored.",
            "Delete snapshots or reset the sandbox; the operator can raise the quota.",
        ),
        "insufficient_storage" | "storage_unavailable" => ex(
            "保存できません",
            "The server could not store the request (disk full or storage fault); nothing was written.",
            "Retry later; tell the operator if it lasts.",
        ),
        "invalid_request" | "invalid_json" | "invalid_body" | "validation_failed" => ex(
            "リクエストの誤り",
            "The request itself was malformed or a field was invalid (the detail names it).",
            "Fix the field the detail names; the OpenAPI description (Swagger UI) shows every field.",
        ),
        "not_found" => ex(
            "見つかりません",
            "No such endpoint or resource.",
            "Check the path against Swagger UI, and the id against Bank data.",
        ),
        _ => return None,
    })
}
