//! Group commit: requests that arrive while a commit runs are written together
//! in the next transaction, and each request is answered only after the
//! transaction holding its rows has committed.
//!
//! One writer task owns the writing. Requests queue their rows (a bounded
//! queue: when it is full the request is refused with 503 at once, so the
//! event source backs off instead of piling up); the writer takes everything
//! queued, up to a row limit, inserts it in one transaction, and answers every
//! request of that transaction. A request's rows always share a transaction.

use std::time::Instant;

use chrono::Utc;
use pact_runtime::database::Database;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::sync::{mpsc, oneshot};

use crate::store::{self, ContactRow};

/// What became of one request's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Rows stored now.
    pub stored: usize,
    /// Rows whose event was already stored (redeliveries).
    pub duplicates: usize,
}

/// Why a request's rows were not written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    /// The queue is full: try again shortly.
    Busy,
    /// The database failed or is unreachable: nothing was committed.
    Unavailable(String),
    /// The database refuses these rows (a constraint): retrying cannot help.
    Rejected(String),
}

struct Job {
    rows: Vec<ContactRow>,
    done: oneshot::Sender<Result<Written, WriteError>>,
}

/// Metrics of the writer.
#[derive(Debug, Clone)]
pub struct CommitMetrics {
    commits: Counter,
    rows: Counter,
    failures: Counter,
    batch_rows: Histogram,
}

impl CommitMetrics {
    /// Registers the writer's metrics.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            commits: Counter::default(),
            rows: Counter::default(),
            failures: Counter::default(),
            batch_rows: Histogram::new(exponential_buckets(1.0, 2.0, 12)),
        };
        registry.register(
            "pact_db_commits",
            "Transactions committed by the writer",
            metrics.commits.clone(),
        );
        registry.register(
            "pact_db_rows_stored",
            "Rows inserted (duplicates not counted)",
            metrics.rows.clone(),
        );
        registry.register(
            "pact_db_commit_failures",
            "Transactions that failed",
            metrics.failures.clone(),
        );
        registry.register(
            "pact_db_commit_rows",
            "Rows offered per transaction",
            metrics.batch_rows.clone(),
        );
        metrics
    }
}

/// The handle requests use to write; cheap to clone.
#[derive(Debug, Clone)]
pub struct GroupCommit {
    queue: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("rows", &self.rows.len())
            .finish()
    }
}

impl GroupCommit {
    /// Starts the writer. It ends once every handle is dropped and the queue
    /// is drained; await the returned task at shutdown to flush.
    pub fn start(
        db: Database,
        max_rows: usize,
        queue_len: usize,
        metrics: CommitMetrics,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (queue, jobs) = mpsc::channel(queue_len.max(1));
        let writer = tokio::spawn(write_loop(db, jobs, max_rows.max(1), metrics));
        (Self { queue }, writer)
    }

    /// Writes one request's rows; returns after their transaction committed.
    pub async fn write(&self, rows: Vec<ContactRow>) -> Result<Written, WriteError> {
        let (done, answer) = oneshot::channel();
        self.queue
            .try_send(Job { rows, done })
            .map_err(|_| WriteError::Busy)?;
        answer
            .await
            .unwrap_or_else(|_| Err(WriteError::Unavailable("the writer stopped".into())))
    }
}

async fn write_loop(
    db: Database,
    mut jobs: mpsc::Receiver<Job>,
    max_rows: usize,
    metrics: CommitMetrics,
) {
    while let Some(first) = jobs.recv().await {
        let mut rows = first.rows.len();
        let mut batch = vec![first];
        // Everything that queued up while the previous commit ran.
        while rows < max_rows {
            match jobs.try_recv() {
                Ok(job) => {
                    rows += job.rows.len();
                    batch.push(job);
                }
                Err(_) => break,
            }
        }
        commit(&db, batch, &metrics).await;
    }
}

/// Commits a batch. When the database refuses it for a data reason, the jobs
/// are retried one by one, so one bad request cannot fail its neighbours.
async fn commit(db: &Database, batch: Vec<Job>, metrics: &CommitMetrics) {
    let rows: Vec<&ContactRow> = batch.iter().flat_map(|job| &job.rows).collect();
    let started = Instant::now();
    metrics.batch_rows.observe(rows.len() as f64);
    match store::insert(db, &rows, Utc::now()).await {
        Ok(new) => {
            metrics.commits.inc();
            metrics
                .rows
                .inc_by(new.iter().filter(|n| **n).count() as u64);
            tracing::debug!(
                rows = rows.len(),
                requests = batch.len(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "committed"
            );
            let mut new = new.into_iter();
            for job in batch {
                let stored = new.by_ref().take(job.rows.len()).filter(|n| *n).count();
                let _ = job.done.send(Ok(Written {
                    stored,
                    duplicates: job.rows.len() - stored,
                }));
            }
        }
        Err(e) if store::is_permanent(&e) && batch.len() > 1 => {
            metrics.failures.inc();
            for job in batch {
                Box::pin(commit(db, vec![job], metrics)).await;
            }
        }
        Err(e) => {
            metrics.failures.inc();
            let failure = if store::is_permanent(&e) {
                WriteError::Rejected(e.to_string())
            } else {
                tracing::warn!(error = %e, requests = batch.len(), "commit failed; the senders will retry");
                WriteError::Unavailable(e.to_string())
            };
            for job in batch {
                let _ = job.done.send(Err(failure.clone()));
            }
        }
    }
}
