//! `pact burst`: a bounded load burst against one URL with latency
//! percentiles, and with `--watch` the pods of the Knative services scaling
//! from zero to N and back, seen through the Kubernetes API.
//!
//! - [`load`]: the requests (closed-loop, or open-loop with `--rate`) and
//!   what they met: an HDR histogram of latencies, statuses, error kinds,
//!   and counts per second.
//! - [`watch`], [`timeline`], [`chart`]: the pods and revisions of the
//!   Knative services, their counts over time, and the SVG chart.

pub mod chart;
pub mod load;
mod report;
pub mod timeline;
pub mod watch;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::bail;

use tokio::time::Instant;

use crate::simulate::WorldArgs;
use crate::traffic::progress::{self, Bar, Length};
use crate::traffic::{Mode, PRODUCER_PATH, Target};
use load::{Payloads, Plan, Progress};
pub use report::{Latency, Report, WatchReport};
use timeline::{PodCounts, format_counts};
use watch::{Watch, WatchArgs};

/// How long a burst lasts when neither `--duration` nor `--requests` is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// The longest burst: a burst is bounded, a soak is something else.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);
/// Contacts the simulated city may run ahead of the requests.
const CONTACTS_AHEAD: usize = 65_536;
/// How long `--watch` alone watches when `--duration` is not given.
pub const DEFAULT_WATCH: Duration = Duration::from_secs(120);
/// The chart `--watch` writes when `--chart` is not given.
pub const DEFAULT_CHART: &str = "pact-burst.svg";

/// Arguments of `pact burst`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Examples:
  pact burst http://127.0.0.1:8180/pact/producer                the original demo's curl loop, 10 s, 16 at once
  pact burst --rate 500 --duration 30s http://127.0.0.1:8181/   500 CloudEvents/s to pact-translation, open loop
  pact burst --requests 10000 --json http://127.0.0.1:8182/     a fixed count, the result as JSON
  pact burst --watch -n pact -z 1m https://pact-producer.example/pact/producer
                                      load, and the Knative services scaling 0 → N → 0 (table, chart)
  pact burst --watch -n pact          no load: watch the services scale for 2 minutes

Latency is from sending a request to the end of its answer; with --rate,
from the instant the request was due, so a target that stalls shows the wait
it caused. Requests without an answer (connect, timeout, reset) are counted
by kind and not in the latencies.

Exit code: 0 when every request was answered 2xx, 1 otherwise, 2 for a usage error.")]
pub struct Args {
    /// Where to send: pact-producer's `/pact/producer` or `/contacts`, or any
    /// CloudEvents endpoint (a function, a broker, a KafkaSink). Optional
    /// with --watch.
    #[arg(required_unless_present = "watch")]
    pub url: Option<String>,
    /// `contacts` (pact-producer's endpoints: one JSON contact to
    /// `…/contacts`, or `?message=` to /pact/producer, which a URL with no
    /// path gets), `cloudevents` (binary-mode CloudEvents with JSON data) or
    /// `csv` (CloudEvents carrying the original CSV line) [default: contacts
    /// when the URL's path ends in /pact/producer or /contacts, otherwise
    /// cloudevents]. The older spellings `producer` and `cloudevent` are
    /// taken too.
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
    /// Requests in flight at once (workers).
    #[arg(long, short = 'c', default_value_t = 16)]
    pub concurrency: usize,
    /// How long to send, e.g. 10s or 2m [default: 10s, unless --requests is
    /// given; with --watch alone: how long to watch, default 2m].
    #[arg(long, short = 'z', value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Send this many requests (and stop earlier if --duration ends first).
    #[arg(long)]
    pub requests: Option<u64>,
    /// Requests per second in all, sent on schedule whatever the answers
    /// take (open loop) [default: as fast as the workers are answered].
    #[arg(long)]
    pub rate: Option<f64>,
    /// Give up on a request after this long.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Send these bodies instead of simulated contacts: one per non-blank
    /// line, in turn (JSON data, a CSV line, or a producer `message`, as the
    /// mode takes); each request still gets its own event id.
    #[arg(long, value_name = "FILE")]
    pub data_file: Option<PathBuf>,
    /// The simulated city the contacts come from.
    #[command(flatten, next_help_heading = "Simulated contacts")]
    pub world: WorldArgs,
    /// The Knative services' pods, through the Kubernetes API.
    #[command(flatten, next_help_heading = "Watching the Knative services")]
    pub watch: WatchArgs,
    /// After the load, keep watching until every service is back to zero,
    /// or for this long at most.
    #[arg(long, default_value = "3m", value_parser = humantime::parse_duration, help_heading = "Watching the Knative services")]
    pub settle: Duration,
    /// Where --watch writes its chart (SVG) [default: pact-burst.svg].
    #[arg(
        long,
        value_name = "FILE",
        help_heading = "Watching the Knative services"
    )]
    pub chart: Option<PathBuf>,
    /// Print the result as one JSON object.
    #[arg(long, conflicts_with = "csv", help_heading = "Output")]
    pub json: bool,
    /// Print the counts per second as CSV (with --watch, the pods too).
    #[arg(long, help_heading = "Output")]
    pub csv: bool,
}

