//! The local eventing stand-in of `pact dev`: what KafkaSink + Kafka +
//! KafkaSource do in the cluster, in one process, on one SQLite file.
//!
//! - A sink endpoint per topic (`POST /topics/{topic}`) takes a CloudEvent in
//!   binary or structured mode and answers 202 only once it is durable, as a
//!   KafkaSink answers once Kafka acknowledged the record. The event's
//!   `partitionkey` is the record key, partitioned as Kafka's default
//!   partitioner does. `POST /topics/{topic}/records` takes raw bytes, as a
//!   plain Kafka producer (kcat) would write them.
//! - Topics and consumer-group offsets survive a restart ([`log`]).
//! - Each [`Subscription`] delivers a topic to a subscriber like a
//!   KafkaSource ([`dispatch`]): binary mode over HTTP, ordered or
//!   unordered, retries with exponential backoff, then the dead-letter topic.
//! - `GET /topics` shows offsets, lag and counters; `GET
//!   /topics/{topic}/records` reads a topic (the dead letters, say).
//!
//! It is for development and tests: in a cluster, Knative and Kafka do this.

pub mod dispatch;
mod http;
pub mod log;

use std::path::Path;
use std::sync::{Arc, RwLock};

use serde::Serialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use dispatch::{DeliveryOrder, DeliverySpec, Subscription, SubscriptionStatus};
pub use log::Log;

use dispatch::Dispatcher;

/// The stand-in: the topic log and the subscriptions delivering from it.
pub struct Eventing {
    log: Log,
    dispatchers: Arc<RwLock<Vec<Dispatcher>>>,
    tasks: Vec<JoinHandle<()>>,
    stop: CancellationToken,
}

/// What `GET /topics` answers.
#[derive(Debug, Serialize)]
pub struct Status {
    /// Every topic.
    pub topics: Vec<TopicStatus>,
    /// Every subscription.
    pub subscriptions: Vec<SubscriptionStatus>,
}

/// A topic in [`Status`].
#[derive(Debug, Serialize)]
pub struct TopicStatus {
    /// Its name.
    pub name: String,
    /// The next offset of each partition.
    pub end_offsets: Vec<u64>,
    /// Records ever written (the sum of the end offsets).
    pub records: u64,
}

impl Eventing {
    /// Opens the topic log at `path` with these topics.
    pub async fn open(path: &Path, topics: &[&str], partitions: u32) -> anyhow::Result<Self> {
        Ok(Self {
            log: Log::open(path, topics, partitions).await?,
            dispatchers: Arc::default(),
            tasks: Vec::new(),
            stop: CancellationToken::new(),
        })
    }

    /// The HTTP side: sink endpoints, raw records, status. Takes records up
    /// to `max_record_bytes`.
    pub fn router(&self, max_record_bytes: usize) -> axum::Router {
        http::router(self.log.clone(), self.dispatchers.clone(), max_record_bytes)
    }

    /// Starts delivering a topic to a subscriber.
    pub async fn subscribe(
        &mut self,
        subscription: Subscription,
        delivery: DeliverySpec,
        client: reqwest::Client,
    ) -> anyhow::Result<()> {
        let (dispatcher, task) = Dispatcher::start(
            self.log.clone(),
            subscription,
            delivery,
            client,
            self.stop.child_token(),
        )
        .await?;
        self.dispatchers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(dispatcher);
        self.tasks.push(task);
        Ok(())
    }

    /// Offsets, lag and counters of every topic and subscription.
    pub fn status(&self) -> Status {
        status(&self.log, &self.dispatchers)
    }

    /// Stops every subscription: no new deliveries; attempts in flight
    /// finish; offsets are committed. The sink endpoints keep working.
    pub async fn stop_delivery(&mut self) {
        self.stop.cancel();
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

fn status(log: &Log, dispatchers: &RwLock<Vec<Dispatcher>>) -> Status {
    let topics = log
        .topic_names()
        .into_iter()
        .map(|name| {
            let end_offsets = log.end_offsets(&name);
            TopicStatus {
                records: end_offsets.iter().sum(),
                end_offsets,
                name,
            }
        })
        .collect();
    let subscriptions = dispatchers
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .map(|d| d.status(log))
        .collect();
    Status {
        topics,
        subscriptions,
    }
}
