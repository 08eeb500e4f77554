//! `pact display`: prints every CloudEvent it receives, one JSON document per
//! event (structured form), and answers 202.

use std::net::{Ipv4Addr, SocketAddr};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use pact_runtime::cloudevents::Event;
use pact_runtime::emit::json_data_inline;

/// Arguments of `pact display`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Port to listen on.
    #[arg(long, env = "PORT", default_value_t = 8080)]
    port: u16,
}

/// The display's router; `on_event` sees every event received.
pub fn router(on_event: impl Fn(Event) + Clone + Send + Sync + 'static) -> Router {
    Router::new().route(
        "/",
        post(move |headers: HeaderMap, body: Bytes| async move {
            match pact_runtime::binding_event(&headers, &body) {
                Some(event) => {
                    on_event(event);
                    StatusCode::ACCEPTED
                }
                None => StatusCode::BAD_REQUEST,
            }
        }),
    )
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let address = SocketAddr::from((Ipv4Addr::UNSPECIFIED, args.port));
    let listener = tokio::net::TcpListener::bind(address).await?;
    eprintln!("pact display: listening on {}", listener.local_addr()?);
    let app = router(
        |event| match serde_json::to_string_pretty(&json_data_inline(event)) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("pact display: cannot print an event: {e}"),
        },
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(pact_runtime::server::shutdown_signal())
        .await?;
    Ok(())
}
