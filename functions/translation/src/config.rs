//! pact-translation's settings: the runtime's, the geocoder's, the output
//! format, who may send, and the token it sends to `K_SINK`.

use pact_runtime::config::{ConfigError, Env, EnvReader, RuntimeConfig};
use pact_runtime::sender_auth::{SenderAuth, read_emit_token_file};

use crate::geocoder::{OnlineConfig, Provider};

/// Which geocoder to use: `offline`, `nominatim`, `photon` or `mapquest`.
pub const PACT_GEOCODER: &str = "PACT_GEOCODER";
/// The online provider's base URL (default: its public service).
pub const PACT_GEOCODER_URL: &str = "PACT_GEOCODER_URL";
/// The MapQuest key (a Secret in the cluster); never logged.
pub const PACT_GEOCODER_KEY: &str = "PACT_GEOCODER_KEY";
/// Time budget of one online lookup, retries included, milliseconds.
pub const PACT_GEOCODER_TIMEOUT_MS: &str = "PACT_GEOCODER_TIMEOUT_MS";
/// `offline` (default) or `none` (503 with `Retry-After`) when the provider fails.
pub const PACT_GEOCODER_FALLBACK: &str = "PACT_GEOCODER_FALLBACK";
/// An e-mail address or URL sent in the `User-Agent` to the provider.
pub const PACT_GEOCODER_CONTACT: &str = "PACT_GEOCODER_CONTACT";
/// Requests per second sent to the provider at most.
pub const PACT_GEOCODER_RATE: &str = "PACT_GEOCODER_RATE";
/// Extra attempts of one lookup after a 5xx, timeout or connection failure.
pub const PACT_GEOCODER_RETRIES: &str = "PACT_GEOCODER_RETRIES";
/// Cache entries at most.
pub const PACT_GEOCODER_CACHE_SIZE: &str = "PACT_GEOCODER_CACHE_SIZE";
/// How long a cached answer is used, seconds.
pub const PACT_GEOCODER_CACHE_TTL_S: &str = "PACT_GEOCODER_CACHE_TTL_S";
/// Decimals coordinates are rounded to for the cache and the request.
pub const PACT_GEOCODER_CACHE_PRECISION: &str = "PACT_GEOCODER_CACHE_PRECISION";
/// Consecutive provider failures that open the circuit breaker.
pub const PACT_GEOCODER_BREAKER_FAILURES: &str = "PACT_GEOCODER_BREAKER_FAILURES";
/// How long the circuit stays open, milliseconds.
pub const PACT_GEOCODER_BREAKER_OPEN_MS: &str = "PACT_GEOCODER_BREAKER_OPEN_MS";
/// Format of the output event's data.
pub const PACT_OUTPUT_FORMAT: &str = "PACT_OUTPUT_FORMAT";

/// The data format of emitted events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// `application/json`, the translated data of DESIGN.md section 3.
    #[default]
    Json,
    /// `text/csv`: the original translated line, for consumers of the old topic.
    Csv,
}

/// The geocoder selected by `PACT_GEOCODER`, with its settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum GeocoderKind {
    /// The embedded offline geocoder.
    #[default]
    Offline,
    /// An online provider, falling back as configured.
    Online(Box<OnlineConfig>),
}

/// pact-translation's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The function contract's settings.
    pub runtime: RuntimeConfig,
    /// `PACT_GEOCODER`.
    pub geocoder: GeocoderKind,
    /// `PACT_OUTPUT_FORMAT`.
    pub output: OutputFormat,
    /// `PACT_SENDER_AUTH` and `PACT_OIDC_*`: who may `POST /`.
    pub sender_auth: SenderAuth,
    /// `PACT_EMIT_TOKEN_FILE`: the bearer token sent to `K_SINK`.
    pub emit_token_file: Option<std::path::PathBuf>,
}

impl Config {
    /// Reads every variable, reporting all bad ones together; `Ok` carries
    /// warnings about unknown `PACT_*` variables.
    pub fn from_env<E: Env + ?Sized>(env: &E) -> Result<(Self, Vec<String>), ConfigError> {
        let mut r = EnvReader::new(env);
        let runtime = RuntimeConfig::read(&mut r);
        let provider = r.parse_with(
            PACT_GEOCODER,
            "offline, nominatim, photon or mapquest",
            |v| match v.trim().to_ascii_lowercase().as_str() {
                "offline" => Some(None),
                "nominatim" => Some(Some(Provider::Nominatim)),
                "photon" => Some(Some(Provider::Photon)),
                "mapquest" => Some(Some(Provider::Mapquest)),
                _ => None,
            },
        );
        // The PACT_GEOCODER_* settings are read only for an online provider;
        // with the offline one they are reported as set but unread.
        let geocoder = match provider.flatten() {
            None => GeocoderKind::Offline,
            Some(provider) => GeocoderKind::Online(Box::new(OnlineConfig::read(&mut r, provider))),
        };
        let output = r
            .parse_with(PACT_OUTPUT_FORMAT, "json or csv", |v| {
                match v.trim().to_ascii_lowercase().as_str() {
                    "json" => Some(OutputFormat::Json),
                    "csv" => Some(OutputFormat::Csv),
                    _ => None,
                }
            })
            .unwrap_or_default();
        let sender_auth = SenderAuth::read(&mut r);
        let emit_token_file = read_emit_token_file(&mut r);
        let warnings = r.finish()?;
        Ok((
            Self {
                runtime,
                geocoder,
                output,
                sender_auth,
                emit_token_file,
            },
            warnings,
        ))
    }
}

// `Config::from_env` and its `runtime` field, for `pact_runtime::server::run`.
pact_runtime::settings!(Config);
