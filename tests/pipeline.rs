//! The whole pipeline end to end: `pact dev` (the five functions as their
//! own processes, joined by the eventing stand-in) driven over real HTTP,
//! broken on purpose, and then counted: every contact stored once, none
//! lost, none doubled; every person exposed to a reported case notified
//! once.
//!
//! Every scenario runs in both topologies of `pact dev --topology`
//! (docs/topologies.md): `explicit::<scenario>` (a topic and a KafkaSource
//! per hop) and `broker::<scenario>` (one Broker topic, a Trigger per
//! stage, replies appended back, raw records fed in by a KafkaSource). The
//! topics, groups and counters each asserts on are those of its topology,
//! named from pipeline.toml ([`Flow`]).
//!
//! Each test has its own directory, ports the OS picks, and (for
//! PostgreSQL) its own database, so they run in parallel. PostgreSQL tests
//! use `DATABASE_URL` (CI sets it) or postgres://postgres@127.0.0.1:5432/postgres;
//! they are never skipped.

#[path = "pipeline/harness.rs"]
mod harness;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use base64::Engine as _;
use harness::{
    Contact, Dev, TestDatabase, contacts, dev_command, gone, lag, send, send_all, subscription,
    sum, temp_dir, topic, wait_sent,
};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use pact::topology::{Stage, TOPOLOGY, Wiring};
use pact_runtime::wire;
use serde_json::{Value, json};
use tokio::sync::watch;

