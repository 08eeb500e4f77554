//! pact-contactlog: persistence (DESIGN.md section 5).
//!
//! `POST /` takes translated contacts in any accepted form (CloudEvent in any
//! mode, KafkaSource envelope, the original translated CSV line) and stores
//! each as one row of `contactlist`, exactly once per CloudEvent identity
//! (`source`, `id`): a redelivered event answers 200 and writes nothing.
//! Rows are written by group commit ([`commit`]); a request is answered only
//! after its rows are committed. A `dev.knative.sources.ping` event purges rows
//! observed more than `PACT_RETENTION_DAYS` ago.

pub mod commit;
pub mod store;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, response::IntoResponse, response::Response};
use chrono::Utc;
use pact_runtime::config::{ConfigError, Env, EnvReader, RuntimeConfig};
use pact_runtime::contact::BoundedText;
use pact_runtime::database::{Database, DatabaseConfig, Schema};
use pact_runtime::identity::event_id;
use pact_runtime::ingest::{Incoming, LimitedBody, all_or_nothing, read_events};
use pact_runtime::metrics::Metrics;
use pact_runtime::sender_auth::{SenderAuth, protect};
use pact_runtime::server::contract_with_liveness;
use pact_runtime::wire;
use pact_runtime::{Error, Result};
use prometheus_client::metrics::counter::Counter;
use serde::Serialize;

use crate::commit::{CommitMetrics, GroupCommit, WriteError};
use crate::store::ContactRow;

/// The function's name, in logs and problem documents.
pub const NAME: &str = "pact-contactlog";

/// The `source` recorded for contacts that came without a CloudEvent identity
/// (a plain CSV or JSON body); each gets a new UUIDv7 as its id.
pub const UNIDENTIFIED_SOURCE: &str = "/pact/contactlog/unidentified";
/// Days a contact is kept.
pub const PACT_RETENTION_DAYS: &str = "PACT_RETENTION_DAYS";
/// Most rows one group-commit transaction takes.
pub const PACT_COMMIT_MAX_ROWS: &str = "PACT_COMMIT_MAX_ROWS";
/// Requests that may wait for the writer before new ones get 503.
pub const PACT_COMMIT_QUEUE: &str = "PACT_COMMIT_QUEUE";
/// Time limit of one group-commit transaction, milliseconds.
pub const PACT_DB_COMMIT_TIMEOUT_MS: &str = "PACT_DB_COMMIT_TIMEOUT_MS";
/// Seconds without progress of the writer, while work waits, after which
/// `/healthz` fails.
pub const PACT_DB_STALL_S: &str = "PACT_DB_STALL_S";

/// Default for [`PACT_RETENTION_DAYS`]: contact tracing looks back 14 days;
/// a week's margin, then personal data goes.
pub const DEFAULT_RETENTION_DAYS: u32 = 21;
/// Default for [`PACT_COMMIT_MAX_ROWS`].
pub const DEFAULT_COMMIT_MAX_ROWS: usize = 500;
/// Default for [`PACT_COMMIT_QUEUE`].
pub const DEFAULT_COMMIT_QUEUE: usize = 1024;
/// Default for [`PACT_DB_COMMIT_TIMEOUT_MS`]: a batch commits in
/// milliseconds; seconds mean a stalled database, and the senders' retry
/// beats holding their requests.
pub const DEFAULT_DB_COMMIT_TIMEOUT_MS: u64 = 5_000;
/// Largest [`PACT_DB_COMMIT_TIMEOUT_MS`]; larger values are taken as this.
pub const MAX_DB_COMMIT_TIMEOUT_MS: u64 = 600_000;
/// Default for [`PACT_DB_STALL_S`]: a dozen commit time limits, so a
/// passing hiccup never restarts the pod.
pub const DEFAULT_DB_STALL_S: u64 = 60;
/// Largest [`PACT_DB_STALL_S`]; larger values are taken as this.
pub const MAX_DB_STALL_S: u64 = 86_400;

