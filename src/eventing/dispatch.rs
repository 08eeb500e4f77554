//! Delivery from a topic to a subscriber, as a KafkaSource does it, or as
//! the Kafka Broker delivers a Trigger.
//!
//! One loop per partition reads records from the consumer group's committed
//! offset and POSTs each to the subscriber in binary mode. `ordered` sends
//! one record at a time per partition; `unordered` keeps up to
//! `max_in_flight` per partition. A failed delivery is retried with
//! exponential backoff (`backoff_delay * 2^n` before retry n, from 0) on
//! 5xx, 404, 408, 409, 429, timeouts and connection errors; any other
//! answer, or the retries running
//! out, sends the event to the dead-letter topic with Knative's
//! `knativeerrordest`, `knativeerrorcode` and `knativeerrordata` extensions.
//! Every delivery carries `Prefer: reply`, as Knative's dispatchers send it;
//! a KafkaSource discards the replies.
//!
//! A Trigger ([`Subscription::filter`] and [`Subscription::reply_to`] set)
//! skips the records its filter refuses (committed, never sent), and
//! appends its subscriber's reply to the Broker's topic before the record
//! counts as delivered, as the Kafka Broker's dispatcher does at
//! knative-v1.23.0 (`ResponseToKafkaTopicHandler`, keyed by `partitionkey`
//! by its producer's `PartitionKeyExtensionInterceptor`): an empty body is no
//! reply; a body that is not a CloudEvent fails the delivery, which then
//! goes to the dead-letter topic without further retries.
//!
//! The committed offset only moves past a record once it was delivered or
//! dead-lettered (for `unordered`: once every record before it was too), so a
//! stop or a crash redelivers, never skips: at-least-once, like Kafka.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use cloudevents::binding::reqwest::RequestBuilderExt;
use cloudevents::{AttributesReader, Event, EventBuilder, EventBuilderV10};
use http::HeaderMap;
use pact_runtime::binary::{event_from_http, for_binary_mode};
use pact_runtime::cloudevents;
use pact_runtime::retry;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::filter::TriggerFilter;
use super::log::{Log, Record, Value};
use super::stored;

/// `ordered` (one event at a time per partition, KafkaSource's default) or
/// `unordered` (many in flight per partition).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryOrder {
    /// One at a time per partition, in offset order.
    Ordered,
    /// Up to `max_in_flight` per partition.
    Unordered,
}

/// A KafkaSource: a topic, a consumer group and the subscriber it feeds.
#[derive(Debug, Clone)]
pub struct Subscription {
    /// Consumer group: where the committed offsets are kept.
    pub group: String,
    /// Topic read.
    pub topic: String,
    /// Where events are POSTed.
    pub subscriber: reqwest::Url,
    /// Delivery order.
    pub ordering: DeliveryOrder,
    /// Topic that takes events that could not be delivered.
    pub dead_letter_topic: String,
    /// A Trigger's filter: records it refuses are skipped.
    pub filter: Option<TriggerFilter>,
    /// A Trigger's Broker topic, which takes the subscriber's replies
    /// (`None`: replies are discarded, as by a KafkaSource).
    pub reply_to: Option<String>,
}

/// The `delivery` spec of every subscription.
#[derive(Debug, Clone)]
pub struct DeliverySpec {
    /// Retries after the first attempt.
    pub retry: u32,
    /// Delay before the first retry; doubles each retry.
    pub backoff_delay: Duration,
    /// Time limit of one attempt.
    pub timeout: Duration,
    /// Events in flight per partition when `unordered`.
    pub max_in_flight: usize,
    /// Times each event is delivered once it was taken, 1 normally (a test
    /// setting above that: subscribers must be idempotent).
    pub deliveries: u32,
    /// The largest reply a Trigger appends (the topic's record limit): a
    /// larger one fails the delivery, as Kafka refuses a record above
    /// `max.message.bytes`.
    pub max_reply_bytes: usize,
}

