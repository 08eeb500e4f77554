//! pact-contactlog's state, router, handler and start-up: `POST /` stores
//! contacts through the group commit and runs the retention purge.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, response::IntoResponse, response::Response};
use chrono::Utc;
use pact_runtime::contact::BoundedText;
use pact_runtime::database::{Database, Schema};
use pact_runtime::identity::event_id;
use pact_runtime::ingest::{Incoming, LimitedRequest, all_or_nothing, prefers_reply, read_events};
use pact_runtime::metrics::Metrics;
use pact_runtime::sender_auth::protect;
use pact_runtime::server::{Function, Started, contract_with_liveness};
use pact_runtime::wire;
use prometheus_client::metrics::counter::Counter;
use serde::Serialize;

use crate::commit::{CommitMetrics, GroupCommit};
use crate::config::Config;
use crate::error::{DOWN_RETRY_AFTER, Error, Result};
use crate::store::{self, ContactRow};
use crate::{NAME, UNIDENTIFIED_SOURCE};

/// Rows deleted per retention statement: short transactions, short locks.
const PURGE_BATCH: i64 = 5_000;
/// A purge stops after this long; the next ping goes on where it stopped.
const PURGE_BUDGET: Duration = Duration::from_secs(20);

/// How long queued writes may take to commit after the server stopped.
const FLUSH_LIMIT: Duration = Duration::from_secs(5);

/// pact-contactlog, as the runtime starts it.
pub struct Contactlog;

impl Function for Contactlog {
    const NAME: &'static str = NAME;
    type Settings = Config;

    fn start(config: Config) -> Started {
        tracing::info!(database = %config.database.url.redacted(), "contact log");
        let (state, writer) = AppState::start(config);
        let database = state.database().clone();
        Started::new(app(state)).then(async move {
            if tokio::time::timeout(FLUSH_LIMIT, writer).await.is_err() {
                tracing::warn!(
                    "queued writes did not commit in time; their senders got no answer and will retry"
                );
            }
            database.close().await;
        })
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
    LimitedRequest { headers, body }: LimitedRequest,
) -> Result<Response> {
    let now = Utc::now();
    let inputs = read_events(&headers, body, &[wire::TRANSLATED, wire::PING])?;
    if !state.schema.is_ready() {
        return Err(pact_runtime::Error::Unavailable {
            detail: "the database schema is not ready yet; retry later".into(),
            retry_after: DOWN_RETRY_AFTER,
        }
        .into());
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
        let written = state.writer.write(rows).await?;
        outcome.stored = written.stored;
        outcome.duplicates = written.duplicates;
    }
    if !pings.is_empty() {
        state.metrics.received(wire::PING);
        outcome.purged = Some(purge(&state).await?);
    }
    // A sender that says `Prefer: reply` (a Broker's Trigger) reads any body
    // as a reply event, and a body that is not one fails the delivery (the
    // Kafka Broker dead-letters it): 202 and no body, as Knative's data-plane
    // contract has a recipient that never replies answer.
    if prefers_reply(&headers) {
        return Ok(StatusCode::ACCEPTED.into_response());
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
            .map_err(|source| Error::Purge {
                deleted: total,
                source,
            })?;
        total += deleted;
        state.purged_rows.inc_by(deleted);
        if deleted < PURGE_BATCH as u64 || started.elapsed() > PURGE_BUDGET {
            break;
        }
    }
    // pact-notify's cases and notifications go with the contacts.
    let cases = store::purge_cases(state.database(), cutoff)
        .await
        .map_err(|source| Error::Purge {
            deleted: total,
            source,
        })?;
    tracing::info!(
        deleted = total,
        cases,
        retention_days = days,
        "retention purge done"
    );
    Ok(total)
}
