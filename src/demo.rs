//! `pact demo`: the main job. Starts the local pipeline ([`crate::dev`]) on
//! the embedded defaults in a temporary directory, simulates a city through
//! pact-producer, waits until every accepted contact is in `contactlist`,
//! checks that each is there exactly once, and prints what happened.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::ValueEnum as _;
use pact_runtime::database::{Database, DatabaseConfig, DatabaseUrl};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::Function;
use crate::dev::{Events, Pipeline, Settings};
use crate::simulate::{self, SendArgs, WorldArgs};
use crate::topology::{TOPOLOGY, Wiring};
use crate::traffic::{Mode, Target};

/// Arguments of `pact demo`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pact demo                            2000 phones in Minneapolis for 20 s
  pact demo --city london --phones 5000 --duration 30s
  pact demo --keep                     leave the pipeline running afterwards
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres pact demo")]
pub struct Args {
    /// The simulated city.
    #[command(flatten)]
    world: WorldArgs,
    /// How long and how fast to send.
    #[command(flatten)]
    send: SendArgs,
    /// Leave the pipeline running after the summary, until Ctrl-C.
    #[arg(long)]
    keep: bool,
    /// Directory for topics and the database (default: a new temporary one,
    /// removed at the end unless --keep).
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
    /// How the stages are wired: `explicit` (a topic per hop) or `broker`
    /// (one Broker, a Trigger per stage; docs/topologies.md).
    #[arg(long, value_enum, default_value_t = Wiring::Explicit)]
    topology: Wiring,
}

/// How long the pipeline may take to store what was accepted, once it
/// stopped making progress.
const STALL_LIMIT: Duration = Duration::from_secs(30);

/// Runs `pact demo`.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let temporary = match &args.dir {
        Some(_) => None,
        None => Some(tempfile::Builder::new().prefix("pact-demo-").tempdir()?),
    };
    let dir = args
        .dir
        .clone()
        .or_else(|| temporary.as_ref().map(|t| t.path().to_owned()))
        .context("no directory")?;
    // Ctrl-C or SIGTERM: while starting, stop; while simulating, stop
    // sending and check what was sent; while waiting, stop waiting.
    let shutdown = on_signal();
    let Some((pipeline, start_time)) = start_pipeline(&args, &dir, &shutdown).await? else {
        return Ok(ExitCode::from(130));
    };
    let since = Utc::now();
    let sent = send_contacts(&args, &pipeline, &shutdown).await?;
    let sent_at = Instant::now();

    let database = Database::connect_lazy(&DatabaseConfig {
        url: DatabaseUrl::parse(pipeline.database_url()).map_err(anyhow::Error::msg)?,
        max_connections: 2,
    });
    // A row's event_id is pact-translation's id for the producer's event.
    let expected: HashSet<String> = sent
        .accepted_ids
        .iter()
        .map(|id| pact_runtime::identity::of_event(pact_producer::SOURCE, id))
        .collect();
    args.say(&format!(
        "pact demo: {} contacts accepted; waiting until each is stored",
        expected.len()
    ));
    let rows = match wait_or_interrupt(&pipeline, &database, since, &expected).await {
        Ok(rows) => rows,
        Err(e) => {
            database.close().await;
            pipeline.stop().await?;
            return Err(e);
        }
    };
    let waited = sent_at.elapsed();
    let mut report = Report::new(&rows, &expected, &sent, waited, start_time);
    print_summary(&args, &pipeline, &mut report, &rows).await?;
    database.close().await;

    if args.keep {
        keep_running(&dir, pipeline.urls(), temporary).await;
    }
    pipeline.stop().await?;
    Ok(if report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        for problem in &report.problems {
            eprintln!("pact demo: FAILED: {problem}");
        }
        ExitCode::FAILURE
    })
}

impl Args {
    /// A progress line on stderr, unless the summary is JSON.
    fn say(&self, text: &str) {
        if !self.json {
            eprintln!("{text}");
        }
    }
}

