//! pact-producer: the ingress phones call (DESIGN.md section 5).
//!
//! Three ways in, one way out: every accepted contact leaves as a
//! `dev.pact.contact.untranslated` event, keyed by the unordered id pair.
//! - `POST /pact/producer?message=1,2,44.98,-93.25` (or as a form field): the
//!   original demo's endpoint, kept as it was; answers 202.
//! - `POST /contacts`: a JSON object or an array of up to 1000; answers 202
//!   with the event ids. `Idempotency-Key` names the event of a single object,
//!   an `id` field that of each item; otherwise a UUIDv7 is made.
//! - `POST /`: a CloudEvent of type `dev.pact.contact.untranslated`.
//!
//! A request is all or nothing: when one contact is wrong, none is sent, and
//! the problem document says which and why.

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
use pact_runtime::emit::{Emitted, Emitter, OutData, Outgoing, event_id};
use pact_runtime::ingest::{LimitedBody, all_or_nothing, read_events};
use pact_runtime::metrics::Metrics;
use pact_runtime::server::{AlwaysReady, contract};
use pact_runtime::trace::TraceParent;
use pact_runtime::wire::{self, UntranslatedData};
use pact_runtime::{Error, Result};
use serde::Deserialize;

/// The function's name, in logs and problem documents.
pub const NAME: &str = "pact-producer";

/// The `source` of every event this function emits.
pub const SOURCE: &str = "/pact/producer";
/// Most contacts one `POST /contacts` may carry.
pub const MAX_CONTACTS_PER_REQUEST: usize = 1000;

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
        let metrics = Metrics::new().freeze();
        let emitter = Arc::new(Emitter::new(SOURCE, &config, metrics.clone()));
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
            .map_err(|e| Error::Internal(format!("could not encode the event data: {e}")))?;
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
    headers: HeaderMap,
    LimitedBody(body): LimitedBody,
) -> Result<Response> {
    let message = message_field(uri.query(), &headers, &body)?;
    let mut records = wire::csv_records(message.as_bytes())?;
    if records.len() != 1 {
        return Err(Error::malformed(
            "message holds one contact: mmid1,mmid2,lat,lon[,observed_at]",
        ));
    }
    state.metrics.received("csv");
    let contact =
        wire::untranslated_from_csv(&records.remove(0))?.into_contact(None, Utc::now())?;
    let id = idempotency_key(&headers)?.unwrap_or_else(new_event_id);
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
    headers: HeaderMap,
    LimitedBody(body): LimitedBody,
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
    let value: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| Error::malformed(format!("the body is not valid JSON: {e}")))?;
    let (items, single) = match value {
        serde_json::Value::Object(_) => (vec![value], true),
        serde_json::Value::Array(items) if items.is_empty() => {
            return Err(Error::malformed("the array holds no contacts"));
        }
        serde_json::Value::Array(items) if items.len() > MAX_CONTACTS_PER_REQUEST => {
            return Err(Error::TooMany {
                count: items.len(),
                limit: MAX_CONTACTS_PER_REQUEST,
            });
        }
        serde_json::Value::Array(items) => (items, false),
        _ => {
            return Err(Error::malformed(
                "send a JSON object or an array of objects",
            ));
        }
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
        let id = match submission.id {
            Some(id) => event_id("id", &id)?,
            None => key.clone().unwrap_or_else(new_event_id),
        };
        let contact = submission.data.into_contact(None, now)?;
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
/// with their own ids.
async fn receive_event(
    State(state): State<AppState>,
    headers: HeaderMap,
    LimitedBody(body): LimitedBody,
) -> Result<Response> {
    let now = Utc::now();
    let inputs = read_events(&headers, body, &[wire::UNTRANSLATED])?;
    let events = all_or_nothing(inputs, |input| {
        state
            .metrics
            .received(input.event_type.as_deref().unwrap_or(wire::UNTRANSLATED));
        let contact = input.untranslated()?.into_contact(input.time, now)?;
        state.untranslated_event(input.output_id()?, &contact, input.traceparent.clone())
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

/// The whole process: configuration from the environment, serve until
/// SIGTERM. What the `pact-producer` binary and `pact function producer` run.
pub fn run() -> std::process::ExitCode {
    use pact_runtime::server::{block_on, config_failed, start};
    let (config, warnings) = match RuntimeConfig::from_env(&pact_runtime::config::ProcessEnv) {
        Ok(read) => read,
        Err(e) => return config_failed(NAME, &e),
    };
    block_on(NAME, async move {
        let app = app(AppState::new(config.clone()));
        start(NAME, &config, &warnings, app).await
    })
}
