//! The `pact-producer` binary: read the configuration, serve.

use std::process::ExitCode;

use pact_runtime::config::{ProcessEnv, RuntimeConfig};
use pact_runtime::server::{config_failed, start};

#[tokio::main]
async fn main() -> ExitCode {
    let (config, warnings) = match RuntimeConfig::from_env(&ProcessEnv) {
        Ok(read) => read,
        Err(e) => return config_failed("pact-producer", &e),
    };
    let app = pact_producer::app(pact_producer::AppState::new(config.clone()));
    start("pact-producer", &config, &warnings, app).await
}
