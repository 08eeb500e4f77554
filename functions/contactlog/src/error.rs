//! pact-contactlog's errors: the runtime's (bad events, 503s), plus a write
//! the group commit could not do and a retention purge that failed, each
//! with the database error under it as its source.
//!
//! Each failure is logged once: the writer logs a failed or timed-out
//! commit (once per batch, with the cause), so those answers are not logged
//! again per request; everything else is logged where it is answered.

use std::time::Duration;

use axum::response::{IntoResponse, Response};

use crate::commit::WriteError;

/// `Retry-After` when the writer's queue is full.
pub const BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);
/// `Retry-After` when the database failed or is not ready.
pub const DOWN_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Result with pact-contactlog's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a request was not done.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The group commit did not store the request's rows.
    #[error("the rows were not stored")]
    Write(#[from] WriteError),
    /// The retention purge failed part way (what it deleted stays deleted).
    #[error("the retention purge failed after deleting {deleted} rows")]
    Purge {
        /// Rows deleted before the failure.
        deleted: u64,
        /// The database's error.
        #[source]
        source: sqlx::Error,
    },
    /// Anything the runtime knows how to answer.
    #[error(transparent)]
    Runtime(#[from] pact_runtime::Error),
}

impl Error {
    /// The runtime's answer: 503 with `Retry-After` for what may pass, 422
    /// for rows the database refuses.
    fn answer(self) -> pact_runtime::Error {
        let unavailable = |detail: String, retry_after| pact_runtime::Error::Unavailable {
            detail,
            retry_after,
        };
        match self {
            Self::Write(WriteError::Busy) => unavailable(
                "too many writes are waiting; retry shortly".into(),
                BUSY_RETRY_AFTER,
            ),
            Self::Write(WriteError::Stopped | WriteError::Unavailable(_)) => unavailable(
                "the database did not commit the rows; retry later".into(),
                DOWN_RETRY_AFTER,
            ),
            Self::Write(WriteError::TimedOut(limit)) => unavailable(
                format!(
                    "the database did not commit within {} ms; retry later \
                     (an event already stored is never stored twice)",
                    limit.as_millis()
                ),
                DOWN_RETRY_AFTER,
            ),
            Self::Write(WriteError::Rejected(why)) => {
                pact_runtime::Error::invalid("data", format!("the database refused the row: {why}"))
            }
            Self::Purge { .. } => unavailable(
                "the database failed during the retention purge; retry later".into(),
                DOWN_RETRY_AFTER,
            ),
            Self::Runtime(e) => e,
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        // A failed or timed-out commit was logged by the writer, once per
        // batch, with the cause.
        let mut logged = matches!(
            self,
            Self::Write(WriteError::Unavailable(_) | WriteError::TimedOut(_))
        );
        if let Self::Purge { deleted, source } = &self {
            tracing::warn!(error = %source, deleted, "retention purge failed");
            logged = true;
        }
        let answer = self.answer();
        if logged {
            answer.into_unlogged_response()
        } else {
            answer.into_response()
        }
    }
}
