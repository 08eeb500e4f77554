//! Sender authentication: only the cluster's event sources may `POST /`.
//!
//! With Knative Eventing's `authentication-oidc` feature on, a KafkaSource,
//! PingSource or SinkBinding sends every event with `Authorization: Bearer
//! <JWT>`: a Kubernetes service account token (TokenRequest API) of the
//! source's own OIDC service account, issued for the audience named in the
//! source's `spec.sink.audience`. This module checks that token the way a
//! relying party checks any OIDC token: signature against the issuer's JWKS,
//! `iss`, `aud`, `exp`/`nbf`, and then `sub` against the service accounts
//! allowed to send here. Audience alone proves nothing: any pod can mount a
//! projected token for any audience, so the subject is what names the sender.
//! Upstream facts and the threat model: docs/security.md.
//!
//! Status codes (Knative retries 5xx, 404, 408, 409, 429 only): no or bad
//! token → 401, a valid token of another sender → 403, both final (dead
//! letter, right for a forgery); keys that cannot be fetched → 503 with
//! `Retry-After`, so a genuine sender retries instead of losing events to
//! the dead-letter sink over a JWKS outage or a key rotation in progress.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::Url;

use crate::config::{Env, EnvReader};
use crate::error::{Error, ErrorType};
use crate::problem::Problem;

/// `none` (default: anyone who can reach `POST /` may send) or `oidc`.
pub const PACT_SENDER_AUTH: &str = "PACT_SENDER_AUTH";
/// The token issuer, exactly as in the tokens' `iss` (the cluster's
/// `--service-account-issuer`).
pub const PACT_OIDC_ISSUER: &str = "PACT_OIDC_ISSUER";
/// Where the issuer's keys are; unset: from `<issuer>/.well-known/openid-configuration`.
pub const PACT_OIDC_JWKS_URL: &str = "PACT_OIDC_JWKS_URL";
/// The audience this function accepts (the sources' `spec.sink.audience`).
pub const PACT_OIDC_AUDIENCE: &str = "PACT_OIDC_AUDIENCE";
/// The `sub` claims allowed to send, comma-separated
/// (`system:serviceaccount:<namespace>:<name>`).
pub const PACT_OIDC_SUBJECTS: &str = "PACT_OIDC_SUBJECTS";
/// PEM bundle trusted for the discovery and JWKS requests (instead of the
/// public roots).
pub const PACT_OIDC_CA_FILE: &str = "PACT_OIDC_CA_FILE";
/// A token sent as bearer with the discovery and JWKS requests (the API
/// server serves its keys to authenticated service accounts only).
pub const PACT_OIDC_TOKEN_FILE: &str = "PACT_OIDC_TOKEN_FILE";
/// A token this function sends as bearer to `K_SINK` (a SinkBinding mounts
/// one at `/oidc/token` when its sink has an audience); unset or missing
/// file: none is sent.
pub const PACT_EMIT_TOKEN_FILE: &str = "PACT_EMIT_TOKEN_FILE";

/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY: Duration = Duration::from_secs(30);
/// Keys older than this are fetched again on the next request.
pub const KEYS_MAX_AGE: Duration = Duration::from_secs(300);
/// Keys that could not be refreshed are still used this long after their
/// fetch, so a short API server outage does not stop the pipeline.
pub const KEYS_MAX_STALE: Duration = Duration::from_secs(3_600);
/// At most one fetch per this interval, whatever the requests say (a forged
/// `kid` must not turn into a request flood toward the API server).
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(10);
/// Time limit of one discovery or JWKS request.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest discovery or JWKS document read.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// Keys kept from one JWKS at most.
pub const MAX_KEYS: usize = 32;
/// Longest `Authorization` value considered (service account tokens are ~1 KiB).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Subjects in [`PACT_OIDC_SUBJECTS`] at most.
pub const MAX_SUBJECTS: usize = 64;
/// How long an emit token read from its file is reused.
pub const EMIT_TOKEN_REREAD: Duration = Duration::from_secs(30);

