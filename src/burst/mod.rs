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
pub mod timeline;
pub mod watch;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::bail;
use serde::Serialize;

use tokio::time::Instant;

use crate::simulate::WorldArgs;
use crate::traffic::progress::{self, Bar, Length};
use crate::traffic::{Mode, PRODUCER_PATH, Target};
use load::{ErrorKind, Payloads, Plan, Progress, Recorder, Second};
use timeline::{Change, PodCounts, Sample, ServiceScaling, format_counts};
use watch::{Watch, WatchArgs};

/// How long a burst lasts when neither `--duration` nor `--requests` is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// The longest burst: a burst is bounded, a soak is something else.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);
/// Contacts the simulated city may run ahead of the requests.
const CONTACTS_AHEAD: usize = 65_536;
/// Most rows of the table printed at the end: a longer run shows every k-th second summed.
const MAX_TABLE_ROWS: usize = 60;
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

/// What `--watch` saw.
#[derive(Debug, Serialize)]
pub struct WatchReport {
    /// The namespace watched.
    pub namespace: String,
    /// When the load started and ended, seconds since the start.
    pub load_s: Option<(f64, f64)>,
    /// Every change of a service's pod counts.
    pub changes: Vec<Change>,
    /// The counts at each whole second.
    pub samples: Vec<Sample>,
    /// Scale-up delay, peak and time back to zero, per service.
    pub scaling: Vec<ServiceScaling>,
    /// The chart written.
    pub chart: Option<PathBuf>,
    /// Problems that did not stop the watch.
    pub warnings: Vec<String>,
}

/// Everything `--json` prints: the load's report (when there was load) and
/// the watch's (with `--watch`).
#[derive(Debug, Serialize)]
struct Output<'a> {
    #[serde(flatten)]
    load: Option<&'a Report>,
    watch: Option<&'a WatchReport>,
}

/// What a burst did, as `--json` prints it.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Where the requests went (any password masked).
    pub url: String,
    /// How.
    pub mode: Mode,
    /// Workers.
    pub concurrency: usize,
    /// The open-loop rate asked for.
    pub rate: Option<f64>,
    /// Requests ended: answered or failed.
    pub requests: u64,
    /// Answered with any status.
    pub answered: u64,
    /// Answered 2xx.
    pub ok: u64,
    /// Not answered.
    pub errors: u64,
    /// Seconds from the first request to the end of the last.
    pub elapsed_s: f64,
    /// Requests ended per second of `elapsed_s`.
    pub requests_per_s: f64,
    /// Latency percentiles of answered requests, in milliseconds.
    pub latency_ms: Latency,
    /// Answers by status code.
    pub status: std::collections::BTreeMap<u16, u64>,
    /// Failures by kind.
    pub error_kinds: std::collections::BTreeMap<ErrorKind, u64>,
    /// A few distinct problems.
    pub problems: Vec<String>,
    /// Requests ended in each second since the start.
    pub per_second: Vec<Second>,
    /// The seed of the simulated contacts (the same seed and city give the
    /// same contacts); none with `--data-file`.
    pub seed: Option<u64>,
    /// Whether Ctrl-C/SIGTERM ended the burst early.
    pub interrupted: bool,
    /// When the load started and ended, seconds since the burst's origin.
    #[serde(skip)]
    pub load_s: Option<(f64, f64)>,
}

/// Latency percentiles, milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p99_9: f64,
    /// Longest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

impl Latency {
    fn of(record: &Recorder) -> Self {
        let h = &record.latency;
        if h.is_empty() {
            return Self::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            p50: ms(h.value_at_quantile(0.5)),
            p90: ms(h.value_at_quantile(0.9)),
            p99: ms(h.value_at_quantile(0.99)),
            p99_9: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
        }
    }
}

impl Report {
    fn new(target: &Target, args: &Args, record: &Recorder, started: Instant) -> Self {
        let elapsed_s = record
            .last_end
            .map_or(0.0, |end| (end - started).as_secs_f64());
        let requests = record.answered_count() + record.error_count();
        Self {
            url: target.shown_url(),
            mode: target.mode,
            concurrency: args.concurrency,
            rate: args.rate,
            requests,
            answered: record.answered_count(),
            ok: record.ok_count(),
            errors: record.error_count(),
            elapsed_s,
            requests_per_s: if elapsed_s > 0.0 {
                requests as f64 / elapsed_s
            } else {
                0.0
            },
            latency_ms: Latency::of(record),
            status: record.statuses.clone(),
            error_kinds: record.errors.clone(),
            problems: record.problems.clone(),
            per_second: record.seconds.clone(),
            seed: None,
            interrupted: false,
            load_s: None,
        }
    }

    /// Every request was answered 2xx.
    pub fn success(&self) -> bool {
        self.requests > 0 && self.ok == self.requests
    }

    fn print_text(&self) {
        let mode = self.mode.name();
        let pace = match self.rate {
            Some(rate) => format!("open loop at {rate}/s"),
            None => "closed loop".to_owned(),
        };
        let seed = self.seed.map(|s| format!(", seed {s}")).unwrap_or_default();
        println!(
            "pact burst: {} ({mode}), {} workers, {pace}{seed}{}",
            self.url,
            self.concurrency,
            if self.interrupted {
                ", interrupted"
            } else {
                ""
            }
        );
        println!(
            "  requests  {} in {:.2} s: {:.1}/s",
            self.requests, self.elapsed_s, self.requests_per_s
        );
        println!(
            "  answered  {} (2xx {}, other {}), no answer {}",
            self.answered,
            self.ok,
            self.answered - self.ok,
            self.errors
        );
        let l = &self.latency_ms;
        println!(
            "  latency   p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  mean {}",
            ms(l.p50),
            ms(l.p90),
            ms(l.p99),
            ms(l.p99_9),
            ms(l.max),
            ms(l.mean)
        );
        let status: Vec<String> = self
            .status
            .iter()
            .map(|(code, n)| format!("{code}: {n}"))
            .collect();
        println!("  status    {}", or_none(&status));
        let errors: Vec<String> = self
            .error_kinds
            .iter()
            .map(|(kind, n)| format!("{}: {n}", kind_name(*kind)))
            .collect();
        println!("  errors    {}", or_none(&errors));
        for problem in &self.problems {
            println!("  problem   {problem}");
        }
    }
}

