//! `pact demo` (for now producer → translation → display): starts the
//! functions in this process, each on its own port of 127.0.0.1 with the same
//! environment contract as in the cluster, sends contacts from a few cities
//! through real HTTP, waits until every one has come out translated, and
//! prints what happened.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use pact_runtime::cloudevents::{AttributesReader, Data, Event};
use pact_runtime::config::RuntimeConfig;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// Arguments of `pact demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// How many contacts to send.
    #[arg(long, default_value_t = 2000)]
    contacts: usize,
    /// Contacts per `POST /contacts` request.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Seed of the random contacts, so runs can be repeated.
    #[arg(long, default_value_t = 2020)]
    seed: u64,
}

/// Cities the demo's contacts happen in (latitude, longitude).
const CITIES: &[(&str, f64, f64)] = &[
    ("Minneapolis", 44.9778, -93.2650),
    ("St Paul", 44.9537, -93.0900),
    ("Duluth", 46.7867, -92.1005),
    ("Chicago", 41.8781, -87.6298),
    ("Toronto", 43.6532, -79.3832),
    ("London", 51.5074, -0.1278),
    ("Paris", 48.8566, 2.3522),
    ("Tokyo", 35.6762, 139.6503),
    ("Sydney", -33.8688, 151.2093),
    ("Sao Paulo", -23.5505, -46.6333),
];

pub async fn run(args: Args) -> anyhow::Result<std::process::ExitCode> {
    if args.contacts == 0 || args.batch == 0 || args.batch > pact_producer::MAX_CONTACTS_PER_REQUEST
    {
        bail!(
            "--contacts must be positive and --batch between 1 and {}",
            pact_producer::MAX_CONTACTS_PER_REQUEST
        );
    }
    let quiet = RuntimeConfig {
        log_filter: "warn".into(),
        ..RuntimeConfig::default()
    };
    pact_runtime::telemetry::init(&quiet);

    let received: Arc<Mutex<Vec<Event>>> = Arc::default();
    let arrived = Arc::new(Notify::new());
    let display_url = {
        let (received, arrived) = (received.clone(), arrived.clone());
        spawn(crate::display::router(move |event| {
            lock(&received).push(event);
            arrived.notify_waiters();
        }))
        .await?
    };
    let translation_url = spawn(pact_translation::app(pact_translation::AppState::new(
        pact_translation::Config {
            runtime: with_sink(&quiet, &display_url)?,
            geocoder: pact_translation::GeocoderKind::Offline,
            output: pact_translation::OutputFormat::Json,
        },
        pact_translation::Offline,
    )))
    .await?;
    let producer_url = spawn(pact_producer::app(pact_producer::AppState::new(with_sink(
        &quiet,
        &translation_url,
    )?)))
    .await?;
    println!("pact demo: pact-producer    {producer_url}  (K_SINK={translation_url})");
    println!("           pact-translation {translation_url}  (K_SINK={display_url})");
    println!("           event display    {display_url}");

    let batches = contacts(&args);
    let started = Instant::now();
    let client = reqwest::Client::new();
    let latencies = send_all(&client, &format!("{producer_url}contacts"), batches).await?;
    let sent_in = started.elapsed();
    wait_for(&received, &arrived, args.contacts, Duration::from_secs(60)).await?;
    let total = started.elapsed();

    let events = lock(&received).clone();
    report(&events, &latencies, sent_in, total).map(|()| std::process::ExitCode::SUCCESS)
}

fn with_sink(base: &RuntimeConfig, url: &str) -> anyhow::Result<RuntimeConfig> {
    Ok(RuntimeConfig {
        sink: Some(url.parse().context("sink URL")?),
        ..base.clone()
    })
}

/// Serves `app` on a free port of 127.0.0.1 until the process ends.
async fn spawn(app: axum::Router) -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

