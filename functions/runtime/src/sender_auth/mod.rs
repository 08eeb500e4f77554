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
//!
//! Where each part is: `settings` (the variables), `keys` (discovery, the
//! JWKS and its cache), `verify` (one token), `layer` (the axum middleware
//! and its answers), `emit_token` (the token this function sends to
//! `K_SINK`).

use std::time::Duration;

mod emit_token;
mod keys;
mod layer;
mod settings;
mod verify;

pub use emit_token::EmitToken;
pub use layer::{Rejection, protect};
pub use settings::{OidcSettings, SenderAuth, read_emit_token_file};
pub use verify::Verifier;

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
