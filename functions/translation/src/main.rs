//! The `pact-translation` binary: read the configuration, serve.

use std::process::ExitCode;

use pact_runtime::config::ProcessEnv;
use pact_runtime::server::{config_failed, start};
use pact_translation::{AppState, Config, GeocoderKind, Offline, app};

#[tokio::main]
async fn main() -> ExitCode {
    let (config, warnings) = match Config::from_env(&ProcessEnv) {
        Ok(read) => read,
        Err(e) => return config_failed("pact-translation", &e),
    };
    let runtime = config.runtime.clone();
    let router = match config.geocoder {
        GeocoderKind::Offline => app(AppState::new(config, Offline)),
    };
    start("pact-translation", &runtime, &warnings, router).await
}