/// The longest `Retry-After` honoured, as Knative's `retryAfterMax`.
const RETRY_AFTER_MAX: Duration = Duration::from_secs(30);
/// Knative keeps at most this much of an error response in `knativeerrordata`.
const ERROR_DATA_MAX: usize = 1024;
/// Records read from the log at once.
const FETCH: u32 = 256;
/// How often committed offsets are written.
const COMMIT_EVERY: Duration = Duration::from_millis(100);

/// Counters of one subscription, for `GET /topics`.
#[derive(Debug, Default)]
pub struct Counters {
    delivered: AtomicU64,
    retried: AtomicU64,
    dead_lettered: AtomicU64,
    filtered: AtomicU64,
    replies: AtomicU64,
}

/// What `GET /topics` shows of a subscription.
#[derive(Debug, Serialize)]
pub struct SubscriptionStatus {
    /// Consumer group.
    pub group: String,
    /// Topic read.
    pub topic: String,
    /// Subscriber URL.
    pub subscriber: String,
    /// Delivery order.
    pub ordering: DeliveryOrder,
    /// Committed offset per partition.
    pub committed: Vec<u64>,
    /// Records not yet delivered, over all partitions.
    pub lag: u64,
    /// Events delivered (2xx).
    pub delivered: u64,
    /// Retries made.
    pub retried: u64,
    /// Events sent to the dead-letter topic.
    pub dead_lettered: u64,
    /// A Trigger's filter: `null` for a KafkaSource.
    pub filter: Option<TriggerFilter>,
    /// Records the filter refused (skipped).
    pub filtered: u64,
    /// Where replies go (a Trigger's Broker topic); `null`: discarded.
    pub reply_to: Option<String>,
    /// Replies appended to `reply_to`.
    pub replies: u64,
}

/// A running subscription.
pub struct Dispatcher {
    subscription: Subscription,
    committed: Arc<Vec<Tracker>>,
    counters: Arc<Counters>,
}

impl Dispatcher {
    /// Starts delivering from the committed offsets; runs until `stop`, then
    /// lets in-flight attempts finish and commits. The task ends when all
    /// of that is done.
    pub async fn start(
        log: Log,
        subscription: Subscription,
        delivery: DeliverySpec,
        client: reqwest::Client,
        stop: CancellationToken,
    ) -> anyhow::Result<(Self, tokio::task::JoinHandle<()>)> {
        let start = log
            .committed(&subscription.group, &subscription.topic)
            .await?;
        let committed: Arc<Vec<Tracker>> =
            Arc::new(start.iter().map(|&o| Tracker::new(o)).collect());
        let counters = Arc::new(Counters::default());
        let shared = Arc::new(Shared {
            log: log.clone(),
            subscription: subscription.clone(),
            delivery,
            client,
            counters: counters.clone(),
        });
        let mut partitions = JoinSet::new();
        for partition in 0..log.partitions(&subscription.topic) {
            partitions.spawn(partition_loop(
                shared.clone(),
                partition,
                committed.clone(),
                stop.clone(),
            ));
        }
        let task = tokio::spawn(commit_loop(shared, committed.clone(), partitions, stop));
        Ok((
            Self {
                subscription,
                committed,
                counters,
            },
            task,
        ))
    }

    /// The subscription's offsets, lag and counters.
    pub fn status(&self, log: &Log) -> SubscriptionStatus {
        let committed: Vec<u64> = self.committed.iter().map(Tracker::get).collect();
        let ends = log.end_offsets(&self.subscription.topic);
        let lag = ends
            .iter()
            .zip(&committed)
            .map(|(end, done)| end.saturating_sub(*done))
            .sum();
        SubscriptionStatus {
            group: self.subscription.group.clone(),
            topic: self.subscription.topic.clone(),
            subscriber: self.subscription.subscriber.to_string(),
            ordering: self.subscription.ordering,
            committed,
            lag,
            delivered: self.counters.delivered.load(AtomicOrdering::Relaxed),
            retried: self.counters.retried.load(AtomicOrdering::Relaxed),
            dead_lettered: self.counters.dead_lettered.load(AtomicOrdering::Relaxed),
            filter: self.subscription.filter.clone(),
            filtered: self.counters.filtered.load(AtomicOrdering::Relaxed),
            reply_to: self.subscription.reply_to.clone(),
            replies: self.counters.replies.load(AtomicOrdering::Relaxed),
        }
    }
}

