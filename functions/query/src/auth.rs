//! Bearer-token authentication of the data endpoints (RFC 6750).
//!
//! A layer on the data routes only: `/healthz`, `/readyz`, `/metrics` and
//! `/openapi.json` stay open. It runs before anything reads the request, so
//! without a token nothing about the parameters or the data leaks, not even
//! whether a parameter was valid. Tokens are compared in constant time
//! ([`Tokens::accepts`]) and never logged.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, header};

use crate::config::{Auth, Tokens};
use crate::error::{Error, Unauthorized};

/// Middleware: passes the request on only with an accepted token (or when
/// access is open).
pub async fn require_token(
    State(auth): State<Arc<Auth>>,
    request: Request,
    next: Next,
) -> Response {
    if let Auth::Bearer(tokens) = &*auth
        && let Err(why) = check(request.headers(), tokens)
    {
        return Error::Unauthorized(why).into_response();
    }
    next.run(request).await
}

/// `Authorization: Bearer <token>`; the scheme is case-insensitive (RFC
/// 9110 section 11.1).
fn check(headers: &HeaderMap, tokens: &Tokens) -> Result<(), Unauthorized> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(Unauthorized::Missing)?
        .as_bytes();
    let (scheme, token) = match value.iter().position(|&b| b == b' ') {
        Some(space) => (&value[..space], value[space..].trim_ascii()),
        None => (value, &[][..]),
    };
    if !scheme.eq_ignore_ascii_case(b"bearer") || token.is_empty() {
        return Err(Unauthorized::NotBearer);
    }
    if tokens.accepts(token) {
        Ok(())
    } else {
        Err(Unauthorized::WrongToken)
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(value).expect("header"),
        );
        headers
    }

    #[test]
    fn reads_the_bearer_scheme() {
        let tokens = Tokens::new(["t0k3n-for-tests-only"]).expect("valid");
        assert_eq!(check(&with("Bearer t0k3n-for-tests-only"), &tokens), Ok(()));
        assert_eq!(
            check(&with("bearer  t0k3n-for-tests-only "), &tokens),
            Ok(())
        );
        assert_eq!(
            check(&with("Bearer other"), &tokens),
            Err(Unauthorized::WrongToken)
        );
        assert_eq!(
            check(&with("Basic dXNlcjpwYXNz"), &tokens),
            Err(Unauthorized::NotBearer)
        );
        assert_eq!(
            check(&with("Bearer"), &tokens),
            Err(Unauthorized::NotBearer)
        );
        assert_eq!(
            check(&HeaderMap::new(), &tokens),
            Err(Unauthorized::Missing)
        );
    }
}
