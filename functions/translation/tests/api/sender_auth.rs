//! Sender authentication on pact-translation: only the KafkaSource's token
//! gets an event emitted; a forgery is refused and nothing reaches K_SINK.
//! With `PACT_EMIT_TOKEN_FILE` the emitted events carry that token (the
//! SinkBinding's, for a KafkaSink that requires one).

use std::time::Duration;

use pact_runtime::testing::Reply;
use pact_runtime::testing::oidc::TestIssuer;

use crate::helpers::{TestApp, spawn, spawn_with_sink};

const AUDIENCE: &str = "serving.knative.dev/service/pact/pact-translation";
const SOURCE: &str =
    "system:serviceaccount:pact:pact-untranslated-oidc-sources.knative.dev-kafkasource";

async fn post(app: &TestApp, id: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url())
        .header("ce-specversion", "1.0")
        .header("ce-id", id)
        .header("ce-source", "/pact/producer")
        .header("ce-type", "dev.pact.contact.untranslated")
        .header("content-type", "application/json")
        .body(r#"{"mmid1":1,"mmid2":2,"lat":44.9778,"lon":-93.265}"#);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request")
}

#[tokio::test]
async fn only_the_source_gets_events_emitted_and_they_carry_the_emit_token() {
    let issuer = TestIssuer::start().await;
    let token_file = std::env::temp_dir().join(format!(
        "pact-emit-token-{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now()
    ));
    std::fs::write(&token_file, "sink-token-from-the-sinkbinding\n").expect("write token");
    let mut env = issuer.env(AUDIENCE, &[SOURCE]);
    env.push((
        "PACT_EMIT_TOKEN_FILE".into(),
        token_file.display().to_string(),
    ));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let app = spawn_with_sink(Reply::Status(202), &env).await;

    let forged = issuer.token(AUDIENCE, "system:serviceaccount:other:intruder");
    assert_eq!(post(&app, "f1", None).await.status(), 401);
    assert_eq!(post(&app, "f2", Some("forged")).await.status(), 401);
    assert_eq!(post(&app, "f3", Some(&forged)).await.status(), 403);
    let wrong_audience = issuer.token("serving.knative.dev/service/pact/pact-contactlog", SOURCE);
    assert_eq!(post(&app, "f4", Some(&wrong_audience)).await.status(), 401);
    assert!(
        app.sink().received().is_empty(),
        "nothing forged was emitted"
    );

    let response = post(&app, "ok", Some(&issuer.token(AUDIENCE, SOURCE))).await;
    assert_eq!(response.status(), 202, "{:?}", response.text().await);
    let received = app
        .sink()
        .wait_for_requests(1, Duration::from_secs(5))
        .await;
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0]
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer sink-token-from-the-sinkbinding")
    );
    let _ = std::fs::remove_file(&token_file);
}

#[tokio::test]
async fn keys_that_cannot_be_fetched_answer_503_and_emit_nothing() {
    let issuer = TestIssuer::start().await;
    issuer.set_available(false);
    let env = issuer.env(AUDIENCE, &[SOURCE]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let app = spawn_with_sink(Reply::Status(202), &env).await;
    let response = post(&app, "a", Some(&issuer.token(AUDIENCE, SOURCE))).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert!(app.sink().received().is_empty());
}

#[tokio::test]
async fn without_sender_auth_and_emit_token_nothing_changes() {
    let app = spawn_with_sink(Reply::Status(202), &[]).await;
    assert_eq!(post(&app, "open", None).await.status(), 202);
    let received = app
        .sink()
        .wait_for_requests(1, Duration::from_secs(5))
        .await;
    assert!(received[0].headers.get("authorization").is_none());
    // And in reply mode, too.
    let app = spawn(&[]).await;
    assert_eq!(post(&app, "open", None).await.status(), 200);
}
