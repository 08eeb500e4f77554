//! `pact burst`, the real binary, over real HTTP: against a server that
//! answers as scripted (latencies, statuses, dropped connections, requests
//! that never end), and against the real functions in every mode.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use pact_runtime::cloudevents::{AttributesReader, Data};
use pact_runtime::testing::{CaptureSink, Reply, spawn_function, wait_ready};

/// What the scripted server does with its n-th request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    /// Answer with `status` after `ms` milliseconds.
    Answer(u64, u16),
    /// Close the connection after `ms` milliseconds, answering nothing.
    Drop(u64),
    /// Never answer.
    Hang,
}

/// A server on 127.0.0.1 that does `script(n)` with its n-th request and
/// logs when each arrived.
struct Scripted {
    url: String,
    arrivals: Arc<Mutex<Vec<(Instant, Act)>>>,
}

impl Scripted {
    async fn start(script: fn(u64) -> Act) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/", listener.local_addr().expect("address"));
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(AtomicU64::new(0));
        let log = arrivals.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (log, count) = (log.clone(), count.clone());
                let service = hyper::service::service_fn(move |_request: Request<Incoming>| {
                    let act = script(count.fetch_add(1, Ordering::SeqCst));
                    log.lock().expect("log").push((Instant::now(), act));
                    async move {
                        match act {
                            Act::Answer(ms, status) => {
                                tokio::time::sleep(Duration::from_millis(ms)).await;
                                let mut response = Response::new(Full::new(Bytes::new()));
                                *response.status_mut() =
                                    hyper::StatusCode::from_u16(status).expect("status");
                                Ok(response)
                            }
                            // A service error makes hyper close the
                            // connection without an answer.
                            Act::Drop(ms) => {
                                tokio::time::sleep(Duration::from_millis(ms)).await;
                                Err(std::io::Error::other("scripted drop"))
                            }
                            Act::Hang => std::future::pending::<Result<_, std::io::Error>>().await,
                        }
                    }
                });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { url, arrivals }
    }

    fn arrivals(&self) -> Vec<(Instant, Act)> {
        self.arrivals.lock().expect("log").clone()
    }
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Run {
    fn report(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON object ({e}): {}{}",
                self.stdout, self.stderr
            )
        })
    }
}

async fn burst(args: &[&str]) -> Run {
    let started = Instant::now();
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_pact"))
            .arg("burst")
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("pact burst finished within 120 s")
    .expect("pact burst ran");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        took: started.elapsed(),
    }
}

fn count(report: &serde_json::Value, path: &[&str]) -> u64 {
    let mut value = report;
    for key in path {
        value = &value[key];
    }
    value.as_u64().unwrap_or(0)
}

fn latency(report: &serde_json::Value, name: &str) -> f64 {
    report["latency_ms"][name].as_f64().expect("a latency")
}

/// Mostly 5 ms, every tenth 50 ms, some 503s, some dropped connections.
fn mixed(n: u64) -> Act {
    if n.is_multiple_of(25) {
        Act::Drop(1)
    } else if n % 10 == 3 {
        Act::Answer(50, 200)
    } else if n % 20 == 7 {
        Act::Answer(5, 503)
    } else {
        Act::Answer(5, 200)
    }
}

#[tokio::test]
async fn counts_and_percentiles_are_what_the_server_did() {
    let server = Scripted::start(mixed).await;
    let run = burst(&["--requests", "400", "-c", "8", "--json", &server.url]).await;
    assert_eq!(run.code, Some(1), "some were not 2xx: {}", run.stderr);
    let report = run.report();

    let arrivals = server.arrivals();
    assert_eq!(arrivals.len(), 400, "one request each, none resent");
    let mut answered = BTreeMap::<String, u64>::new();
    let mut dropped = 0;
    for (_, act) in &arrivals {
        match act {
            Act::Answer(_, status) => *answered.entry(status.to_string()).or_default() += 1,
            Act::Drop(_) => dropped += 1,
            Act::Hang => unreachable!(),
        }
    }
    let status: BTreeMap<String, u64> =
        serde_json::from_value(report["status"].clone()).expect("status counts");
    assert_eq!(status, answered);
    assert_eq!(count(&report, &["error_kinds", "reset"]), dropped);
    assert_eq!(count(&report, &["errors"]), dropped);
    assert_eq!(count(&report, &["requests"]), 400);
    assert_eq!(count(&report, &["ok"]), answered["200"]);
    let per_second: u64 = report["per_second"]
        .as_array()
        .expect("per second")
        .iter()
        .map(|s| s["requests"].as_u64().expect("requests"))
        .sum();
    assert_eq!(per_second, 400);

    // 90 % of the answers took 5 ms, 10 % 50 ms (plus this machine's noise).
    let (p50, p99, max) = (
        latency(&report, "p50"),
        latency(&report, "p99"),
        latency(&report, "max"),
    );
    assert!((5.0..30.0).contains(&p50), "p50 {p50} ms");
    assert!((50.0..150.0).contains(&p99), "p99 {p99} ms");
    assert!(max >= 50.0, "max {max} ms");
    assert!(
        report["problems"]
            .as_array()
            .expect("problems")
            .iter()
            .any(|p| p.as_str().is_some_and(|p| p.starts_with("HTTP 503"))),
        "{report}"
    );
}

