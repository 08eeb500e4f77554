//! The online geocoder's machinery against a fake provider: cache, TTL,
//! coalescing, rate limit, circuit breaker, time budget, `FALLBACK=none`,
//! and the original race through the real function.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use pact_runtime::cloudevents::AttributesReader;
use pact_runtime::contact::Coordinates;
use pact_translation::geocoder::online::OutcomeLabels;
use pact_translation::{Geocoder, Online, OnlineConfig, Provider};
use rand::Rng;

use crate::fake::{Answer, FakeProvider, nominatim_echo};
use crate::helpers::{derived_id, json_data, metric, reply_event, spawn, translate};

const JSON: &str = "application/json";

fn config(fake: &FakeProvider) -> OnlineConfig {
    let mut c = OnlineConfig::new(Provider::Nominatim);
    c.url = fake.url.parse().expect("url");
    c.rate = NonZeroU32::new(10_000).expect("non-zero");
    c.timeout = Duration::from_secs(5);
    c
}

fn success() -> Answer {
    Answer::fixture(200, JSON, "nominatim-reverse-minneapolis.json")
}

fn point(lat: f64, lon: f64) -> Coordinates {
    Coordinates::parse(lat, lon).expect("valid")
}

fn lookups(online: &Online, outcome: &'static str) -> u64 {
    online
        .metrics()
        .lookups
        .get_or_create(&OutcomeLabels {
            provider: "nominatim",
            outcome,
        })
        .get()
}

/// Polls `done` every 20 ms until it holds; fails loudly after `deadline`.
async fn eventually(deadline: Duration, what: &str, mut done: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < deadline, "{what} within {deadline:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_cached_cell_is_not_asked_again_until_its_ttl_runs_out() {
    let fake = FakeProvider::serving(success()).await;
    let mut c = config(&fake);
    c.cache_ttl = Duration::from_millis(300);
    let online = Online::new(c);
    let started = Instant::now();
    let first = online
        .reverse(point(44.9778, -93.2650))
        .await
        .expect("lookup");
    assert_eq!(first.geocoder.as_str(), "nominatim");
    // Within ~5 m: the same cell (4 decimals), answered from the cache.
    let second = online
        .reverse(point(44.97782, -93.26503))
        .await
        .expect("lookup");
    assert_eq!(second, first);
    if started.elapsed() < Duration::from_millis(300) {
        assert_eq!(fake.count(), 1);
        assert_eq!(lookups(&online, "cache_hit"), 1);
    }
    // Another cell is another request.
    online
        .reverse(point(44.9800, -93.2650))
        .await
        .expect("lookup");
    let before_expiry = fake.count();
    eventually(
        Duration::from_secs(5),
        "the cached answer expires",
        async || {
            online
                .reverse(point(44.9778, -93.2650))
                .await
                .expect("lookup");
            fake.count() > before_expiry
        },
    )
    .await;
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "expired too early"
    );
}

#[tokio::test]
async fn identical_lookups_in_flight_make_one_request() {
    let fake = FakeProvider::serving(success().after(Duration::from_millis(200))).await;
    let online = Online::new(config(&fake));
    let at = point(44.9778, -93.2650);
    let answers = futures_util::future::join_all((0..100).map(|_| online.reverse(at))).await;
    assert_eq!(
        fake.count(),
        1,
        "100 concurrent identical lookups, one request"
    );
    for answer in answers {
        assert_eq!(answer.expect("lookup").address.city.as_str(), "Minneapolis");
    }
    assert_eq!(lookups(&online, "found"), 1);
    assert_eq!(lookups(&online, "cache_hit"), 99);
}

