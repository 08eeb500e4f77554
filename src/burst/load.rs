//! The load of `pact burst`: workers that send valid, distinct contacts to
//! one URL and record what came back.
//!
//! Without a rate the load is closed-loop: each of `concurrency` workers sends
//! its next request as soon as the previous one is answered. With a rate it
//! is open-loop: request `i` is due at `start + i / rate`, and its latency is
//! counted from that instant, not from when a worker got round to sending it,
//! so a target that stalls shows the wait it caused (no coordinated omission).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use chrono::Utc;
use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::sync::{Mutex, mpsc, watch};
use tokio::time::Instant;

use crate::simulate::world::SimContact;
use crate::traffic::body::{Body, Envelope, EventData, Observed, Stamped, new_id};
use crate::traffic::{Form, Target, client, keep_problem, problem_text};

/// The `source` of the CloudEvents a burst sends.
pub const SOURCE: &str = "/pact/burst";
/// Longest latency the histogram holds (longer ones count as this).
const MAX_LATENCY_US: u64 = 3_600_000_000;
/// Most characters of a problem kept.
const MAX_PROBLEM_CHARS: usize = 200;

/// The body that carries `item`, its id and `observed_at` made now: one
/// contact per request.
fn body(target: &Target, item: Item) -> anyhow::Result<Body> {
    let id = new_id();
    let observed = Observed::at(Utc::now());
    let envelope = Envelope {
        id: &id,
        source: SOURCE,
        time: observed.time,
        partition_key: None,
        overrides: &target.overrides,
    };
    Ok(match (target.form(), item) {
        (Form::Json, Item::Contact(c)) => Body::one(&Stamped {
            id: id.clone(),
            data: observed.data(&c),
        })?,
        (Form::Message, Item::Contact(c)) => Body::message(&observed.data(&c)),
        (Form::JsonEvent, Item::Contact(c)) => {
            Body::event(envelope, EventData::Json(observed.data(&c)))?
        }
        (Form::CsvEvent, Item::Contact(c)) => {
            Body::event(envelope, EventData::Csv(observed.data(&c)))?
        }
        (Form::Json, Item::Line(line)) => Body::json(line),
        (Form::Message, Item::Line(line)) => {
            Body::Message(String::from_utf8_lossy(&line).into_owned())
        }
        (Form::JsonEvent, Item::Line(bytes)) => Body::event(
            envelope,
            EventData::Raw {
                content_type: "application/json",
                bytes,
            },
        )?,
        (Form::CsvEvent, Item::Line(bytes)) => Body::event(
            envelope,
            EventData::Raw {
                content_type: "text/csv",
                bytes,
            },
        )?,
    })
}

/// What one request carries.
enum Item {
    /// A contact from the simulated city.
    Contact(SimContact),
    /// A line of `--data-file`, as it is.
    Line(Bytes),
}

/// Where the requests' contents come from.
pub enum Payloads {
    /// The simulated city's contacts, one per request, each sent once.
    World(Mutex<mpsc::Receiver<SimContact>>),
    /// The lines of a file, in turn.
    Lines {
        /// The non-blank lines.
        lines: Vec<Bytes>,
        /// The next line's number.
        next: AtomicU64,
    },
}

impl Payloads {
    /// The non-blank lines of `path`, each one request's body (data).
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read(path)
            .with_context(|| format!("cannot read --data-file {}", path.display()))?;
        let lines: Vec<Bytes> = text
            .split(|&b| b == b'\n')
            .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
            .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
            .map(Bytes::copy_from_slice)
            .collect();
        if lines.is_empty() {
            bail!("--data-file {} has no lines to send", path.display());
        }
        Ok(Self::Lines {
            lines,
            next: AtomicU64::new(0),
        })
    }

    async fn next(&self) -> Option<Item> {
        match self {
            Self::World(contacts) => contacts.lock().await.recv().await.map(Item::Contact),
            Self::Lines { lines, next } => {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                Some(Item::Line(lines[i % lines.len()].clone()))
            }
        }
    }
}

/// How much load, for how long.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Requests in flight at most.
    pub concurrency: usize,
    /// No request starts after this.
    pub deadline: Option<Instant>,
    /// At most this many requests.
    pub requests: Option<u64>,
    /// Requests per second, open-loop.
    pub rate: Option<f64>,
    /// Timeout of one request, from sending to the end of the answer.
    pub timeout: Duration,
}

/// Why a request got no HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorKind {
    /// No connection: refused, unreachable, or the name did not resolve.
    Connect,
    /// No complete answer within `--timeout`.
    Timeout,
    /// The connection was closed or reset before the answer was complete.
    Reset,
    /// Anything else (a malformed answer, TLS).
    Other,
}

