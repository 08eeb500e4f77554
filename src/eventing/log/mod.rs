//! Durable topics: partitioned, append-only logs and consumer-group offsets
//! in one SQLite file, the way a Kafka broker keeps them.
//!
//! Appends go through one writer task that commits whatever arrived while
//! the previous commit ran in a single transaction (group commit), so an
//! append is acknowledged only once it is on disk (`synchronous=FULL`) and a
//! burst costs one fsync, not one per record. Readers use their own
//! connections: WAL mode lets them read while the writer commits.
//!
//! Retention ([`Log::trim`]) deletes a prefix of a partition, as Kafka
//! deletes old segments: only records every consumer group has committed
//! past, and only old enough ones. The log start offset is stored, so the
//! next offset never goes back, even when every record was deleted.

mod partition;
mod retention;
mod storage;
mod writer;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteAutoVacuum, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, Row, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot, watch};

pub use partition::partition_for;
pub use retention::Trimmed;

use storage::{SCHEMA, load_topic, record_from_row};
use writer::{Append, Commit, MAX_BATCH, Write, write_loop};

/// What a record holds: a CloudEvent (written by a KafkaSink), or raw bytes
/// (written by a plain Kafka producer such as kcat).
#[derive(Debug, Clone)]
pub enum Value {
    /// The event as binary mode delivers it, in the form
    /// [`crate::eventing::stored`] writes.
    Binary(Bytes),
    /// The event, as structured-mode JSON: what binary mode cannot carry
    /// exactly, and every event of a log written before the binary form.
    Event(Bytes),
    /// The bytes as sent, and their content type if one was given.
    Raw {
        /// The record's content, as sent.
        bytes: Bytes,
        /// Its `Content-Type`, kept as a Kafka header would keep it.
        content_type: Option<String>,
    },
}

/// One record of a partition.
#[derive(Debug, Clone)]
pub struct Record {
    /// Its partition.
    pub partition: u32,
    /// Its offset in the partition.
    pub offset: u64,
    /// The record key (a CloudEvent's `partitionkey`).
    pub key: Option<String>,
    /// What it holds.
    pub value: Value,
    /// When the log accepted it.
    pub appended_at: DateTime<Utc>,
}

/// Why an append failed.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// No such topic.
    #[error("no topic named {0:?}")]
    UnknownTopic(String),
    /// The log could not commit (disk full, I/O error) or is shutting down.
    #[error("the topic log could not store the record: {0}")]
    Unavailable(String),
}

/// Offsets of one topic's partitions: the end (next offset to be written),
/// watched by its dispatchers, and the start (first offset still kept).
struct Topic {
    partitions: u32,
    ends: Vec<watch::Sender<u64>>,
    starts: Vec<AtomicU64>,
}

/// The topics, open.
#[derive(Clone)]
pub struct Log {
    topics: Arc<HashMap<Arc<str>, Topic>>,
    writes: mpsc::Sender<Write>,
    readers: SqlitePool,
}

