//! The eventing stand-in's per-event hot path, without HTTP or SQLite: what
//! a sink does with a request before the record is written (`append/*`), and
//! what a delivery does with a record before the request is sent
//! (`deliver/*`), for a contact as pact-producer sends it: in the stored
//! binary-mode form, and as structured JSON (how events were stored before,
//! and still are when binary mode cannot carry them exactly).
//!
//! `cargo bench -p pact --bench stored`; numbers in docs/performance.md.
#![expect(
    missing_docs,
    reason = "criterion_group! generates an undocumented pub fn"
)]

use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue};
use pact::eventing::stored;
use pact_runtime::binary::{event_from_http, for_binary_mode};
use pact_runtime::cloudevents::Event;
use pact_runtime::cloudevents::binding::reqwest::RequestBuilderExt;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const DATA: &[u8] =
    br#"{"mmid1":1,"mmid2":2,"lat":44.9778,"lon":-93.265,"observed_at":"2026-11-24T10:00:00Z"}"#;

/// A contact as pact-producer sends it to the sink.
fn headers() -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in [
        ("ce-specversion", "1.0"),
        ("ce-id", "0195a3c2-7d1e-7000-8000-000000000001"),
        ("ce-source", "/pact/producer"),
        ("ce-type", "dev.pact.contact.untranslated"),
        ("ce-time", "2026-11-24T10:00:00.123Z"),
        ("ce-partitionkey", "1-2"),
        ("ce-traceparent", TRACEPARENT),
        ("content-type", "application/json"),
    ] {
        map.insert(name, HeaderValue::from_static(value));
    }
    map
}

fn event() -> Event {
    event_from_http(&headers(), DATA.to_vec()).expect("a valid event")
}

fn append(c: &mut Criterion) {
    let headers = headers();
    let mut group = c.benchmark_group("append");
    group.bench_function("stored", |b| {
        b.iter(|| {
            let event = event_from_http(black_box(&headers), DATA.to_vec()).expect("valid");
            stored::encode(&event).expect("encoded")
        });
    });
    group.bench_function("json", |b| {
        b.iter(|| {
            let event = event_from_http(black_box(&headers), DATA.to_vec()).expect("valid");
            serde_json::to_vec(&event).expect("JSON")
        });
    });
    group.finish();
}

fn deliver(c: &mut Criterion) {
    let client = reqwest::Client::new();
    let url: reqwest::Url = "http://127.0.0.1:8181/".parse().expect("URL");
    let form = Bytes::from(stored::encode(&event()).expect("encoded"));
    let json = Bytes::from(serde_json::to_vec(&event()).expect("JSON"));
    let mut group = c.benchmark_group("deliver");
    group.bench_function("stored", |b| {
        b.iter(|| {
            let (headers, body) = stored::decode(black_box(&form)).expect("decoded");
            client
                .post(url.clone())
                .headers(headers)
                .body(body)
                .build()
                .expect("request")
        });
    });
    group.bench_function("json", |b| {
        b.iter(|| {
            let event: Event = serde_json::from_slice(black_box(&json)).expect("event");
            let trace = event.extension("traceparent").map(ToString::to_string);
            let mut request = client
                .post(url.clone())
                .event(for_binary_mode(event))
                .expect("encoded");
            if let Some(trace) = trace {
                request = request.header("traceparent", trace);
            }
            request.build().expect("request")
        });
    });
    group.finish();
}

criterion_group!(benches, append, deliver);
criterion_main!(benches);
