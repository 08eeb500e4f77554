//! The three ways in: the original endpoint, POST /contacts, POST /.

use pact_runtime::cloudevents::AttributesReader;
use pact_runtime::testing::Reply;
use serde_json::{Value, json};

use crate::helpers::{contact_id, event_key, problem, spawn_reply_mode, spawn_with_sink};

fn data(event: &pact_runtime::cloudevents::Event) -> Value {
    match event.data() {
        Some(pact_runtime::cloudevents::Data::Binary(bytes)) => {
            serde_json::from_slice(bytes).expect("JSON data")
        }
        Some(pact_runtime::cloudevents::Data::Json(value)) => value.clone(),
        other => panic!("unexpected data {other:?}"),
    }
}

#[tokio::test]
async fn the_original_endpoint_takes_a_query_message() {
    let app = spawn_with_sink(Reply::Status(202), &[]).await;
    let response = app
        .client
        .post(app.url("/pact/producer?message=2,1,44.986656,-93.258133"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 202);
    let text = response.text().await.expect("body");
    let events = app.sink().accepted();
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert!(text.contains(event.id()), "{text}");
    assert_eq!(event.ty(), "dev.pact.contact.untranslated");
    assert_eq!(event.source().to_string(), "/pact/producer");
    assert_eq!(event.datacontenttype(), Some("application/json"));
    assert_eq!(
        event
            .extension("partitionkey")
            .map(|v| v.to_string())
            .as_deref(),
        Some("1-2")
    );
    let body = data(event);
    assert_eq!(body["mmid1"], 2);
    assert_eq!(body["mmid2"], 1);
    assert_eq!(body["lat"], 44.986656);
    assert_eq!(body["lon"], -93.258133);
    assert!(body["observed_at"].is_string());
    // Binary mode: the attributes travel as ce- headers.
    let received = &app.sink().received()[0];
    assert_eq!(received.headers["ce-specversion"], "1.0");
    assert_eq!(received.headers["content-type"], "application/json");
}

#[tokio::test]
async fn the_original_endpoint_takes_a_form_body() {
    let app = spawn_with_sink(Reply::Status(202), &[]).await;
    let response = app
        .client
        .post(app.url("/pact/producer"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("message=1%2C2%2C44.9778%2C-93.2650")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 202);
    assert_eq!(data(&app.sink().accepted()[0])["lat"], 44.9778);
}

#[tokio::test]
async fn the_original_endpoint_explains_what_is_wrong() {
    let app = spawn_with_sink(Reply::Status(202), &[]).await;
    let cases = [
        ("/pact/producer", 400, None),
        ("/pact/producer?message=1,2,44.9", 400, None),
        ("/pact/producer?message=1,x,44.9,-93.2", 400, None),
        ("/pact/producer?message=1,1,44.9,-93.2", 422, Some("mmid2")),
        ("/pact/producer?message=0,1,44.9,-93.2", 422, Some("mmid1")),
        ("/pact/producer?message=1,2,95,-93.2", 422, Some("lat")),
        ("/pact/producer?message=1,2,45,-193.2", 422, Some("lon")),
        ("/pact/producer?message=1,2,NaN,1", 422, Some("lat")),
        (
            "/pact/producer?message=1,2,45,-93.2,2999-01-01T00:00:00Z",
            422,
            Some("observed_at"),
        ),
    ];
    for (path, status, field) in cases {
        let response = app
            .client
            .post(app.url(path))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), status, "{path}");
        let body = problem(response).await;
        assert_eq!(body["status"], status, "{path}");
        assert!(!body["detail"].as_str().unwrap_or_default().is_empty());
        if let Some(field) = field {
            assert_eq!(body["field"], field, "{path}: {body}");
        }
    }
    assert!(app.sink().received().is_empty(), "nothing bad was sent");
}

#[tokio::test]
async fn contacts_takes_an_object_with_an_idempotency_key() {
    let app = spawn_with_sink(Reply::Status(202), &[]).await;
    let contact = json!({"mmid1": 1, "mmid2": 2, "lat": 44.9778, "lon": -93.265,
                         "observed_at": "2026-11-24T10:00:00Z"});
    for _ in 0..2 {
        let response = app
            .client
            .post(app.url("/contacts"))
            .header("idempotency-key", "phone-7-contact-42")
            .json(&contact)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 202);
        let body: Value = response.json().await.expect("json");
        let id = contact_id(
            "phone-7-contact-42",
            (1, 2, 44.9778, -93.265),
            Some("2026-11-24T10:00:00Z"),
        );
        assert_eq!(body["accepted"], json!([id]));
    }
    let events = app.sink().accepted();
    assert_eq!(events.len(), 2);
    // A retried request is the same event: downstream deduplicates by (source, id).
    assert_eq!(events[0].id(), events[1].id());
    assert_eq!(events[0].source(), events[1].source());
    assert_eq!(
        events[0].time().map(|t| t.to_rfc3339()).as_deref(),
        Some("2026-11-24T10:00:00+00:00")
    );
}

