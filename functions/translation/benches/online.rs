//! Load benchmark of the online geocoder path: pact-translation served over
//! real HTTP on 127.0.0.1, fed one binary-mode event per request by 64
//! concurrent clients for `DURATION` seconds (default 10), with a fake
//! Nominatim on 127.0.0.1 that answers every request after 20 ms. Cache hit
//! rates of 0 %, 90 % and 99 % are made by the points sent (a new cell for
//! every 1st, 10th or 100th request, a warm cell otherwise); the offline
//! geocoder is measured the same way for comparison.
//!
//! `cargo bench -p pact-translation --bench online`; everything (the fake,
//! the function and the clients) shares one process and the machine's cores,
//! like `wrk` beside the server in benches/load.sh.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Query;
use pact_runtime::testing::Served;
use pact_translation::{AppState, Config, GeocoderKind, Offline, Online, app};

const CONCURRENCY: usize = 64;
const PROVIDER_DELAY: Duration = Duration::from_millis(20);
/// Warm cells requests come back to (all answered before measuring).
const WARM_CELLS: u64 = 256;

async fn fake_nominatim() -> Served {
    let answer = |Query(q): Query<HashMap<String, String>>| async move {
        tokio::time::sleep(PROVIDER_DELAY).await;
        let lat = q.get("lat").cloned().unwrap_or_default();
        let lon = q.get("lon").cloned().unwrap_or_default();
        (
            [("content-type", "application/json")],
            format!(
                r#"{{"place_id":1,"lat":"{lat}","lon":"{lon}","address":{{"house_number":"350","road":"South 4th Street","city":"Minneapolis","state":"Minnesota","ISO3166-2-lvl4":"US-MN","postcode":"55415","country_code":"us"}}}}"#
            ),
        )
    };
    Served::start(Router::new().fallback(answer)).await
}

async fn translation(provider_url: Option<&str>) -> Served {
    let mut vars: HashMap<&str, &str> = HashMap::from([("PACT_LOG", "warn")]);
    if let Some(url) = provider_url {
        vars.extend([
            ("PACT_GEOCODER", "nominatim"),
            ("PACT_GEOCODER_URL", url),
            ("PACT_GEOCODER_RATE", "10000"),
            ("PACT_GEOCODER_CACHE_SIZE", "1000000"),
        ]);
    }
    let (config, _) = Config::from_env(&vars).expect("valid configuration");
    let router = match config.geocoder.clone() {
        GeocoderKind::Offline => app(AppState::new(config, Offline)),
        GeocoderKind::Online(online) => app(AppState::new(config, Online::new(*online))),
    };
    Served::start(router).await
}

/// The point of request `n`: a new cell every `miss_every` requests, a warm one otherwise.
fn point(n: u64, miss_every: u64) -> (f64, f64) {
    if n.is_multiple_of(miss_every) {
        cell_point(WARM_CELLS + n)
    } else {
        cell_point(n % WARM_CELLS)
    }
}

fn cell_point(cell: u64) -> (f64, f64) {
    // Cells 0.0001° apart (4 decimals, the default precision) around Minneapolis.
    let lat = 44.0 + (cell % 10_000) as f64 / 10_000.0;
    let lon = -93.0 - (cell / 10_000) as f64 / 10_000.0;
    (lat, lon)
}

async fn send(client: &reqwest::Client, url: &str, n: u64, at: (f64, f64)) {
    let response = client
        .post(url)
        .header("ce-specversion", "1.0")
        .header("ce-id", format!("bench-{n}"))
        .header("ce-source", "/bench")
        .header("ce-type", "dev.pact.contact.untranslated")
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"mmid1":1,"mmid2":2,"lat":{},"lon":{},"observed_at":"2026-11-24T10:00:00Z"}}"#,
            at.0, at.1
        ))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    response.bytes().await.expect("body");
}

struct Figures {
    events_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn load(url: &str, miss_every: u64, duration: Duration) -> Figures {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .expect("client");
    // Warm cells answered once, so they are hits during the run.
    for cell in 0..WARM_CELLS {
        send(&client, url, cell, cell_point(cell)).await;
    }
    let next = Arc::new(AtomicU64::new(1));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let (client, url, next) = (client.clone(), url.to_owned(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while started.elapsed() < duration {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let sent = Instant::now();
                send(&client, &url, n, point(n, miss_every)).await;
                latencies.push(sent.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await.expect("worker"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    Figures {
        events_per_s: latencies.len() as f64 / elapsed,
        p50_ms: at(0.50).as_secs_f64() * 1e3,
        p99_ms: at(0.99).as_secs_f64() * 1e3,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a plain `cargo test --benches` run
    // (no `--bench`) only checks that this builds.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let duration = Duration::from_secs(
        std::env::var("DURATION")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(10),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let provider = fake_nominatim().await;
        let provider_url = provider.url("/");
        let offline = translation(None).await;
        let offline_figures = load(&offline.url("/"), 1, duration).await;
        println!("| geocoder | cache hits | events/s | p50 ms | p99 ms | vs offline |");
        println!("|---|---|---|---|---|---|");
        for (hits, miss_every) in [("0 %", 1), ("90 %", 10), ("99 %", 100)] {
            // A fresh function each time: an empty cache.
            let online = translation(Some(&provider_url)).await;
            let f = load(&online.url("/"), miss_every, duration).await;
            println!(
                "| nominatim (fake, 20 ms) | {hits} | {:.0} | {:.2} | {:.2} | {:.0} % |",
                f.events_per_s,
                f.p50_ms,
                f.p99_ms,
                100.0 * f.events_per_s / offline_figures.events_per_s
            );
        }
        let f = offline_figures;
        println!(
            "| offline | - | {:.0} | {:.2} | {:.2} | 100 % |",
            f.events_per_s, f.p50_ms, f.p99_ms
        );
    });
}
