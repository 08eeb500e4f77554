//! `pact burst`: a bounded load burst against one URL with latency
//! percentiles, and with `--watch` the pods of the Knative services scaling
//! from zero to N and back, seen through the Kubernetes API.
//!
//! - [`load`]: the requests (closed-loop, or open-loop with `--rate`) and
//!   what they met: an HDR histogram of latencies, statuses, error kinds,
//!   and counts per second.
//! - `watch`, `timeline`, `chart`: the pods and revisions of the Knative
//!   services, their counts over time, and the SVG chart.

pub mod load;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::bail;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::simulate::WorldArgs;
use load::{ErrorKind, Mode, Payloads, Plan, Progress, Recorder, Second, Target};

/// How long a burst lasts when neither `--duration` nor `--requests` is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// The longest burst: a burst is bounded, a soak is something else.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);
/// Contacts the simulated city may run ahead of the requests.
const CONTACTS_AHEAD: usize = 65_536;
/// Most rows of the table printed at the end: a longer run shows every k-th second summed.
const MAX_TABLE_ROWS: usize = 60;

/// Arguments of `pact burst`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Examples:
  pact burst http://127.0.0.1:8180/pact/producer                the original demo's curl loop, 10 s, 16 at once
  pact burst --rate 500 --duration 30s http://127.0.0.1:8181/   500 CloudEvents/s to pact-translation, open loop
  pact burst --requests 10000 --json http://127.0.0.1:8182/     a fixed count, the result as JSON

Latency is from sending a request to the end of its answer; with --rate,
from the instant the request was due, so a target that stalls shows the wait
it caused. Requests without an answer (connect, timeout, reset) are counted
by kind and not in the latencies.

Exit code: 0 when every request was answered 2xx, 1 otherwise, 2 for a usage error.")]
pub struct Args {
    /// Where to send: pact-producer's `/pact/producer` or `/contacts`, or any
    /// CloudEvents endpoint (a function, a broker, a KafkaSink).
    pub url: Option<String>,
    /// `producer` (the producer's endpoints), `cloudevent` (binary-mode
    /// CloudEvents with JSON data) or `csv` (CloudEvents carrying the
    /// original CSV line) [default: producer when the URL's path is
    /// /pact/producer or /contacts, otherwise cloudevent].
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
    /// Requests in flight at once (workers).
    #[arg(long, short = 'c', default_value_t = 16)]
    pub concurrency: usize,
    /// How long to send, e.g. 10s or 2m [default: 10s, unless --requests is given].
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
    /// Print the result as one JSON object.
    #[arg(long, conflicts_with = "csv", help_heading = "Output")]
    pub json: bool,
    /// Print the counts per second as CSV.
    #[arg(long, help_heading = "Output")]
    pub csv: bool,
}

