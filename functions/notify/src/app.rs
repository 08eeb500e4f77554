//! pact-notify's state, router, handler and start-up: `POST /` plans a
//! reported case's notifications and sends them, or sends the withdrawals
//! of a withdrawn case's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, Utc};
use pact_runtime::case::{
    self, CASE_REPORTED, CASE_WITHDRAWN, CaseReported, CaseWithdrawn, EXPOSURE_NOTIFIED,
    EXPOSURE_WITHDRAWN, ExposureNotified, ExposureWithdrawn,
};
use pact_runtime::contact::PersonId;
use pact_runtime::database::{Database, Schema};
use pact_runtime::emit::{Emitter, OutData, Outgoing};
use pact_runtime::ingest::{
    Incoming, LimitedRequest, Payload, all_or_nothing, prefers_reply, read_events,
};
use pact_runtime::metrics::Metrics;
use pact_runtime::sender_auth::protect;
use pact_runtime::server::{Function, Started, contract};
use prometheus_client::metrics::counter::Counter;
use serde::Serialize;
use uuid::Uuid;

use crate::config::{Config, ExposureRule};
use crate::error::{DOWN_RETRY_AFTER, Error, Result};
use crate::store::{self, Claimed, NewNotification, Step};
use crate::{NAME, SOURCE, walk};

/// Events sent to the sink per round; each round is marked done in one
/// statement, so a crash re-sends at most one round (with the same ids).
const ROUND: i64 = 256;
/// How long a round's lease lasts without renewal: how soon another
/// instance takes over the round of one that crashed.
const LEASE: Duration = Duration::from_secs(10);

/// pact-notify, as the runtime starts it.
pub struct Notify;

impl Function for Notify {
    const NAME: &'static str = NAME;
    type Settings = Config;

    fn start(config: Config) -> Started {
        tracing::info!(
            database = %config.database.url.redacted(),
            days_before_onset = config.exposure.days_before_onset,
            isolation_days = config.exposure.isolation_days,
            depth = config.exposure.depth,
            "notify"
        );
        let database = Database::connect_lazy(&config.database);
        let state = AppState::new(config, database);
        let database = state.database().clone();
        Started::new(app(state)).then(async move { database.close().await })
    }
}

/// Shared by every request.
#[derive(Clone)]
pub struct AppState {
    config: Arc<Config>,
    metrics: Arc<Metrics>,
    schema: Schema,
    emitter: Arc<Emitter>,
    counters: Counters,
}

/// pact-notify's own counters.
#[derive(Clone, Default)]
struct Counters {
    planned: Counter,
    notified: Counter,
    withdrawn: Counter,
}

impl AppState {
    /// The state over `database`; migrates the schema in the background
    /// (must be called inside a Tokio runtime). pact-notify always needs
    /// its sink: a reply holds one event, a case makes many.
    pub fn new(mut config: Config, database: Database) -> Self {
        config.runtime.require_sink = true;
        let mut metrics = Metrics::new();
        let counters = Counters::default();
        let registry = metrics.registry_mut();
        registry.register(
            "pact_cases_planned",
            "Cases whose notifications were planned",
            counters.planned.clone(),
        );
        registry.register(
            "pact_notifications_sent",
            "dev.pact.exposure.notified events the sink accepted",
            counters.notified.clone(),
        );
        registry.register(
            "pact_notification_withdrawals_sent",
            "dev.pact.exposure.withdrawn events the sink accepted",
            counters.withdrawn.clone(),
        );
        let metrics = metrics.freeze();
        let emitter = Arc::new(
            Emitter::new(SOURCE, &config.runtime, metrics.clone())
                .with_token_file(config.emit_token_file.clone()),
        );
        Self {
            config: Arc::new(config),
            metrics,
            schema: Schema::migrate_in_background(database),
            emitter,
            counters,
        }
    }

    /// The database, to close it at shutdown.
    pub fn database(&self) -> &Database {
        self.schema.database()
    }

    fn limit(&self) -> Duration {
        self.config.db_timeout
    }
}

/// pact-notify's route inside the function contract.
pub fn app(state: AppState) -> Router {
    let config = state.config.clone();
    let metrics = state.metrics.clone();
    let readiness = state.schema.clone();
    // Only the event route checks the sender; probes and metrics stay open.
    let routes = protect(
        Router::new().route("/", post(receive)).with_state(state),
        &config.sender_auth,
    );
    contract(routes, &config.runtime, metrics, readiness)
}

/// One event of a request, read and checked.
enum Work {
    /// A case, with its person as checked.
    Report(CaseReported, PersonId),
    Withdraw(CaseWithdrawn),
}

/// What a request did.
#[derive(Debug, Default, Serialize)]
struct Outcome {
    /// Notifications the sink accepted now.
    notified: u64,
    /// Withdrawals of notifications the sink accepted now.
    withdrawn: u64,
}

