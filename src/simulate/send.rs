//! Sending the contacts: batching, the rate limit, bounded concurrency, and
//! retries that can never create a contact twice (the bodies, built once per
//! request with an id per contact, are [`crate::traffic::body`]'s).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use pact_runtime::retry::{backoff, is_transient, retry_after, wait};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::world::SimContact;
use crate::traffic::body::{Body, Envelope, EventData, Observed, Stamped, new_id};
use crate::traffic::{Form, Target, client, keep_problem, problem_text};

/// The `source` of the CloudEvents the simulator sends.
pub const SOURCE: &str = "/pact/simulate";
/// Attempts per request, the first included.
pub const MAX_ATTEMPTS: u32 = 6;
/// Timeout of one attempt (a producer answers only once its sink took every
/// event of the request, which may take a few of its own retries).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);
/// First retry delay; doubles per retry up to [`MAX_BACKOFF`], with jitter.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// Longest delay between two attempts computed by the backoff.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Longest `Retry-After` honoured.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);
/// After Ctrl-C/SIGTERM, how long requests in flight may still take.
pub const STOP_GRACE: Duration = Duration::from_secs(10);
/// What tokio's timer can wait for.
const TIMER_RESOLUTION: Duration = Duration::from_millis(1);
/// How far the rate limit's schedule may lag and still catch up.
const PACE_SLACK: Duration = Duration::from_millis(10);
/// Accepted ids kept for the summary (about 60 MB); counts go on beyond.
pub const MAX_KEPT_IDS: usize = 1_000_000;

/// How a run sends.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    /// Stop after this many contacts.
    pub limit: Option<u64>,
    /// Stop generating at this instant.
    pub deadline: Option<Instant>,
    /// Most contacts per second.
    pub rate: Option<f64>,
    /// Contacts per request.
    pub per_request: usize,
    /// Requests in flight.
    pub concurrency: usize,
    /// Whether to keep the accepted ids (not for endless runs).
    pub keep_ids: bool,
}

/// What became of the contacts sent so far; shared with the progress bar.
#[derive(Debug, Default)]
pub(super) struct Tally {
    pub sent: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub failed: u64,
    pub accepted_ids: Vec<String>,
    pub problems: Vec<String>,
}

impl Tally {
    fn problem(&mut self, problem: String) {
        keep_problem(&mut self.problems, problem);
    }
}

pub(super) fn lock(tally: &Mutex<Tally>) -> MutexGuard<'_, Tally> {
    tally.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How the sending ended.
#[derive(Debug, Default)]
pub(super) struct Ended {
    /// Contacts taken from the model and given an id.
    pub generated: u64,
    /// Simulated second of the last of them.
    pub last_tick: u64,
    /// Stopped by Ctrl-C/SIGTERM (or the caller's stop).
    pub interrupted: bool,
}

