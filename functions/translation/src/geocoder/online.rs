//! Any online provider behind the [`Geocoder`] trait, made safe for the
//! pipeline: a bounded cache keyed by rounded coordinates (identical lookups
//! in flight coalesced into one request), a client-side rate limit, one time
//! budget per lookup with a small retry allowance, a circuit breaker, and a
//! fallback to the offline geocoder (or a 503 with `Retry-After`).
//!
//! Each lookup carries its own point from the request to its answer; the
//! cache holds answers per rounded point, never per request, so concurrent
//! events cannot swap their addresses.

use std::sync::OnceLock;
use std::time::Duration;

use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use moka::future::Cache;
use pact_runtime::contact::{Address, BoundedText, Coordinates, GeocoderName};
use pact_runtime::retry::retry_after;
use pact_runtime::{Error, Result};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use reqwest::{StatusCode, Url};
use tokio::time::Instant;

use super::breaker::{Breaker, Transition};
use super::provider::{Answer, Failure, Provider, redact};
use super::settings::{Fallback, OnlineConfig};
use super::{Geocoder, Offline, Resolved};

/// A provider answer is small; anything larger is not one.
const MAX_ANSWER_BYTES: usize = 1 << 20;
/// The longest `Retry-After` of a provider honoured: the circuit opens for
/// at most this long, then one probe asks again (the fallback answers
/// meanwhile), however long the provider asked for.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Labels of the geocoder metrics.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `nominatim`, `photon` or `mapquest`.
    pub provider: &'static str,
    /// A fixed outcome: `found`, `no_result`, `cache_hit`, or a
    /// [`Failure::outcome`].
    pub outcome: &'static str,
}

/// What the online geocoder counts, served at `/metrics` with the rest.
#[derive(Debug, Clone, Default)]
pub struct GeocoderMetrics {
    /// Lookups (one per event) by how they ended.
    pub lookups: Family<OutcomeLabels, Counter>,
    /// HTTP requests sent to the provider, by how they ended.
    pub requests: Family<OutcomeLabels, Counter>,
    /// Events answered by the fallback instead of the provider, by why.
    pub fallbacks: Family<OutcomeLabels, Counter>,
}

impl GeocoderMetrics {
    fn register(&self, registry: &mut Registry) {
        registry.register(
            "pact_geocoder_lookups",
            "Reverse geocoding lookups, one per event, by provider and outcome",
            self.lookups.clone(),
        );
        registry.register(
            "pact_geocoder_requests",
            "HTTP requests sent to the online geocoder, by provider and outcome",
            self.requests.clone(),
        );
        registry.register(
            "pact_geocoder_fallbacks",
            "Events not answered by the online geocoder (offline fallback, none, or 503), by provider and reason",
            self.fallbacks.clone(),
        );
    }

    fn count(family: &Family<OutcomeLabels, Counter>, provider: Provider, outcome: &'static str) {
        family
            .get_or_create(&OutcomeLabels {
                provider: provider.name(),
                outcome,
            })
            .inc();
    }
}

/// A cache cell: coordinates rounded to the configured decimals.
type Cell = (i64, i64);

/// An online reverse geocoder with cache, rate limit, timeout, retries,
/// circuit breaker and fallback.
pub struct Online {
    config: OnlineConfig,
    name: GeocoderName,
    client: OnceLock<reqwest::Client>,
    cache: Cache<Cell, Answer>,
    limiter: DefaultDirectRateLimiter,
    breaker: Breaker,
    metrics: GeocoderMetrics,
}

impl Online {
    /// Builds the geocoder; nothing is sent until the first lookup.
    pub fn new(config: OnlineConfig) -> Self {
        let name = BoundedText::parse("geocoder", config.provider.name()).unwrap_or_default();
        let cache = Cache::builder()
            .max_capacity(config.cache_size)
            // The cache panics on lifetimes over 1,000 years; settings cap it lower.
            .time_to_live(
                config
                    .cache_ttl
                    .min(Duration::from_secs(super::settings::MAX_CACHE_TTL_S)),
            )
            .build();
        let limiter = RateLimiter::direct(Quota::per_second(config.rate));
        let breaker = Breaker::new(config.breaker_failures, config.breaker_open);
        Self {
            name,
            client: OnceLock::new(),
            cache,
            limiter,
            breaker,
            metrics: GeocoderMetrics::default(),
            config,
        }
    }

    /// The counters, for tests and benchmarks.
    pub fn metrics(&self) -> &GeocoderMetrics {
        &self.metrics
    }

