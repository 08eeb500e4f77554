//! Floors between the bare hyper server (`bare_hyper.rs`) and a PACT
//! function, for `benches/load.sh`: the same fixed reply as `bare_hyper`,
//! served through more and more of the stack, so the load benchmark can say
//! where a function's cost per event goes.
//!
//! - `FLOOR=axum` (default): an axum `Router` with one `POST /` that reads the
//!   body and answers the fixed reply, served by `axum::serve` (hyper-util's
//!   auto HTTP/1 + HTTP/2 connection, `TCP_NODELAY` as PACT sets it);
//! - `FLOOR=contract`: the same handler, reading the body through
//!   `pact_runtime::ingest::LimitedRequest`, inside `pact_runtime::server::contract`
//!   (panic containment, time limit, request metrics, trace span, `/healthz`,
//!   `/readyz`, `/metrics`) and served by `pact_runtime::server::serve`, as
//!   every PACT function is; logs set up as `start` does (`PACT_LOG`).
//!
//! ```text
//! PORT=8099 FLOOR=contract PACT_LOG=warn cargo run --release -p pact-runtime --example axum_floor
//! ```

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use pact_runtime::config::{ProcessEnv, RuntimeConfig};
use pact_runtime::ingest::LimitedRequest;
use pact_runtime::metrics::Metrics;
use pact_runtime::server::{AlwaysReady, contract, serve, shutdown_signal};
use tokio::net::TcpListener;

/// The same fixed reply as `bare_hyper`.
const REPLY: &[u8] = br#"{"mmid1":1,"mmid2":2,"lat":44.9778,"lon":-93.265,"observed_at":"2026-11-24T10:00:00Z","street":"","city":"Minneapolis","state":"MN","zipcode":"55415","country":"US","geocoder":"offline"}"#;

fn reply() -> Response {
    let mut response = Bytes::from_static(REPLY).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let (config, _) = RuntimeConfig::from_env(&ProcessEnv)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    let floor = std::env::var("FLOOR").unwrap_or_else(|_| "axum".into());
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, config.port))).await?;
    match floor.as_str() {
        "contract" => {
            pact_runtime::telemetry::init(&config);
            let routes = Router::new().route(
                "/",
                post(|LimitedRequest { body, .. }: LimitedRequest| async move {
                    drop(body);
                    reply()
                }),
            );
            let app = contract(routes, &config, Metrics::new().freeze(), AlwaysReady);
            serve(listener, app, shutdown_signal(), Duration::from_secs(1)).await
        }
        _ => {
            let app = Router::new().route(
                "/",
                post(|body: Bytes| async move {
                    drop(body);
                    reply()
                }),
            );
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                let _ = tcp.set_nodelay(true);
            });
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown_signal())
                .await
        }
    }
}