struct Shared {
    log: Log,
    subscription: Subscription,
    delivery: DeliverySpec,
    client: reqwest::Client,
    counters: Arc<Counters>,
}

/// A partition's committed offset: the lowest offset not yet done, with the
/// offsets done above it (unordered delivery finishes out of order).
struct Tracker {
    committed: AtomicU64,
    done_above: Mutex<BTreeSet<u64>>,
}

impl Tracker {
    fn new(committed: u64) -> Self {
        Self {
            committed: AtomicU64::new(committed),
            done_above: Mutex::new(BTreeSet::new()),
        }
    }

    fn get(&self) -> u64 {
        self.committed.load(AtomicOrdering::Acquire)
    }

    fn done(&self, offset: u64) {
        let mut above = self
            .done_above
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut committed = self.get();
        if offset != committed {
            above.insert(offset);
            return;
        }
        committed += 1;
        while above.remove(&committed) {
            committed += 1;
        }
        self.committed.store(committed, AtomicOrdering::Release);
    }
}

async fn partition_loop(
    shared: Arc<Shared>,
    partition: u32,
    committed: Arc<Vec<Tracker>>,
    stop: CancellationToken,
) {
    let topic = shared.subscription.topic.clone();
    let Some(mut end) = shared.log.watch_end(&topic, partition) else {
        return;
    };
    let tracker = &committed[partition as usize];
    let permits = Arc::new(Semaphore::new(match shared.subscription.ordering {
        DeliveryOrder::Ordered => 1,
        DeliveryOrder::Unordered => shared.delivery.max_in_flight.max(1),
    }));
    let mut next = tracker.get();
    let mut in_flight = JoinSet::new();
    'fetch: while !stop.is_cancelled() {
        while in_flight.try_join_next().is_some() {}
        if next >= *end.borrow_and_update() {
            tokio::select! {
                _ = end.changed() => continue,
                () = stop.cancelled() => break,
            }
        }
        let records = match shared.log.read(&topic, partition, next, FETCH).await {
            Ok(records) => records,
            Err(e) => {
                tracing::error!(%topic, partition, error = %e, "cannot read the topic log; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        for record in records {
            let permit = tokio::select! {
                permit = permits.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break 'fetch,
                },
                () = stop.cancelled() => break 'fetch,
            };
            next = record.offset + 1;
            let shared = shared.clone();
            let committed = committed.clone();
            let stop = stop.clone();
            in_flight.spawn(async move {
                let offset = record.offset;
                if deliver(&shared, record, &stop).await {
                    committed[partition as usize].done(offset);
                }
                drop(permit);
            });
        }
    }
    // Attempts in progress finish (each is bounded by the delivery
    // timeout); those waiting for a retry gave up at the stop and stay
    // uncommitted, to be delivered again by the next run.
    while in_flight.join_next().await.is_some() {}
}

/// Writes the committed offsets whenever they moved, and once more after
/// every partition loop ended.
async fn commit_loop(
    shared: Arc<Shared>,
    committed: Arc<Vec<Tracker>>,
    mut partitions: JoinSet<()>,
    stop: CancellationToken,
) {
    let subscription = &shared.subscription;
    let mut written: Vec<u64> = committed.iter().map(Tracker::get).collect();
    let mut tick = tokio::time::interval(COMMIT_EVERY);
    loop {
        let stopping = tokio::select! {
            _ = tick.tick() => false,
            () = stop.cancelled() => true,
        };
        if stopping {
            while partitions.join_next().await.is_some() {}
        }
        let now: Vec<u64> = committed.iter().map(Tracker::get).collect();
        if now != written {
            match shared
                .log
                .commit(&subscription.group, &subscription.topic, now.clone())
                .await
            {
                Ok(()) => written = now,
                Err(e) => {
                    tracing::error!(group = %subscription.group, error = %e, "cannot commit offsets")
                }
            }
        }
        if stopping {
            return;
        }
    }
}

