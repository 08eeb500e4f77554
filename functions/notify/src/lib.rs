//! pact-notify: closes the loop from a reported case to the people exposed
//! to it (docs/privacy.md).
//!
//! `POST /` takes `dev.pact.case.reported` and `dev.pact.case.withdrawn`
//! events (pact-query emits them for `POST /cases` and
//! `DELETE /cases/{case_id}`). For a reported case it finds everyone who
//! met the person within the infectious window ([`walk`]), records one
//! notification per person under a unique constraint ([`store`]), and emits
//! each as a `dev.pact.exposure.notified` event to `K_SINK`: a redelivered
//! case, a restart or a second instance never notifies anyone twice. A
//! withdrawn case gets a `dev.pact.exposure.withdrawn` event to each person
//! it notified. A request is answered 2xx only when every event it owed is
//! in the sink.
//!
//! The crate follows the function template: `config.rs` (settings),
//! `app.rs` (state, router, handlers, start-up), `error.rs` (errors), plus
//! its own `walk.rs` (who is exposed) and `store.rs` (SQL).

pub mod app;
pub mod config;
pub mod error;
pub mod store;
pub mod walk;

pub use app::{AppState, Notify, app};
pub use config::*;
pub use error::{Error, Result};

/// The function's name, in logs and problem documents.
pub const NAME: &str = "pact-notify";
/// The `source` of the events it emits.
pub const SOURCE: &str = "/pact/notify";

/// The whole process (settings from the environment, serve until SIGTERM):
/// the runtime's one start-up path. What the `pact-notify` binary and
/// `pact function notify` run.
pub fn run() -> std::process::ExitCode {
    pact_runtime::server::run::<Notify>()
}
