//! pact-translation: reverse geocoding (DESIGN.md section 5).
//!
//! `POST /` takes an untranslated contact in any accepted form (CloudEvent in
//! any mode, KafkaSource envelope, the original CSV line) and emits a
//! `dev.pact.contact.translated` event with the address of the contact's
//! coordinates. The output's id is a UUIDv5 of the input's `source` + `id`
//! (DESIGN.md section 3), so a redelivered input gives the identical output
//! event, pact-contactlog stores it once, and two inputs that share an `id`
//! under different sources both become rows.

//!
//! The crate follows the function template: `config.rs` (settings),
//! `app.rs` (state, router, handler, start-up), `error.rs` (errors), plus
//! its own `geocoder` (the offline and online geocoders).

pub mod app;
pub mod config;
pub mod error;
pub mod geocoder;

pub use app::{AppState, Translation, app};
pub use config::*;
pub use error::{Error, Result};
pub use geocoder::{Geocoder, Offline, Online, OnlineConfig, Provider};

/// The function's name, in logs and problem documents.
pub const NAME: &str = "pact-translation";

/// The `source` of every event this function emits.
pub const SOURCE: &str = "/pact/translation";
/// The whole process (settings from the environment, serve until SIGTERM):
/// the runtime's one start-up path. What the `pact-translation` binary and
/// `pact function translation` run.
pub fn run() -> std::process::ExitCode {
    pact_runtime::server::run::<Translation>()
}