/// How one attempt ended.
enum Attempt {
    /// 2xx; with the reply a Trigger appends to its Broker.
    Delivered(Option<Box<Event>>),
    /// Worth retrying; with the answer's status if there was one.
    Retry {
        code: Option<u16>,
        data: String,
        retry_after: Option<Duration>,
    },
    /// Not worth retrying: straight to the dead-letter topic.
    Permanent { code: u16, data: String },
}

/// Delivers one record with retries, or dead-letters it. `false` when it
/// must be delivered again later (the stop came first, or the dead-letter
/// topic could not take it).
async fn deliver(shared: &Shared, record: Record, stop: &CancellationToken) -> bool {
    if let Some(filter) = &shared.subscription.filter {
        match filter_view(&shared.subscription, &record) {
            Ok(event) if filter.accepts(&event) => {}
            Ok(_) => {
                shared
                    .counters
                    .filtered
                    .fetch_add(1, AtomicOrdering::Relaxed);
                return true;
            }
            Err(e) => {
                tracing::error!(offset = record.offset, error = %e, "a stored record is not readable; skipped");
                return true;
            }
        }
    }
    let message = match message(&shared.subscription, &record) {
        Ok(message) => message,
        Err(e) => {
            // Only events that parsed at the sink are stored; this is a bug.
            tracing::error!(offset = record.offset, error = %e, "a stored record is not readable; skipped");
            return true;
        }
    };
    let delivery = &shared.delivery;
    let mut last = (None, String::new());
    for attempt in 0..=delivery.retry {
        if attempt > 0 {
            shared
                .counters
                .retried
                .fetch_add(1, AtomicOrdering::Relaxed);
        }
        match send(shared, &message).await {
            Attempt::Delivered(reply) => {
                shared
                    .counters
                    .delivered
                    .fetch_add(1, AtomicOrdering::Relaxed);
                if !append_reply(shared, reply).await {
                    return false;
                }
                for _ in 1..delivery.deliveries {
                    // A redelivery's reply is a duplicate too, as in Kafka.
                    if let Attempt::Delivered(reply) = send(shared, &message).await {
                        let _ = append_reply(shared, reply).await;
                    }
                }
                return true;
            }
            Attempt::Permanent { code, data } => {
                last = (Some(code), data);
                break;
            }
            Attempt::Retry {
                code,
                data,
                retry_after,
            } => {
                last = (code, data);
                if attempt == delivery.retry {
                    break;
                }
                // Knative's exponential policy has no jitter: delay * 2^attempt.
                let backoff =
                    retry::exponential(delivery.backoff_delay, attempt + 1, Duration::MAX);
                let wait = retry::wait(backoff, retry_after);
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = stop.cancelled() => return false,
                }
            }
        }
    }
    let (code, data) = last;
    let event = match message {
        Message::Event(event) => event,
        Message::Binary(..) => match as_event(&shared.subscription, &record) {
            Ok(event) => event,
            Err(e) => {
                tracing::error!(offset = record.offset, error = %e, "a stored record is not readable; not dead-lettered");
                return true;
            }
        },
    };
    dead_letter(shared, &record, event, code, &data).await
}

/// What a delivery sends: a stored event's request as it was stored, or an
/// event encoded for each attempt (raw records, and what binary mode cannot
/// carry exactly).
enum Message {
    Binary(HeaderMap, Bytes),
    Event(Event),
}

fn message(subscription: &Subscription, record: &Record) -> anyhow::Result<Message> {
    match &record.value {
        Value::Binary(form) => {
            let (headers, body) = stored::decode(form)?;
            Ok(Message::Binary(headers, body))
        }
        Value::Event(_) | Value::Raw { .. } => Ok(Message::Event(as_event(subscription, record)?)),
    }
}

