//! Logs with `tracing`: JSON lines when `PACT_LOG_FORMAT=json` (the container
//! default), human text otherwise.

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, RuntimeConfig};

/// Installs the global subscriber. Call once, first thing in `main`; a second
/// call (tests, the CLI embedding several functions) keeps the first.
pub fn init(config: &RuntimeConfig) {
    let filter = EnvFilter::try_new(&config.log_filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.log_format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder.compact().try_init(),
    };
}
