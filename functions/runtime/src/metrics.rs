//! Prometheus metrics, owned by the function (no global registry), served at
//! `GET /metrics` in the OpenMetrics text format Prometheus scrapes.
//!
//! Labels come from small fixed sets: route templates, status codes, event
//! types PACT knows, error kinds. Never ids.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::error::ErrorType;
use crate::wire;

/// Labels of the request metrics.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route template (`/`, `/contacts`), `unmatched` for unknown paths.
    pub route: String,
    /// The HTTP status code.
    pub status: u16,
}

/// Labels naming an event type.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    /// A type PACT knows, or `other`.
    pub r#type: &'static str,
}

/// Labels naming a kind of error.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// [`crate::Error::error_type`] or an emit failure reason.
    pub error_type: &'static str,
}

/// Handles to the series of one route and status: a request is counted
/// without building its labels (a `String`) or looking them up in the two
/// families (hashing, a lock each).
#[derive(Debug)]
struct RequestSeries {
    route: String,
    status: u16,
    requests: Counter,
    duration: Histogram,
}

/// The most (route, status) pairs kept in [`RequestSeries`]; beyond it
/// requests are counted through the families (the same series).
const MAX_REQUEST_SERIES: usize = 64;

/// The runtime's metrics. Functions register their own on the registry
/// before it is frozen in [`Metrics::freeze`].
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Requests answered, by route and status.
    pub requests: Family<RequestLabels, Counter>,
    /// Request latency, by route and status.
    pub request_duration: Family<RequestLabels, Histogram>,
    /// Events read, by type.
    pub events_received: Family<EventLabels, Counter>,
    /// Events emitted (accepted by the sink, or replied), by type.
    pub events_emitted: Family<EventLabels, Counter>,
    /// Requests rejected, by error kind.
    pub rejected: Family<ErrorLabels, Counter>,
    /// Retries toward `K_SINK`.
    pub emit_retries: Counter,
    /// Events the sink did not accept after all attempts, by reason.
    pub emit_failures: Family<ErrorLabels, Counter>,
    request_series: RwLock<Vec<RequestSeries>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers the runtime's metrics.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        // 100 µs to ~13 s: an event handled in memory up to a retried sink.
        let request_duration = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.5, 14))
        });
        let events_received = Family::<EventLabels, Counter>::default();
        let events_emitted = Family::<EventLabels, Counter>::default();
        let rejected = Family::<ErrorLabels, Counter>::default();
        let emit_retries = Counter::default();
        let emit_failures = Family::<ErrorLabels, Counter>::default();
        registry.register("pact_requests", "HTTP requests answered", requests.clone());
        registry.register(
            "pact_request_duration_seconds",
            "HTTP request latency",
            request_duration.clone(),
        );
        registry.register(
            "pact_events_received",
            "Events read from requests",
            events_received.clone(),
        );
        registry.register(
            "pact_events_emitted",
            "Events accepted by K_SINK or put in a reply",
            events_emitted.clone(),
        );
        registry.register(
            "pact_requests_rejected",
            "Requests answered with an error",
            rejected.clone(),
        );
        registry.register(
            "pact_emit_retries",
            "Retried deliveries to K_SINK",
            emit_retries.clone(),
        );
        registry.register(
            "pact_emit_failures",
            "Events K_SINK did not accept after every attempt",
            emit_failures.clone(),
        );
        Self {
            registry,
            requests,
            request_duration,
            events_received,
            events_emitted,
            rejected,
            emit_retries,
            emit_failures,
            request_series: RwLock::new(Vec::new()),
        }
    }

    /// Counts a request answered: by route template (`unmatched` when no
    /// route matched) and status, its latency, and the kind of error when
    /// the response carries one.
    pub fn request_done(
        &self,
        route: Option<&MatchedPath>,
        response: &Response,
        elapsed: Duration,
    ) {
        let route = route.map_or("unmatched", MatchedPath::as_str);
        let status = response.status().as_u16();
        let seconds = elapsed.as_secs_f64();
        let same = |s: &RequestSeries| s.status == status && s.route == route;
        let known = self.request_series.read().ok().and_then(|series| {
            let s = series.iter().find(|s| same(s))?;
            s.duration.observe(seconds);
            s.requests.inc();
            Some(())
        });
        if known.is_none() {
            let labels = RequestLabels {
                route: route.to_owned(),
                status,
            };
            let duration = self.request_duration.get_or_create(&labels).clone();
            let requests = self.requests.get_or_create(&labels).clone();
            duration.observe(seconds);
            requests.inc();
            if let Ok(mut series) = self.request_series.write()
                && series.len() < MAX_REQUEST_SERIES
                && !series.iter().any(same)
            {
                series.push(RequestSeries {
                    route: labels.route,
                    status,
                    requests,
                    duration,
                });
            }
        }
        if let Some(ErrorType(kind)) = response.extensions().get::<ErrorType>() {
            self.rejected
                .get_or_create(&ErrorLabels { error_type: kind })
                .inc();
        }
    }

    /// The registry, for a function's own metrics.
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// Shares the metrics once registration is done.
    pub fn freeze(self) -> Arc<Self> {
        Arc::new(self)
    }

    /// Counts one event read.
    pub fn received(&self, event_type: &str) {
        self.events_received
            .get_or_create(&EventLabels {
                r#type: known_type(event_type),
            })
            .inc();
    }

    /// Counts events emitted.
    pub fn emitted(&self, event_type: &str, n: u64) {
        self.events_emitted
            .get_or_create(&EventLabels {
                r#type: known_type(event_type),
            })
            .inc_by(n);
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Maps an event type to a fixed label value, so a sender cannot blow up
/// the number of series.
fn known_type(event_type: &str) -> &'static str {
    [
        wire::UNTRANSLATED,
        wire::TRANSLATED,
        wire::KAFKA_EVENT,
        wire::PING,
        "csv",
        "json",
    ]
    .into_iter()
    .find(|known| *known == event_type)
    .unwrap_or("other")
}

/// `GET /metrics`.
pub async fn serve_metrics(State(metrics): State<Arc<Metrics>>) -> Response {
    let mut response = metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}

/// Middleware counting every request by route template and status (the
/// contract counts them in its own layer, [`Metrics::request_done`]).
pub async fn track_requests(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.request_done(route.as_ref(), &response, started.elapsed());
    response
}
