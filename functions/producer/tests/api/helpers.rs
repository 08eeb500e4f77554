//! Spawning the producer on a free port with a given environment.

use std::collections::HashMap;

use pact_runtime::config::RuntimeConfig;
pub use pact_runtime::testing::problem;
use pact_runtime::testing::{CaptureSink, Reply, Served};

pub struct TestApp {
    pub served: Served,
    pub client: reqwest::Client,
    pub sink: Option<CaptureSink>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        self.served.url(path)
    }

    pub fn sink(&self) -> &CaptureSink {
        self.sink.as_ref().expect("this app has a sink")
    }
}

/// The producer with a recording sink answering `reply`, plus `env`.
pub async fn spawn_with_sink(reply: Reply, env: &[(&str, &str)]) -> TestApp {
    let sink = CaptureSink::start(reply).await;
    let mut vars: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    vars.insert("K_SINK".into(), sink.url.clone());
    vars.entry("PACT_EMIT_BACKOFF_MS".into())
        .or_insert_with(|| "5".into());
    let mut app = spawn(vars).await;
    app.sink = Some(sink);
    app
}

/// The producer in reply mode (no `K_SINK`).
pub async fn spawn_reply_mode() -> TestApp {
    spawn(HashMap::new()).await
}

/// The producer with exactly this environment.
pub async fn spawn_with_env(env: &[(&str, &str)]) -> TestApp {
    spawn(
        env.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
    .await
}

async fn spawn(vars: HashMap<String, String>) -> TestApp {
    let (config, _) = RuntimeConfig::from_env(&vars).expect("valid test configuration");
    let app = pact_producer::app(pact_producer::AppState::new(config));
    TestApp {
        served: Served::start(app).await,
        client: reqwest::Client::new(),
        sink: None,
    }
}

/// The id DESIGN.md section 3 gives a contact sent under `key`, written out
/// here from the documented name rather than through the producer's code.
pub fn contact_id(key: &str, contact: (i64, i64, f64, f64), time: Option<&str>) -> String {
    let (mmid1, mmid2, lat, lon) = contact;
    let name = format!(
        "{key}\n{mmid1}\n{mmid2}\n{lat}\n{lon}\n{}",
        time.unwrap_or("")
    );
    uuid::Uuid::new_v5(&pact_runtime::identity::NAMESPACE, name.as_bytes()).to_string()
}

/// The key of an incoming CloudEvent: the UUIDv5 of `source`, a line feed, `id`.
pub fn event_key(source: &str, id: &str) -> String {
    uuid::Uuid::new_v5(
        &pact_runtime::identity::NAMESPACE,
        format!("{source}\n{id}").as_bytes(),
    )
    .to_string()
}
