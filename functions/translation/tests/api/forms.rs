//! Every accepted input form gives the same translated event.

use pact_runtime::cloudevents::AttributesReader;
use serde_json::{Value, json};

use crate::helpers::{derived_id, json_data, reply_event, spawn};

const MINNEAPOLIS: (f64, f64) = (44.9778, -93.2650);

fn assert_minneapolis(data: &Value) {
    assert_eq!(data["mmid1"], 1);
    assert_eq!(data["mmid2"], 2);
    assert_eq!(data["lat"], MINNEAPOLIS.0);
    assert_eq!(data["lon"], MINNEAPOLIS.1);
    assert_eq!(data["street"], "");
    assert_eq!(data["city"], "Minneapolis");
    assert_eq!(data["state"], "MN");
    // Nearest ZIP area centroid in downtown Minneapolis (55401/55402/55415).
    assert!(
        data["zipcode"]
            .as_str()
            .is_some_and(|z| z.starts_with("554")),
        "{data}"
    );
    assert_eq!(data["country"], "US");
    assert_eq!(data["geocoder"], "offline");
}

#[tokio::test]
async fn binary_mode_json() {
    let app = spawn(&[]).await;
    let response = app
        .client
        .post(app.url())
        .header("ce-specversion", "1.0")
        .header("ce-id", "evt-1")
        .header("ce-source", "/pact/producer")
        .header("ce-type", "dev.pact.contact.untranslated")
        .header("ce-partitionkey", "1-2")
        .header("content-type", "application/json")
        .body(r#"{"mmid1":1,"mmid2":2,"lat":44.9778,"lon":-93.2650,"observed_at":"2026-11-24T10:00:00Z"}"#)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let event = reply_event(response).await;
    assert_eq!(
        event.id(),
        derived_id("/pact/producer", "evt-1"),
        "the output id derives from the input's source and id"
    );
    assert_eq!(event.ty(), "dev.pact.contact.translated");
    assert_eq!(event.source().to_string(), "/pact/translation");
    assert_eq!(event.datacontenttype(), Some("application/json"));
    assert_eq!(
        event.time().map(|t| t.to_rfc3339()).as_deref(),
        Some("2026-11-24T10:00:00+00:00")
    );
    assert_eq!(
        event
            .extension("partitionkey")
            .map(|v| v.to_string())
            .as_deref(),
        Some("1-2")
    );
    let data = json_data(&event);
    assert_minneapolis(&data);
    assert_eq!(data["observed_at"], "2026-11-24T10:00:00Z");
}

#[tokio::test]
async fn structured_mode() {
    let app = spawn(&[]).await;
    let event = json!({
        "specversion": "1.0", "id": "s-1", "source": "/sim", "type": "dev.pact.contact.untranslated",
        "datacontenttype": "application/json",
        "data": {"mmid1": 1, "mmid2": 2, "lat": MINNEAPOLIS.0, "lon": MINNEAPOLIS.1}
    });
    let response = app
        .client
        .post(app.url())
        .header("content-type", "application/cloudevents+json")
        .body(event.to_string())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let event = reply_event(response).await;
    assert_eq!(event.id(), derived_id("/sim", "s-1"));
    assert_minneapolis(&json_data(&event));
}

#[tokio::test]
async fn batched_mode_replies_with_a_batch() {
    let app = spawn(&[]).await;
    let one = |id: &str, lat: f64, lon: f64| {
        json!({"specversion": "1.0", "id": id, "source": "/sim", "type": "dev.pact.contact.untranslated",
               "datacontenttype": "application/json",
               "data": {"mmid1": 1, "mmid2": 2, "lat": lat, "lon": lon}})
    };
    let batch = json!([
        one("b-1", MINNEAPOLIS.0, MINNEAPOLIS.1),
        one("b-2", 51.5074, -0.1278)
    ]);
    let response = app
        .client
        .post(app.url())
        .header("content-type", "application/cloudevents-batch+json")
        .body(batch.to_string())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/cloudevents-batch+json"
    );
    let events: Vec<Value> = response.json().await.expect("batch");
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["id"], derived_id("/sim", "b-1"));
    assert_minneapolis(&events[0]["data"]);
    assert_eq!(events[1]["id"], derived_id("/sim", "b-2"));
    assert_eq!(events[1]["data"]["country"], "GB");
}