/// Resolves once the stop count reaches `n`; never when the sender is gone.
async fn stop_requested(stop: &mut watch::Receiver<u32>, n: u32) {
    if stop.wait_for(|&count| count >= n).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Paces requests to at most `rate` contacts per second. The schedule may
/// fall behind by [`PACE_SLACK`] and catch up (timers wake late); a target
/// slower than that does not earn a burst later: the schedule restarts.
struct Pace {
    per_contact: Duration,
    next: Instant,
}

impl Pace {
    fn new(rate: f64) -> Self {
        Self {
            per_contact: Duration::from_secs_f64(1.0 / rate),
            next: Instant::now(),
        }
    }

    /// When a request of `n` contacts may go, asked at `now`.
    fn reserve(&mut self, n: usize, now: Instant) -> Instant {
        let at = self.next.max(now.checked_sub(PACE_SLACK).unwrap_or(now));
        self.next = at + self.per_contact * u32::try_from(n).unwrap_or(u32::MAX);
        at
    }
}

/// Takes contacts from the model and sends them until the limit, the
/// deadline or a stop; then lets the requests in flight finish (all of
/// them, or for [`STOP_GRACE`] after a stop; a second stop ends them at once).
pub(super) async fn drive(
    contacts: &mut mpsc::Receiver<SimContact>,
    target: &Target,
    plan: &Plan,
    tally: &Arc<Mutex<Tally>>,
    mut stop: watch::Receiver<u32>,
) -> anyhow::Result<Ended> {
    let client = client("simulate", plan.concurrency)?;
    let permits = Arc::new(Semaphore::new(plan.concurrency));
    let mut pace = plan.rate.map(Pace::new);
    let mut tasks = JoinSet::new();
    let mut ended = Ended::default();
    let deadline = async {
        match plan.deadline {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);

    loop {
        let want = match plan.limit {
            Some(limit) => limit
                .saturating_sub(ended.generated)
                .min(plan.per_request as u64) as usize,
            None => plan.per_request,
        };
        if want == 0 {
            break;
        }
        let next = async {
            let permit = permits.clone().acquire_owned().await;
            if let Some(pace) = pace.as_mut() {
                // The timer counts whole milliseconds: a shorter wait is not
                // waited (that request goes a little early), or a rate above
                // 1000/s could never be reached one event at a time. The
                // schedule itself stays exact.
                let now = Instant::now();
                let at = pace.reserve(want, now);
                if at > now + TIMER_RESOLUTION {
                    tokio::time::sleep_until(at).await;
                }
            }
            let mut batch = Vec::with_capacity(want);
            while batch.len() < want {
                match contacts.recv().await {
                    Some(contact) => batch.push(contact),
                    None => break,
                }
            }
            (permit, batch)
        };
        let (permit, batch) = tokio::select! {
            biased;
            () = stop_requested(&mut stop, 1) => {
                ended.interrupted = true;
                break;
            }
            () = &mut deadline => break,
            next = next => next,
        };
        let Some(last) = batch.last() else {
            break; // the model stopped: only if its thread died
        };
        let permit = permit.context("the request slots were closed")?;
        ended.generated += batch.len() as u64;
        ended.last_tick = last.tick;
        let request = Request::build(target, &batch, Utc::now())?;
        lock(tally).sent += batch.len() as u64;
        let (client, url, tally, keep_ids) = (
            client.clone(),
            target.url.clone(),
            tally.clone(),
            plan.keep_ids,
        );
        tasks.spawn(async move {
            let delivery = deliver(&client, &url, &request.body).await;
            request.record(delivery, &mut lock(&tally), keep_ids);
            drop(permit);
        });
        // Finished tasks hold their results until joined.
        while tasks.try_join_next().is_some() {}
    }
    // The model's thread ends when it sees the channel closed.
    contacts.close();

    if finish_in_flight(&mut tasks, &mut stop, ended.interrupted).await {
        ended.interrupted = true;
    }
    let mut tally = lock(tally);
    let unresolved = tally.sent - tally.accepted - tally.rejected - tally.failed;
    if unresolved > 0 {
        tally.failed += unresolved;
        tally.problem(format!(
            "{unresolved} contacts were still in flight when the run was stopped"
        ));
    }
    Ok(ended)
}

/// Lets the requests in flight finish: all of them, or for [`STOP_GRACE`]
/// after a stop (`interrupted`: one came already); a second stop ends them
/// at once. `true` when a stop came while waiting.
async fn finish_in_flight(
    tasks: &mut JoinSet<()>,
    stop: &mut watch::Receiver<u32>,
    interrupted: bool,
) -> bool {
    let mut stopped = false;
    let mut grace = interrupted.then(|| Instant::now() + STOP_GRACE);
    loop {
        let grace_over = async {
            match grace {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let stops_to_abort = if grace.is_some() { 2 } else { 1 };
        tokio::select! {
            joined = tasks.join_next() => if joined.is_none() { break },
            () = stop_requested(stop, stops_to_abort) => {
                if grace.is_some() {
                    break;
                }
                stopped = true;
                grace = Some(Instant::now() + STOP_GRACE);
            }
            () = grace_over => break,
        }
    }
    tasks.shutdown().await;
    stopped
}

/// A request, built once and resent as it is.
struct Request {
    ids: Vec<String>,
    body: Body,
}

impl Request {
    fn build(target: &Target, batch: &[SimContact], now: DateTime<Utc>) -> anyhow::Result<Self> {
        let observed = Observed::at(now);
        let items: Vec<Stamped> = batch
            .iter()
            .map(|c| Stamped {
                id: new_id(),
                data: observed.data(c),
            })
            .collect();
        let ids = items.iter().map(|item| item.id.clone()).collect();
        let form = target.form();
        let body = match (form, items.as_slice(), batch) {
            (Form::Json, _, _) => Body::batch(&items)?,
            (Form::Message, [item], _) => Body::message(&item.data),
            (Form::JsonEvent | Form::CsvEvent, [item], [c]) => {
                let partition_key = format!("{}-{}", c.mmid1, c.mmid2);
                let envelope = Envelope {
                    id: &item.id,
                    source: SOURCE,
                    time: observed.time,
                    partition_key: Some(&partition_key),
                    overrides: &target.overrides,
                };
                let data = if form == Form::CsvEvent {
                    EventData::Csv(item.data.clone())
                } else {
                    EventData::Json(item.data.clone())
                };
                Body::event(envelope, data)?
            }
            _ => anyhow::bail!("a request of this mode carries one contact"),
        };
        Ok(Self { ids, body })
    }

    fn record(self, delivery: Delivery, tally: &mut Tally, keep_ids: bool) {
        let n = self.ids.len() as u64;
        match delivery {
            Delivery::Accepted(ids) => {
                tally.accepted += n;
                let ids = ids
                    .filter(|ids| ids.len() == self.ids.len())
                    .unwrap_or(self.ids);
                if keep_ids && tally.accepted_ids.len() + ids.len() <= MAX_KEPT_IDS {
                    tally.accepted_ids.extend(ids);
                }
            }
            Delivery::Rejected(problem) => {
                tally.rejected += n;
                tally.problem(problem);
            }
            Delivery::Failed(problem) => {
                tally.failed += n;
                tally.problem(problem);
            }
        }
    }
}

/// What the target made of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Delivery {
    /// 2xx, with the ids the producer's `POST /contacts` says it gave the
    /// events (DESIGN.md section 3 derives them from ours); `None` for other
    /// targets.
    Accepted(Option<Vec<String>>),
    /// Refused for good (3xx, or a 4xx other than 408 and 429): the problem.
    Rejected(String),
    /// A 5xx that retrying would not cure, or every attempt failed.
    Failed(String),
}

/// The `accepted` ids of a `POST /contacts` answer.
fn accepted_ids(body: &[u8]) -> Option<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct Answer {
        accepted: Vec<String>,
    }
    serde_json::from_slice::<Answer>(body)
        .ok()
        .map(|a| a.accepted)
}

async fn deliver(client: &reqwest::Client, url: &reqwest::Url, body: &Body) -> Delivery {
    let mut last = String::new();
    for attempt in 1..=MAX_ATTEMPTS {
        let request = match body.post(client, url) {
            Ok(request) => request.timeout(ATTEMPT_TIMEOUT),
            Err(problem) => return Delivery::Failed(problem),
        };
        let mut pause = backoff(FIRST_BACKOFF, attempt, MAX_BACKOFF);
        match request.send().await {
            Ok(response) if response.status().is_success() => {
                // Read the body so the connection is reused.
                let answer = response.bytes().await.unwrap_or_default();
                let ids = match body {
                    Body::Json { .. } => accepted_ids(&answer),
                    Body::Message(_) | Body::Event(_) => None,
                };
                return Delivery::Accepted(ids);
            }
            Ok(response) if is_transient(response.status()) => {
                pause = wait(pause, retry_after(response.headers(), MAX_RETRY_AFTER));
                last = problem(response).await;
            }
            Ok(response) if response.status().is_server_error() => {
                return Delivery::Failed(problem(response).await);
            }
            Ok(response) => return Delivery::Rejected(problem(response).await),
            Err(e) if e.is_builder() => return Delivery::Failed(pact_runtime::error::chain(&e)),
            Err(e) if e.is_timeout() => {
                last = format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs());
            }
            Err(e) => last = format!("not reachable: {}", pact_runtime::error::chain(&e)),
        }
        tracing::debug!(attempt, problem = %last, "attempt failed");
        if attempt < MAX_ATTEMPTS {
            tokio::time::sleep(pause).await;
        }
    }
    Delivery::Failed(format!("gave up after {MAX_ATTEMPTS} attempts ({last})"))
}

/// What a refusing response said, as [`problem_text`] puts it.
async fn problem(response: reqwest::Response) -> String {
    let status = response.status();
    let body = response.bytes().await.unwrap_or_default();
    problem_text(status, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::Mode;
    use cloudevents::AttributesReader;
    use pact_runtime::wire::{UNTRANSLATED, UntranslatedData};

    fn contact(mmid1: i64, mmid2: i64) -> SimContact {
        SimContact {
            tick: 1,
            mmid1,
            mmid2,
            lat: 44.97,
            lon: -93.26,
        }
    }

    fn target(mode: Mode) -> Target {
        Target {
            url: "http://127.0.0.1:1/".parse().expect("url"),
            mode,
            overrides: vec![
                ("partitionkey".into(), "fixed".into()),
                ("team".into(), "a b".into()),
            ],
        }
    }

    #[test]
    fn a_contacts_request_carries_an_id_per_item() {
        let now = Utc::now();
        let request = Request::build(
            &target(Mode::Contacts),
            &[contact(1, 2), contact(3, 9)],
            now,
        )
        .expect("built");
        let Body::Json { bytes: body, .. } = &request.body else {
            panic!("not a contacts request");
        };
        let items: Vec<serde_json::Value> = serde_json::from_slice(body).expect("JSON");
        assert_eq!(items.len(), 2);
        assert_eq!(items[1]["mmid1"], 3);
        assert_eq!(items[1]["mmid2"], 9);
        assert_eq!(items[0]["id"], request.ids[0].as_str());
        assert_ne!(request.ids[0], request.ids[1]);
        let observed = items[0]["observed_at"].as_str().expect("text");
        let observed = DateTime::parse_from_rfc3339(observed).expect("RFC 3339");
        assert!(
            observed <= now
                && now - observed.with_timezone(&Utc) < chrono::Duration::milliseconds(1)
        );
    }

    #[test]
    fn an_event_has_the_contract_attributes_and_the_overrides_win() {
        let request = Request::build(&target(Mode::Cloudevents), &[contact(4, 7)], Utc::now())
            .expect("built");
        let Body::Event(event) = &request.body else {
            panic!("not an event");
        };
        assert_eq!(event.id(), request.ids[0]);
        assert_eq!(event.ty(), UNTRANSLATED);
        assert_eq!(event.source().to_string(), SOURCE);
        assert_eq!(event.datacontenttype(), Some("application/json"));
        let ext = |name: &str| event.extension(name).map(ToString::to_string);
        assert_eq!(ext("partitionkey").as_deref(), Some("fixed"));
        assert_eq!(ext("team").as_deref(), Some("a%20b"), "binary mode encodes");
        let Some(cloudevents::Data::Binary(data)) = event.data() else {
            panic!("JSON bytes expected");
        };
        let data: UntranslatedData = serde_json::from_slice(data).expect("JSON");
        assert_eq!((data.mmid1, data.mmid2), (4, 7));
    }

    #[test]
    fn without_overrides_the_partition_key_is_the_pair() {
        let plain = Target {
            overrides: Vec::new(),
            ..target(Mode::Cloudevents)
        };
        let request = Request::build(&plain, &[contact(4, 7)], Utc::now()).expect("built");
        let Body::Event(event) = &request.body else {
            panic!("not an event");
        };
        assert_eq!(
            event
                .extension("partitionkey")
                .map(ToString::to_string)
                .as_deref(),
            Some("4-7")
        );
    }

    #[test]
    fn pacing_spaces_requests_by_their_size() {
        let mut pace = Pace::new(100.0);
        let start = pace.next;
        assert_eq!(pace.reserve(10, start), start);
        assert_eq!(pace.reserve(10, start), start + Duration::from_millis(100));
        assert_eq!(pace.reserve(1, start), start + Duration::from_millis(200));
        // Idle for a while: no burst is owed beyond the slack.
        let later = start + Duration::from_secs(5);
        assert_eq!(pace.reserve(1, later), later - PACE_SLACK);
        assert_eq!(pace.reserve(1, later), later);
        assert_eq!(pace.reserve(1, later), later + Duration::from_millis(10));
    }

    #[test]
    fn the_tally_keeps_a_few_distinct_problems() {
        let mut tally = Tally::default();
        for i in 0..20 {
            tally.problem(format!("problem {}", i % 7));
            tally.problem("same".into());
        }
        assert_eq!(tally.problems.len(), crate::traffic::MAX_PROBLEMS);
        assert_eq!(tally.problems.iter().filter(|p| *p == "same").count(), 1);
    }
}