/// Rows deleted per retention statement: short transactions, short locks.
const PURGE_BATCH: i64 = 5_000;
/// A purge stops after this long; the next ping goes on where it stopped.
const PURGE_BUDGET: Duration = Duration::from_secs(20);
/// `Retry-After` when the writer's queue is full or the database failed.
const BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);
const DOWN_RETRY_AFTER: Duration = Duration::from_secs(5);

/// pact-contactlog's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The function contract's settings.
    pub runtime: RuntimeConfig,
    /// `DATABASE_URL`, `PACT_DB_MAX_CONNECTIONS`.
    pub database: DatabaseConfig,
    /// `PACT_SENDER_AUTH` and `PACT_OIDC_*`: who may `POST /`.
    pub sender_auth: SenderAuth,
    /// `PACT_RETENTION_DAYS`.
    pub retention_days: u32,
    /// `PACT_COMMIT_MAX_ROWS` (1 = one commit per request).
    pub commit_max_rows: usize,
    /// `PACT_COMMIT_QUEUE`.
    pub commit_queue: usize,
    /// `PACT_DB_COMMIT_TIMEOUT_MS`.
    pub commit_timeout: Duration,
    /// `PACT_DB_STALL_S`.
    pub stall: Duration,
}

impl Config {
    /// Reads every variable, reporting all bad ones together.
    pub fn from_env<E: Env + ?Sized>(env: &E) -> Result<(Self, Vec<String>), ConfigError> {
        let mut r = EnvReader::new(env);
        let runtime = RuntimeConfig::read(&mut r);
        let database = DatabaseConfig::read(&mut r);
        let sender_auth = SenderAuth::read(&mut r);
        let retention_days = r
            .parse_with(
                PACT_RETENTION_DAYS,
                "a whole number of days from 1 to 3650",
                |v| v.trim().parse().ok().filter(|d| (1..=3650).contains(d)),
            )
            .unwrap_or(DEFAULT_RETENTION_DAYS);
        let commit_max_rows = r
            .parse_with(
                PACT_COMMIT_MAX_ROWS,
                "a whole number from 1 to 10000",
                |v| v.trim().parse().ok().filter(|n| (1..=10_000).contains(n)),
            )
            .unwrap_or(DEFAULT_COMMIT_MAX_ROWS);
        let commit_queue = r
            .parse_with(PACT_COMMIT_QUEUE, "a whole number from 1 to 100000", |v| {
                v.trim().parse().ok().filter(|n| (1..=100_000).contains(n))
            })
            .unwrap_or(DEFAULT_COMMIT_QUEUE);
        let commit_timeout = r.millis(
            PACT_DB_COMMIT_TIMEOUT_MS,
            Duration::from_millis(DEFAULT_DB_COMMIT_TIMEOUT_MS),
            1..=MAX_DB_COMMIT_TIMEOUT_MS,
        );
        let stall = r.seconds(
            PACT_DB_STALL_S,
            Duration::from_secs(DEFAULT_DB_STALL_S),
            1..=MAX_DB_STALL_S,
        );
        let warnings = r.finish()?;
        Ok((
            Self {
                runtime,
                database,
                sender_auth,
                retention_days,
                commit_max_rows,
                commit_queue,
                commit_timeout,
                stall,
            },
            warnings,
        ))
    }
}

/// Shared by every request.
#[derive(Clone)]
pub struct AppState {
    config: Arc<Config>,
    metrics: Arc<Metrics>,
    schema: Schema,
    writer: GroupCommit,
    purged_rows: Counter,
}

impl AppState {
    /// Connects lazily, migrates in the background and starts the writer.
    /// Await the returned task after the server stopped: it ends once the
    /// last queued row is committed.
    pub fn start(config: Config) -> (Self, tokio::task::JoinHandle<()>) {
        let database = Database::connect_lazy(&config.database);
        Self::with_database(config, database)
    }

