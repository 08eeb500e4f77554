//! The ceiling for PACT's load benchmarks (`benches/load.sh`): a bare hyper 1
//! HTTP/1.1 server on a multi-thread tokio runtime that reads the request
//! body and answers every request with the same small 200. No routing, no
//! middleware, no parsing, no logging.
//!
//! It serves connections the way `pact_runtime::server::serve` does (one
//! task per connection, `TCP_NODELAY`, keep-alive), so the difference
//! between it and a PACT function is the function's own work.
//!
//! ```text
//! PORT=8099 cargo run --release -p pact-runtime --example bare_hyper
//! ```
//!
//! `PORT` (default 8080) and `BIND` (default 127.0.0.1) choose the address.
//! `BARE_TIMEOUT_S=30` wraps each request in `tokio::time::timeout`, as the
//! function contract's per-request time limit does: an experiment that
//! isolates what one tokio timer per request costs (docs/performance.md).

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// The fixed reply: about the size of a translated event's data.
const REPLY: &[u8] = br#"{"mmid1":1,"mmid2":2,"lat":44.9778,"lon":-93.265,"observed_at":"2026-11-24T10:00:00Z","street":"","city":"Minneapolis","state":"MN","zipcode":"55415","country":"US","geocoder":"offline"}"#;

async fn answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // Read the body as a real handler must, so keep-alive works for any POST.
    let _ = request.into_body().collect().await;
    let mut response = Response::new(Full::new(Bytes::from_static(REPLY)));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::var("PORT")
        .ok()
        .and_then(|p| p.trim().parse::<u16>().ok())
        .unwrap_or(8080);
    let ip = std::env::var("BIND")
        .ok()
        .and_then(|b| b.trim().parse::<IpAddr>().ok())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let timeout = std::env::var("BARE_TIMEOUT_S")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let listener = TcpListener::bind(SocketAddr::new(ip, port)).await?;
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of file descriptors and the like: keep serving the others.
            Err(_) => continue,
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let io = TokioIo::new(stream);
            let _ = match timeout {
                None => {
                    http1::Builder::new()
                        .serve_connection(io, service_fn(answer))
                        .await
                }
                Some(limit) => {
                    let service = service_fn(move |request| async move {
                        match tokio::time::timeout(limit, answer(request)).await {
                            Ok(response) => response,
                            Err(_) => {
                                let mut response = Response::new(Full::new(Bytes::new()));
                                *response.status_mut() = hyper::StatusCode::GATEWAY_TIMEOUT;
                                Ok(response)
                            }
                        }
                    });
                    http1::Builder::new().serve_connection(io, service).await
                }
            };
        });
    }
}