/// `POST /`.
async fn receive(
    State(state): State<AppState>,
    LimitedRequest { headers, body }: LimitedRequest,
) -> Result<Response> {
    let inputs = read_events(&headers, body, &[CASE_REPORTED, CASE_WITHDRAWN])?;
    let work = all_or_nothing(inputs, |input| {
        state
            .metrics
            .received(input.event_type.as_deref().unwrap_or(CASE_REPORTED));
        read_work(&input)
    })?;
    if !state.schema.is_ready() {
        return Err(pact_runtime::Error::Unavailable {
            detail: "the database schema is not ready yet; retry later".into(),
            retry_after: DOWN_RETRY_AFTER,
        }
        .into());
    }
    let deadline = Instant::now() + state.config.runtime.request_timeout / 2;
    let mut outcome = Outcome::default();
    for work in work {
        match work {
            Work::Report(report, person) => {
                outcome.notified += reported(&state, &report, person, deadline).await?;
            }
            Work::Withdraw(withdrawal) => {
                outcome.withdrawn += withdrawn(&state, withdrawal.case_id, deadline).await?;
            }
        }
    }
    // A Trigger says `Prefer: reply` and would read a body as a reply event.
    if prefers_reply(&headers) {
        return Ok(StatusCode::ACCEPTED.into_response());
    }
    Ok(Json(outcome).into_response())
}

/// Reads and checks one event's data as its type says.
fn read_work(input: &Incoming) -> pact_runtime::Result<Work> {
    let json = |what: &str| -> pact_runtime::Result<serde_json::Value> {
        match &input.payload {
            Payload::Json(bytes) => pact_runtime::wire::from_json(bytes),
            Payload::JsonValue(value) => Ok(value.clone()),
            Payload::Csv(_) => Err(pact_runtime::Error::malformed(format!(
                "{what} comes as JSON data, not as a CSV line"
            ))),
        }
    };
    match input.event_type.as_deref() {
        Some(CASE_WITHDRAWN) => Ok(Work::Withdraw(pact_runtime::wire::from_json_value(json(
            "a withdrawal",
        )?)?)),
        _ => {
            let report: CaseReported = pact_runtime::wire::from_json_value(json("a case")?)?;
            let person = report.validate()?;
            Ok(Work::Report(report, person))
        }
    }
}

/// A reported case: records it, plans its notifications once, and sends
/// those not sent yet. Returns how many the sink accepted now.
async fn reported(
    state: &AppState,
    report: &CaseReported,
    person: PersonId,
    deadline: Instant,
) -> Result<u64> {
    let db = state.database();
    let now = Utc::now();
    let case = Error::timed(
        "recording the case",
        state.limit(),
        store::record_case(db, report, Uuid::new_v4(), now),
    )
    .await?;
    tracing::debug!(case = %case.case_id, "case reported");
    if case.withdrawn_at.is_some() {
        tracing::info!("a case withdrawn before its report arrived: no one is notified");
        return Ok(0);
    }
    if case.planned_at.is_none() {
        // Never a made-up secret: ids derived from a known one could be
        // traced back to the case.
        let secret = case.secret().ok_or_else(|| {
            pact_runtime::Error::Internal("a stored case secret is not a UUID".into())
        })?;
        plan(state, report, person, secret, now).await?;
    }
    send(state, report.case_id, Step::Send, deadline).await
}

/// Finds who is exposed to the case and stores their notifications.
async fn plan(
    state: &AppState,
    report: &CaseReported,
    person: PersonId,
    secret: Uuid,
    now: DateTime<Utc>,
) -> Result<()> {
    let started = Instant::now();
    let rule = state.config.exposure;
    let exposed = walk::exposed(
        state.database(),
        person,
        window(report.onset, rule),
        rule.depth,
        state.config.max_people,
        state.limit(),
    )
    .await?;
    let mut notifications = Vec::with_capacity(exposed.len());
    for person in &exposed {
        let data = ExposureNotified {
            mmid: person.mmid,
            hops: person.hops,
            exposures: person.sites.clone(),
        };
        notifications.push(NewNotification {
            id: case::notification_id(secret, person.mmid),
            mmid: person.mmid,
            hops: person.hops,
            data: serde_json::to_string(&data)
                .map_err(|e| pact_runtime::Error::bug("could not encode a notification", e))?,
        });
    }
    if exposed.len() == state.config.max_people {
        tracing::warn!(
            max = state.config.max_people,
            "a case reached PACT_NOTIFY_MAX_PEOPLE: the nearest are notified, the rest are not"
        );
    }
    Error::timed(
        "storing the notifications",
        state.limit(),
        store::plan(state.database(), report.case_id, &notifications, now),
    )
    .await?;
    state.counters.planned.inc();
    tracing::info!(
        people = notifications.len(),
        hop1 = exposed.iter().filter(|e| e.hops == 1).count(),
        ms = started.elapsed().as_millis(),
        "case planned"
    );
    Ok(())
}