/// Who may `POST /`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SenderAuth {
    /// Anyone who can reach the function (the default: `pact dev`, tests).
    #[default]
    None,
    /// Only bearers of a valid OIDC token of an allowed subject.
    Oidc(Box<OidcSettings>),
}

/// What a token must satisfy, and where the keys are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcSettings {
    /// Expected `iss`.
    pub issuer: String,
    /// The JWKS; `None`: found by OIDC discovery from the issuer.
    pub jwks_url: Option<Url>,
    /// Expected `aud` (one of).
    pub audience: String,
    /// Allowed `sub` values.
    pub subjects: Vec<String>,
    /// CA bundle for the key requests.
    pub ca_file: Option<PathBuf>,
    /// Bearer token for the key requests.
    pub token_file: Option<PathBuf>,
}

impl SenderAuth {
    /// Reads [`PACT_SENDER_AUTH`] and, when it is `oidc`, the `PACT_OIDC_*`
    /// settings (with `none` they are reported as set but unread).
    pub fn read<E: Env + ?Sized>(r: &mut EnvReader<'_, E>) -> Self {
        let oidc = r
            .parse_with(PACT_SENDER_AUTH, "none or oidc", |v| {
                match v.trim().to_ascii_lowercase().as_str() {
                    "none" => Some(false),
                    "oidc" => Some(true),
                    _ => None,
                }
            })
            .unwrap_or(false);
        if !oidc {
            return Self::None;
        }
        let required = "required with PACT_SENDER_AUTH=oidc";
        let url_rule = "an https:// URL (http:// only for a loopback address)";
        let issuer = match r.raw(PACT_OIDC_ISSUER) {
            None => {
                r.reject(
                    PACT_OIDC_ISSUER,
                    String::new(),
                    format!("{required}: the issuer of the cluster's service account tokens, e.g. https://kubernetes.default.svc.cluster.local"),
                );
                String::new()
            }
            Some(raw) => {
                let issuer = raw.trim().to_owned();
                if acceptable_url(&issuer).is_none() {
                    r.reject(PACT_OIDC_ISSUER, raw, url_rule);
                }
                issuer
            }
        };
        let jwks_url = r.parse_with(PACT_OIDC_JWKS_URL, url_rule, |v| acceptable_url(v.trim()));
        let audience = match r.raw(PACT_OIDC_AUDIENCE) {
            Some(raw) if is_claim_text(raw.trim()) => raw.trim().to_owned(),
            other => {
                r.reject(
                    PACT_OIDC_AUDIENCE,
                    other.unwrap_or_default(),
                    format!("{required}: the audience the sources' spec.sink.audience names, printable text without spaces"),
                );
                String::new()
            }
        };
        let subjects = match r.raw(PACT_OIDC_SUBJECTS) {
            None => {
                r.reject(
                    PACT_OIDC_SUBJECTS,
                    String::new(),
                    format!("{required}: comma-separated subjects such as system:serviceaccount:pact:<name>"),
                );
                Vec::new()
            }
            Some(raw) => match parse_subjects(&raw) {
                Some(subjects) => subjects,
                None => {
                    r.reject(
                        PACT_OIDC_SUBJECTS,
                        raw,
                        format!("1 to {MAX_SUBJECTS} comma-separated subjects, printable text without spaces"),
                    );
                    Vec::new()
                }
            },
        };
        Self::Oidc(Box::new(OidcSettings {
            issuer,
            jwks_url,
            audience,
            subjects,
            ca_file: r.raw(PACT_OIDC_CA_FILE).map(|v| PathBuf::from(v.trim())),
            token_file: r.raw(PACT_OIDC_TOKEN_FILE).map(|v| PathBuf::from(v.trim())),
        }))
    }
}

/// Reads [`PACT_EMIT_TOKEN_FILE`], for functions that emit to `K_SINK`.
pub fn read_emit_token_file<E: Env + ?Sized>(r: &mut EnvReader<'_, E>) -> Option<PathBuf> {
    r.raw(PACT_EMIT_TOKEN_FILE).map(|v| PathBuf::from(v.trim()))
}