/// Starts the pipeline in `dir` on ports the OS picks: the pipeline and how
/// long it took, or `None` when a signal came first.
async fn start_pipeline(
    args: &Args,
    dir: &std::path::Path,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<(Pipeline, Duration)>> {
    let parts: Vec<&str> = TOPOLOGY.functions.iter().map(|f| f.name.as_str()).collect();
    args.say(&format!(
        "pact demo: starting the pipeline ({}, eventing; {} topology)",
        parts.join(", "),
        args.topology
            .to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default()
    ));
    let settings = Settings {
        dir: dir.to_owned(),
        port: 0,
        topology: args.topology,
        ..Settings::default()
    };
    let started = Instant::now();
    let pipeline = match Pipeline::start(&settings, Events::Quiet, shutdown).await {
        Ok(pipeline) => pipeline,
        Err(e) if e.is::<crate::dev::Cancelled>() => return Ok(None),
        Err(e) => return Err(e),
    };
    let start_time = started.elapsed();
    args.say(&format!(
        "pact demo: pipeline up in {} ms; simulating for {}",
        start_time.as_millis(),
        describe_run(&args.send)
    ));
    Ok(Some((pipeline, start_time)))
}

/// Simulates the city through pact-producer until the run ends or a signal.
async fn send_contacts(
    args: &Args,
    pipeline: &Pipeline,
    shutdown: &CancellationToken,
) -> anyhow::Result<simulate::Summary> {
    let target = Target {
        url: format!("{}/contacts", pipeline.urls().of(Function::Producer)).parse()?,
        mode: Mode::Contacts,
        overrides: Default::default(),
    };
    let progress = !args.json && std::io::stderr().is_terminal();
    simulate::simulate_until(
        &args.world,
        &args.send,
        &target,
        progress,
        shutdown.clone().cancelled_owned(),
    )
    .await
}

/// [`wait_until_stored`], stopped by the next signal.
async fn wait_or_interrupt(
    pipeline: &Pipeline,
    database: &Database,
    since: DateTime<Utc>,
    expected: &HashSet<String>,
) -> anyhow::Result<Vec<Row>> {
    let interrupt = on_signal();
    tokio::select! {
        rows = wait_until_stored(pipeline, database, since, expected) => rows,
        () = interrupt.cancelled() => Err(anyhow::anyhow!("interrupted while waiting for the contacts to be stored")),
    }
}

/// Prints the report, with the dead letters, a sample exposure query and
/// the notification of a reported case, as text or as one JSON object.
async fn print_summary(
    args: &Args,
    pipeline: &Pipeline,
    report: &mut Report,
    rows: &[Row],
) -> anyhow::Result<()> {
    let exposure = exposure_sample(pipeline.urls().of(Function::Query), rows).await;
    if let Some(sample) = &exposure {
        args.say(&format!(
            "pact demo: reporting person {} as a case (POST /cases); waiting for pact-notify",
            sample.mmid
        ));
        match notify_sample(pipeline.urls(), sample).await {
            Ok(notified) => {
                report.problems.extend(notified.problems());
                report.notify = Some(notified);
            }
            Err(e) => report
                .problems
                .push(format!("the reported case was not notified: {e:#}")),
        }
    }
    let status = pipeline.status();
    let dead_letters = status
        .topics
        .iter()
        .find(|t| t.name == TOPOLOGY.dead_letter_topic)
        .map_or(0, |t| t.records);

    if args.json {
        let mut value = serde_json::to_value(report)?;
        value["dead_letters"] = dead_letters.into();
        value["exposure_sample"] = serde_json::to_value(&exposure)?;
        println!("{value}");
    } else {
        report.print(dead_letters, exposure.as_ref());
    }
    Ok(())
}

/// `--keep`: leaves the pipeline running until Ctrl-C, and its directory
/// for a look afterwards.
async fn keep_running(
    dir: &std::path::Path,
    urls: &crate::dev::Urls,
    temporary: Option<tempfile::TempDir>,
) {
    eprintln!(
        "\npact demo: the pipeline keeps running (state in {}); Ctrl-C stops it.
  producer {}   query {}   eventing {}
  the page for health staff: {}/ui/",
        dir.display(),
        urls.of(Function::Producer),
        urls.of(Function::Query),
        urls.eventing,
        urls.of(Function::Query),
    );
    on_signal().cancelled().await;
    if let Some(temporary) = temporary {
        // --keep: the directory stays for a look afterwards.
        let _ = temporary.keep();
    }
}

/// A token cancelled by the next Ctrl-C or SIGTERM.
fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let signal = pact_runtime::server::shutdown_signal();
    tokio::spawn({
        let token = token.clone();
        async move {
            signal.await;
            token.cancel();
        }
    });
    token
}

