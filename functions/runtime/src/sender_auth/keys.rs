//! The issuer's keys: found by OIDC discovery (or named), fetched from its
//! JWKS, cached, refreshed at most once per interval, and used stale for a
//! while when they cannot be refreshed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use http::{StatusCode, header};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use reqwest::Url;

use super::emit_token::read_token;
use super::settings::acceptable_url;
use super::{
    FETCH_TIMEOUT, KEYS_MAX_AGE, KEYS_MAX_STALE, MAX_DOCUMENT_BYTES, MAX_KEYS,
    MIN_REFRESH_INTERVAL, Rejection, Verifier,
};

#[derive(serde::Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

/// One signing key of the issuer, with the algorithms it may be used with.
pub(super) struct Key {
    pub(super) key: DecodingKey,
    pub(super) algorithms: Vec<Algorithm>,
}

/// The keys last fetched, and when the last fetch was tried and why it failed.
#[derive(Default)]
pub(super) struct KeySet {
    by_kid: HashMap<String, Arc<Key>>,
    fetched: Option<Instant>,
    last_attempt: Option<Instant>,
    last_error: Option<String>,
    jwks_url: Option<Url>,
}

/// A key in the cache: fresh, usable only while a refresh fails, or absent.
pub(super) enum Lookup {
    Fresh(Arc<Key>),
    Stale(Arc<Key>),
    Unknown,
}

impl Verifier {
    pub(super) fn lookup(&self, kid: &str) -> Lookup {
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let age = keys.fetched.map(|t| t.elapsed());
        match (keys.by_kid.get(kid), age) {
            (Some(key), Some(age)) if age < KEYS_MAX_AGE => Lookup::Fresh(key.clone()),
            (Some(key), Some(age)) if age < KEYS_MAX_STALE => Lookup::Stale(key.clone()),
            _ => Lookup::Unknown,
        }
    }

    /// The key after a refresh, or the stale key when the refresh fails.
    pub(super) async fn refreshed(&self, kid: &str) -> Result<Arc<Key>, Rejection> {
        let _one_at_a_time = self.refresh.lock().await;
        // Another request may have refreshed while this one waited.
        let before = self.lookup(kid);
        if let Lookup::Fresh(key) = before {
            return Ok(key);
        }
        let (recent, last_error) = {
            let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
            let recent = keys
                .last_attempt
                .is_some_and(|t| t.elapsed() < MIN_REFRESH_INTERVAL);
            (recent, keys.last_error.clone())
        };
        if recent {
            return match before {
                Lookup::Stale(key) => Ok(key),
                // Keys were fetched (or tried) moments ago: a key rotated in
                // just after is possible, so ask the sender to come back
                // rather than reject it for good.
                _ => Err(Rejection::Unavailable(last_error.unwrap_or_else(|| {
                    "the token's key is not among the issuer's keys fetched moments ago".into()
                }))),
            };
        }
        let fetched = self.fetch().await;
        let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
        keys.last_attempt = Some(Instant::now());
        match fetched {
            Ok((url, set)) => {
                tracing::info!(keys = set.len(), jwks = %url, "issuer keys fetched");
                keys.by_kid = set;
                keys.fetched = keys.last_attempt;
                keys.last_error = None;
                keys.jwks_url = Some(url);
                keys.by_kid
                    .get(kid)
                    .cloned()
                    .ok_or(Rejection::Invalid("unknown key id"))
            }
            Err(why) => {
                tracing::error!(error = %why, "could not fetch the issuer's keys");
                keys.last_error = Some(why.clone());
                match before {
                    Lookup::Stale(key) => Ok(key),
                    _ => Err(Rejection::Unavailable(why)),
                }
            }
        }
    }

