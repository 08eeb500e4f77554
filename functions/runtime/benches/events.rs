//! The per-event hot paths of every PACT function, without HTTP:
//!
//! - `ingest/*`: a request's headers and body to a validated [`Contact`]
//!   (`read_events` → `untranslated()` → `into_contact`), for a binary-mode
//!   CloudEvent, a structured-mode one, a KafkaSource envelope and a plain
//!   CSV line;
//! - `encode/*`: a [`TranslatedContact`] to the binary-mode HTTP response
//!   pact-translation sends back in reply mode (data → `Emitter::build` →
//!   `Emitted::Reply` → `into_response`), in JSON and CSV, and the steps of
//!   it on their own;
//! - `deps/csv_reader_new`: what reading a CSV line costs before any byte
//!   is read;
//! - `sdk/*`: the CloudEvents SDK alone (headers → `Event`, `Event` →
//!   response), as floors for `ingest/binary` and `encode/reply_into_response`.
//!
//! `cargo bench -p pact-runtime --bench events`; numbers in docs/performance.md.
#![expect(
    missing_docs,
    reason = "criterion_group! generates an undocumented pub fn"
)]

use std::hint::black_box;

use axum::response::IntoResponse;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, StatusCode};
use pact_runtime::config::RuntimeConfig;
use pact_runtime::contact::TranslatedContact;
use pact_runtime::emit::{Emitted, Emitter, OutData, Outgoing};
use pact_runtime::ingest::read_events;
use pact_runtime::metrics::Metrics;
use pact_runtime::trace::TraceParent;
use pact_runtime::wire::{self, TranslatedData};

const ACCEPT: &[&str] = &[wire::UNTRANSLATED];
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const DATA: &[u8] =
    br#"{"mmid1":1,"mmid2":2,"lat":44.9778,"lon":-93.265,"observed_at":"2026-11-24T10:00:00Z"}"#;
const STRUCTURED: &[u8] = br#"{"specversion":"1.0","id":"0195a3c2-7d1e-7000-8000-000000000001","source":"/pact/producer","type":"dev.pact.contact.untranslated","time":"2026-11-24T10:00:00Z","datacontenttype":"application/json","partitionkey":"1-2","traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","data":{"mmid1":1,"mmid2":2,"lat":44.9778,"lon":-93.265,"observed_at":"2026-11-24T10:00:00Z"}}"#;
const CSV_LINE: &[u8] = b"1,2,44.9778,-93.2650,2026-11-24T10:00:00Z\n";

fn now() -> DateTime<Utc> {
    "2026-11-24T10:00:01Z".parse().expect("valid")
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, HeaderValue::from_str(value).expect("valid header"));
    }
    map
}

/// What pact-producer sends (and a KafkaSource delivers from a KafkaSink).
fn binary_headers() -> HeaderMap {
    headers(&[
        ("ce-specversion", "1.0"),
        ("ce-id", "0195a3c2-7d1e-7000-8000-000000000001"),
        ("ce-source", "/pact/producer"),
        ("ce-type", wire::UNTRANSLATED),
        ("ce-time", "2026-11-24T10:00:00Z"),
        ("ce-partitionkey", "1-2"),
        ("ce-traceparent", TRACEPARENT),
        ("content-type", "application/json"),
    ])
}

/// A plain Kafka record (kcat) wrapped by a KafkaSource: no content type.
fn envelope_headers() -> HeaderMap {
    headers(&[
        ("ce-specversion", "1.0"),
        ("ce-id", "partition:0/offset:7"),
        (
            "ce-source",
            "/apis/v1/namespaces/pact/kafkasources/untranslated#pact-untranslated",
        ),
        ("ce-type", wire::KAFKA_EVENT),
        ("ce-key", "1-2"),
        ("ce-knativekafkapartition", "0"),
        ("ce-knativekafkaoffset", "7"),
    ])
}

/// headers + body → validated contacts, as every function's `POST /` starts.
fn ingest(headers: &HeaderMap, body: &Bytes) -> usize {
    let events = read_events(headers, body.clone(), ACCEPT).expect("readable");
    let now = now();
    events
        .into_iter()
        .map(|e| {
            e.untranslated()
                .expect("untranslated data")
                .into_contact(e.time, now)
                .expect("valid contact")
        })
        .map(|c| black_box(c).pair.first().get() as usize)
        .sum()
}

