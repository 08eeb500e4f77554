//! Delivery to K_SINK: retries, timeouts, and never 2xx before the sink took the event.

use std::time::{Duration, Instant};

use pact_runtime::testing::Reply;

use crate::helpers::{problem, spawn_with_sink};

const MESSAGE: &str = "/pact/producer?message=1,2,44.9778,-93.2650";

#[tokio::test]
async fn transient_sink_failures_are_retried() {
    let app = spawn_with_sink(Reply::Status(202), &[]).await;
    app.sink()
        .script([Reply::Status(503), Reply::Status(429), Reply::Status(500)]);
    let response = app
        .client
        .post(app.url(MESSAGE))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 202);
    let received = app.sink().received();
    assert_eq!(received.len(), 4, "three failures, then success");
    let ids: Vec<_> = received
        .iter()
        .map(|r| r.headers["ce-id"].clone())
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] == w[1]),
        "every retry is the same event"
    );
}

#[tokio::test]
async fn a_dead_sink_gives_503_with_retry_after() {
    let app = spawn_with_sink(Reply::Status(503), &[("PACT_EMIT_ATTEMPTS", "3")]).await;
    let response = app
        .client
        .post(app.url(MESSAGE))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body = problem(response).await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("3 attempts"),
        "{body}"
    );
    assert_eq!(app.sink().received().len(), 3);
    assert!(app.sink().accepted().is_empty());
}

#[tokio::test]
async fn an_unreachable_sink_gives_503() {
    // A port that was free a moment ago: connection refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/", closed.local_addr().expect("address"));
    drop(closed);
    let app =
        crate::helpers::spawn_with_env(&[("K_SINK", url.as_str()), ("PACT_EMIT_BACKOFF_MS", "5")])
            .await;
    let response = app
        .client
        .post(app.url(MESSAGE))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn a_hanging_sink_times_out_per_attempt() {
    let app = spawn_with_sink(
        Reply::Hang,
        &[("PACT_EMIT_ATTEMPTS", "2"), ("PACT_EMIT_TIMEOUT_MS", "100")],
    )
    .await;
    let started = Instant::now();
    let response = app
        .client
        .post(app.url(MESSAGE))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 503);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded by the attempt timeout"
    );
    assert_eq!(app.sink().received().len(), 2);
}

#[tokio::test]
async fn the_answer_waits_for_the_sink() {
    let app = spawn_with_sink(Reply::Slow(Duration::from_millis(300), 202), &[]).await;
    let response = app
        .client
        .post(app.url(MESSAGE))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 202);
    // When the caller hears 202, the sink has already answered 202.
    let received = app.sink().received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].status, Some(202));
}

#[tokio::test]
async fn a_sink_rejecting_the_event_is_a_bad_gateway() {
    let app = spawn_with_sink(Reply::Status(400), &[]).await;
    let response = app
        .client
        .post(app.url(MESSAGE))
        .send()
        .await
        .expect("request");
    // 502: the source retries (nothing lost) while the sink is misconfigured.
    assert_eq!(response.status(), 502);
    assert_eq!(
        app.sink().received().len(),
        1,
        "a permanent answer is not retried"
    );
}

#[tokio::test]
async fn a_request_past_its_time_limit_is_504() {
    let app = spawn_with_sink(
        Reply::Hang,
        &[
            ("PACT_REQUEST_TIMEOUT_S", "1"),
            ("PACT_EMIT_TIMEOUT_MS", "5000"),
        ],
    )
    .await;
    let response = app
        .client
        .post(app.url(MESSAGE))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 504);
    assert!(response.headers().contains_key("retry-after"));
    let body = problem(response).await;
    assert!(
        body["detail"].as_str().unwrap_or_default().contains("1 s"),
        "{body}"
    );
}
