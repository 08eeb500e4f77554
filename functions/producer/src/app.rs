//! pact-producer's state, router, handlers and start-up.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::Utc;
use pact_runtime::cloudevents::{AttributesReader, Event};
use pact_runtime::config::RuntimeConfig;
use pact_runtime::contact::Contact;
use pact_runtime::emit::{Emitted, Emitter, OutData, Outgoing};
use pact_runtime::identity::{self, event_id};
use pact_runtime::ingest::{LimitedRequest, all_or_nothing, json_array, read_events};
use pact_runtime::metrics::Metrics;
use pact_runtime::server::{AlwaysReady, Function, Started, contract};
use pact_runtime::trace::TraceParent;
use pact_runtime::wire::{self, UntranslatedData};
use serde::Deserialize;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::{NAME, SOURCE};

/// pact-producer, as the runtime starts it.
pub struct Producer;

impl Function for Producer {
    const NAME: &'static str = NAME;
    type Settings = Config;

    fn start(config: Config) -> Started {
        Started::new(app(AppState::with_emit_token_file(
            config.runtime,
            config.emit_token_file,
        )))
    }
}

/// Shared by every request.
#[derive(Clone)]
pub struct AppState {
    config: Arc<RuntimeConfig>,
    emitter: Arc<Emitter>,
    metrics: Arc<Metrics>,
}

impl AppState {
    /// Builds the state from the configuration.
    pub fn new(config: RuntimeConfig) -> Self {
        Self::with_emit_token_file(config, None)
    }

    /// [`AppState::new`] that sends the token in `emit_token_file`
    /// (`PACT_EMIT_TOKEN_FILE`) as bearer to `K_SINK`.
    pub fn with_emit_token_file(
        config: RuntimeConfig,
        emit_token_file: Option<std::path::PathBuf>,
    ) -> Self {
        let metrics = Metrics::new().freeze();
        let emitter = Arc::new(
            Emitter::new(SOURCE, &config, metrics.clone()).with_token_file(emit_token_file),
        );
        Self {
            config: Arc::new(config),
            emitter,
            metrics,
        }
    }

    fn untranslated_event(
        &self,
        id: String,
        contact: &Contact,
        traceparent: Option<TraceParent>,
    ) -> Result<Event> {
        let data = serde_json::to_vec(&UntranslatedData::from(contact))
            .map_err(|e| Error::bug("could not encode the event data", e))?;
        self.emitter.build(Outgoing {
            id,
            event_type: wire::UNTRANSLATED,
            time: contact.observed_at.get(),
            partition_key: Some(contact.pair.partition_key()),
            traceparent,
            data: OutData::Json(data),
        })
    }
}

/// The producer's routes inside the function contract.
pub fn app(state: AppState) -> Router {
    let config = state.config.clone();
    let metrics = state.metrics.clone();
    let routes = Router::new()
        .route("/", post(receive_event))
        .route("/contacts", post(receive_contacts))
        .route("/pact/producer", post(receive_message))
        .with_state(state);
    contract(routes, &config, metrics, AlwaysReady)
}

/// `POST /pact/producer`: `message=mmid1,mmid2,lat,lon` in the query string
/// or as a form field, as the original demo took it.
async fn receive_message(
    State(state): State<AppState>,
    uri: Uri,
    LimitedRequest { headers, body }: LimitedRequest,
) -> Result<Response> {
    let message = message_field(uri.query(), &headers, &body)?;
    let one_contact =
        || Error::malformed("message holds one contact: mmid1,mmid2,lat,lon[,observed_at]");
    let mut records = wire::csv_records(message.as_bytes(), 1).map_err(|e| match e {
        Error::TooMany { .. } => one_contact(),
        e => e,
    })?;
    if records.is_empty() {
        return Err(one_contact());
    }
    state.metrics.received("csv");
    let data = wire::untranslated_from_csv(&records.remove(0))?;
    let time_given = data.gives_time();
    let contact = data.into_contact(None, Utc::now())?;
    let id = match idempotency_key(&headers)? {
        Some(key) => identity::of_contact(&key, &contact, time_given),
        None => new_event_id(),
    };
    let event = state.untranslated_event(id.clone(), &contact, header_trace(&headers))?;
    match state.emitter.emit(vec![event]).await? {
        Emitted::Sent(_) => Ok((
            StatusCode::ACCEPTED,
            format!("Contact accepted as event {id}\n"),
        )
            .into_response()),
        reply => Ok(reply.into_response(StatusCode::ACCEPTED)),
    }
}