    async fn fetch(&self) -> Result<(Url, HashMap<String, Arc<Key>>), String> {
        let client = self.client()?;
        let known = self
            .keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .jwks_url
            .clone();
        let url = match (self.settings.jwks_url.clone(), known) {
            (Some(url), _) | (None, Some(url)) => url,
            (None, None) => self.discover(&client).await?,
        };
        let body = self.get(&client, &url).await?;
        let set: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| format!("the JWKS at {url} is not JSON: {e}"))?;
        let keys = usable_keys(&set);
        if keys.is_empty() {
            return Err(format!("the JWKS at {url} has no usable signing key"));
        }
        Ok((url, keys))
    }

    async fn discover(&self, client: &reqwest::Client) -> Result<Url, String> {
        let base = self.settings.issuer.trim_end_matches('/');
        let url = acceptable_url(&format!("{base}/.well-known/openid-configuration"))
            .ok_or_else(|| "the issuer is not a URL to discover keys from".to_owned())?;
        let body = self.get(client, &url).await?;
        let doc: Discovery = serde_json::from_slice(&body)
            .map_err(|e| format!("the discovery document at {url} is not valid: {e}"))?;
        // OIDC Discovery 1.0 section 4.3: the document must name the issuer
        // it was fetched for, or its keys are not that issuer's.
        if doc.issuer != self.settings.issuer {
            return Err(format!(
                "the discovery document at {url} names issuer {:?}, not PACT_OIDC_ISSUER {:?}; set PACT_OIDC_ISSUER to the cluster's issuer",
                doc.issuer, self.settings.issuer
            ));
        }
        acceptable_url(&doc.jwks_uri)
            .ok_or_else(|| format!("the jwks_uri {:?} is not an acceptable URL", doc.jwks_uri))
    }

    async fn get(&self, client: &reqwest::Client, url: &Url) -> Result<Vec<u8>, String> {
        let mut request = client
            .get(url.clone())
            .header(header::ACCEPT, "application/json");
        if let Some(path) = &self.settings.token_file {
            let token = read_token(path)
                .await
                .ok_or_else(|| format!("no token in PACT_OIDC_TOKEN_FILE {}", path.display()))?;
            request = request.bearer_auth(token);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| format!("{url} not reachable ({})", crate::error::chain(&e)))?;
        if response.status() != StatusCode::OK {
            return Err(format!("{url} answered {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("reading {url}: {}", crate::error::chain(&e)))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(format!("{url} sent more than {MAX_DOCUMENT_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn client(&self) -> Result<reqwest::Client, String> {
        if let Some(client) = self.client.get() {
            return Ok(client.clone());
        }
        let mut builder = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            // A redirect could carry the bearer token elsewhere.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(path) = &self.settings.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| format!("cannot read PACT_OIDC_CA_FILE {}: {e}", path.display()))?;
            let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                format!(
                    "PACT_OIDC_CA_FILE {} is not a PEM bundle: {e}",
                    path.display()
                )
            })?;
            if certificates.is_empty() {
                return Err(format!(
                    "PACT_OIDC_CA_FILE {} holds no certificate",
                    path.display()
                ));
            }
            // The cluster CA only: the keys must come from the cluster.
            builder = builder.tls_built_in_root_certs(false);
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        let client = builder
            .build()
            .map_err(|e| format!("could not create the HTTP client: {e}"))?;
        Ok(self.client.get_or_init(|| client).clone())
    }
}

/// The signing keys of a JWKS, by `kid`, each with the algorithms its type
/// allows. Entries that are not public signing keys, or do not parse, are
/// skipped one by one rather than failing the set.
fn usable_keys(set: &serde_json::Value) -> HashMap<String, Arc<Key>> {
    let entries = set
        .get("keys")
        .and_then(|k| k.as_array())
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut keys = HashMap::new();
    for entry in entries.iter().take(MAX_KEYS) {
        let Ok(jwk) = serde_json::from_value::<Jwk>(entry.clone()) else {
            continue;
        };
        let Some(kid) = jwk.common.key_id.clone().filter(|k| !k.is_empty()) else {
            continue;
        };
        if matches!(&jwk.common.public_key_use, Some(u) if *u != PublicKeyUse::Signature) {
            continue;
        }
        let by_type: &[Algorithm] = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => &[
                Algorithm::RS256,
                Algorithm::RS384,
                Algorithm::RS512,
                Algorithm::PS256,
                Algorithm::PS384,
                Algorithm::PS512,
            ],
            AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
                EllipticCurve::P256 => &[Algorithm::ES256],
                EllipticCurve::P384 => &[Algorithm::ES384],
                _ => continue,
            },
            _ => continue,
        };
        // A key that names its algorithm is used with that one only.
        let algorithms: Vec<Algorithm> = match jwk.common.key_algorithm {
            None => by_type.to_vec(),
            Some(named) => by_type
                .iter()
                .copied()
                .filter(|a| key_algorithm(*a) == named)
                .collect(),
        };
        if algorithms.is_empty() {
            continue;
        }
        if let Ok(key) = DecodingKey::from_jwk(&jwk) {
            keys.insert(kid, Arc::new(Key { key, algorithms }));
        }
    }
    keys
}

fn key_algorithm(alg: Algorithm) -> KeyAlgorithm {
    match alg {
        Algorithm::RS256 => KeyAlgorithm::RS256,
        Algorithm::RS384 => KeyAlgorithm::RS384,
        Algorithm::RS512 => KeyAlgorithm::RS512,
        Algorithm::PS256 => KeyAlgorithm::PS256,
        Algorithm::PS384 => KeyAlgorithm::PS384,
        Algorithm::PS512 => KeyAlgorithm::PS512,
        Algorithm::ES256 => KeyAlgorithm::ES256,
        Algorithm::ES384 => KeyAlgorithm::ES384,
        _ => KeyAlgorithm::UNKNOWN_ALGORITHM,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_and_unusable_jwks_entries_are_skipped() {
        let set = serde_json::json!({"keys": [
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
            {"kty": "EC", "crv": "P-256", "x": "bad"},
            "not a key",
        ]});
        assert!(usable_keys(&set).is_empty());
        assert!(usable_keys(&serde_json::json!({"keys": 7})).is_empty());
    }
}
