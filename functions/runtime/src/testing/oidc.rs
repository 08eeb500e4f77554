//! A stand-in OIDC issuer on `127.0.0.1` for sender-authentication tests:
//! discovery document, JWKS, and tokens signed with the test-only keys of
//! `tests/fixtures/oidc` (published on purpose; see its README).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::sender_auth::OidcSettings;

pub use jsonwebtoken::Algorithm as SigningAlgorithm;
pub use jsonwebtoken::get_current_timestamp as now;

/// `kid` of the RSA test key (RS256, as Kubernetes signs by default).
pub const RSA_KID: &str = "pact-test-rsa";
/// `kid` of the P-256 test key (ES256).
pub const EC_KID: &str = "pact-test-ec";

const RSA_PEM: &[u8] = include_bytes!("../../tests/fixtures/oidc/rsa-test-key.pem");
const EC_PEM: &[u8] = include_bytes!("../../tests/fixtures/oidc/ec-test-key.pem");

struct Shared {
    issuer: String,
    jwks: Value,
    available: AtomicBool,
    jwks_requests: AtomicUsize,
}

/// The issuer; stops serving when dropped.
pub struct TestIssuer {
    /// `http://127.0.0.1:<port>`: the `iss` of its tokens.
    pub issuer: String,
    rsa: EncodingKey,
    ec: EncodingKey,
    shared: Arc<Shared>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl TestIssuer {
    /// Starts serving discovery and keys.
    pub async fn start() -> Self {
        let rsa = EncodingKey::from_rsa_pem(RSA_PEM).expect("the RSA test key parses");
        let ec = EncodingKey::from_ec_pem(EC_PEM).expect("the EC test key parses");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a test port");
        let issuer = format!("http://{}", listener.local_addr().expect("local address"));
        let public = |key: &EncodingKey, alg, kid: &str| {
            let mut jwk = Jwk::from_encoding_key(key, alg).expect("public key");
            jwk.common.key_id = Some(kid.to_owned());
            jwk.common.public_key_use = Some(PublicKeyUse::Signature);
            serde_json::to_value(jwk).expect("JWK as JSON")
        };
        let jwks = json!({"keys": [
            public(&rsa, Algorithm::RS256, RSA_KID),
            public(&ec, Algorithm::ES256, EC_KID),
        ]});
        let shared = Arc::new(Shared {
            issuer: issuer.clone(),
            jwks,
            available: AtomicBool::new(true),
            jwks_requests: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/openid/v1/jwks", get(keys))
            .with_state(shared.clone());
        let stop = super::serve_until_dropped(listener, app);
        Self {
            issuer,
            rsa,
            ec,
            shared,
            _stop: stop,
        }
    }

    /// Settings that find the keys by discovery from this issuer.
    pub fn settings(&self, audience: &str, subjects: &[&str]) -> OidcSettings {
        OidcSettings {
            issuer: self.issuer.clone(),
            jwks_url: None,
            audience: audience.to_owned(),
            subjects: subjects.iter().map(|s| (*s).to_owned()).collect(),
            ca_file: None,
            token_file: None,
        }
    }

    /// The same settings as environment variables, for a function's `Config::from_env`.
    pub fn env(&self, audience: &str, subjects: &[&str]) -> Vec<(String, String)> {
        use crate::sender_auth::*;
        vec![
            (PACT_SENDER_AUTH.into(), "oidc".into()),
            (PACT_OIDC_ISSUER.into(), self.issuer.clone()),
            (PACT_OIDC_AUDIENCE.into(), audience.into()),
            (PACT_OIDC_SUBJECTS.into(), subjects.join(",")),
        ]
    }

    /// While `false`, discovery and keys answer 503.
    pub fn set_available(&self, available: bool) {
        self.shared.available.store(available, Ordering::SeqCst);
    }

    /// How many times the keys were fetched.
    pub fn jwks_requests(&self) -> usize {
        self.shared.jwks_requests.load(Ordering::SeqCst)
    }

    /// Claims of a valid token for `audience` and `subject`, valid for an hour.
    pub fn claims(&self, audience: &str, subject: &str) -> Value {
        let now = jsonwebtoken::get_current_timestamp();
        json!({
            "iss": self.issuer,
            "aud": [audience],
            "sub": subject,
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
        })
    }

    /// A token signed with the RSA key (RS256), as the API server issues.
    pub fn token(&self, audience: &str, subject: &str) -> String {
        self.sign(Algorithm::RS256, RSA_KID, &self.claims(audience, subject))
    }

    /// `claims` signed with the RSA (RS*/PS*) or EC (ES256) test key under `kid`.
    pub fn sign(&self, alg: Algorithm, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(alg);
        header.kid = Some(kid.to_owned());
        let key = if alg == Algorithm::ES256 {
            &self.ec
        } else {
            &self.rsa
        };
        jsonwebtoken::encode(&header, claims, key).expect("sign a test token")
    }

    /// `claims` as an HS256 token whose secret is the RSA public key's JWK
    /// text, as an algorithm-confusion attack would try.
    pub fn sign_hs256_with_public_key(&self, claims: &Value) -> String {
        let secret = self.shared.jwks["keys"][0].to_string();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(RSA_KID.to_owned());
        let key = EncodingKey::from_secret(secret.as_bytes()).expect("HMAC key");
        jsonwebtoken::encode(&header, claims, &key).expect("sign")
    }

    /// An unsigned token (`alg: none`).
    pub fn unsigned(&self, claims: &Value) -> String {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = json!({"alg": "none", "typ": "JWT", "kid": RSA_KID});
        format!(
            "{}.{}.",
            b64.encode(header.to_string()),
            b64.encode(claims.to_string())
        )
    }

    /// A valid token whose payload was replaced by `claims`, signature kept.
    pub fn tampered(&self, valid: &str, claims: &Value) -> String {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut parts: Vec<String> = valid.split('.').map(str::to_owned).collect();
        parts[1] = b64.encode(claims.to_string());
        parts.join(".")
    }
}

async fn discovery(State(shared): State<Arc<Shared>>) -> Response {
    if !shared.available.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    Json(json!({
        "issuer": shared.issuer,
        "jwks_uri": format!("{}/openid/v1/jwks", shared.issuer),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
    .into_response()
}

async fn keys(State(shared): State<Arc<Shared>>) -> Response {
    shared.jwks_requests.fetch_add(1, Ordering::SeqCst);
    if !shared.available.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    Json(shared.jwks.clone()).into_response()
}
