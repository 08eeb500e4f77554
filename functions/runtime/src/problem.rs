//! RFC 9457 problem details (`application/problem+json`).

use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

/// The media type of a problem document.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem document. `type` is a relative URI naming the kind of problem
/// (`/problems/invalid`), so clients can branch on it without parsing `detail`.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    kind: String,
    title: &'static str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    /// Per-event problems of a rejected batch, by position in the request.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<IndexedProblem>,
    #[serde(skip)]
    retry_after: Option<Duration>,
}

#[derive(Debug, Clone, Serialize)]
struct IndexedProblem {
    index: usize,
    #[serde(flatten)]
    problem: Problem,
}

impl Problem {
    /// A problem with the given status, kind label and detail.
    pub fn new(status: StatusCode, kind: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("/problems/{kind}"),
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: detail.into(),
            field: None,
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// Names the field at fault.
    pub fn with_field(mut self, field: &str) -> Self {
        self.field = Some(field.to_owned());
        self
    }

    /// Adds the problems of single events in a batch.
    pub fn with_errors(mut self, errors: Vec<(usize, Problem)>) -> Self {
        self.errors = errors
            .into_iter()
            .map(|(index, problem)| IndexedProblem { index, problem })
            .collect();
        self
    }

    /// Asks the sender to retry after this long (`Retry-After` header).
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// The `Retry-After` this problem is sent with, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The `detail` text.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(after) = self.retry_after {
            // Whole seconds, at least 1 (RFC 9110 section 10.2.3).
            let seconds = after.as_secs().max(1);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
