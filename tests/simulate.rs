//! `pact simulate`, the real binary, over real HTTP: to a real pact-producer,
//! straight to a CloudEvents sink that fails for a while, to one that
//! refuses, and to `K_SINK` as a ContainerSource.

use std::collections::HashSet;
use std::time::Duration;

use pact_runtime::cloudevents::{AttributesReader, Data, Event};
use pact_runtime::testing::{CaptureSink, Reply, spawn_function, wait_ready};

/// Minneapolis, the default city: south, west, north, east.
const MINNEAPOLIS: (f64, f64, f64, f64) = (44.94, -93.32, 45.01, -93.20);

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn summary(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {}", self.stdout))
    }
}

async fn simulate(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_pact"));
    command
        .arg("simulate")
        .args(args)
        .env_remove("K_SINK")
        .env_remove("K_CE_OVERRIDES")
        .kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("pact simulate finished within 120 s")
        .expect("pact simulate ran");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The untranslated data of an event, checked against the contract.
fn contact(event: &Event) -> serde_json::Value {
    assert_eq!(event.ty(), "dev.pact.contact.untranslated");
    assert_eq!(event.datacontenttype(), Some("application/json"));
    let Some(Data::Binary(bytes)) = event.data() else {
        panic!("no JSON data in {event}");
    };
    let data: serde_json::Value = serde_json::from_slice(bytes).expect("JSON data");
    let (mmid1, mmid2) = (
        data["mmid1"].as_i64().expect("mmid1"),
        data["mmid2"].as_i64().expect("mmid2"),
    );
    assert!(0 < mmid1 && mmid1 < mmid2 && mmid2 <= 2000, "{data}");
    let key = event.extension("partitionkey").map(|v| v.to_string());
    assert_eq!(key, Some(format!("{mmid1}-{mmid2}")));
    let (lat, lon) = (
        data["lat"].as_f64().expect("lat"),
        data["lon"].as_f64().expect("lon"),
    );
    let (south, west, north, east) = MINNEAPOLIS;
    assert!(
        (south..=north).contains(&lat) && (west..=east).contains(&lon),
        "{data}"
    );
    let observed = data["observed_at"].as_str().expect("observed_at");
    let observed = chrono::DateTime::parse_from_rfc3339(observed).expect("RFC 3339");
    assert!(
        observed <= chrono::Utc::now(),
        "observed in the future: {data}"
    );
    data
}

fn distinct_ids(events: &[Event]) -> HashSet<String> {
    events.iter().map(|e| e.id().to_owned()).collect()
}

#[tokio::test]
async fn a_real_producer_receives_each_contact_once() {
    let sink = CaptureSink::start(Reply::Status(202)).await;
    let mut producer = tokio::process::Command::new(env!("CARGO_BIN_EXE_pact"));
    producer
        .args(["function", "producer"])
        .env("K_SINK", &sink.url);
    let (_producer, port) = spawn_function(producer).await;
    wait_ready(
        &reqwest::Client::new(),
        &format!("http://127.0.0.1:{port}/readyz"),
    )
    .await;

    let url = format!("http://127.0.0.1:{port}/contacts");
    let run = simulate(&["--contacts", "500", "--seed", "7", "--json", &url], &[]).await;
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let summary = run.summary();
    assert_eq!(summary["mode"], "contacts");
    assert_eq!(summary["seed"], 7);
    for (field, value) in [
        ("generated", 500),
        ("sent", 500),
        ("accepted", 500),
        ("rejected", 0),
        ("failed", 0),
    ] {
        assert_eq!(summary[field], value, "{field}: {summary}");
    }
    assert!(summary.get("accepted_ids").is_none());

    // The producer answers only once its sink took every event.
    let events = sink.accepted();
    assert_eq!(events.len(), 500);
    assert_eq!(distinct_ids(&events).len(), 500);
    for event in &events {
        assert_eq!(event.source().to_string(), "/pact/producer");
        contact(event);
    }
}

#[tokio::test]
async fn a_sink_failing_for_a_while_gets_every_event_and_no_duplicate_is_counted() {
    let sink = CaptureSink::start(Reply::Status(202)).await;
    sink.script([Reply::Status(503); 3]);
    let run = simulate(
        &["--contacts", "200", "--seed", "7", "--json", &sink.url],
        &[],
    )
    .await;
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let summary = run.summary();
    assert_eq!(summary["mode"], "cloudevents");
    assert_eq!(summary["accepted"], 200, "{summary}");
    assert_eq!(summary["sent"], 200, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");

    let received = sink.received();
    assert_eq!(received.len(), 203, "200 events and 3 retries");
    let accepted = sink.accepted();
    let ids = distinct_ids(&accepted);
    assert_eq!((accepted.len(), ids.len()), (200, 200));
    // Each refused request came again with the same id.
    let refused: Vec<&str> = received
        .iter()
        .filter(|r| r.status == Some(503))
        .map(|r| r.event.as_ref().expect("an event").id())
        .collect();
    assert_eq!(refused.len(), 3);
    assert!(refused.iter().all(|id| ids.contains(*id)));
    for event in &accepted {
        assert_eq!(event.source().to_string(), "/pact/simulate");
        contact(event);
    }
}

#[tokio::test]
async fn a_sink_refusing_the_events_makes_the_run_fail() {
    let sink = CaptureSink::start(Reply::Status(400)).await;
    let run = simulate(&["--contacts", "20", "--json", &sink.url], &[]).await;
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    let summary = run.summary();
    assert_eq!(summary["rejected"], 20, "{summary}");
    assert_eq!(summary["accepted"], 0, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");
    assert!(
        summary["problems"][0]
            .as_str()
            .is_some_and(|p| p.contains("400")),
        "{summary}"
    );
    // Refused for good: never retried.
    assert_eq!(sink.received().len(), 20);
}

#[tokio::test]
async fn as_a_container_source_it_sends_to_k_sink_with_the_overrides() {
    let sink = CaptureSink::start(Reply::Status(202)).await;
    let run = simulate(
        &["--contacts", "5"],
        &[
            ("K_SINK", sink.url.as_str()),
            ("K_CE_OVERRIDES", r#"{"extensions":{"team":"pact"}}"#),
        ],
    )
    .await;
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("accepted 5"), "{}", run.stdout);
    let events = sink.accepted();
    assert_eq!(events.len(), 5);
    for event in &events {
        let team = event.extension("team").map(|v| v.to_string());
        assert_eq!(team.as_deref(), Some("pact"));
        contact(event);
    }
}

#[tokio::test]
async fn usage_errors_say_what_is_wrong_and_exit_2() {
    let run = simulate(&["--contacts", "5"], &[]).await;
    assert_eq!(run.code, Some(2));
    assert!(run.stderr.contains("K_SINK"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);

    let url = "http://127.0.0.1:1/contacts";
    for (args, says) in [
        (vec!["--batch", "1001", url], "--batch"),
        (vec!["--phones", "1", url], "--phones"),
        (vec!["--rate", "0", url], "--rate"),
        (vec!["--bbox", "45,-93,44,-92", url], "south"),
        (vec!["--city", "atlantis", url], "atlantis"),
    ] {
        let run = simulate(&args, &[]).await;
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
    }
}

#[tokio::test]
async fn the_rate_limit_holds() {
    let sink = CaptureSink::start(Reply::Status(202)).await;
    let run = simulate(
        &["--duration", "2s", "--rate", "50", "--json", &sink.url],
        &[],
    )
    .await;
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let summary = run.summary();
    let accepted = summary["accepted"].as_f64().expect("accepted");
    let elapsed = summary["elapsed_s"].as_f64().expect("elapsed_s");
    // One event at once, then one per 1/50 s; the schedule may run up to
    // 11 ms ahead (timer resolution and catch-up slack).
    assert!(accepted >= 1.0, "{summary}");
    assert!(accepted <= 50.0 * (elapsed + 0.011) + 1.0, "{summary}");
    assert_eq!(sink.accepted().len() as f64, accepted);
}
