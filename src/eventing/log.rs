//! Durable topics: partitioned, append-only logs and consumer-group offsets
//! in one SQLite file, the way a Kafka broker keeps them.
//!
//! Appends go through one writer task that commits whatever arrived while
//! the previous commit ran in a single transaction (group commit), so an
//! append is acknowledged only once it is on disk (`synchronous=FULL`) and a
//! burst costs one fsync, not one per record. Readers use their own
//! connections: WAL mode lets them read while the writer commits.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
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

/// What the writer task does: append a record, or commit offsets.
enum Write {
    Append(Append),
    Commit(Commit),
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

/// End offsets of one topic's partitions, watched by its dispatchers.
struct Topic {
    partitions: u32,
    ends: Vec<watch::Sender<u64>>,
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
        let mut writer = SqliteConnection::connect_with(&options)
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
            for partition in 0..partitions {
                let end: i64 = sqlx::query_scalar(
                    "SELECT COALESCE(MAX(offset) + 1, 0) FROM records WHERE topic = ? AND partition = ?",
                )
                .bind(name)
                .bind(partition)
                .fetch_one(&mut writer)
                .await?;
                ends.push(watch::Sender::new(u64::try_from(end).unwrap_or(0)));
            }
            open.insert(Arc::from(name), Topic { partitions, ends });
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
        .bind(i64::try_from(from)?)
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
            }
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
            Write::Commit(_) => None,
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
