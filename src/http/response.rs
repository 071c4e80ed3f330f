//! Answer bodies written by hand for the hottest answers (see `JsonObject`). The buffer is
//! sized up front: axum's `Json` starts at 128 bytes and grows by copying, which the profile
//! showed as a tenth of a 50-item history page's time.

use axum::http::StatusCode;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// A JSON object written by hand, for the answers the profile shows serde spending most of
/// its time on (a 50-item history page): keys are the API's own ASCII names and are written
/// as they are, numbers-as-strings and dates need no escaping, and only free text goes through
/// serde_json's escaping. A test next to each use holds the output equal to the serde-derived
/// schema type's.
pub struct JsonObject {
    buf: Vec<u8>,
    first: bool,
}

impl JsonObject {
    pub fn with_capacity(bytes: usize) -> Self {
        let mut buf = Vec::with_capacity(bytes);
        buf.push(b'{');
        JsonObject { buf, first: true }
    }

    fn key(&mut self, key: &str) {
        if !std::mem::take(&mut self.first) {
            self.buf.push(b',');
        }
        self.buf.push(b'"');
        self.buf.extend_from_slice(key.as_bytes());
        self.buf.extend_from_slice(b"\":");
    }

    /// Free text, escaped.
    pub fn text(&mut self, key: &str, value: &str) {
        self.key(key);
        // Writing a &str into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut self.buf, value);
    }

    /// A value known to need no escaping (codes, ids, dates, times).
    pub fn plain(&mut self, key: &str, value: &str) {
        self.key(key);
        self.buf.push(b'"');
        self.buf.extend_from_slice(value.as_bytes());
        self.buf.push(b'"');
    }

    /// An integer written as a JSON string (the API's amounts).
    pub fn int_string(&mut self, key: &str, value: i64) {
        self.key(key);
        self.buf.push(b'"');
        self.buf.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
        self.buf.push(b'"');
    }

    pub fn number(&mut self, key: &str, value: u64) {
        self.key(key);
        self.buf.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    }

    pub fn bool(&mut self, key: &str, value: bool) {
        self.key(key);
        self.buf.extend_from_slice(if value { b"true" } else { b"false" });
    }

    /// The buffer itself, for an object whose fields are written as one template (the caller
    /// writes the separators; the next field through this object gets its comma).
    pub fn raw(&mut self) -> &mut Vec<u8> {
        self.first = false;
        &mut self.buf
    }

    /// An array of objects, each written by `item`.
    pub fn array<T>(
        &mut self,
        key: &str,
        items: impl IntoIterator<Item = T>,
        mut item: impl FnMut(&mut JsonObject, T),
    ) {
        self.key(key);
        self.buf.push(b'[');
        for (i, t) in items.into_iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            let mut inner = JsonObject {
                buf: std::mem::take(&mut self.buf),
                first: true,
            };
            inner.buf.push(b'{');
            item(&mut inner, t);
            self.buf = inner.finish_bytes();
        }
        self.buf.push(b']');
    }

    pub(crate) fn finish_bytes(mut self) -> Vec<u8> {
        self.buf.push(b'}');
        self.buf
    }

    /// The object as a JSON answer.
    pub fn into_response(self) -> Response {
        let mut res = Response::new(axum::body::Body::from(self.finish_bytes()));
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        res
    }
}

/// An error answer of the token endpoint (RFC 6749 §5.2).
pub fn oauth_answer(status: StatusCode, error: &str, description: &str) -> Response {
    let mut res = (
        status,
        axum::Json(serde_json::json!({"error": error, "error_description": description})),
    )
        .into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.extensions_mut()
        .insert(crate::http::error::RefusalReason::new(error.to_owned(), description));
    res
}

/// `Retry-After` in whole seconds, at least 1.
pub fn retry_after(headers: &mut axum::http::HeaderMap, secs: u64) {
    headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
}