impl ErrorKind {
    /// The kind of a failed request.
    pub fn of(error: &reqwest::Error) -> Self {
        if error.is_connect() {
            return Self::Connect;
        }
        if error.is_timeout() {
            return Self::Timeout;
        }
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(e) = source {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                use std::io::ErrorKind as Io;
                if matches!(
                    io.kind(),
                    Io::ConnectionReset
                        | Io::ConnectionAborted
                        | Io::BrokenPipe
                        | Io::UnexpectedEof
                ) {
                    return Self::Reset;
                }
            }
            if let Some(hyper) = e.downcast_ref::<hyper::Error>()
                && (hyper.is_incomplete_message() || hyper.is_canceled())
            {
                return Self::Reset;
            }
            source = e.source();
        }
        Self::Other
    }
}

/// Requests that ended in one second.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Second {
    /// Requests answered or failed in that second.
    pub requests: u64,
    /// Of which answered 2xx.
    pub ok: u64,
    /// Answered with another status.
    pub other: u64,
    /// Not answered ([`ErrorKind`]).
    pub errors: u64,
}

impl std::ops::AddAssign for Second {
    fn add_assign(&mut self, other: Self) {
        self.requests += other.requests;
        self.ok += other.ok;
        self.other += other.other;
        self.errors += other.errors;
    }
}

/// What the requests met: latencies, statuses, errors, and per second.
#[derive(Debug, Clone)]
pub struct Recorder {
    origin: Instant,
    /// Latency of answered requests (any status), in microseconds.
    pub latency: Histogram<u64>,
    /// By whole second since the origin, of the request's end.
    pub seconds: Vec<Second>,
    /// Answers by status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Failures by kind.
    pub errors: BTreeMap<ErrorKind, u64>,
    /// A few distinct problems: non-2xx answers and errors, as text.
    pub problems: Vec<String>,
    /// When the last request ended.
    pub last_end: Option<Instant>,
}

impl Recorder {
    /// An empty record; seconds count from `origin`.
    pub fn new(origin: Instant) -> Self {
        Self {
            origin,
            // Three significant digits: 1 µs steps below 1 ms, 1 ms near 1 s.
            latency: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!())),
            seconds: Vec::new(),
            statuses: BTreeMap::new(),
            errors: BTreeMap::new(),
            problems: Vec::new(),
            last_end: None,
        }
    }

    fn second(&mut self, at: Instant) -> &mut Second {
        let i = at.saturating_duration_since(self.origin).as_secs() as usize;
        if self.seconds.len() <= i {
            self.seconds.resize(i + 1, Second::default());
        }
        &mut self.seconds[i]
    }

    /// An answer with `status` that took `latency`, ending at `end`.
    pub fn answered(&mut self, status: u16, latency: Duration, end: Instant) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency.saturating_record(us.clamp(1, MAX_LATENCY_US));
        *self.statuses.entry(status).or_default() += 1;
        let second = self.second(end);
        second.requests += 1;
        if (200..300).contains(&status) {
            second.ok += 1;
        } else {
            second.other += 1;
        }
        self.last_end = self.last_end.max(Some(end));
    }

    /// A request with no answer, ending at `end`.
    pub fn failed(&mut self, kind: ErrorKind, end: Instant) {
        *self.errors.entry(kind).or_default() += 1;
        let second = self.second(end);
        second.requests += 1;
        second.errors += 1;
        self.last_end = self.last_end.max(Some(end));
    }

    /// Keeps `problem` if it is new and there is room.
    pub fn problem(&mut self, problem: String) {
        keep_problem(&mut self.problems, problem);
    }

    /// Adds another worker's record (same origin) to this one.
    pub fn merge(&mut self, other: Recorder) {
        let _ = self.latency.add(&other.latency);
        if self.seconds.len() < other.seconds.len() {
            self.seconds.resize(other.seconds.len(), Second::default());
        }
        for (mine, theirs) in self.seconds.iter_mut().zip(other.seconds) {
            *mine += theirs;
        }
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        for (kind, n) in other.errors {
            *self.errors.entry(kind).or_default() += n;
        }
        for problem in other.problems {
            self.problem(problem);
        }
        self.last_end = self.last_end.max(other.last_end);
    }

    /// Requests answered, with any status.
    pub fn answered_count(&self) -> u64 {
        self.statuses.values().sum()
    }

    /// Requests answered 2xx.
    pub fn ok_count(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|(status, _)| (200..300).contains(*status))
            .map(|(_, n)| n)
            .sum()
    }

    /// Requests with no answer.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// Counts the progress line shows while the burst runs.
#[derive(Debug, Default)]
pub struct Progress {
    /// Requests ended.
    pub done: AtomicU64,
    /// Of which not answered 2xx.
    pub bad: AtomicU64,
}

