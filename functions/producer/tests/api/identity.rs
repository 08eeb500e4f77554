//! Event identity with inputs of clients this project did not write: keys and
//! ids that two clients happen to share, retries, and every form at and past
//! the limit of events per request (DESIGN.md section 3).

use std::collections::HashSet;

use pact_runtime::cloudevents::AttributesReader;
use pact_runtime::ingest::MAX_EVENTS_PER_REQUEST;
use pact_runtime::testing::Reply;
use serde_json::{Value, json};

use crate::helpers::{TestApp, contact_id, event_key, problem, spawn_with_sink};

fn sent_ids(app: &TestApp) -> Vec<String> {
    app.sink()
        .accepted()
        .iter()
        .map(|e| e.id().to_owned())
        .collect()
}

async fn post_event(app: &TestApp, source: &str, id: &str, body: &str) -> u16 {
    app.client
        .post(app.url("/"))
        .header("ce-specversion", "1.0")
        .header("ce-id", id)
        .header("ce-source", source)
        .header("ce-type", "dev.pact.contact.untranslated")
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

#[tokio::test]
async fn two_phones_reusing_an_event_id_both_get_their_contact() {
    let app = spawn_with_sink(Reply::Status(202), &[]).await;
    let contact =
        r#"{"mmid1":1,"mmid2":2,"lat":44.9,"lon":-93.2,"observed_at":"2026-11-24T10:00:00Z"}"#;
    // Same id, same contact, two sources: two events (CloudEvents makes only
    // source + id unique).
    assert_eq!(post_event(&app, "/phone/A", "1", contact).await, 202);
    assert_eq!(post_event(&app, "/phone/B", "1", contact).await, 202);
    // A redelivery of the first: the identical event.
    assert_eq!(post_event(&app, "/phone/A", "1", contact).await, 202);
    let ids = sent_ids(&app);
    assert_eq!(ids.len(), 3);
    assert_ne!(ids[0], ids[1], "two sources, one id: {ids:?}");
    assert_eq!(ids[0], ids[2], "a redelivery is the same event");
    let time = Some("2026-11-24T10:00:00Z");
    assert_eq!(
        ids[1],
        contact_id(&event_key("/phone/B", "1"), (1, 2, 44.9, -93.2), time)
    );
}

#[tokio::test]
async fn two_clients_reusing_an_idempotency_key_both_get_their_contact() {
    let app = spawn_with_sink(Reply::Status(202), &[]).await;
    let first = json!({"mmid1": 1, "mmid2": 2, "lat": 44.9, "lon": -93.2});
    let second = json!({"mmid1": 3, "mmid2": 4, "lat": 44.9, "lon": -93.2});
    let mut accepted = Vec::new();
    for contact in [&first, &second, &first] {
        let response = app
            .client
            .post(app.url("/contacts"))
            .header("idempotency-key", "1")
            .json(contact)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 202);
        let body: Value = response.json().await.expect("json");
        accepted.push(body["accepted"][0].as_str().expect("an id").to_owned());
    }
    assert_ne!(accepted[0], accepted[1], "two contacts under one key");
    // No time given: the retry, seconds later, is still the same event.
    assert_eq!(accepted[0], accepted[2], "a retry is the same event");
    assert_eq!(sent_ids(&app), accepted);

    // The original endpoint honours the key the same way.
    let mut ids = Vec::new();
    for message in ["1,2,44.9,-93.2", "5,6,44.9,-93.2", "1,2,44.9,-93.2"] {
        let response = app
            .client
            .post(app.url(&format!("/pact/producer?message={message}")))
            .header("idempotency-key", "1")
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 202);
        ids.push(sent_ids(&app).last().cloned().expect("an event"));
    }
    assert_ne!(ids[0], ids[1]);
    assert_eq!(ids[0], ids[2]);
    // The same key and contact on both endpoints is the same contact.
    assert_eq!(ids[0], accepted[0]);
}

#[tokio::test]
async fn array_items_sharing_an_id_are_kept_apart_by_their_contact() {
    let app = spawn_with_sink(Reply::Status(202), &[]).await;
    let items: Vec<Value> = (1..=10)
        .map(|i| json!({"id": "same", "mmid1": i, "mmid2": i + 100, "lat": 1.0, "lon": 2.0}))
        .collect();
    let response = app
        .client
        .post(app.url("/contacts"))
        .json(&items)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 202);
    let ids: HashSet<String> = sent_ids(&app).into_iter().collect();
    assert_eq!(ids.len(), 10, "{ids:?}");
}

#[tokio::test]
async fn contacts_without_a_key_are_each_new() {
    let app = spawn_with_sink(Reply::Status(202), &[]).await;
    for _ in 0..2 {
        let response = app
            .client
            .post(app.url("/contacts"))
            .json(&json!({"mmid1": 1, "mmid2": 2, "lat": 1.0, "lon": 2.0}))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 202);
    }
    let ids = sent_ids(&app);
    assert_ne!(ids[0], ids[1], "no key: each request is a new contact");
}

