//! pact-notify's errors: the runtime's (bad events, a sink that failed),
//! plus a database call that failed or ran out of time and work left for a
//! later delivery, each answered 503 so the event source retries.

use std::future::Future;
use std::time::Duration;

use axum::response::{IntoResponse, Response};

/// `Retry-After` when the database failed or is not ready.
pub const DOWN_RETRY_AFTER: Duration = Duration::from_secs(5);
/// `Retry-After` when notifications are left for the next delivery.
pub const LEFT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Result with pact-notify's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a request was not done.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A database call failed.
    #[error("the database failed while {during}")]
    Database {
        /// What was being done.
        during: &'static str,
        /// The database's error.
        #[source]
        source: sqlx::Error,
    },
    /// A database call took longer than its limit.
    #[error("the database did not answer within {} ms while {during}", limit.as_millis())]
    DatabaseTimeout {
        /// What was being done.
        during: &'static str,
        /// `PACT_DB_TIMEOUT_MS`.
        limit: Duration,
    },
    /// Notifications of the case are left to do: another instance holds
    /// them, or this request's time ran out. Nothing is lost: the next
    /// delivery goes on from there.
    #[error("{0} notifications of the case are left for the next delivery")]
    Left(i64),
    /// Anything the runtime knows how to answer.
    #[error(transparent)]
    Runtime(#[from] pact_runtime::Error),
}

impl Error {
    /// Runs a database call under `limit`.
    pub async fn timed<T>(
        during: &'static str,
        limit: Duration,
        call: impl Future<Output = sqlx::Result<T>>,
    ) -> Result<T> {
        match tokio::time::timeout(limit, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(source)) => Err(Self::Database { during, source }),
            Err(_) => Err(Self::DatabaseTimeout { during, limit }),
        }
    }

    fn answer(self) -> pact_runtime::Error {
        let unavailable = |detail: String, retry_after| pact_runtime::Error::Unavailable {
            detail,
            retry_after,
        };
        match self {
            Self::Database { .. } | Self::DatabaseTimeout { .. } => unavailable(
                format!("{self}; retry later (no one is notified twice)"),
                DOWN_RETRY_AFTER,
            ),
            Self::Left(_) => unavailable(format!("{self}; retry shortly"), LEFT_RETRY_AFTER),
            Self::Runtime(e) => e,
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match &self {
            Self::Database { during, source } => {
                tracing::warn!(error = %source, during, "database call failed");
            }
            Self::DatabaseTimeout { during, limit } => {
                tracing::warn!(
                    during,
                    limit_ms = limit.as_millis(),
                    "database call timed out"
                );
            }
            Self::Left(left) => tracing::info!(left, "notifications left for the next delivery"),
            Self::Runtime(_) => return self.answer().into_response(),
        }
        self.answer().into_unlogged_response()
    }
}
