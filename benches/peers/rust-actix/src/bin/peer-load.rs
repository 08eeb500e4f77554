//! A closed-loop load generator for benches/peers.sh where hey will not do:
//! hey sends one fixed request, and an idempotent store (pact-contactlog and
//! its peers) then writes the first and takes every other as a duplicate.
//! Here `{seq}` in a header value or the body becomes a number unique to the
//! request (a run prefix and a counter), so every event has its own id.
//!
//! ```text
//! peer-load -n 40000 -c 64 -m POST -T application/json -H 'ce-id: x-{seq}' -d BODY URL
//! ```
//!
//! `-c` workers, each on its own keep-alive HTTP/1.1 connection (reopened
//! after an error), share `-n` requests; each request may take 10 s. The
//! summary is printed in hey's format, the lines benches/peers.sh reads:
//! `Requests/sec:`, `99% in … secs`, `[status] count responses` and the
//! error distribution. One thread: pin it with taskset as hey is pinned.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(10);

struct Plan {
    requests: u64,
    concurrency: u64,
    method: Method,
    headers: Vec<(String, String)>,
    body: String,
    uri: Uri,
    prefix: String,
}

#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    statuses: BTreeMap<u16, u64>,
    errors: BTreeMap<String, u64>,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Plan, String> {
    let (mut requests, mut concurrency) = (200, 50);
    let (mut method, mut headers, mut body, mut uri) =
        (Method::GET, Vec::new(), String::new(), None);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "-n" => requests = value()?.parse().map_err(|e| format!("-n: {e}"))?,
            "-c" => concurrency = value()?.parse().map_err(|e| format!("-c: {e}"))?,
            "-m" => method = value()?.parse().map_err(|e| format!("-m: {e}"))?,
            "-T" => headers.push(("content-type".into(), value()?)),
            "-d" => body = value()?,
            "-H" => {
                let header = value()?;
                let (name, text) = header
                    .split_once(':')
                    .ok_or(format!("-H {header}: no colon"))?;
                headers.push((name.trim().to_owned(), text.trim().to_owned()));
            }
            url if !url.starts_with('-') => {
                uri = Some(url.parse::<Uri>().map_err(|e| format!("{url}: {e}"))?)
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    let uri = uri.ok_or("give the URL")?;
    if uri.scheme_str() != Some("http") || uri.host().is_none() {
        return Err(format!("{uri}: an http:// URL with a host"));
    }
    if concurrency == 0 || requests == 0 {
        return Err("-n and -c are at least 1".into());
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    Ok(Plan {
        requests,
        concurrency: concurrency.min(requests),
        method,
        headers,
        body,
        uri,
        prefix: format!("{nanos:x}"),
    })
}

async fn connect(uri: &Uri) -> Result<SendRequest<Full<Bytes>>, String> {
    let address = format!(
        "{}:{}",
        uri.host().unwrap_or("127.0.0.1"),
        uri.port_u16().unwrap_or(80)
    );
    let stream = TcpStream::connect(address)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(connection);
    Ok(sender)
}

async fn one(sender: &mut SendRequest<Full<Bytes>>, plan: &Plan, seq: u64) -> Result<u16, String> {
    let stamp = format!("{}-{seq}", plan.prefix);
    let mut request = Request::builder()
        .method(plan.method.clone())
        .uri(plan.uri.path_and_query().map_or("/", |p| p.as_str()))
        .header(
            "host",
            plan.uri.authority().map_or("127.0.0.1", |a| a.as_str()),
        );
    for (name, value) in &plan.headers {
        request = request.header(name, value.replace("{seq}", &stamp));
    }
    let request = request
        .body(Full::new(Bytes::from(plan.body.replace("{seq}", &stamp))))
        .map_err(|e| e.to_string())?;
    sender.ready().await.map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok(status)
}

async fn worker(plan: Arc<Plan>, next: Arc<AtomicU64>) -> Tally {
    let mut tally = Tally::default();
    let mut sender = None;
    loop {
        let seq = next.fetch_add(1, Ordering::Relaxed);
        if seq >= plan.requests {
            return tally;
        }
        let started = Instant::now();
        let outcome = tokio::time::timeout(TIMEOUT, async {
            if sender.is_none() {
                sender = Some(connect(&plan.uri).await?);
            }
            let Some(s) = sender.as_mut() else {
                unreachable!()
            };
            one(s, &plan, seq).await
        })
        .await
        .unwrap_or_else(|_| Err("timeout".into()));
        match outcome {
            Ok(status) => {
                tally.latencies.push(started.elapsed());
                *tally.statuses.entry(status).or_default() += 1;
            }
            Err(error) => {
                sender = None;
                *tally.errors.entry(error).or_default() += 1;
            }
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let plan = match parse(std::env::args().skip(1)) {
        Ok(plan) => Arc::new(plan),
        Err(e) => {
            eprintln!("peer-load: {e}");
            return ExitCode::from(2);
        }
    };
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..plan.concurrency)
        .map(|_| tokio::spawn(worker(plan.clone(), next.clone())))
        .collect();
    let mut all = Tally::default();
    for w in workers {
        let Ok(t) = w.await else { continue };
        all.latencies.extend(t.latencies);
        for (k, v) in t.statuses {
            *all.statuses.entry(k).or_default() += v;
        }
        for (k, v) in t.errors {
            *all.errors.entry(k).or_default() += v;
        }
    }
    let total = started.elapsed().as_secs_f64();
    all.latencies.sort_unstable();
    let answered = all.latencies.len();
    println!("\nSummary:\n  Total:\t{total:.4} secs");
    println!("  Requests/sec:\t{:.4}\n", answered as f64 / total);
    println!("Latency distribution:");
    for p in [10, 25, 50, 75, 90, 95, 99] {
        if answered > 0 {
            // Nearest rank.
            let k = (p * answered).div_ceil(100).clamp(1, answered) - 1;
            println!("  {p}% in {:.4} secs", all.latencies[k].as_secs_f64());
        }
    }
    println!("\nStatus code distribution:");
    for (status, n) in &all.statuses {
        println!("  [{status}]\t{n} responses");
    }
    if !all.errors.is_empty() {
        println!("\nError distribution:");
        for (error, n) in &all.errors {
            println!("  [{n}]\t{error}");
        }
    }
    ExitCode::SUCCESS
}
