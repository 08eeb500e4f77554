//! pact-contactlog: persistence (DESIGN.md section 5).
//!
//! `POST /` takes translated contacts in any accepted form (CloudEvent in any
//! mode, KafkaSource envelope, the original translated CSV line) and stores
//! each as one row of `contactlist`, exactly once per CloudEvent identity
//! (`source`, `id`): a redelivered event answers 200 and writes nothing.
//! Rows are written by group commit ([`commit`]); a request is answered only
//! after its rows are committed. A `dev.knative.sources.ping` event purges rows
//! observed more than `PACT_RETENTION_DAYS` ago.

//!
//! The crate follows the function template: `config.rs` (settings),
//! `app.rs` (state, router, handlers, start-up), `error.rs` (errors), plus
//! its own `commit.rs` (group commit) and `store.rs` (SQL).

pub mod app;
pub mod commit;
pub mod config;
pub mod error;
pub mod store;

pub use app::{AppState, Contactlog, app};
pub use config::*;
pub use error::{Error, Result};

/// The function's name, in logs and problem documents.
pub const NAME: &str = "pact-contactlog";

/// The `source` recorded for contacts that came without a CloudEvent identity
/// (a plain CSV or JSON body); each gets a new UUIDv7 as its id.
pub const UNIDENTIFIED_SOURCE: &str = "/pact/contactlog/unidentified";
/// The whole process (settings from the environment, serve until SIGTERM,
/// then flush queued writes): the runtime's one start-up path. What the
/// `pact-contactlog` binary and `pact function contactlog` run.
pub fn run() -> std::process::ExitCode {
    pact_runtime::server::run::<Contactlog>()
}
