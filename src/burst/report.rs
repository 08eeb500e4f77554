//! What `pact burst` reports: the load's latencies, statuses, errors and
//! counts per second, and with `--watch` how the services scaled; as text,
//! `--json` or `--csv`.

use std::path::PathBuf;

use serde::Serialize;
use tokio::time::Instant;

use super::Args;
use super::load::{ErrorKind, Recorder, Second};
use super::timeline::{Change, Sample, ServiceScaling, format_counts};
use crate::traffic::{Mode, Target};

/// Most rows of the table printed at the end: a longer run shows every k-th second summed.
const MAX_TABLE_ROWS: usize = 60;

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
    pub(super) fn new(target: &Target, args: &Args, record: &Recorder, started: Instant) -> Self {
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

/// The report as --json, --csv or text.
pub(super) fn print(
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
