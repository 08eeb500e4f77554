//! Emitting events: to `K_SINK` in binary mode with bounded retries, or in
//! the HTTP reply when `K_SINK` is unset (the Broker/Trigger reply path).
//!
//! Nothing is acknowledged early: a caller gets 2xx only after the sink
//! accepted every event of its request; when the sink keeps failing, the
//! caller gets 503 and its event source retries later.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use cloudevents::{AttributesReader, Data, Event, EventBuilder, EventBuilderV10};
use futures_util::{StreamExt, TryStreamExt};
use http::{HeaderValue, StatusCode, header};
use reqwest::Url;

use crate::config::{EmitPolicy, RuntimeConfig};
use crate::error::{Error, Result};
use crate::metrics::{ErrorLabels, Metrics};
use crate::retry::{backoff, is_retryable, retry_after, wait};
use crate::sender_auth::EmitToken;
use crate::trace::TraceParent;

/// How long a caller should wait after the sink failed every attempt.
pub const SINK_RETRY_AFTER: Duration = Duration::from_secs(5);
/// Events of one request delivered to the sink at the same time.
pub const MAX_IN_FLIGHT: usize = 16;

/// Why a function with `PACT_REQUIRE_SINK=true` and no `K_SINK` answers 503
/// (`POST`) and is not ready (`/readyz`): its output would be discarded.
pub const SINK_MISSING: &str = "K_SINK is not set and PACT_REQUIRE_SINK=true: \
     this function waits for its SinkBinding to inject K_SINK (a new revision); retry later";

/// An event to emit, before the runtime adds `source` and the overrides.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// `id`: derived from the input's identity where there is one
    /// ([`crate::identity`]), so a redelivered input gives the identical output.
    pub id: String,
    /// `type`.
    pub event_type: &'static str,
    /// `time`: when the contact was observed.
    pub time: DateTime<Utc>,
    /// The `partitionkey` extension.
    pub partition_key: Option<String>,
    /// The `traceparent` extension, carried from the input.
    pub traceparent: Option<TraceParent>,
    /// `data` and `datacontenttype`.
    pub data: OutData,
}

/// The data of an emitted event.
#[derive(Debug, Clone)]
pub enum OutData {
    /// `application/json`, already serialized (fields in declaration order).
    Json(Vec<u8>),
    /// `text/csv`: one line in the original demo's format.
    Csv(String),
}

/// What became of emitted events.
#[derive(Debug)]
pub enum Emitted {
    /// The sink accepted this many events.
    Sent(usize),
    /// No sink: the events go back in the HTTP response.
    Reply(Vec<Event>),
}

impl Emitted {
    /// The answer to an event source: 202 when the sink took the events, 200
    /// with the events in reply mode.
    pub fn into_event_response(self) -> Response {
        let status = match self {
            Self::Sent(_) => StatusCode::ACCEPTED,
            Self::Reply(_) => StatusCode::OK,
        };
        self.into_response(status)
    }

    /// The response with `status`: no body when the sink took the events; in
    /// reply mode the event in binary mode, or a JSON batch
    /// (`application/cloudevents-batch+json`) when there are several.
    pub fn into_response(self, status: StatusCode) -> Response {
        match self {
            Self::Sent(_) => status.into_response(),
            Self::Reply(mut events) if events.len() == 1 => {
                let mut response = events
                    .pop()
                    .map(crate::binary::binary_response)
                    .unwrap_or_default();
                *response.status_mut() = status;
                response
            }
            Self::Reply(events) => {
                let events: Vec<Event> = events.into_iter().map(json_data_inline).collect();
                let body = serde_json::to_vec(&events).unwrap_or_default();
                let mut response = (status, body).into_response();
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/cloudevents-batch+json"),
                );
                response
            }
        }
    }
}

/// In structured mode (batches, display) binary data would be written as
/// `data_base64`; JSON data reads better inline as `data`.
pub fn json_data_inline(mut event: Event) -> Event {
    let parsed = match event.data() {
        Some(Data::Binary(bytes)) if event.datacontenttype().is_some_and(crate::wire::is_json) => {
            serde_json::from_slice::<serde_json::Value>(bytes).ok()
        }
        _ => None,
    };
    if let Some(value) = parsed {
        event.set_data_unchecked(value);
    }
    event
}

