//! pact-query's errors: the runtime's, plus the two a read API adds — a bad
//! query parameter (400 naming it) and a missing or wrong token (401).
//!
//! Everything is answered as RFC 9457 `application/problem+json`. The
//! runtime maps `Invalid` to 422 (an event that breaks a rule); for query
//! parameters the contract asks 400, so [`Error::Parameter`] is the
//! runtime's `Malformed` (400) with the parameter in the problem's `field`.

use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use pact_runtime::error::ErrorType;
use pact_runtime::problem::Problem;

/// Result with pact-query's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a request was not answered with data.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A query or path parameter is missing, unknown or not acceptable.
    #[error("{name}: {reason}")]
    Parameter {
        /// The parameter, by its name in the URL (`limit`, `mmid`...).
        name: String,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// No token, or not an accepted one.
    #[error("{0}")]
    Unauthorized(Unauthorized),
    /// The thing asked for is not recorded (a case pact-notify has not
    /// seen): 404, which only a person or a page reads here.
    #[error("{0}")]
    NotFound(String),
    /// The database failed: 503 when it may answer later, 504 when it
    /// stopped a statement at its time limit, 500 otherwise (see
    /// [`Error::answer`]).
    #[error("the database failed")]
    Database(#[from] sqlx::Error),
    /// Anything the runtime knows how to answer (503, 500...).
    #[error(transparent)]
    Runtime(#[from] pact_runtime::Error),
}

/// Why a request carries no acceptable token; decides the RFC 6750
/// `WWW-Authenticate` challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unauthorized {
    /// No `Authorization` header at all.
    Missing,
    /// An `Authorization` header that is not `Bearer <token>`.
    NotBearer,
    /// A bearer token that is not one of the accepted ones.
    WrongToken,
}

impl std::fmt::Display for Unauthorized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Missing => "this endpoint needs an Authorization: Bearer <token> header",
            Self::NotBearer => "the Authorization header must be Bearer <token>",
            Self::WrongToken => "the bearer token is not accepted; ask for a valid one",
        })
    }
}

impl Error {
    /// Shorthand for [`Error::Parameter`].
    pub fn parameter(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Parameter {
            name: name.into(),
            reason: reason.into(),
        }
    }

    /// 503 with `Retry-After`: the database cannot answer now.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::Runtime(pact_runtime::Error::Unavailable {
            detail: detail.into(),
            retry_after: Duration::from_secs(1),
        })
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Parameter { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Database(e) => {
                answer(e).map_or(StatusCode::INTERNAL_SERVER_ERROR, |a| a.status())
            }
            Self::Runtime(e) => e.status(),
        }
    }
}

/// The runtime's answer for a database failure the client may retry, or
/// `None` for a bug (500, answered as the runtime's [`pact_runtime::Error::Bug`]
/// with the database error as its source). Connection trouble (the
/// database down, restarting, out of connections, a busy SQLite file, a
/// lock not granted in time) is a 503 the client may retry; a statement the
/// server stopped at its `statement_timeout` is a 504 like pact-query's own
/// read timeout; any other database error is a bug.
fn answer(e: &sqlx::Error) -> Option<pact_runtime::Error> {
    // PostgreSQL 57014 query_canceled: the pool's statement_timeout.
    if let sqlx::Error::Database(db) = e
        && db.code().as_deref() == Some("57014")
    {
        return Some(pact_runtime::Error::UpstreamTimeout(
            "the database stopped a read that ran past its time limit; retry shortly, or \
             ask for a smaller window"
                .into(),
        ));
    }
    let transient = match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // PostgreSQL: 08 connection exception, 53300 too many
            // connections, 55P03 lock_timeout (another session holds
            // the table), 57P01-57P03 shutdown/crash/cannot connect now.
            // SQLite: 5 SQLITE_BUSY, 6 SQLITE_LOCKED.
            code.starts_with("08")
                || matches!(
                    &*code,
                    "53300" | "55P03" | "57P01" | "57P02" | "57P03" | "5" | "6"
                )
        }),
        _ => false,
    };
    transient.then(|| pact_runtime::Error::Unavailable {
        detail: "the database is not available; retry shortly".into(),
        retry_after: Duration::from_secs(1),
    })
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match self {
            Self::Runtime(e) => e.into_response(),
            Self::Database(e) => match answer(&e) {
                // Logged here once, with the driver's error, which the
                // answer does not quote.
                Some(retry) => {
                    tracing::warn!(error_type = retry.error_type(), error = %e, "database read failed; the client may retry");
                    retry.into_unlogged_response()
                }
                // A bug: the runtime logs it once, with its cause.
                None => pact_runtime::Error::bug("database read failed", e).into_response(),
            },
            Self::Parameter { name, reason } => {
                // The reason may quote the value (a person id): not above DEBUG.
                tracing::warn!(error_type = "malformed", field = %name, "request rejected");
                tracing::debug!(%reason, "problem detail");
                let detail = format!("{name}: {reason}");
                let mut response = pact_runtime::Error::malformed(detail)
                    .to_problem()
                    .with_field(&name)
                    .into_response();
                response.extensions_mut().insert(ErrorType("malformed"));
                response
            }
            Self::NotFound(detail) => {
                let mut response =
                    Problem::new(StatusCode::NOT_FOUND, "not_found", detail).into_response();
                response.extensions_mut().insert(ErrorType("not_found"));
                response
            }
            Self::Unauthorized(why) => {
                tracing::warn!(error_type = "unauthorized", "request rejected");
                let mut response =
                    Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", why.to_string())
                        .into_response();
                // RFC 6750 section 3: no error code when no credentials were sent.
                let challenge = match why {
                    Unauthorized::Missing => r#"Bearer realm="pact-query""#,
                    Unauthorized::NotBearer => {
                        r#"Bearer realm="pact-query", error="invalid_request""#
                    }
                    Unauthorized::WrongToken => {
                        r#"Bearer realm="pact-query", error="invalid_token""#
                    }
                };
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(challenge),
                );
                response.extensions_mut().insert(ErrorType("unauthorized"));
                response
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_400_and_named() {
        let e = Error::parameter("depth", "at most 3");
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        let problem = pact_runtime::Error::malformed(e.to_string()).to_problem();
        assert_eq!(problem.detail(), "depth: at most 3");
    }

    /// A database error with only a code, as the driver reports one.
    #[derive(Debug)]
    struct Coded(&'static str);

    impl std::fmt::Display for Coded {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "error {}", self.0)
        }
    }

    impl std::error::Error for Coded {}

    impl sqlx::error::DatabaseError for Coded {
        fn message(&self) -> &str {
            self.0
        }
        fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
            Some(self.0.into())
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    #[test]
    fn server_side_time_limits_are_retried_later() {
        let status = |code| Error::from(sqlx::Error::Database(Box::new(Coded(code)))).status();
        assert_eq!(status("57014"), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(status("55P03"), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status("5"), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status("42P01"), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn a_closed_pool_is_retried_later() {
        let e = Error::from(sqlx::Error::PoolClosed);
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        let e = Error::from(sqlx::Error::RowNotFound);
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
