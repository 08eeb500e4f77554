//! pact-producer's settings: the runtime's, and the token it sends to
//! `K_SINK`.

use std::path::PathBuf;

use pact_runtime::config::{ConfigError, Env, EnvReader, RuntimeConfig};
use pact_runtime::sender_auth::read_emit_token_file;

/// Everything pact-producer reads from its environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The function contract's settings.
    pub runtime: RuntimeConfig,
    /// `PACT_EMIT_TOKEN_FILE`: the bearer token sent to `K_SINK`.
    pub emit_token_file: Option<PathBuf>,
}

impl Config {
    /// Reads every variable, reporting all bad ones together; `Ok` carries
    /// warnings about unknown `PACT_*` variables.
    pub fn from_env<E: Env + ?Sized>(env: &E) -> Result<(Self, Vec<String>), ConfigError> {
        let mut r = EnvReader::new(env);
        let runtime = RuntimeConfig::read(&mut r);
        let emit_token_file = read_emit_token_file(&mut r);
        let warnings = r.finish()?;
        Ok((
            Self {
                runtime,
                emit_token_file,
            },
            warnings,
        ))
    }
}

// `Config::from_env` and its `runtime` field, for `pact_runtime::server::run`.
pact_runtime::settings!(Config);
