//! pact-translation's whole `POST /` in-process: the request goes through the
//! function's router (the contract's middleware, body limit, parsing,
//! validation, the offline geocoder, building the output event, the
//! binary-mode reply) with `tower::ServiceExt::oneshot`, in reply mode
//! (`K_SINK` unset). No socket and no HTTP/1 codec: `benches/load.sh`
//! measures those.
//!
//! Two floors help read the numbers: `router/bare_axum` (an axum `Router`
//! with one trivial `POST /`) and `router/contract_floor` (the same trivial
//! handler inside `pact_runtime::server::contract`, i.e. the middleware every
//! function pays).
//!
//! `cargo bench -p pact-translation --bench translate`; numbers in
//! docs/performance.md.
#![expect(
    missing_docs,
    reason = "criterion_group! generates an undocumented pub fn"
)]

use std::collections::HashMap;
use std::hint::black_box;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode};
use axum::routing::post;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use http_body_util::BodyExt;
use pact_runtime::config::RuntimeConfig;
use pact_runtime::metrics::Metrics;
use pact_runtime::server::{AlwaysReady, contract};
use pact_translation::{AppState, Config, Offline, app};
use tower::ServiceExt;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const DATA: &str =
    r#"{"mmid1":1,"mmid2":2,"lat":44.9778,"lon":-93.265,"observed_at":"2026-11-24T10:00:00Z"}"#;
const CSV_LINE: &str = "1,2,44.9778,-93.2650,2026-11-24T10:00:00Z\n";

fn structured(id: usize) -> String {
    format!(
        r#"{{"specversion":"1.0","id":"0195a3c2-7d1e-7000-8000-{id:012}","source":"/pact/producer","type":"dev.pact.contact.untranslated","time":"2026-11-24T10:00:00Z","datacontenttype":"application/json","partitionkey":"1-2","traceparent":"{TRACEPARENT}","data":{DATA}}}"#
    )
}

/// A request as pact-producer (or a KafkaSource replaying a KafkaSink record) sends it.
fn binary_request() -> Request<Body> {
    let mut request = Request::post("/")
        .header("ce-specversion", "1.0")
        .header("ce-id", "0195a3c2-7d1e-7000-8000-000000000001")
        .header("ce-source", "/pact/producer")
        .header("ce-type", "dev.pact.contact.untranslated")
        .header("ce-time", "2026-11-24T10:00:00Z")
        .header("ce-partitionkey", "1-2")
        .header("ce-traceparent", TRACEPARENT)
        .header("content-type", "application/json")
        .body(Body::from(DATA))
        .expect("valid request");
    set_length(request.headers_mut(), DATA.len());
    request
}

fn request(content_type: &'static str, body: String) -> Request<Body> {
    let mut request = Request::post("/")
        .header("content-type", content_type)
        .body(Body::empty())
        .expect("valid request");
    set_length(request.headers_mut(), body.len());
    *request.body_mut() = Body::from(body);
    request
}

/// As over the wire, where hyper sees a `Content-Length`.
fn set_length(headers: &mut HeaderMap, len: usize) {
    headers.insert("content-length", HeaderValue::from(len));
}

fn translation(env: &[(&'static str, &'static str)]) -> Router {
    let vars: HashMap<&str, &str> = env.iter().copied().collect();
    let (config, _) = Config::from_env(&vars).expect("valid configuration");
    app(AppState::new(config, Offline))
}

/// A single-event case: its name, the router, and how to make its request.
type OneEvent<'a> = (&'static str, &'a Router, fn() -> Request<Body>);

/// One request through the router, the reply body read to the end.
async fn call(router: Router, request: Request<Body>) -> usize {
    let response = router.oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    body.len()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let reply = translation(&[]);
    let reply_csv = translation(&[("PACT_OUTPUT_FORMAT", "csv")]);

    let mut group = c.benchmark_group("translate");
    group.throughput(Throughput::Elements(1));
    let one_event: [OneEvent<'_>; 4] = [
        ("binary", &reply, binary_request),
        ("binary_csv_out", &reply_csv, binary_request),
        ("structured", &reply, || {
            request("application/cloudevents+json", structured(1))
        }),
        ("csv_line", &reply, || {
            request("text/csv", CSV_LINE.to_owned())
        }),
    ];
    for (name, router, make) in one_event {
        assert!(rt.block_on(call(router.clone(), make())) > 0, "{name}");
        group.bench_function(name, |b| {
            b.iter_batched(
                make,
                |request| rt.block_on(call(router.clone(), black_box(request))),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();

    // 100 events in one batched-mode request, per event.
    let batch = format!(
        "[{}]",
        (0..100).map(structured).collect::<Vec<_>>().join(",")
    );
    let mut group = c.benchmark_group("translate_batch");
    group.throughput(Throughput::Elements(100));
    group.bench_function("structured_x100", |b| {
        b.iter_batched(
            || request("application/cloudevents-batch+json", batch.clone()),
            |request| rt.block_on(call(reply.clone(), black_box(request))),
            BatchSize::SmallInput,
        )
    });
    group.finish();

    // Floors: what the router and the contract's middleware cost alone.
    let bare: Router = Router::new().route("/", post(|| async { "ok" }));
    let floor = contract(
        Router::new().route("/", post(|| async { "ok" })),
        &RuntimeConfig::default(),
        Metrics::new().freeze(),
        AlwaysReady,
    );
    let mut group = c.benchmark_group("router");
    group.throughput(Throughput::Elements(1));
    for (name, router) in [("bare_axum", &bare), ("contract_floor", &floor)] {
        group.bench_function(name, |b| {
            b.iter_batched(
                binary_request,
                |request| rt.block_on(call(router.clone(), black_box(request))),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