    /// Like [`AppState::start`], on a given pool (tests).
    pub fn with_database(
        config: Config,
        database: Database,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let mut metrics = Metrics::new();
        let commit_metrics = CommitMetrics::register(metrics.registry_mut());
        let purged_rows = Counter::default();
        metrics.registry_mut().register(
            "pact_retention_deleted_rows",
            "Rows deleted by the retention purge",
            purged_rows.clone(),
        );
        let schema = Schema::migrate_in_background(database.clone());
        let (writer, task) = GroupCommit::start(
            database,
            config.commit_max_rows,
            config.commit_queue,
            config.commit_timeout,
            commit_metrics,
        );
        let state = Self {
            config: Arc::new(config),
            metrics: metrics.freeze(),
            schema,
            writer,
            purged_rows,
        };
        (state, task)
    }

    /// The database, to close it at shutdown.
    pub fn database(&self) -> &Database {
        self.schema.database()
    }
}

/// The contact log's route inside the function contract; `/readyz` follows
/// the database, `/healthz` the writer's progress.
pub fn app(state: AppState) -> Router {
    let config = state.config.clone();
    let metrics = state.metrics.clone();
    let readiness = state.schema.clone();
    let liveness = state.writer.liveness(config.stall);
    // Only the event route checks the sender; probes and metrics stay open.
    let routes = protect(
        Router::new().route("/", post(receive)).with_state(state),
        &config.sender_auth,
    );
    contract_with_liveness(routes, &config.runtime, metrics, readiness, liveness)
}

/// What a request did.
#[derive(Debug, Default, Serialize)]
struct Outcome {
    /// Rows stored now.
    stored: usize,
    /// Events already stored before (redeliveries): nothing written.
    duplicates: usize,
    /// Rows deleted by a retention purge.
    #[serde(skip_serializing_if = "Option::is_none")]
    purged: Option<u64>,
}

/// `POST /`.
async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    LimitedBody(body): LimitedBody,
) -> Result<Response> {
    let now = Utc::now();
    let inputs = read_events(&headers, body, &[wire::TRANSLATED, wire::PING])?;
    if !state.schema.is_ready() {
        return Err(Error::Unavailable {
            detail: "the database schema is not ready yet; retry later".into(),
            retry_after: DOWN_RETRY_AFTER,
        });
    }
    let (pings, contacts): (Vec<Incoming>, Vec<Incoming>) = inputs
        .into_iter()
        .partition(|input| input.event_type.as_deref() == Some(wire::PING));
    let rows = all_or_nothing(contacts, |input| {
        state
            .metrics
            .received(input.event_type.as_deref().unwrap_or(wire::TRANSLATED));
        let contact = input.translated()?.into_contact(input.time, now)?;
        let (event_source, event_id) = match &input.identity {
            Some(identity) => (
                BoundedText::<512>::parse("source", &identity.source)?
                    .as_str()
                    .to_owned(),
                event_id("id", &identity.id)?,
            ),
            None => (
                UNIDENTIFIED_SOURCE.to_owned(),
                uuid::Uuid::now_v7().to_string(),
            ),
        };
        Ok(ContactRow {
            contact,
            event_source,
            event_id,
        })
    })?;

    let mut outcome = Outcome::default();
    if !rows.is_empty() {
        let written = state.writer.write(rows).await.map_err(|e| match e {
            WriteError::Busy => Error::Unavailable {
                detail: "too many writes are waiting; retry shortly".into(),
                retry_after: BUSY_RETRY_AFTER,
            },
            WriteError::Unavailable(_) => Error::Unavailable {
                detail: "the database did not commit the rows; retry later".into(),
                retry_after: DOWN_RETRY_AFTER,
            },
            WriteError::TimedOut(limit) => Error::Unavailable {
                detail: format!(
                    "the database did not commit within {} ms; retry later \
                     (an event already stored is never stored twice)",
                    limit.as_millis()
                ),
                retry_after: DOWN_RETRY_AFTER,
            },
            WriteError::Rejected(why) => {
                Error::invalid("data", format!("the database refused the row: {why}"))
            }
        })?;
        outcome.stored = written.stored;
        outcome.duplicates = written.duplicates;
    }
    if !pings.is_empty() {
        state.metrics.received(wire::PING);
        outcome.purged = Some(purge(&state).await?);
    }
    Ok(Json(outcome).into_response())
}

