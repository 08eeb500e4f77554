//! Property-based fuzzing of every parser entry point of the runtime, on
//! arbitrary bytes and on mutations of valid input: event intake in every
//! mode (binary, structured, batched, KafkaSource envelopes, CSV lines), the
//! CSV reader, the bounded JSON array reader, the binary-mode header codec
//! and the event id rule. Nothing may panic, no limit may be passed, and what
//! is accepted must round-trip.
//!
//! CI runs the default 256 cases per property; `scripts/fuzz.sh` runs them
//! for as long as asked (`PROPTEST_CASES` sets the cases per run).

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use pact_runtime::cloudevents::{AttributesReader, EventBuilder, EventBuilderV10};
use pact_runtime::contact::Contact;
use pact_runtime::emit::Emitted;
use pact_runtime::ingest::{MAX_EVENTS_PER_REQUEST, json_array, read_events};
use pact_runtime::wire::{self, UntranslatedData};
use pact_runtime::{Error, identity};
use proptest::prelude::*;

const ACCEPT: &[&str] = &[wire::UNTRANSLATED];

const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "application/cloudevents+json",
    "application/cloudevents-batch+json",
    "text/csv",
    "text/plain; charset=utf-8",
    "application/octet-stream",
    "",
];

/// Valid bodies of every form, for mutation.
const SEEDS: &[&str] = &[
    r#"{"mmid1":1,"mmid2":2,"lat":44.9,"lon":-93.2,"observed_at":"2026-11-24T10:00:00Z"}"#,
    "1,2,44.9778,-93.2650\n3,4,51.5,-0.12,2026-11-24T10:00:00Z\n",
    r#"{"specversion":"1.0","id":"a","source":"/s","type":"dev.pact.contact.untranslated","data":{"mmid1":1,"mmid2":2,"lat":1,"lon":2}}"#,
    r#"[{"specversion":"1.0","id":"a","source":"/s","type":"dev.pact.contact.untranslated","datacontenttype":"text/csv","data":"1,2,3,4"}]"#,
    r#"{"specversion":"1.0","id":"k","source":"/k","type":"dev.knative.kafka.event","data_base64":"MSwyLDMsNA=="}"#,
];

fn now() -> DateTime<Utc> {
    Utc::now()
}

/// Arbitrary bytes, or a valid body with bytes flipped, inserted or cut.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512),
        (
            proptest::sample::select(SEEDS),
            proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 0..8),
        )
            .prop_map(|(seed, edits)| {
                let mut bytes = seed.as_bytes().to_vec();
                for (at, byte, kind) in edits {
                    let at = at % (bytes.len() + 1);
                    match kind {
                        0 if at < bytes.len() => bytes[at] = byte,
                        1 => bytes.insert(at, byte),
                        _ => bytes.truncate(at),
                    }
                }
                bytes
            }),
    ]
}

/// Header values of any bytes a client can put on the wire.
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[ -~]{0,40}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..40),
    ]
}

