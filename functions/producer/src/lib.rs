//! pact-producer: the ingress phones call (DESIGN.md section 5).
//!
//! Three ways in, one way out: every accepted contact leaves as a
//! `dev.pact.contact.untranslated` event, keyed by the unordered id pair.
//! - `POST /pact/producer?message=1,2,44.98,-93.25` (or as a form field): the
//!   original demo's endpoint, kept as it was; answers 202.
//! - `POST /contacts`: a JSON object or an array of up to 1000; answers 202
//!   with the event ids.
//! - `POST /`: a CloudEvent of type `dev.pact.contact.untranslated`.
//!
//! Event ids follow DESIGN.md section 3: a contact sent with a key of the
//! client's (`Idempotency-Key` for a single contact, an item's `id` field, an
//! incoming CloudEvent's `source` + `id`) gets a UUIDv5 of that key together
//! with the contact as sent ([`identity::of_contact`]), so a client's retry
//! gives the same event and two clients who pick the same key both get
//! theirs; a contact sent with no key gets a new UUIDv7.
//!
//! A request is all or nothing: when one contact is wrong, none is sent, and
//! the problem document says which and why.

pub mod app;
pub mod config;
pub mod error;

pub use app::{AppState, Producer, app};
pub use config::Config;
pub use error::{Error, Result};

/// The function's name, in logs and problem documents.
pub const NAME: &str = "pact-producer";

/// The `source` of every event this function emits.
pub const SOURCE: &str = "/pact/producer";
/// Most contacts one `POST /contacts` may carry: the runtime's one limit.
pub const MAX_CONTACTS_PER_REQUEST: usize = pact_runtime::ingest::MAX_EVENTS_PER_REQUEST;

/// The whole process (settings from the environment, serve until SIGTERM):
/// the runtime's one start-up path. What the `pact-producer` binary and
/// `pact function producer` run.
pub fn run() -> std::process::ExitCode {
    pact_runtime::server::run::<Producer>()
}