/// State the workers share.
struct Shared {
    target: Target,
    plan: Plan,
    payloads: Payloads,
    client: reqwest::Client,
    started: Instant,
    origin: Instant,
    next: AtomicU64,
    progress: Arc<Progress>,
}

/// Sends the burst from now until the plan ends or `stop` turns true (then
/// no request starts; those in flight finish within their timeout). Seconds
/// in the record count from `origin`.
pub async fn run(
    target: Target,
    plan: Plan,
    payloads: Payloads,
    origin: Instant,
    progress: Arc<Progress>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<(Recorder, Instant)> {
    let started = Instant::now();
    let shared = Arc::new(Shared {
        client: client("burst", plan.concurrency)?,
        target,
        plan,
        payloads,
        started,
        origin,
        next: AtomicU64::new(0),
        progress,
    });
    let workers: Vec<_> = (0..shared.plan.concurrency)
        .map(|_| tokio::spawn(worker(shared.clone(), stop.clone())))
        .collect();
    let mut record = Recorder::new(origin);
    for worker in workers {
        record.merge(worker.await.context("a load worker failed")?);
    }
    Ok((record, started))
}

async fn worker(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) -> Recorder {
    let plan = &shared.plan;
    let mut record = Recorder::new(shared.origin);
    loop {
        let i = shared.next.fetch_add(1, Ordering::Relaxed);
        if plan.requests.is_some_and(|n| i >= n) || *stop.borrow() {
            break;
        }
        // Open loop: request i is due at its slot, whenever a worker is free.
        let due = plan
            .rate
            .map(|rate| shared.started + Duration::from_secs_f64(i as f64 / rate));
        let now = Instant::now();
        if plan.deadline.is_some_and(|d| due.unwrap_or(now) >= d) {
            break;
        }
        if let Some(due) = due {
            tokio::select! {
                () = tokio::time::sleep_until(due) => {}
                _ = stop.wait_for(|&stopped| stopped) => break,
            }
        }
        let Some(item) = shared.payloads.next().await else {
            break;
        };
        let request = body(&shared.target, item)
            .map_err(|e| format!("{e:#}"))
            .and_then(|body| body.post(&shared.client, &shared.target.url));
        let request = match request {
            Ok(request) => request.timeout(plan.timeout),
            Err(problem) => {
                record.failed(ErrorKind::Other, Instant::now());
                record.problem(problem);
                shared.progress.done.fetch_add(1, Ordering::Relaxed);
                shared.progress.bad.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        let sent = due.unwrap_or_else(Instant::now);
        let outcome = async {
            let response = request.send().await?;
            let status = response.status();
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, body))
        }
        .await;
        let end = Instant::now();
        let ok = match outcome {
            Ok((status, body)) => {
                record.answered(status.as_u16(), end - sent, end);
                if !status.is_success() {
                    record.problem(problem_text(status, &body));
                }
                status.is_success()
            }
            Err(e) => {
                let kind = ErrorKind::of(&e);
                record.failed(kind, end);
                record.problem(format!(
                    "{kind:?}: {}",
                    shorten(&pact_runtime::error::chain(&e))
                ));
                false
            }
        };
        shared.progress.done.fetch_add(1, Ordering::Relaxed);
        if !ok {
            shared.progress.bad.fetch_add(1, Ordering::Relaxed);
        }
    }
    record
}

fn shorten(text: &str) -> String {
    text.chars().take(MAX_PROBLEM_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_add_up_when_merged() {
        let origin = Instant::now();
        let mut a = Recorder::new(origin);
        let mut b = Recorder::new(origin);
        a.answered(
            200,
            Duration::from_millis(2),
            origin + Duration::from_millis(10),
        );
        a.answered(
            503,
            Duration::from_millis(4),
            origin + Duration::from_millis(1500),
        );
        b.failed(ErrorKind::Reset, origin + Duration::from_millis(2500));
        b.answered(
            200,
            Duration::from_millis(8),
            origin + Duration::from_millis(20),
        );
        a.merge(b);
        assert_eq!(a.answered_count(), 3);
        assert_eq!(a.ok_count(), 2);
        assert_eq!(a.error_count(), 1);
        assert_eq!(
            a.seconds,
            vec![
                Second {
                    requests: 2,
                    ok: 2,
                    other: 0,
                    errors: 0
                },
                Second {
                    requests: 1,
                    ok: 0,
                    other: 1,
                    errors: 0
                },
                Second {
                    requests: 1,
                    ok: 0,
                    other: 0,
                    errors: 1
                },
            ]
        );
        assert!((a.latency.max() as i64 - 8000).abs() <= 8);
        assert!((a.latency.value_at_quantile(0.5) as i64 - 4000).abs() <= 4);
        assert_eq!(a.last_end, Some(origin + Duration::from_millis(2500)));
    }
}