#[tokio::test]
async fn contacts_takes_an_array_with_ids() {
    let app = spawn_with_sink(Reply::Status(202), &[]).await;
    let contacts: Vec<Value> = (1..=50)
        .map(|i| json!({"id": format!("c{i}"), "mmid1": i, "mmid2": i + 1, "lat": 10.0, "lon": 20.0}))
        .collect();
    let response = app
        .client
        .post(app.url("/contacts"))
        .json(&contacts)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["accepted"].as_array().map(Vec::len), Some(50));
    let mut ids: Vec<String> = app
        .sink()
        .accepted()
        .iter()
        .map(|e| e.id().to_owned())
        .collect();
    ids.sort();
    let mut expected: Vec<String> = (1..=50)
        .map(|i| contact_id(&format!("c{i}"), (i, i + 1, 10.0, 20.0), None))
        .collect();
    expected.sort();
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn contacts_is_all_or_nothing() {
    let app = spawn_with_sink(Reply::Status(202), &[]).await;
    let contacts = json!([
        {"mmid1": 1, "mmid2": 2, "lat": 10.0, "lon": 20.0},
        {"mmid1": 3, "mmid2": 3, "lat": 10.0, "lon": 20.0},
        {"mmid1": 4, "mmid2": 5, "lat": 100.0, "lon": 20.0},
    ]);
    let response = app
        .client
        .post(app.url("/contacts"))
        .json(&contacts)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 422);
    let body = problem(response).await;
    let errors = body["errors"].as_array().expect("per-item errors");
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0]["index"], 1);
    assert_eq!(errors[0]["field"], "mmid2");
    assert_eq!(errors[1]["index"], 2);
    assert_eq!(errors[1]["field"], "lat");
    assert!(app.sink().received().is_empty());
}

#[tokio::test]
async fn contacts_rejects_bad_requests_permanently() {
    let app = spawn_with_sink(Reply::Status(202), &[]).await;
    let too_many: Vec<Value> = (1..=1001)
        .map(|i| json!({"mmid1": i, "mmid2": i + 1, "lat": 1.0, "lon": 2.0}))
        .collect();
    let cases: Vec<(reqwest::RequestBuilder, u16)> = vec![
        (app.client.post(app.url("/contacts")).json(&too_many), 413),
        (app.client.post(app.url("/contacts")).body("{not json"), 400),
        (app.client.post(app.url("/contacts")).json(&json!([])), 400),
        (
            app.client.post(app.url("/contacts")).json(&json!("text")),
            400,
        ),
        (
            app.client
                .post(app.url("/contacts"))
                .json(&json!({"mmid1": 1.5, "mmid2": 2, "lat": 1, "lon": 2})),
            400,
        ),
        (
            app.client
                .post(app.url("/contacts"))
                .json(&json!({"mmid2": 2, "lat": 1, "lon": 2})),
            400,
        ),
        (
            app.client
                .post(app.url("/contacts"))
                .header("content-type", "application/xml")
                .body("<contact/>"),
            415,
        ),
        (
            app.client
                .post(app.url("/contacts"))
                .header("idempotency-key", "k")
                .json(&json!([{"mmid1": 1, "mmid2": 2, "lat": 1, "lon": 2}])),
            422,
        ),
        (
            app.client
                .post(app.url("/contacts"))
                .json(&json!({"id": "", "mmid1": 1, "mmid2": 2, "lat": 1, "lon": 2})),
            422,
        ),
    ];
    for (request, status) in cases {
        let response = request.send().await.expect("request");
        assert_eq!(response.status(), status);
        let body = problem(response).await;
        assert!(!body["detail"].as_str().unwrap_or_default().is_empty());
    }
    assert!(app.sink().received().is_empty());
}

#[tokio::test]
async fn a_cloudevent_is_forwarded_under_its_derived_id_with_its_trace() {
    let overrides = r#"{"extensions":{"cluster":"kind"}}"#;
    let app = spawn_with_sink(Reply::Status(202), &[("K_CE_OVERRIDES", overrides)]).await;
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let response = app
        .client
        .post(app.url("/"))
        .header("ce-specversion", "1.0")
        .header("ce-id", "phone-1-0001")
        .header("ce-source", "/phones/1")
        .header("ce-type", "dev.pact.contact.untranslated")
        .header("ce-time", "2026-11-24T10:00:00Z")
        .header("ce-traceparent", traceparent)
        .header("content-type", "application/json")
        .body(r#"{"mmid1":5,"mmid2":3,"lat":-33.9,"lon":18.4}"#)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 202);
    let event = &app.sink().accepted()[0];
    let key = event_key("/phones/1", "phone-1-0001");
    let id = contact_id(&key, (5, 3, -33.9, 18.4), Some("2026-11-24T10:00:00Z"));
    assert_eq!(event.id(), id);
    assert_eq!(event.source().to_string(), "/pact/producer");
    assert_eq!(
        event
            .extension("partitionkey")
            .map(|v| v.to_string())
            .as_deref(),
        Some("3-5")
    );
    assert_eq!(
        event
            .extension("traceparent")
            .map(|v| v.to_string())
            .as_deref(),
        Some(traceparent)
    );
    assert_eq!(
        event.extension("cluster").map(|v| v.to_string()).as_deref(),
        Some("kind")
    );
    // The event time stands in for a missing observed_at.
    assert_eq!(data(event)["observed_at"], "2026-11-24T10:00:00Z");
    let received = &app.sink().received()[0];
    assert_eq!(received.headers["traceparent"], traceparent);
}

#[tokio::test]
async fn reply_mode_returns_the_event_in_binary_mode() {
    let app = spawn_reply_mode().await;
    let response = app
        .client
        .post(app.url("/"))
        .header("content-type", "application/cloudevents+json")
        .body(
            json!({"specversion": "1.0", "id": "s-1", "source": "/sim", "type": "dev.pact.contact.untranslated",
                   "datacontenttype": "application/json",
                   "data": {"mmid1": 1, "mmid2": 2, "lat": 1.5, "lon": 2.5}})
            .to_string(),
        )
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let id = contact_id(&event_key("/sim", "s-1"), (1, 2, 1.5, 2.5), None);
    assert_eq!(response.headers()["ce-id"], id.as_str());
    assert_eq!(
        response.headers()["ce-type"],
        "dev.pact.contact.untranslated"
    );
    assert_eq!(response.headers()["ce-partitionkey"], "1-2");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["lat"], 1.5);
}
