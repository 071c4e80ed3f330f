//! One error type for the API, rendered as RFC 9457 problem details with a stable
//! snake_case `code`. The request-context middleware adds the `requestId` to the body.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// RFC 9457 problem details, as every API error is answered.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// URI identifying the problem type (`urn:sandbank:problem:{code}`).
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short summary of the problem type.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// What went wrong with this request and how to fix it.
    pub detail: String,
    /// Stable machine-readable error code (snake_case).
    pub code: String,
    /// The `x-request-id` of the failed request, for support.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Per-field problems (e.g. each bad transfer item), when there are several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// For 429: the capacity limit that was reached (bank-wide limits are named `bank.{name}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
    /// For a maintenance stop: the window's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maintenance_window: Option<String>,
}

impl Problem {
    /// A problem of `status` with its code and detail, without a request id.
    pub fn new(status: StatusCode, code: &str, detail: &str) -> Problem {
        Problem {
            problem_type: format!("urn:sandbank:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.to_owned(),
            code: code.to_owned(),
            request_id: None,
            errors: Vec::new(),
            limit: None,
            maintenance_window: None,
        }
    }
}

pub use crate::domain::validation::FieldError;

/// An API error: status, stable code and a message that says what to fix.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    /// Extra `WWW-Authenticate` challenge for 401/403 on bearer-protected resources.
    pub www_authenticate: Option<Box<str>>,
    /// Per-field problems.
    pub errors: Vec<FieldError>,
    /// Seconds for a `Retry-After` header (503 and 429 answers).
    pub retry_after: Option<u16>,
    /// What failed inside, for the server log (never shown to the caller): the front layer
    /// logs it once, with the request id.
    pub cause: Option<Box<str>>,
    /// A reason finer than `code` (e.g. `token_expired` under `invalid_token`) for the access
    /// log; `code` when absent.
    pub reason: Option<&'static str>,
}

/// Why a call was refused, carried in the answer's extensions to the access log: a stable
/// reason code (the answer's own code, or a finer one named by the code that refused) and the
/// detail it gave. The portal's explainer reads it back; nothing guesses afterwards.
#[derive(Debug, Clone)]
pub struct RefusalReason {
    pub reason: std::borrow::Cow<'static, str>,
    pub detail: String,
}

impl RefusalReason {
    pub fn new(reason: impl Into<std::borrow::Cow<'static, str>>, detail: impl Into<String>) -> RefusalReason {
        RefusalReason {
            reason: reason.into(),
            detail: detail.into(),
        }
    }
}

/// The inside cause of an error answer, carried in the response's extensions to the front
/// layer, which logs it with the request id.
#[derive(Debug, Clone)]
pub struct ErrorCause(pub Box<str>);

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            detail: detail.into(),
            www_authenticate: None,
            errors: Vec::new(),
            retry_after: None,
            cause: None,
            reason: None,
        }
    }

    /// Names a reason finer than the code, for the access log.
    pub fn because(mut self, reason: &'static str) -> Self {
        self.reason = Some(reason);
        self
    }

    /// Adds `Retry-After: {seconds}`.
    pub fn retry_after(mut self, seconds: u16) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Adds per-field problems.
    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    /// 422 for something that cannot be used: `"{summary}: {every problem}"`, with one
    /// `errors[]` entry per problem, each written `field: what to fix` (`default_field` when a
    /// problem names no field).
    pub fn unusable(code: &'static str, summary: &str, default_field: &str, problems: Vec<String>) -> Self {
        let errors = problems
            .iter()
            .map(|m| {
                let (field, message) = m.split_once(": ").unwrap_or((default_field, m));
                FieldError {
                    item_id: None,
                    field: field.to_owned(),
                    message: message.to_owned(),
                }
            })
            .collect();
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            code,
            format!("{summary}: {}", problems.join("; ")),
        )
        .with_errors(errors)
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn not_found(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, detail)
    }

    /// 401 for a missing bearer token (RFC 6750 §3.1: no error code in the challenge).
    pub fn missing_token() -> Self {
        ApiError {
            www_authenticate: Some("Bearer realm=\"sandbank\"".into()),
            ..Self::new(
                StatusCode::UNAUTHORIZED,
                "missing_token",
                "send an access token as `Authorization: Bearer <token>` (or `x-access-token`)",
            )
        }
    }

    /// 401 `invalid_token`: unknown, expired or revoked.
    pub fn invalid_token(detail: impl Into<String>) -> Self {
        let detail = detail.into();
        ApiError {
            www_authenticate: Some(
                format!(
                    "Bearer realm=\"sandbank\", error=\"invalid_token\", error_description=\"{}\"",
                    detail.replace('"', "'")
                )
                .into(),
            ),
            ..Self::new(StatusCode::UNAUTHORIZED, "invalid_token", detail)
        }
    }

    /// 403 `insufficient_scope` naming the scope the endpoint needs.
    pub fn insufficient_scope(scope: &str) -> Self {
        ApiError {
            www_authenticate: Some(
                format!("Bearer realm=\"sandbank\", error=\"insufficient_scope\", scope=\"{scope}\"").into(),
            ),
            ..Self::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!("this endpoint needs the `{scope}` scope, which the token's grant does not include"),
            )
        }
    }

    pub fn internal(what: impl std::fmt::Display) -> Self {
        tracing::error!(error = %what, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "the sandbox hit an internal error; the request id identifies it in the server log",
        )
    }

    /// The problem document, without a request id.
    pub fn problem(&self) -> Problem {
        Problem {
            errors: self.errors.clone(),
            ..Problem::new(self.status, self.code, &self.detail)
        }
    }
}