/// Every scenario runs in both topologies of `pact dev --topology`
/// (docs/topologies.md), as two tests: `explicit::<scenario>` and
/// `broker::<scenario>`. `$scenario` is a closure from the [`Wiring`] to
/// the scenario's future.
macro_rules! in_both_topologies {
    ($($(#[doc = $doc:literal])* $name:ident: $scenario:expr;)*) => {
        in_both_topologies!(@module explicit, Explicit, $($(#[doc = $doc])* $name: $scenario;)*);
        in_both_topologies!(@module broker, Broker, $($(#[doc = $doc])* $name: $scenario;)*);
    };
    (@module $module:ident, $wiring:ident, $($(#[doc = $doc:literal])* $name:ident: $scenario:expr;)*) => {
        mod $module {
            use super::*;
            $(
                $(#[doc = $doc])*
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    bounded(($scenario)(Wiring::$wiring)).await;
                }
            )*
        }
    };
}

/// Where events go in one topology, every name taken from pipeline.toml
/// (`pact::topology`): the topic each stage's subscription reads and its
/// consumer group, where pact-producer's and pact-translation's events
/// land, and where other systems write raw contacts.
#[derive(Debug, Clone)]
struct Flow {
    wiring: Wiring,
    /// Where pact-producer's events land (its `K_SINK`).
    produced: String,
    /// Where other systems write contacts (`POST /topics/<it>`).
    raw: String,
    /// Where pact-translation's events land (its `K_SINK`, or the Broker
    /// its Trigger appends its replies to).
    translated: String,
    /// The subscription (consumer group, topic) that delivers to
    /// pact-translation: its KafkaSource, or its Trigger.
    translation: (String, String),
    /// The same for pact-contactlog.
    contactlog: (String, String),
    /// With a Broker: the KafkaSource that feeds the raw topic into it.
    raw_feed: Option<(String, String)>,
    dead_letter: String,
}

impl Flow {
    fn of(wiring: Wiring) -> Self {
        let stage = |name: &str| {
            TOPOLOGY
                .stage(name)
                .unwrap_or_else(|| panic!("pipeline.toml has no {name}"))
        };
        let (producer, translation, contactlog) =
            (stage("producer"), stage("translation"), stage("contactlog"));
        let reads = |stage: &Stage| stage.reads.clone().expect("it reads a topic");
        let dead_letter = TOPOLOGY.dead_letter_topic.clone();
        match wiring {
            Wiring::Explicit => Self {
                wiring,
                produced: producer.emits_to.clone().expect("the producer emits"),
                raw: reads(translation),
                translated: translation.emits_to.clone().expect("translation emits"),
                translation: (translation.consumer_group(), reads(translation)),
                contactlog: (contactlog.consumer_group(), reads(contactlog)),
                raw_feed: None,
                dead_letter,
            },
            Wiring::Broker => {
                let broker = &TOPOLOGY.broker;
                let trigger = |stage: &Stage| {
                    let name = stage.trigger().expect("a stage that reads has a Trigger");
                    (broker.trigger_group(&name), broker.topic())
                };
                Self {
                    wiring,
                    produced: broker.topic(),
                    raw: broker.raw_topic.clone(),
                    translated: broker.topic(),
                    translation: trigger(translation),
                    contactlog: trigger(contactlog),
                    // The group of the KafkaSource that read the raw topic
                    // in the explicit wiring (src/dev/pipeline.rs).
                    raw_feed: Some((translation.consumer_group(), broker.raw_topic.clone())),
                    dead_letter,
                }
            }
        }
    }

    /// Every subscription: (group, topic read).
    fn subscriptions(&self) -> Vec<(&str, &str)> {
        [&self.translation, &self.contactlog]
            .into_iter()
            .chain(&self.raw_feed)
            .map(|(group, topic)| (group.as_str(), topic.as_str()))
            .collect()
    }

    /// The topics events flow through (the dead-letter topic aside).
    fn topics(&self) -> Vec<String> {
        TOPOLOGY
            .log_topics(self.wiring)
            .into_iter()
            .filter(|t| *t != self.dead_letter)
            .collect()
    }

    /// The `source` pact-translation sees on a raw record of [`Flow::raw`]:
    /// the KafkaSource envelope of the subscription that reads it.
    fn raw_source(&self) -> String {
        let (group, topic) = self.raw_feed.as_ref().unwrap_or(&self.translation);
        format!("/apis/v1/namespaces/pact/kafkasources/{group}#{topic}")
    }

    /// What the topics hold, by kind. In the explicit wiring each kind has
    /// its topic and pings go straight to pact-contactlog; in the Broker
    /// they all share its topic, read to its end and counted by type.
    async fn counts(&self, dev: &Dev, topics: &Value) -> Counts {
        let records = |name: &str| topic(topics, name)["records"].as_u64().expect("records");
        match self.wiring {
            Wiring::Explicit => Counts {
                untranslated: records(&self.translation.1),
                translated: records(&self.translated),
                pings: 0,
                broker_records: 0,
            },
            Wiring::Broker => {
                let mut types = dev.record_types(&self.translated).await;
                let mut take = |ty: &str| types.remove(ty).unwrap_or_default();
                let counts = Counts {
                    // The producer's events, and what the raw feed passed on
                    // (CloudEvents as they were, raw records enveloped).
                    untranslated: take(wire::UNTRANSLATED) + take(wire::KAFKA_EVENT),
                    translated: take(wire::TRANSLATED),
                    pings: take(wire::PING),
                    broker_records: 0,
                };
                assert!(
                    types.is_empty(),
                    "unexpected events in the Broker: {types:?}"
                );
                Counts {
                    broker_records: counts.untranslated + counts.translated + counts.pings,
                    ..counts
                }
            }
        }
    }

    /// Checks the counters of one drained run of `pact dev` (started once)
    /// in which `untranslated` events reached pact-translation, `delivered`
    /// of them were delivered (the others dead-lettered) and it emitted
    /// `emitted` events; returns what the topics hold.
    ///
    /// Explicit wiring: pact-translation's own delivery to its topic may be
    /// retried (a delivery that timed out on a loaded machine but landed is
    /// sent again: the same event, which pact-contactlog stores once), so
    /// the translated records are `emitted` plus at most one per emit
    /// retry. With a Broker pact-translation replies instead (no `K_SINK`,
    /// no emit retries), and the Trigger appends the reply of each delivery
    /// it counts, so they are exactly its `replies`; the PingSource sends
    /// to the Broker too, once at start (`--ping-every` is a day), and the
    /// contactlog Trigger delivers that ping as well.
    async fn assert_counts(
        &self,
        dev: &Dev,
        topics: &Value,
        untranslated: u64,
        delivered: u64,
        emitted: u64,
    ) -> Counts {
        let counts = self.counts(dev, topics).await;
        let translation = subscription(topics, &self.translation.0);
        let contactlog = subscription(topics, &self.contactlog.0);
        assert_eq!(counts.untranslated, untranslated, "{counts:?}: {topics}");
        // `delivered` counts events, not attempts: once each.
        assert_eq!(translation["delivered"], delivered, "{topics}");
        let emit_retries = dev
            .metric(&dev.url("translation"), "pact_emit_retries_total", "")
            .await;
        let translated = counts.translated;
        match self.wiring {
            Wiring::Explicit => {
                assert!(
                    translated >= emitted && (translated - emitted) as f64 <= emit_retries,
                    "{translated} translated records for {emitted} emitted and {emit_retries} emit retries: {topics}"
                );
                assert_eq!(counts.pings, 0);
            }
            Wiring::Broker => {
                assert_eq!(
                    emit_retries, 0.0,
                    "pact-translation replies, it does not emit"
                );
                assert_eq!(translation["replies"], translated, "{counts:?}: {topics}");
                assert_eq!(translated, emitted, "{counts:?}: {topics}");
                assert_eq!(counts.pings, 1, "one ping at start: {topics}");
                assert_eq!(
                    topic(topics, &self.translated)["records"],
                    counts.broker_records,
                    "{counts:?}: {topics}"
                );
                // Each Trigger reads every record of the Broker: it
                // delivers what its filter takes and skips the rest.
                assert_eq!(
                    translation["filtered"],
                    translated + counts.pings,
                    "pact-translation's Trigger skips replies and pings: {topics}"
                );
                assert_eq!(
                    contactlog["filtered"], counts.untranslated,
                    "pact-contactlog's Trigger skips untranslated events: {topics}"
                );
                assert_eq!(
                    contactlog["replies"], 0,
                    "pact-contactlog answers 202: {topics}"
                );
                for sub in [translation, contactlog] {
                    let seen = ["delivered", "filtered", "dead_lettered"]
                        .iter()
                        .map(|field| sub[field].as_u64().expect("a counter"))
                        .sum::<u64>();
                    assert_eq!(seen, counts.broker_records, "{sub}: {topics}");
                }
                let (group, raw) = self.raw_feed.as_ref().expect("a raw feed");
                assert_eq!(
                    subscription(topics, group)["delivered"],
                    topic(topics, raw)["records"],
                    "the raw feed passes every raw record on: {topics}"
                );
            }
        }
        assert_eq!(
            contactlog["delivered"],
            translated + counts.pings,
            "{counts:?}: {topics}"
        );
        counts
    }
}

/// What the topics of a run hold (see [`Flow::counts`]).
#[derive(Debug, Clone, Copy)]
struct Counts {
    /// Events for pact-translation.
    untranslated: u64,
    /// Events for pact-contactlog.
    translated: u64,
    /// Retention pings in a topic.
    pings: u64,
    /// All of them, when they share the Broker's topic (else 0).
    broker_records: u64,
}

#[test]
fn the_flows_are_named_from_pipeline_toml() {
    fn names(flow: &Flow) -> (&str, &str, Vec<(&str, &str)>) {
        (
            flow.produced.as_str(),
            flow.translated.as_str(),
            flow.subscriptions(),
        )
    }
    let explicit = Flow::of(Wiring::Explicit);
    assert_eq!(
        names(&explicit),
        (
            "pact-untranslated",
            "pact-translated",
            vec![
                ("pact-translation", "pact-untranslated"),
                ("pact-contactlog", "pact-translated")
            ]
        )
    );
    assert_eq!(
        explicit.topics(),
        [
            "pact-untranslated",
            "pact-translated",
            "pact-cases",
            "pact-notifications"
        ]
    );
    let broker = Flow::of(Wiring::Broker);
    let topic = "knative-broker-pact-pact";
    assert_eq!(
        names(&broker),
        (
            topic,
            topic,
            vec![
                ("knative-trigger-pact-pact-translation", topic),
                ("knative-trigger-pact-pact-contactlog", topic),
                ("pact-translation", "pact-untranslated")
            ]
        )
    );
    assert_eq!(
        broker.topics(),
        ["pact-untranslated", topic, "pact-notifications"]
    );
    for flow in [&explicit, &broker] {
        assert_eq!(flow.raw, "pact-untranslated");
        assert_eq!(flow.dead_letter, "pact-deadletter");
        assert_eq!(
            flow.raw_source(),
            "/apis/v1/namespaces/pact/kafkasources/pact-translation#pact-untranslated"
        );
    }
}

/// No test may hang CI: each is bounded as a whole, on top of the bound of
/// every step.
const TEST_LIMIT: Duration = Duration::from_secs(240);

async fn bounded(test: impl Future<Output = ()>) {
    let started = Instant::now();
    tokio::time::timeout(TEST_LIMIT, test)
        .await
        .expect("the test finished in time");
    eprintln!("test took {:.1} s", started.elapsed().as_secs_f64());
}

/// Topics and subscriptions after a run with nothing dead-lettered: every
/// record written was delivered (or skipped by a Trigger's filter) and
/// committed, by every group that reads it.
fn assert_clean(flow: &Flow, topics: &Value, contacts: usize) {
    assert_eq!(topic(topics, &flow.dead_letter)["records"], 0, "{topics}");
    assert!(
        topic(topics, &flow.produced)["records"].as_u64() >= Some(contacts as u64),
        "{topics}"
    );
    for (group, read) in flow.subscriptions() {
        let sub = subscription(topics, group);
        assert_eq!(sub["lag"], 0, "{group}: {topics}");
        assert_eq!(sub["dead_lettered"], 0, "{group}: {topics}");
        assert_eq!(
            sum(&sub["committed"]),
            topic(topics, read)["records"].as_u64().expect("records"),
            "{group} committed every record: {topics}"
        );
    }
}

// ---------------------------------------------------------------------------
// 1. Contacts in, exactly that many rows out, translated and queryable.

async fn contacts_are_stored_once(wiring: Wiring, database: Option<&TestDatabase>) {
    const N: usize = 1000;
    let flow = Flow::of(wiring);
    let dir = temp_dir();
    let dev = Dev::start(dir.path(), wiring, database.map(|d| d.url.as_str()), &[]).await;
    let sent = contacts("flow", 0..N);
    send_all(&dev.url("producer"), &sent).await;
    dev.assert_stored_exactly(&sent).await;

    let topics = dev.wait_drained().await;
    assert_clean(&flow, &topics, N);
    // Nothing failed, so nothing was delivered more than once.
    let n = N as u64;
    flow.assert_counts(&dev, &topics, n, n, n).await;
    if database.is_none() {
        simulated_city_is_stored(&dev, N).await;
    }
    dev.stop().await;
}

/// `pact simulate` (phones in Minneapolis) into the same pipeline: every
/// contact it reports accepted is stored, on top of the `before` there.
async fn simulated_city_is_stored(dev: &Dev, before: usize) {
    const SIMULATED: usize = 300;
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_pact"))
            .args(["simulate", "--contacts", &SIMULATED.to_string()])
            .args(["--seed", "7", "--json"])
            .arg(format!("{}/contacts", dev.url("producer")))
            .env_remove("K_SINK")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("pact simulate finished within 60 s")
    .expect("pact simulate ran");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "pact simulate: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: Value = serde_json::from_str(stdout.trim()).expect("a JSON summary");
    if !summary["accepted"].is_null() {
        assert_eq!(summary["accepted"], SIMULATED, "{summary}");
    }
    let n = i64::try_from(before + SIMULATED).expect("fits");
    let deadline = Instant::now() + Duration::from_secs(60);
    while dev.stored().await != Some(n) {
        assert!(
            dev.stored().await <= Some(n) && Instant::now() < deadline,
            "{:?} stored, {n} expected; {summary}; topics: {}",
            dev.stored().await,
            dev.topics().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(dev.stored().await, Some(n), "the count stays");
}

// ---------------------------------------------------------------------------
// 2. SIGKILL (or SIGTERM) of pact-contactlog, then of pact-translation, then
//    of pact-producer, then of pact-query, while events flow.

async fn killed_functions_lose_nothing(
    wiring: Wiring,
    database: Option<&TestDatabase>,
    signal: Signal,
) {
    const N: usize = 2000;
    let flow = Flow::of(wiring);
    let dir = temp_dir();
    // Short backoff: deliveries to the dead function resume soon after the
    // restart, and the test stays short.
    let mut dev = Dev::start(
        dir.path(),
        wiring,
        database.map(|d| d.url.as_str()),
        &["--backoff-delay", "50ms"],
    )
    .await;
    let sent = contacts("kill", 0..N);
    let (_url_tx, url) = watch::channel(dev.url("producer"));
    let (progress_tx, mut progress) = watch::channel(0);
    let sender = tokio::spawn(send(url, sent.clone(), 50, progress_tx));

    // Each kill lands while the sender is still sending, so events reach
    // the killed function before, during and after its restart. The
    // producer's kill breaks a batch in flight: the sender sends it again
    // with the same ids.
    for (function, at) in [
        ("contactlog", N / 4),
        ("translation", N / 2),
        ("producer", 5 * N / 8),
        ("query", 3 * N / 4),
    ] {
        wait_sent(&mut progress, at).await;
        let old = dev.pids[function];
        let topics = dev.topics().await;
        // Read before any await: a `watch` borrow is a lock, and held
        // across `dev.stored().await` (a format argument lives to the end
        // of the statement) it blocks the sender's update on a runtime
        // worker, which once hung this test past its time limit.
        let accepted = *progress.borrow();
        let stored = dev.stored().await;
        eprintln!(
            "killing pact-{function} (pid {old}) with {accepted} contacts accepted, {stored:?} stored; topics: {topics}"
        );
        kill(Pid::from_raw(old), signal).expect("signal the function");
        let exited = dev
            .wait_line("exited", function, Duration::from_secs(30))
            .await;
        // SIGKILL shows as the signal; SIGTERM drains and exits 0.
        let expected = if signal == Signal::SIGKILL { '9' } else { '0' };
        assert!(
            exited["status"]
                .as_str()
                .is_some_and(|s| s.contains(expected)),
            "{exited}"
        );
        dev.wait_line("restarting", function, Duration::from_secs(10))
            .await;
        assert!(gone(old), "the killed pact-{function} was reaped");
    }
    assert!(
        *progress.borrow() < N,
        "the sender was still sending after the last kill"
    );
    sender.await.expect("the sender got every batch accepted");
    dev.assert_stored_exactly(&sent).await;

    let topics = dev.wait_drained().await;
    assert_clean(&flow, &topics, N);
    // The kills were felt: deliveries to the dead processes were retried
    // (and nothing was dead-lettered, checked above). A function stopped
    // by SIGTERM drains first, so its restart may go unnoticed.
    let groups = if signal == Signal::SIGKILL {
        vec![&flow.translation.0, &flow.contactlog.0]
    } else {
        Vec::new()
    };
    for group in groups {
        assert!(
            subscription(&topics, group)["retried"].as_u64() > Some(0),
            "no delivery to {group} was retried: did the kill hit while events flowed? {topics}"
        );
    }
    dev.stop().await;
}

// ---------------------------------------------------------------------------
// 3. pact dev itself stopped (SIGTERM) or killed (SIGKILL) mid-run and started
//    again on the same directory.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Term,
    Kill,
}

async fn restarted_pact_dev_loses_nothing(wiring: Wiring, how: Stop) {
    const N: usize = 1000;
    let flow = Flow::of(wiring);
    let dir = temp_dir();
    let dev = Dev::start(dir.path(), wiring, None, &["--backoff-delay", "50ms"]).await;
    let sent = contacts("restart", 0..N);
    let (url_tx, url) = watch::channel(dev.url("producer"));
    let (progress_tx, mut progress) = watch::channel(0);
    // The sender keeps going through the restart: it retries against the
    // old URL until it is told the new one.
    let sender = tokio::spawn(send(url, sent.clone(), 50, progress_tx));

    wait_sent(&mut progress, N / 2).await;
    let before = dev.topics().await;
    let lag = lag(&before);
    // Wanted but not guaranteed (the pipeline may have caught up): logged.
    eprintln!("stopping pact dev ({how:?}) with lag {lag}; topics: {before}");
    match how {
        Stop::Term => {
            // pact-contactlog dies just before: the stop comes while
            // deliveries to it fail and wait for their retry; those must
            // stay uncommitted and be delivered by the next run.
            kill(Pid::from_raw(dev.pids["contactlog"]), Signal::SIGKILL)
                .expect("SIGKILL pact-contactlog");
            dev.stop().await
        }
        // Its functions only see their stdin close and must exit anyway.
        Stop::Kill => dev.kill_and_wait_orphans(Duration::from_secs(15)).await,
    }
    // Every contact the producer accepted (202) is in the topic for good.
    let accepted = *progress.borrow();

    let dev = Dev::start(dir.path(), wiring, None, &["--backoff-delay", "50ms"]).await;
    let after = dev.topics().await;
    eprintln!("restarted; topics: {after}");
    for name in flow.topics() {
        let (old, new) = (
            &topic(&before, &name)["end_offsets"],
            &topic(&after, &name)["end_offsets"],
        );
        let (old, new) = (old.as_array().expect("ends"), new.as_array().expect("ends"));
        assert_eq!(old.len(), new.len(), "{name} keeps its partitions");
        for (o, n) in old.iter().zip(new) {
            assert!(
                n.as_u64() >= o.as_u64(),
                "{name} lost records: {old:?} then {new:?}"
            );
        }
    }
    // Counted by kind: with a Broker, its topic holds the replies too.
    let kept = flow.counts(&dev, &after).await.untranslated;
    assert!(
        kept >= accepted as u64,
        "{accepted} contacts were accepted before the stop, {kept} kept: {after}"
    );
    if how == Stop::Term {
        // A clean stop commits the offsets: nothing delivered is forgotten.
        for (group, _) in flow.subscriptions() {
            let (old, new) = (
                &subscription(&before, group)["committed"],
                &subscription(&after, group)["committed"],
            );
            for (o, n) in old
                .as_array()
                .expect("committed")
                .iter()
                .zip(new.as_array().expect("committed"))
            {
                assert!(
                    n.as_u64() >= o.as_u64(),
                    "{group} committed offsets went back: {old} then {new}"
                );
            }
        }
    }

    url_tx
        .send(dev.url("producer"))
        .expect("the sender listens");
    sender.await.expect("the sender got every batch accepted");
    dev.assert_stored_exactly(&sent).await;
    let topics = dev.wait_drained().await;
    assert_clean(&flow, &topics, N);
    dev.stop().await;
}

// ---------------------------------------------------------------------------
// 4. Every event delivered twice, and ten times.

async fn events_delivered_n_times_are_stored_once(wiring: Wiring, times: u32, n: usize) {
    let flow = Flow::of(wiring);
    let dir = temp_dir();
    let deliveries = times.to_string();
    let dev = Dev::start(dir.path(), wiring, None, &["--deliveries", &deliveries]).await;
    let sent = contacts(&format!("x{times}"), 0..n);
    send_all(&dev.url("producer"), &sent).await;
    dev.assert_stored_exactly(&sent).await;

    let topics = dev.wait_drained().await;
    assert_clean(&flow, &topics, n);
    // Translation ran `times` times per event and emitted every time.
    let times = u64::from(times);
    let (n, emitted) = (n as u64, times * n as u64);
    let translated = if subscription(&topics, &flow.translation.0)["retried"] == 0 {
        flow.assert_counts(&dev, &topics, n, n, emitted)
            .await
            .translated
    } else {
        // A retried delivery (a timeout on a loaded machine) was answered
        // more often than `times`: the counts are bounds only.
        let counts = flow.counts(&dev, &topics).await;
        assert_eq!(counts.untranslated, n, "{topics}");
        assert_eq!(
            subscription(&topics, &flow.translation.0)["delivered"],
            n,
            "{topics}"
        );
        assert!(counts.translated >= emitted, "{counts:?}: {topics}");
        assert_eq!(
            subscription(&topics, &flow.contactlog.0)["delivered"],
            counts.translated + counts.pings,
            "{topics}"
        );
        counts.translated
    };
    // And both functions really were called that often per event.
    let answered = "route=\"/\",status=\"2";
    let translation_calls = dev
        .metric(&dev.url("translation"), "pact_requests_total", answered)
        .await;
    assert!(
        translation_calls >= (times * n) as f64,
        "pact-translation answered {translation_calls} deliveries for {n} events"
    );
    // (pact-contactlog's include the pings a Broker passes on.)
    let contactlog_calls = dev
        .metric(&dev.url("contactlog"), "pact_requests_total", answered)
        .await;
    assert!(
        contactlog_calls >= (times * translated) as f64,
        "pact-contactlog answered {contactlog_calls} deliveries for {translated} events"
    );
    eprintln!(
        "{n} contacts, each delivered {times} times to each function: {translation_calls} + {contactlog_calls} deliveries, {n} rows"
    );
    // Ctrl-C stops it as cleanly as SIGTERM.
    dev.stop_with(Signal::SIGINT).await;
}

// ---------------------------------------------------------------------------
// 4b. Identity collisions: clients this project did not write reuse ids and
//     keys, and every event is delivered twice. Two different contacts are
//     always two rows; a retry is never a second row (DESIGN.md section 3).

async fn colliding_ids_and_keys_are_all_stored_once(wiring: Wiring) {
    const N: usize = 300;
    let flow = Flow::of(wiring);
    let dir = temp_dir();
    let dev = Dev::start(dir.path(), wiring, None, &["--deliveries", "2"]).await;
    // Two phone fleets whose ids are the same strings for other people.
    let fleet_a = contacts("shared", 0..N);
    let mut fleet_b = contacts("shared", 0..N);
    for contact in &mut fleet_b {
        contact.mmid1 += 1_000_000;
        contact.mmid2 += 1_000_000;
    }
    // Each fleet sends everything twice, as a client that lost the 202 would.
    for fleet in [&fleet_a, &fleet_b, &fleet_a, &fleet_b] {
        send_all(&dev.url("producer"), fleet).await;
    }
    let mut expected: Vec<String> = fleet_a
        .iter()
        .chain(&fleet_b)
        .map(Contact::stored_id)
        .collect();

    // Two phones speaking CloudEvents, both numbering their events from
    // 1, each event sent twice.
    let producer = format!("{}/", dev.url("producer"));
    for (source, mmid1) in [("/phone/A", 7_000_001), ("/phone/B", 7_000_003)] {
        // The producer's key for a CloudEvent is its derived id.
        let contact = Contact {
            id: harness::derived_id(source, "1"),
            mmid1,
            mmid2: mmid1 + 1,
            lat: 44.97,
            lon: -93.26,
            observed_at: fleet_a[0].observed_at.clone(),
        };
        let data = json!({"mmid1": contact.mmid1, "mmid2": contact.mmid2, "lat": contact.lat,
                          "lon": contact.lon, "observed_at": contact.observed_at});
        for _ in 0..2 {
            post_event(&producer, source, "1", data.to_string().into_bytes()).await;
        }
        expected.push(contact.stored_id());
    }

    // Two other producers writing straight to the topic, same id, same
    // contact: two events, so two rows (with a Broker, through the
    // KafkaSource that feeds it).
    let topic = format!("{}/topics/{}", dev.urls.eventing, flow.raw);
    let data = json!({"mmid1": 1, "mmid2": 2, "lat": 44.97, "lon": -93.26,
                      "observed_at": fleet_a[0].observed_at});
    for source in ["/other/producer-1", "/other/producer-2"] {
        post_event(&topic, source, "same-id", data.to_string().into_bytes()).await;
        expected.push(harness::derived_id(source, "same-id"));
    }
    assert_eq!(expected.len(), 2 * N + 4);
    dev.assert_stored_ids(&expected).await;
    dev.stop_with(Signal::SIGTERM).await;
}

// ---------------------------------------------------------------------------
// 5. Poison events: dead-lettered at once with Knative's error extensions,
//    while the good contacts around them flow.

/// A binary-mode untranslated CloudEvent `source` + `id` with JSON `data`,
/// POSTed to `url`; answered 202.
async fn post_event(url: &str, source: &str, id: &str, data: Vec<u8>) {
    let response = reqwest::Client::new()
        .post(url)
        .header("ce-specversion", "1.0")
        .header("ce-id", id)
        .header("ce-source", source)
        .header("ce-type", "dev.pact.contact.untranslated")
        .header("ce-partitionkey", "1-2")
        .header("content-type", "application/json")
        .body(data)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    assert_eq!(response.status(), 202, "{url} takes {source} {id}");
}

/// A binary-mode CloudEvent into the raw topic (`pact-untranslated`)
/// through the stand-in's KafkaSink endpoint.
async fn put_event(dev: &Dev, flow: &Flow, id: &str, data: Vec<u8>) {
    let topic = format!("{}/topics/{}", dev.urls.eventing, flow.raw);
    post_event(&topic, "/e2e/poison", id, data).await;
}

/// Bytes into the raw topic as a plain Kafka producer (kcat) writes them,
/// keyed `key`, no content type.
async fn put_raw(dev: &Dev, flow: &Flow, key: &str, bytes: Vec<u8>) {
    let response = reqwest::Client::new()
        .post(format!(
            "{}/topics/{}/records?key={key}",
            dev.urls.eventing, flow.raw
        ))
        .body(bytes)
        .send()
        .await
        .expect("POST a raw record");
    assert_eq!(response.status(), 202, "the topic takes raw bytes");
}

/// Poison events among good contacts, and one good raw record (a line of
/// the original demo, no CloudEvent) written to the raw topic by another
/// system: with a Broker it reaches pact-contactlog through the KafkaSource
/// that feeds the Broker, and the poison raw record is dead-lettered by
/// pact-translation's Trigger.
async fn poison_events_are_dead_lettered(wiring: Wiring) {
    const N: usize = 600;
    let flow = Flow::of(wiring);
    let dir = temp_dir();
    let dev = Dev::start(dir.path(), wiring, None, &[]).await;
    let sent = contacts("good", 0..N);
    let run = uuid::Uuid::now_v7().simple().to_string();
    let poison = Poison {
        bad_id: format!("poison-lat-{run}"),
        big_id: format!("poison-big-{run}"),
        garbage: b"\xff\xfe\x00 not a contact, not even UTF-8 \xc3\x28".to_vec(),
    };
    poison.send_among(&dev, &flow, &sent).await;
    // Person 9000001 meets 9000002 (no test contact has such ids).
    put_raw(
        &dev,
        &flow,
        "raw-csv",
        b"9000001,9000002,44.97,-93.26".to_vec(),
    )
    .await;
    let raw = dev
        .records(&flow.raw)
        .await
        .into_iter()
        .find(|record| record["key"] == "raw-csv")
        .expect("the raw record is in the raw topic");
    let raw_id = harness::derived_id(
        &flow.raw_source(),
        &format!("partition:{}/offset:{}", raw["partition"], raw["offset"]),
    );

    dev.assert_stored_exactly_and(&sent, &[raw_id]).await;
    let topics = dev.wait_drained().await;
    assert_eq!(topic(&topics, &flow.dead_letter)["records"], 3, "{topics}");
    // The good contacts and the good raw record flowed; the three
    // poison events went straight to the dead letters.
    let good = N as u64 + 1;
    flow.assert_counts(&dev, &topics, good + 3, good, good)
        .await;
    let translation = subscription(&topics, &flow.translation.0);
    assert_eq!(translation["dead_lettered"], 3, "{topics}");
    // Permanent errors: straight to the dead letters, never retried.
    assert_eq!(translation["retried"], 0, "{topics}");
    for (group, read) in flow.subscriptions() {
        let sub = subscription(&topics, group);
        assert_eq!(sub["lag"], 0, "{group}: {topics}");
        assert_eq!(
            sum(&sub["committed"]),
            topic(&topics, read)["records"].as_u64().expect("records"),
            "{group} committed every record: {topics}"
        );
        if group != flow.translation.0 {
            assert_eq!(sub["dead_lettered"], 0, "{group}: {topics}");
        }
    }

    poison.assert_dead_lettered(&dev).await;
    dev.stop().await;
}

/// The three poison events of
/// `poison_events_are_dead_lettered_and_the_rest_flows`: a latitude out of
/// range (422), an event too large for pact-translation (413), and raw bytes
/// that are not even UTF-8 (400 or 415).
struct Poison {
    bad_id: String,
    big_id: String,
    garbage: Vec<u8>,
}

impl Poison {
    /// Sends `sent` through pact-producer in three parts, with a poison
    /// event into pact-untranslated after each.
    async fn send_among(&self, dev: &Dev, flow: &Flow, sent: &[Contact]) {
        let observed_at = sent[0].observed_at.clone();
        let parts: Vec<&[Contact]> = sent.chunks(sent.len() / 3).collect();
        send_all(&dev.url("producer"), parts[0]).await;
        // Out of range: translation answers 422.
        let bad = json!({"mmid1": 1, "mmid2": 2, "lat": 200.0, "lon": -93.26, "observed_at": observed_at});
        put_event(
            dev,
            flow,
            &self.bad_id,
            serde_json::to_vec(&bad).expect("JSON"),
        )
        .await;
        send_all(&dev.url("producer"), parts[1]).await;
        // Raw bytes: delivered in a KafkaSource envelope; 400 (or 415).
        put_raw(dev, flow, "poison-garbage", self.garbage.clone()).await;
        send_all(&dev.url("producer"), parts[2]).await;
        // 2 MiB: the topic takes it (8 MiB limit), translation answers 413.
        let mut big = bad.clone();
        big["lat"] = json!(44.97);
        big["pad"] = json!("x".repeat(2 << 20));
        put_event(
            dev,
            flow,
            &self.big_id,
            serde_json::to_vec(&big).expect("JSON"),
        )
        .await;
    }

    /// Each poison event is a dead letter, as it was sent, with the
    /// subscriber's answer (code and problem JSON) in its extensions.
    async fn assert_dead_lettered(&self, dev: &Dev) {
        let letters: Vec<Value> = dev
            .records(&TOPOLOGY.dead_letter_topic)
            .await
            .into_iter()
            .map(|record| {
                assert!(record["event"].is_object(), "a stored event: {record}");
                record["event"].clone()
            })
            .collect();
        assert_eq!(letters.len(), 3, "{letters:?}");
        let destination = format!("{}/", dev.url("translation"));
        let problem = |letter: &Value| -> Value {
            assert_eq!(letter["knativeerrordest"], destination.as_str(), "{letter}");
            let data = base64::engine::general_purpose::STANDARD
                .decode(
                    letter["knativeerrordata"]
                        .as_str()
                        .expect("knativeerrordata"),
                )
                .expect("knativeerrordata is base64");
            serde_json::from_slice(&data).unwrap_or_else(|e| {
                panic!(
                    "knativeerrordata is not the problem JSON ({e}): {}",
                    String::from_utf8_lossy(&data)
                )
            })
        };
        let find = |id: &str| {
            letters
                .iter()
                .find(|l| l["id"] == id)
                .unwrap_or_else(|| panic!("{id} is not a dead letter: {letters:?}"))
        };

        let letter = find(&self.bad_id);
        assert_eq!(letter["knativeerrorcode"], 422, "{letter}");
        let p = problem(letter);
        assert_eq!(p["status"], 422, "{p}");
        assert!(
            p["detail"].as_str().is_some_and(|d| d.contains("lat")),
            "{p}"
        );
        assert_eq!(
            letter["data"]["lat"], 200.0,
            "the event as it was: {letter}"
        );

        let letter = find(&self.big_id);
        assert_eq!(
            letter["knativeerrorcode"], 413,
            "{}",
            letter["knativeerrorcode"]
        );
        assert_eq!(problem(letter)["status"], 413);
        assert!(
            letter["data"]["pad"].as_str().map(str::len) == Some(2 << 20),
            "the dead letter keeps the whole event"
        );

        let letter = letters
            .iter()
            .find(|l| l["type"] == "dev.knative.kafka.event")
            .unwrap_or_else(|| panic!("the raw record is not a dead letter: {letters:?}"));
        assert_eq!(letter["key"], "poison-garbage", "{letter}");
        let code = letter["knativeerrorcode"].as_u64();
        assert!(matches!(code, Some(400 | 415)), "{letter}");
        assert_eq!(problem(letter)["status"].as_u64(), code, "{letter}");
        let data = base64::engine::general_purpose::STANDARD
            .decode(
                letter["data_base64"]
                    .as_str()
                    .expect("raw data as data_base64"),
            )
            .expect("base64");
        assert_eq!(data, self.garbage, "the dead letter keeps the bytes");
    }
}

// ---------------------------------------------------------------------------
// Found while writing these tests (see each test's comment).

/// BUG (src/dev/supervise.rs, `supervise`, the `println!` of the `exited` and
/// `restarting` lines; also `Pipeline::stop`'s `stopped` line): `println!`
/// panics when stdout is closed (EPIPE; Rust ignores SIGPIPE). A script that
/// reads the ready line and closes the pipe (`pact dev --json | head -1`)
/// leaves a pact dev whose supervisor task panics at the first function
/// death: the function is never restarted, contacts stop being stored, and
/// the stop ends with exit code 101. A supervisor must not depend on
/// anybody reading its stdout.
async fn restarted_when_nobody_reads_stdout(wiring: Wiring) {
    const N: usize = 200;
    let dir = temp_dir();
    let mut dev = Dev::start(dir.path(), wiring, None, &["--backoff-delay", "50ms"]).await;
    dev.close_stdout().await;
    kill(Pid::from_raw(dev.pids["contactlog"]), Signal::SIGKILL).expect("SIGKILL pact-contactlog");
    let contactlog = dev.url("contactlog");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dev.healthy(&contactlog).await {
        assert!(
            Instant::now() < deadline,
            "pact-contactlog was not restarted within 10 s once pact dev's stdout was closed:\n{}",
            dev.logs(30)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sent = contacts("unread", 0..N);
    send_all(&dev.url("producer"), &sent).await;
    dev.assert_stored_exactly(&sent).await;
    dev.stop().await;
}

/// SIGTERM or SIGINT during start-up (up to 30 s per function, e.g. while
/// PostgreSQL is migrated) stops pact dev in order with exit 0, not by the
/// signal's default action (exit 143, 130 for Ctrl-C): the handlers are
/// installed before start-up begins. (They once were installed by a spawned
/// task, which on a loaded machine had not yet run when the signal came.)
async fn stopped_while_starting(wiring: Wiring) {
    let dir = temp_dir();
    let mut child = dev_command(dir.path(), wiring, &[])
        .spawn()
        .expect("spawn pact dev");
    // The topic log is the first thing `pact dev` opens: once it exists,
    // pact dev runs (a handler installed first thing would be in place),
    // and its functions need a few hundred milliseconds more to be ready.
    let topics_db = dir.path().join("topics.db");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !topics_db.exists() {
        assert!(
            Instant::now() < deadline,
            "pact dev never opened its topics"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let pid = i32::try_from(child.id().expect("pid")).expect("pid fits");
    kill(Pid::from_raw(pid), Signal::SIGTERM).expect("SIGTERM pact dev");
    let status = tokio::time::timeout(Duration::from_secs(40), child.wait())
        .await
        .expect("pact dev stopped within 40 s")
        .expect("wait for pact dev");
    assert!(
        status.success(),
        "SIGTERM during start-up: pact dev exited with {status}, not 0"
    );
}

// ---------------------------------------------------------------------------
// 9. A case reported on pact-query while contacts stream in: everyone the
//    person met is notified once, whether pact-notify is killed mid-way or
//    the case is delivered twice.

/// How a case's fan-out is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fanout {
    /// Not at all.
    Whole,
    /// pact-notify killed (SIGKILL) after its first notifications.
    Killed,
    /// Every event delivered twice (`--deliveries 2`), the case too.
    DeliveredTwice,
}

/// People the case met: more than a few rounds of notifications.
const EXPOSED: usize = 1000;

async fn cases_notify_each_exposed_person_once(wiring: Wiring, fanout: Fanout) {
    let flow = Flow::of(wiring);
    let dir = temp_dir();
    let output = TOPOLOGY
        .stage("notify")
        .and_then(|s| s.emits_to.clone())
        .expect("pact-notify emits");
    // With nothing broken, `pact display` reads the output as a gateway
    // would, subscribed through `pact dev --subscribe`.
    let display = match fanout {
        Fanout::Whole => Some(Display::start().await),
        _ => None,
    };
    let subscribe = display
        .as_ref()
        .map(|d| format!("{output}={}", d.url))
        .unwrap_or_default();
    let extra: Vec<&str> = match fanout {
        Fanout::Whole => vec!["--subscribe", &subscribe],
        Fanout::Killed => vec!["--backoff-delay", "50ms"],
        Fanout::DeliveredTwice => vec!["--deliveries", "2"],
    };
    let mut dev = Dev::start(dir.path(), wiring, None, &extra).await;
    // The case met EXPOSED people; the stream is among others.
    let case_person = 5_000_000;
    let met: Vec<Contact> = contacts("met", 0..EXPOSED)
        .into_iter()
        .enumerate()
        .map(|(i, contact)| Contact {
            mmid1: case_person,
            mmid2: 6_000_000 + i64::try_from(i).expect("fits"),
            ..contact
        })
        .collect();
    send_all(&dev.url("producer"), &met).await;
    // (Not `assert_stored_exactly`, whose read-back expects one contact
    // per person.)
    let met_ids: Vec<String> = met.iter().map(Contact::stored_id).collect();
    dev.assert_stored_ids(&met_ids).await;
    let stream = contacts("stream", 0..1500);
    let (_url_tx, url) = watch::channel(dev.url("producer"));
    let (progress_tx, _progress) = watch::channel(0);
    let sender = tokio::spawn(send(url, stream.clone(), 25, progress_tx));

    let client = reqwest::Client::new();
    let query = dev.url("query");
    let onset = chrono::Utc::now().date_naive();
    let response = client
        .post(format!("{query}/cases"))
        .json(&json!({"mmid": case_person, "onset": onset, "reference": "e2e"}))
        .send()
        .await
        .expect("POST /cases");
    assert_eq!(response.status(), 202);
    let case_id = response.json::<Value>().await.expect("JSON")["case_id"]
        .as_str()
        .expect("case_id")
        .to_owned();

    if fanout == Fanout::Killed {
        kill_notify_mid_fan_out(&mut dev, &output).await;
    }
    wait_notified(&query, &case_id).await;
    sender.await.expect("the stream was accepted");
    dev.assert_stored_exactly_and(&stream, &met_ids).await;
    let topics = dev.wait_drained().await;
    assert_eq!(topic(&topics, &flow.dead_letter)["records"], 0, "{topics}");

    assert_each_notified_once(&dev, &output, &case_id, &met, fanout).await;
    if let Some(display) = display {
        display
            .wait_for(EXPOSED, "dev.pact.exposure.notified")
            .await;
    }
    dev.stop().await;
}

/// `pact display` on a free port, its output collected.
struct Display {
    url: String,
    output: std::sync::Arc<std::sync::Mutex<String>>,
    _process: tokio::process::Child,
}

impl Display {
    async fn start() -> Self {
        use tokio::io::AsyncReadExt;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut process = tokio::process::Command::new(env!("CARGO_BIN_EXE_pact"))
            .args(["display", "--port", &port.to_string()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("pact display");
        let mut stdout = process.stdout.take().expect("piped");
        let output = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        tokio::spawn({
            let output = output.clone();
            async move {
                let mut buffer = vec![0; 65536];
                while let Ok(n @ 1..) = stdout.read(&mut buffer).await {
                    if let Ok(mut text) = output.lock() {
                        text.push_str(&String::from_utf8_lossy(&buffer[..n]));
                    }
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "pact display did not listen");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self {
            url: format!("http://127.0.0.1:{port}/"),
            output,
            _process: process,
        }
    }

    /// Waits until it printed `n` distinct events of `event_type` (and no
    /// more), for at most a minute.
    async fn wait_for(&self, n: usize, event_type: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let text = self.output.lock().map(|t| t.clone()).unwrap_or_default();
            let ids: BTreeSet<String> = serde_json::Deserializer::from_str(&text)
                .into_iter::<Value>()
                .filter_map(Result::ok)
                .filter(|event| event["type"] == event_type)
                .filter_map(|event| event["id"].as_str().map(str::to_owned))
                .collect();
            assert!(ids.len() <= n, "{} events for {n} people", ids.len());
            if ids.len() == n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "pact display printed {} of {n} events",
                ids.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Kills pact-notify (SIGKILL) once its first notifications are in
/// `output`, and waits for its restart; fails if the fan-out was over.
async fn kill_notify_mid_fan_out(dev: &mut Dev, output: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let before = loop {
        let topics = dev.topics().await;
        let n = topic(&topics, output)["records"].as_u64().unwrap_or(0);
        if n > 0 {
            break n;
        }
        assert!(
            Instant::now() < deadline,
            "no notification within 60 s: {topics}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let old = dev.pids["notify"];
    kill(Pid::from_raw(old), Signal::SIGKILL).expect("kill pact-notify");
    dev.wait_line("restarting", "notify", Duration::from_secs(30))
        .await;
    assert!(
        before < EXPOSED as u64,
        "pact-notify was killed after {before} of {EXPOSED} notifications: mid-way"
    );
}

/// Waits until pact-query says the case is notified (from what pact-notify
/// recorded), everyone, nothing pending.
async fn wait_notified(query: &str, case_id: &str) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let status: Value = client
            .get(format!("{query}/cases/{case_id}"))
            .send()
            .await
            .expect("GET /cases")
            .json()
            .await
            .unwrap_or_default();
        if status["status"] == "notified" {
            assert_eq!(status["notified"], EXPOSED, "{status}");
            assert_eq!(status["pending"], 0, "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "not notified: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Each person the case met has exactly one notification (one id) in
/// `output`, which says nothing of the case.
async fn assert_each_notified_once(
    dev: &Dev,
    output: &str,
    case_id: &str,
    met: &[Contact],
    fanout: Fanout,
) {
    // A record is repeated only when pact-notify died between the sink's
    // answer and marking its round sent, and then with the same id.
    let records = dev.all_records(output).await;
    let mut ids: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for record in &records {
        let event = &record["event"];
        assert_eq!(event["type"], "dev.pact.exposure.notified", "{record}");
        assert!(!event.to_string().contains(case_id), "{record}");
        let person = record["key"]
            .as_str()
            .expect("keyed by the person")
            .to_owned();
        ids.entry(person)
            .or_default()
            .insert(event["id"].as_str().expect("id").to_owned());
    }
    let expected: BTreeSet<String> = met.iter().map(|c| c.mmid2.to_string()).collect();
    assert_eq!(ids.keys().cloned().collect::<BTreeSet<_>>(), expected);
    assert!(ids.values().all(|set| set.len() == 1), "one id per person");
    match fanout {
        Fanout::Killed => assert!(
            records.len() <= EXPOSED + 256,
            "{} records: at most one round sent again",
            records.len()
        ),
        _ => assert_eq!(records.len(), EXPOSED, "each notification sent once"),
    }
}

// ---------------------------------------------------------------------------
// Every scenario above, in both topologies.

in_both_topologies! {
    contacts_are_stored_once_on_sqlite: |wiring| contacts_are_stored_once(wiring, None);
    contacts_are_stored_once_on_postgres: |wiring| async move {
        let database = TestDatabase::create().await;
        contacts_are_stored_once(wiring, Some(&database)).await;
    };
    killed_functions_are_restarted_and_lose_nothing_on_sqlite:
        |wiring| killed_functions_lose_nothing(wiring, None, Signal::SIGKILL);
    terminated_functions_are_restarted_and_lose_nothing_on_sqlite:
        |wiring| killed_functions_lose_nothing(wiring, None, Signal::SIGTERM);
    killed_functions_are_restarted_and_lose_nothing_on_postgres: |wiring| async move {
        let database = TestDatabase::create().await;
        killed_functions_lose_nothing(wiring, Some(&database), Signal::SIGKILL).await;
    };
    pact_dev_stopped_and_started_again_loses_nothing:
        |wiring| restarted_pact_dev_loses_nothing(wiring, Stop::Term);
    pact_dev_killed_leaves_no_orphans_and_loses_nothing:
        |wiring| restarted_pact_dev_loses_nothing(wiring, Stop::Kill);
    events_delivered_twice_are_stored_once:
        |wiring| events_delivered_n_times_are_stored_once(wiring, 2, 1000);
    /// Each of the ten translations is delivered ten times: 100 deliveries
    /// to pact-contactlog per contact.
    events_delivered_ten_times_are_stored_once:
        |wiring| events_delivered_n_times_are_stored_once(wiring, 10, 50);
    colliding_ids_and_keys_from_other_clients_are_all_stored_once:
        colliding_ids_and_keys_are_all_stored_once;
    poison_events_are_dead_lettered_and_the_rest_flows: poison_events_are_dead_lettered;
    functions_are_restarted_when_nobody_reads_stdout: restarted_when_nobody_reads_stdout;
    pact_dev_stopped_while_starting_exits_cleanly: stopped_while_starting;
    a_case_reported_while_contacts_stream_in_notifies_each_exposed_person_once:
        |wiring| cases_notify_each_exposed_person_once(wiring, Fanout::Whole);
    pact_notify_killed_mid_fan_out_notifies_no_one_twice:
        |wiring| cases_notify_each_exposed_person_once(wiring, Fanout::Killed);
    a_case_delivered_twice_notifies_each_exposed_person_once:
        |wiring| cases_notify_each_exposed_person_once(wiring, Fanout::DeliveredTwice);
}
