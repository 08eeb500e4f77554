//! The `pact-query` binary: read the configuration, serve.

use std::process::ExitCode;

use pact_query::{AppState, Config, NAME, app};
use pact_runtime::config::ProcessEnv;
use pact_runtime::database::Database;
use pact_runtime::server::{config_failed, start};

fn main() -> ExitCode {
    // Read before the runtime starts: the token file is read with blocking I/O.
    let (config, warnings) = match Config::from_env(&ProcessEnv) {
        Ok(read) => read,
        Err(e) => return config_failed(NAME, &e),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("{NAME}: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        // Logs first, so the background migration's messages are kept.
        pact_runtime::telemetry::init(&config.runtime);
        let database = Database::connect_lazy(&config.database);
        let state = AppState::new(config.clone(), database);
        start(NAME, &config.runtime, &warnings, app(state)).await
    })
}