async fn send(shared: &Shared, message: &Message) -> Attempt {
    // Knative's dispatchers say they take a reply on every delivery (the
    // KafkaSource's too, which then discards it).
    let request = shared
        .client
        .post(shared.subscription.subscriber.clone())
        .timeout(shared.delivery.timeout)
        .header("prefer", "reply");
    let request = match message {
        Message::Binary(headers, body) => request.headers(headers.clone()).body(body.clone()),
        Message::Event(event) => match request.event(for_binary_mode(event.clone())) {
            Ok(request) => match event.extension("traceparent") {
                Some(trace) => request.header("traceparent", trace.to_string()),
                None => request,
            },
            Err(e) => {
                return Attempt::Permanent {
                    code: 0,
                    data: format!("cannot encode the event: {e}"),
                };
            }
        },
    };
    let response = match request.send().await {
        Ok(response) => response,
        Err(e) => {
            return Attempt::Retry {
                code: None,
                data: format!("dispatch error: {}", pact_runtime::error::chain(&e)),
                retry_after: None,
            };
        }
    };
    let status = response.status();
    let retry_after = retry::retry_after(response.headers(), RETRY_AFTER_MAX);
    // Read the body: the connection is reused, and an error body is the
    // dead letter's `knativeerrordata`.
    let headers = response.headers().clone();
    // Only a Trigger's reply is read whole (up to what its topic takes).
    let wanted = match (status.is_success(), &shared.subscription.reply_to) {
        (true, None) => 0,
        (true, Some(_)) => shared.delivery.max_reply_bytes,
        (false, _) => ERROR_DATA_MAX,
    };
    let (body, whole) = read_at_most(response, wanted).await;
    if status.is_success() {
        if shared.subscription.reply_to.is_none()
            || body.is_empty() && whole && !headers.contains_key("ce-specversion")
        {
            return Attempt::Delivered(None);
        }
        if !whole {
            return Attempt::Permanent {
                code: status.as_u16(),
                data: format!(
                    "the reply is larger than the {} bytes a record may have",
                    shared.delivery.max_reply_bytes
                ),
            };
        }
        return match event_from_http(&headers, body.to_vec()) {
            Ok(reply) => Attempt::Delivered(Some(Box::new(reply))),
            Err(e) => Attempt::Permanent {
                code: status.as_u16(),
                data: format!("unable to decode the reply: {e}"),
            },
        };
    }
    let data = String::from_utf8_lossy(&body[..body.len().min(ERROR_DATA_MAX)]).into_owned();
    if retry::is_retryable(status) {
        Attempt::Retry {
            code: Some(status.as_u16()),
            data,
            retry_after,
        }
    } else {
        Attempt::Permanent {
            code: status.as_u16(),
            data,
        }
    }
}

async fn dead_letter(
    shared: &Shared,
    record: &Record,
    mut event: Event,
    code: Option<u16>,
    data: &str,
) -> bool {
    let subscription = &shared.subscription;
    tracing::warn!(
        group = %subscription.group,
        id = %event.id(),
        code = code.unwrap_or_default(),
        error = %data,
        "event not delivered; sent to {}",
        subscription.dead_letter_topic
    );
    event.set_extension("knativeerrordest", subscription.subscriber.to_string());
    if let Some(code) = code.filter(|&c| c > 0) {
        event.set_extension("knativeerrorcode", i64::from(code));
    }
    let data = data.as_bytes();
    event.set_extension(
        "knativeerrordata",
        base64::engine::general_purpose::STANDARD.encode(&data[..data.len().min(ERROR_DATA_MAX)]),
    );
    let value = match serde_json::to_vec(&event) {
        Ok(json) => Value::Event(json.into()),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode a dead letter");
            return false;
        }
    };
    match shared
        .log
        .append(&subscription.dead_letter_topic, record.key.clone(), value)
        .await
    {
        Ok(_) => {
            shared
                .counters
                .dead_lettered
                .fetch_add(1, AtomicOrdering::Relaxed);
            true
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot store a dead letter; the event stays undelivered");
            false
        }
    }
}

