//! The runtime's error type and its mapping to HTTP status codes.
//!
//! Knative event sources retry 404, 408, 409, 429 and every 5xx, and send
//! everything else to their dead-letter sink. So a problem with the event itself
//! is only ever 400, 413, 415 or 422, and a problem that may go away (a sink or
//! database that is down) is 502, 503 or 504, which the source retries.

use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::StatusCode;

use crate::problem::Problem;

/// Most entries of a rejected batch listed in its problem document.
pub const MAX_LISTED_ERRORS: usize = 20;

/// Result with the runtime's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a request was not done. Each variant has one status code and one
/// `error_type` label; the `Display` text is the problem's `detail`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not a CloudEvent, or data that is not valid JSON or CSV.
    #[error("{0}")]
    Malformed(String),
    /// The request body is larger than the limit.
    #[error("the request body is larger than {limit_bytes} bytes; send smaller batches")]
    TooLarge {
        /// The limit in bytes.
        limit_bytes: usize,
    },
    /// More items in one request than an endpoint takes (counted while
    /// parsing, so the total is not known).
    #[error(
        "the request holds more than {limit} events; at most {limit} are taken at once, send the rest in another request"
    )]
    TooMany {
        /// Items accepted.
        limit: usize,
    },
    /// A content type this function does not read.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Well-formed, but a field breaks a rule of the contract.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field at fault, by its wire name (`mmid1`, `lat`, `type`...).
        field: String,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// Several events of one request were rejected; none was processed.
    #[error("{} of the events in this request are not acceptable; nothing was processed{}", .0.len(), if .0.len() > MAX_LISTED_ERRORS { " (the first 20 are listed)" } else { "" })]
    Batch(Vec<(usize, Error)>),
    /// A dependency is unavailable (the sink after retries, a database).
    #[error("{detail}")]
    Unavailable {
        /// What is unavailable.
        detail: String,
        /// How long the sender should wait before retrying.
        retry_after: Duration,
    },
    /// An upstream service answered with an error.
    #[error("{0}")]
    Upstream(String),
    /// An upstream service did not answer in time.
    #[error("{0}")]
    UpstreamTimeout(String),
    /// A bug: the sender can retry, but it should be rare.
    #[error("internal error")]
    Internal(String),
    /// A bug with an underlying error (an encoder that failed): answered
    /// as [`Error::Internal`], logged with `what` and the whole chain.
    #[error("internal error")]
    Bug {
        /// What failed, for the log.
        what: &'static str,
        /// The error under it.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// An error with every cause under it, `outer: inner: ...`, each cause's
/// text once (a cause that repeats what is already said is skipped).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

impl Error {
    /// Shorthand for [`Error::Malformed`].
    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::Malformed(detail.into())
    }

    /// Shorthand for [`Error::Bug`].
    pub fn bug(what: &'static str, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Bug {
            what,
            source: Box::new(source),
        }
    }

    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Malformed(_) => StatusCode::BAD_REQUEST,
            Self::TooLarge { .. } | Self::TooMany { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            // A batch is as bad as its worst event: malformed beats invalid.
            Self::Batch(errors) => errors
                .iter()
                .map(|(_, e)| e.status())
                .min_by_key(|s| s.as_u16())
                .unwrap_or(StatusCode::UNPROCESSABLE_ENTITY),
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::Internal(_) | Self::Bug { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A short fixed label for metrics and logs.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::TooLarge { .. } | Self::TooMany { .. } => "too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Invalid { .. } => "invalid",
            Self::Batch(_) => "batch",
            Self::Unavailable { .. } => "unavailable",
            Self::Upstream(_) => "upstream",
            Self::UpstreamTimeout(_) => "upstream_timeout",
            Self::Internal(_) | Self::Bug { .. } => "internal",
        }
    }

    /// Whether the sender should retry (Knative's rule: 5xx).
    pub fn is_transient(&self) -> bool {
        self.status().is_server_error()
    }

    /// The RFC 9457 problem document for this error.
    pub fn to_problem(&self) -> Problem {
        let status = self.status();
        let mut problem = Problem::new(status, self.error_type(), self.to_string());
        match self {
            Self::Invalid { field, .. } => problem = problem.with_field(field),
            // A bounded answer however bad the batch: the first few, and
            // the count in the detail.
            Self::Batch(errors) => {
                problem = problem.with_errors(
                    errors
                        .iter()
                        .take(MAX_LISTED_ERRORS)
                        .map(|(index, e)| (*index, e.to_problem()))
                        .collect(),
                )
            }
            Self::Unavailable { retry_after, .. } => {
                problem = problem.with_retry_after(*retry_after)
            }
            Self::Upstream(_) | Self::UpstreamTimeout(_) => {
                problem = problem.with_retry_after(Duration::from_secs(1))
            }
            _ => {}
        }
        problem
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        // The detail may quote the sender's values (ids, coordinates), which
        // are personal data: only the kind and the field go above DEBUG.
        let field = match &self {
            Self::Invalid { field, .. } => field.as_str(),
            _ => "",
        };
        match &self {
            Self::Internal(cause) => tracing::error!(cause, "internal error"),
            Self::Bug { what, source } => {
                tracing::error!(cause = what, error = %chain(source.as_ref()), "internal error")
            }
            e if e.is_transient() => {
                tracing::warn!(error_type = e.error_type(), detail = %e, "request not done, the sender should retry")
            }
            e => tracing::warn!(error_type = e.error_type(), field, "request rejected"),
        }
        tracing::debug!(detail = %self, "problem detail");
        self.into_unlogged_response()
    }
}

impl Error {
    /// The answer for this error without logging it: for a failure that
    /// was logged once already, with its cause, where it happened (each
    /// failure is logged once). Otherwise use `into_response`, which logs.
    pub fn into_unlogged_response(self) -> Response {
        let mut response = self.to_problem().into_response();
        response
            .extensions_mut()
            .insert(ErrorType(self.error_type()));
        response
    }
}

/// Carried in the response extensions so the metrics middleware can count
/// rejections by kind without parsing the body.
#[derive(Debug, Clone, Copy)]
pub struct ErrorType(pub &'static str);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_data_is_never_a_status_knative_retries() {
        let permanent = [
            Error::malformed("x"),
            Error::TooLarge { limit_bytes: 1 },
            Error::UnsupportedMediaType("x".into()),
            Error::invalid("lat", "x"),
            Error::Batch(vec![(0, Error::invalid("lat", "x"))]),
        ];
        for e in permanent {
            let code = e.status().as_u16();
            assert!(
                [400, 413, 415, 422].contains(&code),
                "{e:?} answered {code}"
            );
            assert!(!e.is_transient());
        }
    }

    #[test]
    fn dependency_failures_are_retried() {
        let transient = [
            Error::Unavailable {
                detail: "x".into(),
                retry_after: Duration::from_secs(1),
            },
            Error::Upstream("x".into()),
            Error::UpstreamTimeout("x".into()),
        ];
        for e in transient {
            assert!(e.is_transient(), "{e:?}");
            assert!(e.to_problem().retry_after().is_some(), "{e:?}");
        }
    }

    #[test]
    fn a_batch_takes_the_most_permanent_status() {
        let e = Error::Batch(vec![
            (3, Error::invalid("lat", "x")),
            (7, Error::malformed("x")),
        ]);
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }
}