fn csv_lines(n: usize) -> String {
    (0..n)
        .map(|i| format!("{},{},44.9,-93.2\n", i + 1, i + 2))
        .collect()
}

fn event(i: usize) -> Value {
    json!({"specversion": "1.0", "id": format!("e{i}"), "source": "/t",
           "type": "dev.pact.contact.untranslated",
           "data": {"mmid1": i + 1, "mmid2": i + 2, "lat": 1.0, "lon": 2.0}})
}

#[tokio::test]
async fn every_form_takes_the_limit_and_refuses_one_more() {
    let app = spawn_with_sink(Reply::Status(202), &[]).await;
    let max = MAX_EVENTS_PER_REQUEST;
    let contacts = |n: usize| {
        let items: Vec<Value> = (0..n)
            .map(|i| json!({"mmid1": i + 1, "mmid2": i + 2, "lat": 1.0, "lon": 2.0}))
            .collect();
        (
            "/contacts",
            "application/json",
            serde_json::to_string(&items).expect("json"),
        )
    };
    let lines = |n: usize| ("/", "text/csv", csv_lines(n));
    let batch = |n: usize| {
        let events: Vec<Value> = (0..n).map(event).collect();
        (
            "/",
            "application/cloudevents-batch+json",
            serde_json::to_string(&events).expect("json"),
        )
    };
    let mut expected_sent = 0;
    for make in [
        &contacts as &dyn Fn(usize) -> (&'static str, &'static str, String),
        &lines,
        &batch,
    ] {
        for (n, status) in [(max, 202), (max + 1, 413)] {
            let (path, content_type, body) = make(n);
            let response = app
                .client
                .post(app.url(path))
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .expect("request");
            assert_eq!(response.status(), status, "{n} to {path} as {content_type}");
            if status == 413 {
                let p = problem(response).await;
                assert!(
                    p["detail"]
                        .as_str()
                        .is_some_and(|d| d.contains("more than 1000")),
                    "{p}"
                );
            } else {
                expected_sent += n;
            }
        }
    }
    assert_eq!(app.sink().accepted().len(), expected_sent);
}

#[tokio::test]
async fn tiny_items_filling_a_megabyte_are_refused_early_with_a_short_answer() {
    let app = spawn_with_sink(Reply::Status(202), &[]).await;
    // ~130k CSV lines of 8 bytes: refused at line 1001, not parsed to the end.
    let body = "1,2,3,4\n".repeat(130_000);
    let response = app
        .client
        .post(app.url("/"))
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 413);
    let text = response.text().await.expect("body");
    assert!(text.len() < 2_000, "a short answer: {} bytes", text.len());

    // A batch where every event is bad: the answer lists a bounded number.
    let events: Vec<Value> = (0..MAX_EVENTS_PER_REQUEST)
        .map(|i| {
            let mut e = event(i);
            e["data"]["lat"] = json!(500.0);
            e
        })
        .collect();
    let response = app
        .client
        .post(app.url("/"))
        .header("content-type", "application/cloudevents-batch+json")
        .body(serde_json::to_string(&events).expect("json"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 422);
    let p = problem(response).await;
    assert_eq!(p["errors"].as_array().map(Vec::len), Some(20), "{p}");
    assert!(
        p["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("1000 of the events")),
        "{p}"
    );
    assert!(app.sink().received().is_empty());
}

#[tokio::test]
async fn a_plain_json_body_without_event_attributes_is_refused() {
    let app = spawn_with_sink(Reply::Status(202), &[]).await;
    let body = r#"{"mmid1":1,"mmid2":2,"lat":1,"lon":2}"#;
    for (content_type, status) in [(Some("application/json"), 415), (None, 400)] {
        let mut request = app.client.post(app.url("/")).body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        let response = request.send().await.expect("request");
        assert_eq!(response.status(), status, "{content_type:?}");
        let p = problem(response).await;
        assert!(
            p["detail"]
                .as_str()
                .is_some_and(|d| d.contains("CloudEvent")),
            "{p}"
        );
    }
    assert!(app.sink().received().is_empty());
}

#[tokio::test]
async fn ids_that_would_collide_by_cleaning_are_refused() {
    let app = spawn_with_sink(Reply::Status(202), &[]).await;
    let contact = r#"{"mmid1":1,"mmid2":2,"lat":1,"lon":2}"#;
    for id in [" 1", "1 ", "a\u{202e}b", "caf\u{e9}", "a\tb"] {
        let event = json!({"specversion": "1.0", "id": id, "source": "/t",
                           "type": "dev.pact.contact.untranslated",
                           "data": serde_json::from_str::<Value>(contact).expect("json")});
        let response = app
            .client
            .post(app.url("/"))
            .header("content-type", "application/cloudevents+json")
            .body(event.to_string())
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 422, "{id:?}");
        assert_eq!(problem(response).await["field"], "id", "{id:?}");
    }
    assert!(app.sink().received().is_empty());
}
