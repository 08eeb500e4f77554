//! The one writer of the log: whatever arrived while the previous commit
//! ran is placed in its partitions, committed in one transaction, and only
//! then announced (the watched end offsets) and acknowledged.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::{Connection, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

use super::partition::partition_for;
use super::retention::{Trim, trim};
use super::storage::store;
use super::{AppendError, Topic, Value};

/// What the writer task does: append a record, commit offsets, or delete
/// what retention allows.
pub(super) enum Write {
    Append(Append),
    Commit(Commit),
    Trim(Trim),
}

pub(super) struct Append {
    pub(super) topic: Arc<str>,
    pub(super) key: Option<String>,
    pub(super) value: Value,
    pub(super) done: oneshot::Sender<Result<(u32, u64), AppendError>>,
}

pub(super) struct Commit {
    pub(super) group: String,
    pub(super) topic: String,
    pub(super) offsets: Vec<u64>,
    pub(super) done: oneshot::Sender<Result<(), String>>,
}

/// Records one commit takes at most.
pub(super) const MAX_BATCH: usize = 2048;

/// The writer task: one transaction for everything queued, then the answers.
pub(super) async fn write_loop(
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