#[tokio::test]
async fn rate_holds_the_rate() {
    let server = Scripted::start(|_| Act::Answer(1, 200)).await;
    let run = burst(&[
        "--rate",
        "100",
        "--duration",
        "3s",
        "-c",
        "8",
        "--json",
        &server.url,
    ])
    .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let arrivals = server.arrivals();
    assert!(
        (295..=300).contains(&arrivals.len()),
        "{} requests in 3 s at 100/s",
        arrivals.len()
    );
    let first = arrivals[0].0;
    for second in 0..3u32 {
        let window = first + Duration::from_secs(second.into())
            ..first + Duration::from_secs((second + 1).into());
        let n = arrivals
            .iter()
            .filter(|(at, _)| window.contains(at))
            .count();
        assert!((75..=125).contains(&n), "{n} requests in second {second}");
    }
    assert_eq!(count(&run.report(), &["requests"]), arrivals.len() as u64);
}

/// Four requests take 800 ms, enough to hold all four workers.
fn stall(n: u64) -> Act {
    if (100..104).contains(&n) {
        Act::Answer(800, 200)
    } else {
        Act::Answer(0, 200)
    }
}

#[tokio::test]
async fn open_loop_latency_shows_the_wait_a_stall_caused() {
    let server = Scripted::start(stall).await;
    let open = burst(&[
        "--rate",
        "100",
        "--requests",
        "300",
        "-c",
        "4",
        "--json",
        &server.url,
    ])
    .await;
    assert_eq!(open.code, Some(0), "{}", open.stderr);
    // Requests due during the stall waited for a worker: about 80 of 300.
    let p90 = latency(&open.report(), "p90");
    assert!(p90 > 200.0, "open loop p90 {p90} ms");

    let server = Scripted::start(stall).await;
    let closed = burst(&["--requests", "300", "-c", "4", "--json", &server.url]).await;
    assert_eq!(closed.code, Some(0), "{}", closed.stderr);
    // A closed loop just waits: only the four slow requests are slow.
    let p90 = latency(&closed.report(), "p90");
    assert!(p90 < 100.0, "closed loop p90 {p90} ms");
}

#[tokio::test]
async fn a_burst_stops_on_time_when_nothing_answers() {
    let server = Scripted::start(|_| Act::Hang).await;
    let run = burst(&[
        "--duration",
        "1s",
        "--timeout",
        "400ms",
        "-c",
        "4",
        "--json",
        &server.url,
    ])
    .await;
    assert_eq!(run.code, Some(1));
    assert!(run.took < Duration::from_secs(5), "took {:?}", run.took);
    let report = run.report();
    let requests = count(&report, &["requests"]);
    assert!(requests >= 8, "{report}");
    assert_eq!(count(&report, &["error_kinds", "timeout"]), requests);
    assert_eq!(server.arrivals().len() as u64, requests);
}

#[tokio::test]
async fn an_unreachable_target_counts_connect_errors() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port();
    let url = format!("http://127.0.0.1:{port}/");
    let run = burst(&["--requests", "20", "-c", "2", "--json", &url]).await;
    assert_eq!(run.code, Some(1));
    let report = run.report();
    assert_eq!(count(&report, &["error_kinds", "connect"]), 20, "{report}");
    assert_eq!(count(&report, &["answered"]), 0);
}