fn describe_run(send: &SendArgs) -> String {
    let length = match (send.contacts, send.duration) {
        (Some(n), _) => format!("{n} contacts"),
        (None, duration) => {
            humantime::format_duration(duration.unwrap_or(simulate::DEFAULT_DURATION)).to_string()
        }
    };
    match send.rate {
        Some(rate) => format!("{length} at {rate} contacts/s"),
        None => format!("{length}, as fast as pact-producer takes them (--rate for a fixed load)"),
    }
}

/// One stored contact of this run.
#[derive(sqlx::FromRow)]
struct Row {
    event_id: String,
    mmid1: i64,
    mmid2: i64,
    country: String,
    state: String,
    city: String,
    zipcode: String,
    /// From observation to storage; computed after reading.
    #[sqlx(skip)]
    latency_ms: f64,
    observed_at: DateTime<Utc>,
    recorded_at: DateTime<Utc>,
}

/// Polls until every expected id is stored; fails when the pipeline stops
/// making progress for [`STALL_LIMIT`] first.
async fn wait_until_stored(
    pipeline: &Pipeline,
    database: &Database,
    since: DateTime<Utc>,
    expected: &HashSet<String>,
) -> anyhow::Result<Vec<Row>> {
    let mut last_count = usize::MAX;
    let mut last_progress = Instant::now();
    loop {
        let rows = fetch_rows(database, since).await?;
        let stored = rows
            .iter()
            .filter(|r| expected.contains(r.event_id.as_str()))
            .count();
        if stored >= expected.len() {
            return Ok(rows);
        }
        if stored != last_count {
            last_count = stored;
            last_progress = Instant::now();
        } else if last_progress.elapsed() > STALL_LIMIT {
            let lag: u64 = pipeline.status().subscriptions.iter().map(|s| s.lag).sum();
            anyhow::bail!(
                "only {stored} of {} accepted contacts were stored, with no progress for {} s (events still in the topics: {lag}); see `GET /topics` of the eventing stand-in",
                expected.len(),
                STALL_LIMIT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every row recorded since `since`, with its observation-to-storage latency.
async fn fetch_rows(database: &Database, since: DateTime<Utc>) -> anyhow::Result<Vec<Row>> {
    let mut rows: Vec<Row> = database
        .query(
            "SELECT event_id, mmid1, mmid2, country, state, city, zipcode, observed_at, recorded_at \
             FROM contactlist WHERE recorded_at >= $1",
        )
        .bind(since)
        .fetch_all()
        .await?;
    for row in &mut rows {
        row.latency_ms = (row.recorded_at - row.observed_at)
            .num_microseconds()
            .unwrap_or(0) as f64
            / 1000.0;
    }
    Ok(rows)
}

/// What the demo found.
#[derive(Debug, Serialize)]
struct Report {
    pipeline_start_ms: u128,
    phones: u64,
    city: String,
    seed: u64,
    sent: u64,
    accepted: u64,
    rejected: u64,
    failed: u64,
    send_rate_per_s: f64,
    stored: usize,
    stored_twice: usize,
    missing: usize,
    wait_after_send_ms: u128,
    end_to_end_per_s: f64,
    latency_ms: Latency,
    by_place: Vec<PlaceCount>,
    busiest_places: Vec<PlaceCount>,
    /// The last step: a person reported as a case, and who was notified.
    notify: Option<NotifySample>,
    problems: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Latency {
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
}

#[derive(Debug, Serialize)]
struct PlaceCount {
    place: String,
    contacts: usize,
}

impl Report {
    fn new(
        rows: &[Row],
        expected: &HashSet<String>,
        sent: &simulate::Summary,
        waited: Duration,
        start: Duration,
    ) -> Self {
        let ours: Vec<&Row> = rows
            .iter()
            .filter(|r| expected.contains(r.event_id.as_str()))
            .collect();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for row in &ours {
            *seen.entry(row.event_id.as_str()).or_default() += 1;
        }
        let stored_twice = seen.values().filter(|&&n| n > 1).count();
        let missing = expected
            .iter()
            .filter(|id| !seen.contains_key(id.as_str()))
            .count();
        let mut latencies: Vec<f64> = ours.iter().map(|r| r.latency_ms).collect();
        latencies.sort_by(f64::total_cmp);
        let pick = |q: f64| {
            latencies
                .get(((latencies.len() as f64 * q).ceil() as usize).saturating_sub(1))
                .copied()
                .unwrap_or(0.0)
        };
        let first = ours.iter().map(|r| r.observed_at).min();
        let last = ours.iter().map(|r| r.recorded_at).max();
        let span_s = match (first, last) {
            (Some(a), Some(b)) => (b - a).num_microseconds().unwrap_or(0) as f64 / 1e6,
            _ => 0.0,
        };
        let count_by = |key: &dyn Fn(&Row) -> String, limit: usize| {
            let mut counts: BTreeMap<String, usize> = BTreeMap::new();
            for row in &ours {
                *counts.entry(key(row)).or_default() += 1;
            }
            let mut counts: Vec<PlaceCount> = counts
                .into_iter()
                .map(|(place, contacts)| PlaceCount { place, contacts })
                .collect();
            counts.sort_by(|a, b| b.contacts.cmp(&a.contacts).then(a.place.cmp(&b.place)));
            counts.truncate(limit);
            counts
        };
        let by_place = count_by(
            &|r| format!("{} {}", r.country, r.state).trim().to_owned(),
            10,
        );
        let busiest_places = count_by(
            &|r| {
                format!("{}, {} {}", r.city, r.state, r.zipcode)
                    .trim()
                    .to_owned()
            },
            5,
        );
        let mut problems = Vec::new();
        if missing > 0 {
            problems.push(format!(
                "{missing} accepted contacts are not in contactlist"
            ));
        }
        if stored_twice > 0 {
            problems.push(format!("{stored_twice} contacts are stored more than once"));
        }
        if sent.rejected > 0 || sent.failed > 0 {
            problems.push(format!(
                "pact-producer rejected {} contacts and {} could not be sent",
                sent.rejected, sent.failed
            ));
        }
        if sent.accepted == 0 {
            problems.push("no contact was accepted".into());
        }
        Self {
            pipeline_start_ms: start.as_millis(),
            phones: sent.phones,
            city: sent.city.clone(),
            seed: sent.seed,
            sent: sent.sent,
            accepted: sent.accepted,
            rejected: sent.rejected,
            failed: sent.failed,
            send_rate_per_s: sent.rate(),
            stored: seen.len(),
            stored_twice,
            missing,
            wait_after_send_ms: waited.as_millis(),
            end_to_end_per_s: if span_s > 0.0 {
                ours.len() as f64 / span_s
            } else {
                0.0
            },
            latency_ms: Latency {
                p50: pick(0.50),
                p90: pick(0.90),
                p99: pick(0.99),
                max: latencies.last().copied().unwrap_or(0.0),
            },
            by_place,
            busiest_places,
            notify: None,
            problems,
        }
    }

    fn print(&self, dead_letters: u64, exposure: Option<&ExposureSample>) {
        println!();
        println!(
            "PACT demo: {} phones in {} (seed {})",
            self.phones, self.city, self.seed
        );
        println!(
            "  sent          {} contacts to pact-producer, {} accepted ({:.0}/s)",
            self.sent, self.accepted, self.send_rate_per_s
        );
        println!(
            "  stored        {} rows in contactlist, each exactly once: {} ({} missing, {} twice)",
            self.stored,
            if self.missing == 0 && self.stored_twice == 0 {
                "yes"
            } else {
                "NO"
            },
            self.missing,
            self.stored_twice
        );
        println!(
            "  end to end    {:.0} contacts/s, first observation to last row; all stored {} ms after the last send",
            self.end_to_end_per_s, self.wait_after_send_ms
        );
        println!(
            "  latency       observation to storage: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            self.latency_ms.p50, self.latency_ms.p90, self.latency_ms.p99, self.latency_ms.max
        );
        println!("  dead letters  {dead_letters}");
        println!("  pipeline      started in {} ms", self.pipeline_start_ms);
        println!("\n  contacts by country and state:");
        for count in &self.by_place {
            println!("    {:<28} {:>8}", count.place, count.contacts);
        }
        println!("\n  busiest places:");
        for count in &self.busiest_places {
            println!("    {:<28} {:>8}", count.place, count.contacts);
        }
        if let Some(sample) = exposure {
            println!(
                "\n  pact-query:   person {} met {} people directly; {} people are within 2 contacts (GET /exposures/{}?depth=2)",
                sample.mmid, sample.direct, sample.within_two, sample.mmid
            );
        }
        if let Some(notify) = &self.notify {
            println!(
                "  pact-notify:  person {} reported as a case (POST /cases): {} people notified {} ms after the report, each once: {}",
                notify.mmid,
                notify.people,
                notify.within_ms,
                if notify.each_once { "yes" } else { "NO" }
            );
        }
    }
}

/// Who the most social person of the run exposed, asked of pact-query.
#[derive(Debug, Serialize)]
struct ExposureSample {
    mmid: i64,
    direct: usize,
    within_two: usize,
}

async fn exposure_sample(query_url: &str, rows: &[Row]) -> Option<ExposureSample> {
    let mut contacts: HashMap<i64, usize> = HashMap::new();
    for row in rows {
        *contacts.entry(row.mmid1).or_default() += 1;
        *contacts.entry(row.mmid2).or_default() += 1;
    }
    let (&mmid, _) = contacts.iter().max_by_key(|(id, n)| (**n, -**id))?;
    let client = reqwest::Client::new();
    let mut cursor: Option<String> = None;
    let (mut direct, mut within_two) = (0, 0);
    for _ in 0..50 {
        let mut request = client.get(format!("{query_url}/exposures/{mmid}")).query(&[
            ("depth", "2"),
            ("days", "1"),
            ("limit", "1000"),
        ]);
        if let Some(cursor) = &cursor {
            request = request.query(&[("cursor", cursor)]);
        }
        let page: serde_json::Value = request.send().await.ok()?.json().await.ok()?;
        for item in page["items"].as_array()? {
            within_two += 1;
            if item["hops"] == 1 {
                direct += 1;
            }
        }
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    Some(ExposureSample {
        mmid,
        direct,
        within_two,
    })
}

/// A simulated person reported as a case, and what pact-notify sent.
#[derive(Debug, Serialize)]
struct NotifySample {
    mmid: i64,
    case_id: String,
    /// People pact-query lists one hop from the person in the run.
    exposed: usize,
    /// Distinct people in `pact-notifications`.
    people: usize,
    /// Records in `pact-notifications`.
    notifications: usize,
    /// Whether each exposed person got exactly one notification.
    each_once: bool,
    /// From the report to the last notification in the topic.
    within_ms: i64,
}

impl NotifySample {
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.each_once {
            problems.push(format!(
                "the case's {} exposed people got {} notifications for {} people",
                self.exposed, self.notifications, self.people
            ));
        }
        problems
    }
}

/// How long pact-notify may take to notify the sample case.
const NOTIFY_LIMIT: Duration = Duration::from_secs(30);

/// Reports the sample person as a case with onset today, waits until
/// pact-notify says it is notified, and reads what reached
/// `pact-notifications`.
async fn notify_sample(
    urls: &crate::dev::Urls,
    sample: &ExposureSample,
) -> anyhow::Result<NotifySample> {
    let client = reqwest::Client::new();
    let query = urls.of(Function::Query);
    let reported_at = Utc::now();
    let response = client
        .post(format!("{query}/cases"))
        .json(&serde_json::json!({"mmid": sample.mmid, "onset": reported_at.date_naive()}))
        .send()
        .await?;
    anyhow::ensure!(
        response.status() == 202,
        "POST /cases answered {}: {}",
        response.status(),
        response.text().await.unwrap_or_default()
    );
    let accepted: serde_json::Value = response.json().await?;
    let case_id = accepted["case_id"].as_str().unwrap_or_default().to_owned();
    let deadline = Instant::now() + NOTIFY_LIMIT;
    loop {
        let status: serde_json::Value = client
            .get(format!("{query}/cases/{case_id}"))
            .send()
            .await?
            .json()
            .await
            .unwrap_or_default();
        if status["status"] == "notified" {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "not notified within {} s (GET /cases/{case_id}: {status})",
            NOTIFY_LIMIT.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let records = topic_records(&client, &urls.eventing, "pact-notifications").await?;
    let mut people: HashMap<i64, usize> = HashMap::new();
    let mut last = reported_at;
    for record in &records {
        // pact-notify keys each notification by the person notified.
        if let Some(mmid) = record["key"].as_str().and_then(|k| k.parse().ok()) {
            *people.entry(mmid).or_default() += 1;
        }
        if let Some(at) = record["appended_at"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        {
            last = last.max(at.with_timezone(&Utc));
        }
    }
    Ok(NotifySample {
        mmid: sample.mmid,
        case_id,
        exposed: sample.direct,
        people: people.len(),
        notifications: records.len(),
        each_once: people.len() == sample.direct && people.values().all(|&n| n == 1),
        within_ms: (last - reported_at).num_milliseconds(),
    })
}

/// Every record of `topic` in the stand-in, all partitions.
async fn topic_records(
    client: &reqwest::Client,
    eventing: &str,
    topic: &str,
) -> anyhow::Result<Vec<serde_json::Value>> {
    let topics: serde_json::Value = client
        .get(format!("{eventing}/topics"))
        .send()
        .await?
        .json()
        .await?;
    let starts: Vec<u64> = topics["topics"]
        .as_array()
        .and_then(|all| all.iter().find(|t| t["name"] == topic))
        .and_then(|t| t["start_offsets"].as_array())
        .map(|offsets| {
            offsets
                .iter()
                .filter_map(serde_json::Value::as_u64)
                .collect()
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    for (partition, &start) in starts.iter().enumerate() {
        let mut from = start;
        loop {
            let page: Vec<serde_json::Value> = client
                .get(format!("{eventing}/topics/{topic}/records"))
                .query(&[
                    ("partition", partition as u64),
                    ("from", from),
                    ("limit", 1000),
                ])
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let Some(last) = page.last() else { break };
            from = last["offset"].as_u64().unwrap_or(from) + 1;
            out.extend(page);
        }
    }
    Ok(out)
}