impl Log {
    /// Opens (or creates) the log at `path` with these topics, each with
    /// `partitions` partitions. A topic keeps the partition count it was
    /// created with, as in Kafka.
    pub async fn open(path: &Path, topics: &[&str], partitions: u32) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5));
        // Incremental: space freed by retention can be given back (only a
        // new file can have it; an older one reuses its free pages).
        let mut writer = SqliteConnection::connect_with(
            &options.clone().auto_vacuum(SqliteAutoVacuum::Incremental),
        )
        .await
        .with_context(|| format!("cannot open the topic log {}", path.display()))?;
        sqlx::raw_sql(SCHEMA).execute(&mut writer).await?;
        let mut open = HashMap::new();
        for &name in topics {
            open.insert(
                Arc::from(name),
                load_topic(&mut writer, name, partitions).await?,
            );
        }
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        let topics = Arc::new(open);
        let (writes, queue) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(write_loop(writer, queue, topics.clone()));
        Ok(Self {
            topics,
            writes,
            readers,
        })
    }

    /// Appends one record; returns its partition and offset once it is
    /// durable. Keyed records go to the partition Kafka's default
    /// partitioner picks for the key; unkeyed ones are spread round-robin.
    pub async fn append(
        &self,
        topic: &str,
        key: Option<String>,
        value: Value,
    ) -> Result<(u32, u64), AppendError> {
        let (name, _) = self
            .topics
            .get_key_value(topic)
            .ok_or_else(|| AppendError::UnknownTopic(topic.to_owned()))?;
        let (done, answer) = oneshot::channel();
        let append = Append {
            topic: name.clone(),
            key,
            value,
            done,
        };
        let closed = || AppendError::Unavailable("the log is shutting down".into());
        self.writes
            .send(Write::Append(append))
            .await
            .map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    /// The topics, by name.
    pub fn topic_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.topics.keys().map(|n| n.to_string()).collect();
        names.sort();
        names
    }

    /// The number of partitions of a topic (0 if there is no such topic).
    pub fn partitions(&self, topic: &str) -> u32 {
        self.topics.get(topic).map_or(0, |t| t.partitions)
    }

    /// Watches the end offset (next offset to be written) of a partition.
    pub fn watch_end(&self, topic: &str, partition: u32) -> Option<watch::Receiver<u64>> {
        let topic = self.topics.get(topic)?;
        Some(topic.ends.get(partition as usize)?.subscribe())
    }

    /// The end offsets of a topic's partitions.
    pub fn end_offsets(&self, topic: &str) -> Vec<u64> {
        self.topics
            .get(topic)
            .map(|t| t.ends.iter().map(|end| *end.borrow()).collect())
            .unwrap_or_default()
    }

    /// The start offsets (first offset kept) of a topic's partitions.
    pub fn start_offsets(&self, topic: &str) -> Vec<u64> {
        self.topics
            .get(topic)
            .map(|t| t.starts.iter().map(|s| s.load(Ordering::Acquire)).collect())
            .unwrap_or_default()
    }

    /// Up to `limit` records of a partition from offset `from` on.
    pub async fn read(
        &self,
        topic: &str,
        partition: u32,
        from: u64,
        limit: u32,
    ) -> anyhow::Result<Vec<Record>> {
        let rows = sqlx::query(
            "SELECT offset, key, kind, value, content_type, appended_at FROM records
             WHERE topic = ? AND partition = ? AND offset >= ? ORDER BY offset LIMIT ?",
        )
        .bind(topic)
        .bind(partition)
        // Past i64::MAX there is nothing: read from there, not fail.
        .bind(i64::try_from(from).unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&self.readers)
        .await?;
        rows.into_iter()
            .map(|row| record_from_row(partition, &row))
            .collect()
    }

    /// The committed offsets (next offset to deliver) of a consumer group
    /// on a topic, one per partition; 0 where nothing was committed yet.
    pub async fn committed(&self, group: &str, topic: &str) -> anyhow::Result<Vec<u64>> {
        let mut offsets = vec![0; self.partitions(topic) as usize];
        let rows = sqlx::query(
            "SELECT partition, next_offset FROM offsets WHERE consumer_group = ? AND topic = ?",
        )
        .bind(group)
        .bind(topic)
        .fetch_all(&self.readers)
        .await?;
        for row in rows {
            let partition: u32 = row.try_get("partition")?;
            if let Some(slot) = offsets.get_mut(partition as usize) {
                *slot = u64::try_from(row.try_get::<i64, _>("next_offset")?)?;
            }
        }
        Ok(offsets)
    }

    /// Commits a consumer group's offsets (next offset to deliver, per
    /// partition), durably, through the writer.
    pub async fn commit(&self, group: &str, topic: &str, offsets: Vec<u64>) -> anyhow::Result<()> {
        let (done, answer) = oneshot::channel();
        let write = Write::Commit(Commit {
            group: group.to_owned(),
            topic: topic.to_owned(),
            offsets,
            done,
        });
        self.writes
            .send(write)
            .await
            .map_err(|_| anyhow::anyhow!("the log is shutting down"))?;
        answer
            .await
            .map_err(|_| anyhow::anyhow!("the log is shutting down"))?
            .map_err(|e| anyhow::anyhow!("cannot commit offsets: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::retention::TRIM_MAX;
    use super::*;

    async fn open(dir: &tempfile::TempDir) -> Log {
        Log::open(&dir.path().join("topics.db"), &["t", "dead"], 1)
            .await
            .expect("open the log")
    }

    /// Appends `n` records at once (one group commit); their offsets.
    async fn append(log: &Log, topic: &str, n: usize) -> Vec<u64> {
        let appends = (0..n).map(|i| {
            log.append(
                topic,
                None,
                Value::Raw {
                    bytes: Bytes::from(format!("record {i}")),
                    content_type: None,
                },
            )
        });
        let mut offsets: Vec<u64> = futures_util::future::join_all(appends)
            .await
            .into_iter()
            .map(|placed| placed.expect("appended").1)
            .collect();
        offsets.sort_unstable();
        offsets
    }

    async fn offsets_kept(log: &Log, topic: &str) -> Vec<u64> {
        let records = log.read(topic, 0, 0, 10_000).await.expect("read");
        records.iter().map(|r| r.offset).collect()
    }

    #[tokio::test]
    async fn retention_deletes_only_old_records_every_group_committed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = open(&dir).await;
        append(&log, "t", 10).await;
        log.commit("a", "t", vec![6]).await.expect("commit");
        log.commit("b", "t", vec![8]).await.expect("commit");

        let young = log.trim("t", Duration::from_secs(3600), &[]).await;
        assert_eq!(young.expect("trim").deleted, 0, "not old enough yet");
        assert_eq!(offsets_kept(&log, "t").await.len(), 10);

        // A group reading now that committed nothing holds everything.
        let held = log.trim("t", Duration::ZERO, &["new".into()]).await;
        assert_eq!(held.expect("trim").deleted, 0);

        let trimmed = log.trim("t", Duration::ZERO, &[]).await.expect("trim");
        assert_eq!(trimmed.deleted, 6, "below group a's committed offset only");
        assert_eq!(offsets_kept(&log, "t").await, (6..10).collect::<Vec<_>>());
        assert_eq!(log.start_offsets("t"), vec![6]);
        assert_eq!(log.end_offsets("t"), vec![10]);
        // Group a's records 6..8 stay until it commits them.
        let again = log.trim("t", Duration::ZERO, &["a".into()]).await;
        assert_eq!(again.expect("trim").deleted, 0);
    }

    #[tokio::test]
    async fn offsets_go_on_after_every_record_was_deleted_and_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let log = open(&dir).await;
            assert_eq!(append(&log, "t", 5).await, vec![0, 1, 2, 3, 4]);
            log.commit("a", "t", vec![5]).await.expect("commit");
            let trimmed = log.trim("t", Duration::ZERO, &[]).await.expect("trim");
            assert_eq!(trimmed.deleted, 5);
            assert!(offsets_kept(&log, "t").await.is_empty());
            assert_eq!(log.start_offsets("t"), vec![5]);
        }
        let log = open(&dir).await;
        assert_eq!(
            log.end_offsets("t"),
            vec![5],
            "the next offset is not reused"
        );
        assert_eq!(log.start_offsets("t"), vec![5]);
        assert_eq!(append(&log, "t", 2).await, vec![5, 6]);
        assert_eq!(log.committed("a", "t").await.expect("committed"), vec![5]);
    }

    #[tokio::test]
    async fn a_topic_no_group_reads_is_trimmed_by_age_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = open(&dir).await;
        append(&log, "dead", 3).await;
        let young = log.trim("dead", Duration::from_secs(3600), &[]).await;
        assert_eq!(young.expect("trim").deleted, 0);
        let old = log.trim("dead", Duration::ZERO, &[]).await.expect("trim");
        assert_eq!(old.deleted, 3);
        assert_eq!(log.start_offsets("dead"), vec![3]);
    }

    #[tokio::test]
    async fn a_long_backlog_is_deleted_in_rounds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = open(&dir).await;
        let n = TRIM_MAX as usize + 10;
        append(&log, "t", n).await;
        log.commit("a", "t", vec![n as u64]).await.expect("commit");
        let first = log.trim("t", Duration::ZERO, &[]).await.expect("trim");
        assert_eq!(
            first,
            Trimmed {
                deleted: TRIM_MAX,
                more: true
            }
        );
        let second = log.trim("t", Duration::ZERO, &[]).await.expect("trim");
        assert_eq!(
            second,
            Trimmed {
                deleted: 10,
                more: false
            }
        );
        assert_eq!(log.start_offsets("t"), vec![n as u64]);
    }
}