#[tokio::test]
async fn every_mode_is_taken_by_the_real_functions() {
    let translation = tokio::process::Command::new(env!("CARGO_BIN_EXE_pact"));
    let mut translation_cmd = translation;
    translation_cmd
        .args(["function", "translation"])
        .env_remove("K_SINK");
    let (_translation, port) = spawn_function(translation_cmd).await;
    let client = reqwest::Client::new();
    wait_ready(&client, &format!("http://127.0.0.1:{port}/readyz")).await;
    for mode in ["cloudevent", "csv"] {
        let url = format!("http://127.0.0.1:{port}/");
        let run = burst(&["--requests", "200", "--mode", mode, "--json", &url]).await;
        assert_eq!(run.code, Some(0), "{mode}: {}{}", run.stdout, run.stderr);
        let report = run.report();
        assert_eq!(count(&report, &["status", "200"]), 200, "{mode}: {report}");
    }

    let sink = CaptureSink::start(Reply::Status(202)).await;
    let mut producer = tokio::process::Command::new(env!("CARGO_BIN_EXE_pact"));
    producer
        .args(["function", "producer"])
        .env("K_SINK", &sink.url);
    let (_producer, port) = spawn_function(producer).await;
    wait_ready(&client, &format!("http://127.0.0.1:{port}/readyz")).await;
    for path in ["", "/contacts"] {
        let url = format!("http://127.0.0.1:{port}{path}");
        let run = burst(&["--requests", "100", "--mode", "producer", "--json", &url]).await;
        assert_eq!(run.code, Some(0), "{path:?}: {}{}", run.stdout, run.stderr);
        assert_eq!(count(&run.report(), &["status", "202"]), 100);
    }
    // Every request was a distinct, valid contact.
    let events = sink.accepted();
    assert_eq!(events.len(), 200);
    let ids: HashSet<String> = events.iter().map(|e| e.id().to_owned()).collect();
    assert_eq!(ids.len(), 200);
    for event in &events {
        let Some(Data::Binary(data)) = event.data() else {
            panic!("no data in {event}");
        };
        let data: serde_json::Value = serde_json::from_slice(data).expect("JSON");
        let (mmid1, mmid2) = (data["mmid1"].as_i64(), data["mmid2"].as_i64());
        assert!(mmid1 < mmid2 && mmid1 > Some(0), "{data}");
    }
}

#[tokio::test]
async fn a_data_file_is_sent_line_by_line() {
    let sink = CaptureSink::start(Reply::Status(200)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("contacts.csv");
    std::fs::write(&file, "1,2,44.98,-93.25\n\n3,4,45.0,-93.3\r\n").expect("write");
    let run = burst(&[
        "--requests",
        "6",
        "-c",
        "1",
        "--mode",
        "csv",
        "--data-file",
        file.to_str().expect("path"),
        "--json",
        &sink.url,
    ])
    .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let events = sink.accepted();
    let lines: Vec<String> = events
        .iter()
        .map(|e| match e.data() {
            Some(Data::Binary(b)) => String::from_utf8_lossy(b).into_owned(),
            Some(Data::String(s)) => s.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        lines,
        ["1,2,44.98,-93.25", "3,4,45.0,-93.3"].repeat(3),
        "in turn, blank lines skipped"
    );
    assert!(
        events
            .iter()
            .all(|e| e.datacontenttype() == Some("text/csv"))
    );
    let ids: HashSet<&str> = events.iter().map(|e| e.id()).collect();
    assert_eq!(ids.len(), 6, "each request its own id");
}

#[tokio::test]
async fn text_and_csv_reports() {
    let server = Scripted::start(|_| Act::Answer(0, 200)).await;
    let text = burst(&["--requests", "50", &server.url]).await;
    assert_eq!(text.code, Some(0), "{}", text.stderr);
    for expected in ["requests  50 in", "p99", "200: 50", "t (s)"] {
        assert!(
            text.stdout.contains(expected),
            "{expected:?} in {}",
            text.stdout
        );
    }
    let csv = burst(&["--requests", "50", "--csv", &server.url]).await;
    let mut lines = csv.stdout.lines();
    assert_eq!(lines.next(), Some("second,requests,ok,other,errors"));
    let total: u64 = lines
        .map(|l| {
            l.split(',')
                .nth(1)
                .and_then(|n| n.parse::<u64>().ok())
                .expect("count")
        })
        .sum();
    assert_eq!(total, 50);
}

#[tokio::test]
async fn bad_arguments_are_usage_errors() {
    for args in [
        &[][..],
        &["not a url"],
        &["-c", "0", "http://127.0.0.1:1/"],
        &["--duration", "0s", "http://127.0.0.1:1/"],
        &["--requests", "0", "http://127.0.0.1:1/"],
        &["--rate", "-5", "http://127.0.0.1:1/"],
        &["--data-file", "/nonexistent/file", "http://127.0.0.1:1/"],
    ] {
        let run = burst(args).await;
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("pact burst") || run.stderr.contains("error"),
            "{args:?}: {}",
            run.stderr
        );
    }
}
