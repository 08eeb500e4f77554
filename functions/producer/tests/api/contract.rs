//! The function contract, in-process (`oneshot`) and over a socket.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use pact_runtime::config::RuntimeConfig;
use tower::ServiceExt;

use crate::helpers::{problem, spawn_reply_mode};

fn router() -> axum::Router {
    pact_producer::app(pact_producer::AppState::new(RuntimeConfig::default()))
}

async fn send(request: Request<Body>) -> (StatusCode, String, String) {
    let response = router().oneshot(request).await.expect("infallible");
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (
        status,
        content_type,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

#[tokio::test]
async fn health_and_readiness() {
    let (status, _, body) = send(
        Request::get("/healthz")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
    let (status, _, _) = send(
        Request::get("/readyz")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_413() {
    let big = vec![b'1'; 1024 * 1024 + 1];
    let (status, content_type, body) = send(
        Request::post("/")
            .header("content-type", "text/csv")
            .body(Body::from(big))
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(content_type, "application/problem+json");
    assert!(body.contains("1048576"), "{body}");
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_413_too() {
    // No Content-Length: the limit must hold while reading.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..20).map(|_| Ok(vec![b'1'; 64 * 1024])).collect();
    let body = Body::from_stream(futures_util_stream(chunks));
    let (status, _, _) = send(Request::post("/contacts").body(body).expect("request")).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

fn futures_util_stream(
    chunks: Vec<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    tokio_stream::iter(chunks)
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let (status, content_type, _) =
        send(Request::get("/nope").body(Body::empty()).expect("request")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(content_type, "application/problem+json");
    let (status, content_type, _) = send(
        Request::get("/contacts")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(content_type, "application/problem+json");
}

#[tokio::test]
async fn bad_events_are_permanent_errors() {
    let cases = [
        // Not a CloudEvent: binary mode without ce-id.
        (
            Request::post("/")
                .header("ce-specversion", "1.0")
                .header("ce-type", "dev.pact.contact.untranslated")
                .header("ce-source", "/x")
                .body(Body::from("1,2,3,4"))
                .expect("request"),
            StatusCode::BAD_REQUEST,
        ),
        (
            Request::post("/")
                .header("ce-specversion", "1.0")
                .header("ce-id", "1")
                .header("ce-type", "com.example.unknown")
                .header("ce-source", "/x")
                .body(Body::from("1,2,3,4"))
                .expect("request"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Request::post("/")
                .header("content-type", "application/cloudevents+json")
                .body(Body::from("{"))
                .expect("request"),
            StatusCode::BAD_REQUEST,
        ),
        (
            Request::post("/")
                .header("content-type", "image/png")
                .body(Body::from("x"))
                .expect("request"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            Request::post("/")
                .header("ce-specversion", "1.0")
                .header("ce-id", "1")
                .header("ce-type", "dev.pact.contact.untranslated")
                .header("ce-source", "/x")
                .header("content-type", "application/json")
                .body(Body::from(r#"{"mmid1":1,"mmid2":2,"lat":91,"lon":0}"#))
                .expect("request"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (request, expected) in cases {
        let (status, content_type, body) = send(request).await;
        assert_eq!(status, expected, "{body}");
        assert_eq!(content_type, "application/problem+json");
    }
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let app = spawn_reply_mode().await;
    for _ in 0..3 {
        app.client
            .post(app.url("/pact/producer?message=1,1,1,1"))
            .send()
            .await
            .expect("request");
    }
    let response = app
        .client
        .get(app.url("/nope"))
        .send()
        .await
        .expect("request");
    problem(response).await;
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("text");
    assert!(
        text.contains(r#"pact_requests_total{route="/pact/producer",status="422"} 3"#),
        "{text}"
    );
    assert!(
        text.contains(r#"pact_requests_total{route="unmatched",status="404"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"pact_requests_rejected_total{error_type="invalid"} 3"#),
        "{text}"
    );
    assert!(
        text.contains("pact_request_duration_seconds_bucket"),
        "{text}"
    );
}