/// Deletes rows observed more than the retention period ago, in batches.
async fn purge(state: &AppState) -> Result<u64> {
    let days = state.config.retention_days;
    let cutoff = Utc::now() - chrono::Duration::days(i64::from(days));
    let started = Instant::now();
    let mut total = 0;
    loop {
        let deleted = store::purge_batch(state.database(), cutoff, PURGE_BATCH)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, deleted = total, "retention purge failed");
                Error::Unavailable {
                    detail: "the database failed during the retention purge; retry later".into(),
                    retry_after: DOWN_RETRY_AFTER,
                }
            })?;
        total += deleted;
        state.purged_rows.inc_by(deleted);
        if deleted < PURGE_BATCH as u64 || started.elapsed() > PURGE_BUDGET {
            break;
        }
    }
    tracing::info!(
        deleted = total,
        retention_days = days,
        "retention purge done"
    );
    Ok(total)
}

/// How long queued writes may take to commit after the server stopped.
const FLUSH_LIMIT: Duration = Duration::from_secs(5);

/// The whole process: configuration from the environment, serve until
/// SIGTERM, then flush queued writes. What the `pact-contactlog` binary and
/// `pact function contactlog` run.
pub fn run() -> std::process::ExitCode {
    use pact_runtime::server::{block_on, config_failed, start};
    let (config, warnings) = match Config::from_env(&pact_runtime::config::ProcessEnv) {
        Ok(read) => read,
        Err(e) => return config_failed(NAME, &e),
    };
    block_on(NAME, async move {
        pact_runtime::telemetry::init(&config.runtime);
        let runtime = config.runtime.clone();
        tracing::info!(database = %config.database.url.redacted(), "contact log");
        let (state, writer) = AppState::start(config);
        let database = state.database().clone();
        let code = start(NAME, &runtime, &warnings, app(state)).await;
        if tokio::time::timeout(FLUSH_LIMIT, writer).await.is_err() {
            tracing::warn!(
                "queued writes did not commit in time; their senders got no answer and will retry"
            );
        }
        database.close().await;
        code
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&'static str, &'static str)]) -> Result<Config, ConfigError> {
        let env: std::collections::HashMap<&str, &str> = pairs.iter().copied().collect();
        Config::from_env(&env).map(|(config, _)| config)
    }

    #[test]
    fn commit_limits_have_defaults_and_ranges() {
        let config = read(&[]).expect("valid");
        assert_eq!(
            config.commit_timeout,
            Duration::from_millis(DEFAULT_DB_COMMIT_TIMEOUT_MS)
        );
        assert_eq!(config.stall, Duration::from_secs(DEFAULT_DB_STALL_S));
        let config =
            read(&[(PACT_DB_COMMIT_TIMEOUT_MS, "250"), (PACT_DB_STALL_S, " 5 ")]).expect("valid");
        assert_eq!(config.commit_timeout, Duration::from_millis(250));
        assert_eq!(config.stall, Duration::from_secs(5));
        let config = read(&[
            (PACT_DB_COMMIT_TIMEOUT_MS, "600000"),
            (PACT_DB_STALL_S, "86400"),
        ])
        .expect("the largest values");
        assert_eq!(
            config.commit_timeout,
            Duration::from_millis(MAX_DB_COMMIT_TIMEOUT_MS)
        );
        assert_eq!(config.stall, Duration::from_secs(MAX_DB_STALL_S));
        // Past the range, even past u64, or not a whole number: a bad value
        // naming the variable, never an overflow later.
        for (timeout, stall) in [
            ("0", "1m"),
            ("600001", "86401"),
            ("18446744073709551615", "999999999999999999999999999"),
        ] {
            let error = read(&[
                (PACT_DB_COMMIT_TIMEOUT_MS, timeout),
                (PACT_DB_STALL_S, stall),
            ])
            .expect_err("invalid");
            let names: Vec<_> = error.0.iter().map(|bad| bad.name).collect();
            assert_eq!(names, [PACT_DB_COMMIT_TIMEOUT_MS, PACT_DB_STALL_S]);
        }
    }
}
