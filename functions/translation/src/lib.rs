//! pact-translation: reverse geocoding (DESIGN.md section 5).
//!
//! `POST /` takes an untranslated contact in any accepted form (CloudEvent in
//! any mode, KafkaSource envelope, the original CSV line) and emits a
//! `dev.pact.contact.translated` event with the address of the contact's
//! coordinates. The output's id is a UUIDv5 of the input's `source` + `id`
//! (DESIGN.md section 3), so a redelivered input gives the identical output
//! event, pact-contactlog stores it once, and two inputs that share an `id`
//! under different sources both become rows.

pub mod geocoder;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use chrono::Utc;
use pact_runtime::config::{Env, EnvReader, RuntimeConfig};
use pact_runtime::contact::TranslatedContact;
use pact_runtime::emit::{Emitter, OutData, Outgoing};
use pact_runtime::ingest::{LimitedBody, all_or_nothing, read_events};
use pact_runtime::metrics::Metrics;
use pact_runtime::sender_auth::{SenderAuth, protect, read_emit_token_file};
use pact_runtime::server::{AlwaysReady, contract};
use pact_runtime::wire::{self, TranslatedData};
use pact_runtime::{Error, Result};
use tracing::Instrument;

/// The function's name, in logs and problem documents.
pub const NAME: &str = "pact-translation";

pub use geocoder::{Geocoder, Offline, Online, OnlineConfig, Provider};

/// The `source` of every event this function emits.
pub const SOURCE: &str = "/pact/translation";
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
    pub fn from_env<E: Env + ?Sized>(
        env: &E,
    ) -> Result<(Self, Vec<String>), pact_runtime::config::ConfigError> {
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

/// Shared by every request.
pub struct AppState<G> {
    config: Arc<Config>,
    emitter: Arc<Emitter>,
    metrics: Arc<Metrics>,
    geocoder: Arc<G>,
}

impl<G> Clone for AppState<G> {
    fn clone(&self) -> Self {
        Self {
            config: self.config.clone(),
            emitter: self.emitter.clone(),
            metrics: self.metrics.clone(),
            geocoder: self.geocoder.clone(),
        }
    }
}

impl<G: Geocoder> AppState<G> {
    /// Builds the state from the configuration and a geocoder.
    pub fn new(config: Config, geocoder: G) -> Self {
        let mut metrics = Metrics::new();
        geocoder.register_metrics(metrics.registry_mut());
        let metrics = metrics.freeze();
        let emitter = Arc::new(
            Emitter::new(SOURCE, &config.runtime, metrics.clone())
                .with_token_file(config.emit_token_file.clone()),
        );
        Self {
            config: Arc::new(config),
            emitter,
            metrics,
            geocoder: Arc::new(geocoder),
        }
    }
}

/// The translation route inside the function contract.
pub fn app<G: Geocoder>(state: AppState<G>) -> Router {
    let config = state.config.clone();
    let metrics = state.metrics.clone();
    // Only the event route checks the sender; probes and metrics stay open.
    let routes = protect(
        Router::new()
            .route("/", post(translate::<G>))
            .with_state(state),
        &config.sender_auth,
    );
    contract(routes, &config.runtime, metrics, AlwaysReady)
}

/// `POST /`: every event of the request is validated first (all or nothing),
/// then geocoded and emitted.
async fn translate<G: Geocoder>(
    State(state): State<AppState<G>>,
    headers: HeaderMap,
    LimitedBody(body): LimitedBody,
) -> Result<Response> {
    let now = Utc::now();
    let inputs = read_events(&headers, body, &[wire::UNTRANSLATED])?;
    let contacts = all_or_nothing(inputs, |input| {
        state
            .metrics
            .received(input.event_type.as_deref().unwrap_or(wire::UNTRANSLATED));
        let contact = input.untranslated()?.into_contact(input.time, now)?;
        Ok((input.output_id()?, input.traceparent, contact))
    })?;

    let mut events = Vec::with_capacity(contacts.len());
    for (id, traceparent, contact) in contacts {
        let resolved = state
            .geocoder
            .reverse(contact.at)
            .instrument(tracing::debug_span!("geocode", ce.id = %id))
            .await?;
        let translated = TranslatedContact {
            pair: contact.pair,
            at: Some(contact.at),
            observed_at: contact.observed_at,
            address: resolved.address,
            geocoder: resolved.geocoder,
        };
        let data = match state.config.output {
            OutputFormat::Json => OutData::Json(
                serde_json::to_vec(&TranslatedData::from(&translated)).map_err(|e| {
                    Error::Internal(format!("could not encode the event data: {e}"))
                })?,
            ),
            OutputFormat::Csv => OutData::Csv(wire::translated_to_csv(&translated)),
        };
        events.push(state.emitter.build(Outgoing {
            id,
            event_type: wire::TRANSLATED,
            time: translated.observed_at.get(),
            partition_key: Some(translated.pair.partition_key()),
            traceparent,
            data,
        })?);
    }
    Ok(state.emitter.emit(events).await?.into_event_response())
}

/// The whole process: configuration from the environment, serve until
/// SIGTERM. What the `pact-translation` binary and `pact function
/// translation` run.
pub fn run() -> std::process::ExitCode {
    use pact_runtime::server::{block_on, config_failed, start};
    let (config, warnings) = match Config::from_env(&pact_runtime::config::ProcessEnv) {
        Ok(read) => read,
        Err(e) => return config_failed(NAME, &e),
    };
    block_on(NAME, async move {
        let runtime = config.runtime.clone();
        // Logs before `start`, which keeps this first set-up.
        pact_runtime::telemetry::init(&runtime);
        let router = match config.geocoder.clone() {
            GeocoderKind::Offline => app(AppState::new(config, Offline)),
            GeocoderKind::Online(online) => {
                tracing::info!(
                    geocoder = online.provider.name(),
                    url = %online.url,
                    fallback = ?online.fallback,
                    "online geocoder; contacts' coordinates are sent to it"
                );
                app(AppState::new(config, Online::new(*online)))
            }
        };
        start(NAME, &runtime, &warnings, router).await
    })
}