/// Refuses arguments that make no sense, naming the option.
fn check(args: &Args) -> anyhow::Result<()> {
    if !(1..=4096).contains(&args.concurrency) {
        bail!("--concurrency must be from 1 to 4096");
    }
    if let Some(duration) = args.duration
        && !(Duration::from_millis(100)..=MAX_DURATION).contains(&duration)
    {
        bail!("--duration must be from 100ms to 1h (a burst is bounded)");
    }
    if args.requests == Some(0) {
        bail!("--requests must be at least 1");
    }
    if let Some(rate) = args.rate
        && !(rate.is_finite() && (0.001..=1e6).contains(&rate))
    {
        bail!("--rate must be a number of requests per second from 0.001 to 1000000");
    }
    if args.timeout < Duration::from_millis(1) {
        bail!("--timeout must be at least 1ms");
    }
    args.world.config()?;
    Ok(())
}

/// Runs `pact burst`; the exit codes are in the help text.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let load = match check(&args).and_then(|()| prepare(&args)) {
        Ok(load) => load,
        Err(e) => {
            eprintln!("pact burst: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };

    // Ctrl-C/SIGTERM: no new request starts, the report is still printed.
    let (stop_tx, mut stop) = tokio::sync::watch::channel(false);
    let signal = pact_runtime::server::shutdown_signal();
    let on_signal = tokio::spawn(async move {
        signal.await;
        let _ = stop_tx.send(true);
    });

    let origin = Instant::now();
    let watching = if args.watch.watch {
        match Watch::start(&args.watch, origin).await {
            Ok(watching) => Some(watching),
            Err(e) => {
                eprintln!("pact burst: {e:#}");
                return Ok(ExitCode::FAILURE);
            }
        }
    } else {
        None
    };
    let terminal = std::io::stderr().is_terminal();

    let report = match load {
        Some(load) => {
            Some(send_load(&args, load, origin, terminal, watching.as_ref(), &stop).await?)
        }
        None => None,
    };
    let watched = match watching {
        Some(watching) => Some(
            watch_to_the_end(
                &args,
                watching,
                report.as_ref(),
                origin,
                terminal,
                &mut stop,
            )
            .await,
        ),
        None => None,
    };
    on_signal.abort();

    report::print(&args, report.as_ref(), watched.as_ref())?;
    Ok(match &report {
        Some(report) if !report.success() => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    })
}

/// What a burst sends: where, the contents, the seed of the simulated city.
struct Load {
    target: Target,
    payloads: Payloads,
    seed: Option<u64>,
}

/// The load the arguments ask for; `None` when only watching.
fn prepare(args: &Args) -> anyhow::Result<Option<Load>> {
    let Some(url) = args.url.as_deref() else {
        if args.watch.watch {
            return Ok(None);
        }
        bail!("give the URL to send to (or --watch to watch only)");
    };
    let target = Target::new(url, args.mode)?.with_default_path(PRODUCER_PATH);
    let (payloads, seed) = match &args.data_file {
        Some(path) => (Payloads::from_file(path)?, None),
        None => {
            let (config, _) = args.world.config()?;
            let seed = config.seed;
            let contacts = crate::simulate::spawn_world(config, CONTACTS_AHEAD)?;
            (
                Payloads::World(tokio::sync::Mutex::new(contacts)),
                Some(seed),
            )
        }
    };
    Ok(Some(Load {
        target,
        payloads,
        seed,
    }))
}

/// Sends the load with a progress bar (and the pods, when watching), and
/// reports what it met.
async fn send_load(
    args: &Args,
    load: Load,
    origin: Instant,
    terminal: bool,
    watching: Option<&Watch>,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Report> {
    let duration = match (args.duration, args.requests) {
        (Some(d), _) => Some(d),
        (None, Some(_)) => None,
        (None, None) => Some(DEFAULT_DURATION),
    };
    let plan = Plan {
        concurrency: args.concurrency,
        deadline: duration.map(|d| Instant::now() + d),
        requests: args.requests,
        rate: args.rate,
        timeout: args.timeout,
    };
    let progress = Arc::new(Progress::default());
    let bar = Bar::new(
        match duration {
            Some(d) => Length::Seconds(d),
            None => Length::Count(args.requests.unwrap_or(0), "requests"),
        },
        terminal,
    );
    let sending = load::run(
        load.target.clone(),
        plan,
        load.payloads,
        origin,
        progress.clone(),
        stop.clone(),
    );
    tokio::pin!(sending);
    let result = loop {
        tokio::select! {
            result = &mut sending => break result,
            () = tokio::time::sleep(progress::REDRAW) => if bar.is_shown() {
                draw(&bar, &progress, origin, duration.is_some(), watching);
            }
        }
    };
    bar.finish();
    let (record, started) = result?;
    let mut done = Report::new(&load.target, args, &record, started);
    done.seed = load.seed;
    done.interrupted = *stop.borrow();
    done.load_s = Some((
        (started - origin).as_secs_f64(),
        record
            .last_end
            .unwrap_or(started)
            .saturating_duration_since(origin)
            .as_secs_f64(),
    ));
    Ok(done)
}

/// Watches after a load until every service is back to zero, or for
/// --settle; watching only, for --duration. Then the timeline, the scaling
/// and the chart.
async fn watch_to_the_end(
    args: &Args,
    watching: Watch,
    report: Option<&Report>,
    origin: Instant,
    terminal: bool,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> WatchReport {
    let until = match report {
        Some(_) => Instant::now() + args.settle,
        None => origin + args.duration.unwrap_or(DEFAULT_WATCH),
    };
    let bar = Bar::new(Length::Endless(""), terminal);
    while Instant::now() < until && !*stop.borrow() {
        let pods = watching.snapshot();
        if report.is_some() && pods.values().all(PodCounts::is_zero) {
            break;
        }
        if bar.is_shown() {
            let what = if report.is_some() {
                "settling"
            } else {
                "watching"
            };
            bar.show(
                origin.elapsed().as_secs(),
                format!("{what}: {}", pods_line(&pods)),
            );
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = stop.changed() => {}
        }
    }
    bar.finish();
    let until_s = origin.elapsed().as_secs_f64();
    let namespace = watching.namespace().to_owned();
    let mut warnings = watching.warnings();
    let timeline = watching.stop().await;
    let load_s = report.and_then(|r| r.load_s);
    let scaling = timeline.scaling(
        load_s.map_or(0.0, |(start, _)| start),
        load_s.map(|(_, end)| end),
    );
    let rps: Vec<f64> = report
        .map(|r| r.per_second.iter().map(|s| s.requests as f64).collect())
        .unwrap_or_default();
    let chart = args
        .chart
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CHART));
    let title = match report {
        Some(r) => format!(
            "pact burst: {} ({} workers), namespace {namespace}",
            r.url, r.concurrency
        ),
        None => format!("pact burst --watch: namespace {namespace}"),
    };
    let chart = match chart::write_svg(&chart, &title, &rps, &timeline, &scaling, load_s, until_s) {
        Ok(()) => Some(chart),
        Err(e) => {
            warnings.push(format!("{e:#}"));
            None
        }
    };
    WatchReport {
        namespace,
        load_s,
        changes: timeline.changes().to_vec(),
        samples: timeline.sample(1.0, until_s),
        scaling,
        chart,
        warnings,
    }
}

fn pods_line(pods: &std::collections::BTreeMap<String, PodCounts>) -> String {
    if pods.is_empty() {
        return "no pods of a Knative service".to_owned();
    }
    pods.iter()
        .map(|(service, counts)| format!("{service} {}", format_counts(counts)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn draw(bar: &Bar, progress: &Progress, origin: Instant, by_time: bool, watching: Option<&Watch>) {
    let elapsed = origin.elapsed();
    let done = progress.done.load(Ordering::Relaxed);
    let bad = progress.bad.load(Ordering::Relaxed);
    let mut message = format!(
        "{done} requests, {:.0}/s, {bad} not 2xx",
        progress::per_second(done, elapsed)
    );
    if let Some(watching) = watching {
        message.push_str(&format!("; {}", pods_line(&watching.snapshot())));
    }
    bar.show(if by_time { elapsed.as_secs() } else { done }, message);
}
