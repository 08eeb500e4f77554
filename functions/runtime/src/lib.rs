//! The PACT function runtime: what every PACT function shares.
//!
//! A function is a thin `main.rs` over a library whose `app(state)` builds an
//! axum `Router`; this crate gives it the Knative function contract (DESIGN.md
//! section 4): reading CloudEvents in every mode PACT accepts, the contact
//! domain types, emitting to `K_SINK` or in the reply, errors as problem+json
//! with Knative-aware status codes, `/healthz`, `/readyz`, `/metrics`,
//! configuration from the environment, logs, and graceful shutdown.

pub mod binary;
pub mod case;
pub mod config;
mod connection;
pub mod contact;
#[cfg(feature = "database")]
pub mod database;
pub mod emit;
pub mod error;
pub mod identity;
pub mod ingest;
pub mod metrics;
pub mod problem;
#[cfg(feature = "database")]
pub mod queries;
pub mod redact;
pub mod retry;
pub mod sender_auth;
pub mod server;
#[cfg(feature = "database")]
pub mod sql;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod trace;
pub mod wire;

pub use cloudevents;
pub use error::{Error, Result};

/// Parses a request as a CloudEvent (any mode), `None` when it is not one.
pub fn binding_event(headers: &http::HeaderMap, body: &[u8]) -> Option<cloudevents::Event> {
    binary::event_from_http(headers, body.to_vec()).ok()
}