/// A storage failure as the caller sees it: a full disk is 507 `insufficient_storage` (write
/// nothing more until room is made), any other storage fault 503 `storage_unavailable` with
/// `Retry-After`; neither was written. The front layer logs the cause once, with the request id.
impl From<crate::storage::StorageError> for ApiError {
    fn from(e: crate::storage::StorageError) -> Self {
        use crate::storage::StorageError;
        match e {
            StorageError::NoSpace(_) => ApiError {
                cause: Some(e.to_string().into()),
                ..ApiError::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "insufficient_storage",
                    "the server's disk is full, so this was not stored; reads still work, and deleting sandboxes or snapshots frees room",
                )
            },
            StorageError::Unavailable(_) => ApiError {
                cause: Some(e.to_string().into()),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    "the server's storage failed, so this was not stored; retry in a moment",
                )
                .retry_after(1)
            },
            StorageError::Codec(_) => ApiError::internal(e),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

/// Renders a problem body (with `request_id` when known).
pub fn problem_response(status: StatusCode, problem: &Problem) -> Response {
    let body = serde_json::to_vec(problem).unwrap_or_default();
    let mut res = (status, body).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    res
}

/// A problem answer whose code is not one of ours (a fault rule's or a scenario's), with the
/// request id added by the request-context middleware like every other problem.
pub fn problem_answer(status: StatusCode, code: &str, detail: &str) -> Response {
    problem_of(Problem::new(status, code, detail))
}

/// An answer with this problem document (the request-context layer adds the request id).
pub fn problem_of(problem: Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = problem_response(status, &problem);
    res.extensions_mut()
        .insert(RefusalReason::new(problem.code.clone(), problem.detail.clone()));
    res.extensions_mut().insert(problem);
    res
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = self.problem();
        let mut res = problem_response(self.status, &problem);
        if let Some(challenge) = &self.www_authenticate
            && let Ok(v) = HeaderValue::from_str(challenge)
        {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        if let Some(seconds) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(cause) = self.cause {
            res.extensions_mut().insert(ErrorCause(cause));
        }
        res.extensions_mut()
            .insert(RefusalReason::new(self.reason.unwrap_or(self.code), self.detail));
        // The request-context middleware re-renders the body with the request id.
        res.extensions_mut().insert(problem);
        res
    }
}

/// The answer while client authentications from the caller's address are held back (too many
/// failed ones in a row): 429 with the time it ends and Retry-After (sandbox seconds).
pub fn held_back(until: jiff::Timestamp, retry_after: u16) -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "client_authentication_held_back",
        format!(
            "too many failed client authentications from your address: every client authentication from it is held back until {} (sandbox time); the sandbox control plane's POST /sandbox/v1/clients/{{clientId}}/unlock lifts it",
            crate::clock::format_jst(until)
        ),
    )
    .retry_after(retry_after)
}