fn acceptable_url(raw: &str) -> Option<Url> {
    let url = Url::parse(raw).ok()?;
    let loopback = match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    };
    (url.scheme() == "https" || (url.scheme() == "http" && loopback)).then_some(url)
}

fn is_claim_text(v: &str) -> bool {
    !v.is_empty() && v.len() <= 512 && v.chars().all(|c| c.is_ascii_graphic())
}

fn parse_subjects(raw: &str) -> Option<Vec<String>> {
    let subjects: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let valid = !subjects.is_empty()
        && subjects.len() <= MAX_SUBJECTS
        && subjects.iter().all(|s| is_claim_text(s));
    valid.then_some(subjects)
}

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

#[derive(serde::Deserialize)]
struct Claims {
    sub: String,
}

#[derive(serde::Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

struct Key {
    key: DecodingKey,
    algorithms: Vec<Algorithm>,
}

#[derive(Default)]
struct KeySet {
    by_kid: HashMap<String, Arc<Key>>,
    fetched: Option<Instant>,
    last_attempt: Option<Instant>,
    last_error: Option<String>,
    jwks_url: Option<Url>,
}

/// Checks bearer tokens against the issuer's keys, fetched lazily and cached.
pub struct Verifier {
    settings: OidcSettings,
    // Built on first use: a cold start need not pay for TLS set-up.
    client: OnceLock<reqwest::Client>,
    keys: RwLock<KeySet>,
    // One fetch at a time; waiters then use its result.
    refresh: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

enum Lookup {
    Fresh(Arc<Key>),
    Stale(Arc<Key>),
    Unknown,
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

    fn lookup(&self, kid: &str) -> Lookup {
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let age = keys.fetched.map(|t| t.elapsed());
        match (keys.by_kid.get(kid), age) {
            (Some(key), Some(age)) if age < KEYS_MAX_AGE => Lookup::Fresh(key.clone()),
            (Some(key), Some(age)) if age < KEYS_MAX_STALE => Lookup::Stale(key.clone()),
            _ => Lookup::Unknown,
        }
    }

