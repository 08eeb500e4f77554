//! The stand-in's HTTP side: KafkaSink-like endpoints and a status view.

use std::sync::{Arc, RwLock};

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use pact_runtime::binary::event_from_http;
use pact_runtime::problem::Problem;
use serde::Deserialize;

use super::dispatch::Dispatcher;
use super::log::{AppendError, Log, Value};
use super::stored;

#[derive(Clone)]
struct AppState {
    log: Log,
    dispatchers: Arc<RwLock<Vec<Dispatcher>>>,
    max_record_bytes: usize,
}

pub(super) fn router(
    log: Log,
    dispatchers: Arc<RwLock<Vec<Dispatcher>>>,
    max_record_bytes: usize,
) -> Router {
    Router::new()
        .route("/topics", get(topics))
        .route("/topics/{topic}", post(append_event))
        .route(
            "/topics/{topic}/records",
            post(append_raw).get(read_records),
        )
        .route("/healthz", get(|| async { "ok" }))
        .with_state(AppState {
            log,
            dispatchers,
            max_record_bytes,
        })
}

/// A KafkaSink: one CloudEvent (binary or structured mode) into the topic;
/// 202 once it is durable.
async fn append_event(
    State(state): State<AppState>,
    Path(topic): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = match read_body(body, state.max_record_bytes).await {
        Ok(body) => body,
        Err(problem) => return problem.into_response(),
    };
    let event = match event_from_http(&headers, body) {
        Ok(event) => event,
        Err(e) => {
            return Problem::new(
                StatusCode::BAD_REQUEST,
                "malformed",
                format!("not a CloudEvent in binary or structured mode: {e}"),
            )
            .into_response();
        }
    };
    let key = event.extension("partitionkey").map(|v| v.to_string());
    // Written once in the form deliveries send; structured JSON when binary
    // mode cannot carry the event exactly.
    let value = match stored::value(&event) {
        Ok(value) => value,
        Err(e) => {
            return Problem::new(
                StatusCode::BAD_REQUEST,
                "malformed",
                format!("the event cannot be stored: {e}"),
            )
            .into_response();
        }
    };
    appended(state.log.append(&topic, key, value).await)
}

#[derive(Debug, Deserialize)]
struct RawParams {
    key: Option<String>,
}

/// A plain Kafka producer: the body as the record value, as it is.
async fn append_raw(
    State(state): State<AppState>,
    Path(topic): Path<String>,
    Query(params): Query<RawParams>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let bytes = match read_body(body, state.max_record_bytes).await {
        Ok(body) => body,
        Err(problem) => return problem.into_response(),
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let value = Value::Raw {
        bytes: bytes.into(),
        content_type,
    };
    appended(state.log.append(&topic, params.key, value).await)
}

fn appended(result: Result<(u32, u64), AppendError>) -> Response {
    match result {
        Ok(_) => StatusCode::ACCEPTED.into_response(),
        Err(e @ AppendError::UnknownTopic(_)) => {
            Problem::new(StatusCode::NOT_FOUND, "unknown-topic", e.to_string()).into_response()
        }
        Err(e @ AppendError::Unavailable(_)) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            e.to_string(),
        )
        .with_retry_after(std::time::Duration::from_secs(1))
        .into_response(),
    }
}

async fn read_body(body: Body, limit: usize) -> Result<Vec<u8>, Problem> {
    axum::body::to_bytes(body, limit)
        .await
        .map(|bytes| bytes.to_vec())
        .map_err(|_| {
            Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                format!("records are limited to {limit} bytes"),
            )
        })
}

async fn topics(State(state): State<AppState>) -> Json<super::Status> {
    Json(super::status(&state.log, &state.dispatchers))
}

#[derive(Debug, Deserialize)]
struct ReadParams {
    #[serde(default)]
    partition: Option<u32>,
    #[serde(default)]
    from: u64,
    #[serde(default = "default_limit")]
    limit: u32,
}

fn default_limit() -> u32 {
    100
}

/// Records of a topic (every partition unless one is named), oldest first
/// per partition; events shown as structured JSON, raw records in base64.
async fn read_records(
    State(state): State<AppState>,
    Path(topic): Path<String>,
    Query(params): Query<ReadParams>,
) -> Response {
    let partitions = state.log.partitions(&topic);
    if partitions == 0 {
        return Problem::new(
            StatusCode::NOT_FOUND,
            "unknown-topic",
            format!("no topic named {topic:?}"),
        )
        .into_response();
    }
    let chosen: Vec<u32> = match params.partition {
        Some(p) if p < partitions => vec![p],
        Some(p) => {
            return Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid",
                format!("partition {p} does not exist; {topic} has {partitions}"),
            )
            .into_response();
        }
        None => (0..partitions).collect(),
    };
    let limit = params.limit.min(1000);
    let mut out = Vec::new();
    for partition in chosen {
        let records = match state.log.read(&topic, partition, params.from, limit).await {
            Ok(records) => records,
            Err(e) => {
                return Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    format!("cannot read the topic log: {e}"),
                )
                .into_response();
            }
        };
        for record in records {
            let mut entry = serde_json::json!({
                "partition": record.partition,
                "offset": record.offset,
                "key": record.key,
                "appended_at": record.appended_at,
            });
            match record.value {
                Value::Binary(form) => {
                    entry["event"] = stored::to_event(&form)
                        .ok()
                        .and_then(|event| serde_json::to_value(event).ok())
                        .unwrap_or_default();
                }
                Value::Event(json) => {
                    entry["event"] = serde_json::from_slice(&json).unwrap_or_default();
                }
                Value::Raw {
                    bytes,
                    content_type,
                } => {
                    entry["raw_base64"] = base64::engine::general_purpose::STANDARD
                        .encode(&bytes)
                        .into();
                    entry["content_type"] = content_type.into();
                }
            }
            out.push(entry);
        }
    }
    Json(out).into_response()
}