/// Contacts that count: from `days_before_onset` days before the onset
/// date through the last day of isolation (UTC days).
pub fn window(onset: chrono::NaiveDate, rule: ExposureRule) -> (DateTime<Utc>, DateTime<Utc>) {
    let midnight = onset.and_time(chrono::NaiveTime::MIN).and_utc();
    (
        midnight - chrono::Days::new(u64::from(rule.days_before_onset)),
        midnight + chrono::Days::new(u64::from(rule.isolation_days) + 1),
    )
}

/// A withdrawn case: records it (no report arriving later notifies anyone)
/// and sends a withdrawal for each notification sent or tried.
async fn withdrawn(state: &AppState, case_id: Uuid, deadline: Instant) -> Result<u64> {
    Error::timed(
        "withdrawing the case",
        state.limit(),
        store::withdraw_case(state.database(), case_id, Uuid::new_v4(), Utc::now()),
    )
    .await?;
    tracing::debug!(case = %case_id, "case withdrawn");
    send(state, case_id, Step::Withdraw, deadline).await
}

/// Sends what `step` has to do for the case, round by round: each round
/// leased first (the lease renewed while the sink takes it, so a crashed
/// instance's round is free again within [`LEASE`]), then marked done once
/// the sink took it. Fails with [`Error::Left`] when anything is left:
/// held by another instance, or past `deadline`.
async fn send(state: &AppState, case_id: Uuid, step: Step, deadline: Instant) -> Result<u64> {
    let db = state.database();
    let mut sent = 0;
    while Instant::now() < deadline {
        let now = Utc::now();
        let round = Error::timed(
            "leasing notifications",
            state.limit(),
            store::claim(db, case_id, step, (now, now + LEASE), ROUND),
        )
        .await?;
        if round.is_empty() {
            break;
        }
        let ids: Vec<&str> = round.iter().map(|c| c.id.as_str()).collect();
        if let Err(e) = emit_leased(state, step, &round, &ids).await {
            // The leases end now, so the next delivery need not wait for them.
            Error::timed(
                "releasing leases",
                state.limit(),
                store::release(db, &ids, Utc::now()),
            )
            .await?;
            return Err(e);
        }
        Error::timed(
            "marking notifications sent",
            state.limit(),
            store::done(db, step, &ids, Utc::now()),
        )
        .await?;
        let n = ids.len() as u64;
        match step {
            Step::Send => state.counters.notified.inc_by(n),
            Step::Withdraw => state.counters.withdrawn.inc_by(n),
        };
        sent += n;
    }
    let left = Error::timed(
        "counting what is left",
        state.limit(),
        store::pending(db, case_id, step),
    )
    .await?;
    if left > 0 {
        return Err(Error::Left(left));
    }
    Ok(sent)
}

/// [`emit`], renewing the round's leases every third of [`LEASE`] until the
/// sink answered.
async fn emit_leased(state: &AppState, step: Step, round: &[Claimed], ids: &[&str]) -> Result<()> {
    let emitting = emit(state, step, round);
    tokio::pin!(emitting);
    let mut renew = tokio::time::interval(LEASE / 3);
    renew.tick().await;
    loop {
        tokio::select! {
            result = &mut emitting => return result,
            _ = renew.tick() => {
                Error::timed(
                    "renewing leases",
                    state.limit(),
                    store::extend(state.database(), ids, Utc::now() + LEASE),
                )
                .await?;
            }
        }
    }
}

/// Emits one round's events; 2xx from the sink for all of them, or an error.
async fn emit(state: &AppState, step: Step, round: &[Claimed]) -> Result<()> {
    let mut events = Vec::with_capacity(round.len());
    for claimed in round {
        let notification: Uuid = claimed
            .id
            .parse()
            .map_err(|e| pact_runtime::Error::bug("a stored notification id", e))?;
        let (id, event_type, time, data) = match step {
            Step::Send => (
                notification,
                EXPOSURE_NOTIFIED,
                claimed.created_at,
                claimed.data.clone(),
            ),
            Step::Withdraw => (
                case::notification_withdrawal_id(notification),
                EXPOSURE_WITHDRAWN,
                Utc::now(),
                serde_json::to_string(&ExposureWithdrawn {
                    mmid: claimed.mmid,
                    notification,
                })
                .map_err(|e| pact_runtime::Error::bug("could not encode a withdrawal", e))?,
            ),
        };
        events.push(state.emitter.build(Outgoing {
            id: id.to_string(),
            event_type,
            time,
            // A person's notifications stay in order on one partition; no
            // trace context, which would tie together everyone notified
            // for one case.
            partition_key: Some(claimed.mmid.to_string()),
            traceparent: None,
            data: OutData::Json(data.into_bytes()),
        })?);
    }
    state.emitter.emit(events).await?;
    Ok(())
}
