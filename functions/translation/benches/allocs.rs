//! Heap allocations per event, counted by valgrind's DHAT (the workspace
//! forbids `unsafe`, so no counting allocator here): this program runs one
//! scenario of `benches/translate.rs` (or a step of pact-runtime) a given
//! number of times, and `benches/allocs.sh` runs it under
//! `valgrind --tool=dhat` with two round counts; the difference of the totals
//! divided by the difference of rounds is the allocations (and bytes) per
//! request, set-up excluded.
//!
//! `cargo bench -p pact-translation --bench allocs -- <scenario> <rounds>`;
//! with no scenario, every scenario runs once (a smoke test).

use std::collections::HashMap;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode};
use axum::routing::post;
use chrono::Utc;
use http_body_util::BodyExt;
use pact_runtime::config::RuntimeConfig;
use pact_runtime::emit::{Emitted, Emitter, OutData, Outgoing};
use pact_runtime::ingest::read_events;
use pact_runtime::metrics::Metrics;
use pact_runtime::server::{AlwaysReady, contract};
use pact_runtime::wire::{self, TranslatedData};
use pact_translation::{AppState, Config, Offline, app};
use tower::ServiceExt;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const DATA: &str =
    r#"{"mmid1":1,"mmid2":2,"lat":44.9778,"lon":-93.265,"observed_at":"2026-11-24T10:00:00Z"}"#;
const STRUCTURED: &str = r#"{"specversion":"1.0","id":"0195a3c2-7d1e-7000-8000-000000000001","source":"/pact/producer","type":"dev.pact.contact.untranslated","time":"2026-11-24T10:00:00Z","datacontenttype":"application/json","partitionkey":"1-2","traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","data":{"mmid1":1,"mmid2":2,"lat":44.9778,"lon":-93.265,"observed_at":"2026-11-24T10:00:00Z"}}"#;
const CSV_LINE: &str = "1,2,44.9778,-93.2650,2026-11-24T10:00:00Z\n";

fn binary_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("ce-specversion", "1.0"),
        ("ce-id", "0195a3c2-7d1e-7000-8000-000000000001"),
        ("ce-source", "/pact/producer"),
        ("ce-type", wire::UNTRANSLATED),
        ("ce-time", "2026-11-24T10:00:00Z"),
        ("ce-partitionkey", "1-2"),
        ("ce-traceparent", TRACEPARENT),
        ("content-type", "application/json"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers
}

fn request(headers: &HeaderMap, body: &'static str) -> Request<Body> {
    let mut request = Request::post("/")
        .body(Body::from(body))
        .expect("valid request");
    *request.headers_mut() = headers.clone();
    request
        .headers_mut()
        .insert("content-length", HeaderValue::from(body.len()));
    request
}

fn content_type(value: &'static str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static(value));
    headers
}

fn translation(env: &[(&'static str, &'static str)]) -> Router {
    let vars: HashMap<&str, &str> = env.iter().copied().collect();
    let (config, _) = Config::from_env(&vars).expect("valid configuration");
    app(AppState::new(config, Offline))
}

/// What one run does: `warm_up` calls, then `inputs` inputs are made, the
/// first `rounds` of them are handled and the others dropped unused. Two
/// runs with the same `inputs` differ by `rounds` calls only.
#[derive(Clone, Copy)]
struct Plan {
    rounds: usize,
    inputs: usize,
}

fn run<I>(plan: Plan, mut make: impl FnMut() -> I, mut f: impl FnMut(I)) {
    for _ in 0..50 {
        f(make()); // warm pools, caches and the metric families
    }
    let mut inputs: Vec<I> = (0..plan.inputs.max(plan.rounds)).map(|_| make()).collect();
    let unused = inputs.split_off(plan.rounds);
    for input in inputs {
        f(input);
    }
    drop(unused);
}

/// Which scenario runs and with what plan, from the command line, and how
/// many ran.
struct Selection {
    plan: Plan,
    only: Option<String>,
    ran: usize,
}

impl Selection {
    fn from_args() -> Self {
        let args: Vec<String> = std::env::args()
            .skip(1)
            .filter(|a| !a.starts_with("--"))
            .collect();
        let number = |i: usize| args.get(i).and_then(|n| n.parse::<usize>().ok());
        let plan = Plan {
            rounds: number(1).unwrap_or(1),
            inputs: number(2).unwrap_or(0),
        };
        Self {
            plan,
            only: args.first().cloned(),
            ran: 0,
        }
    }

