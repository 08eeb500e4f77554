//! The `pact-contactlog` binary: read the configuration, serve, and flush
//! queued writes before exiting.

use std::process::ExitCode;
use std::time::Duration;

use pact_contactlog::{AppState, Config, app};
use pact_runtime::config::ProcessEnv;
use pact_runtime::server::{config_failed, start};

/// How long queued writes may take to commit after the server stopped.
const FLUSH_LIMIT: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> ExitCode {
    let (config, warnings) = match Config::from_env(&ProcessEnv) {
        Ok(read) => read,
        Err(e) => return config_failed("pact-contactlog", &e),
    };
    pact_runtime::telemetry::init(&config.runtime);
    let runtime = config.runtime.clone();
    tracing::info!(database = %config.database.url.redacted(), "contact log");
    let (state, writer) = AppState::start(config);
    let database = state.database().clone();
    let code = start("pact-contactlog", &runtime, &warnings, app(state)).await;
    if tokio::time::timeout(FLUSH_LIMIT, writer).await.is_err() {
        tracing::warn!(
            "queued writes did not commit in time; their senders got no answer and will retry"
        );
    }
    database.close().await;
    code
}
