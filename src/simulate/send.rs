//! Sending the contacts: batching, the rate limit, bounded concurrency, and
//! retries that can never create a contact twice.
//!
//! Every contact gets its id (UUIDv7) and its `observed_at` when its request
//! is built, before the first attempt; a retry resends the same bytes, so
//! the producer (which honours the `id` of each item) or any idempotent sink
//! keeps one contact however often it is retried.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use cloudevents::binding::reqwest::RequestBuilderExt;
use cloudevents::{Event, EventBuilder, EventBuilderV10};
use pact_runtime::binary::for_binary_mode;
use pact_runtime::retry::retry_after;
use pact_runtime::wire::{UNTRANSLATED, UntranslatedData};
use rand::Rng;
use reqwest::StatusCode;
use serde::Serialize;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::world::SimContact;
use super::{Mode, Target};

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
/// Problems kept for the summary.
pub const MAX_PROBLEMS: usize = 5;
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
        if self.problems.len() < MAX_PROBLEMS && !self.problems.contains(&problem) {
            self.problems.push(problem);
        }
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

/// The HTTP client: no redirects (a redirected POST is a wrong URL), a
/// connect timeout, Nagle off for small requests.
pub(super) fn client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("pact-simulate/", env!("CARGO_PKG_VERSION")))
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5))
        .pool_idle_timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("cannot create the HTTP client")
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
    let client = client()?;
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
            let delivery = deliver(&client, &url, &request.payload).await;
            request.record(delivery, &mut lock(&tally), keep_ids);
            drop(permit);
        });
        // Finished tasks hold their results until joined.
        while tasks.try_join_next().is_some() {}
    }
    // The model's thread ends when it sees the channel closed.
    contacts.close();

    let mut grace = ended.interrupted.then(|| Instant::now() + STOP_GRACE);
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
            () = stop_requested(&mut stop, stops_to_abort) => {
                if grace.is_some() {
                    break;
                }
                ended.interrupted = true;
                grace = Some(Instant::now() + STOP_GRACE);
            }
            () = grace_over => break,
        }
    }
    tasks.shutdown().await;
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

/// One item of `POST /contacts`: the untranslated data and its id.
#[derive(Serialize)]
struct Item<'a> {
    id: &'a str,
    #[serde(flatten)]
    data: UntranslatedData,
}

enum Payload {
    /// A JSON array for the producer's `POST /contacts`.
    Contacts(Bytes),
    /// One binary-mode CloudEvent.
    Event(Box<Event>),
}

/// A request, built once and resent as it is.
struct Request {
    ids: Vec<String>,
    payload: Payload,
}

impl Request {
    fn build(target: &Target, batch: &[SimContact], now: DateTime<Utc>) -> anyhow::Result<Self> {
        // Milliseconds, as the producer keeps them; never in the future.
        let observed_at = now.trunc_subsecs(3);
        let observed_text = observed_at.to_rfc3339_opts(SecondsFormat::Millis, true);
        let ids: Vec<String> = batch
            .iter()
            .map(|_| uuid::Uuid::now_v7().to_string())
            .collect();
        let data = |c: &SimContact| UntranslatedData {
            mmid1: c.mmid1,
            mmid2: c.mmid2,
            lat: c.lat,
            lon: c.lon,
            observed_at: Some(observed_text.clone()),
        };
        let payload = match target.mode {
            Mode::Contacts => {
                let items: Vec<Item<'_>> = batch
                    .iter()
                    .zip(&ids)
                    .map(|(c, id)| Item { id, data: data(c) })
                    .collect();
                Payload::Contacts(serde_json::to_vec(&items)?.into())
            }
            Mode::Cloudevents => {
                let (Some(c), Some(id)) = (batch.first(), ids.first()) else {
                    anyhow::bail!("an event request needs one contact");
                };
                let mut builder = EventBuilderV10::new()
                    .id(id.as_str())
                    .source(SOURCE)
                    .ty(UNTRANSLATED)
                    .time(observed_at)
                    .data("application/json", serde_json::to_vec(&data(c))?)
                    .extension("partitionkey", format!("{}-{}", c.mmid1, c.mmid2));
                // K_CE_OVERRIDES win, as with a SinkBinding.
                for (name, value) in &target.overrides {
                    builder = builder.extension(name, value.as_str());
                }
                let event = builder.build().context("cannot build the CloudEvent")?;
                Payload::Event(Box::new(for_binary_mode(event)))
            }
        };
        Ok(Self { ids, payload })
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

/// What may succeed when tried again: overload, a restarting or scaling
/// target, a gateway between. A plain 500 is a bug, resending will not help.
fn retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 502 | 503 | 504)
}