/// Random distinct pairs near the cities, in request-sized batches.
fn contacts(args: &Args) -> Vec<serde_json::Value> {
    let mut rng = StdRng::seed_from_u64(args.seed);
    let all: Vec<serde_json::Value> = (0..args.contacts)
        .map(|i| {
            let (_, lat, lon) = CITIES[rng.random_range(0..CITIES.len())];
            let mmid1: i64 = rng.random_range(1..=50_000);
            let mmid2 = mmid1 + rng.random_range(1..=50_000);
            serde_json::json!({
                "id": format!("demo-{}-{i}", args.seed),
                "mmid1": mmid1,
                "mmid2": mmid2,
                "lat": lat + rng.random_range(-0.02..0.02),
                "lon": lon + rng.random_range(-0.02..0.02),
            })
        })
        .collect();
    all.chunks(args.batch)
        .map(|chunk| serde_json::Value::Array(chunk.to_vec()))
        .collect()
}

/// Sends the batches, four requests at a time; returns each request's latency.
async fn send_all(
    client: &reqwest::Client,
    url: &str,
    batches: Vec<serde_json::Value>,
) -> anyhow::Result<Vec<Duration>> {
    let mut latencies = Vec::with_capacity(batches.len());
    for group in batches.chunks(4) {
        let requests = group.iter().map(|batch| async move {
            let started = Instant::now();
            let response = client.post(url).json(batch).send().await?;
            let status = response.status();
            if status != reqwest::StatusCode::ACCEPTED {
                bail!(
                    "the producer answered {status}: {}",
                    response.text().await.unwrap_or_default()
                );
            }
            Ok(started.elapsed())
        });
        for latency in futures_util::future::join_all(requests).await {
            latencies.push(latency?);
        }
    }
    Ok(latencies)
}

async fn wait_for(
    received: &Mutex<Vec<Event>>,
    arrived: &Notify,
    n: usize,
    deadline: Duration,
) -> anyhow::Result<()> {
    let wait = async {
        loop {
            let notified = arrived.notified();
            if lock(received).len() >= n {
                return;
            }
            notified.await;
        }
    };
    tokio::time::timeout(deadline, wait).await.map_err(|_| {
        anyhow::anyhow!(
            "only {} of {n} contacts came out translated within {deadline:?}",
            lock(received).len()
        )
    })
}

fn report(
    events: &[Event],
    latencies: &[Duration],
    sent_in: Duration,
    total: Duration,
) -> anyhow::Result<()> {
    let mut places: BTreeMap<(String, String), usize> = BTreeMap::new();
    for event in events {
        let data: serde_json::Value = match event.data() {
            Some(Data::Binary(bytes)) => serde_json::from_slice(bytes).unwrap_or_default(),
            Some(Data::Json(value)) => value.clone(),
            _ => serde_json::Value::Null,
        };
        let text = |field: &str| data[field].as_str().unwrap_or_default().to_owned();
        *places.entry((text("country"), text("city"))).or_default() += 1;
    }
    let mut sorted = latencies.to_vec();
    sorted.sort();
    let percentile = |p: f64| {
        let index = ((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1);
        sorted.get(index).copied().unwrap_or_default()
    };
    println!();
    println!(
        "{:<8} {:<28} {:>8}",
        "country", "city (offline geocoder)", "contacts"
    );
    for ((country, city), count) in &places {
        println!("{country:<8} {city:<28} {count:>8}");
    }
    println!();
    println!(
        "{} contacts translated in {:.2} s ({:.0} contacts/s end to end; all sent in {:.2} s)",
        events.len(),
        total.as_secs_f64(),
        events.len() as f64 / total.as_secs_f64(),
        sent_in.as_secs_f64()
    );
    println!(
        "POST /contacts latency over {} requests: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        sorted.len(),
        percentile(0.50).as_secs_f64() * 1e3,
        percentile(0.99).as_secs_f64() * 1e3,
        sorted.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    let distinct: std::collections::HashSet<&str> = events.iter().map(|e| e.id()).collect();
    if distinct.len() != events.len() {
        bail!(
            "{} events arrived but only {} distinct ids",
            events.len(),
            distinct.len()
        );
    }
    println!(
        "every contact arrived exactly once ({} distinct event ids)",
        distinct.len()
    );
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