/// Up to `limit` bytes of a response's body, and whether that was all of
/// it. The rest is drained (bounded by the attempt's timeout) so that the
/// connection can be reused.
async fn read_at_most(mut response: reqwest::Response, limit: usize) -> (Bytes, bool) {
    let mut body = bytes::BytesMut::new();
    let mut whole = true;
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = limit.saturating_sub(body.len());
        if chunk.len() > room {
            whole = false;
        }
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    (body.freeze(), whole)
}

/// Appends a Trigger's reply to its Broker's topic, keyed by its
/// `partitionkey` as the Kafka Broker's dispatcher keys it; `false` when the
/// topic did not take it, so that the record stays undelivered.
async fn append_reply(shared: &Shared, reply: Option<Box<Event>>) -> bool {
    let (Some(topic), Some(reply)) = (&shared.subscription.reply_to, reply) else {
        return true;
    };
    let value = match stored::value(&reply) {
        Ok(value) => value,
        Err(e) => {
            tracing::error!(id = %reply.id(), error = %e, "cannot store a reply; the event stays undelivered");
            return false;
        }
    };
    let key = reply.extension("partitionkey").map(ToString::to_string);
    match shared.log.append(topic, key, value).await {
        Ok(_) => {
            shared
                .counters
                .replies
                .fetch_add(1, AtomicOrdering::Relaxed);
            true
        }
        Err(e) => {
            tracing::error!(%topic, error = %e, "cannot store a reply; the event stays undelivered");
            false
        }
    }
}

/// The event a Trigger's filter reads: a stored event as it was taken.
fn filter_view(subscription: &Subscription, record: &Record) -> anyhow::Result<Event> {
    match &record.value {
        Value::Binary(form) => stored::to_event(form),
        Value::Event(_) | Value::Raw { .. } => as_event(subscription, record),
    }
}

/// The event a record is delivered as: a stored CloudEvent as it was, raw
/// bytes inside a KafkaSource envelope (`dev.knative.kafka.event`).
fn as_event(subscription: &Subscription, record: &Record) -> anyhow::Result<Event> {
    match &record.value {
        // Read back as from the structured JSON events were stored as before
        // (JSON data in base64 becomes JSON): dead letters stay as they were.
        Value::Binary(form) => Ok(serde_json::from_slice(&serde_json::to_vec(
            &stored::to_event(form)?,
        )?)?),
        Value::Event(json) => Ok(serde_json::from_slice(json)?),
        Value::Raw {
            bytes,
            content_type,
        } => {
            let mut builder = EventBuilderV10::new()
                .id(format!(
                    "partition:{}/offset:{}",
                    record.partition, record.offset
                ))
                .source(format!(
                    "/apis/v1/namespaces/pact/kafkasources/{}#{}",
                    subscription.group, subscription.topic
                ))
                .ty("dev.knative.kafka.event")
                .subject(format!("partition:{}#{}", record.partition, record.offset))
                .time(record.appended_at)
                .extension("knativekafkapartition", i64::from(record.partition))
                .extension(
                    "knativekafkaoffset",
                    i64::try_from(record.offset).unwrap_or(i64::MAX),
                );
            if let Some(key) = &record.key {
                builder = builder.extension("key", key.as_str());
            }
            let mut event = builder.build()?;
            let data = bytes.to_vec();
            match content_type {
                Some(content_type) => {
                    event.set_data(content_type.as_str(), data);
                }
                None => {
                    event.set_data_unchecked(data);
                }
            }
            Ok(event)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracker_commits_contiguous_offsets_only() {
        let tracker = Tracker::new(10);
        tracker.done(12);
        tracker.done(11);
        assert_eq!(tracker.get(), 10, "10 is still in flight");
        tracker.done(10);
        assert_eq!(tracker.get(), 13);
        tracker.done(14);
        assert_eq!(tracker.get(), 13);
    }
}