/// What a burst did, as `--json` prints it.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Where the requests went (without any password).
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
    /// Whether Ctrl-C/SIGTERM ended the burst early.
    pub interrupted: bool,
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
            interrupted: false,
        }
    }

    /// Every request was answered 2xx.
    pub fn success(&self) -> bool {
        self.requests > 0 && self.ok == self.requests
    }

    fn print_text(&self) {
        let mode = match self.mode {
            Mode::Producer => "producer",
            Mode::Cloudevent => "cloudevent",
            Mode::Csv => "csv",
        };
        let pace = match self.rate {
            Some(rate) => format!("open loop at {rate}/s"),
            None => "closed loop".to_owned(),
        };
        println!(
            "pact burst: {} ({mode}), {} workers, {pace}{}",
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
        println!();
        let step = self.per_second.len().div_ceil(MAX_TABLE_ROWS).max(1);
        println!(
            "  {:>6}  {:>9}  {:>9}  {:>7}  {:>7}",
            "t (s)", "req/s", "2xx", "other", "errors"
        );
        for (i, chunk) in self.per_second.chunks(step).enumerate() {
            let sum = chunk.iter().fold(Second::default(), |a, s| Second {
                requests: a.requests + s.requests,
                ok: a.ok + s.ok,
                other: a.other + s.other,
                errors: a.errors + s.errors,
            });
            println!(
                "  {:>6}  {:>9.0}  {:>9}  {:>7}  {:>7}",
                i * step,
                sum.requests as f64 / chunk.len() as f64,
                sum.ok,
                sum.other,
                sum.errors
            );
        }
    }

    fn print_csv(&self) {
        println!("second,requests,ok,other,errors");
        for (i, s) in self.per_second.iter().enumerate() {
            println!("{i},{},{},{},{}", s.requests, s.ok, s.other, s.errors);
        }
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
    let usage = check(&args).and_then(|()| {
        let Some(url) = args.url.as_deref() else {
            bail!("give the URL to send to");
        };
        let target = Target::new(url, args.mode)?;
        let payloads = match &args.data_file {
            Some(path) => Payloads::from_file(path)?,
            None => {
                let (config, _) = args.world.config()?;
                let contacts = crate::simulate::spawn_world(config, CONTACTS_AHEAD)?;
                Payloads::World(tokio::sync::Mutex::new(contacts))
            }
        };
        Ok((target, payloads))
    });
    let (target, payloads) = match usage {
        Ok(parts) => parts,
        Err(e) => {
            eprintln!("pact burst: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };

    let (stop_tx, stop) = watch::channel(false);
    let signal = pact_runtime::server::shutdown_signal();
    let interrupted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let on_signal = {
        let interrupted = interrupted.clone();
        tokio::spawn(async move {
            signal.await;
            interrupted.store(true, Ordering::Relaxed);
            let _ = stop_tx.send(true);
        })
    };

    let origin = Instant::now();
    let duration = match (args.duration, args.requests) {
        (Some(d), _) => Some(d),
        (None, Some(_)) => None,
        (None, None) => Some(DEFAULT_DURATION),
    };
    let plan = Plan {
        concurrency: args.concurrency,
        deadline: duration.map(|d| origin + d),
        requests: args.requests,
        rate: args.rate,
        timeout: args.timeout,
    };
    let progress = Arc::new(Progress::default());
    let bar = std::io::stderr()
        .is_terminal()
        .then(|| progress_bar(duration, args.requests));
    let drawing = bar.clone().map(|bar| {
        let progress = progress.clone();
        tokio::spawn(async move {
            loop {
                draw(&bar, &progress, origin, duration.is_some());
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    });
    let result = load::run(target.clone(), plan, payloads, origin, progress, stop).await;
    if let Some(drawing) = drawing {
        drawing.abort();
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    on_signal.abort();
    let (record, started) = result?;

    let mut report = Report::new(&target, &args, &record, started);
    report.interrupted = interrupted.load(Ordering::Relaxed);
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else if args.csv {
        report.print_csv();
    } else {
        report.print_text();
    }
    Ok(if report.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn progress_bar(duration: Option<Duration>, requests: Option<u64>) -> ProgressBar {
    let (bar, template) = match (duration, requests) {
        (Some(d), _) => (
            ProgressBar::new(d.as_secs().max(1)),
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} s  {msg}",
        ),
        (None, n) => (
            ProgressBar::new(n.unwrap_or(0)),
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} requests  {msg}",
        ),
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

fn draw(bar: &ProgressBar, progress: &Progress, origin: Instant, by_time: bool) {
    let elapsed = origin.elapsed();
    let done = progress.done.load(Ordering::Relaxed);
    let bad = progress.bad.load(Ordering::Relaxed);
    bar.set_position(if by_time { elapsed.as_secs() } else { done });
    bar.set_message(format!(
        "{done} requests, {:.0}/s, {bad} not 2xx",
        done as f64 / elapsed.as_secs_f64().max(0.001)
    ));
}
