//! Answer bodies. `SizedJson` serializes into a buffer sized up front: axum's `Json` starts at
//! 128 bytes and grows by copying, which the profile showed as a tenth of a 50-item history
//! page's time.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// JSON with a capacity hint for its body, in bytes.
pub struct SizedJson<T>(pub T, pub usize);

impl<T: Serialize> IntoResponse for SizedJson<T> {
    fn into_response(self) -> Response {
        let mut buf = Vec::with_capacity(self.1);
        match serde_json::to_writer(&mut buf, &self.0) {
            Ok(()) => {
                let mut res = Response::new(axum::body::Body::from(buf));
                res.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                res
            }
            Err(e) => crate::error::ApiError::internal(format!("could not write the answer: {e}")).into_response(),
        }
    }
}
