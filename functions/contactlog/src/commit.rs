//! Group commit: requests that arrive while a commit runs are written together
//! in the next transaction, and each request is answered only after the
//! transaction holding its rows has committed.
//!
//! One writer task owns the writing. Requests queue their rows (a bounded
//! queue: when it is full the request is refused with 503 at once, so the
//! event source backs off instead of piling up); the writer takes everything
//! queued, up to a row limit, inserts it in one transaction, and answers every
//! request of that transaction. A request's rows always share a transaction.
//!
//! Every commit has a time limit: past it the transaction is abandoned (sqlx
//! rolls it back when the connection comes back) and its requests get 503, so
//! their senders retry; nothing is acknowledged that was not committed. Should
//! the abandoned COMMIT still succeed on the server, the retry finds the
//! `(event_source, event_id)` already stored and counts it as a duplicate.
//! The writer also records its progress, for the liveness probe
//! ([`WriterLiveness`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use pact_runtime::database::Database;
use pact_runtime::server::Liveness;
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

/// Why a request's rows were not written. Cloned to every request of a
/// failed batch, so the database's error is shared.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    /// The queue is full: try again shortly.
    #[error("too many writes are waiting")]
    Busy,
    /// The writer has stopped (the process is shutting down).
    #[error("the writer stopped")]
    Stopped,
    /// The database failed or is unreachable: nothing was committed.
    #[error("the commit failed")]
    Unavailable(#[source] Arc<sqlx::Error>),
    /// The commit did not finish within its time limit; the transaction was
    /// abandoned.
    #[error("the commit did not finish within {} ms", .0.as_millis())]
    TimedOut(Duration),
    /// The database refuses these rows (a constraint): retrying cannot help.
    #[error("the database refused the rows")]
    Rejected(#[source] Arc<sqlx::Error>),
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
    timeouts: Counter,
    batch_rows: Histogram,
}

impl CommitMetrics {
    /// Registers the writer's metrics.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            commits: Counter::default(),
            rows: Counter::default(),
            failures: Counter::default(),
            timeouts: Counter::default(),
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
            "pact_db_commit_timeouts",
            "Transactions abandoned at the commit time limit (also counted as failures)",
            metrics.timeouts.clone(),
        );
        registry.register(
            "pact_db_commit_rows",
            "Rows offered per transaction",
            metrics.batch_rows.clone(),
        );
        metrics
    }
}

/// How far the writer got, shared by the writer, the requests and the
/// liveness probe. Times are milliseconds since `epoch` (saturating, so no
/// clock arithmetic can overflow or panic).
#[derive(Debug)]
struct Progress {
    epoch: Instant,
    /// When the writer last made progress, or when work started waiting on
    /// a healthy writer: the start of the current stall, if any.
    last_ms: AtomicU64,
    /// Requests queued or being written, not answered yet.
    waiting: AtomicUsize,
    /// Whether the writer's last transaction reached the database.
    healthy: AtomicBool,
}

impl Progress {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            last_ms: AtomicU64::new(0),
            waiting: AtomicUsize::new(0),
            healthy: AtomicBool::new(true),
        }
    }

    fn now_ms(&self) -> u64 {
        let elapsed = Instant::now().saturating_duration_since(self.epoch);
        u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
    }

    fn mark(&self) {
        self.last_ms.store(self.now_ms(), Ordering::Release);
    }

    /// A request queued. Work arriving at a healthy, idle writer starts the
    /// clock now (an hour of idleness is no stall); at a failing writer the
    /// clock keeps running, retries or not.
    fn enqueued(&self) {
        if self.waiting.fetch_add(1, Ordering::AcqRel) == 0 && self.healthy.load(Ordering::Acquire)
        {
            self.mark();
        }
    }

    fn answered(&self) {
        let _ = self
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    /// A transaction ended: `reached` when the database committed or refused
    /// it (progress), not when it failed or timed out.
    fn finished(&self, reached: bool) {
        if reached {
            self.mark();
        }
        self.healthy.store(reached, Ordering::Release);
    }

    /// Requests waiting, and for how long the writer has made no progress.
    fn stalled_for(&self) -> (usize, Duration) {
        let waiting = self.waiting.load(Ordering::Acquire);
        let since = self
            .now_ms()
            .saturating_sub(self.last_ms.load(Ordering::Acquire));
        (waiting, Duration::from_millis(since))
    }
}

/// `/healthz` of pact-contactlog: fails when the writer has made no progress
/// for `stall` while requests wait for it, so the kubelet restarts a wedged
/// pod. An idle writer is always live.
#[derive(Debug, Clone)]
pub struct WriterLiveness {
    progress: Arc<Progress>,
    stall: Duration,
}

impl Liveness for WriterLiveness {
    fn check(&self) -> Result<(), String> {
        let (waiting, stalled) = self.progress.stalled_for();
        if waiting > 0 && stalled > self.stall {
            Err(format!(
                "the database writer has committed nothing for {} s while {waiting} requests wait",
                stalled.as_secs()
            ))
        } else {
            Ok(())
        }
    }
}

/// The handle requests use to write; cheap to clone.
#[derive(Debug, Clone)]
pub struct GroupCommit {
    queue: mpsc::Sender<Job>,
    progress: Arc<Progress>,
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
    /// is drained; await the returned task at shutdown to flush. Each
    /// transaction is abandoned after `commit_timeout`.
    pub fn start(
        db: Database,
        max_rows: usize,
        queue_len: usize,
        commit_timeout: Duration,
        metrics: CommitMetrics,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (queue, jobs) = mpsc::channel(queue_len.max(1));
        let progress = Arc::new(Progress::new());
        let writer = Writer {
            db,
            commit_timeout,
            metrics,
            progress: progress.clone(),
        };
        let task = tokio::spawn(writer.run(jobs, max_rows.max(1)));
        (Self { queue, progress }, task)
    }