#[tokio::test]
async fn a_kafka_envelope_with_the_original_csv_line_and_no_content_type() {
    let app = spawn(&[]).await;
    let response = app
        .client
        .post(app.url())
        .header("ce-specversion", "1.0")
        .header("ce-id", "partition:0/offset:42")
        .header(
            "ce-source",
            "/apis/v1/namespaces/pact/kafkasources/untranslated#pact-untranslated",
        )
        .header("ce-type", "dev.knative.kafka.event")
        .header("ce-time", "2026-11-24T09:30:00Z")
        .header("ce-knativekafkapartition", "0")
        .header("ce-knativekafkaoffset", "42")
        .header("ce-key", "1-2")
        .header("ce-kafkaheadercontenttype", "text/plain")
        .body("1,2,44.9778,-93.2650")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let event = reply_event(response).await;
    assert_eq!(
        event.id(),
        derived_id(
            "/apis/v1/namespaces/pact/kafkasources/untranslated#pact-untranslated",
            "partition:0/offset:42"
        )
    );
    let data = json_data(&event);
    assert_minneapolis(&data);
    // The record's time stands in for the missing observed_at.
    assert_eq!(data["observed_at"], "2026-11-24T09:30:00Z");
}

#[tokio::test]
async fn plain_csv_lines_like_the_original_demo() {
    let app = spawn(&[]).await;
    for content_type in [None, Some("text/plain"), Some("text/csv")] {
        let mut request = app.client.post(app.url()).body("1,2,44.9778,-93.2650\n");
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        let response = request.send().await.expect("request");
        assert_eq!(response.status(), 200, "{content_type:?}");
        let event = reply_event(response).await;
        assert!(
            uuid::Uuid::parse_str(event.id()).is_ok(),
            "a new UUID for an event without identity"
        );
        assert_minneapolis(&json_data(&event));
    }
}

#[tokio::test]
async fn csv_output_is_the_original_translated_line() {
    let app = spawn(&[("PACT_OUTPUT_FORMAT", "csv")]).await;
    let response = app
        .client
        .post(app.url())
        .body("1,2,44.9778,-93.2650")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/csv");
    let line = response.text().await.expect("body");
    let zip = pact_translation::Offline::lookup(
        pact_runtime::contact::Coordinates::parse(MINNEAPOLIS.0, MINNEAPOLIS.1).expect("valid"),
    )
    .expect("lookup")
    .address
    .zipcode;
    assert_eq!(line, format!("1,2,,Minneapolis,MN,{},US", zip.as_str()));
}

#[tokio::test]
async fn the_open_sea_translates_to_no_place() {
    let app = spawn(&[]).await;
    let response = app
        .client
        .post(app.url())
        .body("1,2,30.0,-40.0")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let data = json_data(&reply_event(response).await);
    assert_eq!(data["geocoder"], "none");
    for field in ["street", "city", "state", "zipcode", "country"] {
        assert_eq!(data[field], "", "{field}");
    }
}

#[tokio::test]
async fn bad_input_is_a_permanent_error_naming_the_field() {
    let app = spawn(&[]).await;
    let cases: [(&str, Option<&str>, u16, Option<&str>); 7] = [
        ("1,2,44.9", None, 400, None),
        ("1,2,44.9,-200", None, 422, Some("lon")),
        ("1,2,44.9,-93\n3,3,1,1\n", Some("text/csv"), 422, None),
        // JSON needs a CloudEvent around it (an identity).
        ("{\"mmid1\":1}", Some("application/json"), 415, None),
        ("{\"mmid1\":1}", None, 400, None),
        ("<xml/>", Some("application/xml"), 415, None),
        ("", None, 400, None),
    ];
    for (body, content_type, status, field) in cases {
        let mut request = app.client.post(app.url()).body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        let response = request.send().await.expect("request");
        assert_eq!(response.status(), status, "{body}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: Value = response.json().await.expect("problem");
        if let Some(field) = field {
            assert_eq!(problem["field"], field);
        }
    }
}

#[test]
fn configuration_names_bad_values() {
    let env: std::collections::HashMap<&str, &str> =
        [("PACT_GEOCODER", "google"), ("PACT_OUTPUT_FORMAT", "xml")]
            .into_iter()
            .collect();
    let err = pact_translation::Config::from_env(&env).expect_err("invalid");
    let text = err.to_string();
    assert!(text.contains("PACT_GEOCODER=\"google\""), "{text}");
    assert!(
        text.contains("PACT_OUTPUT_FORMAT=\"xml\": json or csv"),
        "{text}"
    );
}