/// Emits a function's events.
#[derive(Debug)]
pub struct Emitter {
    source: &'static str,
    overrides: Vec<(String, String)>,
    sink: Option<Sink>,
    // PACT_REQUIRE_SINK: no reply mode to fall back to.
    require_sink: bool,
    metrics: Arc<Metrics>,
    // The SinkBinding's OIDC token, for sinks that require one.
    token: Option<EmitToken>,
}

#[derive(Debug)]
struct Sink {
    url: Url,
    policy: EmitPolicy,
    // Built on first use: TLS set-up costs milliseconds a cold start need not pay.
    client: OnceLock<reqwest::Client>,
}

impl Emitter {
    /// An emitter whose events carry `source` (a URI reference such as
    /// `/pact/translation`).
    pub fn new(source: &'static str, config: &RuntimeConfig, metrics: Arc<Metrics>) -> Self {
        Self {
            source,
            overrides: config.ce_overrides.clone(),
            sink: config.sink.clone().map(|url| Sink {
                url,
                policy: config.emit,
                client: OnceLock::new(),
            }),
            require_sink: config.require_sink,
            metrics,
            token: None,
        }
    }

    /// Whether `K_SINK` is set (else events go back in the reply).
    pub fn has_sink(&self) -> bool {
        self.sink.is_some()
    }

    /// Sends the token in `path` (when the file exists) as bearer to `K_SINK`.
    pub fn with_token_file(mut self, path: Option<std::path::PathBuf>) -> Self {
        self.token = path.map(EmitToken::new);
        self
    }

    /// Builds the CloudEvent, with `K_CE_OVERRIDES` applied last (they win,
    /// as in Knative's SinkBinding).
    pub fn build(&self, out: Outgoing) -> Result<Event> {
        let mut builder = EventBuilderV10::new()
            .id(out.id)
            .source(self.source)
            .ty(out.event_type)
            .time(out.time);
        builder = match out.data {
            OutData::Json(bytes) => builder.data("application/json", bytes),
            OutData::Csv(line) => builder.data("text/csv", line),
        };
        if let Some(key) = out.partition_key {
            builder = builder.extension("partitionkey", key);
        }
        if let Some(trace) = out.traceparent {
            builder = builder.extension("traceparent", trace.as_str());
        }
        for (name, value) in &self.overrides {
            builder = builder.extension(name, value.as_str());
        }
        builder
            .build()
            .map_err(|e| Error::bug("could not build the output event", e))
    }

