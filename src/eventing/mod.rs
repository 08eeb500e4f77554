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
//! - [`Retention`] deletes old records every consumer group committed past,
//!   as Kafka's `retention.ms` deletes old segments; offsets never go back.
//! - `GET /topics` shows offsets, lag and counters; `GET
//!   /topics/{topic}/records` reads a topic (the dead letters, say).
//!
//! It is for development and tests: in a cluster, Knative and Kafka do this.

pub mod dispatch;
pub mod filter;
mod http;
pub mod log;
pub mod stored;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

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
    /// The first offset still kept in each partition (the log start offset:
    /// retention deleted everything below it).
    pub start_offsets: Vec<u64>,
    /// The next offset of each partition.
    pub end_offsets: Vec<u64>,
    /// Records ever written (the sum of the end offsets).
    pub records: u64,
    /// Records kept now (end minus start offsets).
    pub retained: u64,
}

/// How long records are kept, as Kafka's `retention.ms`: a record is
/// deleted once it is older than its topic's retention and every consumer
/// group committed past it, never before.
#[derive(Debug, Clone)]
pub struct Retention {
    /// Retention of every topic not in `topics`.
    pub default: Duration,
    /// Retention of particular topics (the dead letters, kept longer).
    pub topics: HashMap<String, Duration>,
    /// How often old records are looked for (Kafka's
    /// `log.retention.check.interval.ms`).
    pub check_every: Duration,
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

