//! Retention: deleting the prefix of a partition every consumer group has
//! committed past, once old enough, as Kafka deletes old segments.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::Utc;
use sqlx::{Connection, SqliteConnection};
use tokio::sync::oneshot;

use super::writer::Write;
use super::{Log, Topic};

/// What one [`Log::trim`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Trimmed {
    /// Records deleted.
    pub deleted: u64,
    /// Whether a partition had more to delete than one round takes.
    pub more: bool,
}

pub(super) struct Trim {
    pub(super) topic: Arc<str>,
    pub(super) retention: Duration,
    pub(super) groups: Vec<String>,
    pub(super) done: oneshot::Sender<Result<Trimmed, String>>,
}

/// Records one trim deletes per partition at most: a short transaction, so
/// appends queued behind it wait little.
pub(super) const TRIM_MAX: u64 = 5000;

impl Log {
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
}

/// Deletes the prefix of each partition that retention allows, in one
/// transaction, and stores the new start offsets with it.
pub(super) async fn trim(
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