    /// Delivers every event, or fails as a whole (some may have been
    /// delivered: they are redelivered with the same identity on retry).
    pub async fn emit(&self, events: Vec<Event>) -> Result<Emitted> {
        let Some(sink) = &self.sink else {
            if self.require_sink {
                return Err(Error::Unavailable {
                    detail: SINK_MISSING.into(),
                    retry_after: Duration::from_secs(1),
                });
            }
            for event in &events {
                self.metrics.emitted(event.ty(), 1);
            }
            return Ok(Emitted::Reply(events));
        };
        let count = events.len();
        futures_util::stream::iter(events.into_iter().map(|event| self.deliver(sink, event)))
            .buffer_unordered(MAX_IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(Emitted::Sent(count))
    }

    async fn deliver(&self, sink: &Sink, event: Event) -> Result<()> {
        let client = sink.client()?;
        let traceparent = event.extension("traceparent").map(|v| v.to_string());
        let attempts = sink.policy.attempts.max(1);
        let mut last_problem = String::new();
        // The sink's own `Retry-After`, honoured up to one backoff step so
        // the worst case of the retries stays what the policy says.
        let mut asked = None;
        for attempt in 1..=attempts {
            if attempt > 1 {
                self.metrics.emit_retries.inc();
                let step = backoff(sink.policy.backoff, attempt - 1, EmitPolicy::MAX_BACKOFF);
                tokio::time::sleep(wait(step, asked.take())).await;
            }
            let mut request = client
                .post(sink.url.clone())
                .timeout(sink.policy.attempt_timeout);
            if let Some(trace) = &traceparent {
                request = request.header("traceparent", trace);
            }
            if let Some(token) = &self.token
                && let Some(bearer) = token.current().await
            {
                request = request.bearer_auth(bearer);
            }
            let request = crate::binary::binary_request(request, &event)
                .map_err(|e| Error::bug("could not encode the output event", e))?;
            match request.send().await {
                Ok(response) if response.status().is_success() => {
                    // Read the (normally empty) body so the connection is reused.
                    let _ = response.bytes().await;
                    self.metrics.emitted(event.ty(), 1);
                    return Ok(());
                }
                Ok(response) if is_retryable(response.status()) => {
                    asked = retry_after(response.headers(), EmitPolicy::MAX_BACKOFF);
                    last_problem = format!("answered {}", response.status());
                }
                Ok(response) => {
                    self.fail("rejected");
                    return Err(Error::Upstream(format!(
                        "the event sink rejected the output event with status {}; check K_SINK",
                        response.status()
                    )));
                }
                Err(e) if e.is_timeout() => {
                    last_problem = format!(
                        "no answer within {} ms",
                        sink.policy.attempt_timeout.as_millis()
                    );
                }
                Err(e) => last_problem = format!("not reachable ({})", crate::error::chain(&e)),
            }
            tracing::debug!(attempt, problem = %last_problem, "event sink attempt failed");
        }
        self.fail("unavailable");
        Err(Error::Unavailable {
            detail: format!(
                "the event sink did not accept the output event after {attempts} attempts (last: {last_problem}); retry later"
            ),
            retry_after: SINK_RETRY_AFTER,
        })
    }

    fn fail(&self, reason: &'static str) {
        self.metrics
            .emit_failures
            .get_or_create(&ErrorLabels { error_type: reason })
            .inc();
    }
}

impl Sink {
    fn client(&self) -> Result<&reqwest::Client> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Error::bug("could not create the HTTP client", e))?;
        Ok(self.client.get_or_init(|| client))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink's `Retry-After` is honoured, but only up to one backoff step:
    /// a hostile number neither panics nor stalls the delivery.
    #[tokio::test]
    async fn a_sinks_retry_after_is_honoured_up_to_a_backoff_step() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let calls = Arc::new(AtomicUsize::new(0));
        let sink = axum::Router::new().route(
            "/",
            axum::routing::post({
                let calls = calls.clone();
                move || async move {
                    if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                        let forever = [(header::RETRY_AFTER, "18446744073709551615")];
                        (StatusCode::SERVICE_UNAVAILABLE, forever).into_response()
                    } else {
                        StatusCode::ACCEPTED.into_response()
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a test port");
        let url = format!("http://{}/", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, sink).await });
        let config = RuntimeConfig {
            sink: Some(url.parse().expect("url")),
            ..RuntimeConfig::default()
        };
        let emitter = Emitter::new("/pact/test", &config, Metrics::new().freeze());
        let event = emitter
            .build(Outgoing {
                id: "1".into(),
                event_type: crate::wire::UNTRANSLATED,
                time: Utc::now(),
                partition_key: None,
                traceparent: None,
                data: OutData::Csv("1,2,3,4".into()),
            })
            .expect("valid");
        let started = std::time::Instant::now();
        let emitted = emitter.emit(vec![event]).await.expect("delivered");
        let took = started.elapsed();
        assert!(matches!(emitted, Emitted::Sent(1)), "{emitted:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert!(took >= Duration::from_millis(900), "{took:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");
    }

    #[test]
    fn overrides_win_over_the_function_extensions() {
        let config = RuntimeConfig {
            ce_overrides: vec![
                ("partitionkey".into(), "fixed".into()),
                ("team".into(), "pact".into()),
            ],
            ..RuntimeConfig::default()
        };
        let emitter = Emitter::new("/pact/test", &config, Metrics::new().freeze());
        let event = emitter
            .build(Outgoing {
                id: "1".into(),
                event_type: crate::wire::UNTRANSLATED,
                time: Utc::now(),
                partition_key: Some("1-2".into()),
                traceparent: None,
                data: OutData::Csv("1,2,3,4".into()),
            })
            .expect("valid");
        assert_eq!(event.source().to_string(), "/pact/test");
        assert_eq!(
            event
                .extension("partitionkey")
                .map(|v| v.to_string())
                .as_deref(),
            Some("fixed")
        );
        assert_eq!(
            event.extension("team").map(|v| v.to_string()).as_deref(),
            Some("pact")
        );
    }
}
