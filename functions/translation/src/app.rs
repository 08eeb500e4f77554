//! pact-translation's state, router, handler and start-up.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use chrono::Utc;
use pact_runtime::contact::TranslatedContact;
use pact_runtime::emit::{Emitter, OutData, Outgoing};
use pact_runtime::ingest::{LimitedRequest, all_or_nothing, read_events};
use pact_runtime::metrics::Metrics;
use pact_runtime::sender_auth::protect;
use pact_runtime::server::{AlwaysReady, Function, Started, contract};
use pact_runtime::wire::{self, TranslatedData};
use tracing::Instrument;

use crate::config::{Config, GeocoderKind, OutputFormat};
use crate::error::{Error, Result};
use crate::geocoder::{Geocoder, Offline, Online};
use crate::{NAME, SOURCE};

/// pact-translation, as the runtime starts it.
pub struct Translation;

impl Function for Translation {
    const NAME: &'static str = NAME;
    type Settings = Config;

    fn start(config: Config) -> Started {
        Started::new(match config.geocoder.clone() {
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
        })
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
    LimitedRequest { headers, body }: LimitedRequest,
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
                serde_json::to_vec(&TranslatedData::from(&translated))
                    .map_err(|e| Error::bug("could not encode the event data", e))?,
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
