//! The stand-in of the cluster's PingSources.

use std::time::Duration;

use pact_runtime::cloudevents::{EventBuilder, EventBuilderV10};

/// Sends a `dev.knative.sources.ping` event to each `(url, ping source)` at
/// start and then every `every`, as the cluster's daily PingSources do.
pub(super) async fn ping_loop(
    client: reqwest::Client,
    targets: Vec<(String, String)>,
    every: Duration,
) {
    use pact_runtime::cloudevents::binding::reqwest::RequestBuilderExt;
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        for (url, source) in &targets {
            let event = EventBuilderV10::new()
                .id(uuid::Uuid::now_v7().to_string())
                .source(format!("/apis/v1/namespaces/pact/pingsources/{source}"))
                .ty(pact_runtime::wire::PING)
                .time(chrono::Utc::now())
                .build();
            let Ok(event) = event else { continue };
            let sent = match client.post(url).event(event) {
                Ok(request) => request.send().await,
                Err(_) => continue,
            };
            match sent {
                Ok(response) if response.status().is_success() => {}
                Ok(response) => {
                    tracing::warn!(status = %response.status(), "retention ping refused");
                }
                Err(e) => tracing::warn!(error = %e, "retention ping not delivered"),
            }
        }
    }
}