    /// The key after a refresh, or the stale key when the refresh fails.
    async fn refreshed(&self, kid: &str) -> Result<Arc<Key>, Rejection> {
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

/// A token file's content: trimmed, printable, bounded; `None` when the file
/// is missing, empty or odd.
async fn read_token(path: &Path) -> Option<String> {
    // A small file on a tmpfs mount (a projected volume): blocking is brief.
    let text = std::fs::read_to_string(path).ok()?;
    let token = text.trim();
    (!token.is_empty()
        && token.len() <= MAX_TOKEN_BYTES
        && token.bytes().all(|b| b.is_ascii_graphic()))
    .then(|| token.to_owned())
}

/// The bearer token sent to `K_SINK`, read from [`PACT_EMIT_TOKEN_FILE`]
/// again every [`EMIT_TOKEN_REREAD`]: the SinkBinding's token Secret is
/// renewed before it expires and the kubelet updates the mounted file.
#[derive(Debug)]
pub struct EmitToken {
    path: PathBuf,
    cached: tokio::sync::Mutex<Option<(Instant, Option<String>)>>,
}

impl EmitToken {
    /// A token read from `path` on first use.
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    /// The current token; `None` when the file is absent (the sink has no
    /// audience, so a SinkBinding mounts none, and none is needed).
    pub async fn current(&self) -> Option<String> {
        let mut cached = self.cached.lock().await;
        if let Some((read_at, token)) = cached.as_ref()
            && read_at.elapsed() < EMIT_TOKEN_REREAD
        {
            return token.clone();
        }
        let token = read_token(&self.path).await;
        if token.is_none() {
            tracing::debug!(path = %self.path.display(), "no emit token; sending to K_SINK without one");
        }
        *cached = Some((Instant::now(), token.clone()));
        token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(
        pairs: &[(&'static str, &'static str)],
    ) -> Result<SenderAuth, crate::config::ConfigError> {
        let env: HashMap<&str, &str> = pairs.iter().copied().collect();
        let mut r = EnvReader::new(&env);
        let auth = SenderAuth::read(&mut r);
        r.finish().map(|_| auth)
    }

    #[test]
    fn off_by_default() {
        assert_eq!(read(&[]).expect("valid"), SenderAuth::None);
        assert_eq!(
            read(&[(PACT_SENDER_AUTH, "none")]).expect("valid"),
            SenderAuth::None
        );
    }

    #[test]
    fn oidc_needs_issuer_audience_and_subjects() {
        let err = read(&[(PACT_SENDER_AUTH, "oidc")]).expect_err("incomplete");
        let names: Vec<_> = err.0.iter().map(|b| b.name).collect();
        assert_eq!(
            names,
            [PACT_OIDC_ISSUER, PACT_OIDC_AUDIENCE, PACT_OIDC_SUBJECTS]
        );
    }

    #[test]
    fn reads_every_oidc_setting() {
        let auth = read(&[
            (PACT_SENDER_AUTH, "OIDC"),
            (
                PACT_OIDC_ISSUER,
                "https://kubernetes.default.svc.cluster.local",
            ),
            (
                PACT_OIDC_JWKS_URL,
                "https://kubernetes.default.svc/openid/v1/jwks",
            ),
            (PACT_OIDC_AUDIENCE, "pact-translation"),
            (
                PACT_OIDC_SUBJECTS,
                " system:serviceaccount:pact:a , system:serviceaccount:pact:b,",
            ),
            (PACT_OIDC_CA_FILE, "/ca.crt"),
            (PACT_OIDC_TOKEN_FILE, "/token"),
        ])
        .expect("valid");
        let SenderAuth::Oidc(s) = auth else {
            panic!("oidc expected")
        };
        assert_eq!(s.issuer, "https://kubernetes.default.svc.cluster.local");
        assert_eq!(
            s.jwks_url.map(String::from).as_deref(),
            Some("https://kubernetes.default.svc/openid/v1/jwks")
        );
        assert_eq!(
            s.subjects,
            [
                "system:serviceaccount:pact:a",
                "system:serviceaccount:pact:b"
            ]
        );
        assert_eq!(s.ca_file.as_deref(), Some(Path::new("/ca.crt")));
    }

    #[test]
    fn refuses_plain_http_keys_off_loopback_and_bad_values() {
        let err = read(&[(PACT_SENDER_AUTH, "jwt")]).expect_err("unknown mode");
        assert_eq!(err.0[0].name, PACT_SENDER_AUTH);
        let err = read(&[
            (PACT_SENDER_AUTH, "oidc"),
            (PACT_OIDC_ISSUER, "http://issuer.example"),
            (PACT_OIDC_JWKS_URL, "http://keys.example/jwks"),
            (PACT_OIDC_AUDIENCE, "two words"),
            (PACT_OIDC_SUBJECTS, " , "),
        ])
        .expect_err("invalid");
        let names: Vec<_> = err.0.iter().map(|b| b.name).collect();
        assert_eq!(
            names,
            [
                PACT_OIDC_ISSUER,
                PACT_OIDC_JWKS_URL,
                PACT_OIDC_AUDIENCE,
                PACT_OIDC_SUBJECTS
            ]
        );
        read(&[
            (PACT_SENDER_AUTH, "oidc"),
            (PACT_OIDC_ISSUER, "http://127.0.0.1:9/"),
            (PACT_OIDC_AUDIENCE, "a"),
            (PACT_OIDC_SUBJECTS, "s"),
        ])
        .expect("loopback http is fine for tests");
    }

    #[test]
    fn oidc_settings_are_unread_when_off() {
        let env: HashMap<&str, &str> = [(PACT_OIDC_AUDIENCE, "x")].into_iter().collect();
        let mut r = EnvReader::new(&env);
        assert_eq!(SenderAuth::read(&mut r), SenderAuth::None);
        let warnings = r.finish().expect("valid");
        assert!(warnings[0].contains(PACT_OIDC_AUDIENCE), "{warnings:?}");
    }

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