    /// Starts deleting what `retention` allows, every `check_every`, until
    /// the deliveries stop. Called after [`Eventing::subscribe`]: a group
    /// that has committed nothing yet holds its topic only once subscribed.
    pub fn retain(&mut self, retention: Retention) {
        self.tasks.push(tokio::spawn(retention_loop(
            self.log.clone(),
            self.dispatchers.clone(),
            retention,
            self.stop.child_token(),
        )));
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

/// Trims every topic each `check_every`, in rounds until a topic has
/// nothing more to delete.
async fn retention_loop(
    log: Log,
    dispatchers: Arc<RwLock<Vec<Dispatcher>>>,
    retention: Retention,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(retention.check_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        for topic in log.topic_names() {
            let keep = retention
                .topics
                .get(&topic)
                .copied()
                .unwrap_or(retention.default);
            // Groups reading now count even before their first commit.
            let groups: Vec<String> = dispatchers
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .iter()
                .map(|d| d.status(&log))
                .filter(|s| s.topic == topic)
                .map(|s| s.group)
                .collect();
            loop {
                match log.trim(&topic, keep, &groups).await {
                    Ok(trimmed) => {
                        if trimmed.deleted > 0 {
                            tracing::debug!(%topic, deleted = trimmed.deleted, "retention deleted old records");
                        }
                        if !trimmed.more || stop.is_cancelled() {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(%topic, error = %e, "retention skipped");
                        break;
                    }
                }
            }
        }
    }
}

fn status(log: &Log, dispatchers: &RwLock<Vec<Dispatcher>>) -> Status {
    let topics = log
        .topic_names()
        .into_iter()
        .map(|name| {
            let end_offsets = log.end_offsets(&name);
            let start_offsets = log.start_offsets(&name);
            TopicStatus {
                records: end_offsets.iter().sum(),
                retained: end_offsets
                    .iter()
                    .zip(&start_offsets)
                    .map(|(end, start)| end.saturating_sub(*start))
                    .sum(),
                start_offsets,
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    use axum::http::StatusCode;

    use super::*;

    /// Serves `router` on a free loopback port; its base URL.
    async fn serve(router: axum::Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        url
    }

    /// A subscriber answering `status` to every event; counts them.
    async fn subscriber(status: StatusCode) -> (reqwest::Url, Arc<AtomicUsize>) {
        replier((status, Vec::new(), "")).await
    }

    /// The stand-in on `dir`, topic `in` (2 partitions) delivered to
    /// `subscriber`, with `retention` checked every 50 ms; its URL.
    async fn stand_in(
        dir: &Path,
        subscriber: reqwest::Url,
        retention: Duration,
    ) -> (Eventing, String) {
        let mut eventing = Eventing::open(&dir.join("topics.db"), &["in", "dead"], 2)
            .await
            .expect("open");
        let subscription = Subscription {
            group: "g".into(),
            topic: "in".into(),
            subscriber,
            ordering: DeliveryOrder::Unordered,
            dead_letter_topic: "dead".into(),
            filter: None,
            reply_to: None,
        };
        let delivery = DeliverySpec {
            retry: 100,
            backoff_delay: Duration::from_secs(3600),
            timeout: Duration::from_secs(5),
            max_in_flight: 8,
            deliveries: 1,
            max_reply_bytes: 1 << 20,
        };
        eventing
            .subscribe(subscription, delivery, reqwest::Client::new())
            .await
            .expect("subscribe");
        eventing.retain(Retention {
            default: retention,
            topics: HashMap::from([("dead".to_owned(), Duration::from_secs(3600))]),
            check_every: Duration::from_millis(50),
        });
        let url = serve(eventing.router(1 << 20)).await;
        (eventing, url)
    }

    async fn send(url: &str, n: usize) {
        let client = reqwest::Client::new();
        for i in 0..n {
            let response = client
                .post(format!("{url}/topics/in/records?key=k{i}"))
                .body(format!("record {i}"))
                .send()
                .await
                .expect("send");
            assert_eq!(response.status(), StatusCode::ACCEPTED);
        }
    }

    /// `GET /topics/{topic}/records`.
    async fn records(url: &str, topic: &str) -> Vec<serde_json::Value> {
        reqwest::get(format!("{url}/topics/{topic}/records"))
            .await
            .expect("read")
            .json()
            .await
            .expect("JSON")
    }

    async fn topic(url: &str, name: &str) -> serde_json::Value {
        let status: serde_json::Value = reqwest::get(format!("{url}/topics"))
            .await
            .expect("GET /topics")
            .json()
            .await
            .expect("JSON");
        status["topics"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("no topic {name} in {status}"))
    }

    #[tokio::test]
    async fn delivered_records_are_deleted_and_offsets_go_on_after_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (to, received) = subscriber(StatusCode::OK).await;
        let (mut eventing, url) = stand_in(dir.path(), to.clone(), Duration::ZERO).await;
        send(&url, 10).await;
        let deadline = Instant::now() + Duration::from_secs(20);
        let ends = loop {
            let t = topic(&url, "in").await;
            if t["retained"] == 0 && t["records"] == 10 {
                assert_eq!(t["start_offsets"], t["end_offsets"], "{t}");
                break t["end_offsets"].clone();
            }
            assert!(Instant::now() < deadline, "not deleted: {t}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(received.load(Ordering::SeqCst), 10);
        let read = records(&url, "in").await;
        assert!(read.is_empty(), "{read:?}");
        eventing.stop_delivery().await;
        drop(eventing);

        // Restarted: the offsets go on past the deleted records.
        let (mut eventing, url) = stand_in(dir.path(), to, Duration::from_secs(3600)).await;
        let t = topic(&url, "in").await;
        assert_eq!(t["end_offsets"], ends, "{t}");
        assert_eq!(t["start_offsets"], ends, "{t}");
        send(&url, 4).await;
        let read = records(&url, "in").await;
        assert_eq!(read.len(), 4);
        for record in read {
            let partition = record["partition"].as_u64().expect("partition") as usize;
            assert!(
                record["offset"].as_u64() >= ends[partition].as_u64(),
                "{record}"
            );
        }
        eventing.stop_delivery().await;
    }

    /// A subscriber answering 200; keeps each request's CloudEvent headers
    /// (`ce-*`, `content-type`, `traceparent`) and body.
    async fn recorder() -> (reqwest::Url, Arc<std::sync::Mutex<Vec<Request>>>) {
        let received: Arc<std::sync::Mutex<Vec<Request>>> = Arc::default();
        let kept = received.clone();
        let router = axum::Router::new().route(
            "/",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, body: bytes::Bytes| async move {
                    let mut pairs: Vec<(String, Vec<u8>)> = headers
                        .iter()
                        .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
                        .filter(|(n, _)| {
                            n.starts_with("ce-") || n == "content-type" || n == "traceparent"
                        })
                        .collect();
                    pairs.sort();
                    kept.lock().expect("lock").push((pairs, body.to_vec()));
                    StatusCode::OK
                },
            ),
        );
        let url = format!("{}/", serve(router).await).parse().expect("url");
        (url, received)
    }

    type Request = (Vec<(String, Vec<u8>)>, Vec<u8>);

    #[tokio::test]
    async fn an_event_stored_as_json_by_an_older_version_is_delivered_as_before() {
        use cloudevents::{EventBuilder, EventBuilderV10};

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("topics.db");
        drop(
            Eventing::open(&path, &["in", "dead"], 2)
                .await
                .expect("open"),
        );
        let trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let data = r#"{"mmid1":1,"mmid2":2,"note":"Zürich 100%"}"#.as_bytes();
        let event = EventBuilderV10::new()
            .id("old 1")
            .source("/e2e/old")
            .ty("dev.pact.contact.untranslated")
            .time(chrono::DateTime::from_timestamp_millis(1_764_000_000_123).expect("time"))
            .extension("partitionkey", "1-2")
            .extension("traceparent", trace)
            .data(
                "application/json",
                serde_json::from_slice::<serde_json::Value>(data).expect("JSON"),
            )
            .build()
            .expect("valid");
        // What the previous version stored: kind 0, the structured JSON.
        let mut db = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
            "sqlite://{}",
            path.display()
        ))
        .await
        .expect("connect");
        sqlx::query(
            "INSERT INTO records (topic, partition, offset, key, kind, value, content_type, appended_at)
             VALUES ('in', ?, 0, '1-2', 0, ?, NULL, ?)",
        )
        .bind(log::partition_for(b"1-2", 2))
        .bind(serde_json::to_vec(&event).expect("JSON"))
        .bind(chrono::Utc::now().timestamp_millis())
        .execute(&mut db)
        .await
        .expect("insert");
        drop(db);

        let (to, received) = recorder().await;
        let (mut eventing, url) = stand_in(dir.path(), to, Duration::from_secs(3600)).await;
        // The same event as a sink takes it now, in binary mode.
        let response = reqwest::Client::new()
            .post(format!("{url}/topics/in"))
            .header("ce-specversion", "1.0")
            .header("ce-id", "old%201")
            .header("ce-source", "/e2e/old")
            .header("ce-type", "dev.pact.contact.untranslated")
            .header("ce-time", "2025-11-24T16:00:00.123Z")
            .header("ce-partitionkey", "1-2")
            .header("ce-traceparent", trace)
            .header("content-type", "application/json")
            .body(data)
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let deadline = Instant::now() + Duration::from_secs(20);
        while received.lock().expect("lock").len() < 2 {
            assert!(Instant::now() < deadline, "not delivered");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let received = received.lock().expect("lock").clone();
        assert_eq!(received[0], received[1], "the same request from both forms");
        let (headers, body) = &received[0];
        let value = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        };
        assert_eq!(value("ce-id").as_deref(), Some("old%201"));
        assert_eq!(value("traceparent").as_deref(), Some(trace));
        assert_eq!(value("content-type").as_deref(), Some("application/json"));
        assert_eq!(body, data);

        // Both read as the structured JSON the log always showed.
        let read = records(&url, "in").await;
        assert_eq!(read.len(), 2, "{read:?}");
        assert_eq!(
            read[0]["event"],
            serde_json::to_value(&event).expect("JSON")
        );
        let new = &read[1]["event"];
        assert_eq!(new["id"], "old 1", "{new}");
        assert_eq!(new["traceparent"], trace, "{new}");
        assert_eq!(new["time"], "2025-11-24T16:00:00.123Z", "{new}");
        eventing.stop_delivery().await;
    }

    #[tokio::test]
    async fn records_not_committed_are_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Always 503: each record waits an hour for its retry, uncommitted.
        let (to, received) = subscriber(StatusCode::SERVICE_UNAVAILABLE).await;
        let (mut eventing, url) = stand_in(dir.path(), to, Duration::ZERO).await;
        send(&url, 6).await;
        let deadline = Instant::now() + Duration::from_secs(20);
        while received.load(Ordering::SeqCst) < 6 {
            assert!(Instant::now() < deadline, "not delivered");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Several retention rounds.
        tokio::time::sleep(Duration::from_millis(400)).await;
        let t = topic(&url, "in").await;
        assert_eq!(t["retained"], 6, "{t}");
        assert_eq!(t["start_offsets"], serde_json::json!([0, 0]), "{t}");
        eventing.stop_delivery().await;
    }

    /// A subscriber that answers each event with `reply` (status, headers,
    /// body); counts the requests.
    async fn replier(
        reply: (StatusCode, Vec<(&'static str, &'static str)>, &'static str),
    ) -> (reqwest::Url, Arc<AtomicUsize>) {
        let received = Arc::new(AtomicUsize::new(0));
        let counter = received.clone();
        let router = axum::Router::new().route(
            "/",
            axum::routing::post(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                let (status, headers, body) = reply.clone();
                async move {
                    let mut response = axum::response::IntoResponse::into_response((status, body));
                    for (name, value) in headers {
                        response.headers_mut().insert(
                            axum::http::HeaderName::from_static(name),
                            axum::http::HeaderValue::from_static(value),
                        );
                    }
                    response
                }
            }),
        );
        let url = format!("{}/", serve(router).await).parse().expect("url");
        (url, received)
    }

    /// A Trigger on topic `broker` taking events of type `ty`.
    fn trigger(name: &str, ty: &str, subscriber: reqwest::Url) -> Subscription {
        let filter: filter::TriggerFilter =
            serde_json::from_value(serde_json::json!({"filters": [{"exact": {"type": ty}}]}))
                .expect("filter");
        Subscription {
            group: format!("knative-trigger-pact-{name}"),
            topic: "broker".into(),
            subscriber,
            ordering: DeliveryOrder::Unordered,
            dead_letter_topic: "dead".into(),
            filter: Some(filter),
            reply_to: Some("broker".into()),
        }
    }

    async fn send_event(url: &str, id: usize, ty: &str) {
        let response = reqwest::Client::new()
            .post(format!("{url}/topics/broker"))
            .header("ce-specversion", "1.0")
            .header("ce-id", id.to_string())
            .header("ce-source", "/test")
            .header("ce-type", ty)
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }

    async fn subscriptions(url: &str) -> Vec<serde_json::Value> {
        let status: serde_json::Value = reqwest::get(format!("{url}/topics"))
            .await
            .expect("GET /topics")
            .json()
            .await
            .expect("JSON");
        status["subscriptions"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn triggers_filter_and_their_replies_go_back_to_the_broker() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut eventing = Eventing::open(&dir.path().join("topics.db"), &["broker", "dead"], 2)
            .await
            .expect("open");
        // `a` is answered with a `b` in binary mode; `b` with nothing.
        let (to_a, got_a) = replier((
            StatusCode::OK,
            vec![
                ("ce-specversion", "1.0"),
                ("ce-id", "reply"),
                ("ce-source", "/a"),
                ("ce-type", "b"),
                ("ce-partitionkey", "1-2"),
            ],
            "",
        ))
        .await;
        let (to_b, got_b) = subscriber(StatusCode::ACCEPTED).await;
        let delivery = DeliverySpec {
            retry: 3,
            backoff_delay: Duration::from_millis(10),
            timeout: Duration::from_secs(5),
            max_in_flight: 8,
            deliveries: 1,
            max_reply_bytes: 1 << 20,
        };
        for subscription in [trigger("a", "a", to_a), trigger("b", "b", to_b)] {
            eventing
                .subscribe(subscription, delivery.clone(), reqwest::Client::new())
                .await
                .expect("subscribe");
        }
        let url = serve(eventing.router(1 << 20)).await;
        for id in 0..3 {
            send_event(&url, id, "a").await;
        }
        for id in 3..5 {
            send_event(&url, id, "c").await;
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        let settled = loop {
            let subscriptions = subscriptions(&url).await;
            let lag: u64 = subscriptions.iter().filter_map(|s| s["lag"].as_u64()).sum();
            if got_b.load(Ordering::SeqCst) == 3 && lag == 0 {
                break subscriptions;
            }
            assert!(Instant::now() < deadline, "not settled: {subscriptions:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(got_a.load(Ordering::SeqCst), 3, "only the a events");
        let [a, b] = &settled[..] else {
            panic!("two triggers: {settled:?}")
        };
        // 3 a + 2 c + 3 replies in the Broker's topic.
        assert_eq!(
            (&a["delivered"], &a["filtered"], &a["replies"]),
            (&3.into(), &5.into(), &3.into())
        );
        assert_eq!(
            (&b["delivered"], &b["filtered"], &b["replies"]),
            (&3.into(), &5.into(), &0.into())
        );
        assert_eq!(topic(&url, "broker").await["records"], 8);
        assert_eq!(topic(&url, "dead").await["records"], 0);
        // Replies are keyed by their partitionkey, as the Kafka Broker's
        // dispatcher keys them.
        let records = records(&url, "broker").await;
        let replies: Vec<&serde_json::Value> = records
            .iter()
            .filter(|r| r["event"]["type"] == "b")
            .collect();
        assert_eq!(replies.len(), 3, "{records:?}");
        assert!(replies.iter().all(|r| r["key"] == "1-2"), "{replies:?}");
        eventing.stop_delivery().await;
    }

    /// Delivers one event of type `a` to a Trigger whose subscriber answers
    /// `reply`, with replies limited to `max_reply_bytes`, and waits for its
    /// dead letter: the subscriber's request count, the dead letter's
    /// `knativeerrordata`, the records of the Broker's topic.
    async fn dead_lettered_reply(
        reply: (StatusCode, Vec<(&'static str, &'static str)>, &'static str),
        max_reply_bytes: usize,
    ) -> (usize, String, serde_json::Value) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut eventing = Eventing::open(&dir.path().join("topics.db"), &["broker", "dead"], 1)
            .await
            .expect("open");
        let (to, received) = replier(reply).await;
        let delivery = DeliverySpec {
            retry: 5,
            backoff_delay: Duration::from_millis(10),
            timeout: Duration::from_secs(5),
            max_in_flight: 8,
            deliveries: 1,
            max_reply_bytes,
        };
        eventing
            .subscribe(trigger("a", "a", to), delivery, reqwest::Client::new())
            .await
            .expect("subscribe");
        let url = serve(eventing.router(1 << 20)).await;
        send_event(&url, 1, "a").await;
        let deadline = Instant::now() + Duration::from_secs(20);
        while topic(&url, "dead").await["records"] != 1 {
            assert!(Instant::now() < deadline, "not dead-lettered");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let dead = records(&url, "dead").await;
        let error = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            dead[0]["event"]["knativeerrordata"]
                .as_str()
                .unwrap_or_default(),
        )
        .expect("base64");
        let broker = topic(&url, "broker").await["records"].clone();
        eventing.stop_delivery().await;
        (
            received.load(Ordering::SeqCst),
            String::from_utf8_lossy(&error).into_owned(),
            broker,
        )
    }

    #[tokio::test]
    async fn a_reply_that_is_not_an_event_is_dead_lettered_without_retries() {
        let reply = (
            StatusCode::OK,
            vec![("content-type", "text/plain")],
            "not an event",
        );
        let (received, error, broker) = dead_lettered_reply(reply, 1 << 20).await;
        assert_eq!(received, 1, "no retry");
        assert!(error.contains("unable to decode the reply"), "{error}");
        assert_eq!(broker, 1, "no reply appended");
    }

    #[tokio::test]
    async fn a_reply_larger_than_a_record_may_be_is_dead_lettered() {
        // A valid event in structured mode, over the 64 bytes allowed.
        let reply = (
            StatusCode::OK,
            vec![("content-type", "application/cloudevents+json")],
            r#"{"specversion":"1.0","id":"r","source":"/a","type":"b","data":{"padding":"0123456789"}}"#,
        );
        let (received, error, broker) = dead_lettered_reply(reply, 64).await;
        assert_eq!(received, 1, "no retry");
        assert!(error.contains("larger than the 64 bytes"), "{error}");
        assert_eq!(broker, 1, "no reply appended");
    }
}
