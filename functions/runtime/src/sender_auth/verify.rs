//! Token verification: the bearer token of a request, its signature,
//! claims and subject.

use std::sync::{OnceLock, RwLock};

use http::{HeaderMap, header};
use jsonwebtoken::{Algorithm, Validation};

use super::keys::{KeySet, Lookup};
use super::{LEEWAY, MAX_TOKEN_BYTES, OidcSettings, Rejection};

#[derive(serde::Deserialize)]
struct Claims {
    sub: String,
}

/// Checks bearer tokens against the issuer's keys, fetched lazily and cached.
pub struct Verifier {
    pub(super) settings: OidcSettings,
    // Built on first use: a cold start need not pay for TLS set-up.
    pub(super) client: OnceLock<reqwest::Client>,
    pub(super) keys: RwLock<KeySet>,
    // One fetch at a time; waiters then use its result.
    pub(super) refresh: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier for `settings`; nothing is fetched until the first request.
    pub fn new(settings: OidcSettings) -> Self {
        Self {
            settings,
            client: OnceLock::new(),
            keys: RwLock::new(KeySet::default()),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    /// The subject of a valid token of an allowed sender, or why not.
    pub async fn verify(&self, headers: &HeaderMap) -> Result<String, Rejection> {
        let token = bearer(headers)?;
        let head = jsonwebtoken::decode_header(token)
            .map_err(|_| Rejection::Invalid("not a signed JWT"))?;
        if !is_asymmetric(head.alg) {
            return Err(Rejection::Invalid("signing algorithm not accepted"));
        }
        let kid = head
            .kid
            .as_deref()
            .filter(|k| !k.is_empty() && k.len() <= 256)
            .ok_or(Rejection::Invalid("no key id"))?;
        let key = match self.lookup(kid) {
            Lookup::Fresh(key) => key,
            _ => self.refreshed(kid).await?,
        };
        if !key.algorithms.contains(&head.alg) {
            return Err(Rejection::Invalid(
                "signing algorithm does not match the key",
            ));
        }
        let mut validation = Validation::new(head.alg);
        validation.algorithms = key.algorithms.clone();
        validation.leeway = LEEWAY.as_secs();
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<Claims>(token, &key.key, &validation)
            .map_err(|e| Rejection::Invalid(reason(e.kind())))?
            .claims;
        if self.settings.subjects.contains(&claims.sub) {
            Ok(claims.sub)
        } else {
            Err(Rejection::Forbidden(claims.sub))
        }
    }
}

/// The token of the one `Authorization: Bearer` header.
fn bearer(headers: &HeaderMap) -> Result<&str, Rejection> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next().ok_or(Rejection::Missing)?;
    if values.next().is_some() {
        return Err(Rejection::Invalid("more than one Authorization header"));
    }
    if value.len() > MAX_TOKEN_BYTES {
        return Err(Rejection::Invalid("token too long"));
    }
    let value = value
        .to_str()
        .map_err(|_| Rejection::Invalid("not a bearer token"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or(Rejection::Invalid("not a bearer token"))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Rejection::Invalid("not a bearer token"));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(Rejection::Invalid("empty bearer token"));
    }
    Ok(token)
}

/// Only public-key signatures: the keys come from a JWKS that anyone may
/// read, so an HMAC "key" from it would be a shared secret known to all.
fn is_asymmetric(alg: Algorithm) -> bool {
    use Algorithm::*;
    matches!(
        alg,
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 | ES256 | ES384
    )
}

fn reason(kind: &jsonwebtoken::errors::ErrorKind) -> &'static str {
    use jsonwebtoken::errors::ErrorKind::*;
    match kind {
        ExpiredSignature => "token expired",
        ImmatureSignature => "token not yet valid",
        InvalidAudience => "token for another audience",
        InvalidIssuer => "token from another issuer",
        InvalidSignature => "bad signature",
        InvalidAlgorithm | InvalidAlgorithmName => "signing algorithm not accepted",
        MissingRequiredClaim(_) => "a required claim is missing",
        _ => "malformed token",
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn only_one_well_formed_bearer_header_counts() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers), Err(Rejection::Missing));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic dXNlcjpwdw=="),
        );
        assert!(matches!(bearer(&headers), Err(Rejection::Invalid(_))));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer abc"),
        );
        assert_eq!(bearer(&headers), Ok("abc"));
        headers.append(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer def"),
        );
        assert!(matches!(bearer(&headers), Err(Rejection::Invalid(_))));
    }
}