    /// The writer's liveness check, failing after `stall` without progress
    /// while work waits. It holds no queue handle, so it does not keep the
    /// writer running at shutdown.
    pub fn liveness(&self, stall: Duration) -> WriterLiveness {
        WriterLiveness {
            progress: self.progress.clone(),
            stall,
        }
    }

    /// Writes one request's rows; returns after their transaction committed.
    pub async fn write(&self, rows: Vec<ContactRow>) -> Result<Written, WriteError> {
        let (done, answer) = oneshot::channel();
        self.progress.enqueued();
        if self.queue.try_send(Job { rows, done }).is_err() {
            self.progress.answered();
            return Err(WriteError::Busy);
        }
        answer.await.unwrap_or_else(|_| Err(WriteError::Stopped))
    }
}

/// The writer task's side.
struct Writer {
    db: Database,
    commit_timeout: Duration,
    metrics: CommitMetrics,
    progress: Arc<Progress>,
}

impl Writer {
    async fn run(self, mut jobs: mpsc::Receiver<Job>, max_rows: usize) {
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
            let reached = self.commit(batch).await;
            self.progress.finished(reached);
        }
    }

    fn answer(&self, job: Job, result: Result<Written, WriteError>) {
        // The requester may be gone (its client hung up); the rows are
        // committed or not all the same.
        let _ = job.done.send(result);
        self.progress.answered();
    }

    /// Commits a batch; true when the database answered (committed, or
    /// refused the data). When it refuses the batch for a data reason, the
    /// jobs are retried one by one, so one bad request cannot fail its
    /// neighbours.
    async fn commit(&self, batch: Vec<Job>) -> bool {
        let rows: Vec<&ContactRow> = batch.iter().flat_map(|job| &job.rows).collect();
        let started = Instant::now();
        self.metrics.batch_rows.observe(rows.len() as f64);
        // Past the limit the insert future is dropped: the transaction is
        // abandoned mid-statement, and sqlx rolls it back (and checks the
        // connection) before the pool hands the connection out again.
        let inserted = tokio::time::timeout(
            self.commit_timeout,
            store::insert(&self.db, &rows, Utc::now()),
        )
        .await;
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let result = match inserted {
            Ok(result) => result,
            Err(_) => {
                self.metrics.failures.inc();
                self.metrics.timeouts.inc();
                tracing::warn!(
                    limit_ms = u64::try_from(self.commit_timeout.as_millis()).unwrap_or(u64::MAX),
                    requests = batch.len(),
                    rows = rows.len(),
                    "commit did not finish in time; abandoned, the senders will retry"
                );
                for job in batch {
                    self.answer(job, Err(WriteError::TimedOut(self.commit_timeout)));
                }
                return false;
            }
        };
        match result {
            Ok(new) => {
                self.metrics.commits.inc();
                self.metrics
                    .rows
                    .inc_by(new.iter().filter(|n| **n).count() as u64);
                tracing::debug!(
                    rows = rows.len(),
                    requests = batch.len(),
                    elapsed_ms,
                    "committed"
                );
                let mut new = new.into_iter();
                for job in batch {
                    let stored = new.by_ref().take(job.rows.len()).filter(|n| *n).count();
                    let duplicates = job.rows.len() - stored;
                    self.answer(job, Ok(Written { stored, duplicates }));
                }
                true
            }
            Err(e) if store::is_permanent(&e) && batch.len() > 1 => {
                self.metrics.failures.inc();
                let mut reached = true;
                for job in batch {
                    reached &= Box::pin(self.commit(vec![job])).await;
                }
                reached
            }
            Err(e) => {
                self.metrics.failures.inc();
                let permanent = store::is_permanent(&e);
                let failure = if permanent {
                    WriteError::Rejected(Arc::new(e))
                } else {
                    tracing::warn!(error = %e, requests = batch.len(), "commit failed; the senders will retry");
                    WriteError::Unavailable(Arc::new(e))
                };
                for job in batch {
                    self.answer(job, Err(failure.clone()));
                }
                permanent
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn liveness(progress: &Arc<Progress>) -> WriterLiveness {
        WriterLiveness {
            progress: progress.clone(),
            stall: Duration::from_millis(20),
        }
    }

    #[test]
    fn liveness_fails_only_while_work_waits_without_progress() {
        let progress = Arc::new(Progress::new());
        let live = liveness(&progress);
        let pause = || std::thread::sleep(Duration::from_millis(40));
        // An idle writer is live, however long it idles.
        pause();
        assert!(live.check().is_ok());
        // Work arriving at a healthy writer starts the clock now.
        progress.enqueued();
        assert!(live.check().is_ok());
        pause();
        let why = live.check().expect_err("stalled with work waiting");
        assert!(why.contains("1 requests wait"), "{why}");
        // A commit is progress.
        progress.finished(true);
        assert!(live.check().is_ok());
        progress.answered();
        pause();
        assert!(live.check().is_ok(), "idle again");
        // A failed or timed-out commit is not, and retries arriving at a
        // failing writer do not restart the clock.
        progress.enqueued();
        progress.finished(false);
        progress.answered();
        pause();
        progress.enqueued();
        assert!(live.check().is_err(), "still stalled");
        progress.answered();
        assert!(live.check().is_ok(), "nothing waits");
        // A count never goes below zero.
        progress.answered();
        assert_eq!(progress.waiting.load(Ordering::Acquire), 0);
    }
}