    /// The HTTP client, made on first use so start-up stays fast.
    fn client(&self) -> std::result::Result<&reqwest::Client, Failure> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let client = reqwest::Client::builder()
            .user_agent(self.config.user_agent())
            // A 3xx is a failure (`Failure::Redirected`), never followed.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(self.config.timeout)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| {
                tracing::error!(error = %e.without_url(), "cannot create the geocoder's HTTP client");
                Failure::Unreachable
            })?;
        Ok(self.client.get_or_init(|| client))
    }

    fn cell(&self, at: Coordinates) -> (Cell, Coordinates) {
        let scale = 10f64.powi(i32::from(self.config.precision));
        // In range by construction: |lat| ≤ 90, |lon| ≤ 180, scale ≤ 1e6.
        let cell = (
            (at.lat() * scale).round() as i64,
            (at.lon() * scale).round() as i64,
        );
        let center = Coordinates::parse(cell.0 as f64 / scale, cell.1 as f64 / scale).unwrap_or(at);
        (cell, center)
    }

    /// Asks the provider about `at` within the time budget, retrying 5xx,
    /// timeouts and connection failures while the budget and the retry
    /// allowance last.
    async fn fetch(&self, at: Coordinates) -> std::result::Result<Answer, Failure> {
        let started = Instant::now();
        // The settings cap the timeout; an unbounded one is no deadline-panic.
        let deadline = started.checked_add(self.config.timeout).unwrap_or(started);
        let mut retries = self.config.retries;
        loop {
            self.breaker
                .admit()
                .map_err(|retry_after| Failure::CircuitOpen { retry_after })?;
            if let Err(not_until) = self.limiter.check() {
                let wait = not_until.wait_time_from(self.limiter.clock().now());
                return Err(Failure::Throttled { wait });
            }
            let result = tokio::time::timeout_at(deadline, self.request(at))
                .await
                .unwrap_or(Err(Failure::Timeout));
            let outcome = match &result {
                Ok(Answer::Found(_)) => "found",
                Ok(Answer::NoResult) => "no_result",
                Err(f) => f.outcome(),
            };
            GeocoderMetrics::count(&self.metrics.requests, self.config.provider, outcome);
            let failure = match result {
                Ok(answer) => {
                    if self.breaker.success() == Transition::Closed {
                        tracing::info!(
                            geocoder = self.config.provider.name(),
                            "geocoder answers again; circuit closed"
                        );
                    }
                    return Ok(answer);
                }
                Err(failure) => failure,
            };
            let hint = match &failure {
                Failure::RateLimited { retry_after } => *retry_after,
                _ => None,
            };
            if self.breaker.failure(hint) == Transition::Opened {
                tracing::warn!(
                    geocoder = self.config.provider.name(),
                    outcome,
                    open_ms =
                        u64::try_from(self.breaker.open_for(hint).as_millis()).unwrap_or(u64::MAX),
                    "geocoder keeps failing; circuit opened, not calling it for a while"
                );
            }
            if failure.is_retryable() && retries > 0 && Instant::now() < deadline {
                retries -= 1;
                continue;
            }
            return Err(failure);
        }
    }

    /// One HTTP request. Errors never carry the URL (it may hold the key).
    async fn request(&self, at: Coordinates) -> std::result::Result<Answer, Failure> {
        let key = self.config.key.as_ref().map(|k| k.expose());
        let url: Url = self.config.provider.url(&self.config.url, at, key);
        let client = self.client()?;
        let mut response = client.get(url.clone()).send().await.map_err(|e| {
            let timeout = e.is_timeout();
            tracing::debug!(url = %redact(&url), error = %e.without_url(), "geocoder request failed");
            if timeout {
                Failure::Timeout
            } else {
                Failure::Unreachable
            }
        })?;
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            let retry_after = retry_after(response.headers(), MAX_RETRY_AFTER);
            return Err(Failure::RateLimited { retry_after });
        }
        if status.is_redirection() {
            return Err(Failure::Redirected {
                status: status.as_u16(),
            });
        }
        if status.is_server_error() {
            return Err(Failure::Server {
                status: status.as_u16(),
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|_| Failure::Unreachable)? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(Failure::BadResponse);
            }
            body.extend_from_slice(&chunk);
        }
        self.config.provider.read(status, &body)
    }

    /// The answer when the provider has nothing for the point.
    fn no_result(&self, at: Coordinates) -> Result<Resolved> {
        GeocoderMetrics::count(&self.metrics.fallbacks, self.config.provider, "no_result");
        match self.config.fallback {
            Fallback::Offline => Offline::lookup(at),
            Fallback::None => Ok(Resolved {
                address: Address::default(),
                geocoder: BoundedText::parse("geocoder", "none")?,
            }),
        }
    }

    /// The answer when the provider failed.
    fn failed(&self, at: Coordinates, failure: &Failure) -> Result<Resolved> {
        GeocoderMetrics::count(
            &self.metrics.fallbacks,
            self.config.provider,
            failure.outcome(),
        );
        tracing::debug!(geocoder = self.config.provider.name(), %failure, "geocoder gave no answer");
        match self.config.fallback {
            Fallback::Offline => Offline::lookup(at),
            Fallback::None => Err(Error::Unavailable {
                detail: format!(
                    "{failure} and PACT_GEOCODER_FALLBACK=none; the event was not translated, retry later"
                ),
                retry_after: match failure {
                    Failure::Throttled { wait } => *wait,
                    Failure::CircuitOpen { retry_after } => *retry_after,
                    Failure::RateLimited { retry_after } => {
                        retry_after.unwrap_or(Duration::from_secs(1))
                    }
                    _ => Duration::from_secs(1),
                },
            }),
        }
    }
}

impl Geocoder for Online {
    async fn reverse(&self, at: Coordinates) -> Result<Resolved> {
        let provider = self.config.provider;
        let (cell, center) = self.cell(at);
        // Coalesced: concurrent lookups of one cell wait for one request.
        // Failures are not cached; each waiter gets the shared failure.
        let looked_up = self
            .cache
            .entry(cell)
            .or_try_insert_with(self.fetch(center))
            .await;
        match looked_up {
            Ok(entry) => {
                let fresh = entry.is_fresh();
                let answer = entry.into_value();
                let outcome = match (&answer, fresh) {
                    (_, false) => "cache_hit",
                    (Answer::Found(_), true) => "found",
                    (Answer::NoResult, true) => "no_result",
                };
                GeocoderMetrics::count(&self.metrics.lookups, provider, outcome);
                match answer {
                    Answer::Found(address) => Ok(Resolved {
                        address,
                        geocoder: self.name.clone(),
                    }),
                    Answer::NoResult => self.no_result(at),
                }
            }
            Err(failure) => {
                GeocoderMetrics::count(&self.metrics.lookups, provider, failure.outcome());
                self.failed(at, &failure)
            }
        }
    }

    fn register_metrics(&self, registry: &mut Registry) {
        self.metrics.register(registry);
    }
}