fn ingest_benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(1));
    let cases = [
        ("binary", binary_headers(), Bytes::from_static(DATA)),
        (
            "structured",
            headers(&[("content-type", "application/cloudevents+json")]),
            Bytes::from_static(STRUCTURED),
        ),
        (
            "kafka_envelope_csv",
            envelope_headers(),
            Bytes::from_static(CSV_LINE),
        ),
        (
            "csv_line",
            headers(&[("content-type", "text/csv")]),
            Bytes::from_static(CSV_LINE),
        ),
    ];
    for (name, headers, body) in &cases {
        assert_eq!(ingest(headers, body), 1, "{name}");
        group.bench_function(*name, |b| {
            b.iter(|| ingest(black_box(headers), black_box(body)))
        });
    }
    group.finish();

    // What `wire::csv_records` pays before reading a byte: a new csv reader
    // (its 8 KiB buffer and its parser's transition table) per request.
    c.bench_function("deps/csv_reader_new", |b| {
        b.iter(|| {
            csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .trim(csv::Trim::All)
                .from_reader(black_box(CSV_LINE))
        })
    });

    // The floor under `ingest/binary`: the SDK alone (headers → Event).
    let binary = binary_headers();
    c.bench_function("sdk/to_event_binary", |b| {
        b.iter(|| cloudevents::binding::http::to_event(black_box(&binary), DATA.to_vec()))
    });
}

/// A contact as pact-translation has it after the geocoder answered.
fn translated() -> TranslatedContact {
    TranslatedData {
        mmid1: 1,
        mmid2: 2,
        lat: Some(44.9778),
        lon: Some(-93.265),
        observed_at: Some("2026-11-24T10:00:00Z".into()),
        street: String::new(),
        city: "Minneapolis".into(),
        state: "MN".into(),
        zipcode: "55415".into(),
        country: "US".into(),
        geocoder: "offline".into(),
    }
    .into_contact(None, now())
    .expect("valid")
}

fn outgoing(contact: &TranslatedContact, data: OutData) -> Outgoing {
    Outgoing {
        id: "0195a3c2-7d1e-7000-8000-000000000001".into(),
        event_type: wire::TRANSLATED,
        time: contact.observed_at.get(),
        partition_key: Some(contact.pair.partition_key()),
        traceparent: TraceParent::parse(TRACEPARENT),
        data,
    }
}

/// The JSON data exactly as pact-translation builds it.
fn json_data(contact: &TranslatedContact) -> OutData {
    OutData::Json(serde_json::to_vec(&TranslatedData::from(contact)).expect("serializable"))
}

fn encode_benches(c: &mut Criterion) {
    let emitter = Emitter::new(
        "/pact/translation",
        &RuntimeConfig::default(),
        Metrics::new().freeze(),
    );
    let contact = translated();

    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(1));
    // The whole output side of one translated event, JSON data.
    group.bench_function("json_event_to_response", |b| {
        b.iter(|| {
            let event = emitter
                .build(outgoing(black_box(&contact), json_data(&contact)))
                .expect("valid");
            Emitted::Reply(vec![event]).into_response(StatusCode::OK)
        })
    });
    // The same with PACT_OUTPUT_FORMAT=csv.
    group.bench_function("csv_event_to_response", |b| {
        b.iter(|| {
            let line = wire::translated_to_csv(black_box(&contact));
            let event = emitter
                .build(outgoing(&contact, OutData::Csv(line)))
                .expect("valid");
            Emitted::Reply(vec![event]).into_response(StatusCode::OK)
        })
    });
    // Its steps.
    group.bench_function("json_data", |b| b.iter(|| json_data(black_box(&contact))));
    group.bench_function("build", |b| {
        b.iter_batched(
            || outgoing(&contact, json_data(&contact)),
            |out| emitter.build(out).expect("valid"),
            criterion::BatchSize::SmallInput,
        )
    });
    let event = emitter
        .build(outgoing(&contact, json_data(&contact)))
        .expect("valid");
    group.bench_function("reply_into_response", |b| {
        b.iter_batched(
            || Emitted::Reply(vec![event.clone()]),
            |reply| reply.into_response(StatusCode::OK),
            criterion::BatchSize::SmallInput,
        )
    });
    group.bench_function("translated_to_csv", |b| {
        b.iter(|| wire::translated_to_csv(black_box(&contact)))
    });
    group.finish();

    // The SDK's part of it (no percent-encoding of header values).
    c.bench_function("sdk/event_into_response", |b| {
        b.iter_batched(
            || event.clone(),
            IntoResponse::into_response,
            criterion::BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, ingest_benches, encode_benches);
criterion_main!(benches);