    fn scenario(&mut self, name: &str, go: &mut dyn FnMut(Plan)) {
        if self.only.as_deref().is_none_or(|o| o == name) {
            go(self.plan);
            self.ran += 1;
        }
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut selection = Selection::from_args();
    request_scenarios(&rt, &mut selection);
    // The runtime's steps on their own.
    ingest_scenarios(&mut selection);
    encode_scenarios(&mut selection);
    if selection.ran == 0 {
        eprintln!(
            "allocs: no scenario {:?}",
            selection.only.unwrap_or_default()
        );
        std::process::exit(2);
    }
}

/// Whole requests through pact-translation's router, and through a bare
/// axum router and the runtime's contract alone for the floor.
fn request_scenarios(rt: &tokio::runtime::Runtime, selection: &mut Selection) {
    let call = |router: &Router, request: Request<Body>| {
        rt.block_on(async {
            let response = router.clone().oneshot(request).await.expect("infallible");
            assert_eq!(response.status(), StatusCode::OK);
            let body = response.into_body().collect().await.expect("body");
            drop(body);
        })
    };
    let reply = translation(&[]);
    let reply_csv = translation(&[("PACT_OUTPUT_FORMAT", "csv")]);
    let bare: Router = Router::new().route("/", post(|| async { "ok" }));
    let floor = contract(
        Router::new().route("/", post(|| async { "ok" })),
        &RuntimeConfig::default(),
        Metrics::new().freeze(),
        AlwaysReady,
    );
    let binary = binary_headers();
    let structured = content_type("application/cloudevents+json");
    let csv = content_type("text/csv");

    selection.scenario("translate/binary", &mut |p| {
        run(p, || request(&binary, DATA), |r| call(&reply, r))
    });
    selection.scenario("translate/binary_csv_out", &mut |p| {
        run(p, || request(&binary, DATA), |r| call(&reply_csv, r))
    });
    selection.scenario("translate/structured", &mut |p| {
        run(p, || request(&structured, STRUCTURED), |r| call(&reply, r))
    });
    selection.scenario("translate/csv_line", &mut |p| {
        run(p, || request(&csv, CSV_LINE), |r| call(&reply, r))
    });
    selection.scenario("router/bare_axum", &mut |p| {
        run(p, || request(&binary, DATA), |r| call(&bare, r))
    });
    selection.scenario("router/contract_floor", &mut |p| {
        run(p, || request(&binary, DATA), |r| call(&floor, r))
    });
}

/// Reading an event and its contact, in binary mode and as a CSV line.
fn ingest_scenarios(selection: &mut Selection) {
    let binary = binary_headers();
    let csv = content_type("text/csv");
    let now = "2026-11-24T10:00:01Z".parse().expect("valid");
    selection.scenario("ingest/binary", &mut |p| {
        run(
            p,
            || Bytes::from_static(DATA.as_bytes()),
            |body| {
                for e in read_events(&binary, body, &[wire::UNTRANSLATED]).expect("valid") {
                    let _ = e.untranslated().expect("data").into_contact(e.time, now);
                }
            },
        )
    });
    selection.scenario("ingest/csv_line", &mut |p| {
        run(
            p,
            || Bytes::from_static(CSV_LINE.as_bytes()),
            |body| {
                for e in read_events(&csv, body, &[wire::UNTRANSLATED]).expect("valid") {
                    let _ = e.untranslated().expect("data").into_contact(e.time, now);
                }
            },
        )
    });
}

/// Building the output event, and answering with it in the reply.
fn encode_scenarios(selection: &mut Selection) {
    let emitter = Emitter::new(
        "/pact/translation",
        &RuntimeConfig::default(),
        Metrics::new().freeze(),
    );
    let contact = TranslatedData {
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
    .into_contact(None, Utc::now())
    .expect("valid");
    let outgoing = || Outgoing {
        id: "0195a3c2-7d1e-7000-8000-000000000001".into(),
        event_type: wire::TRANSLATED,
        time: contact.observed_at.get(),
        partition_key: Some(contact.pair.partition_key()),
        traceparent: pact_runtime::trace::TraceParent::parse(TRACEPARENT),
        data: OutData::Json(
            serde_json::to_vec(&TranslatedData::from(&contact)).expect("serializable"),
        ),
    };
    selection.scenario("encode/build", &mut |p| {
        run(p, outgoing, |out| drop(emitter.build(out).expect("valid")))
    });
    let event = emitter.build(outgoing()).expect("valid");
    selection.scenario("encode/reply_into_response", &mut |p| {
        run(
            p,
            || Emitted::Reply(vec![event.clone()]),
            |reply| drop(reply.into_response(StatusCode::OK)),
        )
    });
}
