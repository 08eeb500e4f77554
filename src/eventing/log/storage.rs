//! The SQLite tables of the log: records and consumer-group offsets.

use std::sync::atomic::AtomicU64;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{Connection, Row, SqliteConnection};
use tokio::sync::watch;

use super::writer::{Append, Write};
use super::{Record, Topic, Value};

pub(super) const KIND_EVENT: i64 = 0;
pub(super) const KIND_RAW: i64 = 1;
pub(super) const KIND_BINARY: i64 = 2;

pub(super) const SCHEMA: &str = "
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

/// Rows per INSERT statement (8 parameters each; SQLite takes 32766).
const INSERT_ROWS: usize = 256;

pub(super) async fn store(
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
                Value::Binary(bytes) => (KIND_BINARY, bytes, None),
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

/// A topic's partitions as stored: its partition count (the one it was
/// created with, as in Kafka) and each partition's start and end offsets.
pub(super) async fn load_topic(
    writer: &mut SqliteConnection,
    name: &str,
    partitions: u32,
) -> anyhow::Result<Topic> {
    sqlx::query("INSERT OR IGNORE INTO topics (name, partitions) VALUES (?, ?)")
        .bind(name)
        .bind(partitions)
        .execute(&mut *writer)
        .await?;
    let partitions: u32 = sqlx::query_scalar("SELECT partitions FROM topics WHERE name = ?")
        .bind(name)
        .fetch_one(&mut *writer)
        .await?;
    let mut ends = Vec::new();
    let mut starts = Vec::new();
    for partition in 0..partitions {
        let (first, last): (Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT MIN(offset), MAX(offset) FROM records WHERE topic = ? AND partition = ?",
        )
        .bind(name)
        .bind(partition)
        .fetch_one(&mut *writer)
        .await?;
        let kept_from: Option<i64> = sqlx::query_scalar(
            "SELECT start_offset FROM log_starts WHERE topic = ? AND partition = ?",
        )
        .bind(name)
        .bind(partition)
        .fetch_optional(&mut *writer)
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
    Ok(Topic {
        partitions,
        ends,
        starts,
    })
}

/// A row of `records` as the [`Record`] it stores.
pub(super) fn record_from_row(partition: u32, row: &SqliteRow) -> anyhow::Result<Record> {
    let bytes = Bytes::from(row.try_get::<Vec<u8>, _>("value")?);
    let value = match row.try_get::<i64, _>("kind")? {
        KIND_BINARY => Value::Binary(bytes),
        KIND_EVENT => Value::Event(bytes),
        _ => Value::Raw {
            bytes,
            content_type: row.try_get("content_type")?,
        },
    };
    Ok(Record {
        partition,
        offset: u64::try_from(row.try_get::<i64, _>("offset")?)?,
        key: row.try_get("key")?,
        value,
        appended_at: DateTime::from_timestamp_millis(row.try_get("appended_at")?)
            .unwrap_or_default(),
    })
}
