//! `pact dev`: the whole pipeline on one machine, with no cluster.
//!
//! Each function runs as its own process (`pact function <name>`, the same
//! code as its own binary) on its own port, with the environment it gets in
//! the cluster: `PORT`, `K_SINK`, `K_SERVICE`, `DATABASE_URL`. The stand-in
//! of [`crate::eventing`] plays KafkaSink, Kafka and KafkaSource between them:
//!
//! ```text
//! pact-producer ─K_SINK─▶ topic pact-untranslated ─▶ pact-translation
//! pact-translation ─K_SINK─▶ topic pact-translated ─▶ pact-contactlog ─▶ DATABASE_URL
//! undeliverable ─▶ topic pact-deadletter        a daily ping ─▶ pact-contactlog
//! ```
//!
//! A function that dies is started again on the same port, as Kubernetes
//! would restart its container. Ctrl-C stops the producer first, then the
//! deliveries (offsets committed), then the other functions, each draining
//! what it acknowledged.

mod args;
mod logs;
mod ping;
mod pipeline;
mod run;
mod supervise;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::Function;

pub use args::{Args, Settings};
pub use pipeline::Pipeline;
pub use run::run;

/// Start-up was interrupted (a signal); what had started was stopped.
#[derive(Debug, thiserror::Error)]
#[error("interrupted while starting")]
pub struct Cancelled;

/// Where the parts listen: each function by its short name, and
/// `eventing`.
#[derive(Debug, Clone, Serialize)]
pub struct Urls {
    /// Each function of pipeline.toml, by its short name (`producer`).
    #[serde(flatten)]
    pub functions: BTreeMap<String, String>,
    /// The eventing stand-in.
    pub eventing: String,
}

impl Urls {
    /// The base URL of the function with this short name (`""` for a name
    /// pipeline.toml does not list; the unit tests of the callers' names
    /// keep that from happening).
    pub fn of(&self, function: Function) -> &str {
        self.functions
            .get(function.name())
            .map_or("", String::as_str)
    }
}

/// Where lifecycle events go: human lines, JSON lines, or nowhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Events {
    /// Human lines on stderr.
    Text,
    /// JSON lines on stdout.
    Json,
    /// Nothing (the demo prints its own).
    Quiet,
}