/// Exponential backoff with "equal jitter": half the step fixed, half random.
fn backoff(retry: u32) -> Duration {
    let step = FIRST_BACKOFF
        .saturating_mul(1u32 << retry.saturating_sub(1).min(16))
        .min(MAX_BACKOFF);
    let half = step / 2;
    half + rand::rng().random_range(Duration::ZERO..=half)
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

async fn deliver(client: &reqwest::Client, url: &reqwest::Url, payload: &Payload) -> Delivery {
    let mut last = String::new();
    for attempt in 1..=MAX_ATTEMPTS {
        let request = client.post(url.clone()).timeout(ATTEMPT_TIMEOUT);
        let request = match payload {
            Payload::Contacts(body) => Ok(request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())),
            Payload::Event(event) => request.event(event.as_ref().clone()),
        };
        let request = match request {
            Ok(request) => request,
            Err(e) => return Delivery::Failed(format!("cannot encode the CloudEvent: {e}")),
        };
        let mut wait = backoff(attempt);
        match request.send().await {
            Ok(response) if response.status().is_success() => {
                // Read the body so the connection is reused.
                let body = response.bytes().await.unwrap_or_default();
                let ids = match payload {
                    Payload::Contacts(_) => accepted_ids(&body),
                    Payload::Event(_) => None,
                };
                return Delivery::Accepted(ids);
            }
            Ok(response) if retryable(response.status()) => {
                if let Some(after) = retry_after(response.headers(), MAX_RETRY_AFTER) {
                    wait = wait.max(after);
                }
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
            tokio::time::sleep(wait).await;
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

/// `HTTP 422 Unprocessable Entity: <detail>` from a problem document (its
/// `detail`, else its `title`), or the start of whatever body came.
pub(crate) fn problem_text(status: StatusCode, body: &[u8]) -> String {
    const MAX_CHARS: usize = 300;
    let detail = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            ["detail", "title"]
                .iter()
                .find_map(|k| v.get(k).and_then(|d| d.as_str()).map(str::to_owned))
        })
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    let detail: String = detail.chars().take(MAX_CHARS).collect();
    if detail.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {detail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudevents::AttributesReader;

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
        let Payload::Contacts(body) = &request.payload else {
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
        let Payload::Event(event) = &request.payload else {
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
        let Payload::Event(event) = &request.payload else {
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
    fn retries_only_what_may_succeed_later() {
        for code in [408, 429, 502, 503, 504] {
            assert!(retryable(StatusCode::from_u16(code).expect("code")));
        }
        for code in [400, 401, 404, 413, 415, 422, 500, 501] {
            assert!(!retryable(StatusCode::from_u16(code).expect("code")));
        }
    }

    #[test]
    fn backoff_grows_and_stays_bounded() {
        for retry in 1..40 {
            let full = FIRST_BACKOFF
                .saturating_mul(1 << (retry - 1).min(16))
                .min(MAX_BACKOFF);
            let wait = backoff(retry);
            assert!(wait >= full / 2 && wait <= full, "retry {retry}: {wait:?}");
        }
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
        assert_eq!(tally.problems.len(), MAX_PROBLEMS);
        assert_eq!(tally.problems.iter().filter(|p| *p == "same").count(), 1);
    }
}