#[tokio::test]
async fn the_rate_limit_is_honoured_and_excess_lookups_fall_back() {
    let fake = FakeProvider::serving(success()).await;
    let mut c = config(&fake);
    c.rate = NonZeroU32::new(5).expect("non-zero");
    c.cache_size = 0;
    let online = Online::new(c);
    let started = Instant::now();
    let mut answered_offline = 0;
    let mut i = 0;
    // Distinct cells for 2 s, one every 10 ms: far over 5/s.
    while started.elapsed() < Duration::from_secs(2) && i < 400 {
        let at = point(44.0 + f64::from(i) * 0.001, -93.0);
        if online.reverse(at).await.expect("lookup").geocoder.as_str() == "offline" {
            answered_offline += 1;
        }
        i += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let seen = fake.seen();
    // A burst of 5, then 5 per second.
    let most = 5.0 + 5.0 * elapsed + 1.0;
    assert!(
        seen.len() as f64 <= most,
        "{} requests in {elapsed:.2} s",
        seen.len()
    );
    assert!(
        seen.len() >= 8,
        "the limit let almost nothing through: {}",
        seen.len()
    );
    // In every stretch of time too (token bucket: burst + rate × span).
    for (i, first) in seen.iter().enumerate() {
        for (j, last) in seen.iter().enumerate().skip(i) {
            let span = (last.at - first.at).as_secs_f64();
            let count = (j - i + 1) as f64;
            assert!(
                count <= 5.0 + 5.0 * span + 1.0,
                "{count} requests within {span:.3} s"
            );
        }
    }
    assert!(answered_offline > 0);
    assert_eq!(lookups(&online, "throttled"), answered_offline);
}

#[tokio::test]
async fn the_circuit_opens_after_failures_and_closes_after_a_good_probe() {
    let fake = FakeProvider::serving(Answer::body(500, "text/plain", "boom".into())).await;
    let mut c = config(&fake);
    c.retries = 0;
    c.breaker_failures = 3;
    c.breaker_open = Duration::from_millis(300);
    let online = Online::new(c);
    let cell = |i: u32| point(10.0 + f64::from(i) * 0.01, 10.0);
    for i in 0..3 {
        online.reverse(cell(i)).await.expect("falls back");
    }
    let opened = Instant::now();
    assert_eq!(fake.count(), 3);
    for i in 3..8 {
        let answer = online.reverse(cell(i)).await.expect("falls back");
        assert_ne!(answer.geocoder.as_str(), "nominatim");
    }
    if opened.elapsed() < Duration::from_millis(300) {
        assert_eq!(fake.count(), 3, "an open circuit sends nothing");
        assert_eq!(lookups(&online, "circuit_open"), 5);
    }
    fake.set(success());
    let mut i = 100;
    eventually(
        Duration::from_secs(5),
        "a probe closes the circuit",
        async || {
            i += 1;
            online
                .reverse(cell(i))
                .await
                .expect("lookup")
                .geocoder
                .as_str()
                == "nominatim"
        },
    )
    .await;
    assert!(
        opened.elapsed() >= Duration::from_millis(300),
        "closed too early"
    );
    // Closed: every new cell goes to the provider again.
    let before = fake.count();
    for j in 0..3 {
        let answer = online.reverse(cell(200 + j)).await.expect("lookup");
        assert_eq!(answer.geocoder.as_str(), "nominatim");
    }
    assert_eq!(fake.count(), before + 3);
}

#[tokio::test]
async fn a_slow_provider_falls_back_within_the_timeout() {
    let fake = FakeProvider::serving(success().after(Duration::from_secs(3))).await;
    let mut c = config(&fake);
    c.timeout = Duration::from_millis(200);
    let online = Online::new(c);
    let started = Instant::now();
    let answer = online
        .reverse(point(44.9778, -93.2650))
        .await
        .expect("falls back");
    let took = started.elapsed();
    assert_eq!(answer.geocoder.as_str(), "offline");
    assert_eq!(answer.address.city.as_str(), "Minneapolis");
    assert!(took < Duration::from_millis(200 + 250), "took {took:?}");
    assert_eq!(lookups(&online, "timeout"), 1);
}

#[tokio::test]
async fn without_fallback_a_failing_provider_is_a_503_with_retry_after() {
    let fake = FakeProvider::serving(Answer::body(503, "text/plain", "down".into())).await;
    let app = spawn(&[
        ("PACT_GEOCODER", "photon"),
        ("PACT_GEOCODER_URL", &fake.url),
        ("PACT_GEOCODER_FALLBACK", "none"),
        ("PACT_GEOCODER_RETRIES", "2"),
    ])
    .await;
    let response = translate(&app, "e-1", 1, 2, 44.9778, -93.265).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let problem = pact_runtime::testing::problem(response).await;
    assert_eq!(
        problem["type"].as_str().map(|t| t.contains("unavailable")),
        Some(true),
        "{problem}"
    );
    assert_eq!(fake.count(), 3, "the first attempt and 2 retries");
    // Bad input is still a permanent error, never a 5xx.
    let bad = translate(&app, "e-2", 1, 1, 44.9778, -93.265).await;
    assert_eq!(bad.status(), 422);
    // "No result" is not a failure: `none`, not a 503.
    fake.set(Answer::fixture(200, JSON, "photon-reverse-no-result.json"));
    let response = translate(&app, "e-3", 1, 2, 45.5, -93.0).await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_data(&reply_event(response).await)["geocoder"], "none");
    let series = r#"pact_geocoder_fallbacks_total{provider="photon",outcome="server_error"}"#;
    assert_eq!(metric(&app, series).await, 1);
}

/// The original demo mixed up ids between concurrent messages under load.
/// 1,000 events with distinct ids and points at once, through a provider
/// answering after random delays: every output has its own ids and the
/// address of its own point.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_events_keep_their_own_ids_and_addresses() {
    let fake = FakeProvider::start(|seen| {
        let delay = Duration::from_millis(rand::rng().random_range(0..30));
        Answer::body(200, JSON, nominatim_echo(seen)).after(delay)
    })
    .await;
    let app = std::sync::Arc::new(
        spawn(&[
            ("PACT_GEOCODER", "nominatim"),
            ("PACT_GEOCODER_URL", &fake.url),
            ("PACT_GEOCODER_RATE", "10000"),
            ("PACT_GEOCODER_TIMEOUT_MS", "20000"),
        ])
        .await,
    );
    let mut tasks = Vec::new();
    for i in 0..1000i64 {
        let app = app.clone();
        // Distinct cells at 4 decimals, and values that print exactly.
        let lat = (40_000 + i) as f64 / 1000.0;
        let lon = -((9_000 + i % 37) as f64) / 100.0;
        tasks.push(tokio::spawn(async move {
            let id = format!("race-{i}");
            let response = translate(&app, &id, i + 1, i + 5000, lat, lon).await;
            assert_eq!(response.status(), 200, "{id}");
            let event = reply_event(response).await;
            (i, lat, lon, event)
        }));
    }
    let mut seen_ids = HashMap::new();
    for task in tasks {
        let (i, lat, lon, event) = task.await.expect("join");
        let data = json_data(&event);
        assert_eq!(event.id(), derived_id("/test", &format!("race-{i}")));
        assert_eq!(data["mmid1"], i + 1, "{data}");
        assert_eq!(data["mmid2"], i + 5000, "{data}");
        assert_eq!(data["lat"], lat);
        assert_eq!(data["lon"], lon);
        assert_eq!(data["geocoder"], "nominatim", "{data}");
        assert_eq!(data["city"], format!("{lat},{lon}"), "its own address");
        seen_ids.insert(event.id().to_owned(), ());
    }
    assert_eq!(seen_ids.len(), 1000);
    assert_eq!(fake.count(), 1000, "distinct cells: one request each");
}