fn message_field(query: Option<&str>, headers: &HeaderMap, body: &[u8]) -> Result<String> {
    #[derive(Deserialize)]
    struct Fields {
        message: Option<String>,
    }
    let parse = |text: &[u8]| {
        serde_urlencoded::from_bytes::<Fields>(text)
            .map_err(|e| Error::malformed(format!("not a valid form: {e}")))
    };
    if let Some(message) = parse(query.unwrap_or_default().as_bytes())?.message {
        return Ok(message);
    }
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if is_form && let Some(message) = parse(body)?.message {
        return Ok(message);
    }
    Err(Error::malformed(
        "send the contact as message=mmid1,mmid2,lat,lon in the query string or an application/x-www-form-urlencoded body",
    ))
}

/// One item of `POST /contacts`: the untranslated data plus an optional id.
#[derive(Deserialize)]
struct Submission {
    #[serde(default)]
    id: Option<String>,
    #[serde(flatten)]
    data: UntranslatedData,
}

/// `POST /contacts`: a JSON object or an array of them.
async fn receive_contacts(
    State(state): State<AppState>,
    LimitedRequest { headers, body }: LimitedRequest,
) -> Result<Response> {
    if let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        let essence = ct.split(';').next().unwrap_or_default().trim();
        if essence != "application/json" {
            return Err(Error::UnsupportedMediaType(format!(
                "POST /contacts reads application/json, not {essence:?}"
            )));
        }
    }
    // An array is counted while it is parsed: 413 past the limit.
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let (items, single) = if first == Some(&b'[') {
        let items: Vec<serde_json::Value> = json_array(&body, "the body is not valid JSON")?;
        if items.is_empty() {
            return Err(Error::malformed("the array holds no contacts"));
        }
        (items, false)
    } else {
        let value: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| Error::malformed(format!("the body is not valid JSON: {e}")))?;
        if !value.is_object() {
            return Err(Error::malformed(
                "send a JSON object or an array of objects",
            ));
        }
        (vec![value], true)
    };
    let key = idempotency_key(&headers)?;
    if key.is_some() && !single {
        return Err(Error::invalid(
            "Idempotency-Key",
            "names the event of a single object; give each item of an array its own id field",
        ));
    }
    let now = Utc::now();
    let trace = header_trace(&headers);
    let events = all_or_nothing(items, |item| {
        state.metrics.received("json");
        let submission: Submission = wire::from_json_value(item)?;
        let key = match submission.id {
            Some(id) => Some(event_id("id", &id)?),
            None => key.clone(),
        };
        let time_given = submission.data.gives_time();
        let contact = submission.data.into_contact(None, now)?;
        let id = match key {
            Some(key) => identity::of_contact(&key, &contact, time_given),
            None => new_event_id(),
        };
        state.untranslated_event(id, &contact, trace.clone())
    })?;
    let ids: Vec<String> = events.iter().map(|e| e.id().to_owned()).collect();
    match state.emitter.emit(events).await? {
        Emitted::Sent(_) => Ok((
            StatusCode::ACCEPTED,
            axum::Json(serde_json::json!({ "accepted": ids })),
        )
            .into_response()),
        reply => Ok(reply.into_response(StatusCode::ACCEPTED)),
    }
}

/// `POST /`: CloudEvents from phones or the simulator, validated and forwarded
/// under ids derived from theirs and their contacts.
async fn receive_event(
    State(state): State<AppState>,
    LimitedRequest { headers, body }: LimitedRequest,
) -> Result<Response> {
    let now = Utc::now();
    let inputs = read_events(&headers, body, &[wire::UNTRANSLATED])?;
    let events = all_or_nothing(inputs, |input| {
        state
            .metrics
            .received(input.event_type.as_deref().unwrap_or(wire::UNTRANSLATED));
        let data = input.untranslated()?;
        let time_given = data.gives_time() || input.time.is_some();
        let contact = data.into_contact(input.time, now)?;
        let id = match &input.identity {
            Some(sender) => identity::of_contact(&sender.key()?, &contact, time_given),
            None => new_event_id(),
        };
        state.untranslated_event(id, &contact, input.traceparent.clone())
    })?;
    Ok(state.emitter.emit(events).await?.into_event_response())
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(value) => {
            let text = value
                .to_str()
                .map_err(|_| Error::invalid("Idempotency-Key", "must be printable ASCII"))?;
            event_id("Idempotency-Key", text).map(Some)
        }
    }
}

fn header_trace(headers: &HeaderMap) -> Option<TraceParent> {
    headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(TraceParent::parse)
}

/// A new event id: UUIDv7, so ids sort by creation time.
fn new_event_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
