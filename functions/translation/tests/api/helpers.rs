//! Spawning pact-translation on a free port.

use std::collections::HashMap;

use pact_runtime::cloudevents::{Data, Event};
use pact_runtime::testing::{CaptureSink, Reply, Served};
use pact_translation::{AppState, Config, GeocoderKind, Offline, Online, app};

pub struct TestApp {
    pub served: Served,
    pub client: reqwest::Client,
    pub sink: Option<CaptureSink>,
}

impl TestApp {
    pub fn url(&self) -> String {
        self.served.url("/")
    }

    pub fn sink(&self) -> &CaptureSink {
        self.sink.as_ref().expect("this app has a sink")
    }
}

pub async fn spawn(env: &[(&str, &str)]) -> TestApp {
    let vars: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let (config, _) = Config::from_env(&vars).expect("valid test configuration");
    let router = match config.geocoder.clone() {
        GeocoderKind::Offline => app(AppState::new(config, Offline)),
        GeocoderKind::Online(online) => app(AppState::new(config, Online::new(*online))),
    };
    TestApp {
        served: Served::start(router).await,
        client: reqwest::Client::new(),
        sink: None,
    }
}

pub async fn spawn_with_sink(reply: Reply, env: &[(&str, &str)]) -> TestApp {
    let sink = CaptureSink::start(reply).await;
    let mut vars = env.to_vec();
    vars.push(("K_SINK", &sink.url));
    vars.push(("PACT_EMIT_BACKOFF_MS", "5"));
    let mut app = spawn(&vars).await;
    app.sink = Some(sink);
    app
}

/// An event's data as JSON, whatever mode it came in.
pub fn json_data(event: &Event) -> serde_json::Value {
    match event.data() {
        Some(Data::Binary(bytes)) => serde_json::from_slice(bytes).expect("JSON data"),
        Some(Data::String(text)) => serde_json::from_str(text).expect("JSON data"),
        Some(Data::Json(value)) => value.clone(),
        None => panic!("no data"),
    }
}

/// The event in a binary-mode response.
pub async fn reply_event(response: reqwest::Response) -> Event {
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("body");
    pact_runtime::binding_event(&headers, &body).expect("a binary-mode CloudEvent")
}

/// `/metrics` of the app, and the value of one sample line in it (0 when absent).
pub async fn metric(app: &TestApp, series: &str) -> u64 {
    let text = app
        .client
        .get(app.served.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

/// One untranslated binary-mode event; the reply's data as JSON.
pub async fn translate(
    app: &TestApp,
    id: &str,
    mmid1: i64,
    mmid2: i64,
    lat: f64,
    lon: f64,
) -> reqwest::Response {
    app.client
        .post(app.url())
        .header("ce-specversion", "1.0")
        .header("ce-id", id)
        .header("ce-source", "/test")
        .header("ce-type", "dev.pact.contact.untranslated")
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"mmid1":{mmid1},"mmid2":{mmid2},"lat":{lat},"lon":{lon}}}"#
        ))
        .send()
        .await
        .expect("request")
}

/// The id DESIGN.md section 3 gives the event made from input `source` + `id`:
/// the UUIDv5 of `source`, a line feed, `id`, written out from the documented
/// name rather than through the function's code.
pub fn derived_id(source: &str, id: &str) -> String {
    uuid::Uuid::new_v5(
        &pact_runtime::identity::NAMESPACE,
        format!("{source}\n{id}").as_bytes(),
    )
    .to_string()
}