fn headers(content_type: &'static str, ce: Option<[Vec<u8>; 4]>) -> HeaderMap {
    let mut map = HeaderMap::new();
    if !content_type.is_empty() {
        map.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    if let Some(values) = ce {
        for (name, value) in ["ce-specversion", "ce-id", "ce-source", "ce-type"]
            .into_iter()
            .zip(values)
        {
            // A value no HTTP parser would hand over is not a case.
            if let Ok(value) = HeaderValue::from_bytes(&value) {
                map.insert(HeaderName::from_static(name), value);
            }
        }
    }
    map
}

fn contact_strategy() -> impl Strategy<Value = Contact> {
    (
        1..i64::MAX,
        1..i64::MAX,
        -90.0..=90.0f64,
        -180.0..=180.0f64,
        0i64..1_700_000_000,
        0u32..1_000,
    )
        .prop_filter("two people", |(a, b, ..)| a != b)
        .prop_map(|(a, b, lat, lon, secs, millis)| {
            UntranslatedData {
                mmid1: a,
                mmid2: b,
                lat,
                lon,
                observed_at: DateTime::from_timestamp(secs, millis * 1_000_000)
                    .map(|t| t.to_rfc3339()),
            }
            .into_contact(None, now())
            .expect("generated valid")
        })
}

proptest! {
    // Failing cases are kept beside this file, so a rerun tries them first.
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct("tests/fuzz.proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    /// Every mode of `POST /` on arbitrary or mutated bodies and headers:
    /// never a panic, never more than the limit of events, and every
    /// accepted event's contact survives being written out and read back.
    #[test]
    fn event_intake_never_panics_and_accepted_contacts_round_trip(
        body in body(),
        content_type in proptest::sample::select(CONTENT_TYPES),
        ce in proptest::option::of([header_value(), header_value(), header_value(), header_value()]),
    ) {
        let headers = headers(content_type, ce);
        let Ok(events) = read_events(&headers, Bytes::from(body), ACCEPT) else {
            return Ok(());
        };
        prop_assert!(!events.is_empty() && events.len() <= MAX_EVENTS_PER_REQUEST);
        for event in events {
            if let Some(sender) = &event.identity {
                // An id that passes the rule is printable ASCII, untrimmed.
                if let Ok(id) = identity::event_id("id", &sender.id) {
                    prop_assert!(id.bytes().all(|b| (b' '..=b'~').contains(&b)));
                    prop_assert_eq!(sender.key().ok(), Some(identity::of_event(&sender.source, &id)));
                }
            }
            let Ok(contact) = event.untranslated().and_then(|d| d.into_contact(event.time, now())) else {
                continue;
            };
            prop_assert_eq!(&reread_json(&contact), &contact);
            prop_assert_eq!(&reread_csv(&contact), &contact);
        }
    }

    /// Valid contacts always round-trip through both wire forms.
    #[test]
    fn valid_contacts_round_trip(contact in contact_strategy()) {
        prop_assert_eq!(&reread_json(&contact), &contact);
        prop_assert_eq!(&reread_csv(&contact), &contact);
    }

    /// The CSV reader: never a panic, never more records than the limit.
    #[test]
    fn csv_reader_keeps_its_limit(body in body(), limit in 0usize..8) {
        match wire::csv_records(&body, limit) {
            Ok(records) => prop_assert!(records.len() <= limit),
            Err(Error::TooMany { limit: l }) => prop_assert_eq!(l, limit),
            Err(Error::Malformed(_)) => {}
            Err(e) => prop_assert!(false, "unexpected error {e:?}"),
        }
    }

    /// The bounded JSON array reader: never a panic, never past the limit.
    #[test]
    fn json_array_reader_keeps_its_limit(body in body()) {
        if let Ok(items) = json_array::<serde_json::Value>(&body, "fuzz") {
            prop_assert!(items.len() <= MAX_EVENTS_PER_REQUEST);
        }
    }

    /// The binary-mode header codec: any attribute text an event may hold
    /// goes out as headers and comes back as the same text.
    #[test]
    fn binary_mode_headers_round_trip(
        id in "\\PC{1,40}",
        source in "\\PC{1,40}",
        extension in "\\PC{0,40}",
    ) {
        let event = EventBuilderV10::new()
            .id(id.as_str())
            .source(source.as_str())
            .ty(wire::UNTRANSLATED)
            .extension("partitionkey", extension.as_str())
            .data("application/json", b"{}".to_vec())
            .build()
            .expect("a valid event");
        let response = Emitted::Reply(vec![event]).into_response(StatusCode::OK);
        let (parts, _) = response.into_parts();
        let back = pact_runtime::binary::event_from_http(&parts.headers, b"{}".to_vec())
            .map_err(TestCaseError::fail)?;
        prop_assert_eq!(back.id(), id.as_str());
        prop_assert_eq!(back.source().as_str(), source.as_str());
        prop_assert_eq!(back.extension("partitionkey").map(ToString::to_string), Some(extension));
    }

    /// The event id rule on any text: what passes is printable ASCII of
    /// 1 to 128 characters, not padded, and returned unchanged.
    #[test]
    fn event_ids_that_pass_are_printable_and_unchanged(raw in "\\PC{0,140}|[ -~]{0,140}") {
        if let Ok(id) = identity::event_id("id", &raw) {
            prop_assert_eq!(&id, &raw);
            prop_assert!((1..=identity::MAX_EVENT_ID_CHARS).contains(&id.len()));
            prop_assert!(!id.starts_with(' ') && !id.ends_with(' '));
        }
    }
}

fn reread_json(contact: &Contact) -> Contact {
    let body = serde_json::to_vec(&UntranslatedData::from(contact)).expect("JSON");
    let mut headers = headers("application/json", None);
    for (name, value) in [
        ("ce-specversion", "1.0"),
        ("ce-id", "x"),
        ("ce-source", "/x"),
        ("ce-type", wire::UNTRANSLATED),
    ] {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    let events = read_events(&headers, Bytes::from(body), ACCEPT).expect("reads back");
    events[0]
        .untranslated()
        .and_then(|d| d.into_contact(None, now()))
        .expect("valid")
}

fn reread_csv(contact: &Contact) -> Contact {
    let line = wire::untranslated_to_csv(contact);
    let events =
        read_events(&headers("text/csv", None), Bytes::from(line), ACCEPT).expect("reads back");
    events[0]
        .untranslated()
        .and_then(|d| d.into_contact(None, now()))
        .expect("valid")
}
