//! The axum layer: requests to the protected routes pass only with a
//! sender's valid token, and a refusal is answered as problem+json.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use super::{MIN_REFRESH_INTERVAL, SenderAuth, Verifier};
use crate::error::{Error, ErrorType};
use crate::problem::Problem;

/// Puts `routes` behind sender authentication when `auth` asks for it. Only
/// the routes given are wrapped (the event route), never the contract's
/// `/healthz`, `/readyz` and `/metrics` added later.
pub fn protect(routes: Router, auth: &SenderAuth) -> Router {
    match auth {
        SenderAuth::None => routes,
        SenderAuth::Oidc(settings) => {
            let verifier = Arc::new(Verifier::new((**settings).clone()));
            routes.route_layer(axum::middleware::from_fn_with_state(
                verifier,
                require_sender,
            ))
        }
    }
}

async fn require_sender(
    State(verifier): State<Arc<Verifier>>,
    request: Request,
    next: Next,
) -> Response {
    match verifier.verify(request.headers()).await {
        Ok(subject) => {
            tracing::debug!(%subject, "sender authenticated");
            next.run(request).await
        }
        Err(rejection) => rejection.into_response(),
    }
}

/// Why a request was not let through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// No bearer token.
    #[error("no bearer token")]
    Missing,
    /// A token that does not verify; the reason is fixed text.
    #[error("{0}")]
    Invalid(&'static str),
    /// A valid token of a subject that may not send here.
    #[error("subject {0} may not send events here")]
    Forbidden(String),
    /// The keys could not be had; the sender should retry.
    #[error("{0}")]
    Unavailable(String),
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let (status, kind, challenge) = match &self {
            Self::Missing => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                Some(r#"Bearer realm="pact""#.to_owned()),
            ),
            Self::Invalid(reason) => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                Some(format!(
                    r#"Bearer realm="pact", error="invalid_token", error_description="{reason}""#
                )),
            ),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", None),
            Self::Unavailable(detail) => {
                return Error::Unavailable {
                    detail: format!(
                        "the sender's token cannot be checked now: {detail}; retry later"
                    ),
                    retry_after: MIN_REFRESH_INTERVAL,
                }
                .into_response();
            }
        };
        // A subject is a service account name, not personal data; the token
        // itself is never logged.
        tracing::warn!(reason = %self, status = status.as_u16(), "sender not authenticated");
        let detail = match &self {
            Self::Missing => "this endpoint takes events only from the event sources allowed to send here, with their OIDC token in Authorization: Bearer".to_owned(),
            other => format!("the bearer token was not accepted: {other}"),
        };
        let mut response = Problem::new(status, kind, detail).into_response();
        if let Some(challenge) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        response.extensions_mut().insert(ErrorType(kind));
        response
    }
}
