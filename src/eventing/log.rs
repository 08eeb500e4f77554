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

/// What a record holds: a CloudEvent (written by a KafkaSink), or raw bytes
/// (written by a plain Kafka producer such as kcat).
#[derive(Debug, Clone)]
pub enum Value {
    /// The event, as structured-mode JSON.
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

/// What the writer task does: append a record, commit offsets, or delete
/// what retention allows.
enum Write {
    Append(Append),
    Commit(Commit),
    Trim(Trim),
}

struct Append {
    topic: Arc<str>,
    key: Option<String>,
    value: Value,
    done: oneshot::Sender<Result<(u32, u64), AppendError>>,
}

struct Commit {
    group: String,
    topic: String,
    offsets: Vec<u64>,
    done: oneshot::Sender<Result<(), String>>,
}

struct Trim {
    topic: Arc<str>,
    retention: Duration,
    groups: Vec<String>,
    done: oneshot::Sender<Result<Trimmed, String>>,
}

/// What one [`Log::trim`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Trimmed {
    /// Records deleted.
    pub deleted: u64,
    /// Whether a partition had more to delete than one round takes.
    pub more: bool,
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

/// Records one commit takes at most.
const MAX_BATCH: usize = 2048;
/// Records one trim deletes per partition at most: a short transaction, so
/// appends queued behind it wait little.
const TRIM_MAX: u64 = 5000;

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
            sqlx::query("INSERT OR IGNORE INTO topics (name, partitions) VALUES (?, ?)")
                .bind(name)
                .bind(partitions)
                .execute(&mut writer)
                .await?;
            let partitions: u32 =
                sqlx::query_scalar("SELECT partitions FROM topics WHERE name = ?")
                    .bind(name)
                    .fetch_one(&mut writer)
                    .await?;
            let mut ends = Vec::new();
            let mut starts = Vec::new();
            for partition in 0..partitions {
                let (first, last): (Option<i64>, Option<i64>) = sqlx::query_as(
                    "SELECT MIN(offset), MAX(offset) FROM records WHERE topic = ? AND partition = ?",
                )
                .bind(name)
                .bind(partition)
                .fetch_one(&mut writer)
                .await?;
                let kept_from: Option<i64> = sqlx::query_scalar(
                    "SELECT start_offset FROM log_starts WHERE topic = ? AND partition = ?",
                )
                .bind(name)
                .bind(partition)
                .fetch_optional(&mut writer)
                .await?;
                // Past the last record, and past every deleted one: offsets
                // are never reused, even when retention emptied the partition.
                let end = last
                    .map_or(0, |last| last.saturating_add(1))
                    .max(kept_from.unwrap_or(0));
                let end = u64::try_from(end).unwrap_or(0);
                let start = first.and_then(|f| u64::try_from(f).ok()).unwrap_or(end);
                ends.push(watch::Sender::new(end));
                starts.push(AtomicU64::new(start));
            }
            open.insert(
                Arc::from(name),
                Topic {
                    partitions,
                    ends,
                    starts,
                },
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

    /// Deletes, from the start of each partition of `topic`, the records
    /// appended more than `retention` ago that every consumer group has
    /// committed past: the groups with offsets in the log and `groups` (the
    /// ones reading now, which may have committed nothing yet). A topic no
    /// group reads (the dead letters) is trimmed by age alone, as Kafka does.
    /// One round deletes at most a few thousand records per partition;
    /// [`Trimmed::more`] says when another round has more to do.
    pub async fn trim(
        &self,
        topic: &str,
        retention: Duration,
        groups: &[String],
    ) -> anyhow::Result<Trimmed> {
        let (name, _) = self
            .topics
            .get_key_value(topic)
            .ok_or_else(|| anyhow::anyhow!("no topic named {topic:?}"))?;
        let (done, answer) = oneshot::channel();
        let write = Write::Trim(Trim {
            topic: name.clone(),
            retention,
            groups: groups.to_vec(),
            done,
        });
        let closed = || anyhow::anyhow!("the log is shutting down");
        self.writes.send(write).await.map_err(|_| closed())?;
        answer
            .await
            .map_err(|_| closed())?
            .map_err(|e| anyhow::anyhow!("cannot apply retention: {e}"))
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
            .map(|row| {
                let bytes = Bytes::from(row.try_get::<Vec<u8>, _>("value")?);
                let value = if row.try_get::<i64, _>("kind")? == KIND_EVENT {
                    Value::Event(bytes)
                } else {
                    Value::Raw {
                        bytes,
                        content_type: row.try_get("content_type")?,
                    }
                };
                Ok(Record {
                    partition,
                    offset: u64::try_from(row.try_get::<i64, _>("offset")?)?,
                    key: row.try_get("key")?,
                    value,
                    appended_at: DateTime::from_timestamp_millis(row.try_get("appended_at")?)
                        .unwrap_or_default(),
                })
            })
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

const KIND_EVENT: i64 = 0;
const KIND_RAW: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS topics (
    name TEXT PRIMARY KEY,
    partitions INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    key TEXT,
    kind INTEGER NOT NULL,
    value BLOB NOT NULL,
    content_type TEXT,
    appended_at INTEGER NOT NULL,
    PRIMARY KEY (topic, partition, offset)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS offsets (
    consumer_group TEXT NOT NULL,
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (consumer_group, topic, partition)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log_starts (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    start_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
) WITHOUT ROWID;
";

/// The writer task: one transaction for everything queued, then the answers.
async fn write_loop(
    mut connection: SqliteConnection,
    mut queue: mpsc::Receiver<Write>,
    topics: Arc<HashMap<Arc<str>, Topic>>,
) {
    let mut round_robin: u32 = 0;
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let mut next: HashMap<(Arc<str>, u32), u64> = HashMap::new();
        let mut placed = Vec::with_capacity(batch.len());
        for write in &batch {
            let Write::Append(append) = write else {
                placed.push((0, 0));
                continue;
            };
            let topic = &topics[&append.topic];
            let partition = match &append.key {
                Some(key) => partition_for(key.as_bytes(), topic.partitions),
                None => {
                    round_robin = round_robin.wrapping_add(1);
                    round_robin % topic.partitions
                }
            };
            let offset = next
                .entry((append.topic.clone(), partition))
                .or_insert_with(|| *topic.ends[partition as usize].borrow());
            placed.push((partition, *offset));
            *offset += 1;
        }
        let result = store(&mut connection, &batch, &placed).await;
        match &result {
            Ok(()) => {
                for ((topic, partition), end) in next {
                    topics[&topic].ends[partition as usize].send_replace(end);
                }
            }
            Err(e) => tracing::error!(error = %e, "the topic log could not commit; answering 503"),
        }
        let mut trims = Vec::new();
        for (write, place) in batch.drain(..).zip(placed) {
            let error = result.as_ref().err().map(ToString::to_string);
            match write {
                Write::Append(append) => {
                    let _ = append
                        .done
                        .send(error.map_or(Ok(place), |e| Err(AppendError::Unavailable(e))));
                }
                Write::Commit(commit) => {
                    let _ = commit.done.send(error.map_or(Ok(()), Err));
                }
                Write::Trim(trim) => trims.push(trim),
            }
        }
        // After the appends and commits of the same batch, each in its own
        // transaction: they see the end offsets and commits just written.
        for request in trims {
            let topic = &topics[&request.topic];
            let result = trim(&mut connection, &request, topic).await;
            if let Err(e) = &result {
                tracing::error!(topic = %request.topic, error = %e, "retention could not delete");
            }
            let _ = request.done.send(result.map_err(|e| e.to_string()));
        }
    }
    let _ = connection.close().await;
}

async fn store(
    connection: &mut SqliteConnection,
    batch: &[Write],
    placed: &[(u32, u64)],
) -> anyhow::Result<()> {
    let now = Utc::now().timestamp_millis();
    let appends: Vec<(&Append, &(u32, u64))> = batch
        .iter()
        .zip(placed)
        .filter_map(|(write, place)| match write {
            Write::Append(append) => Some((append, place)),
            Write::Commit(_) | Write::Trim(_) => None,
        })
        .collect();
    let mut tx = connection.begin().await?;
    // Many rows per statement: one statement costs far more than one row.
    for chunk in appends.chunks(INSERT_ROWS) {
        let mut insert = sqlx::QueryBuilder::new(
            "INSERT INTO records (topic, partition, offset, key, kind, value, content_type, appended_at) ",
        );
        insert.push_values(chunk, |mut row, (append, (partition, offset))| {
            let (kind, bytes, content_type) = match &append.value {
                Value::Event(bytes) => (KIND_EVENT, bytes, None),
                Value::Raw {
                    bytes,
                    content_type,
                } => (KIND_RAW, bytes, content_type.as_deref()),
            };
            row.push_bind(&*append.topic)
                .push_bind(*partition)
                .push_bind(i64::try_from(*offset).unwrap_or(i64::MAX))
                .push_bind(append.key.as_deref())
                .push_bind(kind)
                .push_bind(bytes.as_ref())
                .push_bind(content_type)
                .push_bind(now);
        });
        insert.build().execute(&mut *tx).await?;
    }
    for write in batch {
        let Write::Commit(commit) = write else {
            continue;
        };
        for (partition, offset) in commit.offsets.iter().enumerate() {
            sqlx::query(
                "INSERT INTO offsets (consumer_group, topic, partition, next_offset) VALUES (?, ?, ?, ?)
                 ON CONFLICT (consumer_group, topic, partition)
                 DO UPDATE SET next_offset = excluded.next_offset",
            )
            .bind(&commit.group)
            .bind(&commit.topic)
            .bind(i64::try_from(partition)?)
            .bind(i64::try_from(*offset)?)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Deletes the prefix of each partition that retention allows, in one
/// transaction, and stores the new start offsets with it.
async fn trim(
    connection: &mut SqliteConnection,
    request: &Trim,
    topic: &Topic,
) -> anyhow::Result<Trimmed> {
    let name = &*request.topic;
    let now = Utc::now().timestamp_millis();
    let cutoff =
        now.saturating_sub(i64::try_from(request.retention.as_millis()).unwrap_or(i64::MAX));
    let mut tx = connection.begin().await?;
    let mut groups: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT consumer_group FROM offsets WHERE topic = ?")
            .bind(name)
            .fetch_all(&mut *tx)
            .await?;
    groups.extend(request.groups.iter().cloned());
    groups.sort();
    groups.dedup();
    let mut trimmed = Trimmed::default();
    let mut moved = Vec::new();
    for partition in 0..topic.partitions {
        let end = *topic.ends[partition as usize].borrow();
        let start = topic.starts[partition as usize].load(Ordering::Acquire);
        // The lowest committed offset of every group; a group that never
        // committed holds everything.
        let mut floor = end;
        for group in &groups {
            let committed: Option<i64> = sqlx::query_scalar(
                "SELECT next_offset FROM offsets WHERE consumer_group = ? AND topic = ? AND partition = ?",
            )
            .bind(group)
            .bind(name)
            .bind(partition)
            .fetch_optional(&mut *tx)
            .await?;
            floor = floor.min(committed.and_then(|c| u64::try_from(c).ok()).unwrap_or(0));
        }
        let limit = start.saturating_add(TRIM_MAX);
        let cap = floor.min(limit);
        if cap <= start {
            continue;
        }
        // The first record too young to go ends the deleted prefix.
        let young: Option<i64> = sqlx::query_scalar(
            "SELECT offset FROM records WHERE topic = ? AND partition = ? AND offset >= ? AND offset < ?
             AND appended_at > ? ORDER BY offset LIMIT 1",
        )
        .bind(name)
        .bind(partition)
        .bind(i64::try_from(start)?)
        .bind(i64::try_from(cap)?)
        .bind(cutoff)
        .fetch_optional(&mut *tx)
        .await?;
        let boundary = young.map_or(cap, |y| u64::try_from(y).unwrap_or(start));
        if boundary <= start {
            continue;
        }
        let deleted =
            sqlx::query("DELETE FROM records WHERE topic = ? AND partition = ? AND offset < ?")
                .bind(name)
                .bind(partition)
                .bind(i64::try_from(boundary)?)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        sqlx::query(
            "INSERT INTO log_starts (topic, partition, start_offset) VALUES (?, ?, ?)
             ON CONFLICT (topic, partition) DO UPDATE SET start_offset = excluded.start_offset",
        )
        .bind(name)
        .bind(partition)
        .bind(i64::try_from(boundary)?)
        .execute(&mut *tx)
        .await?;
        trimmed.deleted += deleted;
        trimmed.more |= young.is_none() && cap == limit && limit < floor;
        moved.push((partition, boundary));
    }
    tx.commit().await?;
    for (partition, boundary) in moved {
        topic.starts[partition as usize].store(boundary, Ordering::Release);
    }
    if trimmed.deleted > 0 {
        // Gives the freed pages back to the file system where the file
        // allows it (a no-op otherwise).
        let _ = sqlx::query("PRAGMA incremental_vacuum")
            .execute(&mut *connection)
            .await;
    }
    Ok(trimmed)
}

/// Rows per INSERT statement (8 parameters each; SQLite takes 32766).
const INSERT_ROWS: usize = 256;

/// The partition Kafka's default partitioner gives a keyed record:
/// `toPositive(murmur2(key)) % partitions`, so a pair's events land where a
/// real KafkaSink would put them for the same partition count.
pub fn partition_for(key: &[u8], partitions: u32) -> u32 {
    (murmur2(key) & 0x7fff_ffff) % partitions.max(1)
}

/// MurmurHash2 as Kafka's `Utils.murmur2` computes it (seed 0x9747b28c).
fn murmur2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let length = data.len() as u32;
    let mut h: u32 = 0x9747_b28c ^ length;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() == 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn murmur2_matches_kafka() {
        // Values of Kafka's own UtilsTest.testMurmur2.
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58897971,
            ),
            (b"abc", 479470107),
        ];
        for (key, expected) in cases {
            assert_eq!(murmur2(key) as i32, expected, "{key:?}");
        }
    }
}