/// The counts per second as a table, with the pods of each service when
/// watched; a run longer than [`MAX_TABLE_ROWS`] seconds is shown in steps.
fn print_table(per_second: &[Second], watched: Option<&WatchReport>) {
    let (samples, services) = pod_columns(watched);
    let rows = per_second.len().max(samples.len());
    let step = rows.div_ceil(MAX_TABLE_ROWS).max(1);
    let mut header = format!(
        "  {:>6}  {:>9}  {:>9}  {:>7}  {:>7}",
        "t (s)", "req/s", "2xx", "other", "errors"
    );
    for service in &services {
        header.push_str(&format!("  {service:>w$}", w = service.len().max(8)));
    }
    println!("\n{header}");
    for start in (0..rows).step_by(step) {
        let chunk = per_second
            .get(start..(start + step).min(per_second.len()))
            .unwrap_or_default();
        let mut sum = Second::default();
        for &second in chunk {
            sum += second;
        }
        let mut row = format!(
            "  {:>6}  {:>9.0}  {:>9}  {:>7}  {:>7}",
            start,
            sum.requests as f64 / step as f64,
            sum.ok,
            sum.other,
            sum.errors
        );
        for service in &services {
            let counts = samples
                .get(start)
                .and_then(|s| s.pods.get(*service))
                .copied()
                .unwrap_or_default();
            row.push_str(&format!(
                "  {:>w$}",
                format_counts(&counts),
                w = service.len().max(8)
            ));
        }
        println!("{row}");
    }
}

/// The samples of a watch and the services seen, one column each (none
/// without a watch).
fn pod_columns(watched: Option<&WatchReport>) -> (&[Sample], Vec<&String>) {
    match watched {
        Some(w) => (&w.samples, w.scaling.iter().map(|s| &s.service).collect()),
        None => (&[], Vec::new()),
    }
}

/// How each service scaled, one line each.
fn print_scaling(watched: &WatchReport) {
    println!("\n  watched namespace {:?}", watched.namespace);
    if watched.scaling.is_empty() {
        println!("  no pods of a Knative service were seen");
    }
    for s in &watched.scaling {
        let up = match s.scale_up_delay_s {
            Some(delay) => format!("scale-up after {delay:.1} s"),
            None => "no scale-up".to_owned(),
        };
        let zero = match (s.to_zero_s, watched.load_s) {
            (Some(t), Some(_)) => format!("back to zero {t:.1} s after the load ended"),
            (Some(t), None) => format!("back to zero {t:.1} s after the peak"),
            (None, _) => "not back to zero".to_owned(),
        };
        println!(
            "  {:<20} ready at start {}, {up}, peak {} ready at {:.1} s, {zero}",
            s.service, s.ready_at_start, s.peak_ready, s.peak_at_s
        );
    }
    for warning in &watched.warnings {
        println!("  warning: {warning}");
    }
    if let Some(chart) = &watched.chart {
        println!("  chart: {}", chart.display());
    }
}

/// The counts per second as CSV, with ready and desired pods per service
/// when watched (desired empty when unknown).
fn print_csv(per_second: &[Second], watched: Option<&WatchReport>) {
    let (samples, services) = pod_columns(watched);
    let mut header = "second,requests,ok,other,errors".to_owned();
    for service in &services {
        header.push_str(&format!(",{service}_ready,{service}_desired"));
    }
    println!("{header}");
    for i in 0..per_second.len().max(samples.len()) {
        let s = per_second.get(i).copied().unwrap_or_default();
        let mut row = format!("{i},{},{},{},{}", s.requests, s.ok, s.other, s.errors);
        for service in &services {
            let c = samples
                .get(i)
                .and_then(|s| s.pods.get(*service))
                .copied()
                .unwrap_or_default();
            let desired = c.desired.map(|d| d.to_string()).unwrap_or_default();
            row.push_str(&format!(",{},{desired}", c.ready));
        }
        println!("{row}");
    }
}

fn ms(value: f64) -> String {
    if value < 10.0 {
        format!("{value:.2} ms")
    } else if value < 1000.0 {
        format!("{value:.1} ms")
    } else {
        format!("{:.2} s", value / 1000.0)
    }
}

fn or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Connect => "connect",
        ErrorKind::Timeout => "timeout",
        ErrorKind::Reset => "reset",
        ErrorKind::Other => "other",
    }
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

    print(&args, report.as_ref(), watched.as_ref())?;
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

/// The report as --json, --csv or text.
fn print(
    args: &Args,
    report: Option<&Report>,
    watched: Option<&WatchReport>,
) -> anyhow::Result<()> {
    let per_second = report.map_or(&[][..], |r| &r.per_second[..]);
    if args.json {
        let output = Output {
            load: report,
            watch: watched,
        };
        println!("{}", serde_json::to_string(&output)?);
    } else if args.csv {
        print_csv(per_second, watched);
    } else {
        if let Some(report) = report {
            report.print_text();
        }
        print_table(per_second, watched);
        if let Some(watched) = watched {
            print_scaling(watched);
        }
    }
    Ok(())
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
